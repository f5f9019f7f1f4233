//! The web app's pages over HTTP: sign-in, sessions, CSRF, invitations, and a clinician's and an
//! admin's work, the way a browser drives them (cookies kept by hand, no redirects followed).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use meetgate_service::config::Config;
use meetgate_service::domain::{Ctx, NewMember};
use meetgate_store::models::MemberRole;
use meetgate_zoom::Secret;
use reqwest::header::{ACCEPT, CACHE_CONTROL, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use url::Url;

use crate::both_backends;
use crate::support::*;

both_backends!(
    sign_in_sets_a_hardened_session_cookie_and_sign_out_ends_it,
    a_wrong_password_or_unknown_email_is_refused_alike,
    sign_in_is_rate_limited_per_email_and_per_address,
    forms_without_the_csrf_token_are_refused,
    nul_characters_in_forms_and_addresses_are_refused_with_a_page,
    idle_and_old_sessions_are_signed_out,
    an_invitation_works_once,
    a_forgotten_password_is_reset_with_a_link_from_an_admin,
    links_die_with_their_makers_admin_role,
    an_admin_revokes_an_unused_invitation,
    cookies_are_secure_and_host_only_behind_https,
    a_clinician_connects_zoom_and_runs_meetings_from_the_pages,
    a_superseded_connection_says_why_and_offers_reconnect,
    admin_pages_work_for_admins_only,
);

const CLINICIAN: &str = "clinician@clinic.example";
const ADMIN: &str = "admin@clinic.example";
const OTHER: &str = "other@clinic.example";
const SECRET: &str = "correct horse battery";

/// One browser: its own cookies, no redirects followed.
struct Browser {
    base: String,
    http: reqwest::Client,
    cookies: Shared<Mutex<HashMap<String, String>>>,
}

/// An answer as the browser saw it.
struct Page {
    status: u16,
    location: Option<String>,
    set_cookies: Vec<String>,
    cache_control: Option<String>,
    body: String,
}

impl Page {
    /// The value of the page's first CSRF field.
    fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no csrf field in:\n{}", self.body))
            + marker.len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(String::as_str)
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
}

impl Browser {
    fn new(base: &str) -> Self {
        Self::with_headers(base, reqwest::header::HeaderMap::new())
    }

    /// A browser whose requests reach meetgate through a reverse proxy that names it
    /// `X-Forwarded-For: address`.
    fn behind_proxy(base: &str, address: &str) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", address.parse().unwrap());
        Self::with_headers(base, headers)
    }

    fn with_headers(base: &str, headers: reqwest::header::HeaderMap) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .build()
            .unwrap();
        Self {
            base: base.to_owned(),
            http,
            cookies: Shared::default(),
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Page {
        let response = request
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let set_cookies: Vec<String> = headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        {
            let mut jar = self.cookies.lock().unwrap();
            for c in &set_cookies {
                let pair = c.split(';').next().unwrap();
                let (name, value) = pair.split_once('=').unwrap();
                if c.contains("Max-Age=0") {
                    jar.remove(name);
                } else {
                    jar.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        Page {
            status,
            location: headers
                .get(LOCATION)
                .map(|v| v.to_str().unwrap().to_owned()),
            set_cookies,
            cache_control: headers
                .get(CACHE_CONTROL)
                .map(|v| v.to_str().unwrap().to_owned()),
            body: unescape(&response.text().await.unwrap_or_default()),
        }
    }

    async fn get(&self, path: &str) -> Page {
        self.send(self.http.get(self.url(path))).await
    }

    async fn get_json(&self, path: &str) -> Page {
        self.send(
            self.http
                .get(self.url(path))
                .header(ACCEPT, "application/json"),
        )
        .await
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.send(self.http.post(self.url(path)).form(fields)).await
    }

    async fn post_json(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.send(
            self.http
                .post(self.url(path))
                .header(ACCEPT, "application/json")
                .form(fields),
        )
        .await
    }

    /// The sign-in page, then its form.
    async fn sign_in(&self, email: &str, password: &str) -> Page {
        let form = self.get("/signin").await;
        assert_eq!(form.status, 200);
        self.post(
            "/signin",
            &[
                ("csrf", &form.csrf()),
                ("email", email),
                ("password", password),
                ("next", "/app"),
            ],
        )
        .await
    }

    /// Signs in and checks that it worked; returns the dashboard.
    async fn signed_in(&self, email: &str) -> Page {
        let answer = self.sign_in(email, SECRET).await;
        assert_eq!(answer.status, 303, "{}", answer.body);
        assert_eq!(answer.location.as_deref(), Some("/app"));
        let dashboard = self.get("/app").await;
        assert_eq!(dashboard.status, 200, "{}", dashboard.body);
        dashboard
    }

    /// Connects Zoom from the dashboard as a browser would: meetgate's connect page, Zoom's
    /// consent (headless), the callback with the binding cookie. Returns where meetgate sent
    /// the browser back to.
    async fn connect_zoom(&self, app: &TestApp, zoom_email: &str) -> Url {
        let dashboard = self.get("/app").await;
        let started = self
            .post("/app/connect", &[("csrf", &dashboard.csrf())])
            .await;
        assert_eq!(started.status, 303, "{}", started.body);
        let connect_url = started.location.unwrap();
        assert!(
            connect_url.starts_with(&app.url("/connect/")),
            "{connect_url}"
        );
        let page = self.get(&connect_url).await;
        assert!(page.body.contains("Continue to Zoom"), "{}", page.body);
        // The link is this member's: another browser (signed out, or another member's) cannot
        // attach its Zoom account with it.
        let stranger = Browser::new(&self.base);
        let refused = stranger.get(&format!("{connect_url}/go")).await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(refused.body.contains("another person"), "{}", refused.body);
        let go = self.get(&format!("{connect_url}/go")).await;
        assert_eq!(go.status, 303);
        let authorize = Url::parse(go.location.as_deref().unwrap()).unwrap();
        let callback = app
            .env
            .control()
            .authorize_headless(&authorize, zoom_email, PASSWORD)
            .await
            .unwrap();
        let back = self.get(callback.as_str()).await;
        assert_eq!(back.status, 303, "{}", back.body);
        Url::parse(back.location.as_deref().unwrap()).unwrap()
    }
}

/// The page's text with the HTML escapes of its templates undone, so that URLs can be searched.
fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

async fn seed(app: &TestApp, name: &str, email: &str, role: MemberRole) {
    let services = app.services();
    let ctx = Ctx::operator(app.tenant, services.clock.now());
    services
        .create_member(
            &ctx,
            NewMember {
                email: email.into(),
                name: name.into(),
                role,
                password: Secret::new(SECRET),
            },
        )
        .await
        .expect("seed member");
}

async fn spawn_with_members(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
    let sandbox = meetgate_sandbox::SandboxConfig {
        rate_limits: false,
        ..meetgate_sandbox::SandboxConfig::default()
    };
    let app = TestApp::spawn_with(backend, sandbox, tweak).await?;
    seed(&app, "Dr. Test Clinician", CLINICIAN, MemberRole::Clinician).await;
    seed(&app, "Ada Admin", ADMIN, MemberRole::Admin).await;
    Some(app)
}

fn sha256(value: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(value.as_bytes()).to_vec()
}

async fn sign_in_sets_a_hardened_session_cookie_and_sign_out_ends_it(backend: Backend) {
    let Some(app) = spawn_with_members(backend, |_| {}).await else {
        return;
    };
    let browser = Browser::new(&app.main.base);

    // Strangers are sent to sign in, and come back where they wanted to go.
    let stranger = browser
        .get("/app/meetings/01234567-89ab-7def-8123-456789abcdef")
        .await;
    assert_eq!(stranger.status, 303);
    assert_eq!(
        stranger.location.as_deref(),
        Some("/signin?next=%2Fapp%2Fmeetings%2F01234567-89ab-7def-8123-456789abcdef")
    );

    let form = browser.get("/signin").await;
    assert_eq!(form.cache_control.as_deref(), Some("no-store"));
    let form_cookie = form
        .cookie("mg_form")
        .expect("the sign-in form's token cookie");
    assert!(
        form_cookie.contains("HttpOnly")
            && form_cookie.contains("SameSite=Lax")
            && !form_cookie.contains("Secure"),
        "{form_cookie}"
    );

    let answer = browser
        .post(
            "/signin",
            &[
                ("csrf", &form.csrf()),
                ("email", "  Clinician@Clinic.EXAMPLE "),
                ("password", SECRET),
                ("next", "/app/meetings"),
            ],
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.location.as_deref(), Some("/app/meetings"));
    let session_cookie = answer
        .cookie("mg_session")
        .expect("session cookie")
        .to_owned();
    assert!(
        session_cookie.contains("; Path=/; HttpOnly; SameSite=Lax"),
        "{session_cookie}"
    );
    assert!(
        !session_cookie.contains("Secure") && !session_cookie.contains("Max-Age"),
        "{session_cookie}"
    );

    // Only the cookie's hash is stored.
    let value = browser.cookie("mg_session").unwrap();
    let store = &app.services().store;
    assert!(store.get_session(&sha256(&value)).await.unwrap().is_some());
    assert!(store.get_session(value.as_bytes()).await.unwrap().is_none());

    let dashboard = browser.get("/app").await;
    assert_eq!(dashboard.status, 200);
    assert!(
        dashboard.body.contains("Hello, Dr. Test Clinician"),
        "{}",
        dashboard.body
    );
    assert_eq!(dashboard.cache_control.as_deref(), Some("no-store"));
    assert!(dashboard.body.contains("Connect Zoom"));

    // An outside `next` is ignored.
    let other = Browser::new(&app.main.base);
    let form = other.get("/signin?next=https://evil.example/").await;
    let answer = other
        .post(
            "/signin",
            &[
                ("csrf", &form.csrf()),
                ("email", CLINICIAN),
                ("password", SECRET),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(answer.location.as_deref(), Some("/app"));

    let signed_out = browser
        .post("/signout", &[("csrf", &dashboard.csrf())])
        .await;
    assert_eq!(signed_out.status, 303);
    assert_eq!(
        signed_out.location.as_deref(),
        Some("/signin?reason=signed_out")
    );
    assert!(
        signed_out
            .cookie("mg_session")
            .unwrap()
            .contains("Max-Age=0")
    );
    assert!(
        store.get_session(&sha256(&value)).await.unwrap().is_none(),
        "the session is gone from the database"
    );
    // The old cookie no longer works even if a browser kept it.
    browser
        .cookies
        .lock()
        .unwrap()
        .insert("mg_session".into(), value);
    assert_eq!(browser.get("/app").await.status, 303);
    let audit = app
        .services()
        .audit_events(
            &Ctx::operator(app.tenant, app.services().clock.now()),
            &Default::default(),
        )
        .await
        .unwrap();
    let actions: Vec<&str> = audit.data.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"member.signed_in") && actions.contains(&"member.signed_out"),
        "{actions:?}"
    );
}

async fn a_wrong_password_or_unknown_email_is_refused_alike(backend: Backend) {
    let Some(app) = spawn_with_members(backend, |_| {}).await else {
        return;
    };
    let browser = Browser::new(&app.main.base);
    let wrong = browser.sign_in(CLINICIAN, "not the password").await;
    assert_eq!(wrong.status, 401);
    assert!(
        wrong
            .body
            .contains("That email and password do not match an account"),
        "{}",
        wrong.body
    );
    assert!(
        wrong.body.contains(&format!("value=\"{CLINICIAN}\"")),
        "the email stays filled in"
    );
    assert!(wrong.cookie("mg_session").is_none());
    let unknown = browser.sign_in("nobody@clinic.example", SECRET).await;
    assert_eq!(unknown.status, 401);
    assert!(
        unknown
            .body
            .contains("That email and password do not match an account")
    );
    assert!(browser.cookie("mg_session").is_none());
    assert_eq!(browser.get("/app").await.status, 303);

    // A disabled member cannot sign in either, with the same answer.
    let admin = Browser::new(&app.main.base);
    let members = admin.signed_in(ADMIN).await;
    let page = admin.get("/admin/members").await;
    let id = member_id(&page.body, "Dr. Test Clinician");
    assert_eq!(
        admin
            .post(
                &format!("/admin/members/{id}/disable"),
                &[("csrf", &members.csrf())]
            )
            .await
            .status,
        303
    );
    let disabled = Browser::new(&app.main.base)
        .sign_in(CLINICIAN, SECRET)
        .await;
    assert_eq!(disabled.status, 401);
}

/// The id in the members table's forms for the row of `name`.
fn member_id(body: &str, name: &str) -> String {
    let row = body
        .split("<tr>")
        .find(|r| r.contains(name))
        .unwrap_or_else(|| panic!("no row for {name}"));
    let start = row.find("/admin/members/").unwrap() + "/admin/members/".len();
    row[start..].split('/').next().unwrap().to_owned()
}

async fn sign_in_is_rate_limited_per_email_and_per_address(backend: Backend) {
    let Some(app) = spawn_with_members(backend, |c| {
        c.web.signin_attempts_per_15_min = 3;
        c.web.trust_proxy_headers = true;
    })
    .await
    else {
        return;
    };
    let clock = &app.services().clock;
    let browser = Browser::behind_proxy(&app.main.base, "203.0.113.7");
    for _ in 0..3 {
        assert_eq!(
            browser.sign_in(CLINICIAN, "wrong password!").await.status,
            401
        );
    }
    // Even the right password waits now.
    let limited = browser.sign_in(CLINICIAN, SECRET).await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(
        limited.body.contains("Too many failed sign-ins"),
        "{}",
        limited.body
    );
    assert!(limited.cookie("mg_session").is_none());

    clock.advance(Duration::from_secs(16 * 60));
    assert_eq!(
        browser.sign_in(CLINICIAN, SECRET).await.status,
        303,
        "fifteen minutes later it works"
    );

    // Per address: failures spread over many emails count for the one client, which may fail
    // five times the per-email limit (an address can stand for a whole clinic).
    clock.advance(Duration::from_secs(16 * 60));
    for i in 0..15 {
        let email = format!("guess{i}@clinic.example");
        assert_eq!(
            browser.sign_in(&email, "guess guess guess").await.status,
            401
        );
    }
    assert_eq!(
        browser.sign_in(ADMIN, SECRET).await.status,
        429,
        "the address is limited, whoever it signs in as"
    );
    // A proxy that appends: the entries the client wrote itself do not change its address.
    let spoofing = Browser::behind_proxy(&app.main.base, "198.51.100.99, 203.0.113.7");
    assert_eq!(
        spoofing.sign_in(ADMIN, SECRET).await.status,
        429,
        "the last entry is the proxy's"
    );
    // A proxy that adds a line of its own: the client's line comes first, and does not count.
    let mut two_lines = reqwest::header::HeaderMap::new();
    two_lines.append("x-forwarded-for", "198.51.100.98".parse().unwrap());
    two_lines.append("x-forwarded-for", "203.0.113.7".parse().unwrap());
    let spoofing = Browser::with_headers(&app.main.base, two_lines);
    assert_eq!(spoofing.sign_in(ADMIN, SECRET).await.status, 429);
    let colleague = Browser::behind_proxy(&app.main.base, "198.51.100.20");
    assert_eq!(
        colleague.sign_in(ADMIN, SECRET).await.status,
        303,
        "another address is not"
    );

    // A loopback peer that names no client is a proxy on the same host: everyone's address,
    // so a stranger's failures through it must not lock the clinic out.
    clock.advance(Duration::from_secs(16 * 60));
    let via_proxy = Browser::new(&app.main.base);
    for i in 0..20 {
        let email = format!("stranger{i}@clinic.example");
        assert_eq!(
            via_proxy.sign_in(&email, "guess guess guess").await.status,
            401
        );
    }
    assert_eq!(via_proxy.sign_in(ADMIN, SECRET).await.status, 303);

    // Attempts sent all at once are counted as they arrive, not once their (slow) password
    // checks fail: of twelve, three are checked and the others refused.
    clock.advance(Duration::from_secs(16 * 60));
    let now = clock.now();
    let attempts: Vec<_> = (0..12)
        .map(|_| {
            let services = app.services().clone();
            tokio::spawn(async move {
                services
                    .sign_in(CLINICIAN, "wrong password!", Some("192.0.2.9"), None, now)
                    .await
            })
        })
        .collect();
    let (mut checked, mut refused) = (0, 0);
    for attempt in attempts {
        match attempt.await.unwrap() {
            Err(meetgate_service::Error::Unauthenticated) => checked += 1,
            Err(meetgate_service::Error::TooManyAttempts) => refused += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((checked, refused), (3, 9));
}

async fn forms_without_the_csrf_token_are_refused(backend: Backend) {
    let Some(app) = spawn_with_members(backend, |_| {}).await else {
        return;
    };
    // Before sign-in: the form's token must match its cookie.
    let stranger = Browser::new(&app.main.base);
    let refused = stranger
        .post("/signin", &[("email", CLINICIAN), ("password", SECRET)])
        .await;
    assert_eq!(refused.status, 403);
    assert!(
        refused.body.contains("security token is missing"),
        "{}",
        refused.body
    );
    stranger.get("/signin").await;
    let refused = stranger
        .post(
            "/signin",
            &[
                ("csrf", "a-guess-that-is-not-the-cookie-value-at-all"),
                ("email", CLINICIAN),
                ("password", SECRET),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);

    let browser = Browser::new(&app.main.base);
    let dashboard = browser.signed_in(ADMIN).await;
    for path in [
        "/app/meetings/instant",
        "/app/connect",
        "/signout",
        "/admin/api-keys",
        "/admin/invitations",
    ] {
        let missing = browser
            .post(
                path,
                &[
                    ("client_label", "forged"),
                    ("label", "forged"),
                    ("email", "x@clinic.example"),
                ],
            )
            .await;
        assert_eq!(missing.status, 403, "{path}");
        assert!(
            missing
                .body
                .contains("did not carry the security token of your session"),
            "{path}: {}",
            missing.body
        );
        let wrong = browser
            .post(
                path,
                &[("csrf", "0123456789abcdef0123456789abcdef0123456789a")],
            )
            .await;
        assert_eq!(wrong.status, 403, "{path}");
    }
    // From the page's script, the refusal is JSON.
    let json = browser.post_json("/app/meetings/instant", &[]).await;
    assert_eq!(json.status, 403);
    assert!(
        json.json()["error"]
            .as_str()
            .unwrap()
            .contains("security token")
    );
    // Nothing happened, and the session still works with its own token.
    let keys = app
        .services()
        .list_api_keys(&Ctx::operator(app.tenant, app.services().clock.now()))
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(browser.get("/app").await.status, 200);
    let connect = browser
        .post("/app/connect", &[("csrf", &dashboard.csrf())])
        .await;
    assert_eq!(connect.status, 303);
}

/// PostgreSQL cannot store U+0000; SQLite would. Both refuse it before anything is written, with a
/// page that says why (it used to be a 500 on PostgreSQL).
async fn nul_characters_in_forms_and_addresses_are_refused_with_a_page(backend: Backend) {
    let Some(app) = spawn_with_members(backend, |_| {}).await else {
        return;
    };
    let browser = Browser::new(&app.main.base);
    let dashboard = browser.signed_in(ADMIN).await;
    let csrf = dashboard.csrf();
    let forms: [(&str, Vec<(&str, &str)>); 3] = [
        ("/admin/api-keys", vec![("label", "ops\0key")]),
        (
            "/admin/webhooks",
            vec![
                ("url", "https://clinic.example/hook"),
                ("description", "a\0b"),
            ],
        ),
        ("/app/meetings/instant", vec![("client_label", "\0")]),
    ];
    for (path, fields) in forms {
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend(fields);
        let refused = browser.post(path, &all).await;
        assert_eq!(refused.status, 400, "{path}: {}", refused.body);
        assert!(
            refused.body.contains("NUL character"),
            "{path}: {}",
            refused.body
        );
    }
    // From the page's script, the refusal is JSON.
    let json = browser
        .post_json(
            "/app/meetings/instant",
            &[("csrf", csrf.as_str()), ("client_label", "\0")],
        )
        .await;
    assert_eq!(json.status, 400);
    assert!(
        json.json()["error"]
            .as_str()
            .unwrap()
            .contains("NUL character")
    );
    for path in [
        "/admin/audit?action=%00",
        "/app/meetings/%00",
        "/admin/audit?actor=a%00b",
    ] {
        let refused = browser.get(path).await;
        assert_eq!(refused.status, 400, "{path}: {}", refused.body);
        assert!(
            refused.body.contains("NUL character"),
            "{path}: {}",
            refused.body
        );
    }
    // Nothing was written, and the pages still work.
    let ctx = Ctx::operator(app.tenant, app.services().clock.now());
    assert_eq!(app.services().list_api_keys(&ctx).await.unwrap().len(), 1);
    assert!(
        app.services()
            .list_webhook_endpoints(&ctx)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        browser
            .get("/admin/audit?action=api_key.created")
            .await
            .status,
        200
    );
}

async fn idle_and_old_sessions_are_signed_out(backend: Backend) {
    let Some(app) = spawn_with_members(backend, |c| c.web.session_max_hours = 1).await else {
        return;
    };
    let clock = &app.services().clock;
    let browser = Browser::new(&app.main.base);
    browser.signed_in(CLINICIAN).await;
    // Activity keeps the session: 10 minutes, a page, 10 more minutes.
    clock.advance(Duration::from_secs(10 * 60));
    assert_eq!(browser.get("/app").await.status, 200);
    clock.advance(Duration::from_secs(10 * 60));
    assert_eq!(browser.get("/app").await.status, 200);
    // Status polling of an open page is not activity.
    clock.advance(Duration::from_secs(10 * 60));
    let poll = browser.get_json("/app/status").await;
    assert_eq!(poll.status, 200, "{}", poll.body);
    clock.advance(Duration::from_secs(6 * 60));
    let idle = browser.get_json("/app/status").await;
    assert_eq!(idle.status, 401, "idle for 16 minutes");
    assert!(
        idle.json()["error"]
            .as_str()
            .unwrap()
            .contains("signed out")
    );
    let gone = browser.get("/app").await;
    assert_eq!(gone.status, 303);
    let signin = gone.location.unwrap();
    assert_eq!(
        signin, "/signin?next=%2Fapp",
        "the session was deleted at the first late request"
    );
    let idle_page = browser.get("/signin?next=%2Fapp&reason=idle").await;
    assert!(
        idle_page
            .body
            .contains("signed out after 15 minutes without activity"),
        "{}",
        idle_page.body
    );

    // However active, a session ends after web.session_max_hours.
    browser.signed_in(CLINICIAN).await;
    for _ in 0..5 {
        clock.advance(Duration::from_secs(10 * 60));
        assert_eq!(browser.get("/app").await.status, 200);
    }
    clock.advance(Duration::from_secs(11 * 60));
    let expired = browser.get("/app").await;
    assert_eq!(
        expired.location.as_deref(),
        Some("/signin?next=%2Fapp&reason=expired")
    );
}

async fn an_invitation_works_once(backend: Backend) {
    let Some(app) = spawn_with_members(backend, |_| {}).await else {
        return;
    };
    let admin = Browser::new(&app.main.base);
    admin.signed_in(ADMIN).await;
    let members = admin.get("/admin/members").await;
    let created = admin
        .post(
            "/admin/invitations",
            &[
                ("csrf", &members.csrf()),
                ("email", "New.Doc@Clinic.example"),
                ("role", "clinician"),
            ],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let start = created
        .body
        .find(&app.url("/invitations/"))
        .expect("the link is shown");
    let link = created.body[start..].split('<').next().unwrap().to_owned();
    assert!(created.body.contains("the only time it is shown"));
    // Only the token's hash is stored: the listing no longer shows the link.
    let listed = admin.get("/admin/members").await;
    assert!(
        !listed.body.contains(&link)
            && listed.body.contains("new.doc@clinic.example")
            && listed.body.contains("pending")
    );

    // The invitee's browser was signed in as someone else before.
    let invitee = Browser::new(&app.main.base);
    invitee.signed_in(CLINICIAN).await;
    let earlier_session = invitee.cookie("mg_session").unwrap();
    let page = invitee.get(&link).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Join Test Clinic") && page.body.contains("new.doc@clinic.example"),
        "{}",
        page.body
    );
    let mismatch = invitee
        .post(
            &link,
            &[
                ("csrf", &page.csrf()),
                ("name", "Dr. New"),
                ("password", SECRET),
                ("password_again", "something else"),
            ],
        )
        .await;
    assert_eq!(mismatch.status, 422);
    assert!(mismatch.body.contains("not the same"));
    let short = invitee
        .post(
            &link,
            &[
                ("csrf", &page.csrf()),
                ("name", "Dr. New"),
                ("password", "short"),
                ("password_again", "short"),
            ],
        )
        .await;
    assert_eq!(short.status, 422);
    assert!(
        short
            .body
            .contains("The password must be at least 10 characters."),
        "{}",
        short.body
    );
    let accepted = invitee
        .post(
            &link,
            &[
                ("csrf", &page.csrf()),
                ("name", "Dr. New"),
                ("password", SECRET),
                ("password_again", SECRET),
            ],
        )
        .await;
    assert_eq!(accepted.status, 303, "{}", accepted.body);
    assert_eq!(accepted.location.as_deref(), Some("/app?done=welcome"));
    let stale = Browser::new(&app.main.base);
    stale
        .cookies
        .lock()
        .unwrap()
        .insert("mg_session".into(), earlier_session);
    assert_eq!(
        stale.get("/app").await.status,
        303,
        "the browser's earlier session ended on the server"
    );
    let welcome = invitee.get("/app?done=welcome").await;
    assert!(
        welcome.body.contains("Hello, Dr. New") && welcome.body.contains("Welcome to meetgate"),
        "{}",
        welcome.body
    );

    // Used up: neither the page nor the form works again, in any browser.
    let again = Browser::new(&app.main.base);
    let page = again.get(&link).await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("already used"), "{}", page.body);
    again.get("/signin").await;
    let token = again.cookie("mg_form").unwrap();
    let replay = again
        .post(
            &link,
            &[
                ("csrf", &token),
                ("name", "Mallory"),
                ("password", SECRET),
                ("password_again", SECRET),
            ],
        )
        .await;
    assert_eq!(replay.status, 403);
    assert!(admin.get("/admin/members").await.body.contains(">used<"));
    // The new member signs in with the chosen password.
    assert_eq!(
        Browser::new(&app.main.base)
            .sign_in("new.doc@clinic.example", SECRET)
            .await
            .status,
        303
    );

    // Inviting a member of this clinic again says so (a member of another clinic is not named:
    // that is not this admin's to learn).
    let twice = admin
        .post(
            "/admin/invitations",
            &[
                ("csrf", &members.csrf()),
                ("email", "new.doc@clinic.example"),
                ("role", "clinician"),
            ],
        )
        .await;
    assert_eq!(twice.status, 409, "{}", twice.body);
    assert!(
        twice.body.contains("already a member of your clinic"),
        "{}",
        twice.body
    );

    // A made-up link and an expired one read as such.
    let made_up = again.get("/invitations/not-a-real-token").await;
    assert_eq!(made_up.status, 404);
    assert!(made_up.body.contains("This invitation link is not valid"));
    let later = admin
        .post(
            "/admin/invitations",
            &[
                ("csrf", &members.csrf()),
                ("email", "late@clinic.example"),
                ("role", "admin"),
            ],
        )
        .await;
    let start = later.body.find(&app.url("/invitations/")).unwrap();
    let late_link = later.body[start..].split('<').next().unwrap().to_owned();
    app.services()
        .clock
        .advance(Duration::from_secs(7 * 24 * 3600 + 60));
    let expired = again.get(&late_link).await;
    assert_eq!(expired.status, 403);
    assert!(expired.body.contains("expired"));
}

async fn cookies_are_secure_and_host_only_behind_https(backend: Backend) {
    let Some(app) = spawn_with_members(backend, |c| {
        c.public_url = "https://meetgate.clinic.example".into()
    })
    .await
    else {
        return;
    };
    let browser = Browser::new(&app.main.base);
    let form = browser.get("/signin").await;
    let form_cookie = form.cookie("__Host-mg_form").expect("__Host- form cookie");
    assert!(
        form_cookie.contains("; Path=/; HttpOnly; SameSite=Lax; Secure"),
        "{form_cookie}"
    );
    assert!(form.cookie("mg_form").is_none());
    let answer = browser
        .post(
            "/signin",
            &[
                ("csrf", &form.csrf()),
                ("email", CLINICIAN),
                ("password", SECRET),
            ],
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let session = answer
        .cookie("__Host-mg_session")
        .expect("__Host- session cookie");
    assert!(
        session.contains("; Path=/; HttpOnly; SameSite=Lax; Secure")
            && !session.contains("Domain="),
        "{session}"
    );
    assert_eq!(browser.get("/app").await.status, 200);
    // The plain name means nothing when the secure one is expected.
    let plain = Browser::new(&app.main.base);
    let value = browser.cookie("__Host-mg_session").unwrap();
    plain
        .cookies
        .lock()
        .unwrap()
        .insert("mg_session".into(), value);
    assert_eq!(plain.get("/app").await.status, 303);
}

async fn a_clinician_connects_zoom_and_runs_meetings_from_the_pages(backend: Backend) {
    let Some(app) = spawn_with_members(backend, |_| {}).await else {
        return;
    };
    seed(&app, "Dr. Other", OTHER, MemberRole::Clinician).await;
    let browser = Browser::new(&app.main.base);
    browser.signed_in(CLINICIAN).await;

    // The connect session returns to meetgate's own dashboard, which is not on the tenant's
    // allow list (that holds only {base}/done).
    let back = browser.connect_zoom(&app, GRACE).await;
    assert_eq!(back.as_str(), app.url("/app?meetgate_status=connected"));
    let dashboard = browser.get(back.as_str()).await;
    assert!(
        dashboard.body.contains("Your Zoom account is connected"),
        "{}",
        dashboard.body
    );
    assert!(dashboard.body.contains(&format!(
        "Connected as <strong id=\"zoom-account\">{GRACE}</strong>"
    )));
    assert!(dashboard.body.contains("Healthy."));
    let (_, conn) = app
        .api(
            reqwest::Method::GET,
            &format!(
                "/v1/users/{}/connection",
                member_external_id(&app, CLINICIAN).await
            ),
            None,
        )
        .await;
    assert_eq!(conn["state"], "connected", "{conn}");

    // Instant meeting, as the page's script asks for it.
    let started = browser
        .post_json(
            "/app/meetings/instant",
            &[
                ("csrf", &dashboard.csrf()),
                ("client_label", "Jane Doe"),
                ("key", "k1"),
            ],
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    let answer = started.json();
    let page_path = answer["page"].as_str().unwrap().to_owned();
    let start_link = answer["start_link"].as_str().unwrap().to_owned();
    // The same form sent twice makes one meeting.
    let twice = browser
        .post_json(
            "/app/meetings/instant",
            &[
                ("csrf", &dashboard.csrf()),
                ("client_label", "Jane Doe"),
                ("key", "k1"),
            ],
        )
        .await;
    assert_eq!(twice.json()["page"], answer["page"]);
    let at_zoom = app.env.control().meetings_of(GRACE).await.unwrap();
    assert_eq!(at_zoom.len(), 1);
    assert_eq!(
        at_zoom[0].topic, "Telehealth session",
        "the client label stays here by default"
    );

    let meeting = browser.get(&page_path).await;
    assert_eq!(meeting.status, 200);
    assert!(
        meeting.body.contains("Jane Doe")
            && meeting.body.contains("id=\"join-url\"")
            && meeting.body.contains("Copy join link"),
        "{}",
        meeting.body
    );
    assert!(
        meeting.body.contains(&start_link),
        "the page offers the start link"
    );
    let title = meeting
        .body
        .split("<title>")
        .nth(1)
        .unwrap()
        .split("</title>")
        .next()
        .unwrap();
    assert!(
        !title.contains("Jane Doe"),
        "a client's name stays out of the title (history, tabs, shared screens): {title}"
    );
    let id = page_path
        .trim_start_matches("/app/meetings/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();

    // Zoom opens as host; its webhook reaches meetgate; the status endpoint says started.
    let to_zoom = browser.get(&start_link).await;
    assert_eq!(to_zoom.status, 302);
    let room = app
        .http
        .get(to_zoom.location.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(room.status(), 200);
    // The sandbox's webhook is not registered in this test world; deliver what Zoom would send.
    deliver_status(&app, at_zoom[0].id, "meeting.started").await;
    let polled = format!("/app/status?ids={id},not-an-id");
    let statuses = browser.get_json(&polled).await.json();
    assert_eq!(statuses[&id], "started", "{statuses}");

    // Another clinician of the same clinic cannot see or cancel it.
    let other = Browser::new(&app.main.base);
    let other_dashboard = other.signed_in(OTHER).await;
    assert_eq!(other.get(&format!("/app/meetings/{id}")).await.status, 404);
    assert_eq!(
        other
            .post(
                &format!("/app/meetings/{id}/cancel"),
                &[("csrf", &other_dashboard.csrf())]
            )
            .await
            .status,
        404
    );
    assert!(
        other
            .get_json(&polled)
            .await
            .json()
            .as_object()
            .unwrap()
            .is_empty()
    );

    deliver_status(&app, at_zoom[0].id, "meeting.ended").await;
    assert_eq!(browser.get_json(&polled).await.json()[&id], "ended");

    // Schedule a weekly session, move it, cancel it.
    let dashboard = browser.get("/app").await;
    let bad = browser
        .post(
            "/app/meetings/schedule",
            &[
                ("csrf", &dashboard.csrf()),
                ("date", "2020-01-01"),
                ("time", "10:00"),
                ("duration", "50"),
                ("timezone", "Europe/Berlin"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(
        bad.body.contains("The date is in the past."),
        "{}",
        bad.body
    );
    // What was typed is still there to correct; the date field starts at yesterday in UTC,
    // which west of UTC is still "today" in the evening.
    assert!(
        bad.body.contains(r#"value="2020-01-01""#)
            && bad.body.contains(r#"value="10:00""#)
            && bad.body.contains(r#"value="Europe/Berlin""#),
        "{}",
        bad.body
    );
    let yesterday = (app.services().clock.now() - time::Duration::days(1)).date();
    assert!(dashboard.body.contains(&format!(r#"min="{yesterday}""#)));
    let tomorrow = (app.services().clock.now() + time::Duration::days(1))
        .date()
        .to_string();
    let scheduled = browser
        .post(
            "/app/meetings/schedule",
            &[
                ("csrf", &dashboard.csrf()),
                ("client_label", "Sam"),
                ("date", &tomorrow),
                ("time", "09:00"),
                ("duration", "45"),
                ("timezone", "America/New_York"),
                ("weekly", "1"),
                ("occurrences", "3"),
            ],
        )
        .await;
    assert_eq!(scheduled.status, 303, "{}", scheduled.body);
    let page = browser.get(scheduled.location.as_deref().unwrap()).await;
    assert!(
        page.body.contains("The session is scheduled")
            && page.body.contains("09:00")
            && page.body.contains("(America/New_York)"),
        "{}",
        page.body
    );
    assert_eq!(
        page.body.matches("<li>").count(),
        3,
        "three weekly sessions"
    );
    let sam = scheduled
        .location
        .unwrap()
        .trim_start_matches("/app/meetings/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    // Moved two days on, the weekly series moves to that weekday: Zoom keeps a series on the
    // weekdays its recurrence names, so the move must send them anew.
    let later = app.services().clock.now().date() + time::Duration::days(3);
    let moved = browser
        .post(
            &format!("/app/meetings/{sam}/reschedule"),
            &[
                ("csrf", &page.csrf()),
                ("date", &later.to_string()),
                ("time", "10:15"),
                ("duration", "30"),
                ("timezone", "America/New_York"),
            ],
        )
        .await;
    assert_eq!(moved.status, 303, "{}", moved.body);
    assert!(
        browser
            .get(&format!("/app/meetings/{sam}"))
            .await
            .body
            .contains("10:15")
    );
    // At Zoom, and in the occurrences meetgate read back from it: 10:15 in New York is the
    // same date in UTC.
    let sandbox_meeting = app
        .env
        .control()
        .meetings_of(GRACE)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.occurrences > 0)
        .unwrap();
    assert_eq!(sandbox_meeting.occurrences, 3, "the count is kept");
    assert!(
        sandbox_meeting
            .start_time
            .as_deref()
            .unwrap()
            .starts_with(&later.to_string()),
        "{sandbox_meeting:?}"
    );
    let (_, view) = app
        .api(reqwest::Method::GET, &format!("/v1/meetings/{sam}"), None)
        .await;
    let dates: Vec<time::Date> = view["occurrences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            time::OffsetDateTime::parse(
                o["start_time"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
            .date()
        })
        .collect();
    assert_eq!(
        dates,
        vec![
            later,
            later + time::Duration::days(7),
            later + time::Duration::days(14)
        ],
        "{view}"
    );
    // While it runs, Zoom refuses to move it, and the page says so in a clinician's words.
    let zoom_id = app
        .services()
        .store
        .get_meeting(app.tenant, sam.parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .zoom_meeting_id;
    app.env.control().start_meeting(zoom_id).await.unwrap();
    let refused = browser
        .post(
            &format!("/app/meetings/{sam}/reschedule"),
            &[
                ("csrf", &page.csrf()),
                ("date", &tomorrow),
                ("time", "11:00"),
                ("duration", "30"),
                ("timezone", "America/New_York"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("A meeting in progress cannot be changed until it ends."),
        "{}",
        refused.body
    );
    app.env.control().end_meeting(zoom_id).await.unwrap();
    let cancelled = browser
        .post(
            &format!("/app/meetings/{sam}/cancel"),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(cancelled.location.as_deref(), Some("/app?done=cancelled"));
    assert!(
        app.env
            .control()
            .meetings_of(GRACE)
            .await
            .unwrap()
            .iter()
            .any(|m| m.deleted),
        "deleted at Zoom"
    );
    let dashboard = browser.get("/app?done=cancelled").await;
    assert!(
        dashboard.body.contains("The session is cancelled") && !dashboard.body.contains(">Sam<"),
        "{}",
        dashboard.body
    );

    // Disconnect.
    let gone = browser
        .post("/app/disconnect", &[("csrf", &dashboard.csrf())])
        .await;
    assert_eq!(gone.location.as_deref(), Some("/app?done=disconnected"));
    let dashboard = browser.get("/app?done=disconnected").await;
    assert!(
        dashboard.body.contains("Zoom is disconnected")
            && dashboard.body.contains("Reconnect Zoom"),
        "{}",
        dashboard.body
    );
}

async fn member_external_id(app: &TestApp, email: &str) -> String {
    let member = app
        .services()
        .store
        .find_member_by_email(email)
        .await
        .unwrap()
        .unwrap();
    format!("member:{}", member.id)
}

/// Sends `meeting.started` or `meeting.ended` for a Zoom meeting, signed as the sandbox's
/// user-managed app would.
async fn deliver_status(app: &TestApp, zoom_id: i64, event: &str) {
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let body = json!({
        "event": event,
        "event_ts": app.services().clock.now().unix_timestamp() * 1000 + if event == "meeting.ended" { 1000 } else { 0 },
        "payload": { "account_id": "x", "object": { "id": zoom_id.to_string(), "uuid": "u", "host_id": "h" } }
    })
    .to_string();
    let secret = app
        .env
        .world
        .apps
        .iter()
        .find(|a| a.client_id == USER_APP)
        .unwrap()
        .webhook_secret_token
        .expose()
        .to_owned();
    let signature = meetgate_sandbox::webhook_signature(&secret, ts, body.as_bytes());
    let response = app
        .http
        .post(app.url(&format!("/zoom/webhooks/{}", app.apps[USER_APP])))
        .header("x-zm-request-timestamp", ts.to_string())
        .header("x-zm-signature", signature)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

async fn a_superseded_connection_says_why_and_offers_reconnect(backend: Backend) {
    let Some(app) = spawn_with_members(backend, |_| {}).await else {
        return;
    };
    let browser = Browser::new(&app.main.base);
    browser.signed_in(CLINICIAN).await;
    browser.connect_zoom(&app, ADA).await;
    // The same Zoom user connects the same app for someone else: Zoom keeps one grant.
    app.connect("host-app-user", ADA, USER_APP).await;
    let dashboard = browser.get("/app").await;
    assert!(
        dashboard
            .body
            .contains("Your Zoom connection must be renewed"),
        "{}",
        dashboard.body
    );
    assert!(
        dashboard
            .body
            .contains("Zoom keeps only one connection per account and app")
    );
    assert!(
        dashboard.body.contains("id=\"zoom-reason\""),
        "the stored reason is shown"
    );
    assert!(dashboard.body.contains("Reconnect Zoom"));
    // Starting a meeting says what to do instead of failing obscurely.
    let refused = browser
        .post("/app/meetings/instant", &[("csrf", &dashboard.csrf())])
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("Your Zoom connection must be renewed"),
        "{}",
        refused.body
    );
    // One click (and Zoom's consent) later it works again.
    let back = browser.connect_zoom(&app, ADA).await;
    assert_eq!(
        query(&back, "meetgate_status").as_deref(),
        Some("connected")
    );
    assert!(browser.get("/app").await.body.contains("Healthy."));
}

async fn admin_pages_work_for_admins_only(backend: Backend) {
    let Some(app) = spawn_with_members(backend, |_| {}).await else {
        return;
    };
    let clinician = Browser::new(&app.main.base);
    let dashboard = clinician.signed_in(CLINICIAN).await;
    assert!(
        !dashboard.body.contains("/admin/members"),
        "no admin link for clinicians"
    );
    for path in [
        "/admin/members",
        "/admin/api-keys",
        "/admin/zoom",
        "/admin/webhooks",
        "/admin/audit",
        "/admin/settings",
    ] {
        let page = clinician.get(path).await;
        assert_eq!(page.status, 403, "{path}");
        assert!(
            page.body.contains("for the administrators of your clinic"),
            "{path}"
        );
    }
    assert_eq!(
        clinician
            .post(
                "/admin/api-keys",
                &[("csrf", &dashboard.csrf()), ("label", "sneaky")]
            )
            .await
            .status,
        403
    );

    let admin = Browser::new(&app.main.base);
    admin.signed_in(ADMIN).await;
    admin.connect_zoom(&app, ADA).await;
    let expectations = [
        ("/admin/members", "Dr. Test Clinician"),
        ("/admin/api-keys", "first key"),
        (
            "/admin/zoom",
            "This grant can create meetings for dr.ada@riverside.example.",
        ),
        ("/admin/webhooks", "meeting.participant_joined"),
        ("/admin/audit", "member.signed_in"),
        ("/admin/settings", "Waiting room"),
    ];
    for (path, text) in expectations {
        let page = admin.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(
            page.body.contains(text),
            "{path} lacks {text:?}:\n{}",
            page.body
        );
        assert_eq!(page.cache_control.as_deref(), Some("no-store"));
    }
    assert!(
        admin
            .get("/admin/zoom")
            .await
            .body
            .contains(&app.url("/oauth/callback"))
    );

    // API key: shown once, works, revoked.
    let keys = admin.get("/admin/api-keys").await;
    let created = admin
        .post(
            "/admin/api-keys",
            &[
                ("csrf", &keys.csrf()),
                ("label", "booking app"),
                ("environment", "live"),
            ],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let start = created.body.find("id=\"new-key\">").unwrap() + "id=\"new-key\">".len();
    let key = created.body[start..].split('<').next().unwrap().to_owned();
    assert!(key.starts_with("mg_live_"), "{key}");
    let works = app
        .http
        .get(app.url("/v1/tenant/settings"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(works.status(), 200);
    let listed = admin.get("/admin/api-keys").await;
    assert!(!listed.body.contains(&key), "shown only once");
    let key_id = listed
        .body
        .split("<tr>")
        .find(|r| r.contains("booking app"))
        .and_then(|r| r.split("/admin/api-keys/").nth(1))
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let third = admin
        .post(
            "/admin/api-keys",
            &[("csrf", &keys.csrf()), ("label", "one too many")],
        )
        .await;
    assert_eq!(third.status, 409, "at most two active keys");
    assert!(
        third.body.contains("already has 2 active API keys"),
        "{}",
        third.body
    );
    let revoked = admin
        .post(
            &format!("/admin/api-keys/{key_id}/revoke"),
            &[("csrf", &keys.csrf())],
        )
        .await;
    assert_eq!(
        revoked.location.as_deref(),
        Some("/admin/api-keys?done=revoked")
    );
    assert_eq!(
        app.http
            .get(app.url("/v1/tenant/settings"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // Webhook endpoint: the secret once, then the delivery log.
    let hooks = admin.get("/admin/webhooks").await;
    let made = admin
        .post(
            "/admin/webhooks",
            &[
                ("csrf", &hooks.csrf()),
                ("url", "https://clinic.example/hooks"),
                ("event_types", "meeting.started"),
                ("event_types", "meeting.ended"),
            ],
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    assert!(
        made.body.contains("whsec_") && made.body.contains("meeting.started, meeting.ended"),
        "{}",
        made.body
    );
    let bad = admin
        .post(
            "/admin/webhooks",
            &[("csrf", &hooks.csrf()), ("url", "not a url")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("The URL is not a URL."), "{}", bad.body);

    // Rotating its secret shows the new one once; the old one signs for a day unless "at once".
    let secret_in = |body: &str| {
        let start = body.find("whsec_").expect("a secret on the page");
        body[start..]
            .split(|c: char| c == '<' || c.is_whitespace())
            .next()
            .unwrap()
            .to_owned()
    };
    let first = secret_in(&made.body);
    let endpoint = app
        .services()
        .list_webhook_endpoints(&Ctx::operator(app.tenant, app.services().clock.now()))
        .await
        .unwrap()[0]
        .id;
    let rotate = format!("/admin/webhooks/{endpoint}/rotate");
    let rotated = admin.post(&rotate, &[("csrf", &hooks.csrf())]).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let second = secret_in(&rotated.body);
    assert_ne!(first, second);
    assert!(
        rotated.body.contains("New secret")
            && rotated.body.contains("The old secret signs them too until")
            && rotated.body.contains("old secret signs too until"),
        "{}",
        rotated.body
    );
    let at_once = admin
        .post(&rotate, &[("csrf", &hooks.csrf()), ("at_once", "1")])
        .await;
    assert_eq!(at_once.status, 200, "{}", at_once.body);
    assert_ne!(secret_in(&at_once.body), second);
    assert!(
        at_once
            .body
            .contains("The old secret signs nothing any more.")
            && !at_once.body.contains("old secret signs too until"),
        "{}",
        at_once.body
    );
    let gone = admin
        .post(
            &format!("/admin/webhooks/{}/rotate", uuid::Uuid::now_v7()),
            &[("csrf", &hooks.csrf())],
        )
        .await;
    assert_eq!(gone.status, 404, "{}", gone.body);

    // Policy: let client labels go to Zoom as the topic, then see it happen.
    let settings = admin.get("/admin/settings").await;
    let saved = admin
        .post(
            "/admin/settings",
            &[
                ("csrf", &settings.csrf()),
                ("waiting_room", "1"),
                ("waiting_room_locked", "1"),
                ("auto_recording", "none"),
                ("auto_recording_locked", "1"),
                ("client_label_in_topic", "1"),
                ("default_topic", "Session"),
                ("return_urls", &app.url("/done")),
            ],
        )
        .await;
    assert_eq!(
        saved.location.as_deref(),
        Some("/admin/settings?done=settings"),
        "{}",
        saved.body
    );
    let settings_now = app
        .services()
        .tenant_settings(&Ctx::operator(app.tenant, app.services().clock.now()))
        .await
        .unwrap();
    assert!(
        settings_now.client_label_in_topic
            && settings_now.meeting_policy.waiting_room.locked
            && !settings_now.meeting_policy.host_video.value
    );
    let dashboard = admin.get("/app").await;
    assert!(
        dashboard
            .body
            .contains("sent to Zoom as the meeting's topic"),
        "{}",
        dashboard.body
    );
    let started = admin
        .post(
            "/app/meetings/instant",
            &[
                ("csrf", &dashboard.csrf()),
                ("client_label", "Group session"),
            ],
        )
        .await;
    assert_eq!(started.status, 303, "{}", started.body);
    assert!(
        app.env
            .control()
            .meetings_of(ADA)
            .await
            .unwrap()
            .iter()
            .any(|m| m.topic == "Group session")
    );
    let bad = admin
        .post(
            "/admin/settings",
            &[
                ("csrf", &settings.csrf()),
                ("auto_recording", "always"),
                ("return_urls", "ftp://x"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);

    // Roles: a promotion applies to the member's open session at once; nobody demotes themselves.
    let members = admin.get("/admin/members").await;
    let id = member_id(&members.body, "Dr. Test Clinician");
    let promoted = admin
        .post(
            &format!("/admin/members/{id}/role"),
            &[("csrf", &members.csrf()), ("role", "admin")],
        )
        .await;
    assert_eq!(
        promoted.location.as_deref(),
        Some("/admin/members?done=role")
    );
    assert_eq!(clinician.get("/admin/members").await.status, 200);
    let me = app
        .services()
        .store
        .find_member_by_email(ADMIN)
        .await
        .unwrap()
        .unwrap()
        .id;
    let demote_self = admin
        .post(
            &format!("/admin/members/{me}/role"),
            &[("csrf", &members.csrf()), ("role", "clinician")],
        )
        .await;
    assert_eq!(demote_self.status, 409);
    assert!(
        demote_self
            .body
            .contains("You cannot remove your own administrator role."),
        "{}",
        demote_self.body
    );
    let disable_self = admin
        .post(
            &format!("/admin/members/{me}/disable"),
            &[("csrf", &members.csrf())],
        )
        .await;
    assert_eq!(disable_self.status, 409);

    // An address that only takes a form leads to its page when asked for with GET (a reload of
    // a form's answer, which the pages' script turns into a GET).
    let meeting = uuid::Uuid::now_v7();
    for (path, to) in [
        ("/admin/invitations".to_owned(), "/admin/members".to_owned()),
        (
            format!("/admin/members/{me}/role"),
            "/admin/members".to_owned(),
        ),
        (
            "/admin/api-keys/x/revoke".to_owned(),
            "/admin/api-keys".to_owned(),
        ),
        ("/app/meetings/instant".to_owned(), "/app".to_owned()),
        (
            format!("/app/meetings/{meeting}/cancel"),
            format!("/app/meetings/{meeting}"),
        ),
        (
            "/app/meetings/not-an-id/cancel".to_owned(),
            "/app".to_owned(),
        ),
    ] {
        let page = admin.get(&path).await;
        assert_eq!(page.status, 303, "{path}");
        assert_eq!(page.location.as_deref(), Some(to.as_str()), "{path}");
    }

    // The audit log filters by action prefix.
    let filtered = admin.get("/admin/audit?action=api_key.&since=").await;
    assert!(
        filtered.body.contains("api_key.revoked") && !filtered.body.contains("member.signed_in"),
        "{}",
        filtered.body
    );
    // Newest first: the revocation above the creation it follows.
    let at = |action: &str| filtered.body.find(&format!(">{action}<")).unwrap();
    assert!(
        at("api_key.revoked") < at("api_key.created"),
        "{}",
        filtered.body
    );
    // Times are written in UTC, marked for the script to show in the reader's time zone.
    let today = app.services().clock.now().date();
    assert!(
        filtered
            .body
            .contains(&format!(r#"<time datetime="{today}T"#))
            && filtered.body.contains(" UTC</time>")
            && filtered.body.contains("data-precise"),
        "{}",
        filtered.body
    );
}

/// Errors that no handler put into words (no such page, an address that cannot be read) are a
/// page with a sentence for a browser, and stay problem documents for a program.
#[tokio::test]
async fn errors_without_words_are_pages_for_browsers() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let get = |path: &'static str, html: bool| {
        let request = app.http.get(app.url(path));
        let request = if html {
            request.header("accept", "text/html,application/xhtml+xml")
        } else {
            request
        };
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let kind = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            (status, kind, response.text().await.unwrap())
        }
    };
    for (path, status, says) in [
        ("/app/nowhere", 404, "There is no page at this address."),
        ("/signin?next=a&next=b", 400, "could not be read"),
    ] {
        let (got, kind, body) = get(path, true).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(kind.starts_with("text/html"), "{path}: {kind}");
        assert!(body.contains(says), "{path}: {body}");
    }
    let (status, kind, _) = get("/app/nowhere", false).await;
    assert_eq!((status, kind.as_str()), (404, "application/problem+json"));
    let (status, kind, _) = get("/v1/nowhere", true).await;
    assert_eq!((status, kind.as_str()), (404, "application/problem+json"));
}

async fn a_forgotten_password_is_reset_with_a_link_from_an_admin(backend: Backend) {
    let Some(app) = spawn_with_members(backend, |_| {}).await else {
        return;
    };
    // The clinician is signed in somewhere (a shared computer, say) and forgot the password.
    let elsewhere = Browser::new(&app.main.base);
    elsewhere.signed_in(CLINICIAN).await;

    let admin = Browser::new(&app.main.base);
    admin.signed_in(ADMIN).await;
    let members = admin.get("/admin/members").await;
    let id = member_id(&members.body, CLINICIAN);
    let created = admin
        .post(
            &format!("/admin/members/{id}/password-reset"),
            &[("csrf", &members.csrf())],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(
        created
            .body
            .contains("Password reset link for clinician@clinic.example"),
        "{}",
        created.body
    );
    let start = created.body.find(&app.url("/invitations/")).unwrap();
    let link = created.body[start..].split('<').next().unwrap().to_owned();

    let clinician = Browser::new(&app.main.base);
    let page = clinician.get(&link).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Choose a new password") && !page.body.contains(r#"name="name""#),
        "{}",
        page.body
    );
    let new_password = "a brand new long password";
    let saved = clinician
        .post(
            &link,
            &[
                ("csrf", &page.csrf()),
                ("password", new_password),
                ("password_again", new_password),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(saved.location.as_deref(), Some("/app?done=password"));
    let dashboard = clinician.get("/app?done=password").await;
    assert!(
        dashboard.body.contains("Your new password is set"),
        "{}",
        dashboard.body
    );

    assert_eq!(
        elsewhere.get("/app").await.status,
        303,
        "the other browser was signed out"
    );
    assert_eq!(
        Browser::new(&app.main.base)
            .sign_in(CLINICIAN, SECRET)
            .await
            .status,
        401,
        "the old password is gone"
    );
    assert_eq!(
        Browser::new(&app.main.base)
            .sign_in(CLINICIAN, new_password)
            .await
            .status,
        303
    );
    assert_eq!(
        clinician.get(&link).await.status,
        403,
        "the link works once"
    );

    // Two invitations to one address: once the first made a member, the second is still an
    // invitation to join, not a way into that member's account.
    let invite = |csrf: String| {
        let admin = &admin;
        async move {
            let made = admin
                .post(
                    "/admin/invitations",
                    &[
                        ("csrf", csrf.as_str()),
                        ("email", "twice@clinic.example"),
                        ("role", "clinician"),
                    ],
                )
                .await;
            assert_eq!(made.status, 201, "{}", made.body);
            let start = made.body.find("/invitations/").unwrap();
            made.body[start..].split('<').next().unwrap().to_owned()
        }
    };
    let first = invite(members.csrf()).await;
    let second = invite(members.csrf()).await;
    let joiner = Browser::new(&app.main.base);
    let page = joiner.get(&first).await;
    let joined = joiner
        .post(
            &first,
            &[
                ("csrf", &page.csrf()),
                ("name", "Twice"),
                ("password", SECRET),
                ("password_again", SECRET),
            ],
        )
        .await;
    assert_eq!(joined.status, 303, "{}", joined.body);
    let stranger = Browser::new(&app.main.base);
    let page = stranger.get(&second).await;
    assert!(
        !page.body.contains("Choose a new password"),
        "{}",
        page.body
    );
    let taken = stranger
        .post(
            &second,
            &[
                ("csrf", &page.csrf()),
                ("name", "Mallory"),
                ("password", "mallory's own password"),
                ("password_again", "mallory's own password"),
            ],
        )
        .await;
    assert_eq!(taken.status, 409, "{}", taken.body);
    assert_eq!(
        Browser::new(&app.main.base)
            .sign_in("twice@clinic.example", SECRET)
            .await
            .status,
        303,
        "the member's password is unchanged"
    );
}

/// The first link a members page offers to revoke, for the invitation sent to `email`.
fn invitation_id(body: &str, email: &str) -> Option<String> {
    let row = body
        .split("<tr>")
        .find(|r| r.contains(email) && r.contains("/admin/invitations/"))?;
    let start = row.find("/admin/invitations/")? + "/admin/invitations/".len();
    Some(row[start..].split('/').next()?.to_owned())
}

/// The link shown on a page that has just made one.
fn shown_link(app: &TestApp, page: &Page) -> String {
    let start = page
        .body
        .find(&app.url("/invitations/"))
        .unwrap_or_else(|| panic!("no link shown: {}", page.body));
    page.body[start..].split('<').next().unwrap().to_owned()
}

/// A link carries the authority of the admin who made it: once that admin is disabled or made
/// a clinician, neither invitations nor password reset links they made work.
async fn links_die_with_their_makers_admin_role(backend: Backend) {
    let Some(app) = spawn_with_members(backend, |_| {}).await else {
        return;
    };
    const BOB: &str = "bob.admin@clinic.example";
    const CAROL: &str = "carol.admin@clinic.example";
    seed(&app, "Bob Admin", BOB, MemberRole::Admin).await;
    seed(&app, "Carol Admin", CAROL, MemberRole::Admin).await;
    let mut links = Vec::new();
    for maker in [BOB, CAROL] {
        let browser = Browser::new(&app.main.base);
        browser.signed_in(maker).await;
        let members = browser.get("/admin/members").await;
        let invited = browser
            .post(
                "/admin/invitations",
                &[
                    ("csrf", &members.csrf()),
                    ("email", &format!("invited-by-{maker}")),
                    ("role", "admin"),
                ],
            )
            .await;
        assert_eq!(invited.status, 201, "{}", invited.body);
        let clinician = member_id(&members.body, CLINICIAN);
        let reset = browser
            .post(
                &format!("/admin/members/{clinician}/password-reset"),
                &[("csrf", &members.csrf())],
            )
            .await;
        assert_eq!(reset.status, 201, "{}", reset.body);
        links.push((shown_link(&app, &invited), shown_link(&app, &reset)));
    }
    // Before: the links open.
    for (invitation, reset) in &links {
        assert_eq!(
            Browser::new(&app.main.base).get(invitation).await.status,
            200
        );
        assert_eq!(Browser::new(&app.main.base).get(reset).await.status, 200);
    }
    // Ada disables Bob and makes Carol a clinician.
    let ada = Browser::new(&app.main.base);
    ada.signed_in(ADMIN).await;
    let members = ada.get("/admin/members").await;
    let disabled = ada
        .post(
            &format!("/admin/members/{}/disable", member_id(&members.body, BOB)),
            &[("csrf", &members.csrf())],
        )
        .await;
    assert_eq!(disabled.status, 303, "{}", disabled.body);
    let demoted = ada
        .post(
            &format!("/admin/members/{}/role", member_id(&members.body, CAROL)),
            &[("csrf", &members.csrf()), ("role", "clinician")],
        )
        .await;
    assert_eq!(demoted.status, 303, "{}", demoted.body);

    for (invitation, reset) in &links {
        for link in [invitation, reset] {
            let browser = Browser::new(&app.main.base);
            let page = browser.get(link).await;
            assert_eq!(page.status, 403, "{}", page.body);
            assert!(page.body.contains("no longer is one"), "{}", page.body);
            // Nor does the form, sent anyway.
            browser.get("/signin").await;
            let token = browser.cookie("mg_form").unwrap();
            let sent = browser
                .post(
                    link,
                    &[
                        ("csrf", &token),
                        ("name", "Mallory"),
                        ("password", "mallory's own password"),
                        ("password_again", "mallory's own password"),
                    ],
                )
                .await;
            assert_eq!(sent.status, 403, "{}", sent.body);
        }
    }
    assert_eq!(
        Browser::new(&app.main.base)
            .sign_in(CLINICIAN, "mallory's own password")
            .await
            .status,
        401,
        "no reset went through"
    );
    let listed = ada.get("/admin/members").await;
    assert!(
        !listed.body.contains(">used<"),
        "no invitation was used: {}",
        listed.body
    );
    // Bob enabled again: his links work again (they never expired).
    let enabled = ada
        .post(
            &format!("/admin/members/{}/enable", member_id(&listed.body, BOB)),
            &[("csrf", &listed.csrf())],
        )
        .await;
    assert_eq!(enabled.status, 303, "{}", enabled.body);
    assert_eq!(
        Browser::new(&app.main.base).get(&links[0].0).await.status,
        200
    );
}

/// An admin withdraws an invitation sent to the wrong address, from the members page, with the
/// form's CSRF token; the link stops working at once, and the audit log says who withdrew it.
async fn an_admin_revokes_an_unused_invitation(backend: Backend) {
    let Some(app) = spawn_with_members(backend, |_| {}).await else {
        return;
    };
    let admin = Browser::new(&app.main.base);
    admin.signed_in(ADMIN).await;
    let members = admin.get("/admin/members").await;
    let mut links = Vec::new();
    for email in ["typo@clinic.example", "right@clinic.example"] {
        let made = admin
            .post(
                "/admin/invitations",
                &[
                    ("csrf", &members.csrf()),
                    ("email", email),
                    ("role", "clinician"),
                ],
            )
            .await;
        assert_eq!(made.status, 201, "{}", made.body);
        links.push(shown_link(&app, &made));
    }
    let listed = admin.get("/admin/members").await;
    let id = invitation_id(&listed.body, "typo@clinic.example").expect("a revoke form");
    let path = format!("/admin/invitations/{id}/revoke");

    // Without the form's token: refused, and the link still works.
    let forged = admin.post(&path, &[]).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert_eq!(
        Browser::new(&app.main.base).get(&links[0]).await.status,
        200
    );
    // A clinician cannot.
    let clinician = Browser::new(&app.main.base);
    let dashboard = clinician.signed_in(CLINICIAN).await;
    let refused = clinician.post(&path, &[("csrf", &dashboard.csrf())]).await;
    assert_ne!(refused.status, 303, "{}", refused.body);
    assert_eq!(
        Browser::new(&app.main.base).get(&links[0]).await.status,
        200
    );

    let revoked = admin.post(&path, &[("csrf", &listed.csrf())]).await;
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    assert_eq!(
        revoked.location.as_deref(),
        Some("/admin/members?done=invitation_revoked")
    );
    let after = admin.get("/admin/members?done=invitation_revoked").await;
    assert!(
        after.body.contains("The invitation is withdrawn"),
        "{}",
        after.body
    );
    assert!(
        invitation_id(&after.body, "typo@clinic.example").is_none(),
        "no revoke button for a withdrawn invitation"
    );
    assert!(invitation_id(&after.body, "right@clinic.example").is_some());
    let page = Browser::new(&app.main.base).get(&links[0]).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("withdrawn"), "{}", page.body);
    assert_eq!(
        Browser::new(&app.main.base).get(&links[1]).await.status,
        200,
        "the other invitation still works"
    );
    // Twice: a sentence, not a success.
    let again = admin.post(&path, &[("csrf", &listed.csrf())]).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains("already expired"), "{}", again.body);
    // An id of no invitation of this clinic.
    let unknown = admin
        .post(
            &format!("/admin/invitations/{}/revoke", uuid::Uuid::now_v7()),
            &[("csrf", &listed.csrf())],
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);

    let (_, audit) = app
        .api(
            reqwest::Method::GET,
            "/v1/audit-events?action=invitation.revoked",
            None,
        )
        .await;
    let entries = audit["data"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["object_id"], id.as_str(), "{audit}");
    assert_eq!(entries[0]["actor_kind"], "member", "{audit}");
    assert_eq!(
        entries[0]["details"]["email"], "typo@clinic.example",
        "{audit}"
    );
}
