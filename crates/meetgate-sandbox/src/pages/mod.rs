//! Server-rendered HTML pages: consent, meeting rooms, the account's installed apps.

pub mod account;
pub mod room;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;

use crate::state::SandboxState;

pub fn templates() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.add_template("base.html", include_str!("templates/base.html"))?;
    env.add_template("consent.html", include_str!("templates/consent.html"))?;
    env.add_template("error.html", include_str!("templates/error.html"))?;
    env.add_template("room.html", include_str!("templates/room.html"))?;
    env.add_template("join.html", include_str!("templates/join.html"))?;
    env.add_template(
        "account_signin.html",
        include_str!("templates/account_signin.html"),
    )?;
    env.add_template(
        "account_apps.html",
        include_str!("templates/account_apps.html"),
    )?;
    env.add_template("index.html", include_str!("templates/index.html"))?;
    Ok(env)
}

/// Renders a page; pages carry tokens or codes now and then, so none is cached or referred.
pub fn render(
    state: &SandboxState,
    status: StatusCode,
    name: &str,
    ctx: impl Serialize,
) -> Response {
    let html = state
        .templates
        .get_template(name)
        .and_then(|t| t.render(ctx));
    let mut resp = match html {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "sandbox page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "page failed to render").into_response()
        }
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // No `form-action`: browsers apply it to the redirects that follow a form post too, and
    // the consent form's answer is a redirect to the app's own (other-origin) redirect URI.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    resp
}

#[derive(Serialize)]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    code: Option<&'a str>,
    hint: Option<&'a str>,
}

pub fn error_page(
    state: &SandboxState,
    status: StatusCode,
    title: &str,
    message: &str,
    code: Option<&str>,
    hint: Option<&str>,
) -> Response {
    render(
        state,
        status,
        "error.html",
        ErrorPage {
            title,
            message,
            code,
            hint,
        },
    )
}

pub async fn index(axum::extract::State(state): axum::extract::State<SandboxState>) -> Response {
    render(
        &state,
        StatusCode::OK,
        "index.html",
        minijinja::context! {
            base => state.base_url().as_str(),
            now => crate::timefmt::format(state.now()),
        },
    )
}

/// Reads one cookie from the request headers.
pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}
