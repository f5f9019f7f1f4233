//! One [`ZoomApi`] per `api_url` for the life of the process.
//!
//! Why: a grant's `api_url` is the same for nearly every grant (Zoom's region), and parsing it
//! and its `/v2/` base again for every Zoom call was two of the five URL parses each call made.

use std::collections::HashMap;
use std::sync::Mutex;

use meetgate_zoom::ZoomApi;

/// Distinct `api_url`s kept at most; past it the map starts over (a handful exist in practice).
const CAPACITY: usize = 64;

pub(crate) struct ZoomApis {
    http: reqwest::Client,
    by_url: Mutex<HashMap<String, ZoomApi>>,
}

impl std::fmt::Debug for ZoomApis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZoomApis").finish_non_exhaustive()
    }
}

impl ZoomApis {
    pub fn new(http: reqwest::Client) -> Self {
        Self {
            http,
            by_url: Mutex::new(HashMap::new()),
        }
    }

    /// The API at `api_url`, or why that URL cannot be one.
    pub fn at(&self, api_url: &str) -> Result<ZoomApi, url::ParseError> {
        // A poisoned lock only means another thread panicked mid-insert; the map is still whole.
        let mut by_url = self.by_url.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(api) = by_url.get(api_url) {
            return Ok(api.clone());
        }
        let api = ZoomApi::new(self.http.clone(), api_url)?;
        if by_url.len() >= CAPACITY {
            by_url.clear();
        }
        by_url.insert(api_url.to_owned(), api.clone());
        Ok(api)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_url_gives_the_same_base_and_a_bad_one_an_error() {
        let apis = ZoomApis::new(reqwest::Client::new());
        let first = apis.at("https://api.zoom.us").unwrap();
        let again = apis.at("https://api.zoom.us").unwrap();
        assert_eq!(format!("{first:?}"), format!("{again:?}"));
        let other = apis.at("https://eu01api-www4local.zoom.us/").unwrap();
        assert_ne!(format!("{first:?}"), format!("{other:?}"));
        assert!(apis.at("not a url").is_err());
        for i in 0..(CAPACITY + 3) {
            apis.at(&format!("https://r{i}.zoom.us")).unwrap();
        }
        assert!(apis.by_url.lock().unwrap().len() <= CAPACITY);
        assert!(apis.at("https://api.zoom.us").is_ok());
    }
}
