//! Form and query parameters where a repeated parameter is an error (RFC 6749 section 3.1).

use std::collections::HashMap;

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

    /// Adds parameters; a name seen twice is remembered as a duplicate.
    pub fn extend(&mut self, raw: &[u8]) {
        for (k, v) in url::form_urlencoded::parse(raw) {
            if self.map.insert(k.to_string(), v.into_owned()).is_some() && self.duplicated.is_none()
            {
                self.duplicated = Some(k.into_owned());
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.map
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}
