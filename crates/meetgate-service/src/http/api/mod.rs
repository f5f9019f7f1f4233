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
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(tenant::get_settings, tenant::put_settings))
        .routes(routes!(tenant::list_audit_events))
        .split_for_parts();
    openapi.openapi = utoipa::openapi::OpenApiVersion::Version31;
    document_server_failures(&mut openapi);
    (router, openapi)
}

/// Any endpoint can fail on meetgate's side: 500 (`internal`, `app-misconfigured`) and 503
/// (`service-unavailable`: the database, the request timeout, shutting down). Documented once
/// here for every operation that does not say more.
fn document_server_failures(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::content::ContentBuilder;
    use utoipa::openapi::{Ref, ResponseBuilder};
    let problem = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build()
    };
    for item in openapi.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            let responses = &mut operation.responses.responses;
            for (status, description) in [
                (
                    "500",
                    "meetgate failed (`internal`), or the tenant's Zoom app is not set up (`app-misconfigured`)",
                ),
                (
                    "503",
                    "meetgate cannot answer now (`service-unavailable`): retry after `Retry-After`",
                ),
            ] {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| problem(description).into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// A parameter documented `in: path` must be in the path template, and every other one
    /// must not: `IntoParams` structs read by `ApiQuery` default to `in: path` unless they say
    /// `#[into_params(parameter_in = Query)]`, which made clients (and Schemathesis) put query
    /// parameters into the path.
    #[test]
    fn parameters_are_documented_where_the_handlers_read_them() {
        let (_, openapi) = super::router();
        let doc = serde_json::to_value(&openapi).expect("the document serializes");
        let mut checked = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                for parameter in operation["parameters"].as_array().into_iter().flatten() {
                    let name = parameter["name"].as_str().expect("name");
                    let templated = path.contains(&format!("{{{name}}}"));
                    let location = parameter["in"].as_str().expect("in");
                    assert_eq!(
                        location == "path",
                        templated,
                        "{method} {path}: parameter {name} is documented `in: {location}`"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 10, "only {checked} parameters found");
    }

    /// Every error answer is documented as a problem document.
    #[test]
    fn error_answers_are_problem_documents() {
        let (_, openapi) = super::router();
        let doc = serde_json::to_value(&openapi).expect("the document serializes");
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                let responses = operation["responses"].as_object().expect("responses");
                for server_side in ["500", "503"] {
                    assert!(
                        responses.contains_key(server_side),
                        "{method} {path} does not document {server_side}"
                    );
                }
                for (status, response) in responses {
                    if status.starts_with('4') || status.starts_with('5') {
                        assert!(
                            response["content"]["application/problem+json"].is_object(),
                            "{method} {path} {status} is not application/problem+json"
                        );
                    }
                }
            }
        }
    }
}
