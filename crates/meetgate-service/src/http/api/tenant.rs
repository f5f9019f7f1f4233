use axum::Json;
use axum::extract::State;

use crate::domain::{AuditFilter, AuditPage, Services, TenantSettings};
use crate::http::extract::{ApiCtx, ApiJson, ApiQuery};
use crate::http::problem::{ApiError, Problem, WithRequestId};

/// The tenant's settings: allowed return URLs, meeting policy, client labels in topics.
#[utoipa::path(get, path = "/v1/tenant/settings", tag = "tenant", security(("api_key" = [])),
    responses(
        (status = 200, body = TenantSettings),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_settings(
    State(services): State<Services>,
    ApiCtx(ctx, rid): ApiCtx,
) -> Result<Json<TenantSettings>, ApiError> {
    Ok(Json(services.tenant_settings(&ctx).await.rid(&rid)?))
}

/// Replace the tenant's settings.
#[utoipa::path(put, path = "/v1/tenant/settings", tag = "tenant", security(("api_key" = [])),
    request_body = TenantSettings,
    responses(
        (status = 200, body = TenantSettings),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "malformed JSON body"),
        (status = 413, body = Problem, content_type = "application/problem+json", description = "body too large"),
        (status = 415, body = Problem, content_type = "application/problem+json", description = "the body is not sent as `application/json`"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_settings(
    State(services): State<Services>,
    ApiCtx(ctx, rid): ApiCtx,
    ApiJson(sent): ApiJson<serde_json::Value>,
) -> Result<Json<TenantSettings>, ApiError> {
    let settings = TenantSettings::from_request(sent).rid(&rid)?;
    Ok(Json(
        services
            .update_tenant_settings(&ctx, settings)
            .await
            .rid(&rid)?
            .settings,
    ))
}

/// The tenant's audit log, a page at a time (cursor pagination): oldest first, or newest first
/// with `order=desc`.
#[utoipa::path(get, path = "/v1/audit-events", tag = "tenant", security(("api_key" = [])),
    params(AuditFilter),
    responses(
        (status = 200, body = AuditPage),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_audit_events(
    State(services): State<Services>,
    ApiCtx(ctx, rid): ApiCtx,
    ApiQuery(filter): ApiQuery<AuditFilter>,
) -> Result<Json<AuditPage>, ApiError> {
    Ok(Json(services.audit_events(&ctx, &filter).await.rid(&rid)?))
}
