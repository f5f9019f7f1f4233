//! Zoom's REST error envelope: `{"code":300,"message":"..","errors":[{"field":..,"message":..}]}`.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: i64,
    pub message: String,
    pub errors: Vec<FieldError>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: i64,
    message: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

impl ApiError {
    pub fn new(status: StatusCode, code: i64, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            errors: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn invalid_token() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 124, "Invalid access token.")
    }

    pub fn expired_token() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 124, "Access token is expired.")
    }

    pub fn token_in_query() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            124,
            "Invalid access token. Access tokens in the query string are not accepted; \
             use the Authorization: Bearer header.",
        )
    }

    /// CONFLICT in ZOOM.md (4700/401 or 4711/400): the sandbox answers 401 with code 4700, so
    /// a client that refreshes on every 401 instead of on code 124 is caught.
    pub fn missing_scope(message: String) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 4700, message)
    }

    pub fn user_not_found(user: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            1001,
            format!("User does not exist: {user}."),
        )
    }

    pub fn user_not_in_account(account_id: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            1010,
            format!("User does not belong to this account: {account_id}."),
        )
    }

    pub fn meeting_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            3001,
            format!("Meeting {id} is not found or has expired."),
        )
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, 300, "Validation Failed.");
        e.errors = errors;
        e
    }

    pub fn bad_request(code: i64, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((HeaderName::from_static(name), v));
        }
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&Body {
            code: self.code,
            message: &self.message,
            errors: &self.errors,
        })
        .unwrap_or_default();
        let mut resp = (
            self.status,
            [(
                axum::http::header::CONTENT_TYPE,
                "application/json;charset=UTF-8",
            )],
            body,
        )
            .into_response();
        for (k, v) in self.headers {
            resp.headers_mut().append(k, v);
        }
        resp
    }
}
