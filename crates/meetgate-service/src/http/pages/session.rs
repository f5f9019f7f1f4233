//! Who is asking, for the web app's handlers: the session cookie, the CSRF check on every form,
//! and the double-submit token of the forms shown before sign-in.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{error_page, no_store, see_other, wants_json};
use crate::domain::{MemberSession, Services, SessionState};
use crate::http::extract::RequestId;
use crate::http::oauth::cookie;
use crate::http::templates::member_message_page;
use crate::secrets::{constant_time_eq, random_token};

const SESSION_COOKIE: &str = "mg_session";
const SECURE_SESSION_COOKIE: &str = "__Host-mg_session";
const FORM_COOKIE: &str = "mg_form";
const SECURE_FORM_COOKIE: &str = "__Host-mg_form";
/// The name of the hidden field every form carries.
pub(super) const CSRF_FIELD: &str = "csrf";

fn session_cookie_name(services: &Services) -> &'static str {
    if services.config.secure_cookies() {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

fn form_cookie_name(services: &Services) -> &'static str {
    if services.config.secure_cookies() {
        SECURE_FORM_COOKIE
    } else {
        FORM_COOKIE
    }
}

/// `Set-Cookie` for a cookie of this app: HttpOnly, SameSite=Lax, path `/`, and Secure when
/// `public_url` is https (which the `__Host-` name then requires). No `Max-Age` for the session:
/// it ends with the browser, and the server ends it sooner by idle and absolute expiry.
fn set_cookie(
    services: &Services,
    name: &str,
    value: &str,
    max_age: Option<i64>,
) -> Option<HeaderValue> {
    let secure = if services.config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let max_age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}{max_age}"
    ))
    .ok()
}

pub(super) fn session_cookie_value(services: &Services, headers: &HeaderMap) -> Option<String> {
    cookie(headers, session_cookie_name(services))
}

/// Who is signed in to the web app in this browser, if anyone: their tenant and their id as an
/// end user (`member:{id}`). Reading it is not activity.
pub(crate) async fn signed_in_member(
    services: &Services,
    headers: &HeaderMap,
) -> Option<(meetgate_store::TenantId, String)> {
    let value = session_cookie_value(services, headers)?;
    match services
        .member_session(Some(&value), false, None, services.clock.now())
        .await
    {
        Ok(SessionState::Active(session)) => Some((session.ctx.tenant(), session.external_id)),
        _ => None,
    }
}

pub(super) fn with_session_cookie(
    services: &Services,
    mut response: Response,
    value: &str,
) -> Response {
    if let Some(v) = set_cookie(services, session_cookie_name(services), value, None) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

pub(super) fn clear_session_cookie(services: &Services, mut response: Response) -> Response {
    if let Some(v) = set_cookie(services, session_cookie_name(services), "", Some(0)) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The client's address for the sign-in rate limit: the peer, or the last `X-Forwarded-For`
/// entry when `web.trust_proxy_headers` says a proxy in front sets it. The last entry is the
/// one the proxy added; those before it are whatever the client sent, when the proxy appends
/// rather than overwrites, so a client could choose them. A loopback peer without
/// that is a reverse proxy on the same host, whose address is everyone's: `None`, so that a
/// stranger's failures cannot lock the whole clinic out (the per-email limit still holds).
pub(super) fn client_address(
    services: &Services,
    parts_headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Option<String> {
    if services.config.web.trust_proxy_headers
        // The last line too: a proxy may add a line of its own rather than extend the client's.
        && let Some(forwarded) = parts_headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
    {
        let forwarded = forwarded.trim();
        if !forwarded.is_empty() {
            return Some(forwarded.to_owned());
        }
    }
    // `to_canonical`: a dual-stack listener sees a local proxy as `::ffff:127.0.0.1`.
    peer.filter(|p| !p.ip().to_canonical().is_loopback())
        .map(|p| p.ip().to_string())
}

/// The peer address, when the server was started with connect info.
pub(super) struct Peer(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

/// Where to send someone whose session is gone, back to `path` after signing in again.
fn to_signin(path: &str, state: &SessionState) -> Response {
    let reason = match state {
        SessionState::Expired { idle: true } => "&reason=idle",
        SessionState::Expired { idle: false } => "&reason=expired",
        _ => "",
    };
    let next: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
    see_other(&format!("/signin?next={next}{reason}"))
}

async fn session_of(
    parts: &Parts,
    services: &Services,
    touch: bool,
) -> Result<MemberSession, Response> {
    let rid = RequestId(
        parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    );
    let value = session_cookie_value(services, &parts.headers);
    let state = match services
        .member_session(value.as_deref(), touch, rid.0.clone(), services.clock.now())
        .await
    {
        Ok(state) => state,
        Err(e) => return Err(error_page(&e, rid.0.as_deref())),
    };
    match state {
        SessionState::Active(session) => Ok(*session),
        other if wants_json(&parts.headers) => {
            let message = match other {
                SessionState::Expired { idle: true } => {
                    "You were signed out after a while without activity."
                }
                _ => "You are signed out.",
            };
            Err(no_store(
                (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(serde_json::json!({ "error": message, "signin": "/signin" })),
                )
                    .into_response(),
            ))
        }
        other => {
            let path = if parts.method == axum::http::Method::GET {
                parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/app")
            } else {
                "/app"
            };
            Err(to_signin(path, &other))
        }
    }
}

fn forbidden_for_clinicians() -> Response {
    no_store(member_message_page(
        StatusCode::FORBIDDEN,
        "For administrators only",
        "This page is for the administrators of your clinic. Ask one of them if you need something changed here.",
    ))
}

/// A signed-in member; the request counts as activity. Without a session: to the sign-in page.
pub(super) struct Member(pub MemberSession);

impl FromRequestParts<Services> for Member {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        services: &Services,
    ) -> Result<Self, Self::Rejection> {
        session_of(parts, services, true).await.map(Self)
    }
}

/// A signed-in member, without counting the request as activity: for the status polling of an
/// open page, which must not keep an unattended session alive.
pub(super) struct PassiveMember(pub MemberSession);

impl FromRequestParts<Services> for PassiveMember {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        services: &Services,
    ) -> Result<Self, Self::Rejection> {
        session_of(parts, services, false).await.map(Self)
    }
}

/// A signed-in admin. Clinicians get a page that says this is for admins.
pub(super) struct Admin(pub MemberSession);

impl FromRequestParts<Services> for Admin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        services: &Services,
    ) -> Result<Self, Self::Rejection> {
        let session = session_of(parts, services, true).await?;
        if !session.member.is_admin {
            return Err(forbidden_for_clinicians());
        }
        Ok(Self(session))
    }
}

/// A form's fields, in order (a name may repeat, as checkboxes do).
#[derive(Debug, Default)]
pub(super) struct Fields(Vec<(String, String)>);

/// A form field held U+0000.
pub(super) struct NulInForm;

impl NulInForm {
    const TEXT: &str = "A field of this form contained a NUL character (U+0000), which meetgate does not accept. Remove it and send the form again.";

    /// The refusal, as JSON for the pages' own scripts.
    fn refusal(self, json: bool) -> Response {
        if json {
            return no_store(
                (
                    StatusCode::BAD_REQUEST,
                    axum::Json(serde_json::json!({ "error": Self::TEXT })),
                )
                    .into_response(),
            );
        }
        no_store(member_message_page(
            StatusCode::BAD_REQUEST,
            "Form refused",
            Self::TEXT,
        ))
    }
}

impl From<NulInForm> for Response {
    fn from(nul: NulInForm) -> Self {
        nul.refusal(false)
    }
}

impl Fields {
    /// The form's fields; a field holding U+0000 (`%00`) refuses the whole form with a page that
    /// says why: PostgreSQL cannot store it, and no form field of meetgate's needs it.
    fn parse(body: &[u8]) -> Result<Self, NulInForm> {
        let fields: Vec<(String, String)> = url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if fields
            .iter()
            .any(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(NulInForm);
        }
        Ok(Self(fields))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The field, trimmed; empty when absent.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().trim().to_owned()
    }

    /// The field, trimmed, or `None` when absent or blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    pub fn checked(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| !v.is_empty() && v != "off" && v != "false")
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

fn csrf_refused(json: bool) -> Response {
    const TEXT: &str = "This form could not be accepted because it did not carry the security token of your session. \
                        It may come from another site, or from a page opened before you last signed in. Go back, reload the page and try again.";
    if json {
        return no_store(
            (
                StatusCode::FORBIDDEN,
                axum::Json(serde_json::json!({ "error": TEXT })),
            )
                .into_response(),
        );
    }
    no_store(member_message_page(
        StatusCode::FORBIDDEN,
        "Form refused",
        TEXT,
    ))
}

async fn read_body(req: Request, services: &Services) -> Result<(Parts, Bytes), Response> {
    let (parts, body) = req.into_parts();
    let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), services)
        .await
        .map_err(|_| {
            no_store(member_message_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Form too large",
                "This form sent more than meetgate accepts. Shorten it and try again.",
            ))
        })?;
    Ok((parts, bytes))
}

/// A posted form of a signed-in member, whose CSRF token matched the session's. A form without
/// it is refused with 403 and a page that says why.
pub(super) struct MemberForm {
    pub session: MemberSession,
    pub fields: Fields,
    pub json: bool,
}

impl FromRequest<Services> for MemberForm {
    type Rejection = Response;

    async fn from_request(req: Request, services: &Services) -> Result<Self, Self::Rejection> {
        let (parts, bytes) = read_body(req, services).await?;
        let session = session_of(&parts, services, true).await?;
        let json = wants_json(&parts.headers);
        let fields = Fields::parse(&bytes).map_err(|nul| nul.refusal(json))?;
        if !session.csrf_matches(fields.get(CSRF_FIELD)) {
            tracing::warn!(member = %session.member.id, "form without a valid CSRF token refused");
            return Err(csrf_refused(json));
        }
        Ok(Self {
            session,
            fields,
            json,
        })
    }
}

/// A [`MemberForm`] of an admin.
pub(super) struct AdminForm {
    pub session: MemberSession,
    pub fields: Fields,
}

impl FromRequest<Services> for AdminForm {
    type Rejection = Response;

    async fn from_request(req: Request, services: &Services) -> Result<Self, Self::Rejection> {
        let form = MemberForm::from_request(req, services).await?;
        if !form.session.member.is_admin {
            return Err(forbidden_for_clinicians());
        }
        Ok(Self {
            session: form.session,
            fields: form.fields,
        })
    }
}

/// The token of a form shown before sign-in (sign-in, accepting an invitation): there is no
/// session yet, so the token is a random cookie that the form repeats (double submit). Another
/// site can make a browser post, but cannot read or set this cookie.
pub(super) struct FormToken {
    pub value: String,
    fresh: bool,
}

impl FormToken {
    pub(super) fn of(services: &Services, headers: &HeaderMap) -> Self {
        match cookie(headers, form_cookie_name(services)).filter(|v| v.len() >= 32 && v.len() <= 64)
        {
            Some(value) => Self {
                value,
                fresh: false,
            },
            None => Self {
                value: random_token(32),
                fresh: true,
            },
        }
    }

    /// Sets the cookie on the page that shows the form, when the browser has none yet.
    pub(super) fn attach(&self, services: &Services, mut response: Response) -> Response {
        if self.fresh
            && let Some(v) = set_cookie(
                services,
                form_cookie_name(services),
                &self.value,
                Some(12 * 3600),
            )
        {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
        response
    }
}

/// A form posted before sign-in, whose token matched its cookie.
pub(super) struct AnonymousForm {
    pub fields: Fields,
    pub headers: HeaderMap,
}

impl FromRequest<Services> for AnonymousForm {
    type Rejection = Response;

    async fn from_request(req: Request, services: &Services) -> Result<Self, Self::Rejection> {
        let (parts, bytes) = read_body(req, services).await?;
        let fields = Fields::parse(&bytes)?;
        let expected = cookie(&parts.headers, form_cookie_name(services));
        let ok = matches!((expected.as_deref(), fields.get(CSRF_FIELD)), (Some(e), Some(p)) if !e.is_empty() && constant_time_eq(e.as_bytes(), p.as_bytes()));
        if !ok {
            return Err(no_store(member_message_page(
                StatusCode::FORBIDDEN,
                "Form refused",
                "This form could not be accepted because its security token is missing or does not match this browser. Reload the page and try again (meetgate needs cookies to sign you in).",
            )));
        }
        Ok(Self {
            fields,
            headers: parts.headers,
        })
    }
}
