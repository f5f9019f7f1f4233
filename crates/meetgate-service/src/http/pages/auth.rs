//! Signing in and out, and accepting an invitation.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::session::{
    AnonymousForm, FormToken, MemberForm, Peer, clear_session_cookie, client_address,
    session_cookie_value, with_session_cookie,
};
use super::{describe, html, no_store, see_other};
use crate::Error;
use crate::domain::{MIN_PASSWORD_CHARS, Services};
use crate::http::extract::RequestId;
use crate::http::templates::message_page;

/// Where to go after signing in: only a path of this web app, never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n == "/app"
                || n.starts_with("/app/")
                || n.starts_with("/app?")
                || n == "/admin"
                || n.starts_with("/admin/")
                || n.starts_with("/admin?"))
                && !n.contains("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n.to_owned()
        }
        _ => "/app".to_owned(),
    }
}

pub async fn root() -> Response {
    see_other("/app")
}

#[derive(Debug, Deserialize)]
pub struct SigninQuery {
    next: Option<String>,
    reason: Option<String>,
}

fn notice(services: &Services, reason: Option<&str>) -> Option<String> {
    let web = &services.config.web;
    match reason? {
        "idle" => Some(format!(
            "You were signed out after {} minutes without activity. Sign in again to continue.",
            web.session_idle_minutes
        )),
        "expired" => Some(format!(
            "Your session ended after {} hours. Sign in again to continue.",
            web.session_max_hours
        )),
        "signed_out" => Some("You are signed out.".into()),
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn signin_form(
    services: &Services,
    token: &FormToken,
    status: StatusCode,
    email: &str,
    next: &str,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let page = html(
        status,
        "signin.html",
        minijinja::context! { csrf => &token.value, email, next, notice, error },
    );
    token.attach(services, page)
}

pub async fn signin_page(
    State(services): State<Services>,
    Query(q): Query<SigninQuery>,
    headers: HeaderMap,
) -> Response {
    let token = FormToken::of(&services, &headers);
    let next = safe_next(q.next.as_deref());
    signin_form(
        &services,
        &token,
        StatusCode::OK,
        "",
        &next,
        notice(&services, q.reason.as_deref()),
        None,
    )
}

pub async fn signin(
    State(services): State<Services>,
    Peer(peer): Peer,
    rid: RequestId,
    form: AnonymousForm,
) -> Response {
    let email = form.fields.text("email");
    let next = safe_next(form.fields.get("next"));
    let client = client_address(&services, &form.headers, peer);
    let now = services.clock.now();
    let password = form.fields.get("password").unwrap_or_default();
    match services
        .sign_in(&email, password, client.as_deref(), rid.0.clone(), now)
        .await
    {
        Ok(signed_in) => {
            end_previous_session(&services, &form.headers).await;
            with_session_cookie(&services, see_other(&next), signed_in.cookie.expose())
        }
        Err(e) => {
            let token = FormToken::of(&services, &form.headers);
            let (status, text) = match e {
                Error::Unauthenticated => (StatusCode::UNAUTHORIZED, "That email and password do not match an account. Check both and try again.".to_owned()),
                Error::TooManyAttempts => (StatusCode::TOO_MANY_REQUESTS, "Too many failed sign-ins from this browser or for this email. Wait 15 minutes and try again.".to_owned()),
                other => describe(&other, rid.0.as_deref()),
            };
            signin_form(&services, &token, status, &email, &next, None, Some(text))
        }
    }
}

pub async fn signout(
    State(services): State<Services>,
    headers: HeaderMap,
    form: MemberForm,
) -> Response {
    if let Some(value) = session_cookie_value(&services, &headers)
        && let Err(e) = services.sign_out(&value, Some(&form.session)).await
    {
        tracing::warn!(error = %e, "deleting a session failed");
    }
    clear_session_cookie(&services, see_other("/signin?reason=signed_out"))
}

fn invitation_error(error: &Error, request_id: Option<&str>) -> Response {
    let (status, text) = match error {
        Error::NotFound { .. } => (StatusCode::NOT_FOUND, "This invitation link is not valid. Check that you opened the whole link, or ask your administrator for a new one.".to_owned()),
        other => describe(other, request_id),
    };
    no_store(message_page(status, "Invitation", &text))
}

fn token_ok(token: &str) -> bool {
    !token.is_empty() && token.len() <= 128
}

pub async fn invitation_page(
    State(services): State<Services>,
    Path(token): Path<String>,
    headers: HeaderMap,
    rid: RequestId,
) -> Response {
    if !token_ok(&token) {
        return invitation_error(&Error::NotFound { what: "invitation" }, None);
    }
    match services.open_invitation(&token, services.clock.now()).await {
        Ok(invitation) => {
            let form_token = FormToken::of(&services, &headers);
            let page = html(
                StatusCode::OK,
                "invitation.html",
                minijinja::context! { invitation, csrf => &form_token.value, action => format!("/invitations/{token}"), min_password => MIN_PASSWORD_CHARS, name => "" },
            );
            form_token.attach(&services, page)
        }
        Err(e) => invitation_error(&e, rid.0.as_deref()),
    }
}

pub async fn accept_invitation(
    State(services): State<Services>,
    Path(token): Path<String>,
    rid: RequestId,
    form: AnonymousForm,
) -> Response {
    if !token_ok(&token) {
        return invitation_error(&Error::NotFound { what: "invitation" }, None);
    }
    let now = services.clock.now();
    let name = form.fields.text("name");
    let password = form.fields.get("password").unwrap_or_default();
    if password != form.fields.get("password_again").unwrap_or_default() {
        return invitation_form_again(
            &services,
            &token,
            &form,
            &name,
            "The two passwords are not the same. Type the same password twice.".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    match services
        .accept_invitation(&token, &name, password, rid.0.clone(), now)
        .await
    {
        Ok(signed_in) => {
            end_previous_session(&services, &form.headers).await;
            let done = if signed_in.password_reset {
                "/app?done=password"
            } else {
                "/app?done=welcome"
            };
            with_session_cookie(&services, see_other(done), signed_in.cookie.expose())
        }
        Err(e @ Error::Validation { .. }) => {
            let (status, text) = describe(&e, rid.0.as_deref());
            invitation_form_again(&services, &token, &form, &name, text, status).await
        }
        Err(e) => invitation_error(&e, rid.0.as_deref()),
    }
}

async fn invitation_form_again(
    services: &Services,
    token: &str,
    form: &AnonymousForm,
    name: &str,
    error: String,
    status: StatusCode,
) -> Response {
    match services.open_invitation(token, services.clock.now()).await {
        Ok(invitation) => {
            let form_token = FormToken::of(services, &form.headers);
            html(
                status,
                "invitation.html",
                minijinja::context! { invitation, csrf => &form_token.value, action => format!("/invitations/{token}"), min_password => MIN_PASSWORD_CHARS, name, error },
            )
        }
        Err(e) => invitation_error(&e, None),
    }
}

/// A fresh cookie at every sign-in: any session this browser held before ends on the server too.
async fn end_previous_session(services: &Services, headers: &axum::http::HeaderMap) {
    if let Some(old) = session_cookie_value(services, headers) {
        let _ = services.sign_out(&old, None).await;
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_inside_the_web_app() {
        assert_eq!(safe_next(Some("/app/meetings/x")), "/app/meetings/x");
        assert_eq!(
            safe_next(Some("/admin/audit?action=meeting.")),
            "/admin/audit?action=meeting."
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/app",
            "/app//evil",
            "/\\evil",
            "/application",
            "/v1/users",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/app", "{bad}");
        }
        assert_eq!(safe_next(None), "/app");
    }
}
