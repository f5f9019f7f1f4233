use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, UtcOffset};

/// One field Zoom rejected in a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    #[serde(default)]
    pub field: String,
    #[serde(default)]
    pub message: String,
}

/// What a failed API call means, sorted by what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// 124: the access token is invalid or expired. Refresh once, retry once.
    TokenInvalid,
    /// The token lacks scopes; Zoom lists the ones it wanted.
    MissingScopes { scopes: Vec<String> },
    /// 1001: no such user.
    UserNotFound,
    /// 1010: the user exists but belongs to another account than the grant's.
    UserNotInAccount,
    /// 3001: no such meeting (or it expired).
    MeetingNotFound,
    /// 3000/3003: the meeting exists but this grant may not act on it.
    MeetingForbidden,
    /// 300: the request body was invalid.
    Validation { errors: Vec<FieldError> },
    /// HTTP 429, or the daily limit told as code 300 (see [`is_daily_limit_message`]).
    /// `retry_after` is Zoom's header verbatim: seconds, or an ISO-8601 date-time on daily
    /// limits; [`retry_delay_secs`] turns it into seconds.
    RateLimited {
        retry_after: Option<String>,
        category: Option<String>,
        limit_type: Option<String>,
    },
    /// 5xx, timeouts, unreadable bodies. `maybe_applied` when the request may have been acted
    /// on (for a create: the meeting may exist).
    Transient { maybe_applied: bool },
    /// Anything else Zoom said no to.
    Other,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("Zoom API {endpoint}: HTTP {status}, code {code:?}: {message}")]
pub struct ApiError {
    pub endpoint: &'static str,
    pub kind: ApiErrorKind,
    /// 0 when no HTTP answer came.
    pub status: u16,
    pub code: Option<i64>,
    pub message: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    errors: Vec<FieldError>,
}

impl ApiError {
    pub(crate) fn transport(endpoint: &'static str, e: &reqwest::Error) -> Self {
        let message = crate::http::transport_error_text(e);
        Self {
            endpoint,
            kind: ApiErrorKind::Transient {
                maybe_applied: !e.is_connect() && !e.is_builder(),
            },
            status: 0,
            code: None,
            message,
        }
    }

    /// Sorts an answer that was not the success we expected. Parses defensively: Zoom has been
    /// seen answering with XML, or with HTTP 200 and an error body.
    pub(crate) fn from_response(
        endpoint: &'static str,
        status: u16,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
    ) -> Self {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (code, message, errors) = match serde_json::from_slice::<ErrorBody>(body) {
            Ok(b) => (b.code, b.message.unwrap_or_default(), b.errors),
            Err(_) => match parse_xml_error(body) {
                Some((code, message)) => (code, message, Vec::new()),
                None => (None, String::new(), Vec::new()),
            },
        };
        let kind = if status == 429 || code == Some(429) {
            ApiErrorKind::RateLimited {
                retry_after: header("retry-after"),
                category: header("x-ratelimit-category"),
                limit_type: header("x-ratelimit-type"),
            }
        } else if status < 500 && code == Some(300) && is_daily_limit_message(&message) {
            // Zoom's spec documents the daily limit as code 300 ("A maximum of 100 meetings can
            // be created/updated for a single user in one day."): the same limit as a 429
            // Daily-limit, so the same kind, not a validation error of the body.
            ApiErrorKind::RateLimited {
                retry_after: header("retry-after"),
                category: header("x-ratelimit-category"),
                limit_type: Some(DAILY_LIMIT.to_owned()),
            }
        } else if status >= 500 {
            ApiErrorKind::Transient {
                maybe_applied: true,
            }
        } else if let Some(scopes) = missing_scopes(&message) {
            ApiErrorKind::MissingScopes { scopes }
        } else {
            match code {
                Some(124) => ApiErrorKind::TokenInvalid,
                Some(4700 | 4711) => ApiErrorKind::MissingScopes { scopes: Vec::new() },
                Some(1001) => ApiErrorKind::UserNotFound,
                Some(1010) => ApiErrorKind::UserNotInAccount,
                Some(3001) => ApiErrorKind::MeetingNotFound,
                Some(3000 | 3003) => ApiErrorKind::MeetingForbidden,
                Some(300) => ApiErrorKind::Validation { errors },
                None if status == 401 => ApiErrorKind::TokenInvalid,
                None => ApiErrorKind::Transient {
                    maybe_applied: true,
                },
                Some(_) => ApiErrorKind::Other,
            }
        };
        let message = if message.is_empty() {
            format!("HTTP {status}")
        } else {
            message
        };
        Self {
            endpoint,
            kind,
            status,
            code,
            message,
        }
    }
}

/// `X-RateLimit-Type` of the per-user daily create/update limit.
pub const DAILY_LIMIT: &str = "Daily-limit";

/// Whether Zoom's message is the daily create/update limit, which Zoom also sends as HTTP 400
/// (or 300) with code 300 instead of a 429.
fn is_daily_limit_message(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("can be created/updated") || lower.contains("in one day")
}

/// Seconds to wait before retrying after a rate limit, from `now`: Zoom's `Retry-After` as
/// delay-seconds, an ISO-8601 date-time or an HTTP-date; without a usable one, the next
/// 00:00 UTC for the daily limit (when it resets) and `None` otherwise.
pub fn retry_delay_secs(
    retry_after: Option<&str>,
    limit_type: Option<&str>,
    now: OffsetDateTime,
) -> Option<u64> {
    let until = |at: OffsetDateTime| {
        let left = at - now;
        let secs = left.whole_seconds() + i64::from(left.subsec_nanoseconds() > 0);
        // Negative (a time already past, a skewed clock) means "now".
        u64::try_from(secs).unwrap_or(0)
    };
    if let Some(value) = retry_after.map(str::trim).filter(|v| !v.is_empty()) {
        if let Ok(secs) = value.parse::<u64>() {
            return Some(secs);
        }
        if let Some(at) = parse_date_time(value) {
            return Some(until(at));
        }
    }
    if limit_type.is_some_and(|t| t.eq_ignore_ascii_case(DAILY_LIMIT)) {
        let tomorrow = now.to_offset(UtcOffset::UTC).date().next_day()?;
        return Some(until(tomorrow.midnight().assume_utc()));
    }
    None
}

/// ISO-8601 (with or without an offset; without one it is UTC, as Zoom's times are) or an
/// HTTP-date.
fn parse_date_time(value: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::{Iso8601, Rfc2822, Rfc3339};
    OffsetDateTime::parse(value, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(value, &Iso8601::DEFAULT))
        .or_else(|_| OffsetDateTime::parse(value, &Rfc2822))
        .ok()
        .or_else(|| {
            time::PrimitiveDateTime::parse(value, &Iso8601::DEFAULT)
                .ok()
                .map(|t| t.assume_utc())
        })
        .or_else(|| {
            // RFC 9110's IMF-fixdate ends in "GMT", which RFC 2822 parsing does not take.
            let offset = value.strip_suffix("GMT")?;
            OffsetDateTime::parse(&format!("{}+0000", offset), &Rfc2822).ok()
        })
}

/// Zoom names missing scopes in its message: `... does not contain scopes: [meeting:write:admin]`.
fn missing_scopes(message: &str) -> Option<Vec<String>> {
    let lower = message.to_ascii_lowercase();
    let at = lower.find("does not contain scopes")?;
    let rest = &message[at..];
    let open = rest.find('[')?;
    let close = rest[open..].find(']')? + open;
    let scopes = rest[open + 1..close]
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    Some(scopes)
}

fn parse_xml_error(body: &[u8]) -> Option<(Option<i64>, String)> {
    let text = std::str::from_utf8(body).ok()?;
    if !text.trim_start().starts_with('<') {
        return None;
    }
    let between = |tag: &str| {
        let open = format!("<{tag}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{tag}>"))? + start;
        Some(text[start..end].trim().to_owned())
    };
    let code = between("code").and_then(|c| c.parse().ok());
    let message = between("message").unwrap_or_default();
    (code.is_some() || !message.is_empty()).then_some((code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: u16, body: &str) -> ApiErrorKind {
        ApiError::from_response(
            "test",
            status,
            &reqwest::header::HeaderMap::new(),
            body.as_bytes(),
        )
        .kind
    }

    #[test]
    fn scope_errors_list_the_scopes() {
        let k = kind(
            400,
            r#"{"code":4711,"message":"Invalid access token, does not contain scopes: [meeting:write:admin, meeting:write:meeting:admin]"}"#,
        );
        assert_eq!(
            k,
            ApiErrorKind::MissingScopes {
                scopes: vec![
                    "meeting:write:admin".into(),
                    "meeting:write:meeting:admin".into()
                ]
            }
        );
    }

    #[test]
    fn numbered_codes_map_to_kinds() {
        assert_eq!(
            kind(401, r#"{"code":124,"message":"Invalid access token."}"#),
            ApiErrorKind::TokenInvalid
        );
        assert_eq!(
            kind(
                400,
                r#"{"code":1010,"message":"User does not belong to this account."}"#
            ),
            ApiErrorKind::UserNotInAccount
        );
        assert_eq!(
            kind(404, r#"{"code":1001,"message":"User does not exist."}"#),
            ApiErrorKind::UserNotFound
        );
        assert_eq!(
            kind(404, r#"{"code":3001,"message":"Meeting does not exist."}"#),
            ApiErrorKind::MeetingNotFound
        );
    }

    #[test]
    fn the_daily_limit_as_code_300_is_the_daily_rate_limit() {
        let body = r#"{"code":300,"message":"A maximum of 100 meetings can be created/updated for a single user in one day."}"#;
        for status in [400, 300] {
            assert_eq!(
                kind(status, body),
                ApiErrorKind::RateLimited {
                    retry_after: None,
                    category: None,
                    limit_type: Some(DAILY_LIMIT.into()),
                },
                "HTTP {status}"
            );
        }
        assert_eq!(
            kind(
                400,
                r#"{"code":300,"message":"a maximum of 50 meetings CAN BE CREATED/UPDATED per user"}"#
            ),
            ApiErrorKind::RateLimited {
                retry_after: None,
                category: None,
                limit_type: Some(DAILY_LIMIT.into()),
            }
        );
        // Only code 300 says so; another code with words alike is not the limit.
        assert_ne!(
            kind(
                400,
                r#"{"code":3000,"message":"Cannot update a meeting that ended in one day."}"#
            ),
            ApiErrorKind::RateLimited {
                retry_after: None,
                category: None,
                limit_type: Some(DAILY_LIMIT.into()),
            }
        );
        // Other code-300 answers stay validation errors.
        assert_eq!(
            kind(
                400,
                r#"{"code":300,"message":"Invalid enforce_login_domains, separate multiple domains by semicolon."}"#
            ),
            ApiErrorKind::Validation { errors: Vec::new() }
        );
    }

    #[test]
    fn retry_after_becomes_seconds() {
        let now = time::macros::datetime!(2030-05-01 22:59:30.250 UTC);
        let daily = Some(DAILY_LIMIT);
        assert_eq!(retry_delay_secs(Some("7"), None, now), Some(7));
        assert_eq!(
            retry_delay_secs(Some("2030-05-02T00:00:00Z"), daily, now),
            Some(3630)
        );
        assert_eq!(
            retry_delay_secs(Some("2030-05-02T02:00:00+02:00"), daily, now),
            Some(3630)
        );
        assert_eq!(
            retry_delay_secs(Some("2030-05-02T00:00:00"), daily, now),
            Some(3630)
        );
        assert_eq!(
            retry_delay_secs(Some("Thu, 02 May 2030 00:00:00 GMT"), None, now),
            Some(3630)
        );
        // A time already past: retry now.
        assert_eq!(
            retry_delay_secs(Some("2030-05-01T00:00:00Z"), daily, now),
            Some(0)
        );
        // No header, or one that cannot be read: the daily limit resets at 00:00 UTC.
        assert_eq!(retry_delay_secs(None, daily, now), Some(3630));
        assert_eq!(retry_delay_secs(Some("soon"), daily, now), Some(3630));
        assert_eq!(retry_delay_secs(None, Some("QPS"), now), None);
        assert_eq!(retry_delay_secs(Some("1.5"), None, now), None);
    }

    #[test]
    fn xml_and_garbage_are_read_defensively() {
        assert_eq!(
            kind(
                400,
                "<?xml version=\"1.0\"?><error><code>1010</code><message>no</message></error>"
            ),
            ApiErrorKind::UserNotInAccount
        );
        assert_eq!(
            kind(502, "upstream"),
            ApiErrorKind::Transient {
                maybe_applied: true
            }
        );
    }
}
