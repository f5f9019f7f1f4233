//! A clinician's meetings: start one now, schedule a session, see one, move it, cancel it.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use meetgate_store::MeetingId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::dashboard::{ScheduleTyped, render_dashboard, render_dashboard_typed};
use super::session::{Fields, Member, MemberForm};
use super::{Flash, app_page, describe, error_page, no_store, see_other};
use crate::Error;
use crate::domain::{
    LocalSlot, MeetingCreated, MeetingView, MemberSession, Services, SessionSchedule, display_time,
    local_parts, time_zone_names,
};

/// A meeting as a line of the dashboard's tables.
#[derive(Debug, Clone, Serialize)]
pub(super) struct MeetingRow {
    pub id: String,
    pub href: String,
    pub when: String,
    pub label: String,
    pub kind: String,
    pub status: String,
    pub duration: Option<i32>,
}

fn kind_label(kind: &str) -> &'static str {
    match kind {
        "instant" => "Instant",
        "recurring" => "Weekly",
        _ => "Scheduled",
    }
}

fn when(m: &MeetingView) -> String {
    match (m.kind.as_str(), m.start_time) {
        ("instant", _) => format!(
            "Created {}",
            display_time(m.created_at, m.timezone.as_deref())
        ),
        (_, Some(t)) => display_time(t, m.timezone.as_deref()),
        (_, None) => "No fixed time".into(),
    }
}

pub(super) fn row(m: &MeetingView) -> MeetingRow {
    MeetingRow {
        id: m.id.to_string(),
        href: format!("/app/meetings/{}", m.id),
        when: when(m),
        label: m
            .client_label
            .clone()
            .or(m.topic.clone())
            .unwrap_or_else(|| "(no label)".into()),
        kind: kind_label(&m.kind).to_owned(),
        status: m.status.clone(),
        duration: m.duration,
    }
}

/// The key that makes a resent form harmless: per member, from the form's random field.
fn idempotency_key(session: &MemberSession, form_key: Option<String>) -> Option<String> {
    form_key
        .filter(|k| {
            k.len() <= 64
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(|k| format!("web:{}:{k}", session.member.id))
}

/// The created meeting's id and start link, from `create_meeting`'s answer body.
fn created_ids(created: &MeetingCreated) -> Option<(String, String)> {
    #[derive(serde::Deserialize)]
    struct Ids {
        id: String,
        start_link: String,
    }
    let ids: Ids = serde_json::from_str(created.body.get()).ok()?;
    Some((ids.id, ids.start_link))
}

fn slot(f: &Fields) -> LocalSlot {
    LocalSlot {
        date: f.text("date"),
        time: f.text("time"),
        duration: f.text("duration"),
        timezone: f.text("timezone"),
    }
}

/// "Start instant meeting". With the page's script (JSON), answers the meeting page and the
/// start link, and the script opens Zoom in a new tab; without it, goes to the meeting page,
/// whose button opens Zoom.
pub async fn instant(State(services): State<Services>, form: MemberForm) -> Response {
    let session = &form.session;
    let key = idempotency_key(session, form.fields.optional("key"));
    let created = services
        .start_member_meeting(
            &session.ctx,
            &session.external_id,
            form.fields.optional("client_label"),
            key.as_deref(),
        )
        .await;
    match created.as_ref().map(created_ids) {
        Ok(Some((id, start_link))) => {
            let page = format!("/app/meetings/{id}?done=started");
            if form.json {
                no_store(
                    Json(serde_json::json!({ "page": page, "start_link": start_link }))
                        .into_response(),
                )
            } else {
                see_other(&format!("/app/meetings/{id}?done=created"))
            }
        }
        Ok(None) => error_page(
            &Error::Internal("create_meeting answered without an id".into()),
            session.ctx.request_id.as_deref(),
        ),
        Err(e) => {
            let (status, text) = describe(e, session.ctx.request_id.as_deref());
            if form.json {
                return no_store(
                    (status, Json(serde_json::json!({ "error": text }))).into_response(),
                );
            }
            render_dashboard(&services, session, status, Some(Flash::error(text))).await
        }
    }
}

pub async fn schedule(State(services): State<Services>, form: MemberForm) -> Response {
    let session = &form.session;
    let f = &form.fields;
    let request = SessionSchedule {
        client_label: f.optional("client_label"),
        slot: slot(f),
        weekly_occurrences: f.checked("weekly").then(|| f.text("occurrences")),
    };
    let key = idempotency_key(session, f.optional("key"));
    match services
        .schedule_member_session(&session.ctx, &session.external_id, &request, key.as_deref())
        .await
    {
        Ok(created) => match created_ids(&created) {
            Some((id, _)) => see_other(&format!("/app/meetings/{id}?done=scheduled")),
            None => error_page(
                &Error::Internal("create_meeting answered without an id".into()),
                session.ctx.request_id.as_deref(),
            ),
        },
        Err(e) => {
            let (status, text) = describe(&e, session.ctx.request_id.as_deref());
            let typed = ScheduleTyped {
                client_label: f.optional("client_label").unwrap_or_default(),
                date: f.text("date"),
                time: f.text("time"),
                duration: f.text("duration").parse().unwrap_or(50),
                timezone: f.text("timezone"),
                weekly: f.checked("weekly"),
                occurrences: f.text("occurrences"),
            };
            render_dashboard_typed(&services, session, status, Some(Flash::error(text)), typed)
                .await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct MeetingQuery {
    done: Option<String>,
}

fn flash_from(done: Option<&str>) -> Option<Flash> {
    let text = match done? {
        "created" => {
            "Your meeting is ready. Open Zoom as host, and send the join link to your client."
        }
        "started" => {
            "Your meeting is ready and Zoom is opening in a new tab. Send the join link to your client."
        }
        "scheduled" => "The session is scheduled. Send the join link to your client.",
        "rescheduled" => {
            "The session has moved. Zoom has the new time; the join link stays the same."
        }
        _ => return None,
    };
    Some(Flash::ok(text))
}

fn parse_id(raw: &str) -> Result<MeetingId, Error> {
    raw.parse::<MeetingId>()
        .map_err(|_| Error::NotFound { what: "meeting" })
}

#[derive(Debug, Serialize)]
struct Occurrence {
    when: String,
    status: Option<String>,
}

/// The next sessions of a recurring meeting, as Zoom listed them.
fn occurrences(m: &MeetingView) -> Vec<Occurrence> {
    let Some(list) = m.occurrences.as_ref().and_then(|o| o.as_array()) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|o| {
            let start = o.get("start_time")?.as_str()?;
            let at = OffsetDateTime::parse(start, &Rfc3339).ok()?;
            Some(Occurrence {
                when: display_time(at, m.timezone.as_deref()),
                status: o.get("status").and_then(|s| s.as_str()).map(str::to_owned),
            })
        })
        .collect()
}

async fn render_meeting(
    services: &Services,
    session: &MemberSession,
    id: MeetingId,
    status: StatusCode,
    flash: Option<Flash>,
) -> Response {
    let rid = session.ctx.request_id.as_deref();
    let meeting = match services
        .member_meeting(&session.ctx, &session.external_id, id)
        .await
    {
        Ok(m) => m,
        Err(e) => return error_page(&e, rid),
    };
    let (date, time) = meeting
        .start_time
        .map(|t| local_parts(t, meeting.timezone.as_deref()))
        .unwrap_or_default();
    let ended = meeting.status == "ended";
    let summary = row(&meeting);
    let occurrences = occurrences(&meeting);
    app_page(
        session,
        status,
        "meeting.html",
        "app",
        flash,
        minijinja::context! {
            meeting => &meeting,
            // `MeetingView` serializes its kind as `type`, a word templates cannot use well.
            kind => &meeting.kind,
            summary,
            occurrences,
            ended,
            can_reschedule => !ended && meeting.kind != "instant" && meeting.status == "waiting",
            can_cancel => meeting.status == "waiting",
            date,
            time,
            timezone => meeting.timezone.clone().unwrap_or_else(|| "UTC".into()),
            timezones => time_zone_names(),
            earliest_date => super::dashboard::earliest_date(session.ctx.now),
        },
    )
}

pub async fn show(
    State(services): State<Services>,
    Member(session): Member,
    Path(raw): Path<String>,
    Query(q): Query<MeetingQuery>,
) -> Response {
    match parse_id(&raw) {
        Ok(id) => {
            render_meeting(
                &services,
                &session,
                id,
                StatusCode::OK,
                flash_from(q.done.as_deref()),
            )
            .await
        }
        Err(e) => error_page(&e, session.ctx.request_id.as_deref()),
    }
}

pub async fn reschedule(
    State(services): State<Services>,
    Path(raw): Path<String>,
    form: MemberForm,
) -> Response {
    let session = &form.session;
    let id = match parse_id(&raw) {
        Ok(id) => id,
        Err(e) => return error_page(&e, session.ctx.request_id.as_deref()),
    };
    let f = &form.fields;
    match services
        .reschedule_member_meeting(&session.ctx, &session.external_id, id, &slot(f))
        .await
    {
        Ok(_) => see_other(&format!("/app/meetings/{id}?done=rescheduled")),
        Err(e) => {
            let (status, text) = describe(&e, session.ctx.request_id.as_deref());
            render_meeting(&services, session, id, status, Some(Flash::error(text))).await
        }
    }
}

pub async fn cancel(
    State(services): State<Services>,
    Path(raw): Path<String>,
    form: MemberForm,
) -> Response {
    let session = &form.session;
    let id = match parse_id(&raw) {
        Ok(id) => id,
        Err(e) => return error_page(&e, session.ctx.request_id.as_deref()),
    };
    match services
        .cancel_member_meeting(&session.ctx, &session.external_id, id)
        .await
    {
        Ok(()) => see_other("/app?done=cancelled"),
        Err(e) => {
            let (status, text) = describe(&e, session.ctx.request_id.as_deref());
            render_meeting(&services, session, id, status, Some(Flash::error(text))).await
        }
    }
}
