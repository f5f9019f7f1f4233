use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use crate::domain::{ConnectSessionView, ConnectionView, Diagnosis, NewConnectSession, Services};
use crate::http::extract::{ApiCtx, ApiJson, ApiPath, ApiQuery};
use crate::http::problem::{ApiError, Problem, WithRequestId};

/// Create a connect session: a link that sends the user through Zoom's consent page and back to
/// `return_url`.
#[utoipa::path(post, path = "/v1/connect-sessions", tag = "connections", security(("api_key" = [])),
    request_body = NewConnectSession,
    responses(
        (status = 201, body = ConnectSessionView),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "malformed JSON body"),
        (status = 413, body = Problem, content_type = "application/problem+json", description = "body too large"),
        (status = 415, body = Problem, content_type = "application/problem+json", description = "the body is not sent as `application/json`"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "no such Zoom app (zoom_app_id)"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_connect_session(
    State(services): State<Services>,
    ApiCtx(ctx, rid): ApiCtx,
    ApiJson(body): ApiJson<NewConnectSession>,
) -> Result<(StatusCode, Json<ConnectSessionView>), ApiError> {
    let view = services
        .create_connect_session(&ctx, body)
        .await
        .rid(&rid)?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The user's Zoom connection: state, Zoom user and account, scopes, app type, last refresh.
#[utoipa::path(get, path = "/v1/users/{user}/connection", tag = "connections", security(("api_key" = [])),
    params(("user" = String, Path, description = "The host app's id for its user")),
    responses(
        (status = 200, body = ConnectionView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "not connected"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "a malformed user id or query"),
    ))]
pub async fn get_connection(
    State(services): State<Services>,
    ApiCtx(ctx, rid): ApiCtx,
    ApiPath(user): ApiPath<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    Ok(Json(services.get_connection(&ctx, &user).await.rid(&rid)?))
}

/// Disconnect: revoke the grant at Zoom and delete the tokens. The connection ends even when
/// Zoom refuses the revoke; the `connection.revoked` audit event says whether Zoom revoked it
/// (`revoked_at_zoom`).
#[utoipa::path(delete, path = "/v1/users/{user}/connection", tag = "connections", security(("api_key" = [])),
    params(("user" = String, Path, description = "The host app's id for its user")),
    responses(
        (status = 200, body = ConnectionView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "not connected"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "a malformed user id or query"),
    ))]
pub async fn delete_connection(
    State(services): State<Services>,
    ApiCtx(ctx, rid): ApiCtx,
    ApiPath(user): ApiPath<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    Ok(Json(services.disconnect(&ctx, &user).await.rid(&rid)?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiagnosisQuery {
    /// A Zoom user (id or email) to check creating meetings for, instead of the connected user.
    pub host: Option<String>,
}

/// The doctor: for each operation, whether this grant can do it and, if not, why and how to fix it.
#[utoipa::path(get, path = "/v1/users/{user}/connection/diagnosis", tag = "connections", security(("api_key" = [])),
    params(("user" = String, Path, description = "The host app's id for its user"), DiagnosisQuery),
    responses(
        (status = 200, body = Diagnosis),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "not connected"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "a malformed user id or query"),
    ))]
pub async fn diagnose_connection(
    State(services): State<Services>,
    ApiCtx(ctx, rid): ApiCtx,
    ApiPath(user): ApiPath<String>,
    ApiQuery(query): ApiQuery<DiagnosisQuery>,
) -> Result<Json<Diagnosis>, ApiError> {
    Ok(Json(
        services
            .diagnose(&ctx, &user, query.host.as_deref())
            .await
            .rid(&rid)?,
    ))
}
