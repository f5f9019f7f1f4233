use meetgate_store::models::ConnectionState;
use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::support::*;

both_backends!(
    connect_flow_stores_the_grant_and_returns_to_the_host,
    bad_state_is_refused_before_any_token_request,
    denial_returns_with_an_error_code,
    same_zoom_user_elsewhere_supersedes_the_older_connection,
    a_connect_link_connects_once,
    a_browser_that_gives_up_on_the_callback_still_gets_connected,
    an_app_without_user_read_says_which_scope_to_add,
    a_client_id_is_registered_once
);

async fn connect_flow_stores_the_grant_and_returns_to_the_host(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let back = app.connect("patient-portal-42", ADA, USER_APP).await;
    assert!(back.as_str().starts_with(&app.url("/done")), "{back}");
    assert_eq!(
        query(&back, "meetgate_status").as_deref(),
        Some("connected")
    );
    assert_eq!(query(&back, "meetgate_error"), None);

    let (status, conn) = app
        .api(Method::GET, "/v1/users/patient-portal-42/connection", None)
        .await;
    assert_eq!(status, 200, "{conn}");
    assert_eq!(conn["state"], "connected");
    assert_eq!(conn["zoom_email"], ADA);
    assert_eq!(conn["zoom_user_id"], "KDcuGIm1QgePTO8WbOqwIQ");
    assert_eq!(conn["app_type"], "user_managed");
    assert!(
        conn["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "meeting:write"),
        "{conn}"
    );
    assert_eq!(
        app.counters()
            .await
            .token_requests
            .get("authorization_code"),
        Some(&1)
    );

    // Reconnecting the same user keeps the same connection.
    let again = app.connect("patient-portal-42", ADA, USER_APP).await;
    assert_eq!(
        query(&again, "meetgate_status").as_deref(),
        Some("connected")
    );
    let (_, conn2) = app
        .api(Method::GET, "/v1/users/patient-portal-42/connection", None)
        .await;
    assert_eq!(conn2["id"], conn["id"]);

    // The tokens are stored encrypted, not as they came.
    let stored = app.stored_connections().await;
    assert_eq!(stored.len(), 1);
    let sealed = stored[0].access_token.as_ref().unwrap();
    assert!(
        sealed.0.len() > 30 && sealed.0[0] == 1,
        "stored form carries a version byte"
    );
}

async fn bad_state_is_refused_before_any_token_request(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let token_requests = |c: &meetgate_sandbox::Counters| c.token_requests.values().sum::<u64>();

    // Forged: a state meetgate never issued.
    let (trip, callback) = app.consent("u1", ADA, USER_APP).await;
    let mut forged = callback.clone();
    let code = query(&callback, "code").unwrap();
    forged.set_query(Some(&format!("code={code}&state=forged-state-value")));
    let refused = app.finish_connect(&forged, Some(&trip.cookie)).await;
    assert_eq!(
        query(&refused, "status").as_deref(),
        Some("400"),
        "{refused}"
    );

    // Missing state.
    let mut missing = callback.clone();
    missing.set_query(Some(&format!("code={code}")));
    let refused = app.finish_connect(&missing, Some(&trip.cookie)).await;
    assert_eq!(query(&refused, "status").as_deref(), Some("400"));

    // Another browser: the right state without the cookie that began it.
    let refused = app
        .finish_connect(&callback, Some("mg_connect=someone-else"))
        .await;
    assert_eq!(query(&refused, "status").as_deref(), Some("403"));
    assert_eq!(
        token_requests(&app.counters().await),
        0,
        "no token request for a bad state"
    );

    // Replayed: the attempt was consumed by the refused try above; and a good flow's callback
    // cannot be used twice.
    let refused = app.finish_connect(&callback, Some(&trip.cookie)).await;
    assert_eq!(query(&refused, "status").as_deref(), Some("400"));
    let (trip, callback) = app.consent("u1", ADA, USER_APP).await;
    let ok = app.finish_connect(&callback, Some(&trip.cookie)).await;
    assert_eq!(query(&ok, "meetgate_status").as_deref(), Some("connected"));
    assert_eq!(token_requests(&app.counters().await), 1);
    let refused = app.finish_connect(&callback, Some(&trip.cookie)).await;
    assert_eq!(query(&refused, "status").as_deref(), Some("400"));

    // Expired: the user took longer than ten minutes.
    let (trip, callback) = app.consent("u2", GRACE, USER_APP).await;
    app.services()
        .clock
        .advance(std::time::Duration::from_secs(11 * 60));
    let refused = app.finish_connect(&callback, Some(&trip.cookie)).await;
    assert_eq!(query(&refused, "status").as_deref(), Some("400"));
    assert_eq!(
        token_requests(&app.counters().await),
        1,
        "still only the good flow's exchange"
    );
}

async fn denial_returns_with_an_error_code(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let trip = app.begin_connect("u1", USER_APP).await;
    let callback = app
        .env
        .control()
        .deny_headless(&trip.authorize_url)
        .await
        .unwrap();
    let back = app.finish_connect(&callback, Some(&trip.cookie)).await;
    assert!(back.as_str().starts_with(&app.url("/done")), "{back}");
    assert_eq!(query(&back, "meetgate_status").as_deref(), Some("error"));
    assert_eq!(
        query(&back, "meetgate_error").as_deref(),
        Some("access_denied")
    );
    let (status, problem) = app.api(Method::GET, "/v1/users/u1/connection", None).await;
    assert_eq!(status, 409);
    assert_eq!(problem["type"], "/problems/not-connected");
}

async fn same_zoom_user_elsewhere_supersedes_the_older_connection(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("first", ADA, USER_APP).await;
    app.connect("second", ADA, USER_APP).await;
    let (_, first) = app
        .api(Method::GET, "/v1/users/first/connection", None)
        .await;
    let (_, second) = app
        .api(Method::GET, "/v1/users/second/connection", None)
        .await;
    assert_eq!(first["state"], ConnectionState::Superseded.as_str());
    assert_eq!(second["state"], "connected");
    let events = app
        .services()
        .store
        .list_events(app.tenant, None, 100)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.event_type == "connection.superseded"
                && e.payload["data"]["connection_id"] == first["id"])
    );
    // The superseded user gets a clear answer, not a later invalid_grant.
    let (status, problem) = app.create_meeting("first", json!({})).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "/problems/needs-reauth");
    assert_eq!(problem["connection_state"], "superseded");
    assert!(
        problem["connect_url"]
            .as_str()
            .unwrap()
            .contains("/connect/"),
        "{problem}"
    );
}

async fn a_connect_link_connects_once(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (trip, callback) = app.consent("dr-ada", ADA, USER_APP).await;
    let back = app.finish_connect(&callback, Some(&trip.cookie)).await;
    assert_eq!(
        query(&back, "meetgate_status").as_deref(),
        Some("connected")
    );

    // Someone who finds the link afterwards cannot connect the user to their own Zoom account.
    for url in [trip.connect_url.clone(), format!("{}/go", trip.connect_url)] {
        let page = app.http.get(&url).send().await.unwrap();
        assert_eq!(page.status(), 403, "{url}");
        let text = page.text().await.unwrap();
        assert!(text.contains("already used"), "{text}");
    }
    let (_, conn) = app
        .api(Method::GET, "/v1/users/dr-ada/connection", None)
        .await;
    assert_eq!(conn["zoom_email"], ADA);
}

/// Zoom has issued the tokens once the code is exchanged: a browser that gives up while meetgate
/// waits for Zoom must not lose them.
async fn a_browser_that_gives_up_on_the_callback_still_gets_connected(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (trip, callback) = app.consent("dr-ada", ADA, USER_APP).await;
    app.fault(
        meetgate_sandbox::FaultKind::Latency { ms: 700 },
        "oauth.token",
        1,
    )
    .await;
    let hasty = app
        .http
        .get(callback.as_str())
        .header(reqwest::header::COOKIE, &trip.cookie)
        .timeout(std::time::Duration::from_millis(150))
        .send()
        .await;
    assert!(hasty.unwrap_err().is_timeout(), "the browser gave up first");
    eventually("the grant is stored", || async {
        let (status, conn) = app
            .api(Method::GET, "/v1/users/dr-ada/connection", None)
            .await;
        status == 200 && conn["state"] == "connected"
    })
    .await;
}

/// An app that may not read the user's profile gets its tokens but cannot say whose they are:
/// the answer names the scope to add, instead of blaming Zoom's availability.
async fn an_app_without_user_read_says_which_scope_to_add(backend: Backend) {
    let mut sandbox = meetgate_sandbox::SandboxConfig {
        rate_limits: false,
        ..meetgate_sandbox::SandboxConfig::default()
    };
    let user_app = sandbox
        .world
        .apps
        .iter_mut()
        .find(|a| a.client_id == USER_APP)
        .unwrap();
    user_app
        .scopes
        .retain(|s| !matches!(s.as_str(), "user:read" | "user_info:read"));
    let Some(app) = TestApp::spawn_with(backend, sandbox, |_| {}).await else {
        return;
    };
    let back = app.connect("dr-ada", ADA, USER_APP).await;
    assert_eq!(query(&back, "meetgate_status").as_deref(), Some("error"));
    assert_eq!(
        query(&back, "meetgate_error").as_deref(),
        Some("missing_scopes"),
        "{back}"
    );
    let required = query(&back, "meetgate_required_scopes").unwrap();
    assert!(required.split(' ').any(|s| s == "user:read"), "{required}");
    let audit = app
        .services()
        .store
        .list_audit(&meetgate_store::models::AuditQuery {
            tenant_id: Some(app.tenant),
            action_prefix: Some("connection.".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let failed = audit
        .iter()
        .find(|e| e.action == "connection.connect_failed")
        .expect("audited");
    assert_eq!(failed.details["error"], "missing_scopes");
    assert!(
        failed.details["fix"]
            .as_str()
            .unwrap()
            .contains("Add the scope user:read"),
        "{}",
        failed.details
    );
    let (status, _) = app
        .api(Method::GET, "/v1/users/dr-ada/connection", None)
        .await;
    assert_eq!(status, 409, "nothing connected");
}

/// Zoom keeps one grant per (user, app) and sends an app's webhooks to one URL: a client id is
/// registered once in a deployment, and the refusal names no other tenant.
async fn a_client_id_is_registered_once(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let services = app.services();
    let now = services.clock.now();
    let other = services
        .create_tenant("Other Clinic", Default::default(), false, now)
        .await
        .unwrap();
    let register = |tenant: Option<meetgate_store::TenantId>, client_id: &str| {
        services.register_zoom_app(
            meetgate_service::domain::NewZoomApp {
                tenant_id: tenant,
                name: "Again".into(),
                app_type: meetgate_store::models::AppType::UserManaged,
                client_id: client_id.into(),
                client_secret: meetgate_zoom::Secret::new("secret"),
                account_id: None,
                scopes: String::new(),
                webhook_secret: None,
                auth_base_url: Some(app.env.sandbox_url()),
                api_base_url: Some(app.env.sandbox_url()),
            },
            now,
        )
    };
    for (tenant, client_id) in [
        (Some(other.tenant.id), USER_APP.to_owned()),
        (Some(other.tenant.id), format!("  {USER_APP} ")),
        (Some(app.tenant), USER_APP.to_owned()),
        (None, USER_APP.to_owned()),
    ] {
        let refused = register(tenant, &client_id).await.unwrap_err();
        let problem = meetgate_service::http::Problem::from(&refused);
        assert_eq!(problem.kind, "/problems/conflict");
        assert_eq!(problem.status, 409);
        assert!(
            problem.detail.contains("already registered")
                && problem
                    .detail
                    .contains("each tenant needs its own Zoom app"),
            "{}",
            problem.detail
        );
        assert!(
            !problem.detail.contains("Test Clinic"),
            "{}",
            problem.detail
        );
    }
    let apps = services.store.list_all_zoom_apps().await.unwrap();
    assert_eq!(
        apps.iter().filter(|a| a.client_id == USER_APP).count(),
        1,
        "nothing was registered"
    );
    register(Some(other.tenant.id), "otherClinicOwnApp01")
        .await
        .expect("a client id of its own");
}
