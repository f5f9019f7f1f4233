use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::from_fn;
use axum::response::IntoResponse;
use tower::ServiceBuilder;
use tower_http::body::Limited;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids, tracing spans without secrets, timeouts, body limits and security headers.
pub fn apply(router: Router, config: &Config) -> Router {
    let trace = TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
        let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
        // The route template, never the raw path: paths carry connect tokens and user ids.
        let route = request
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "unmatched".into());
        tracing::info_span!("request", method = %request.method(), route = %route, request_id = %request_id)
    });
    // Browsers reach meetgate at public_url; only when that is https may they be told to
    // refuse plain HTTP for it (on http the header would be ignored, or lock out a test host).
    let hsts = config
        .public_base()
        .is_ok_and(|u| u.scheme() == "https")
        .then_some(HeaderValue::from_static("max-age=31536000"));
    // One layer made of the whole stack: `Router::layer` boxes what it wraps per route, and a
    // request clones every box on its way in, so thirteen separate layers cost thirteen boxed
    // clones (and allocations) per request where one stack costs one. Outermost first.
    let stack = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION, header::COOKIE]))
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
        .layer(from_fn::<_, (Request,)>(sanitize_request_id))
        // A middleware function takes and gives axum's own request and response types; the
        // tower layers under it change the bodies' types, and these two maps change them back.
        .map_response(IntoResponse::into_response)
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .layer(trace)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(header::STRICT_TRANSPORT_SECURITY, move |_: &axum::response::Response| hsts.clone()))
        .layer(from_fn::<_, (Request,)>(bare_errors_as_problems))
        .map_response(IntoResponse::into_response)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_as_problem))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(config.http.max_body_bytes))
        .map_request(|request: axum::http::Request<Limited<Body>>| request.map(Body::new))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(config.http.request_timeout_secs),
        ))
        .layer(from_fn::<_, (Request,)>(super::health::record_metrics));
    router.layer(stack)
}

/// A panic in a handler (a bug) still gets an answer: the internal-error problem, logged with
/// the request's span. Without this the connection would just close.
fn panic_as_problem(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %what, "a request handler panicked");
    super::problem::Problem::new(
        "internal",
        "an internal error occurred; the request id identifies it in meetgate's logs",
    )
    .into_response()
}

/// The body limit and the request timeout answer before any handler runs, with a plain-text 413
/// and an empty 503; every error meetgate answers is a problem document, so these become ones.
async fn bare_errors_as_problems(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let request_id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let page = is_page_request(request.uri().path(), request.headers());
    let response = next.run(request).await;
    let content_type = response.headers().get(header::CONTENT_TYPE);
    let bare = content_type.is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    // A problem document reaching a page request comes from no page handler (a panic caught
    // below): a person gets a sentence instead.
    let problem_doc =
        content_type.is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if page
        && (bare || problem_doc)
        && (response.status().is_client_error() || response.status().is_server_error())
    {
        return page_for_status(response.status());
    }
    let problem = match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE if bare => super::problem::Problem::new(
            "payload-too-large",
            "the request body is larger than this server accepts",
        ),
        StatusCode::SERVICE_UNAVAILABLE if bare => super::problem::Problem::new(
            "service-unavailable",
            "the request took too long and was stopped; retry it (with the same Idempotency-Key)",
        ),
        _ => return response,
    };
    problem.with_request_id(request_id).into_response()
}

/// Whether a person's browser asked for a page (not the API, Zoom's webhooks or the probes):
/// then an error is a page with a sentence, not a problem document.
pub(super) fn is_page_request(path: &str, headers: &axum::http::HeaderMap) -> bool {
    let machine = [
        "/v1/",
        "/zoom/",
        "/openapi.json",
        "/metrics",
        "/healthz",
        "/readyz",
    ]
    .iter()
    .any(|prefix| path.starts_with(prefix))
        || path == "/v1";
    !machine
        && headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
}

/// The page for an error that no handler put into words: a malformed address, no such page,
/// a body too large, a request stopped by the timeout.
pub(super) fn page_for_status(status: axum::http::StatusCode) -> axum::response::Response {
    use axum::http::StatusCode;
    let (title, message) = match status {
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => {
            ("Not found", "There is no page at this address.")
        }
        StatusCode::PAYLOAD_TOO_LARGE => (
            "Too large",
            "What you sent is larger than meetgate accepts.",
        ),
        StatusCode::SERVICE_UNAVAILABLE => (
            "That took too long",
            "meetgate stopped waiting, most likely for Zoom. Reload the dashboard to see what happened before you try again.",
        ),
        s if s.is_client_error() => (
            "That address is not valid",
            "Part of the address could not be read. Go back and try again, or start from the dashboard.",
        ),
        _ => (
            "Something went wrong",
            "Something went wrong on our side. Please try again.",
        ),
    };
    super::templates::message_page(status, title, message)
}

/// A client-chosen request id ends up in logs and bodies: keep it short and plain, or replace it.
async fn sanitize_request_id(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let ok = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        });
    if !ok && let Ok(value) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        request.headers_mut().insert(X_REQUEST_ID, value);
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use tower::ServiceExt as _;

    use crate::config::Config;

    #[tokio::test]
    async fn a_panicking_handler_answers_a_problem_with_its_request_id() {
        async fn buggy() -> &'static str {
            panic!("a bug in a handler")
        }
        let app = super::apply(
            axum::Router::new().route("/boom", axum::routing::get(buggy)),
            &Config::default(),
        );
        let response = app
            .oneshot(
                Request::get("/boom")
                    .header("x-request-id", "req-42")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(response.headers()["x-request-id"], "req-42");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["type"], "/problems/internal");
        assert!(!problem.to_string().contains("a bug in a handler"));

        // A person's browser gets a page with a sentence instead.
        let app = super::apply(
            axum::Router::new().route("/app/boom", axum::routing::get(buggy)),
            &Config::default(),
        );
        let response = app
            .oneshot(
                Request::get("/app/boom")
                    .header(header::ACCEPT, "text/html,application/xhtml+xml")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            response.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let page = String::from_utf8_lossy(&body);
        assert!(page.contains("Something went wrong"), "{page}");
        assert!(!page.contains("a bug in a handler"));
    }
}
