//! Server-rendered HTML: templates compiled into the binary (no CDN, no build step), autoescaped.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use minijinja::Environment;

use super::problem::Problem;

macro_rules! templates {
    ($($name:literal),+ $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/", $name)))),+]
    };
}

const TEMPLATES: &[(&str, &str)] = templates![
    "base.html",
    "message.html",
    "connect.html",
    "problem.html",
    "signin.html",
    "invitation.html",
    "dashboard.html",
    "meeting.html",
    "admin_base.html",
    "admin_members.html",
    "admin_keys.html",
    "admin_zoom.html",
    "admin_webhooks.html",
    "admin_audit.html",
    "admin_settings.html",
];

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_filter("moment", moment);
    for (name, source) in TEMPLATES {
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "template does not compile");
        }
    }
    env
});

/// Audit times to the second, sortable at a glance.
const PRECISE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");

/// `{{ at | moment }}` (or `moment(true)`, to the second): an RFC 3339 instant as a `<time>`
/// element that reads in UTC, which the pages' script shows in the reader's own time zone.
fn moment(value: &str, precise: Option<bool>) -> Result<minijinja::Value, minijinja::Error> {
    let at = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                "moment takes an RFC 3339 time",
            )
        })?
        .to_offset(time::UtcOffset::UTC);
    let precise = precise.unwrap_or(false);
    let text = if precise {
        at.format(PRECISE).unwrap_or_default()
    } else {
        crate::domain::display_time(at, None)
    };
    let iso = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    // Both strings are formatted from a parsed time: digits, letters, `-:., +`; nothing to escape.
    Ok(minijinja::Value::from_safe_string(format!(
        r#"<time datetime="{iso}" data-local{}>{text}</time>"#,
        if precise { " data-precise" } else { "" }
    )))
}

/// Extra templates registered by other modules (the web app's pages).
// A failed render is rare and already the error path; boxing the problem buys nothing here.
#[allow(clippy::result_large_err)]
pub fn render(name: &str, ctx: minijinja::Value) -> Result<String, Problem> {
    ENV.get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| {
            tracing::error!(template = name, error = %e, "rendering failed");
            Problem::new("internal", "a page failed to render")
        })
}

/// A page that says one thing to a person, with a status.
pub fn message_page(status: axum::http::StatusCode, title: &str, message: &str) -> Response {
    message_page_back(status, title, message, None)
}

/// The same for a member of the web app, with the way back to the dashboard.
pub fn member_message_page(status: axum::http::StatusCode, title: &str, message: &str) -> Response {
    message_page_back(status, title, message, Some("/app"))
}

fn message_page_back(
    status: axum::http::StatusCode,
    title: &str,
    message: &str,
    back: Option<&str>,
) -> Response {
    match render("message.html", minijinja::context! { title, message, back }) {
        Ok(html) => {
            let mut response = (status, axum::response::Html(html)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(problem) => problem.into_response(),
    }
}

pub async fn stylesheet() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        include_str!("../../static/app.css"),
    )
        .into_response()
}

pub async fn script() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        include_str!("../../static/app.js"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_compiles_and_escapes() {
        for (name, _) in super::TEMPLATES {
            assert!(
                super::ENV.get_template(name).is_ok(),
                "{name} does not compile"
            );
        }
        let html = super::render(
            "message.html",
            minijinja::context! { title => "t", message => "<script>x</script>" },
        )
        .unwrap();
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>x"));
    }
}
