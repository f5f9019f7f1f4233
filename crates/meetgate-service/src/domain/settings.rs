use serde::{Deserialize, Serialize};

/// A setting with a default that the tenant may lock, so that requests cannot change it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyValue<T> {
    pub value: T,
    pub locked: bool,
}

impl<T: Clone> PolicyValue<T> {
    /// The requested value unless the policy is locked; the policy's default when none asked.
    pub fn resolve(&self, requested: Option<T>) -> T {
        match requested {
            Some(v) if !self.locked => v,
            _ => self.value.clone(),
        }
    }
}

/// Meeting settings a tenant imposes or defaults. The defaults suit telehealth: waiting room on
/// and locked, cloud recording off and locked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct MeetingPolicy {
    pub waiting_room: PolicyValue<bool>,
    pub join_before_host: PolicyValue<bool>,
    pub mute_upon_entry: PolicyValue<bool>,
    pub host_video: PolicyValue<bool>,
    pub participant_video: PolicyValue<bool>,
    /// `none`, `local` or `cloud`.
    pub auto_recording: PolicyValue<String>,
}

impl Default for MeetingPolicy {
    fn default() -> Self {
        Self {
            waiting_room: PolicyValue {
                value: true,
                locked: true,
            },
            join_before_host: PolicyValue {
                value: false,
                locked: false,
            },
            mute_upon_entry: PolicyValue {
                value: false,
                locked: false,
            },
            host_video: PolicyValue {
                value: true,
                locked: false,
            },
            participant_video: PolicyValue {
                value: true,
                locked: false,
            },
            auto_recording: PolicyValue {
                value: "none".into(),
                locked: true,
            },
        }
    }
}

/// A tenant's settings, stored as JSON on the tenant row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct TenantSettings {
    /// Where connect sessions may send users back to: URL prefixes, matched on scheme, host and
    /// port exactly and on whole path segments.
    pub return_urls: Vec<String>,
    pub meeting_policy: MeetingPolicy,
    /// Send the clinician's client label to Zoom as the meeting topic. Off by default: a
    /// patient's name in a Zoom topic is health data leaving the clinic.
    pub client_label_in_topic: bool,
    /// The topic used when none may be sent.
    #[schema(min_length = 1, max_length = 200)]
    pub default_topic: String,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            return_urls: Vec::new(),
            meeting_policy: MeetingPolicy::default(),
            client_label_in_topic: false,
            default_topic: "Telehealth session".into(),
        }
    }
}

impl TenantSettings {
    /// Settings sent by a host app. Unlike stored settings (read leniently, so that a setting a
    /// later version drops does not fail them), a key meetgate does not know is refused: a
    /// misspelled `return_url` would otherwise replace the return URLs with none.
    pub fn from_request(value: serde_json::Value) -> crate::Result<Self> {
        if let Some(path) = unknown_key(&value, &Self::default().to_json(), "") {
            return Err(crate::Error::validation(&path, "is not a setting"));
        }
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                "settings"
            } else {
                path.as_str()
            };
            crate::Error::validation(field, e.inner().to_string())
        })
    }

    pub fn from_json(value: &serde_json::Value) -> Self {
        serde_json::from_value(value.clone()).unwrap_or_default()
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Whether `candidate` may be used as a return URL. No open redirects: the origin must match
    /// an allowed entry exactly and the path must lie under its path.
    pub fn allows_return_url(&self, candidate: &str) -> bool {
        let Ok(url) = url::Url::parse(candidate) else {
            return false;
        };
        if !matches!(url.scheme(), "http" | "https")
            || url.username() != ""
            || url.password().is_some()
        {
            return false;
        }
        self.return_urls.iter().any(|allowed| {
            let Ok(allowed) = url::Url::parse(allowed) else {
                return false;
            };
            if allowed.origin() != url.origin() {
                return false;
            }
            let prefix = allowed.path();
            let path = url.path();
            path == prefix
                || prefix.ends_with('/') && path.starts_with(prefix)
                || path.starts_with(&format!("{prefix}/"))
        })
    }
}

/// The path of the first key of `sent` that `known` (a document of the same shape) lacks.
fn unknown_key(
    sent: &serde_json::Value,
    known: &serde_json::Value,
    prefix: &str,
) -> Option<String> {
    let (serde_json::Value::Object(sent), serde_json::Value::Object(known)) = (sent, known) else {
        return None;
    };
    sent.iter().find_map(|(key, value)| {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match known.get(key) {
            None => Some(path),
            Some(shape) => unknown_key(value, shape, &path),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(urls: &[&str]) -> TenantSettings {
        TenantSettings {
            return_urls: urls.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn return_urls_match_origin_exactly_and_path_by_segment() {
        let s = settings(&["https://clinic.example/app"]);
        assert!(s.allows_return_url("https://clinic.example/app"));
        assert!(s.allows_return_url("https://clinic.example/app/zoom?x=1"));
        assert!(!s.allows_return_url("https://clinic.example/application"));
        assert!(!s.allows_return_url("https://clinic.example.evil.com/app"));
        assert!(!s.allows_return_url("http://clinic.example/app"));
        assert!(!s.allows_return_url("https://clinic.example:8443/app"));
        assert!(!s.allows_return_url("https://user@clinic.example/app"));
        assert!(!s.allows_return_url("javascript:alert(1)"));
        assert!(!s.allows_return_url("//clinic.example/app"));
    }

    #[test]
    fn locked_policy_ignores_requests() {
        let p = MeetingPolicy::default();
        assert!(p.waiting_room.resolve(Some(false)));
        assert!(!p.join_before_host.resolve(None));
        assert!(p.join_before_host.resolve(Some(true)));
        assert_eq!(p.auto_recording.resolve(Some("cloud".into())), "none");
    }
}
