//! Zoom's OAuth server: `/oauth/authorize` (consent page), `/oauth/token`, `/oauth/revoke`.

pub mod authorize;
pub mod client_auth;
pub mod params;
pub mod revoke;
pub mod store;
pub mod token;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use store::TokenError;

/// `{"reason":"Invalid Token!","error":"invalid_grant"}` with the right status.
pub fn token_error_response(e: &TokenError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = (
        status,
        Json(serde_json::json!({"reason": e.reason, "error": e.error})),
    )
        .into_response();
    no_store(&mut resp);
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"zoom\""),
        );
    }
    resp
}

pub fn no_store(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}
