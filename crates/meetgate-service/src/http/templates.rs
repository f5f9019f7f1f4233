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
    for (name, source) in TEMPLATES {
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "template does not compile");
        }
    }
    env
});

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
