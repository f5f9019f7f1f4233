//! The control API under `/_sandbox`: manage the world, faults, clock, counters and events.
//! Documented in docs/sandbox.md.

pub mod dto;

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::ids;
use crate::lifecycle::WorldEventError;
use crate::meetings::Meeting;
use crate::oauth::store::GrantState;
use crate::revalidation::REVALIDATE_EVERY;
use crate::secret::Secret;
use crate::state::{EndpointStatus, SandboxState, lock};
use crate::timefmt;
use crate::world::{self, Account, App, Plan, User};
use dto::*;

#[derive(Debug)]
pub struct ControlFail(StatusCode, String);

impl IntoResponse for ControlFail {
    fn into_response(self) -> Response {
        (self.0, Json(ControlErrorBody { error: self.1 })).into_response()
    }
}

fn bad(msg: impl Into<String>) -> ControlFail {
    ControlFail(StatusCode::BAD_REQUEST, msg.into())
}

fn not_found(msg: impl Into<String>) -> ControlFail {
    ControlFail(StatusCode::NOT_FOUND, msg.into())
}

fn conflict(msg: impl Into<String>) -> ControlFail {
    ControlFail(StatusCode::CONFLICT, msg.into())
}

impl From<WorldEventError> for ControlFail {
    fn from(e: WorldEventError) -> Self {
        let status = match e {
            WorldEventError::MeetingNotFound(_)
            | WorldEventError::UnknownUser(_)
            | WorldEventError::UnknownApp(_)
            | WorldEventError::NotInstalled { .. } => StatusCode::NOT_FOUND,
            WorldEventError::NotStarted(_) | WorldEventError::WaitingForHost(_) => {
                StatusCode::CONFLICT
            }
            WorldEventError::NotAdmin(_) | WorldEventError::ServerToServer(_) => {
                StatusCode::BAD_REQUEST
            }
        };
        ControlFail(status, e.to_string())
    }
}

type Answer<T> = Result<Json<T>, ControlFail>;

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ControlFail> {
    serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON body: {e}")))
}

pub fn router() -> Router<SandboxState> {
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/world", get(world_get))
        .route("/accounts", post(add_account))
        .route("/users", post(add_user))
        .route("/users/{user}/meetings", get(meetings_of))
        .route("/apps", post(add_app))
        .route("/apps/{client_id}/redirect_uris", put(set_redirect_uris))
        .route(
            "/apps/{client_id}/webhook",
            get(get_webhook).put(set_webhook).delete(remove_webhook),
        )
        .route("/deauthorize", post(deauthorize))
        .route("/tokens/expire", post(expire_tokens))
        .route("/grants", get(grants))
        .route("/counters", get(counters).delete(reset_counters))
        .route("/counters/reset", post(reset_counters))
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance_clock))
        .route("/faults", get(faults).post(add_fault).delete(clear_faults))
        .route("/faults/{id}", delete(remove_fault))
        .route("/meetings/{id}/start", post(start_meeting))
        .route("/meetings/{id}/end", post(end_meeting))
        .route("/meetings/{id}/participants", post(participant_joined))
        .route(
            "/webhooks/deliveries",
            get(deliveries).delete(clear_deliveries),
        )
        .route("/settings", get(settings_get).put(settings_put))
}

async fn world_get(State(state): State<SandboxState>) -> Json<world::World> {
    Json(state.inner().to_world())
}

async fn add_account(State(state): State<SandboxState>, body: Bytes) -> Answer<Account> {
    let new: NewAccount = parse(&body)?;
    let account = Account {
        id: new.id.unwrap_or_else(ids::zoom_id),
        name: new.name,
        plan: new.plan,
        account_number: None,
    };
    let mut inner = state.inner();
    if inner.accounts.contains_key(&account.id) {
        return Err(conflict(format!("account {} exists", account.id)));
    }
    inner.add_account(account.clone());
    Ok(Json(account))
}

async fn add_user(State(state): State<SandboxState>, body: Bytes) -> Answer<User> {
    let new: NewUser = parse(&body)?;
    let now = state.now();
    let mut inner = state.inner();
    let plan = inner.accounts.get(&new.account_id).map(|a| a.plan);
    let user = User {
        id: new.id.unwrap_or_else(ids::zoom_id),
        email: new.email,
        password: new.password,
        first_name: new.first_name,
        last_name: new.last_name,
        account_id: new.account_id,
        // Free accounts have basic users only.
        user_type: new
            .user_type
            .unwrap_or(if plan == Some(Plan::Free) { 1 } else { 2 }),
        role: new.role,
        timezone: new.timezone.unwrap_or_else(|| "UTC".to_owned()),
        pmi: None,
    };
    world::validate_user(&user, |id| inner.accounts.contains_key(id))
        .map_err(|e| bad(e.to_string()))?;
    if inner.users.contains_key(&user.id) || inner.user_by_email(&user.email).is_some() {
        return Err(conflict(format!(
            "user {} or {} exists",
            user.id, user.email
        )));
    }
    inner.add_user(user.clone(), now);
    Ok(Json(user))
}

async fn add_app(State(state): State<SandboxState>, body: Bytes) -> Answer<App> {
    let new: NewApp = parse(&body)?;
    let app = App {
        client_id: new.client_id.unwrap_or_else(|| ids::alphanumeric(22)),
        client_secret: new
            .client_secret
            .unwrap_or_else(|| Secret::new(ids::token(24))),
        name: new.name,
        app_type: new.app_type,
        scopes: new.scopes,
        granular: new.granular,
        redirect_uris: new.redirect_uris,
        owner_account_id: new.owner_account_id,
        webhook_secret_token: new
            .webhook_secret_token
            .unwrap_or_else(|| Secret::new(ids::token(16))),
        webhook_url: None,
        webhook_events: new.webhook_events,
    };
    let mut inner = state.inner();
    world::validate_app(&app, |id| inner.accounts.contains_key(id))
        .map_err(|e| bad(e.to_string()))?;
    if inner.apps.contains_key(&app.client_id) {
        return Err(conflict(format!("app {} exists", app.client_id)));
    }
    inner.add_app(app.clone());
    Ok(Json(app))
}

async fn set_redirect_uris(
    State(state): State<SandboxState>,
    Path(client_id): Path<String>,
    body: Bytes,
) -> Answer<App> {
    let req: RedirectUris = parse(&body)?;
    let mut inner = state.inner();
    let mut app = inner
        .apps
        .get(&client_id)
        .cloned()
        .ok_or_else(|| not_found(format!("app {client_id} does not exist")))?;
    app.redirect_uris = req.redirect_uris;
    world::validate_app(&app, |id| inner.accounts.contains_key(id))
        .map_err(|e| bad(e.to_string()))?;
    inner.apps.insert(client_id, app.clone());
    Ok(Json(app))
}

/// Registers the endpoint and validates it with `endpoint.url_validation`, as Zoom does on save.
async fn set_webhook(
    State(state): State<SandboxState>,
    Path(client_id): Path<String>,
    body: Bytes,
) -> Answer<UrlValidation> {
    let req: SetWebhook = parse(&body)?;
    let app = {
        let mut inner = state.inner();
        let app = inner
            .apps
            .get_mut(&client_id)
            .ok_or_else(|| not_found(format!("app {client_id} does not exist")))?;
        app.webhook_url = Some(req.url.clone());
        app.clone()
    };
    Ok(Json(state.validate_endpoint(&app, req.url).await))
}

async fn get_webhook(
    State(state): State<SandboxState>,
    Path(client_id): Path<String>,
) -> Answer<WebhookEndpoint> {
    let inner = state.inner();
    let app = inner
        .apps
        .get(&client_id)
        .ok_or_else(|| not_found(format!("app {client_id} does not exist")))?;
    let (Some(url), Some(check)) = (&app.webhook_url, inner.endpoint_status.get(&client_id)) else {
        return Err(not_found(format!(
            "app {client_id} has no webhook endpoint"
        )));
    };
    Ok(Json(WebhookEndpoint {
        url: url.clone(),
        status: check.status.label().to_owned(),
        checked_at: timefmt::format(check.checked_at),
        failed_revalidations: check.failed_revalidations,
        next_revalidation_at: (check.status == EndpointStatus::Validated)
            .then(|| timefmt::format(check.checked_at + REVALIDATE_EVERY)),
    }))
}

async fn remove_webhook(
    State(state): State<SandboxState>,
    Path(client_id): Path<String>,
) -> Result<StatusCode, ControlFail> {
    let mut inner = state.inner();
    let app = inner
        .apps
        .get_mut(&client_id)
        .ok_or_else(|| not_found(format!("app {client_id} does not exist")))?;
    app.webhook_url = None;
    inner.endpoint_status.remove(&client_id);
    Ok(StatusCode::NO_CONTENT)
}

async fn deauthorize(State(state): State<SandboxState>, body: Bytes) -> Answer<Affected> {
    let req: Deauthorize = parse(&body)?;
    Ok(Json(state.deauthorize(&req.user, &req.client_id)?))
}

async fn expire_tokens(State(state): State<SandboxState>, body: Bytes) -> Answer<Affected> {
    let req: ExpireTokens = parse(&body)?;
    let now = state.now();
    let mut inner = state.inner();
    let user_id = inner.user_by_ref(&req.user).map(|r| r.user.id.clone());
    let grants: Vec<u64> = inner
        .oauth
        .live_grants()
        .filter(|g| g.client_id == req.client_id)
        .filter(|g| match (&user_id, &g.user_id) {
            (Some(u), Some(gu)) => u == gu,
            // Server-to-server grants are named by their account id.
            (_, None) => g.account_id == req.user,
            (None, Some(_)) => false,
        })
        .map(|g| g.id)
        .collect();
    if grants.is_empty() {
        return Err(not_found(format!(
            "no live grant of {} for {}",
            req.client_id, req.user
        )));
    }
    let tokens: usize = grants
        .iter()
        .map(|g| inner.oauth.expire_access_tokens(*g, now))
        .sum();
    Ok(Json(Affected {
        grants: grants.len() as u64,
        tokens: tokens as u64,
        deliveries: Vec::new(),
    }))
}

async fn grants(State(state): State<SandboxState>) -> Json<Vec<GrantInfo>> {
    let inner = state.inner();
    Json(
        inner
            .oauth
            .grants()
            .map(|g| GrantInfo {
                id: g.id,
                client_id: g.client_id.clone(),
                user_id: g.user_id.clone(),
                account_id: g.account_id.clone(),
                app_type: g.app_type,
                scopes: g.scopes.clone(),
                state: match g.state {
                    GrantState::Live => "live",
                    GrantState::Superseded => "superseded",
                    GrantState::Revoked => "revoked",
                    GrantState::Deauthorized => "deauthorized",
                }
                .to_owned(),
                created_at: timefmt::format(g.created_at),
                refreshes: g.refreshes,
            })
            .collect(),
    )
}

async fn counters(State(state): State<SandboxState>) -> Json<Counters> {
    Json(state.counters().clone())
}

async fn reset_counters(State(state): State<SandboxState>) -> StatusCode {
    *state.counters() = Counters::default();
    StatusCode::NO_CONTENT
}

fn clock_state(state: &SandboxState) -> ClockState {
    let now = state.now();
    ClockState {
        now: timefmt::format(now),
        unix: now.unix_timestamp(),
        offset_seconds: state.clock.offset().whole_seconds(),
    }
}

async fn clock(State(state): State<SandboxState>) -> Json<ClockState> {
    Json(clock_state(&state))
}

async fn advance_clock(State(state): State<SandboxState>, body: Bytes) -> Answer<ClockState> {
    let req: AdvanceClock = parse(&body)?;
    state.clock.advance(Duration::from_secs(req.seconds));
    Ok(Json(clock_state(&state)))
}

async fn faults(State(state): State<SandboxState>) -> Json<Vec<FaultInfo>> {
    Json(lock(&state.faults).list())
}

async fn add_fault(State(state): State<SandboxState>, body: Bytes) -> Answer<FaultInfo> {
    let spec: FaultSpec = parse(&body)?;
    let mut faults = lock(&state.faults);
    let id = faults.add(spec).map_err(bad)?;
    faults
        .list()
        .into_iter()
        .find(|f| f.id == id)
        .map(Json)
        .ok_or_else(|| bad("fault vanished"))
}

async fn clear_faults(State(state): State<SandboxState>) -> StatusCode {
    lock(&state.faults).clear();
    StatusCode::NO_CONTENT
}

async fn remove_fault(
    State(state): State<SandboxState>,
    Path(id): Path<u64>,
) -> Result<StatusCode, ControlFail> {
    if lock(&state.faults).remove(id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(format!("fault {id} does not exist")))
    }
}

fn event_answer(state: &SandboxState, id: i64, deliveries: Vec<u64>) -> MeetingEvent {
    let now = state.now();
    let status = state
        .inner()
        .meetings
        .get(&id)
        .filter(|m| !m.gone(now))
        .map(|m| m.status.label().to_owned())
        .unwrap_or_default();
    MeetingEvent {
        meeting_id: id,
        status,
        deliveries,
    }
}

async fn start_meeting(
    State(state): State<SandboxState>,
    Path(id): Path<i64>,
) -> Answer<MeetingEvent> {
    let d = state.start_meeting(id)?;
    Ok(Json(event_answer(&state, id, d)))
}

async fn end_meeting(
    State(state): State<SandboxState>,
    Path(id): Path<i64>,
) -> Answer<MeetingEvent> {
    let d = state.end_meeting(id)?;
    Ok(Json(event_answer(&state, id, d)))
}

async fn participant_joined(
    State(state): State<SandboxState>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Answer<MeetingEvent> {
    let req: JoinParticipant = parse(&body)?;
    let d = state.participant_joined(id, &req.name, req.email.as_deref())?;
    Ok(Json(event_answer(&state, id, d)))
}

fn summarize(m: &Meeting, now: time::OffsetDateTime) -> SandboxMeeting {
    SandboxMeeting {
        id: m.id,
        uuid: m.uuid.clone(),
        host_id: m.host_id.clone(),
        account_id: m.account_id.clone(),
        topic: m.topic.clone(),
        meeting_type: m.meeting_type,
        status: m.status.label().to_owned(),
        start_time: m.start_time.map(timefmt::format),
        duration: m.duration,
        created_at: timefmt::format(m.created_at),
        deleted: m.deleted_at.is_some(),
        expired: m.deleted_at.is_none() && m.gone(now),
        participants: m.participants.iter().map(|p| p.user_name.clone()).collect(),
        occurrences: m.occurrences.iter().filter(|o| !o.deleted).count(),
    }
}

async fn meetings_of(
    State(state): State<SandboxState>,
    Path(user): Path<String>,
) -> Answer<Vec<SandboxMeeting>> {
    let now = state.now();
    let inner = state.inner();
    let id = inner
        .user_by_ref(&user)
        .map(|r| r.user.id.clone())
        .ok_or_else(|| not_found(format!("user {user} does not exist")))?;
    Ok(Json(
        inner
            .meetings
            .values()
            .filter(|m| m.host_id == id)
            .map(|m| summarize(m, now))
            .collect(),
    ))
}

async fn deliveries(State(state): State<SandboxState>) -> Json<Vec<Delivery>> {
    Json(state.webhooks.deliveries())
}

async fn clear_deliveries(State(state): State<SandboxState>) -> StatusCode {
    state.webhooks.clear();
    StatusCode::NO_CONTENT
}

async fn settings_get(State(state): State<SandboxState>) -> Json<Settings> {
    Json(Settings {
        rate_limits: state.rate_limits_enabled(),
    })
}

async fn settings_put(State(state): State<SandboxState>, body: Bytes) -> Answer<Settings> {
    let req: Settings = parse(&body)?;
    state.set_rate_limits(req.rate_limits);
    Ok(Json(req))
}
