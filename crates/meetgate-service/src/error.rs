//! One error type for the whole domain. The HTTP layer turns it into an RFC 9457 problem for the
//! API and into a sentence for the pages; nothing else decides what an error says.

use meetgate_store::StoreError;
use serde::Serialize;

use crate::vault::VaultError;

/// A field that failed validation.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

/// What Zoom said, translated: which scopes were needed and granted, and how to fix it. Flattened
/// into a problem, so its fields are documented as optional: they appear on problems Zoom caused.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ZoomProblem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zoom_code: Option<i64>,
    #[schema(required = false)]
    pub zoom_message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub required_scopes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub granted_scopes: Vec<String>,
    #[schema(required = false)]
    pub fix: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("missing or invalid API key")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("{what} not found")]
    NotFound { what: &'static str },
    #[error("{detail}")]
    Validation {
        detail: String,
        errors: Vec<FieldProblem>,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyMismatch,
    #[error("a request with this Idempotency-Key is still in progress")]
    IdempotencyInProgress,
    #[error("the user has not connected a Zoom account")]
    NotConnected { connect_url: Option<String> },
    #[error("the Zoom connection must be renewed: {reason}")]
    NeedsReauth {
        state: &'static str,
        reason: String,
        connect_url: Option<String>,
    },
    #[error("{}", .0.fix)]
    ZoomRejected(Box<ZoomProblem>),
    #[error("Zoom's rate limit was reached")]
    ZoomRateLimited {
        /// Seconds from the request's time until a retry may succeed.
        retry_after_secs: Option<u64>,
        /// Zoom's `Retry-After` verbatim (an ISO-8601 date-time on daily limits).
        zoom_retry_after: Option<String>,
        limit_type: Option<String>,
    },
    #[error("Zoom did not answer properly: {0}")]
    ZoomUnavailable(String),
    #[error(
        "Zoom may have created the meeting, but meetgate could not confirm or record it; retry with the same Idempotency-Key in {retry_after_secs} s to reconcile"
    )]
    ZoomOutcomeUnknown {
        /// When a retry with the same key can take the attempt over.
        retry_after_secs: u64,
    },
    #[error(
        "a refresh of this Zoom grant went out {age_secs} s ago and its outcome may still be landing; retry in {retry_after_secs} s"
    )]
    RefreshPending {
        age_secs: u64,
        /// When the attempt in doubt can no longer land.
        retry_after_secs: u64,
    },
    #[error("the Zoom app is misconfigured: {0}")]
    AppMisconfigured(String),
    #[error("too many attempts; try again later")]
    TooManyAttempts,
    #[error("meetgate is shutting down; retry shortly")]
    ShuttingDown,
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("vault: {0}")]
    Vault(#[from] VaultError),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::Validation {
            detail: format!("{field}: {message}"),
            errors: vec![FieldProblem {
                field: field.into(),
                message,
            }],
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal(e.to_string())
    }

    /// Store `NotFound` is the same as ours; a version conflict is retried by callers that can.
    pub fn from_store(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what } => Self::NotFound { what },
            other => Self::Store(other),
        }
    }
}
