use std::time::Duration;

use meetgate_sandbox::FaultKind;
use meetgate_store::SealedColumn;
use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::support::*;

both_backends!(
    fifty_concurrent_requests_on_an_expired_token_refresh_once,
    a_lost_rotation_needs_reauth_once_and_spares_others,
    swapped_ciphertexts_fail_instead_of_using_the_other_token,
    background_job_keeps_idle_grants_alive,
    a_start_link_dropped_mid_refresh_still_stores_the_rotated_token,
    zooms_older_answer_to_a_dead_refresh_token_also_needs_reauth,
    a_disconnect_waits_for_the_refresh_in_flight,
    a_disconnect_revokes_with_a_live_access_token_and_says_when_zoom_refuses,
    a_refresh_in_doubt_is_not_repeated_while_it_could_land
);

/// Zoom's token endpoint answers the next call `ms` late.
async fn hold_next_token_call(app: &TestApp, ms: u64) {
    app.fault(FaultKind::Latency { ms }, "oauth.token", 1).await;
}

/// Moves both clocks past the access token's hour.
async fn expire_tokens(app: &TestApp) {
    app.services().clock.advance(Duration::from_secs(3700));
    app.env
        .control()
        .advance_clock(Duration::from_secs(3700))
        .await
        .unwrap();
}

async fn fifty_concurrent_requests_on_an_expired_token_refresh_once(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("clinician", ADA, USER_APP).await;
    expire_tokens(&app).await;
    app.env.control().reset_counters().await.unwrap();

    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.create_meeting("clinician", json!({ "topic": format!("session {i}") }))
                .await
        }));
    }
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 201, "{body}");
    }
    let counters = app.counters().await;
    assert_eq!(refreshes(&counters), 1, "{counters:?}");
    assert_eq!(invalid_grants(&counters), 0);
    assert_eq!(counters.meetings_created.values().sum::<u64>(), 50);
}

async fn a_lost_rotation_needs_reauth_once_and_spares_others(backend: Backend) {
    let Some(app) = TestApp::spawn_impatient(backend).await else {
        return;
    };
    app.connect("lost", ADA, USER_APP).await;
    app.connect("other", GRACE, USER_APP).await;
    expire_tokens(&app).await;
    // Zoom rotates the refresh token, but its answer never reaches meetgate.
    app.fault(
        FaultKind::TimeoutAfterWork { hold_ms: 2500 },
        "oauth.token",
        1,
    )
    .await;
    let (status, problem) = app.create_meeting("lost", json!({})).await;
    assert_eq!(status, 502, "{problem}");
    assert_eq!(problem["type"], "/problems/zoom-unavailable");

    // The next attempt uses the stored (now dead) refresh token: needs_reauth, once. (The
    // attempt before it recorded its failure, so nobody waits for it to land.)
    let (status, problem) = app.create_meeting("lost", json!({})).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "/problems/needs-reauth");
    let (status, again) = app.create_meeting("lost", json!({})).await;
    assert_eq!(status, 409, "{again}");
    let counters = app.counters().await;
    assert_eq!(
        invalid_grants(&counters),
        1,
        "no retry loop against Zoom: {counters:?}"
    );
    let (_, conn) = app
        .api(Method::GET, "/v1/users/lost/connection", None)
        .await;
    assert_eq!(conn["state"], "needs_reauth");
    let events = app
        .services()
        .store
        .list_events(app.tenant, None, 100)
        .await
        .unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event_type == "connection.needs_reauth")
            .count(),
        1
    );

    // The other user's grant is untouched.
    let (status, body) = app.create_meeting("other", json!({})).await;
    assert_eq!(status, 201, "{body}");
}

async fn swapped_ciphertexts_fail_instead_of_using_the_other_token(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("ada", ADA, USER_APP).await;
    app.connect("grace", GRACE, USER_APP).await;
    let store = &app.services().store;
    let conns = app.stored_connections().await;
    let ada = conns
        .iter()
        .find(|c| c.zoom_email.as_deref() == Some(ADA))
        .unwrap();
    let grace = conns
        .iter()
        .find(|c| c.zoom_email.as_deref() == Some(GRACE))
        .unwrap();
    let ada_token = ada.access_token.clone().unwrap();
    let grace_token = grace.access_token.clone().unwrap();
    assert!(
        store
            .replace_sealed_cell(
                SealedColumn::ConnectionAccessToken,
                &grace.id.to_string(),
                &grace_token,
                &ada_token
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .replace_sealed_cell(
                SealedColumn::ConnectionAccessToken,
                &ada.id.to_string(),
                &ada_token,
                &grace_token
            )
            .await
            .unwrap()
    );

    let (status, problem) = app.create_meeting("grace", json!({})).await;
    assert_eq!(status, 500, "{problem}");
    assert_eq!(problem["type"], "/problems/internal");
    let (status, _) = app.create_meeting("ada", json!({})).await;
    assert_eq!(status, 500);
    let counters = app.counters().await;
    assert_eq!(
        counters.meetings_created.values().sum::<u64>(),
        0,
        "no call went out with a swapped token"
    );
}

async fn background_job_keeps_idle_grants_alive(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("idle", ADA, USER_APP).await;
    let services = app.services();
    // Nothing is due yet.
    assert_eq!(
        services
            .refresh_due_step(services.clock.now(), 10)
            .await
            .unwrap(),
        0
    );
    // Thirty days later the job refreshes the idle grant once, and then not again.
    services.clock.advance(Duration::from_secs(31 * 24 * 3600));
    app.env
        .control()
        .advance_clock(Duration::from_secs(31 * 24 * 3600))
        .await
        .unwrap();
    assert_eq!(
        services
            .refresh_due_step(services.clock.now(), 10)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        services
            .refresh_due_step(services.clock.now(), 10)
            .await
            .unwrap(),
        0
    );
    assert_eq!(refreshes(&app.counters().await), 1);
    let (status, body) = app.create_meeting("idle", json!({})).await;
    assert_eq!(status, 201, "{body}");
}

/// A holder that marked its refresh and stored nothing (it died, or lost the store's lock and
/// may still be writing): nobody calls Zoom for that grant until the attempt can no longer land
/// (Zoom's timeout plus 10 s); then the next request refreshes.
async fn a_refresh_in_doubt_is_not_repeated_while_it_could_land(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("clinician", ADA, USER_APP).await;
    expire_tokens(&app).await;
    app.env.control().reset_counters().await.unwrap();
    let services = app.services();
    let cid = app.stored_connections().await[0].id;
    let mut lock = services.store.lock_for_refresh(cid).await.unwrap();
    let row = lock.reread().await.unwrap().unwrap();
    lock.mark_refresh_started(
        row.version,
        services.clock.now(),
        time::OffsetDateTime::UNIX_EPOCH,
    )
    .await
    .unwrap();
    lock.release().await.unwrap();

    let response = app
        .http
        .post(app.url("/v1/users/clinician/meetings"))
        .bearer_auth(&app.api_key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let window = services.config.zoom.request_timeout_secs + 10;
    assert!(
        (window - 1..=window).contains(&retry_after),
        "{retry_after}"
    );
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/service-unavailable");
    assert!(
        problem["detail"].as_str().unwrap().contains("refresh"),
        "{problem}"
    );
    assert_eq!(refreshes(&app.counters().await), 0);
    // Nor does a disconnect revoke the refresh token that attempt may have spent.
    let (status, problem) = app
        .api(Method::DELETE, "/v1/users/clinician/connection", None)
        .await;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(
        app.stored_connections().await[0].state.as_str(),
        "connected"
    );

    services.clock.advance(Duration::from_secs(window + 1));
    let (status, body) = app.create_meeting("clinician", json!({})).await;
    assert_eq!(status, 201, "{body}");
    let counters = app.counters().await;
    assert_eq!(refreshes(&counters), 1, "{counters:?}");
    assert_eq!(invalid_grants(&counters), 0);
    assert!(
        app.stored_connections().await[0]
            .refresh_started_at
            .is_none()
    );
}

/// A refresh whose database session (and with it the store's lock) dies while Zoom answers:
/// the holder still stores the rotated tokens, and another replica that takes the lock meanwhile
/// does not refresh with the refresh token Zoom has just rotated out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_that_loses_its_lock_mid_call_still_lands_once() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    app.connect("clinician", ADA, USER_APP).await;
    let second = app.env.instance(|_| {}).await;
    second.services.clock.advance(Duration::from_secs(3700));
    expire_tokens(&app).await;
    app.env.control().reset_counters().await.unwrap();
    hold_next_token_call(&app, 1500).await;

    let app = std::sync::Arc::new(app);
    let first = tokio::spawn({
        let app = app.clone();
        async move { app.create_meeting("clinician", json!({})).await }
    });
    eventually("the refresh is marked", || {
        let app = &app;
        async move {
            app.stored_connections().await[0]
                .refresh_started_at
                .is_some()
        }
    })
    .await;
    let ended =
        meetgate_store_postgres::end_sessions_holding_advisory_locks(&app.env.database_url).await;
    assert_eq!(ended, 1, "the refresh lock's session");

    let path = "/v1/users/clinician/meetings";
    let (status, problem) = app
        .api_on(&second, Method::POST, path, Some(json!({})), None)
        .await;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["type"], "/problems/service-unavailable");

    let (status, body) = first.await.unwrap();
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .api_on(&second, Method::POST, path, Some(json!({})), None)
        .await;
    assert_eq!(status, 201, "{body}");
    let counters = app.counters().await;
    assert_eq!(refreshes(&counters), 1, "{counters:?}");
    assert_eq!(invalid_grants(&counters), 0);
    let conn = &app.stored_connections().await[0];
    assert!(conn.refresh_started_at.is_none() && conn.last_refreshed_at.is_some());
}

/// Three meetgate processes on one PostgreSQL database, fifty requests spread over them: one
/// refresh. (SQLite serves one process; this is PostgreSQL's promise.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_on_postgres_refresh_once() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    app.connect("clinician", ADA, USER_APP).await;
    let second = app.env.instance(|_| {}).await;
    let third = app.env.instance(|_| {}).await;
    for services in [app.services(), &second.services, &third.services] {
        services.clock.advance(Duration::from_secs(3700));
    }
    app.env
        .control()
        .advance_clock(Duration::from_secs(3700))
        .await
        .unwrap();
    app.env.control().reset_counters().await.unwrap();

    let app = std::sync::Arc::new(app);
    let instances = std::sync::Arc::new([second, third]);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (app, instances) = (app.clone(), instances.clone());
        tasks.push(tokio::spawn(async move {
            let path = "/v1/users/clinician/meetings";
            let body = Some(json!({ "topic": format!("s{i}") }));
            match i % 3 {
                0 => app.api(Method::POST, path, body).await,
                n => {
                    app.api_on(&instances[n - 1], Method::POST, path, body, None)
                        .await
                }
            }
        }));
    }
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 201, "{body}");
    }
    let counters = app.counters().await;
    assert_eq!(refreshes(&counters), 1, "{counters:?}");
    assert_eq!(invalid_grants(&counters), 0);
}

/// Zoom rotates the refresh token on every use: a refresh cut off between Zoom's answer and the
/// store's write would kill the grant. A clinician who closes the tab while the start link
/// waits for Zoom must not cut it off.
async fn a_start_link_dropped_mid_refresh_still_stores_the_rotated_token(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("clinician", ADA, USER_APP).await;
    let (status, meeting) = app.create_meeting("clinician", json!({})).await;
    assert_eq!(status, 201, "{meeting}");
    let start_link = meeting["start_link"].as_str().unwrap().to_owned();
    expire_tokens(&app).await;
    app.env.control().reset_counters().await.unwrap();
    hold_next_token_call(&app, 700).await;

    let hasty = app
        .http
        .get(&start_link)
        .timeout(Duration::from_millis(150))
        .send()
        .await;
    assert!(hasty.unwrap_err().is_timeout(), "the browser gave up first");
    eventually("the refresh finishes and is stored", || {
        let app = &app;
        async move {
            let conns = app.stored_connections().await;
            conns[0].last_refreshed_at.is_some() && conns[0].refresh_started_at.is_none()
        }
    })
    .await;
    let counters = app.counters().await;
    assert_eq!(refreshes(&counters), 1, "{counters:?}");

    // The next click uses the stored token.
    let again = app.http.get(&start_link).send().await.unwrap();
    assert!(again.status().is_redirection(), "{}", again.status());
    let counters = app.counters().await;
    assert_eq!(refreshes(&counters), 1, "{counters:?}");
    assert_eq!(invalid_grants(&counters), 0);
    let (_, conn) = app
        .api(Method::GET, "/v1/users/clinician/connection", None)
        .await;
    assert_eq!(conn["state"], "connected");
}

/// At shutdown the store closes only after the refreshes in flight stored what Zoom answered,
/// and no refresh starts after that. Domain code: SQLite only.
#[tokio::test]
async fn shutdown_waits_for_refreshes_in_flight_and_starts_none() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    app.connect("clinician", ADA, USER_APP).await;
    expire_tokens(&app).await;
    hold_next_token_call(&app, 700).await;
    let app = std::sync::Arc::new(app);
    let create = {
        let app = app.clone();
        tokio::spawn(async move { app.create_meeting("clinician", json!({})).await })
    };
    tokio::time::sleep(Duration::from_millis(250)).await;
    let services = app.services();
    assert!(services.drain_refreshes(Duration::from_secs(10)).await);
    let conns = app.stored_connections().await;
    assert!(
        conns[0].last_refreshed_at.is_some() && conns[0].refresh_started_at.is_none(),
        "stored before the drain returned"
    );
    let (status, body) = create.await.unwrap();
    assert_eq!(status, 201, "{body}");

    expire_tokens(&app).await;
    let (status, problem) = app.create_meeting("clinician", json!({})).await;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["type"], "/problems/service-unavailable");
    assert_eq!(
        refreshes(&app.counters().await),
        1,
        "no refresh after the drain"
    );
}

/// The background step refreshes due grants side by side: one held at Zoom does not keep the
/// others waiting. Domain code: SQLite only.
#[tokio::test]
async fn a_grant_held_at_zoom_does_not_hold_the_other_background_refreshes() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    for (user, email) in [("a", ADA), ("b", GRACE)] {
        app.connect(user, email, USER_APP).await;
    }
    let month = Duration::from_secs(31 * 24 * 3600);
    app.services().clock.advance(month);
    app.env.control().advance_clock(month).await.unwrap();
    app.env.control().reset_counters().await.unwrap();
    // The first token call is held for longer than the test waits for the other one (2 s),
    // and shorter than meetgate's timeout (5 s in tests).
    hold_next_token_call(&app, 4500).await;
    let services = app.services().clone();
    let step = tokio::spawn(async move {
        services
            .refresh_due_step(services.clock.now(), 10)
            .await
            .unwrap()
    });
    let mut other_done = false;
    for _ in 0..40 {
        if refreshes(&app.counters().await) == 1 {
            other_done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        other_done,
        "the other grant was refreshed while the first was held"
    );
    assert!(!step.is_finished(), "the held refresh is still at Zoom");
    assert_eq!(step.await.unwrap(), 2);
    assert_eq!(refreshes(&app.counters().await), 2);
}

/// Zoom has also answered a dead refresh token with `invalid_request` and HTTP 401 (ZOOM.md:
/// CONFLICT): that too ends the grant, instead of counting as an outage.
async fn zooms_older_answer_to_a_dead_refresh_token_also_needs_reauth(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("ada", ADA, USER_APP).await;
    expire_tokens(&app).await;
    app.fault(
        FaultKind::ZoomError {
            status: 401,
            code: None,
            error: Some("invalid_request".into()),
            message: "Invalid Token!".into(),
        },
        "oauth.token",
        1,
    )
    .await;
    let (status, problem) = app.create_meeting("ada", json!({})).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "/problems/needs-reauth");
    let (_, conn) = app.api(Method::GET, "/v1/users/ada/connection", None).await;
    assert_eq!(conn["state"], "needs_reauth");
}

/// A disconnect while a refresh waits for Zoom: Zoom is about to rotate the refresh token, so
/// the disconnect waits for the refresh and revokes the token Zoom then holds. The one read
/// before is dead by then ("Invalid Token!"): revoking it would leave the grant alive at Zoom
/// with meetgate no longer holding it.
async fn a_disconnect_waits_for_the_refresh_in_flight(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("clinician", ADA, USER_APP).await;
    expire_tokens(&app).await;
    hold_next_token_call(&app, 700).await;
    let create = app.create_meeting("clinician", json!({}));
    let disconnect = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.api(Method::DELETE, "/v1/users/clinician/connection", None)
            .await
    };
    let ((created, body), (disconnected, conn)) = tokio::join!(create, disconnect);
    assert!([201, 409].contains(&created), "{created} {body}");
    assert_eq!(disconnected, 200, "{conn}");
    assert_eq!(conn["state"], "revoked", "{conn}");
    // The refresh was served first, then its grant revoked.
    let grants = app.env.control().grants().await.unwrap();
    let grant = grants
        .iter()
        .find(|g| g.client_id == USER_APP && g.user_id.is_some())
        .unwrap();
    assert_eq!(grant.refreshes, 1, "{grants:?}");
    assert_eq!(grant.state, "revoked", "{grants:?}");
    assert_eq!(invalid_grants(&app.counters().await), 0);

    // Disconnecting again answers the same and records nothing more.
    let (status, again) = app
        .api(Method::DELETE, "/v1/users/clinician/connection", None)
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["state"], "revoked", "{again}");
    let (_, audit) = app
        .api(
            Method::GET,
            "/v1/audit-events?action=connection.revoked",
            None,
        )
        .await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 1, "{audit}");
}

/// Zoom's revoke takes the access token. A disconnect after the stored one expired refreshes
/// first and revokes the fresh one, so the grant ends at Zoom; a revoke Zoom refuses is
/// recorded as such, and the connection ends in meetgate all the same.
async fn a_disconnect_revokes_with_a_live_access_token_and_says_when_zoom_refuses(
    backend: Backend,
) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("ada", ADA, USER_APP).await;
    app.connect("grace", GRACE, USER_APP).await;
    app.connect("barbara", BARBARA, USER_APP).await;
    expire_tokens(&app).await;
    // Each user's grant at the sandbox, found by the Zoom user meetgate connected.
    let mut zoom_users = std::collections::HashMap::new();
    for who in ["ada", "grace", "barbara"] {
        let (_, conn) = app
            .api(Method::GET, &format!("/v1/users/{who}/connection"), None)
            .await;
        zoom_users.insert(who, conn["zoom_user_id"].as_str().unwrap().to_owned());
    }
    let grant_of = |grants: Vec<meetgate_sandbox::GrantInfo>, who: &str| {
        grants
            .into_iter()
            .find(|g| g.client_id == USER_APP && g.user_id.as_ref() == Some(&zoom_users[who]))
            .unwrap()
    };
    // Expired at Zoom: refreshed once, then revoked with the new access token.
    let (status, conn) = app
        .api(Method::DELETE, "/v1/users/ada/connection", None)
        .await;
    assert_eq!(status, 200, "{conn}");
    assert_eq!(conn["state"], "revoked", "{conn}");
    let grant = grant_of(app.env.control().grants().await.unwrap(), "ada");
    assert_eq!(grant.state, "revoked", "{grant:?}");
    assert_eq!(grant.refreshes, 1, "{grant:?}");
    assert_eq!(app.counters().await.calls("oauth.revoke", 200), 1);
    let audit = revoked_audit(&app, "ada").await;
    assert_eq!(audit["details"]["revoked_at_zoom"], true, "{audit}");

    // Zoom refuses the revoke: the connection ends here, the audit entry says so.
    app.fault(
        FaultKind::ZoomError {
            status: 400,
            code: None,
            error: Some("invalid_request".into()),
            message: "Invalid Token!".into(),
        },
        "oauth.revoke",
        1,
    )
    .await;
    let (status, conn) = app
        .api(Method::DELETE, "/v1/users/grace/connection", None)
        .await;
    assert_eq!(status, 200, "{conn}");
    assert_eq!(conn["state"], "revoked", "{conn}");
    let audit = revoked_audit(&app, "grace").await;
    assert_eq!(audit["details"]["revoked_at_zoom"], false, "{audit}");
    assert!(
        audit["details"]["zoom_revoke_error"]
            .as_str()
            .unwrap()
            .contains("Invalid Token!"),
        "{audit}"
    );
    let grant = grant_of(app.env.control().grants().await.unwrap(), "grace");
    assert_eq!(grant.state, "live", "the fault kept it alive: {grant:?}");

    // A grant Zoom already ended (its refresh token refused): nothing to revoke, and the
    // connection ends.
    app.fault(
        FaultKind::ZoomError {
            status: 400,
            code: None,
            error: Some("invalid_grant".into()),
            message: "Invalid Token!".into(),
        },
        "oauth.token",
        1,
    )
    .await;
    let (status, conn) = app
        .api(Method::DELETE, "/v1/users/barbara/connection", None)
        .await;
    assert_eq!(status, 200, "{conn}");
    assert_eq!(conn["state"], "revoked", "{conn}");
    let audit = revoked_audit(&app, "barbara").await;
    assert_eq!(audit["details"]["revoked_at_zoom"], false, "{audit}");
    assert_eq!(audit["details"]["zoom_grant"], "already_dead", "{audit}");
}

/// The `connection.revoked` audit entry of a user's connection.
async fn revoked_audit(app: &TestApp, who: &str) -> serde_json::Value {
    let (_, conn) = app
        .api(Method::GET, &format!("/v1/users/{who}/connection"), None)
        .await;
    let (_, audit) = app
        .api(
            Method::GET,
            "/v1/audit-events?action=connection.revoked&order=desc",
            None,
        )
        .await;
    audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["object_id"] == conn["id"])
        .cloned()
        .unwrap_or_else(|| panic!("no connection.revoked for {who}: {audit}"))
}

/// A disconnect writes through the grant's lock, whose database connection it already holds:
/// on a pool as small as two, two disconnects at once each hold one and need no other.
/// PostgreSQL only: SQLite has no pool.
#[tokio::test]
async fn disconnects_hold_one_database_connection_each() {
    let Some(app) = TestApp::spawn_with(
        Backend::Postgres,
        meetgate_sandbox::SandboxConfig::default(),
        |c| c.database_max_connections = 2,
    )
    .await
    else {
        return;
    };
    app.connect("ada", ADA, USER_APP).await;
    app.connect("grace", GRACE, USER_APP).await;
    let (ada, grace) = ("/v1/users/ada/connection", "/v1/users/grace/connection");
    let both = tokio::time::timeout(Duration::from_secs(15), async {
        tokio::join!(
            app.api(Method::DELETE, ada, None),
            app.api(Method::DELETE, grace, None)
        )
    })
    .await
    .expect("both disconnects finish without waiting for a third connection");
    for (status, conn) in [both.0, both.1] {
        assert_eq!(status, 200, "{conn}");
        assert_eq!(conn["state"], "revoked", "{conn}");
    }
}
