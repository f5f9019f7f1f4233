//! Form and query parameters where a repeated parameter is an error (RFC 6749 section 3.1).

use std::collections::{HashMap, HashSet};

#[derive(Debug, Default)]
pub struct Params {
    map: HashMap<String, String>,
    pub duplicated: Option<String>,
}

impl Params {
    pub fn parse(raw: &[u8]) -> Params {
        let mut p = Params::default();
        p.extend(raw);
        p
    }

    /// Adds the parameters of one source (the query string, or the form body). A name repeated
    /// within a source is remembered as a duplicate; across the two sources only a different
    /// value is, since a client that follows Zoom's docs (query string) may send the form too.
    pub fn extend(&mut self, raw: &[u8]) {
        let mut seen_here = HashSet::new();
        for (k, v) in url::form_urlencoded::parse(raw) {
            let repeated_here = !seen_here.insert(k.to_string());
            let clash = repeated_here || self.map.get(k.as_ref()).is_some_and(|old| *old != v);
            if clash && self.duplicated.is_none() {
                self.duplicated = Some(k.to_string());
            }
            self.map.insert(k.into_owned(), v.into_owned());
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.map
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::Params;

    #[test]
    fn a_repeat_is_a_duplicate_unless_the_other_source_agrees() {
        let p = Params::parse(b"grant_type=refresh_token&grant_type=refresh_token");
        assert_eq!(p.duplicated.as_deref(), Some("grant_type"));

        let mut p = Params::parse(b"grant_type=refresh_token");
        p.extend(b"grant_type=refresh_token&refresh_token=r1");
        assert_eq!(p.duplicated, None);
        assert_eq!(p.get("refresh_token"), Some("r1"));

        let mut p = Params::parse(b"refresh_token=r1");
        p.extend(b"refresh_token=r2");
        assert_eq!(p.duplicated.as_deref(), Some("refresh_token"));
    }
}
