//! The doctor: why a Zoom call fails (or would fail) for a grant, and what to change. The same
//! words serve the diagnosis endpoint, the CLI, the admin page and the problem answers of the API.

use meetgate_store::models::{AppType, Connection, ConnectionState, ZoomApp};
use meetgate_zoom::scopes::{self, Level, Operation};
use meetgate_zoom::{ApiError, ApiErrorKind, UserTarget};
use serde::Serialize;
use time::OffsetDateTime;

use super::{Ctx, Services};
use crate::error::{FieldProblem, ZoomProblem};
use crate::{Error, Result};

/// One operation's verdict.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OperationVerdict {
    pub operation: String,
    pub zoom_endpoint: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Any one of these scopes allows the operation.
    pub accepted_scopes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Diagnosis {
    pub user: String,
    pub connection_state: String,
    pub app_type: String,
    /// `classic` or `granular`.
    pub scope_style: String,
    pub granted_scopes: Vec<String>,
    /// The Zoom user meetings are created for (the `host` asked about, or the connected user).
    pub target: String,
    /// Overall: can this grant create meetings for the target?
    pub ok: bool,
    pub summary: String,
    pub operations: Vec<OperationVerdict>,
}

/// The grant a token exchange just produced, before it is stored: what the errors of the calls
/// that identify its Zoom user are translated against.
pub(crate) fn unsaved_connection(
    ctx: &Ctx,
    app: &ZoomApp,
    scopes: &str,
    api_url: &str,
) -> Connection {
    Connection {
        id: meetgate_store::ConnectionId::new(),
        tenant_id: ctx.tenant(),
        end_user_id: meetgate_store::EndUserId::new(),
        zoom_app_id: app.id,
        state: ConnectionState::Connected,
        state_reason: None,
        zoom_user_id: None,
        zoom_account_id: app.account_id.clone(),
        zoom_email: None,
        scopes: scopes.to_owned(),
        api_url: api_url.to_owned(),
        access_token: None,
        access_expires_at: None,
        refresh_token: None,
        version: 0,
        refresh_started_at: None,
        refresh_failures: 0,
        next_refresh_at: None,
        last_refreshed_at: None,
        connected_at: None,
        created_at: ctx.now,
        updated_at: ctx.now,
    }
}

fn level_of(app: &ZoomApp) -> Level {
    if app.app_type == AppType::UserManaged {
        Level::Own
    } else {
        Level::Account
    }
}

fn vocabulary(granted: &[&str]) -> &'static str {
    if scopes::is_granular(granted) {
        "granular"
    } else {
        "classic"
    }
}

/// The fix for a missing scope, in the app type's terms.
fn scope_fix(app: &ZoomApp, op: Operation, granted: &[&str], wants_other_user: bool) -> String {
    if app.app_type == AppType::UserManaged && wants_other_user {
        return "This is a user-managed Zoom app: it acts only for the Zoom user who connected it, through /users/me. \
                To act for other users of the account, register an admin-managed app (scope meeting:write:admin, or \
                meeting:write:meeting:admin with granular scopes) and have an account admin connect it; or leave out `host`."
            .into();
    }
    let rule = scopes::rule(op, level_of(app));
    let wanted = if vocabulary(granted) == "granular" {
        rule.granular
    } else {
        rule.classic
    };
    format!(
        "Add the scope {wanted} to the Zoom app in Zoom's App Marketplace (Scopes), then have the user connect again so the new grant carries it."
    )
}

impl Services {
    /// Translates a failed Zoom call into a domain error whose `fix` says what to change.
    pub(crate) fn zoom_error(
        &self,
        conn: &Connection,
        app: &ZoomApp,
        op: Operation,
        target: &UserTarget,
        error: ApiError,
        now: OffsetDateTime,
    ) -> Error {
        let granted_str = conn.scopes.clone();
        let granted: Vec<&str> = scopes::parse(&granted_str);
        let granted_scopes: Vec<String> = granted.iter().map(|s| s.to_string()).collect();
        let target_name = match target {
            UserTarget::Me => "the connected user".to_owned(),
            UserTarget::User(u) => format!("Zoom user {u}"),
        };
        let problem = |fix: String, required: Vec<String>| {
            Error::ZoomRejected(Box::new(ZoomProblem {
                zoom_code: error.code,
                zoom_message: error.message.clone(),
                required_scopes: required,
                granted_scopes: granted_scopes.clone(),
                fix,
            }))
        };
        match &error.kind {
            ApiErrorKind::MissingScopes { scopes: listed } => {
                let required = if listed.is_empty() {
                    scopes::rule(op, level_of(app)).names().iter().map(|s| s.to_string()).collect()
                } else {
                    listed.clone()
                };
                let wants_other = matches!(target, UserTarget::User(_)) || required.iter().any(|s| s.ends_with(":admin"));
                problem(scope_fix(app, op, &granted, wants_other), required)
            }
            ApiErrorKind::UserNotInAccount => problem(
                format!(
                    "{target_name} does not belong to the connected Zoom account ({}). Name a user of that account as `host`, or connect a Zoom app installed in the other account.",
                    conn.zoom_account_id.as_deref().unwrap_or("unknown")
                ),
                Vec::new(),
            ),
            ApiErrorKind::UserNotFound => problem(
                format!("{target_name} does not exist in Zoom. Check the `host` value (a Zoom user id or email of the connected account)."),
                Vec::new(),
            ),
            ApiErrorKind::MeetingNotFound => Error::NotFound { what: "meeting at Zoom (deleted or expired there)" },
            // 3003 says why (not the host); 3000 only that access was refused, for reasons Zoom
            // names in its message (another user's or account's meeting, a setting, a state).
            ApiErrorKind::MeetingForbidden if error.code == Some(3003) => problem(
                "The connected Zoom user is not this meeting's host. Use the host's own connection, or an admin-managed app connected by an admin of the host's account.".into(),
                Vec::new(),
            ),
            // Zoom answers 3000 to a change of a meeting in progress, too.
            ApiErrorKind::MeetingForbidden if op == Operation::UpdateMeeting => problem(
                format!(
                    "Zoom refused to change the meeting: \"{}\". Zoom does not change a meeting while it is in progress: change it after it ends. Otherwise check the occurrence id, and that the meeting's host is the connected user.",
                    error.message
                ),
                Vec::new(),
            ),
            ApiErrorKind::MeetingForbidden => problem(
                format!(
                    "Zoom refused this request on the meeting: \"{}\". Check what the request names (an occurrence id, another user to schedule for); if the meeting belongs to another user or account, act through a connection of its host.",
                    error.message
                ),
                Vec::new(),
            ),
            ApiErrorKind::Validation { errors } => Error::Validation {
                detail: format!("Zoom rejected the request: {}", error.message),
                errors: errors.iter().map(|e| FieldProblem { field: e.field.clone(), message: e.message.clone() }).collect(),
            },
            ApiErrorKind::RateLimited { retry_after, limit_type, .. } => Error::ZoomRateLimited {
                retry_after_secs: meetgate_zoom::retry_delay_secs(retry_after.as_deref(), limit_type.as_deref(), now),
                zoom_retry_after: retry_after.clone(),
                limit_type: limit_type.clone(),
            },
            ApiErrorKind::TokenInvalid => Error::NeedsReauth {
                state: "needs_reauth",
                reason: "Zoom refused a freshly refreshed access token".into(),
                connect_url: None,
            },
            ApiErrorKind::Transient { .. } => Error::ZoomUnavailable(error.message.clone()),
            ApiErrorKind::Other if error.code == Some(3007) => problem(
                "The meeting has already ended, and Zoom keeps ended meetings: there is nothing to cancel. It stays in the meeting history.".into(),
                Vec::new(),
            ),
            ApiErrorKind::Other => problem(format!("Zoom refused the request ({}). {}", error.message, "See Zoom's error code in zoom_code."), Vec::new()),
        }
    }

    /// The doctor's verdict for one user's connection, optionally for creating meetings as
    /// another `host` of the account. Offline: it reads the grant, not Zoom.
    pub async fn diagnose(
        &self,
        ctx: &Ctx,
        external_id: &str,
        host: Option<&str>,
    ) -> Result<Diagnosis> {
        super::meetings::check_host(host)?;
        let (conn, app) = self.connection_of(ctx, external_id).await?;
        let granted_str = conn.scopes.clone();
        let granted = scopes::parse(&granted_str);
        let level = level_of(&app);
        let other_host = host.filter(|h| {
            let h = h.trim();
            !h.is_empty()
                && h != "me"
                && Some(h) != conn.zoom_user_id.as_deref()
                && Some(h) != conn.zoom_email.as_deref()
        });
        let dead = conn.state != ConnectionState::Connected;
        let mut operations = Vec::new();
        for op in [
            Operation::CreateMeeting,
            Operation::ListMeetings,
            Operation::UpdateMeeting,
            Operation::DeleteMeeting,
            Operation::GetMeeting,
        ] {
            let rule = scopes::rule(op, level);
            let accepted_scopes = rule.names().iter().map(|s| s.to_string()).collect();
            let (problem, fix) = if dead {
                (
                    Some(format!(
                        "the grant is {}: {}",
                        conn.state,
                        conn.state_reason.clone().unwrap_or_default()
                    )),
                    Some("Have the user connect Zoom again (create a connect session).".to_owned()),
                )
            } else if app.app_type == AppType::UserManaged && other_host.is_some() {
                (
                    Some("a user-managed app can only act for the user who connected it (/users/me); naming another user gets Zoom's scope error for the :admin scope".into()),
                    Some(scope_fix(&app, op, &granted, true)),
                )
            } else if !scopes::allows(&granted, op, level) {
                (
                    Some(format!("the grant lacks a scope for {}", op.endpoint())),
                    Some(scope_fix(&app, op, &granted, false)),
                )
            } else {
                (None, None)
            };
            operations.push(OperationVerdict {
                operation: op.as_str().to_owned(),
                zoom_endpoint: op.endpoint().to_owned(),
                ok: problem.is_none(),
                problem,
                fix,
                accepted_scopes,
            });
        }
        // The start link reads the meeting (for a fresh start_url).
        let start_ok = operations
            .iter()
            .find(|o| o.operation == "get_meeting")
            .is_some_and(|o| o.ok);
        if let Some(get) = operations.iter_mut().find(|o| o.operation == "get_meeting") {
            get.operation = "start_link".into();
        }
        let ok = operations.first().is_some_and(|o| o.ok);
        let target = match other_host {
            Some(h) => h.to_owned(),
            None => conn
                .zoom_email
                .clone()
                .or(conn.zoom_user_id.clone())
                .unwrap_or_else(|| "me".into()),
        };
        let mut summary = if ok {
            format!("This grant can create meetings for {target}.")
        } else {
            operations
                .first()
                .and_then(|o| o.problem.clone())
                .map(|p| format!("Creating meetings for {target} fails: {p}."))
                .unwrap_or_default()
        };
        if other_host.is_some() && app.app_type != AppType::UserManaged && !dead {
            summary.push_str(&format!(
                " Zoom also requires {target} to be a user of account {}; otherwise it answers 1010.",
                conn.zoom_account_id.as_deref().unwrap_or("?")
            ));
        }
        if !start_ok && ok {
            summary.push_str(" Start links need a meeting read scope too.");
        }
        Ok(Diagnosis {
            user: external_id.to_owned(),
            connection_state: conn.state.as_str().to_owned(),
            app_type: app.app_type.as_str().to_owned(),
            scope_style: vocabulary(&granted).to_owned(),
            granted_scopes: granted.iter().map(|s| s.to_string()).collect(),
            target,
            ok,
            summary,
            operations,
        })
    }
}
