//! `/account/apps`: a simulated user signs in and removes installed apps, which deauthorizes
//! them exactly like Zoom's App Marketplace "Remove" button.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::Duration;

use super::{cookie, render};
use crate::oauth::params::Params;
use crate::state::{SandboxState, Session};
use crate::timefmt;
use crate::world::{AppType, User};

const COOKIE: &str = "sbx_session";
const SESSION_TTL: Duration = Duration::hours(8);

#[derive(Serialize)]
struct InstalledApp {
    name: String,
    client_id: String,
    app_type: &'static str,
    added: String,
    removable: bool,
    action: String,
}

fn session_user(state: &SandboxState, headers: &HeaderMap) -> Option<User> {
    let id = cookie(headers, COOKIE)?;
    let now = state.now();
    let inner = state.inner();
    let s = inner.sessions.get(&id).filter(|s| s.expires_at > now)?;
    inner.users.get(&s.user_id).map(|r| r.user.clone())
}

fn see_other(to: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn signin(state: &SandboxState, status: StatusCode, email: &str, error: Option<&str>) -> Response {
    render(
        state,
        status,
        "account_signin.html",
        minijinja::context! {
            action => "signin",
            email,
            error,
        },
    )
}

pub async fn apps(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(user) = session_user(&state, &headers) else {
        return signin(&state, StatusCode::OK, "", None);
    };
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let inner = state.inner();
    let mut list = Vec::new();
    for g in inner.oauth.live_grants() {
        let Some(app) = inner.apps.get(&g.client_id) else {
            continue;
        };
        let mine = match app.app_type {
            AppType::UserManaged => g.user_id.as_deref() == Some(&user.id),
            AppType::AdminManaged => g.account_id == user.account_id,
            AppType::ServerToServer => false,
        };
        if mine {
            list.push(InstalledApp {
                name: app.name.clone(),
                client_id: app.client_id.clone(),
                app_type: app.app_type.label(),
                added: timefmt::format(g.created_at),
                removable: app.app_type == AppType::UserManaged || user.role.is_admin(),
                action: format!("apps/{}/remove", app.client_id),
            });
        }
    }
    let account_name = inner
        .accounts
        .get(&user.account_id)
        .map(|a| a.name.clone())
        .unwrap_or_default();
    drop(inner);
    let notice = params
        .get("removed")
        .map(|c| format!("Removed {c}. The app was notified."));
    render(
        &state,
        StatusCode::OK,
        "account_apps.html",
        minijinja::context! {
            user_name => format!("{} {}", user.first_name, user.last_name),
            email => user.email,
            account_name,
            apps => list,
            notice,
            signout_action => "signout",
        },
    )
}

pub async fn do_signin(State(state): State<SandboxState>, body: Bytes) -> Response {
    let form = Params::parse(&body);
    let email = form.get("email").unwrap_or_default();
    let now = state.now();
    let user = {
        let inner = state.inner();
        inner
            .user_by_email(email)
            .filter(|u| u.password.matches(form.get("password").unwrap_or_default()))
            .cloned()
    };
    let Some(user) = user else {
        return signin(
            &state,
            StatusCode::UNAUTHORIZED,
            email,
            Some("Incorrect email or password."),
        );
    };
    let id = crate::ids::token(24);
    {
        let mut inner = state.inner();
        inner.sessions.retain(|_, s| s.expires_at > now);
        inner.sessions.insert(
            id.clone(),
            Session {
                user_id: user.id,
                expires_at: now + SESSION_TTL,
            },
        );
    }
    let mut resp = see_other(&format!("{}account/apps", state.base_url()));
    let cookie = format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

pub async fn signout(State(state): State<SandboxState>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, COOKIE) {
        state.inner().sessions.remove(&id);
    }
    let mut resp = see_other(&format!("{}account/apps", state.base_url()));
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("sbx_session=; Path=/; Max-Age=0"),
    );
    resp
}

pub async fn remove(
    State(state): State<SandboxState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(user) = session_user(&state, &headers) else {
        return see_other(&format!("{}account/apps", state.base_url()));
    };
    match state.deauthorize(&user.id, &client_id) {
        Ok(_) => {
            let mut to = state
                .base_url()
                .join("account/apps")
                .unwrap_or_else(|_| state.base_url().clone());
            to.query_pairs_mut().append_pair("removed", &client_id);
            see_other(to.as_str())
        }
        Err(e) => super::error_page(
            &state,
            StatusCode::FORBIDDEN,
            "Cannot remove this app",
            &e.to_string(),
            None,
            None,
        ),
    }
}
