//! The sandbox's own meeting pages: `/s/{id}?zak=..` starts a meeting as its host,
//! `/j/{id}?pwd=..` joins it as a participant.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{error_page, render};
use crate::lifecycle::WorldEventError;
use crate::meetings::{Meeting, Status};
use crate::oauth::params::Params;
use crate::state::{SandboxState, ZakProblem};

fn meeting(state: &SandboxState, raw_id: &str) -> Result<Meeting, Box<Response>> {
    let now = state.now();
    raw_id
        .parse::<i64>()
        .ok()
        .and_then(|id| state.inner().live_meeting(id, now).cloned())
        .ok_or_else(|| {
            Box::new(error_page(
                state,
                StatusCode::NOT_FOUND,
                "Meeting not found",
                "This meeting ID is not valid or the meeting has expired.",
                Some("3001"),
                None,
            ))
        })
}

/// Checks that `zak` is a live ZAK of the meeting's host.
fn host_zak(state: &SandboxState, m: &Meeting, zak: Option<&str>) -> Result<(), Box<Response>> {
    let now = state.now();
    let inner = state.inner();
    let problem = match zak.map(|z| inner.zak_user(z, now)) {
        Some(Ok(user)) if user == m.host_id => return Ok(()),
        Some(Ok(_)) => (
            StatusCode::FORBIDDEN,
            "This start link belongs to another user.",
        ),
        Some(Err(ZakProblem::Expired)) => (
            StatusCode::UNAUTHORIZED,
            "This start link has expired: a ZAK lives 2 hours. Get a fresh start_url from the app (GET the meeting).",
        ),
        Some(Err(ZakProblem::Unknown)) | None => {
            (StatusCode::UNAUTHORIZED, "This start link is not valid.")
        }
    };
    drop(inner);
    Err(Box::new(error_page(
        state,
        problem.0,
        "Cannot start this meeting",
        problem.1,
        Some("124"),
        None,
    )))
}

fn room(
    state: &SandboxState,
    id: i64,
    person: &str,
    host: bool,
    zak: &str,
    notice: Option<&str>,
) -> Response {
    let now = state.now();
    let Some(m) = state.inner().live_meeting(id, now).cloned() else {
        return error_page(
            state,
            StatusCode::NOT_FOUND,
            "Meeting not found",
            "The meeting is gone.",
            Some("3001"),
            None,
        );
    };
    let participants: Vec<String> = m.participants.iter().map(|p| p.user_name.clone()).collect();
    render(
        state,
        StatusCode::OK,
        "room.html",
        minijinja::context! {
            topic => m.topic,
            meeting_id => m.id,
            status => m.status.label(),
            started => m.status == Status::Started,
            host,
            person,
            participants,
            zak,
            end_action => format!("{}/end", m.id),
            notice,
        },
    )
}

pub async fn start(
    State(state): State<SandboxState>,
    Path(raw_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let m = match meeting(&state, &raw_id) {
        Ok(m) => m,
        Err(page) => return *page,
    };
    if let Err(page) = host_zak(&state, &m, params.get("zak")) {
        return *page;
    }
    if let Err(e) = state.start_meeting(m.id) {
        return error_page(
            &state,
            StatusCode::CONFLICT,
            "Cannot start this meeting",
            &e.to_string(),
            None,
            None,
        );
    }
    room(
        &state,
        m.id,
        &m.host_email,
        true,
        params.get("zak").unwrap_or_default(),
        None,
    )
}

pub async fn end(
    State(state): State<SandboxState>,
    Path(raw_id): Path<String>,
    body: Bytes,
) -> Response {
    let form = Params::parse(&body);
    let m = match meeting(&state, &raw_id) {
        Ok(m) => m,
        Err(page) => return *page,
    };
    if let Err(page) = host_zak(&state, &m, form.get("zak")) {
        return *page;
    }
    match state.end_meeting(m.id) {
        Ok(_) => room(
            &state,
            m.id,
            &m.host_email,
            true,
            "",
            Some("The meeting has ended."),
        ),
        Err(e) => error_page(
            &state,
            StatusCode::CONFLICT,
            "Cannot end this meeting",
            &e.to_string(),
            None,
            None,
        ),
    }
}

fn join_form(
    state: &SandboxState,
    m: &Meeting,
    status: StatusCode,
    pwd: &str,
    name: &str,
    error: Option<&str>,
) -> Response {
    let jbh = m
        .settings
        .get("join_before_host")
        .and_then(serde_json::Value::as_bool)
        == Some(true);
    render(
        state,
        status,
        "join.html",
        minijinja::context! {
            topic => m.topic,
            meeting_id => m.id,
            status => m.status.label(),
            started => m.status == Status::Started,
            waiting => m.status != Status::Started && !jbh,
            need_passcode => pwd != m.encrypted_password,
            pwd,
            name,
            error,
            action => m.id.to_string(),
        },
    )
}

pub async fn join_page(
    State(state): State<SandboxState>,
    Path(raw_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    match meeting(&state, &raw_id) {
        Ok(m) => join_form(
            &state,
            &m,
            StatusCode::OK,
            params.get("pwd").unwrap_or_default(),
            "",
            None,
        ),
        Err(page) => *page,
    }
}

pub async fn join(
    State(state): State<SandboxState>,
    Path(raw_id): Path<String>,
    body: Bytes,
) -> Response {
    let form = Params::parse(&body);
    let m = match meeting(&state, &raw_id) {
        Ok(m) => m,
        Err(page) => return *page,
    };
    let pwd = form.get("pwd").unwrap_or_default();
    let name = form.get("name").unwrap_or_default().trim().to_owned();
    let passcode_ok =
        pwd == m.encrypted_password || form.get("passcode") == Some(m.password.as_str());
    if !passcode_ok {
        return join_form(
            &state,
            &m,
            StatusCode::UNAUTHORIZED,
            pwd,
            &name,
            Some("Incorrect meeting passcode."),
        );
    }
    if name.is_empty() {
        return join_form(
            &state,
            &m,
            StatusCode::BAD_REQUEST,
            pwd,
            &name,
            Some("Enter your name."),
        );
    }
    match state.participant_joined(m.id, &name, form.get("email")) {
        Ok(_) => room(&state, m.id, &name, false, "", None),
        Err(WorldEventError::WaitingForHost(_)) => join_form(
            &state,
            &m,
            StatusCode::CONFLICT,
            pwd,
            &name,
            Some("The host has not started this meeting yet."),
        ),
        Err(e) => error_page(
            &state,
            StatusCode::CONFLICT,
            "Cannot join",
            &e.to_string(),
            None,
            None,
        ),
    }
}
