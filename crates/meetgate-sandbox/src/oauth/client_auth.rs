//! HTTP Basic client authentication at the token and revoke endpoints.

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::store::TokenError;
use crate::state::Inner;
use crate::world::App;

fn invalid_client() -> TokenError {
    TokenError {
        status: 400,
        error: "invalid_client",
        reason: "Invalid client_id or client_secret".into(),
        grant_key: None,
    }
}

/// `Authorization: Basic base64(urlencode(client_id):urlencode(client_secret))`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

/// Zoom requires Basic auth; credentials in the form body are refused.
pub fn authenticate(inner: &Inner, headers: &HeaderMap) -> Result<App, TokenError> {
    let (id, secret) = basic_credentials(headers).ok_or_else(invalid_client)?;
    let app = inner.apps.get(&id).ok_or_else(invalid_client)?;
    if !app.client_secret.matches(&secret) {
        return Err(invalid_client());
    }
    Ok(app.clone())
}
