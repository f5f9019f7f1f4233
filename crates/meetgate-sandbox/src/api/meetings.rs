//! Meeting endpoints: create and list per user, get, update and delete per meeting.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::{ApiError, FieldError};
use super::validate::{self, Mode};
use super::{Call, call, param, query_params};
use crate::endpoint::Endpoint;
use crate::meetings::{ListType, Meeting, RenderView, Status};
use crate::state::{CURSOR_TTL, Cursor, SandboxState, ZAK_TTL};

const DEFAULT_PAGE_SIZE: usize = 30;
const MAX_PAGE_SIZE: usize = 300;

fn parse_meeting_id(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().filter(|n| *n > 0)
}

pub async fn create(
    State(state): State<SandboxState>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    call(
        &state,
        Endpoint::MeetingsCreate,
        &headers,
        query.as_deref(),
        |c| {
            let host = c
                .caller
                .resolve_user(c.inner, c.endpoint, &user_id)?
                .user
                .clone();
            let body = validate::parse_body(&body)?;
            let input = validate::meeting(&body, Mode::Create)?;
            if let Some(other) = &input.schedule_for {
                // No simulated user holds scheduling privileges for another.
                return Err(ApiError::bad_request(
                    3000,
                    format!("You cannot schedule a meeting for {other}."),
                ));
            }
            if input.template_id.is_some() {
                return Err(ApiError::validation(vec![FieldError::new(
                    "template_id",
                    "Invalid template_id: the sandbox has no meeting templates.",
                )]));
            }
            c.check_daily(&host.id)?;
            let id = c.inner.new_meeting_id();
            let meeting = Meeting::create(id, &host, input, c.now)?;
            c.record_daily(&host.id);
            let zak = c.inner.mint_zak(&host.id, ZAK_TTL, c.now);
            let body = meeting.render(RenderView {
                base: c.state.base_url(),
                zak: &zak,
                now: c.now,
                with_status: true,
                occurrence: None,
                show_previous: false,
            });
            c.inner.meetings.insert(id, meeting);
            *c.state
                .counters()
                .meetings_created
                .entry(host.id.clone())
                .or_insert(0) += 1;
            Ok((StatusCode::CREATED, Json(body)).into_response())
        },
    )
}

pub async fn list(
    State(state): State<SandboxState>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = query_params(query.as_deref());
    call(
        &state,
        Endpoint::MeetingsList,
        &headers,
        query.as_deref(),
        |c| {
            let host_id = c
                .caller
                .resolve_user(c.inner, c.endpoint, &user_id)?
                .user
                .id
                .clone();
            let mut errors = Vec::new();
            let list = match param(&params, "type") {
                None => Some(ListType::Scheduled),
                Some(t) => ListType::parse(t),
            };
            if list.is_none() {
                errors.push(FieldError::new("type", "Invalid field."));
            }
            let page_size = match param(&params, "page_size") {
                None => None,
                Some(p) => match p.parse::<usize>() {
                    Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Some(n),
                    _ => {
                        errors.push(FieldError::new(
                            "page_size",
                            "page_size must be between 1 and 300.",
                        ));
                        None
                    }
                },
            };
            if !errors.is_empty() {
                return Err(ApiError::validation(errors));
            }
            let list = list.unwrap_or(ListType::Scheduled);
            let (offset, page_size) = match param(&params, "next_page_token") {
                None => (0, page_size.unwrap_or(DEFAULT_PAGE_SIZE)),
                Some(token) => {
                    let cursor = c
                        .inner
                        .cursors
                        .get(token)
                        .filter(|k| k.expires_at > c.now && k.user_id == host_id && k.list == list)
                        .ok_or_else(|| {
                            ApiError::bad_request(300, "The next page token is invalid or expired.")
                        })?;
                    (cursor.offset, page_size.unwrap_or(cursor.page_size))
                }
            };
            list_page(c, &host_id, list, offset, page_size)
        },
    )
}

fn list_page(
    c: &mut Call<'_>,
    host_id: &str,
    list: ListType,
    offset: usize,
    page_size: usize,
) -> Result<Response, ApiError> {
    let now = c.now;
    let mut meetings: Vec<&Meeting> = c
        .inner
        .meetings
        .values()
        .filter(|m| m.host_id == host_id && !m.gone(now) && m.in_list(list, now))
        .collect();
    meetings.sort_by_key(|m| m.sort_key(now));
    let total = meetings.len();
    let base = c.state.base_url();
    let page: Vec<_> = meetings
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|m| m.render_list_item(base, now))
        .collect();
    let next_offset = offset + page.len();
    let next_page_token = if next_offset < total {
        c.inner.cursors.retain(|_, k| k.expires_at > now);
        let token = crate::ids::token(24);
        c.inner.cursors.insert(
            token.clone(),
            Cursor {
                user_id: host_id.to_owned(),
                list,
                page_size,
                offset: next_offset,
                expires_at: now + CURSOR_TTL,
            },
        );
        token
    } else {
        String::new()
    };
    Ok(Json(json!({
        "next_page_token": next_page_token,
        "page_size": page_size,
        "total_records": total,
        "meetings": page,
    }))
    .into_response())
}

pub async fn get(
    State(state): State<SandboxState>,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = query_params(query.as_deref());
    call(
        &state,
        Endpoint::MeetingsGet,
        &headers,
        query.as_deref(),
        |c| {
            let id = parse_meeting_id(&raw_id);
            let meeting = id.and_then(|id| c.inner.live_meeting(id, c.now));
            c.caller.meeting_access(c.endpoint, meeting, &raw_id)?;
            let Some(meeting) = meeting.cloned() else {
                return Err(ApiError::meeting_not_found(&raw_id));
            };
            let occurrence = match param(&params, "occurrence_id") {
                Some(o) => Some(meeting.occurrence(o)?.clone()),
                None => None,
            };
            let show_previous = param(&params, "show_previous_occurrences") == Some("true");
            // A fresh ZAK each time: start_url is only good for two hours.
            let zak = c.inner.mint_zak(&meeting.host_id, ZAK_TTL, c.now);
            let body = meeting.render(RenderView {
                base: c.state.base_url(),
                zak: &zak,
                now: c.now,
                with_status: true,
                occurrence: occurrence.as_ref(),
                show_previous,
            });
            Ok(Json(body).into_response())
        },
    )
}

pub async fn update(
    State(state): State<SandboxState>,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = query_params(query.as_deref());
    call(
        &state,
        Endpoint::MeetingsUpdate,
        &headers,
        query.as_deref(),
        |c| {
            let id = parse_meeting_id(&raw_id);
            let meeting = id.and_then(|id| c.inner.live_meeting(id, c.now));
            c.caller.meeting_access(c.endpoint, meeting, &raw_id)?;
            let Some(mut meeting) = meeting.cloned() else {
                return Err(ApiError::meeting_not_found(&raw_id));
            };
            if meeting.status == Status::Started {
                return Err(ApiError::bad_request(
                    3000,
                    "You cannot update or delete meetings that have started using this method.",
                ));
            }
            let body = validate::parse_body(&body)?;
            let occurrence = param(&params, "occurrence_id");
            let mode = if occurrence.is_some() {
                Mode::UpdateOccurrence
            } else {
                Mode::Update
            };
            let input = validate::meeting(&body, mode)?;
            if input.schedule_for.is_some() {
                return Err(ApiError::bad_request(
                    3000,
                    "You cannot schedule a meeting for another user.",
                ));
            }
            if input.template_id.is_some() {
                return Err(ApiError::validation(vec![FieldError::new(
                    "template_id",
                    "Invalid template_id: the sandbox has no meeting templates.",
                )]));
            }
            c.check_daily(&meeting.host_id)?;
            match occurrence {
                Some(o) => meeting.apply_occurrence(o, input)?,
                None => meeting.apply(input, c.now, false)?,
            }
            let host = meeting.host_id.clone();
            c.inner.meetings.insert(meeting.id, meeting);
            c.record_daily(&host);
            Ok(StatusCode::NO_CONTENT.into_response())
        },
    )
}

pub async fn delete(
    State(state): State<SandboxState>,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = query_params(query.as_deref());
    call(
        &state,
        Endpoint::MeetingsDelete,
        &headers,
        query.as_deref(),
        |c| {
            let now = c.now;
            let id = parse_meeting_id(&raw_id);
            let meeting = id.and_then(|id| c.inner.live_meeting(id, now));
            c.caller.meeting_access(c.endpoint, meeting, &raw_id)?;
            let Some(meeting) = id.and_then(|id| c.inner.live_meeting_mut(id, now)) else {
                return Err(ApiError::meeting_not_found(&raw_id));
            };
            match param(&params, "occurrence_id") {
                Some(o) => meeting.occurrence_mut(o)?.deleted = true,
                None => {
                    if meeting.status == Status::Started {
                        return Err(ApiError::bad_request(
                            3002,
                            "Sorry, you cannot delete this meeting since it is in progress.",
                        ));
                    }
                    // A meeting that happened stays in the host's history; a recurring one can
                    // still be deleted for its later occurrences.
                    if meeting.ended_at.is_some() && matches!(meeting.meeting_type, 1 | 2) {
                        return Err(ApiError::bad_request(
                            3007,
                            "Sorry, you cannot delete this meeting since it has ended.",
                        ));
                    }
                    meeting.deleted_at = Some(now);
                }
            }
            Ok(StatusCode::NO_CONTENT.into_response())
        },
    )
}
