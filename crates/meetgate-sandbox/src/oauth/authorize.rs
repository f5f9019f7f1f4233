//! `GET /oauth/authorize` shows the consent page; `POST /oauth/authorize` is its form.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use url::Url;

use super::params::Params;
use super::store::{PENDING_TTL, Pending, Pkce, PkceMethod};
use crate::pages::{error_page, render};
use crate::state::{Inner, SandboxState};
use crate::world::{App, AppType};

enum Failure {
    /// Shown to the user; the redirect URI cannot be trusted, so nothing is redirected.
    Page { message: String, code: &'static str },
    /// Sent back to the verified redirect URI, as RFC 6749 section 4.1.2.1 asks.
    Redirect(Url),
}

fn error_redirect(
    redirect_uri: &str,
    error: &str,
    description: &str,
    state: Option<&str>,
) -> Failure {
    match Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("error", error);
                q.append_pair("error_description", description);
                if let Some(s) = state {
                    q.append_pair("state", s);
                }
            }
            Failure::Redirect(url)
        }
        Err(_) => Failure::Page {
            message: format!("Invalid redirect: {redirect_uri}"),
            code: "4709",
        },
    }
}

/// 43 to 128 characters of `[A-Za-z0-9-._~]`: a PKCE challenge, and a verifier (RFC 7636 §4.1).
pub(crate) fn valid_challenge(c: &str) -> bool {
    (43..=128).contains(&c.len())
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

fn check(inner: &Inner, params: &Params, now: time::OffsetDateTime) -> Result<Pending, Failure> {
    let client_id = params.get("client_id").unwrap_or_default();
    let Some(app) = inner.apps.get(client_id) else {
        return Err(Failure::Page {
            message: format!("Invalid client_id: {client_id}"),
            code: "4702",
        });
    };
    if app.app_type == AppType::ServerToServer {
        return Err(Failure::Page {
            message: format!(
                "{} is a server-to-server app; it gets tokens with the account_credentials grant, not by user authorization",
                app.name
            ),
            code: "4705",
        });
    }
    let redirect_uri = params.get("redirect_uri").unwrap_or_default();
    if !app.allows_redirect(redirect_uri) {
        return Err(Failure::Page {
            message: format!("Invalid redirect: {redirect_uri}"),
            code: "4709",
        });
    }
    let state = params.get("state");
    if let Some(dup) = &params.duplicated {
        return Err(error_redirect(
            redirect_uri,
            "invalid_request",
            &format!("Parameter {dup} is repeated"),
            state,
        ));
    }
    if params.get("response_type") != Some("code") {
        return Err(error_redirect(
            redirect_uri,
            "unsupported_response_type",
            "Only response_type=code is supported",
            state,
        ));
    }
    let pkce = match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(error_redirect(
                redirect_uri,
                "invalid_request",
                "code_challenge_method without code_challenge",
                state,
            ));
        }
        (Some(c), method) => {
            let method = match method.unwrap_or("plain") {
                "S256" => PkceMethod::S256,
                "plain" => PkceMethod::Plain,
                _ => {
                    return Err(error_redirect(
                        redirect_uri,
                        "invalid_request",
                        "transform algorithm not supported",
                        state,
                    ));
                }
            };
            if !valid_challenge(c) {
                return Err(error_redirect(
                    redirect_uri,
                    "invalid_request",
                    "code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~]",
                    state,
                ));
            }
            Some(Pkce {
                challenge: c.to_owned(),
                method,
            })
        }
    };
    Ok(Pending {
        client_id: app.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        state: state.map(str::to_owned),
        pkce,
        expires_at: now + PENDING_TTL,
    })
}

fn redirect(url: &Url) -> Response {
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(url.as_str()) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

fn failure(state: &SandboxState, f: Failure) -> Response {
    match f {
        Failure::Redirect(url) => redirect(&url),
        Failure::Page { message, code } => error_page(
            state,
            StatusCode::BAD_REQUEST,
            "Authorization failed",
            &message,
            Some(code),
            Some("Check the app's client id and its redirect URI allow list."),
        ),
    }
}

#[derive(Serialize)]
struct ScopeView {
    name: String,
    description: &'static str,
}

fn describe(scope: &str) -> &'static str {
    let base = scope.trim_end_matches(":admin");
    let admin = scope.ends_with(":admin");
    match (base, admin) {
        ("meeting:write" | "meeting:write:meeting", false) => "Create and manage your meetings",
        ("meeting:write" | "meeting:write:meeting", true) => {
            "Create and manage meetings of every user in your account"
        }
        ("meeting:read" | "meeting:read:meeting" | "meeting:read:list_meetings", false) => {
            "View your meetings"
        }
        ("meeting:read" | "meeting:read:meeting" | "meeting:read:list_meetings", true) => {
            "View meetings of every user in your account"
        }
        ("meeting:update:meeting", false) => "Update your meetings",
        ("meeting:update:meeting", true) => "Update meetings of every user in your account",
        ("meeting:delete:meeting", false) => "Delete your meetings",
        ("meeting:delete:meeting", true) => "Delete meetings of every user in your account",
        ("user:read" | "user:read:user" | "user_info:read", false) => "View your user information",
        ("user:read" | "user:read:user", true) => "View users of your account",
        ("user:read:token" | "user:read:zak" | "user_zak:read", _) => {
            "Get your Zoom Access Key to start meetings"
        }
        _ => "Access granted by this scope",
    }
}

fn consent(
    state: &SandboxState,
    inner: &Inner,
    app: &App,
    txn: &str,
    status: StatusCode,
    error: Option<&str>,
    email: &str,
) -> Response {
    let owner_name = inner
        .accounts
        .get(&app.owner_account_id)
        .map(|a| a.name.clone())
        .unwrap_or_default();
    let scopes: Vec<ScopeView> = app
        .scopes
        .iter()
        .map(|s| ScopeView {
            name: s.clone(),
            description: describe(s),
        })
        .collect();
    // Relative, so the form posts back to whatever origin (and path prefix) served the page.
    let action = "authorize";
    render(
        state,
        status,
        "consent.html",
        minijinja::context! {
            app_name => app.name,
            app_type => app.app_type.label(),
            admin_app => app.app_type == AppType::AdminManaged,
            owner_name,
            scopes,
            txn,
            error,
            email,
            action,
        },
    )
}

pub async fn show(State(state): State<SandboxState>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let now = state.now();
    let mut inner = state.inner();
    match check(&inner, &params, now) {
        Err(f) => failure(&state, f),
        Ok(pending) => {
            let Some(app) = inner.apps.get(&pending.client_id).cloned() else {
                return failure(
                    &state,
                    Failure::Page {
                        message: "Invalid client_id".into(),
                        code: "4702",
                    },
                );
            };
            let txn = inner.oauth.add_pending(pending, now);
            consent(&state, &inner, &app, &txn, StatusCode::OK, None, "")
        }
    }
}

pub async fn decide(State(state): State<SandboxState>, body: Bytes) -> Response {
    let form = Params::parse(&body);
    let now = state.now();
    let mut inner = state.inner();
    let txn = form.get("txn").unwrap_or_default().to_owned();
    let Some(pending) = inner.oauth.pending(&txn, now).cloned() else {
        return error_page(
            &state,
            StatusCode::BAD_REQUEST,
            "This sign-in page has expired",
            "The authorization request is unknown or older than 10 minutes. Start again from the app.",
            None,
            None,
        );
    };
    let Some(app) = inner.apps.get(&pending.client_id).cloned() else {
        return failure(
            &state,
            Failure::Page {
                message: "Invalid client_id".into(),
                code: "4702",
            },
        );
    };
    match form.get("decision") {
        Some("deny") => {
            inner.oauth.take_pending(&txn, now);
            failure(
                &state,
                error_redirect(
                    &pending.redirect_uri,
                    "access_denied",
                    "The user denied the authorization request",
                    pending.state.as_deref(),
                ),
            )
        }
        Some("allow") => {
            let email = form.get("email").unwrap_or_default().to_owned();
            let password = form.get("password").unwrap_or_default();
            let user = inner
                .user_by_email(&email)
                .filter(|u| u.password.matches(password))
                .cloned();
            let Some(user) = user else {
                return consent(
                    &state,
                    &inner,
                    &app,
                    &txn,
                    StatusCode::UNAUTHORIZED,
                    Some("Incorrect email or password."),
                    &email,
                );
            };
            if app.app_type == AppType::AdminManaged && !user.role.is_admin() {
                return consent(
                    &state,
                    &inner,
                    &app,
                    &txn,
                    StatusCode::FORBIDDEN,
                    Some("Only an account owner or admin can add this app for the account."),
                    &email,
                );
            }
            inner.oauth.take_pending(&txn, now);
            let code = inner.oauth.issue_code(&pending, &user.id, now);
            match Url::parse(&pending.redirect_uri) {
                Ok(mut url) => {
                    {
                        let mut q = url.query_pairs_mut();
                        q.append_pair("code", &code);
                        if let Some(s) = &pending.state {
                            q.append_pair("state", s);
                        }
                    }
                    redirect(&url)
                }
                Err(_) => failure(
                    &state,
                    Failure::Page {
                        message: format!("Invalid redirect: {}", pending.redirect_uri),
                        code: "4709",
                    },
                ),
            }
        }
        _ => consent(
            &state,
            &inner,
            &app,
            &txn,
            StatusCode::BAD_REQUEST,
            Some("Choose Allow or Decline."),
            form.get("email").unwrap_or_default(),
        ),
    }
}
