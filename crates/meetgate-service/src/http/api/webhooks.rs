use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use meetgate_store::WebhookEndpointId;
use serde::Deserialize;

use crate::domain::{
    DeliveryPage, NewWebhookEndpoint, SecretRotationRequest, Services, WebhookEndpointView,
};
use crate::http::extract::{ApiCtx, ApiJson, ApiJsonOrDefault, ApiPath, ApiQuery};
use crate::http::problem::{ApiError, Problem, WithRequestId};

/// Register an endpoint for events. The answer carries the signing secret (`whsec_...`), once.
/// A tenant has at most ten endpoints (409 for an eleventh).
#[utoipa::path(post, path = "/v1/webhook-endpoints", tag = "webhooks", security(("api_key" = [])),
    request_body = NewWebhookEndpoint,
    responses(
        (status = 201, body = WebhookEndpointView),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "malformed JSON body"),
        (status = 413, body = Problem, content_type = "application/problem+json", description = "body too large"),
        (status = 415, body = Problem, content_type = "application/problem+json", description = "the body is not sent as `application/json`"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "the tenant already has ten webhook endpoints"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_endpoint(
    State(services): State<Services>,
    ApiCtx(ctx, rid): ApiCtx,
    ApiJson(body): ApiJson<NewWebhookEndpoint>,
) -> Result<(StatusCode, Json<WebhookEndpointView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(
            services
                .create_webhook_endpoint(&ctx, body)
                .await
                .rid(&rid)?,
        ),
    ))
}

/// The tenant's webhook endpoints.
#[utoipa::path(get, path = "/v1/webhook-endpoints", tag = "webhooks", security(("api_key" = [])),
    responses(
        (status = 200, body = Vec<WebhookEndpointView>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_endpoints(
    State(services): State<Services>,
    ApiCtx(ctx, rid): ApiCtx,
) -> Result<Json<Vec<WebhookEndpointView>>, ApiError> {
    Ok(Json(services.list_webhook_endpoints(&ctx).await.rid(&rid)?))
}

/// Remove an endpoint; its pending deliveries are dropped.
#[utoipa::path(delete, path = "/v1/webhook-endpoints/{id}", tag = "webhooks", security(("api_key" = [])),
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_endpoint(
    State(services): State<Services>,
    ApiCtx(ctx, rid): ApiCtx,
    ApiPath(id): ApiPath<WebhookEndpointId>,
) -> Result<StatusCode, ApiError> {
    services.delete_webhook_endpoint(&ctx, id).await.rid(&rid)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Give the endpoint a new signing secret, answered once. The old secret keeps signing beside
/// the new one (two signatures in `webhook-signature`) for `keep_previous_secs` (default 24 h),
/// so that the host app can deploy the new secret without rejecting an event meanwhile; 0 stops
/// signing with the old one at once. The body may be left out.
#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/rotate-secret", tag = "webhooks", security(("api_key" = [])),
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id")),
    request_body(content = Option<SecretRotationRequest>, description = "optional"),
    responses(
        (status = 200, body = WebhookEndpointView, description = "rotated; `secret` is the new one"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "malformed JSON body"),
        (status = 415, body = Problem, content_type = "application/problem+json", description = "a body not sent as `application/json`"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "another rotation of this endpoint came first"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn rotate_secret(
    State(services): State<Services>,
    ApiCtx(ctx, rid): ApiCtx,
    ApiPath(id): ApiPath<WebhookEndpointId>,
    ApiJsonOrDefault(body): ApiJsonOrDefault<SecretRotationRequest>,
) -> Result<Json<WebhookEndpointView>, ApiError> {
    Ok(Json(
        services
            .rotate_webhook_secret(&ctx, id, body)
            .await
            .rid(&rid)?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The delivery log of one endpoint, newest first, a page at a time (cursor pagination).
#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}/deliveries", tag = "webhooks", security(("api_key" = [])),
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id"), DeliveriesQuery),
    responses(
        (status = 200, body = DeliveryPage),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "a malformed query"),
    ))]
pub async fn list_deliveries(
    State(services): State<Services>,
    ApiCtx(ctx, rid): ApiCtx,
    ApiPath(id): ApiPath<WebhookEndpointId>,
    ApiQuery(query): ApiQuery<DeliveriesQuery>,
) -> Result<Json<DeliveryPage>, ApiError> {
    Ok(Json(
        services
            .list_deliveries(
                &ctx,
                Some(id),
                query.cursor.as_deref(),
                query.limit.unwrap_or(50),
            )
            .await
            .rid(&rid)?,
    ))
}
