//! The host-app API under `/v1`, with its OpenAPI description generated from the handlers.

mod connect;
mod meetings;
mod tenant;
mod webhooks;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::Services;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "meetgate",
        description = "Create Zoom meetings on behalf of your users, with their own Zoom accounts. Authenticate with `Authorization: Bearer <API key>`. Every error is an RFC 9457 problem (`application/problem+json`).",
        version = env!("CARGO_PKG_VERSION"),
    ),
    modifiers(&SecurityAddon),
    components(schemas(super::problem::Problem)),
    tags(
        (name = "connections", description = "Connecting users' Zoom accounts"),
        (name = "meetings", description = "Meetings on behalf of connected users"),
        (name = "webhooks", description = "Events for the host app"),
        (name = "tenant", description = "The tenant's own settings and audit log"),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("mg_live_...")
                    .build(),
            ),
        );
    }
}

/// The `/v1` routes and their OpenAPI document.
pub fn router() -> (axum::Router<Services>, utoipa::openapi::OpenApi) {
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(connect::create_connect_session))
        .routes(routes!(connect::get_connection, connect::delete_connection))
        .routes(routes!(connect::diagnose_connection))
        .routes(routes!(
            meetings::create_meeting,
            meetings::list_user_meetings
        ))
        .routes(routes!(
            meetings::get_meeting,
            meetings::update_meeting,
            meetings::delete_meeting
        ))
        .routes(routes!(meetings::start_meeting))
        .routes(routes!(webhooks::create_endpoint, webhooks::list_endpoints))
        .routes(routes!(webhooks::delete_endpoint))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(tenant::get_settings, tenant::put_settings))
        .routes(routes!(tenant::list_audit_events))
        .split_for_parts();
    openapi.openapi = utoipa::openapi::OpenApiVersion::Version31;
    (router, openapi)
}
