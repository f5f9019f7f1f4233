//! RFC 9457 problem details: every API error leaves as `application/problem+json` with a stable
//! `type`. The type URIs are relative (`/problems/not-found`) and meetgate serves a page there.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use meetgate_store::StoreError;
use serde::Serialize;

use crate::error::{FieldProblem, ZoomProblem};
use crate::{Error, vault::VaultError};

/// The wire form of a problem.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub zoom: Option<ZoomProblem>,
    /// Where the user can connect (again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_url: Option<String>,
    /// `needs_reauth`, `revoked` or `superseded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_state: Option<String>,
    /// Seconds to wait before retrying, as in the `Retry-After` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<String>,
    /// Zoom's own `Retry-After`, verbatim (an ISO-8601 date-time on its daily limit), on
    /// `zoom-rate-limited`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zoom_retry_after: Option<String>,
}

/// Every problem type meetgate answers with: slug, HTTP status, title, and what it means.
pub const PROBLEM_TYPES: &[(&str, u16, &str, &str)] = &[
    (
        "unauthenticated",
        401,
        "Missing or invalid API key",
        "Send `Authorization: Bearer mg_live_...` with an active key of your tenant.",
    ),
    (
        "forbidden",
        403,
        "Forbidden",
        "The request is not allowed (an expired link, a bad signature, a page for admins only).",
    ),
    (
        "not-found",
        404,
        "Not found",
        "Nothing with that id exists in your tenant. Another tenant's ids answer exactly like ids that do not exist.",
    ),
    (
        "method-not-allowed",
        405,
        "Method not allowed",
        "The path exists but not with this HTTP method.",
    ),
    (
        "validation",
        422,
        "Invalid request",
        "A field is missing or malformed; `errors` names each field.",
    ),
    (
        "malformed-body",
        400,
        "Malformed request body",
        "The body is not JSON (JSON of the wrong shape is a `validation` problem naming the field).",
    ),
    (
        "unsupported-media-type",
        415,
        "Unsupported media type",
        "Send the body as JSON with `Content-Type: application/json`.",
    ),
    (
        "payload-too-large",
        413,
        "Request body too large",
        "The body exceeds the configured limit (http.max_body_bytes).",
    ),
    (
        "conflict",
        409,
        "Conflict",
        "The request conflicts with the current state (a duplicate, a limit).",
    ),
    (
        "idempotency-mismatch",
        422,
        "Idempotency-Key reused with another request",
        "Use a new key for a new request.",
    ),
    (
        "idempotency-in-progress",
        409,
        "Request with this Idempotency-Key in progress",
        "Wait and retry with the same key; the first request is still running.",
    ),
    (
        "not-connected",
        409,
        "User has not connected Zoom",
        "Create a connect session and send the user to its connect_url.",
    ),
    (
        "needs-reauth",
        409,
        "Zoom connection must be renewed",
        "The grant is dead (invalid_grant, removed in Zoom, or superseded). Send the user to connect_url.",
    ),
    (
        "zoom-rejected",
        422,
        "Zoom refused the request",
        "Zoom said no; `fix` says what to change, with `zoom_code`, `required_scopes` and `granted_scopes`.",
    ),
    (
        "zoom-rate-limited",
        429,
        "Zoom rate limit reached",
        "Retry after the seconds in Retry-After (Zoom's daily limit of meeting creates and updates resets at 00:00 UTC); `zoom_retry_after` holds Zoom's own value when it sent one.",
    ),
    (
        "zoom-unavailable",
        502,
        "Zoom did not answer properly",
        "A timeout, a 5xx or an unreadable answer from Zoom. Retry later.",
    ),
    (
        "zoom-outcome-unknown",
        503,
        "The meeting may exist at Zoom",
        "Zoom's answer was lost, or Zoom made the meeting but meetgate could neither record it nor undo it. Retry with the same Idempotency-Key; meetgate reconciles instead of creating twice.",
    ),
    (
        "app-misconfigured",
        500,
        "Zoom app misconfigured",
        "The Zoom app registration is wrong or missing; an operator must fix it.",
    ),
    (
        "too-many-attempts",
        429,
        "Too many attempts",
        "Slow down and try again later.",
    ),
    (
        "service-unavailable",
        503,
        "Service unavailable",
        "The database is unreachable, the request timed out, meetgate is restarting, or a refresh of the user's Zoom grant may still be landing. Retry after the Retry-After header's seconds.",
    ),
    (
        "internal",
        500,
        "Internal error",
        "Something failed inside meetgate. The request id identifies it in the logs.",
    ),
];

pub fn problem_info(slug: &str) -> Option<(u16, &'static str, &'static str)> {
    PROBLEM_TYPES
        .iter()
        .find(|p| p.0 == slug)
        .map(|p| (p.1, p.2, p.3))
}

impl Problem {
    pub fn new(slug: &str, detail: impl Into<String>) -> Self {
        let (status, title, _) = problem_info(slug).unwrap_or((500, "Internal error", ""));
        Self {
            kind: format!("/problems/{slug}"),
            title: title.to_owned(),
            status,
            detail: detail.into(),
            request_id: None,
            errors: Vec::new(),
            zoom: None,
            connect_url: None,
            connection_state: None,
            retry_after: None,
            zoom_retry_after: None,
        }
    }

    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }
}

impl From<&Error> for Problem {
    fn from(error: &Error) -> Self {
        match error {
            Error::Unauthenticated => Problem::new("unauthenticated", error.to_string()),
            Error::Forbidden(m) => Problem::new("forbidden", m.clone()),
            Error::NotFound { what } => Problem::new("not-found", format!("{what} not found")),
            Error::Validation { detail, errors } => Problem { errors: errors.clone(), ..Problem::new("validation", detail.clone()) },
            Error::Conflict(m) => Problem::new("conflict", m.clone()),
            Error::IdempotencyMismatch => Problem::new("idempotency-mismatch", error.to_string()),
            Error::IdempotencyInProgress => Problem { retry_after: Some("2".into()), ..Problem::new("idempotency-in-progress", error.to_string()) },
            Error::NotConnected { connect_url } => Problem { connect_url: connect_url.clone(), ..Problem::new("not-connected", error.to_string()) },
            Error::NeedsReauth { state, reason, connect_url } => Problem {
                connect_url: connect_url.clone(),
                connection_state: Some((*state).to_owned()),
                ..Problem::new("needs-reauth", format!("The Zoom connection must be renewed: {reason}"))
            },
            Error::ZoomRejected(z) => Problem { zoom: Some((**z).clone()), ..Problem::new("zoom-rejected", z.fix.clone()) },
            Error::ZoomRateLimited { retry_after_secs, zoom_retry_after, limit_type } => Problem {
                retry_after: retry_after_secs.map(|s| s.to_string()),
                zoom_retry_after: zoom_retry_after.clone(),
                ..Problem::new(
                    "zoom-rate-limited",
                    match limit_type.as_deref() {
                        Some(meetgate_zoom::DAILY_LIMIT) => "Zoom's daily limit of meeting creates and updates for this user is reached; it resets at 00:00 UTC.".to_owned(),
                        _ => "Zoom's per-second rate limit for this account is reached; retry shortly.".to_owned(),
                    },
                )
            },
            Error::ZoomUnavailable(m) => Problem::new("zoom-unavailable", m.clone()),
            Error::ZoomOutcomeUnknown { retry_after_secs } => Problem { retry_after: Some(retry_after_secs.to_string()), ..Problem::new("zoom-outcome-unknown", error.to_string()) },
            Error::AppMisconfigured(m) => Problem::new("app-misconfigured", m.clone()),
            Error::TooManyAttempts => Problem { retry_after: Some("60".into()), ..Problem::new("too-many-attempts", error.to_string()) },
            Error::Store(StoreError::LockTimeout { .. }) => Problem { retry_after: Some("30".into()), ..Problem::new("service-unavailable", "another meetgate process has held this Zoom connection for longer than any refresh takes (it may have stopped without the database noticing yet); retry in half a minute") },
            Error::Store(StoreError::Unavailable(_)) => Problem { retry_after: Some("5".into()), ..Problem::new("service-unavailable", "the database is unavailable; retry shortly") },
            Error::ShuttingDown => Problem { retry_after: Some("5".into()), ..Problem::new("service-unavailable", error.to_string()) },
            Error::RefreshPending { retry_after_secs, .. } => Problem { retry_after: Some(retry_after_secs.to_string()), ..Problem::new("service-unavailable", error.to_string()) },
            Error::Store(StoreError::Conflict { what }) => Problem::new("conflict", format!("{what} already exists")),
            Error::Store(StoreError::Precondition { what }) => Problem::new("conflict", format!("the {what} changed while this request ran, and nothing was written; retry it")),
            Error::Store(StoreError::VersionConflict { what }) => Problem::new("conflict", format!("the {what} was changed by other requests at the same time, and nothing was written; retry it")),
            Error::Store(StoreError::NotFound { what }) => Problem::new("not-found", format!("{what} not found")),
            // Internals are logged with the request id; the body says only that it happened.
            Error::Store(_) | Error::Vault(_) | Error::Internal(_) => Problem::new("internal", "an internal error occurred; the request id identifies it in meetgate's logs"),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = self.retry_after.clone();
        let mut response = (status, Json(self)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        // RFC 9110 allows delay-seconds or an HTTP-date; meetgate always sends seconds, so a
        // value that is not a whole number of them never reaches the header.
        if let Some(value) = retry_after
            .filter(|r| r.parse::<u64>().is_ok())
            .and_then(|r| HeaderValue::from_str(&r).ok())
        {
            headers.insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// An API handler's error: a domain error plus the request id for the body.
#[derive(Debug)]
pub struct ApiError {
    pub error: Error,
    pub request_id: Option<String>,
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self {
            error,
            request_id: None,
        }
    }
}

impl From<VaultError> for ApiError {
    fn from(error: VaultError) -> Self {
        Error::from(error).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        log_error(&self.error);
        Problem::from(&self.error)
            .with_request_id(self.request_id)
            .into_response()
    }
}

/// Server-side failures are logged (the request id is on the span); client errors are not noise.
pub fn log_error(error: &Error) {
    match error {
        Error::Store(_) | Error::Vault(_) | Error::Internal(_) | Error::AppMisconfigured(_) => {
            tracing::error!(error = %error, "request failed");
        }
        Error::ZoomUnavailable(_)
        | Error::ZoomOutcomeUnknown { .. }
        | Error::RefreshPending { .. } => {
            tracing::warn!(error = %error, "Zoom call failed")
        }
        _ => tracing::debug!(error = %error, "request refused"),
    }
}

/// Attaches the request id to an error, for `?` in handlers: `.map_err(rid.err())`.
pub trait WithRequestId<T> {
    fn rid(self, request_id: &super::extract::RequestId) -> Result<T, ApiError>;
}

impl<T, E: Into<Error>> WithRequestId<T> for Result<T, E> {
    fn rid(self, request_id: &super::extract::RequestId) -> Result<T, ApiError> {
        self.map_err(|e| ApiError {
            error: e.into(),
            request_id: request_id.0.clone(),
        })
    }
}
