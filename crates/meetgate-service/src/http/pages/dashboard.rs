//! The clinician's dashboard: the Zoom connection, starting and scheduling meetings, and the
//! upcoming and past meetings with their live status.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use meetgate_store::MeetingId;
use meetgate_store::models::MeetingWindow;
use serde::{Deserialize, Serialize};

use super::meetings::{MeetingRow, row};
use super::session::{Member, MemberForm, PassiveMember};
use super::{Flash, app_page, describe, error_page, no_store, see_other};
use crate::domain::{MemberSession, Services, display_time, time_zone_names};
use crate::secrets::random_token;

const UPCOMING_SHOWN: usize = 50;
const PAST_SHOWN: usize = 10;

#[derive(Debug, Default, Deserialize)]
pub struct DashboardQuery {
    done: Option<String>,
    meetgate_status: Option<String>,
    meetgate_error: Option<String>,
}

/// The OAuth callback's answer (`meetgate_status`, `meetgate_error`) and the pages' own
/// `done=...` codes, as sentences. Only fixed sentences: nothing from the query is echoed.
fn flash_from(q: &DashboardQuery) -> Option<Flash> {
    match (q.meetgate_status.as_deref(), q.meetgate_error.as_deref()) {
        (Some("connected"), Some("insufficient_scopes")) => {
            return Some(Flash::error(
                "Zoom is connected, but the permissions you granted do not allow creating meetings. Reconnect and allow everything the app asks for, or ask your administrator to check the Zoom app (Admin, Zoom).",
            ));
        }
        (Some("connected"), _) => {
            return Some(Flash::ok(
                "Your Zoom account is connected. You can start meetings now.",
            ));
        }
        (Some("error"), error) => {
            let text = match error.unwrap_or_default() {
                "access_denied" => {
                    "You declined at Zoom, so nothing was connected. Use Connect Zoom to try again."
                }
                "app_misconfigured" => {
                    "Zoom refused meetgate's app credentials. Please tell your administrator (Admin, Zoom)."
                }
                "zoom_unavailable" => {
                    "Zoom did not answer properly while connecting. Try again in a minute."
                }
                // Connecting fails on a scope only where meetgate reads the Zoom profile.
                "missing_scopes" => {
                    "The Zoom app may not read your Zoom profile, so nothing was connected. Ask your administrator to add the scope that reads it (user:read, or user:read:user for apps with granular scopes) to the Zoom app in Zoom's App Marketplace; the audit log names the exact one. Then connect again."
                }
                "invalid_grant" => {
                    "Zoom did not accept the sign-in (it may have taken too long). Use Connect Zoom to try again."
                }
                "missing_code" => {
                    "Zoom sent you back without an answer. Use Connect Zoom to try again."
                }
                _ => {
                    "Connecting Zoom did not work. Use Connect Zoom to try again; if it keeps failing, tell your administrator."
                }
            };
            return Some(Flash::error(text));
        }
        _ => {}
    }
    let text = match q.done.as_deref()? {
        "welcome" => "Welcome to meetgate. Connect your Zoom account to start meetings.",
        "password" => {
            "Your new password is set. Any other browser signed in as you was signed out."
        }
        "disconnected" => {
            "Zoom is disconnected. meetgate deleted its access; connect again whenever you need it."
        }
        "cancelled" => "The session is cancelled and deleted in Zoom.",
        _ => return None,
    };
    Some(Flash::ok(text))
}

#[derive(Debug, Serialize)]
struct ConnectionCard {
    state: String,
    reason: Option<String>,
    zoom_email: Option<String>,
    connected_at: Option<String>,
    last_refreshed_at: Option<String>,
    /// Whether the doctor says this grant can create meetings.
    healthy: bool,
    summary: Option<String>,
}

pub async fn dashboard(
    State(services): State<Services>,
    Member(session): Member,
    Query(q): Query<DashboardQuery>,
) -> Response {
    render_dashboard(&services, &session, StatusCode::OK, flash_from(&q)).await
}

/// The dashboard, also shown again (with the error) when one of its forms fails.
pub(super) async fn render_dashboard(
    services: &Services,
    session: &MemberSession,
    status: StatusCode,
    flash: Option<Flash>,
) -> Response {
    render_dashboard_typed(services, session, status, flash, ScheduleTyped::default()).await
}

/// What the clinician typed into the schedule form, shown again when it is refused.
#[derive(Debug, Clone, Serialize)]
pub(super) struct ScheduleTyped {
    pub client_label: String,
    pub date: String,
    pub time: String,
    pub duration: u32,
    pub timezone: String,
    pub weekly: bool,
    pub occurrences: String,
}

impl Default for ScheduleTyped {
    fn default() -> Self {
        Self {
            client_label: String::new(),
            date: String::new(),
            time: String::new(),
            duration: 50,
            timezone: String::new(),
            weekly: false,
            occurrences: "6".into(),
        }
    }
}

pub(super) async fn render_dashboard_typed(
    services: &Services,
    session: &MemberSession,
    status: StatusCode,
    flash: Option<Flash>,
    typed: ScheduleTyped,
) -> Response {
    let ctx = &session.ctx;
    let rid = ctx.request_id.as_deref();
    let connection = match services.member_connection(ctx, &session.external_id).await {
        Ok(c) => c,
        Err(e) => return error_page(&e, rid),
    };
    let card = connection.map(|c| ConnectionCard {
        state: c.connection.state.clone(),
        reason: c.connection.state_reason.clone(),
        zoom_email: c
            .connection
            .zoom_email
            .clone()
            .or(c.connection.zoom_user_id.clone()),
        connected_at: c.connection.connected_at.map(|t| display_time(t, None)),
        last_refreshed_at: c
            .connection
            .last_refreshed_at
            .map(|t| display_time(t, None)),
        healthy: c.connection.state == "connected" && c.diagnosis.as_ref().is_none_or(|d| d.ok),
        summary: c.diagnosis.map(|d| d.summary),
    });
    let settings = match services.tenant_settings(ctx).await {
        Ok(s) => s,
        Err(e) => return error_page(&e, rid),
    };
    let (upcoming, past) = match meeting_rows(services, session).await {
        Ok(rows) => rows,
        Err(e) => return error_page(&e, rid),
    };
    let earliest_date = earliest_date(ctx.now);
    app_page(
        session,
        status,
        "dashboard.html",
        "app",
        flash,
        minijinja::context! {
            connection => card,
            label_in_topic => settings.client_label_in_topic,
            default_topic => settings.default_topic,
            upcoming,
            past,
            timezones => time_zone_names(),
            earliest_date,
            typed,
            // A fresh key per rendered form: a double click or a resent form creates one meeting.
            instant_key => random_token(16),
            schedule_key => random_token(16),
        },
    )
}

async fn meeting_rows(
    services: &Services,
    session: &MemberSession,
) -> crate::Result<(Vec<MeetingRow>, Vec<MeetingRow>)> {
    let ctx = &session.ctx;
    let upcoming = services
        .member_meetings(
            ctx,
            &session.external_id,
            MeetingWindow::Upcoming,
            UPCOMING_SHOWN,
        )
        .await?;
    let past = services
        .member_meetings(ctx, &session.external_id, MeetingWindow::Past, PAST_SHOWN)
        .await?;
    Ok((
        upcoming.iter().map(row).collect(),
        past.iter().map(row).collect(),
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct StatusQuery {
    /// The meetings the page shows, comma-separated.
    ids: Option<String>,
}

/// `{meeting id: status}` of the member's meetings the page shows, for its live status. Polling
/// does not count as activity. Ids that are not meeting ids are skipped.
pub async fn statuses(
    State(services): State<Services>,
    PassiveMember(session): PassiveMember,
    Query(q): Query<StatusQuery>,
) -> Response {
    let ids: Vec<MeetingId> = q
        .ids
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter_map(|id| id.trim().parse().ok())
        .collect();
    match services
        .member_meeting_statuses(&session.ctx, &session.external_id, &ids)
        .await
    {
        Ok(found) => {
            let map: BTreeMap<String, &str> = found
                .into_iter()
                .map(|(id, status)| (id.to_string(), status.as_str()))
                .collect();
            no_store(Json(map).into_response())
        }
        Err(e) => {
            let (status, text) = describe(&e, session.ctx.request_id.as_deref());
            no_store((status, Json(serde_json::json!({ "error": text }))).into_response())
        }
    }
}

/// Connect (or reconnect) Zoom: a connect session that returns here, then meetgate's connect
/// page, whose link leads to Zoom's consent page.
pub async fn connect(State(services): State<Services>, form: MemberForm) -> Response {
    let session = &form.session;
    match services.create_member_connect_session(&session.ctx).await {
        Ok(view) => see_other(&view.connect_url),
        Err(e) => {
            let (status, text) = describe(&e, session.ctx.request_id.as_deref());
            render_dashboard(&services, session, status, Some(Flash::error(text))).await
        }
    }
}

pub async fn disconnect(State(services): State<Services>, form: MemberForm) -> Response {
    let session = &form.session;
    match services
        .disconnect(&session.ctx, &session.external_id)
        .await
    {
        Ok(_) => see_other("/app?done=disconnected"),
        Err(e) => {
            let (status, text) = describe(&e, session.ctx.request_id.as_deref());
            render_dashboard(&services, session, status, Some(Flash::error(text))).await
        }
    }
}

/// The earliest date the date fields offer: yesterday in UTC, since the browser compares it with
/// the clinician's local date, which west of UTC is still yesterday in the evening. The server
/// refuses times in the past anyway.
pub(super) fn earliest_date(now: time::OffsetDateTime) -> String {
    (now - time::Duration::days(1)).date().to_string()
}
