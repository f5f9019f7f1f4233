//! The browser side of connecting Zoom: the connect page, the hop to Zoom's consent page, and
//! Zoom's redirect back.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::extract::RequestId;
use super::templates::{message_page, render};
use crate::Error;
use crate::domain::{CallbackOutcome, Services};

const BINDING_COOKIE: &str = "mg_connect";
const SECURE_BINDING_COOKIE: &str = "__Host-mg_connect";

fn cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_BINDING_COOKIE
    } else {
        BINDING_COOKIE
    }
}

/// Reads one cookie's value.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn no_store(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn error_page(error: &Error) -> Response {
    let (status, message) = match error {
        Error::NotFound { .. } => (StatusCode::NOT_FOUND, "This connect link is not valid. Ask the application for a new one.".to_owned()),
        Error::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
        Error::AppMisconfigured(_) => (StatusCode::INTERNAL_SERVER_ERROR, "Connecting Zoom is not set up correctly for this application. Please tell its administrator.".to_owned()),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "Something went wrong on our side. Please try again in a minute.".to_owned()),
    };
    super::problem::log_error(error);
    message_page(status, "Connect your Zoom account", &message)
}

/// "Connect your Zoom account": explains what happens next.
pub async fn connect_page(State(services): State<Services>, Path(token): Path<String>) -> Response {
    let now = services.clock.now();
    match services.open_connect_link(&token, now).await {
        Ok((_, app_name)) => match render(
            "connect.html",
            minijinja::context! { app_name, go => format!("/connect/{token}/go") },
        ) {
            Ok(html) => no_store(Html(html).into_response()),
            Err(p) => p.into_response(),
        },
        Err(e) => no_store(error_page(&e)),
    }
}

/// Starts an attempt and sends the browser to Zoom, binding the attempt to this browser.
pub async fn connect_go(
    State(services): State<Services>,
    Path(token): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let now = services.clock.now();
    let signed_in = super::pages::session::signed_in_member(&services, &headers).await;
    match services
        .start_connect_attempt(&token, signed_in.as_ref(), now)
        .await
    {
        Ok(started) => {
            let secure = services.config.secure_cookies();
            let cookie = format!(
                "{}={}; Path=/; Max-Age=600; HttpOnly; SameSite=Lax{}",
                cookie_name(secure),
                started.browser_binding.expose(),
                if secure { "; Secure" } else { "" }
            );
            let mut response = StatusCode::SEE_OTHER.into_response();
            let h = response.headers_mut();
            if let (Ok(location), Ok(cookie)) = (
                HeaderValue::from_str(&started.authorize_url),
                HeaderValue::from_str(&cookie),
            ) {
                h.insert(header::LOCATION, location);
                h.insert(header::SET_COOKIE, cookie);
            }
            no_store(response)
        }
        Err(e) => no_store(error_page(&e)),
    }
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Zoom's redirect back with `code` and `state` (or `error`).
pub async fn callback(
    State(services): State<Services>,
    Query(query): Query<CallbackQuery>,
    headers: HeaderMap,
    rid: RequestId,
) -> Response {
    let now = services.clock.now();
    let secure = services.config.secure_cookies();
    let binding = cookie(&headers, cookie_name(secure));
    let outcome = services
        .complete_connect(
            query.state.as_deref(),
            query.code.as_deref(),
            query.error.as_deref(),
            binding.as_deref(),
            rid.0,
            now,
        )
        .await;
    let clear = format!(
        "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{}",
        cookie_name(secure),
        if secure { "; Secure" } else { "" }
    );
    let mut response = match outcome {
        Ok(CallbackOutcome::Return { url, .. }) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let Ok(location) = HeaderValue::from_str(&url) {
                r.headers_mut().insert(header::LOCATION, location);
            }
            r
        }
        Ok(CallbackOutcome::Refused { status, message }) => message_page(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            "Connect your Zoom account",
            &message,
        ),
        Err(e) => error_page(&e),
    };
    if let Ok(v) = HeaderValue::from_str(&clear) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    no_store(response)
}
