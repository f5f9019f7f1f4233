use meetgate_sandbox::SandboxConfig;
use meetgate_service::domain::outbox::standard_webhook_signature;
use meetgate_store::SealedColumn;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::*;

both_backends!(
    deauthorization_deletes_the_tokens_at_once_and_replays_change_nothing,
    a_deauthorization_leaves_no_answer_to_replay_and_no_zoom_body,
    meeting_started_reaches_the_host_signed,
    forged_zoom_webhooks_are_refused,
    delivered_events_go_after_retention_and_retried_ones_stay,
    a_zoom_app_speaks_only_for_its_own_meetings,
    a_deauthorization_retried_after_a_failed_purge_still_purges,
    an_event_that_keeps_failing_is_abandoned_unless_it_is_a_deauthorization,
    a_late_deauthorization_spares_a_grant_made_after_it,
    a_late_deauthorization_purges_only_the_older_grants_meetings,
    a_delivery_is_tried_exactly_webhook_max_attempts_times,
    a_deauthorization_during_a_create_leaves_no_meeting_behind,
    a_rotated_secret_signs_beside_the_old_one_until_it_expires,
    url_validation_is_answered_with_the_secret_that_signed_it
);

/// Behaviour of the HTTP client, not of a store: SQLite only.
#[tokio::test]
async fn a_host_behind_a_private_ca_gets_webhooks_once_its_ca_is_trusted() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let receiver = Receiver::start_tls().await;
    let endpoint = add_endpoint(&app, &receiver.url).await;
    let deliveries = format!(
        "/v1/webhook-endpoints/{}/deliveries",
        endpoint["id"].as_str().unwrap()
    );
    app.connect("dr-ada", ADA, USER_APP).await;

    // The built-in roots do not know the host's CA: the delivery fails, and says why and what
    // to change.
    let services = app.services().clone();
    services
        .deliver_step(services.clock.now(), 50)
        .await
        .unwrap();
    assert!(receiver.received.lock().await.is_empty());
    let (_, log) = app.api(Method::GET, &deliveries, None).await;
    let failed = &log["data"].as_array().unwrap()[0];
    assert_eq!(failed["status"], "pending", "{log}");
    let error = failed["last_error"].as_str().unwrap();
    assert!(
        error.contains("UnknownIssuer") && error.contains("outbound.ca_bundle"),
        "{error}"
    );
    assert!(!error.contains(&receiver.url), "{error}");

    // A meetgate told to trust that CA delivers the retry.
    let trusting = app
        .env
        .instance(|c| c.outbound.ca_bundle = private_ca_file("ca.pem"))
        .await;
    trusting
        .services
        .deliver_step(services.clock.now() + time::Duration::days(1), 50)
        .await
        .unwrap();
    assert_eq!(receiver.types().await, ["connection.connected"]);
    let (_, log) = app.api(Method::GET, &deliveries, None).await;
    assert_all_delivered(&log);
}

fn assert_all_delivered(log: &serde_json::Value) {
    assert!(
        log["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "delivered"),
        "{log}"
    );
}

/// Registers a webhook endpoint of the test tenant; answers its view (with the secret).
/// A host endpoint that accepts connections and never answers holds only its own share of the
/// delivery slots: the other endpoints' deliveries go out meanwhile, long before the hung sends
/// time out. Behaviour of the delivery loop, not of a store (the store's share of a claim is in
/// the store suite, on both backends): SQLite only.
#[tokio::test]
async fn an_endpoint_that_hangs_holds_back_only_its_own_deliveries() {
    use meetgate_service::domain::deliveries::DeliverySlots;
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let hanging = HangingEndpoint::start().await;
    let receiver = Receiver::start().await;
    add_endpoint(&app, &hanging.url).await;
    add_endpoint(&app, &receiver.url).await;
    let services = app.services().clone();
    let now = services.clock.now();
    let events = |range| meeting_events(app.tenant, now, range);
    let mut slots = DeliverySlots::new(8, 3);
    // Two first: the hanging endpoint then has two sends in flight, one short of its share.
    services.store.append_events(events(0..2)).await.unwrap();
    slots.fill(&services, now).await.unwrap();
    services.store.append_events(events(2..10)).await.unwrap();
    let started = std::time::Instant::now();
    // The hung sends time out after 10 s; the receiver's ten must all be in well before.
    while receiver.received.lock().await.len() < 10 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(8),
            "the receiver got {} of 10 while the other endpoint hung",
            receiver.received.lock().await.len()
        );
        let filled = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            slots.fill(&services, now),
        )
        .await
        .expect("a fill does not wait for the sends it starts");
        filled.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        hanging.held().await,
        3,
        "the hanging endpoint got its share of three sends in all, and no more"
    );
    assert!(slots.in_flight() >= 3, "its sends are still hung");
}

/// The background job takes its slots from the configuration: with a share of two per endpoint,
/// an endpoint that hangs gets two connections, however many deliveries wait for it.
#[tokio::test]
async fn the_delivery_job_keeps_to_the_configured_share() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let hanging = HangingEndpoint::start().await;
    add_endpoint(&app, &hanging.url).await;
    let services = app.services().clone();
    let now = services.clock.now();
    services
        .store
        .append_events(meeting_events(app.tenant, now, 0..6))
        .await
        .unwrap();
    let worker = app
        .env
        .instance(|c| {
            c.jobs.enabled = true;
            c.jobs.idle_interval_ms = 20;
            c.jobs.webhook_max_in_flight_per_endpoint = 2;
        })
        .await;
    eventually("the job sends to the hanging endpoint", || async {
        hanging.held().await >= 2
    })
    .await;
    // Many idle intervals: the job would have claimed the others by now if it could.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(hanging.held().await, 2, "two sends, the configured share");
    drop(worker);
}

/// A host endpoint that accepts connections and never answers; it keeps every socket open.
struct HangingEndpoint {
    url: String,
    sockets: std::sync::Arc<tokio::sync::Mutex<Vec<tokio::net::TcpStream>>>,
    accepting: tokio::task::JoinHandle<()>,
}

impl HangingEndpoint {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let sockets = std::sync::Arc::new(tokio::sync::Mutex::new(Vec::new()));
        let held = sockets.clone();
        let accepting = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                held.lock().await.push(socket);
            }
        });
        Self {
            url,
            sockets,
            accepting,
        }
    }

    /// Connections it holds open.
    async fn held(&self) -> usize {
        self.sockets.lock().await.len()
    }
}

impl Drop for HangingEndpoint {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// Outbox events of `tenant`, one per number in `range`.
fn meeting_events(
    tenant: meetgate_store::TenantId,
    now: time::OffsetDateTime,
    range: std::ops::Range<i32>,
) -> meetgate_store::Effects {
    range.fold(meetgate_store::Effects::none(), |effects, n| {
        effects.event(meetgate_store::NewOutboxEvent {
            id: meetgate_store::OutboxEventId::new(),
            tenant_id: tenant,
            event_type: "meeting.created".into(),
            payload: json!({ "type": "meeting.created", "n": n }),
            created_at: now,
        })
    })
}

async fn add_endpoint(app: &TestApp, url: &str) -> serde_json::Value {
    let (status, endpoint) = app
        .api(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(json!({ "url": url })),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    endpoint
}

/// Points the sandbox app's event subscription at meetgate (Zoom validates it on the spot).
async fn subscribe(app: &TestApp, client_id: &str) {
    let url =
        url::Url::parse(&app.url(&format!("/zoom/webhooks/{}", app.apps[client_id]))).unwrap();
    let validation = app
        .env
        .control()
        .set_app_webhook(client_id, &url)
        .await
        .unwrap();
    let text = format!("{validation:?}");
    assert!(
        !text.contains("false"),
        "meetgate must pass Zoom's URL validation: {text}"
    );
}

async fn deauthorization_deletes_the_tokens_at_once_and_replays_change_nothing(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    subscribe(&app, USER_APP).await;
    app.connect("dr-ada", ADA, USER_APP).await;
    app.connect("dr-grace", GRACE, USER_APP).await;
    let (status, meeting) = app
        .create_meeting("dr-ada", json!({ "topic": "Private" }))
        .await;
    assert_eq!(status, 201);

    app.env.control().deauthorize(ADA, USER_APP).await.unwrap();
    let store = app.services().store.clone();
    let tenant = app.tenant;
    eventually("the connection is revoked", || {
        let store = store.clone();
        async move {
            let conns = store
                .list_connections(tenant, None, None, 10)
                .await
                .unwrap();
            conns.iter().any(|c| {
                c.zoom_email.is_none()
                    && c.state == meetgate_store::models::ConnectionState::Revoked
            })
        }
    })
    .await;
    let conns = store
        .list_connections(tenant, None, None, 10)
        .await
        .unwrap();
    let ada = conns
        .iter()
        .find(|c| c.state == meetgate_store::models::ConnectionState::Revoked)
        .unwrap();
    assert!(ada.access_token.is_none() && ada.refresh_token.is_none());
    for column in [
        SealedColumn::ConnectionAccessToken,
        SealedColumn::ConnectionRefreshToken,
    ] {
        let cells = store.sealed_cells(column, None, 100).await.unwrap();
        assert!(
            !cells.iter().any(|c| c.row_id == ada.id.to_string()),
            "no token of the user is left in {column:?}"
        );
        assert_eq!(cells.len(), 1, "the other user's token is still there");
    }
    let (_, gone) = app
        .api(
            Method::GET,
            &format!("/v1/meetings/{}", meeting["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert!(
        gone["topic"].is_null() && gone["join_url"].is_null(),
        "Zoom-derived data deleted: {gone}"
    );
    let events = store.list_events(tenant, None, 100).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event_type == "connection.revoked")
            .count(),
        1
    );

    // Zoom redelivers: nothing changes, no second event.
    app.env.control().deauthorize(ADA, USER_APP).await.ok();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let events = store.list_events(tenant, None, 100).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event_type == "connection.revoked")
            .count(),
        1
    );

    // Connecting again afterwards works.
    let back = app.connect("dr-ada", ADA, USER_APP).await;
    assert_eq!(
        query(&back, "meetgate_status").as_deref(),
        Some("connected")
    );
    let (status, body) = app.create_meeting("dr-ada", json!({})).await;
    assert_eq!(status, 201, "{body}");
}

/// A deauthorized user's meeting details must not come back through the answer kept for an
/// idempotent retry, nor stay in the Zoom events meetgate keeps; the deleted data's tombstones
/// do not stop a key rotation.
async fn a_deauthorization_leaves_no_answer_to_replay_and_no_zoom_body(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    subscribe(&app, USER_APP).await;
    app.connect("dr-ada", ADA, USER_APP).await;
    app.connect("dr-grace", GRACE, USER_APP).await;
    let create = |user: &'static str, topic: &'static str, key: &'static str| {
        let app = &app;
        async move {
            app.api_on(
                &app.main,
                Method::POST,
                &format!("/v1/users/{user}/meetings"),
                Some(json!({ "topic": topic })),
                Some(key),
            )
            .await
        }
    };
    let (status, _) = create("dr-ada", "Ada's patient", "ada-1").await;
    assert_eq!(status, 201);
    let (status, _) = create("dr-grace", "Grace's patient", "grace-1").await;
    assert_eq!(status, 201);
    // Processed Zoom events keep nothing of Zoom's body.
    app.env.control().deauthorize(ADA, USER_APP).await.unwrap();
    let store = app.services().store.clone();
    let tenant = app.tenant;
    eventually("the meeting's details are purged", || {
        let store = store.clone();
        async move {
            let query = meetgate_store::models::MeetingQuery {
                end_user_id: None,
                window: meetgate_store::models::MeetingWindow::All,
                include_deleted: true,
                after: None,
                ids: None,
                limit: 100,
                now: time::OffsetDateTime::now_utc(),
            };
            let meetings = store.list_meetings(tenant, &query).await.unwrap();
            meetings.iter().any(|m| m.details.0.is_empty())
        }
    })
    .await;

    let (status, body) = create("dr-ada", "Ada's patient", "ada-1").await;
    assert!(
        !(200..300).contains(&status),
        "a retry after the deauthorization is not answered from the kept answer: {status} {body}"
    );
    assert!(
        !body.to_string().contains("Ada's patient"),
        "nothing of the purged meeting comes back: {body}"
    );
    let (status, body) = create("dr-grace", "Grace's patient", "grace-1").await;
    assert_eq!(status, 201, "the other user's answer is kept: {body}");
    assert_eq!(body["topic"], "Grace's patient");

    let inbox = store
        .sealed_cells(SealedColumn::InboxPayload, None, 100)
        .await
        .unwrap();
    assert!(
        !inbox.is_empty(),
        "the deauthorization went through the inbox"
    );
    assert!(
        inbox.iter().all(|c| c.value.0.is_empty()),
        "no processed Zoom body is kept"
    );

    let old = app.services().vault.fingerprints();
    let ring = meetgate_service::vault::Keyring::new(vec![
        ("test2".into(), [9u8; 32]),
        ("test1".into(), [7u8; 32]),
    ])
    .unwrap();
    assert_eq!(
        old[0].1,
        ring.fingerprints()[1].1,
        "the test's key is [7; 32]"
    );
    let done = meetgate_service::vault::rotate_all(store.as_ref(), &ring, 10, |_| {})
        .await
        .expect("rotation skips the tombstones");
    assert!(done.rewritten > 0);
    for column in SealedColumn::ALL {
        for cell in store.sealed_cells(column, None, 100).await.unwrap() {
            assert!(
                cell.value.0.is_empty() || ring.is_primary(&cell.value),
                "{column:?} {} is under the new key",
                cell.row_id
            );
        }
    }
}

async fn meeting_started_reaches_the_host_signed(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    subscribe(&app, USER_APP).await;
    let receiver = Receiver::start().await;
    let endpoint = add_endpoint(&app, &receiver.url).await;
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    app.connect("dr-ada", ADA, USER_APP).await;
    let (_, meeting) = app.create_meeting("dr-ada", json!({})).await;

    // The host clicks the start link; the sandbox's start page starts the meeting and Zoom
    // tells meetgate.
    let start = app
        .http
        .get(meeting["start_link"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let zoom_start = start.headers()["location"].to_str().unwrap().to_owned();
    let page = app.http.get(&zoom_start).send().await.unwrap();
    assert!(
        page.status().is_success(),
        "sandbox start page: {}",
        page.status()
    );
    let services = app.services().clone();
    let id = meeting["id"].as_str().unwrap().to_owned();
    eventually("the meeting shows as started", || {
        let app = &app;
        let id = id.clone();
        async move {
            app.api(Method::GET, &format!("/v1/meetings/{id}"), None)
                .await
                .1["status"]
                == "started"
        }
    })
    .await;
    services
        .deliver_step(services.clock.now(), 50)
        .await
        .unwrap();
    let types = receiver.types().await;
    assert!(types.contains(&"meeting.started".to_owned()), "{types:?}");
    assert!(
        types.contains(&"meeting.created".to_owned())
            && types.contains(&"connection.connected".to_owned()),
        "{types:?}"
    );
    for (headers, body) in receiver.received.lock().await.iter() {
        let id = headers["webhook-id"].to_str().unwrap();
        let ts: i64 = headers["webhook-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let expected = standard_webhook_signature(&secret, id, ts, body).unwrap();
        assert_eq!(headers["webhook-signature"].to_str().unwrap(), expected);
    }
    let (status, log) = app
        .api(
            Method::GET,
            &format!(
                "/v1/webhook-endpoints/{}/deliveries",
                endpoint["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_all_delivered(&log);

    // The log pages newest first: a page at a time gives the same deliveries in the same order.
    let path = format!(
        "/v1/webhook-endpoints/{}/deliveries",
        endpoint["id"].as_str().unwrap()
    );
    let whole: Vec<Value> = log["data"].as_array().unwrap().clone();
    assert!(whole.len() >= 2, "{log}");
    assert!(log["next_cursor"].is_null(), "{log}");
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("{path}?limit=1&cursor={c}"),
            None => format!("{path}?limit=1"),
        };
        let (status, page) = app.api(Method::GET, &query, None).await;
        assert_eq!(status, 200, "{page}");
        paged.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].clone()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let ids: Vec<Value> = whole.iter().map(|d| d["id"].clone()).collect();
    assert_eq!(paged, ids);
    let (status, problem) = app
        .api(Method::GET, &format!("{path}?cursor=not-a-cursor"), None)
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "cursor", "{problem}");
}

async fn forged_zoom_webhooks_are_refused(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let url = app.url(&format!("/zoom/webhooks/{}", app.apps[USER_APP]));
    let body = br#"{"event":"app_deauthorized","payload":{"user_id":"KDcuGIm1QgePTO8WbOqwIQ"}}"#;
    let now = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
    let wrong = meetgate_zoom::sign_webhook(b"not-the-secret", &now, body);
    for (ts, sig) in [
        (now.as_str(), wrong.as_str()),
        (now.as_str(), ""),
        ("1000", wrong.as_str()),
    ] {
        let response = app
            .http
            .post(&url)
            .header("x-zm-request-timestamp", ts)
            .header("x-zm-signature", sig)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    // A validation request must be signed too, and never turns into a signing oracle.
    let secret = b"sbx-user-managed-webhook-secret";
    let validation = br#"{"event":"endpoint.url_validation","payload":{"plainToken":"v0:1:{x"}}"#;
    let sig = meetgate_zoom::sign_webhook(secret, &now, validation);
    let response = app
        .http
        .post(&url)
        .header("x-zm-request-timestamp", &now)
        .header("x-zm-signature", sig)
        .body(validation.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
}

async fn delivered_events_go_after_retention_and_retried_ones_stay(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let up = add_endpoint(&app, &receiver.url).await;
    // Nothing listens on the discard port: every attempt there fails and is retried.
    let down = add_endpoint(&app, "http://127.0.0.1:9/hooks").await;
    app.connect("dr-ada", ADA, USER_APP).await;
    let services = app.services().clone();
    let now = services.clock.now();
    services.deliver_step(now, 50).await.unwrap();
    assert_eq!(receiver.types().await, ["connection.connected"]);
    let log_of = |endpoint: &serde_json::Value| {
        let path = format!(
            "/v1/webhook-endpoints/{}/deliveries",
            endpoint["id"].as_str().unwrap()
        );
        let app = &app;
        async move {
            let (status, log) = app.api(Method::GET, &path, None).await;
            assert_eq!(status, 200, "{log}");
            log["data"].as_array().unwrap().clone()
        }
    };
    assert_eq!(log_of(&up).await.len(), 1);
    assert_eq!(log_of(&down).await[0]["status"], "pending");

    let retention = time::Duration::days(services.config.jobs.event_retention_days as i64);
    meetgate_service::jobs::cleanup(&services, now + retention - time::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(log_of(&up).await.len(), 1, "inside retention");

    meetgate_service::jobs::cleanup(&services, now + retention + time::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(
        log_of(&up).await.len(),
        1,
        "the event stays while a delivery of it is retried"
    );
    assert_eq!(log_of(&down).await[0]["status"], "pending");

    // The endpoint goes away: its pending delivery is dropped, and the next clean-up takes the
    // event and the finished delivery.
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/v1/webhook-endpoints/{}", down["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 204);
    meetgate_service::jobs::cleanup(&services, now + retention + time::Duration::hours(2))
        .await
        .unwrap();
    assert!(log_of(&up).await.is_empty());
    let events = services.store.list_events(app.tenant, None, 10).await;
    assert!(events.unwrap().is_empty());
}

/// A host app that takes connections and never answers holds a delivery for the webhook
/// timeout; the token refreshes (and Zoom's events) run in loops of their own meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_host_app_does_not_hold_back_the_refreshes() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}/hooks", silent.local_addr().unwrap());
    let (accepted_tx, mut accepted) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
            let _ = accepted_tx.send(());
        }
    });
    add_endpoint(&app, &silent_url).await;
    app.connect("idle", ADA, USER_APP).await;
    let services = app.services().clone();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let jobs = tokio::spawn(meetgate_service::jobs::run(services.clone(), stopped));
    tokio::time::timeout(std::time::Duration::from_secs(5), accepted.recv())
        .await
        .expect("the delivery reached the silent host app");

    // While that delivery waits, the idle grant falls due for its refresh.
    let month = std::time::Duration::from_secs(31 * 24 * 3600);
    services.clock.advance(month);
    app.env.control().advance_clock(month).await.unwrap();
    eventually("the refresh runs while the delivery waits", || {
        let app = &app;
        async move { refreshes(&app.counters().await) == 1 }
    })
    .await;
    let _ = stop.send(true);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(15), jobs).await;
}

/// A tenant has at most ten webhook endpoints: each gets every event, and the deliveries of all
/// tenants share one job.
#[tokio::test]
async fn a_tenant_has_at_most_ten_webhook_endpoints() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let mut first = None;
    for _ in 0..10 {
        first.get_or_insert(add_endpoint(&app, &receiver.url).await);
    }
    let (status, problem) = app
        .api(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(json!({ "url": receiver.url })),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "/problems/conflict");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("10 webhook endpoints"),
        "{problem}"
    );
    let id = first.unwrap()["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .api(Method::DELETE, &format!("/v1/webhook-endpoints/{id}"), None)
        .await;
    assert_eq!(status, 204);
    add_endpoint(&app, &receiver.url).await;
}

/// One purge that fails (here its table is gone) is reported, and the others still run.
/// PostgreSQL, where a test can reach behind the store.
#[tokio::test]
async fn a_failing_purge_leaves_the_others_to_run() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    let receiver = Receiver::start().await;
    add_endpoint(&app, &receiver.url).await;
    app.connect("dr-ada", ADA, USER_APP).await;
    let services = app.services().clone();
    let now = services.clock.now();
    services.deliver_step(now, 50).await.unwrap();
    let events = services.store.list_events(app.tenant, None, 10).await;
    assert!(!events.unwrap().is_empty());

    let db = &app.env.database_url;
    meetgate_store_postgres::execute_sql(db, "ALTER TABLE audit_events RENAME TO audit_gone").await;
    let retention = time::Duration::days(
        services
            .config
            .jobs
            .audit_retention_days
            .max(services.config.jobs.event_retention_days) as i64,
    );
    let outcome =
        meetgate_service::jobs::cleanup(&services, now + retention + time::Duration::hours(1))
            .await;
    meetgate_store_postgres::execute_sql(db, "ALTER TABLE audit_gone RENAME TO audit_events").await;
    assert!(outcome.is_err(), "the audit purge's failure is the answer");
    let events = services.store.list_events(app.tenant, None, 10).await;
    assert!(
        events.unwrap().is_empty(),
        "the outbound events went all the same"
    );
}

/// A webhook signed with one app's secret token (which a tenant that registered that app
/// knows) must not touch meetings made through another app, in this tenant or any other.
async fn a_zoom_app_speaks_only_for_its_own_meetings(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    let (status, meeting) = app.create_meeting("dr-ada", json!({})).await;
    assert_eq!(status, 201, "{meeting}");
    let path = format!("/v1/meetings/{}", meeting["id"].as_str().unwrap());
    let zoom_id = meeting["zoom_meeting_id"].as_i64().unwrap().to_string();
    let post = |client_id: &'static str, event: &'static str, event_ts: i64| {
        let (app, zoom_id) = (&app, zoom_id.clone());
        async move {
            let secret = app
                .env
                .world
                .apps
                .iter()
                .find(|a| a.client_id == client_id)
                .unwrap()
                .webhook_secret_token
                .expose()
                .to_owned();
            let body = serde_json::to_vec(&json!({
                "event": event,
                "event_ts": event_ts,
                "payload": {"account_id": "x", "object": {"id": zoom_id, "type": 1}},
            }))
            .unwrap();
            let ts = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
            let response = app
                .http
                .post(app.url(&format!("/zoom/webhooks/{}", app.apps[client_id])))
                .header("x-zm-request-timestamp", &ts)
                .header(
                    "x-zm-signature",
                    meetgate_zoom::sign_webhook(secret.as_bytes(), &ts, &body),
                )
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 204, "{client_id} {event}");
        }
    };
    let status_now = || async { app.api(Method::GET, &path, None).await.1["status"].clone() };
    let now_ms = || (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;

    post(ADMIN_APP, "meeting.ended", now_ms()).await;
    assert_eq!(
        status_now().await,
        "waiting",
        "another app's webhook changed nothing"
    );

    // Its own app: a start dated a thousand years ahead counts as arriving now, so the end
    // that follows still applies.
    post(USER_APP, "meeting.started", 32_503_680_000_000).await;
    assert_eq!(status_now().await, "started");
    post(USER_APP, "meeting.ended", now_ms()).await;
    assert_eq!(status_now().await, "ended");
}

async fn a_deauthorization_retried_after_a_failed_purge_still_purges(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    subscribe(&app, USER_APP).await;
    app.connect("dr-ada", ADA, USER_APP).await;
    let (status, meeting) = app
        .create_meeting("dr-ada", json!({ "topic": "Private" }))
        .await;
    assert_eq!(status, 201, "{meeting}");
    let path = format!("/v1/meetings/{}", meeting["id"].as_str().unwrap());

    // An earlier attempt ended the connection, then failed before it purged the meetings.
    let store = app.services().store.clone();
    let conns = app.stored_connections().await;
    let ended = store
        .end_connection(
            app.tenant,
            conns[0].id,
            meetgate_store::models::ConnectionState::Revoked,
            "the user removed the app in Zoom (app_deauthorized)",
            true,
            app.services().clock.now(),
            meetgate_store::Effects::none(),
        )
        .await
        .unwrap();
    assert!(ended.is_some());
    assert_eq!(
        app.api(Method::GET, &path, None).await.1["topic"],
        "Private"
    );

    app.env.control().deauthorize(ADA, USER_APP).await.unwrap();
    eventually("the retry purges the meeting's details", || async {
        app.api(Method::GET, &path, None).await.1["topic"].is_null()
    })
    .await;
}

/// An endpoint URL comes from a tenant: by default it may not point into meetgate's network.
/// Backend-independent: SQLite only.
#[tokio::test]
async fn webhook_endpoints_inside_meetgates_network_are_refused() {
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, SandboxConfig::default(), |c| {
        c.outbound.allow_private_webhooks = false
    })
    .await
    else {
        return;
    };
    let receiver = Receiver::start().await;
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    for url in [
        receiver.url.as_str(),
        by_name.as_str(),
        "http://169.254.169.254/latest",
    ] {
        let (status, problem) = app
            .api(
                Method::POST,
                "/v1/webhook-endpoints",
                Some(json!({ "url": url })),
            )
            .await;
        assert_eq!(status, 422, "{url}: {problem}");
        assert_eq!(problem["errors"][0]["field"], "url", "{problem}");
        let detail = problem.to_string();
        assert!(
            detail.contains("outbound.allow_private_webhooks"),
            "{detail}"
        );
        // The address a name resolved to is not told: it would map meetgate's network.
        for address in ["127.0.0.1", "169.254.169.254"] {
            assert!(
                !problem["errors"][0]["message"]
                    .as_str()
                    .unwrap()
                    .contains(address),
                "{problem}"
            );
        }
    }

    // Endpoints saved while the setting was on (or whose name has since moved inside) get
    // nothing once it is off: an address fails for good, a name is refused at each attempt.
    let lenient = app
        .env
        .instance(|c| c.outbound.allow_private_webhooks = true)
        .await;
    let mut ids = Vec::new();
    for url in [receiver.url.as_str(), by_name.as_str()] {
        let (status, endpoint) = app
            .api_on(
                &lenient,
                Method::POST,
                "/v1/webhook-endpoints",
                Some(json!({ "url": url })),
                None,
            )
            .await;
        assert_eq!(status, 201, "{endpoint}");
        ids.push(endpoint["id"].as_str().unwrap().to_owned());
    }
    app.connect("dr-ada", ADA, USER_APP).await;
    let services = app.services().clone();
    services
        .deliver_step(services.clock.now(), 50)
        .await
        .unwrap();
    assert!(
        receiver.received.lock().await.is_empty(),
        "nothing reached loopback"
    );
    let delivery = |id: &str| {
        let (app, path) = (&app, format!("/v1/webhook-endpoints/{id}/deliveries"));
        async move { app.api(Method::GET, &path, None).await.1["data"][0].clone() }
    };
    let by_address = delivery(&ids[0]).await;
    assert_eq!(by_address["status"], "failed", "{by_address}");
    assert!(
        by_address["last_error"]
            .as_str()
            .unwrap()
            .contains("outbound.allow_private_webhooks")
    );
    let by_name = delivery(&ids[1]).await;
    assert_eq!(by_name["status"], "pending", "{by_name}");
    assert!(
        by_name["last_error"]
            .as_str()
            .unwrap()
            .contains("resolves only to private"),
        "{by_name}"
    );
}

/// An event that cannot be processed (here: a payload no key opens) is retried for three days,
/// then abandoned and purged with the processed ones; a deauthorization is never abandoned.
async fn an_event_that_keeps_failing_is_abandoned_unless_it_is_a_deauthorization(backend: Backend) {
    use meetgate_service::domain::INBOX_GIVE_UP_AFTER;
    use meetgate_store::models::InboxItem;

    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let services = app.services().clone();
    let now = services.clock.now();
    let poison = |event: &str, received_at: time::OffsetDateTime| InboxItem {
        id: meetgate_store::InboxItemId::new(),
        zoom_app_id: app.apps[USER_APP],
        dedup_key: format!("poison:{}", uuid::Uuid::new_v4()),
        event_type: event.into(),
        payload: meetgate_store::SealedValue(b"sealed by a key nobody has".to_vec()),
        event_at: received_at,
        received_at,
        processed_at: None,
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
    };
    let long_ago = now - INBOX_GIVE_UP_AFTER - time::Duration::hours(1);
    let old_end = poison("meeting.ended", long_ago);
    let old_deauth = poison("app_deauthorized", long_ago);
    let recent_end = poison("meeting.ended", now - time::Duration::hours(1));
    for item in [&old_end, &old_deauth, &recent_end] {
        assert!(services.store.insert_inbox_item(item).await.unwrap());
    }
    assert_eq!(services.inbox_step(now, 10).await.unwrap(), 3);

    let due_later: Vec<_> = services
        .store
        .claim_inbox_items(
            now + time::Duration::days(1),
            time::Duration::minutes(1),
            10,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.id, i.last_error.is_some()))
        .collect();
    assert_eq!(
        due_later.len(),
        2,
        "the old meeting event is given up, the rest retried: {due_later:?}"
    );
    assert!(due_later.contains(&(old_deauth.id, true)));
    assert!(due_later.contains(&(recent_end.id, true)));
    assert_eq!(
        services
            .store
            .purge_inbox(now + time::Duration::days(8))
            .await
            .unwrap(),
        1,
        "the abandoned event is purged with the processed ones"
    );
}

/// A deauthorization retried after the user connected again (its first attempts failed) ends
/// nothing: the grant Zoom ended is not the one meetgate now holds.
async fn a_late_deauthorization_spares_a_grant_made_after_it(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    let services = app.services().clone();
    let conn = app.stored_connections().await.remove(0);
    let removed_at = conn.connected_at.unwrap() - time::Duration::minutes(5);
    let item = sealed_deauthorization(&app, &conn, removed_at);
    let now = services.clock.now();
    assert!(services.store.insert_inbox_item(&item).await.unwrap());
    assert_eq!(services.inbox_step(now, 10).await.unwrap(), 1);
    let (_, connection) = app
        .api(Method::GET, "/v1/users/dr-ada/connection", None)
        .await;
    assert_eq!(connection["state"], "connected", "{connection}");
    let (status, meeting) = app.create_meeting("dr-ada", json!({})).await;
    assert_eq!(status, 201, "{meeting}");
}

/// The same late deauthorization, with meetings on both sides of it: those made under the
/// grant Zoom ended lose their details (an earlier attempt may have ended the grant and failed
/// before its purge); those made since the user connected again keep theirs.
async fn a_late_deauthorization_purges_only_the_older_grants_meetings(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    let (status, before) = app
        .create_meeting("dr-ada", json!({ "client_label": "Before" }))
        .await;
    assert_eq!(status, 201, "{before}");
    let services = app.services().clone();
    services.clock.advance(std::time::Duration::from_secs(600));
    let removed_at = services.clock.now();
    services.clock.advance(std::time::Duration::from_secs(600));
    app.connect("dr-ada", ADA, USER_APP).await;
    let (status, after) = app
        .create_meeting("dr-ada", json!({ "client_label": "After" }))
        .await;
    assert_eq!(status, 201, "{after}");

    let conn = app.stored_connections().await.remove(0);
    let item = sealed_deauthorization(&app, &conn, removed_at);
    assert!(services.store.insert_inbox_item(&item).await.unwrap());
    assert_eq!(
        services.inbox_step(services.clock.now(), 10).await.unwrap(),
        1
    );
    for (meeting, label) in [(&before, json!(null)), (&after, json!("After"))] {
        let path = format!("/v1/meetings/{}", meeting["id"].as_str().unwrap());
        let (_, stored) = app.api(Method::GET, &path, None).await;
        assert_eq!(stored["client_label"], label, "{stored}");
    }
    let (_, connection) = app
        .api(Method::GET, "/v1/users/dr-ada/connection", None)
        .await;
    assert_eq!(connection["state"], "connected", "{connection}");
}

/// An `app_deauthorized` for `conn`'s Zoom user sent at `removed_at`, as the inbox holds it
/// after three failed attempts.
fn sealed_deauthorization(
    app: &TestApp,
    conn: &meetgate_store::models::Connection,
    removed_at: time::OffsetDateTime,
) -> meetgate_store::models::InboxItem {
    let services = app.services();
    let body = json!({
        "event": "app_deauthorized",
        "event_ts": removed_at.unix_timestamp() * 1000,
        "payload": { "user_id": conn.zoom_user_id, "account_id": conn.zoom_account_id },
    })
    .to_string();
    let id = meetgate_store::InboxItemId::new();
    meetgate_store::models::InboxItem {
        id,
        zoom_app_id: app.apps[USER_APP],
        dedup_key: format!("late:{id}"),
        event_type: "app_deauthorized".into(),
        payload: services
            .vault
            .seal(
                meetgate_store::SealedColumn::InboxPayload,
                None,
                &id.to_string(),
                body.as_bytes(),
            )
            .unwrap(),
        event_at: removed_at,
        received_at: removed_at,
        processed_at: None,
        attempts: 3,
        next_attempt_at: services.clock.now(),
        last_error: Some("an earlier attempt failed".into()),
    }
}

/// `jobs.webhook_max_attempts` is the number of sends, not one fewer.
async fn a_delivery_is_tried_exactly_webhook_max_attempts_times(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, SandboxConfig::default(), |c| {
        c.jobs.webhook_max_attempts = 3
    })
    .await
    else {
        return;
    };
    // Nothing listens on the discard port: every send fails.
    let down = add_endpoint(&app, "http://127.0.0.1:9/hooks").await;
    app.connect("dr-ada", ADA, USER_APP).await;
    let services = app.services().clone();
    let mut now = services.clock.now();
    for _ in 0..6 {
        services.deliver_step(now, 50).await.unwrap();
        // Past the longest back-off with its jitter.
        now += time::Duration::hours(15);
    }
    let path = format!(
        "/v1/webhook-endpoints/{}/deliveries",
        down["id"].as_str().unwrap()
    );
    let (_, log) = app.api(Method::GET, &path, None).await;
    assert_eq!(log["data"][0]["status"], "failed", "{log}");
    assert_eq!(log["data"][0]["attempts"], 3, "{log}");
}

/// The user removes the app in Zoom while meetgate waits for Zoom to create a meeting: the
/// deauthorization purges what meetgate holds, and the create must not add to it afterwards.
async fn a_deauthorization_during_a_create_leaves_no_meeting_behind(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    subscribe(&app, USER_APP).await;
    app.connect("dr-ada", ADA, USER_APP).await;
    app.fault(
        meetgate_sandbox::FaultKind::TimeoutAfterWork { hold_ms: 1500 },
        "meetings.create",
        1,
    )
    .await;
    let create = app.create_meeting("dr-ada", json!({ "topic": "Private" }));
    let deauthorize = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        app.env.control().deauthorize(ADA, USER_APP).await.unwrap();
    };
    let ((status, problem), ()) = tokio::join!(create, deauthorize);
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "/problems/needs-reauth", "{problem}");
    let (_, listed) = app
        .api(Method::GET, "/v1/users/dr-ada/meetings", None)
        .await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(0), "{listed}");
}

/// The signatures of each message the receiver got since `from`, checked against `secrets`: every
/// message must carry exactly one signature per secret, in that order.
async fn assert_signed_by(receiver: &Receiver, from: usize, secrets: &[&str]) -> usize {
    let received = receiver.received.lock().await;
    assert!(received.len() > from, "a new delivery arrived");
    for (headers, body) in &received[from..] {
        let id = headers["webhook-id"].to_str().unwrap();
        let ts: i64 = headers["webhook-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let header = headers["webhook-signature"].to_str().unwrap();
        let expected: Vec<String> = secrets
            .iter()
            .map(|s| standard_webhook_signature(s, id, ts, body).unwrap())
            .collect();
        assert_eq!(header, expected.join(" "));
    }
    received.len()
}

async fn a_rotated_secret_signs_beside_the_old_one_until_it_expires(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let endpoint = add_endpoint(&app, &receiver.url).await;
    let first = endpoint["secret"].as_str().unwrap().to_owned();
    let rotate = format!(
        "/v1/webhook-endpoints/{}/rotate-secret",
        endpoint["id"].as_str().unwrap()
    );
    app.connect("dr-ada", ADA, USER_APP).await;
    let services = app.services().clone();
    let now = services.clock.now();

    // No body: the old secret keeps signing for 24 hours.
    let (status, rotated) = app.api(Method::POST, &rotate, None).await;
    assert_eq!(status, 200, "{rotated}");
    let second = rotated["secret"].as_str().unwrap().to_owned();
    assert!(second.starts_with("whsec_") && second != first, "{rotated}");
    let until = time::OffsetDateTime::parse(
        rotated["previous_secret_expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!((until - now - time::Duration::hours(24)).abs() < time::Duration::minutes(1));
    let (_, listed) = app.api(Method::GET, "/v1/webhook-endpoints", None).await;
    assert!(listed[0].get("secret").is_none(), "{listed}");
    assert_eq!(
        listed[0]["previous_secret_expires_at"],
        rotated["previous_secret_expires_at"]
    );

    services.deliver_step(now, 50).await.unwrap();
    let seen = assert_signed_by(&receiver, 0, &[&second, &first]).await;

    // Past the deadline only the new secret signs, even before the clean-up forgets the old one.
    let later = now + time::Duration::hours(25);
    let (status, _) = app.create_meeting("dr-ada", json!({})).await;
    assert_eq!(status, 201);
    services.deliver_step(later, 50).await.unwrap();
    let seen = assert_signed_by(&receiver, seen, &[&second]).await;
    meetgate_service::jobs::cleanup(&services, later)
        .await
        .unwrap();
    let (_, listed) = app.api(Method::GET, "/v1/webhook-endpoints", None).await;
    assert!(
        listed[0]["previous_secret_expires_at"].is_null(),
        "{listed}"
    );

    // A leaked secret: stop signing with it at once.
    let (status, rotated) = app
        .api(
            Method::POST,
            &rotate,
            Some(json!({ "keep_previous_secs": 0 })),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let third = rotated["secret"].as_str().unwrap().to_owned();
    assert!(rotated["previous_secret_expires_at"].is_null(), "{rotated}");
    let (status, _) = app.create_meeting("dr-ada", json!({})).await;
    assert_eq!(status, 201);
    services.deliver_step(later, 50).await.unwrap();
    assert_signed_by(&receiver, seen, &[&third]).await;

    // Refusals say what to fix and change nothing.
    let (status, problem) = app
        .api(
            Method::POST,
            &rotate,
            Some(json!({ "keep_previous_secs": 604_801 })),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        problem["errors"][0]["field"], "keep_previous_secs",
        "{problem}"
    );
    let (status, problem) = app
        .api(Method::POST, &rotate, Some(json!({ "keep": 60 })))
        .await;
    assert_eq!(status, 422, "{problem}");
    let (status, problem) = app
        .api(
            Method::POST,
            &format!(
                "/v1/webhook-endpoints/{}/rotate-secret",
                uuid::Uuid::now_v7()
            ),
            None,
        )
        .await;
    assert_eq!(status, 404, "{problem}");
    let (_, audit) = app
        .api(
            Method::GET,
            "/v1/audit-events?action=webhook_endpoint.secret_rotated",
            None,
        )
        .await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 2, "{audit}");
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/v1/webhook-endpoints/{}", endpoint["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, problem) = app.api(Method::POST, &rotate, None).await;
    assert_eq!(status, 404, "{problem}");
}

/// While the app's webhook secret is being rotated, Zoom signs with the one it holds, which may
/// be the next one: its URL validation passes only when answered with that same secret.
async fn url_validation_is_answered_with_the_secret_that_signed_it(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let services = app.services();
    let id = app.apps[USER_APP];
    let mut zoom_app = services.store.get_zoom_app(id).await.unwrap().unwrap();
    let next = "the-next-webhook-secret";
    zoom_app.webhook_secret_next = Some(
        services
            .vault
            .seal_str(
                SealedColumn::ZoomAppWebhookSecretNext,
                zoom_app.tenant_id,
                &id.to_string(),
                next,
            )
            .unwrap(),
    );
    services
        .store
        .update_zoom_app(&zoom_app, meetgate_store::Effects::none())
        .await
        .unwrap();
    let current = "sbx-user-managed-webhook-secret";
    let plain = "qgg8vlvZRS6UYooatFL8Aw";
    let body = json!({"event": "endpoint.url_validation", "payload": {"plainToken": plain}, "event_ts": 1})
        .to_string();
    for secret in [current, next] {
        let ts = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
        let response = app
            .http
            .post(app.url(&format!("/zoom/webhooks/{id}")))
            .header("x-zm-request-timestamp", &ts)
            .header(
                "x-zm-signature",
                meetgate_zoom::sign_webhook(secret.as_bytes(), &ts, body.as_bytes()),
            )
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "signed with {secret}");
        let answer: Value = response.json().await.unwrap();
        let expected = meetgate_zoom::url_validation_response(secret.as_bytes(), plain).unwrap();
        assert_eq!(answer, expected, "signed with {secret}");
    }
}
