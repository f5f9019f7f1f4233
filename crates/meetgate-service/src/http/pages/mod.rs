//! meetgate's own web app for clinicians and admins: server-rendered pages (templates in
//! `templates/`), one stylesheet, a little progressive JavaScript. Handlers translate forms to
//! `Services` calls and domain results to pages; the rules live in the domain.
//!
//! Security, in one place: sessions live in the database as the SHA-256 of an HttpOnly,
//! SameSite=Lax cookie (`__Host-` and Secure behind https); every form carries a CSRF token (the
//! session's, or before sign-in a double-submit cookie) compared in constant time; every page is
//! `no-store`; the global CSP allows no inline script.

mod admin;
mod auth;
mod dashboard;
mod meetings;
pub(crate) mod session;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Serialize;

use super::templates::{member_message_page, message_page, render};
use crate::Error;
use crate::domain::{MemberSession, Services};

/// The web app's routes.
pub fn router() -> Router<Services> {
    Router::new()
        .route("/", get(auth::root))
        .route("/signin", get(auth::signin_page).post(auth::signin))
        .route("/signout", back("/").post(auth::signout))
        .route(
            "/invitations/{token}",
            get(auth::invitation_page).post(auth::accept_invitation),
        )
        .route("/app", get(dashboard::dashboard))
        .route("/app/status", get(dashboard::statuses))
        .route("/app/connect", back("/app").post(dashboard::connect))
        .route("/app/disconnect", back("/app").post(dashboard::disconnect))
        .route(
            "/app/meetings/instant",
            back("/app").post(meetings::instant),
        )
        .route(
            "/app/meetings/schedule",
            back("/app").post(meetings::schedule),
        )
        .route("/app/meetings/{id}", get(meetings::show))
        .route(
            "/app/meetings/{id}/reschedule",
            get(back_to_meeting).post(meetings::reschedule),
        )
        .route(
            "/app/meetings/{id}/cancel",
            get(back_to_meeting).post(meetings::cancel),
        )
        .route("/admin", get(admin::index))
        .route("/admin/members", get(admin::members))
        .route(
            "/admin/members/{id}/disable",
            back("/admin/members").post(admin::disable_member),
        )
        .route(
            "/admin/members/{id}/enable",
            back("/admin/members").post(admin::enable_member),
        )
        .route(
            "/admin/members/{id}/role",
            back("/admin/members").post(admin::set_role),
        )
        .route(
            "/admin/members/{id}/password-reset",
            back("/admin/members").post(admin::password_reset),
        )
        .route(
            "/admin/invitations",
            back("/admin/members").post(admin::invite),
        )
        .route(
            "/admin/invitations/{id}/revoke",
            back("/admin/members").post(admin::revoke_invitation),
        )
        .route(
            "/admin/api-keys",
            get(admin::api_keys).post(admin::create_api_key),
        )
        .route(
            "/admin/api-keys/{id}/revoke",
            back("/admin/api-keys").post(admin::revoke_api_key),
        )
        .route("/admin/zoom", get(admin::zoom))
        .route(
            "/admin/webhooks",
            get(admin::webhooks).post(admin::create_webhook),
        )
        .route(
            "/admin/webhooks/{id}/delete",
            back("/admin/webhooks").post(admin::delete_webhook),
        )
        .route(
            "/admin/webhooks/{id}/rotate",
            back("/admin/webhooks").post(admin::rotate_webhook_secret),
        )
        .route("/admin/audit", get(admin::audit))
        .route(
            "/admin/settings",
            get(admin::settings).post(admin::save_settings),
        )
        .layer(axum::middleware::from_fn(refuse_nul_in_address))
}

/// A GET of an address that only takes a form leads to the page the form is on. Such an address
/// is where a form's answer was shown, so a reload (the pages' script turns it into a GET, so as
/// not to send the form again), a bookmark or a copied address lands there.
fn back(page: &'static str) -> axum::routing::MethodRouter<Services> {
    get(move || async move { see_other(page) })
}

/// [`back`] for a meeting's own forms: its page (the dashboard for an id that is not one).
async fn back_to_meeting(axum::extract::Path(id): axum::extract::Path<String>) -> Response {
    match id.parse::<meetgate_store::MeetingId>() {
        Ok(id) => see_other(&format!("/app/meetings/{id}")),
        Err(_) => see_other("/app"),
    }
}

/// A page address whose path or query holds U+0000 (`%00`) is answered 400 with a page that says
/// why, before any handler passes it on (PostgreSQL cannot store or compare it).
async fn refuse_nul_in_address(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let uri = request.uri();
    let has_nul = |s: &str| s.contains("%00");
    if has_nul(uri.path()) || uri.query().is_some_and(has_nul) {
        return no_store(message_page(
            StatusCode::BAD_REQUEST,
            "Address refused",
            "This address contains a NUL character (%00), which meetgate does not accept. Check the link you followed.",
        ));
    }
    next.run(request).await
}

/// A one-line message above a page's content.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Flash {
    /// `ok` or `error`.
    kind: &'static str,
    text: String,
}

impl Flash {
    pub(super) fn ok(text: impl Into<String>) -> Self {
        Self {
            kind: "ok",
            text: text.into(),
        }
    }

    pub(super) fn error(text: impl Into<String>) -> Self {
        Self {
            kind: "error",
            text: text.into(),
        }
    }
}

/// Marks a page uncacheable: pages carry start links, join links and one-time secrets.
pub(super) fn no_store(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Renders a template of the signed-in web app: the layout gets the member, the CSRF token for
/// the sign-out form and which navigation entry is current.
pub(super) fn app_page(
    session: &MemberSession,
    status: StatusCode,
    template: &str,
    nav: &str,
    flash: Option<Flash>,
    extra: minijinja::Value,
) -> Response {
    let ctx = minijinja::context! {
        member => &session.member,
        tenant_name => &session.tenant_name,
        csrf => session.csrf_token(),
        nav,
        flash,
        ..extra
    };
    html(status, template, ctx)
}

pub(super) fn html(status: StatusCode, template: &str, ctx: minijinja::Value) -> Response {
    match render(template, ctx) {
        Ok(body) => no_store((status, Html(body)).into_response()),
        Err(problem) => no_store(member_message_page(
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "Something went wrong",
            "This page could not be shown. Please try again; if it keeps happening, tell your administrator.",
        )),
    }
}

pub(super) fn see_other(location: &str) -> Response {
    no_store(Redirect::to(location).into_response())
}

/// Whether the browser's script asked for JSON (`fetch` with `Accept: application/json`).
pub(super) fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// How form fields are named in sentences.
fn field_label(field: &str) -> &str {
    match field {
        "start_time" | "date" => "The date",
        "time" => "The time",
        "duration" => "The duration",
        "timezone" => "The time zone",
        "client_label" => "The client label",
        "occurrences" => "The number of sessions",
        "email" => "The email address",
        "password" => "The password",
        "name" => "The name",
        "label" => "The label",
        "url" => "The URL",
        "event_types" => "The event types",
        "return_urls" => "A return URL",
        "default_topic" => "The default topic",
        "since" => "The start date",
        "until" => "The end date",
        "recurrence" | "recurrence.weekly_days" | "recurrence.end_times" => "The repetition",
        _ => "A field",
    }
}

/// Zoom's refusal in a clinician's words: the API's `fix` speaks to the developers of a host app
/// (scopes, `host`, app types), which a clinician cannot act on.
fn zoom_refusal(z: &crate::error::ZoomProblem, request_id: Option<&str>) -> String {
    if !z.required_scopes.is_empty() {
        return format!(
            "Your Zoom connection does not allow this: the clinic's Zoom app lacks the permission {}. Ask your administrator to add it in Zoom, then use Reconnect Zoom.",
            z.required_scopes.join(" or ")
        );
    }
    // Zoom's 3000 also refuses meetings of another user or account; only its "started" answer
    // is about a meeting in progress.
    if z.zoom_code == Some(3000)
        && (z.zoom_message.contains("started") || z.zoom_message.contains("in progress"))
    {
        return format!(
            "Zoom refused to change this meeting ({}). A meeting in progress cannot be changed until it ends.",
            z.zoom_message.trim_end_matches('.')
        );
    }
    let reference = request_id
        .map(|id| format!(" If it keeps happening, give your administrator this reference: {id}."))
        .unwrap_or_default();
    format!(
        "Zoom refused: {}.{reference}",
        z.zoom_message.trim_end_matches('.')
    )
}

/// A domain error as a sentence for a person, and the status of the page that shows it.
pub(super) fn describe(error: &Error, request_id: Option<&str>) -> (StatusCode, String) {
    super::problem::log_error(error);
    match error {
        Error::Validation { errors, detail } => {
            let sentences: Vec<String> = errors.iter().map(|e| format!("{} {}.", field_label(&e.field), e.message.trim_end_matches('.'))).collect();
            let text = if sentences.is_empty() { format!("Please check the form: {detail}.") } else { sentences.join(" ") };
            (StatusCode::UNPROCESSABLE_ENTITY, text)
        }
        Error::Unauthenticated => (StatusCode::UNAUTHORIZED, "Please sign in again.".into()),
        Error::Forbidden(m) => (StatusCode::FORBIDDEN, sentence(m)),
        Error::NotFound { what } => (StatusCode::NOT_FOUND, format!("That {what} does not exist (any more).")),
        Error::Conflict(m) => (StatusCode::CONFLICT, sentence(m)),
        Error::IdempotencyMismatch | Error::IdempotencyInProgress => {
            (StatusCode::CONFLICT, "This form was already sent. Reload the page to see the result.".into())
        }
        Error::NotConnected { .. } => (StatusCode::CONFLICT, "Connect your Zoom account first (Connect Zoom, above).".into()),
        Error::NeedsReauth { reason, .. } => (StatusCode::CONFLICT, format!("Your Zoom connection must be renewed ({reason}). Use Reconnect Zoom.")),
        Error::ZoomRejected(z) => (StatusCode::UNPROCESSABLE_ENTITY, zoom_refusal(z, request_id)),
        Error::ZoomRateLimited { limit_type, .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            match limit_type.as_deref() {
                Some("Daily-limit") => "Zoom's daily limit of new and changed meetings for your account is reached; it resets at midnight UTC.".into(),
                _ => "Zoom is receiving too many requests from your clinic right now. Try again in a few seconds.".into(),
            },
        ),
        Error::ZoomUnavailable(_) => (StatusCode::BAD_GATEWAY, "Zoom did not answer properly. Try again in a minute.".into()),
        Error::ZoomOutcomeUnknown { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The meeting may or may not exist: Zoom's answer was lost on the way, or meetgate could not save it. Reload the dashboard before trying again.".into(),
        ),
        Error::AppMisconfigured(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Zoom is not set up correctly for your clinic. Please tell your administrator (Admin, Zoom).".into(),
        ),
        Error::TooManyAttempts => (StatusCode::TOO_MANY_REQUESTS, "Too many attempts. Wait 15 minutes and try again.".into()),
        Error::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "meetgate is restarting. Try again in a few seconds.".into()),
        Error::RefreshPending { retry_after_secs, .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Your Zoom connection is being renewed. Try again in {retry_after_secs} seconds."),
        ),
        Error::Store(
            meetgate_store::StoreError::Precondition { .. }
            | meetgate_store::StoreError::VersionConflict { .. },
        ) => (
            StatusCode::CONFLICT,
            "Something changed while this was being done, and nothing was saved. Reload the page and try again.".into(),
        ),
        Error::Store(meetgate_store::StoreError::LockTimeout { .. }) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Your Zoom connection is held up by another meetgate server, which may have stopped. Try again in half a minute.".into(),
        ),
        Error::Store(meetgate_store::StoreError::Unavailable(_)) => {
            (StatusCode::SERVICE_UNAVAILABLE, "meetgate's database is not answering right now. Try again in a minute.".into())
        }
        Error::Store(_) | Error::Vault(_) | Error::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            match request_id {
                Some(id) => format!("Something went wrong on our side. If it keeps happening, give your administrator this reference: {id}."),
                None => "Something went wrong on our side. Please try again.".into(),
            },
        ),
    }
}

/// A domain message as a sentence: capitalized, with a full stop.
fn sentence(message: &str) -> String {
    let message = message.trim();
    let mut chars = message.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// A page that only says something went wrong, for errors with no form to go back to.
pub(super) fn error_page(error: &Error, request_id: Option<&str>) -> Response {
    let (status, text) = describe(error, request_id);
    no_store(member_message_page(status, "That did not work", &text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_sentences() {
        let (status, text) = describe(
            &Error::validation("duration", "must be 1 to 1440 minutes"),
            None,
        );
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(text, "The duration must be 1 to 1440 minutes.");
        assert_eq!(
            describe(
                &Error::Conflict("you cannot disable your own account".into()),
                None
            )
            .1,
            "You cannot disable your own account."
        );
        assert!(
            describe(&Error::Internal("boom".into()), Some("r-1"))
                .1
                .contains("r-1")
        );
        assert!(
            !describe(&Error::Internal("secret detail".into()), None)
                .1
                .contains("secret")
        );
    }
}
