//! The Meetings REST API under `/v2`.

pub mod auth;
pub mod error;
pub mod meetings;
pub mod users;
pub mod validate;

use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use crate::endpoint::{Category, Endpoint};
use crate::ratelimit::{Allowed, Limited};
use crate::state::{Inner, SandboxState};
use crate::timefmt;
use auth::Caller;
use error::ApiError;

/// One authenticated, rate-limited API call in progress.
pub struct Call<'a> {
    pub state: &'a SandboxState,
    pub inner: &'a mut Inner,
    pub caller: Caller,
    pub now: OffsetDateTime,
    pub endpoint: Endpoint,
}

impl Call<'_> {
    /// The per-host daily limit on meeting creates and updates.
    pub fn check_daily(&self, host_id: &str) -> Result<(), ApiError> {
        if !self.state.rate_limits_enabled() {
            return Ok(());
        }
        self.inner
            .rate
            .check_daily(host_id, self.now)
            .map(|_| ())
            .map_err(|l| limited(&l, self.endpoint.category().unwrap_or(Category::Medium)))
    }

    pub fn record_daily(&mut self, host_id: &str) {
        self.inner.rate.record_daily(host_id, self.now);
    }
}

pub fn limited(l: &Limited, category: Category) -> ApiError {
    match l {
        Limited::Qps { category, limit } => ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            429,
            "You have reached the maximum per-second rate limit for this API. Try again later.",
        )
        .with_header("x-ratelimit-category", category.label())
        .with_header("x-ratelimit-type", "QPS")
        .with_header("x-ratelimit-limit", &limit.to_string())
        .with_header("x-ratelimit-remaining", "0"),
        Limited::Daily { limit, retry_after } => ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            429,
            format!(
                "You have reached the maximum daily rate limit for this API. A maximum of {limit} \
                 meetings can be created/updated for a single user in one day."
            ),
        )
        .with_header("x-ratelimit-category", category.label())
        .with_header("x-ratelimit-type", "Daily-limit")
        .with_header("x-ratelimit-limit", &limit.to_string())
        .with_header("x-ratelimit-remaining", "0")
        .with_header("retry-after", &timefmt::format(*retry_after)),
    }
}

/// Authenticates, applies the QPS limit, runs `f` under the state lock, and answers.
pub fn call(
    state: &SandboxState,
    endpoint: Endpoint,
    headers: &HeaderMap,
    query: Option<&str>,
    f: impl FnOnce(&mut Call<'_>) -> Result<Response, ApiError>,
) -> Response {
    let now = state.now();
    let mut inner = state.inner();
    let caller = match auth::authenticate(&inner, headers, query, now) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let mut allowed: Option<(Category, Allowed)> = None;
    if state.rate_limits_enabled()
        && let Some(category) = endpoint.category()
    {
        match inner
            .rate
            .check_qps(&caller.account.id, caller.account.plan, category, now)
        {
            Ok(a) => allowed = Some((category, a)),
            Err(l) => return limited(&l, category).into_response(),
        }
    }
    let mut call = Call {
        state,
        inner: &mut inner,
        caller,
        now,
        endpoint,
    };
    let mut resp = f(&mut call).unwrap_or_else(IntoResponse::into_response);
    if let Some((category, a)) = allowed {
        let h = resp.headers_mut();
        if !h.contains_key("x-ratelimit-type") {
            h.insert(
                "x-ratelimit-category",
                HeaderValue::from_static(category.label()),
            );
            h.insert("x-ratelimit-type", HeaderValue::from_static("QPS"));
            h.insert("x-ratelimit-limit", HeaderValue::from(a.limit));
            h.insert("x-ratelimit-remaining", HeaderValue::from(a.remaining));
        }
    }
    resp
}

pub fn query_params(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}
