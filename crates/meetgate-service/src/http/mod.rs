//! HTTP: the `/v1` JSON API, the pages (connect flow, web app), Zoom's webhooks, health and
//! metrics. Handlers translate between HTTP and the domain; they hold no business logic and no SQL.

pub mod api;
pub mod extract;
mod health;
mod layers;
mod oauth;
pub(crate) mod pages;
pub mod problem;
mod problems_page;
pub mod server;
pub mod templates;
mod zoom_webhooks;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};

use crate::domain::Services;

/// The whole application router.
pub fn router(services: Services, metrics: Option<health::MetricsRender>) -> Router {
    let (api, openapi) = api::router();
    let openapi_json = std::sync::Arc::new(openapi.to_json().unwrap_or_else(|_| "{}".into()));
    let mut app = Router::new()
        .merge(api)
        .merge(pages::router())
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route(
            "/openapi.json",
            get(move || health::openapi(openapi_json.clone())),
        )
        .route("/problems/{slug}", get(problems_page::problem_page))
        .route("/connect/{token}", get(oauth::connect_page))
        .route("/connect/{token}/go", get(oauth::connect_go))
        .route("/oauth/callback", get(oauth::callback))
        .route("/zoom/webhooks/{app_id}", post(zoom_webhooks::receive))
        .route("/static/app.css", get(templates::stylesheet))
        .route("/static/app.js", get(templates::script));
    if let Some(render) = metrics {
        app = app.route(
            "/metrics",
            get(move |State(services): State<Services>| health::metrics(services, render.clone())),
        );
    }
    let config = services.config.clone();
    layers::apply(
        app.fallback(health::not_found)
            .method_not_allowed_fallback(health::method_not_allowed)
            .with_state(services),
        &config,
    )
}

pub use health::MetricsRender;

/// A router serving only `/metrics`, for a separate metrics address.
pub type MetricsRouter = Router;

pub fn metrics_router(render: MetricsRender, services: Services) -> MetricsRouter {
    Router::new().route(
        "/metrics",
        get(move || health::metrics(services.clone(), render.clone())),
    )
}

pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    router: MetricsRouter,
    limits: server::ConnectionLimits,
) {
    server::serve(listener, router, limits, std::future::pending()).await;
}
pub use problem::{ApiError, Problem};
