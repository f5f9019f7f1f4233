use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::extract::RequestId;
use super::problem::Problem;
use crate::domain::Services;

/// Renders the Prometheus exposition text.
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

/// Liveness: the process answers.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers.
pub async fn readyz(State(services): State<Services>, rid: RequestId) -> Response {
    match services.store.ping().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Problem::new("service-unavailable", "the database does not answer")
                .with_request_id(rid.0)
                .into_response()
        }
    }
}

pub async fn openapi(json: Arc<String>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        (*json).clone(),
    )
        .into_response()
}

/// The exposition, with the store's gauges read first.
pub async fn metrics(services: Services, render: MetricsRender) -> Response {
    services.publish_gauges(services.clock.now()).await;
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        render(),
    )
        .into_response()
}

pub async fn not_found(rid: RequestId, uri: axum::http::Uri, headers: HeaderMap) -> Response {
    if super::layers::is_page_request(uri.path(), &headers) {
        return super::layers::page_for_status(StatusCode::NOT_FOUND);
    }
    Problem::new("not-found", "no such route")
        .with_request_id(rid.0)
        .into_response()
}

pub async fn method_not_allowed(
    rid: RequestId,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    if super::layers::is_page_request(uri.path(), &headers) {
        return super::layers::page_for_status(StatusCode::METHOD_NOT_ALLOWED);
    }
    Problem::new("method-not-allowed", "this route does not take this method")
        .with_request_id(rid.0)
        .into_response()
}

/// The method as a metrics label. Any token is a valid HTTP method, and the unmatched routes
/// count too: labelled with the raw method, an unauthenticated client could add series to
/// the registry without end.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts requests by route template and status, and their latency.
pub async fn record_metrics(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("meetgate_http_requests_total", "method" => method, "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("meetgate_http_request_duration_seconds", "method" => method, "route" => route).record(started.elapsed().as_secs_f64());
    if response.status() == StatusCode::REQUEST_TIMEOUT {
        tracing::warn!("request timed out");
    }
    response
}
