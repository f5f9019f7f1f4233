use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use meetgate_store::models::MeetingWindow;
use meetgate_store::{MeetingId, TenantId};
use serde::Deserialize;

use crate::Error;
use crate::domain::{CreateMeeting, Keyed, MeetingList, MeetingPatch, MeetingView, Services};
use crate::http::extract::{ApiCtx, ApiJson, ApiPath, ApiQuery, RequestId, idempotency_key};
use crate::http::problem::{ApiError, Problem, WithRequestId};

/// Create a meeting with the user's own Zoom account. Send `Idempotency-Key` to make retries
/// safe: the same key never yields two Zoom meetings.
#[utoipa::path(post, path = "/v1/users/{user}/meetings", tag = "meetings", security(("api_key" = [])),
    params(
        ("user" = String, Path, description = "The host app's id for its user"),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, description = "Makes the request safe to retry; kept 24 hours. 1 to 255 visible ASCII characters."),
    ),
    request_body = CreateMeeting,
    responses(
        (status = 201, body = MeetingView),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "malformed JSON body"),
        (status = 413, body = Problem, content_type = "application/problem+json", description = "body too large"),
        (status = 415, body = Problem, content_type = "application/problem+json", description = "the body is not sent as `application/json`"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "not connected, needs reauth, or key in progress"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "invalid request or Zoom refused (see fix)"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
        (status = 502, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_meeting(
    State(services): State<Services>,
    ApiCtx(ctx, rid): ApiCtx,
    ApiPath(user): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateMeeting>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers, &rid)?;
    let created = services
        .create_meeting(&ctx, &user, &body, key.as_deref())
        .await
        .rid(&rid)?;
    let status = StatusCode::from_u16(created.status).unwrap_or(StatusCode::CREATED);
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        Box::<str>::from(created.body).into_string(),
    )
        .into_response();
    if created.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `upcoming` (default), `past` or `all`.
    pub window: Option<String>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    /// 1 to 100, default 20.
    pub limit: Option<u32>,
}

/// The user's meetings created through meetgate, oldest first, a page at a time.
#[utoipa::path(get, path = "/v1/users/{user}/meetings", tag = "meetings", security(("api_key" = [])),
    params(("user" = String, Path, description = "The host app's id for its user"), ListQuery),
    responses(
        (status = 200, body = MeetingList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_user_meetings(
    State(services): State<Services>,
    ApiCtx(ctx, rid): ApiCtx,
    ApiPath(user): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<MeetingList>, ApiError> {
    let window = match query.window.as_deref().unwrap_or("upcoming") {
        "upcoming" => MeetingWindow::Upcoming,
        "past" => MeetingWindow::Past,
        "all" => MeetingWindow::All,
        _ => return Err(Error::validation("window", "must be upcoming, past or all")).rid(&rid),
    };
    let list = services
        .list_meetings(
            &ctx,
            Some(&user),
            window,
            query.cursor.as_deref(),
            query.limit.unwrap_or(20),
        )
        .await
        .rid(&rid)?;
    Ok(Json(list))
}

/// A meeting created through meetgate.
#[utoipa::path(get, path = "/v1/meetings/{id}", tag = "meetings", security(("api_key" = [])),
    params(("id" = uuid::Uuid, Path, description = "meetgate's meeting id")),
    responses(
        (status = 200, body = MeetingView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_meeting(
    State(services): State<Services>,
    ApiCtx(ctx, rid): ApiCtx,
    ApiPath(id): ApiPath<MeetingId>,
) -> Result<Json<MeetingView>, ApiError> {
    Ok(Json(services.get_meeting(&ctx, id).await.rid(&rid)?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OccurrenceQuery {
    /// One occurrence of a recurring meeting (its `occurrence_id` in `occurrences`).
    #[param(min_length = 1)]
    pub occurrence_id: Option<String>,
}

/// Update a meeting at Zoom (or one occurrence); the answer is what Zoom now says.
#[utoipa::path(patch, path = "/v1/meetings/{id}", tag = "meetings", security(("api_key" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "meetgate's meeting id"),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, description = "Makes the request safe to retry; kept 24 hours. 1 to 255 visible ASCII characters."),
        OccurrenceQuery,
    ),
    request_body = MeetingPatch,
    responses(
        (status = 200, body = MeetingView),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "malformed JSON body"),
        (status = 413, body = Problem, content_type = "application/problem+json", description = "body too large"),
        (status = 415, body = Problem, content_type = "application/problem+json", description = "the body is not sent as `application/json`"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "Zoom's rate limit"),
        (status = 502, body = Problem, content_type = "application/problem+json", description = "Zoom did not answer properly"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "Zoom's answer was lost, or the database is unavailable"),
    ))]
pub async fn update_meeting(
    State(services): State<Services>,
    ApiCtx(ctx, rid): ApiCtx,
    ApiPath(id): ApiPath<MeetingId>,
    ApiQuery(query): ApiQuery<OccurrenceQuery>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<MeetingPatch>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers, &rid)?;
    let answer = services
        .update_meeting_keyed(
            &ctx,
            id,
            &body,
            query.occurrence_id.as_deref(),
            key.as_deref(),
        )
        .await
        .rid(&rid)?;
    Ok(keyed_response(answer, |view| Json(view).into_response()))
}

/// Delete a meeting at Zoom (or one occurrence).
#[utoipa::path(delete, path = "/v1/meetings/{id}", tag = "meetings", security(("api_key" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "meetgate's meeting id"),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, description = "Makes the request safe to retry; kept 24 hours. 1 to 255 visible ASCII characters."),
        OccurrenceQuery,
    ),
    responses(
        (status = 204, description = "deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "Zoom's rate limit"),
        (status = 502, body = Problem, content_type = "application/problem+json", description = "Zoom did not answer properly"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "Zoom's answer was lost, or the database is unavailable"),
    ))]
pub async fn delete_meeting(
    State(services): State<Services>,
    ApiCtx(ctx, rid): ApiCtx,
    ApiPath(id): ApiPath<MeetingId>,
    ApiQuery(query): ApiQuery<OccurrenceQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers, &rid)?;
    let answer = services
        .delete_meeting_keyed(&ctx, id, query.occurrence_id.as_deref(), key.as_deref())
        .await
        .rid(&rid)?;
    Ok(keyed_response(answer, |()| {
        StatusCode::NO_CONTENT.into_response()
    }))
}

/// A fresh answer as `fresh` renders it, or the stored answer of an earlier request with the same
/// `Idempotency-Key`, marked `Idempotent-Replayed: true`.
fn keyed_response<T>(answer: Keyed<T>, fresh: impl FnOnce(T) -> Response) -> Response {
    match answer {
        Keyed::Fresh(value) => fresh(value),
        Keyed::Replayed { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut response = if status == StatusCode::NO_CONTENT {
                status.into_response()
            } else {
                (status, Json(body)).into_response()
            };
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            response
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartQuery {
    /// With `expires` and `sig`: a signed start link, usable without an API key.
    pub tenant: Option<String>,
    pub expires: Option<i64>,
    pub sig: Option<String>,
}

/// Redirects the host to Zoom with a start URL fetched now (Zoom's expire after 2 hours). Works
/// with an API key, or as the signed `start_link` from a meeting without one.
#[utoipa::path(get, path = "/v1/meetings/{id}/start", tag = "meetings",
    params(("id" = uuid::Uuid, Path, description = "meetgate's meeting id"), StartQuery),
    responses(
        (status = 302, description = "to Zoom's start URL"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "bad or expired link"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "the host's connection must be renewed"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "a malformed query, or Zoom refused (see fix)"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "Zoom's rate limit"),
        (status = 502, body = Problem, content_type = "application/problem+json", description = "Zoom did not answer properly"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "Zoom's answer was lost, or the database is unavailable"),
    ))]
pub async fn start_meeting(
    State(services): State<Services>,
    ApiPath(id): ApiPath<MeetingId>,
    ApiQuery(query): ApiQuery<StartQuery>,
    rid: RequestId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let now = services.clock.now();
    let ctx = match (&query.tenant, query.expires, &query.sig) {
        (Some(tenant), Some(expires), Some(sig)) => {
            let tenant: TenantId = tenant
                .parse()
                .map_err(|_| Error::Forbidden("this start link is not valid".into()))
                .rid(&rid)?;
            let claims = services
                .verify_start_link(tenant, id, expires, sig, now)
                .rid(&rid)?;
            services.start_link_ctx(&claims, rid.0.clone(), now)
        }
        _ => {
            let key = crate::http::extract::bearer_token(&headers)
                .ok_or(Error::Unauthenticated)
                .rid(&rid)?;
            services
                .authenticate_api_key(key, rid.0.clone(), now)
                .await
                .rid(&rid)?
        }
    };
    let url = services.fresh_start_url(&ctx, id).await.rid(&rid)?;
    let location = HeaderValue::from_str(&url)
        .map_err(|_| Error::ZoomUnavailable("Zoom returned an unusable start URL".into()))
        .rid(&rid)?;
    let mut response = StatusCode::FOUND.into_response();
    let h = response.headers_mut();
    h.insert(header::LOCATION, location);
    // The start URL carries the host's ZAK: never cache it, never leak it as a referrer.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}
