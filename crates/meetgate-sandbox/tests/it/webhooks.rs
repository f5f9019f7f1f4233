//! Webhooks reach a real receiver, signed as documented, with Zoom's retry schedule.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxStatus};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use meetgate_sandbox::{Delivery, SandboxConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;
use url::Url;

use crate::common::*;

const SECRET: &str = "sbx-user-managed-webhook-secret";

#[derive(Clone)]
struct Seen {
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone)]
struct Receiver {
    url: Url,
    seen: Arc<Mutex<Vec<Seen>>>,
    answer_validation_wrong: Arc<AtomicBool>,
}

#[derive(Clone)]
struct RecvState {
    secret: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    fail_events: Arc<AtomicUsize>,
    answer_validation_wrong: Arc<AtomicBool>,
    delay: Duration,
}

fn hmac_hex(key: &str, msg: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).expect("key");
    mac.update(msg);
    hex::encode(mac.finalize().into_bytes())
}

/// Verifies `x-zm-signature` the documented way: v0=hex(HMAC-SHA256(secret, "v0:{ts}:{body}")).
fn verify(secret: &str, seen: &Seen) -> bool {
    let ts = seen.headers["x-zm-request-timestamp"].to_str().expect("ts");
    let sig = seen.headers["x-zm-signature"].to_str().expect("sig");
    let mut msg = format!("v0:{ts}:").into_bytes();
    msg.extend_from_slice(&seen.body);
    sig == format!("v0={}", hmac_hex(secret, &msg))
}

async fn receive(State(st): State<RecvState>, headers: HeaderMap, body: Bytes) -> Response {
    st.seen.lock().expect("lock").push(Seen {
        headers,
        body: body.clone(),
    });
    let v: Value = serde_json::from_slice(&body).expect("JSON body");
    if v["event"] == "endpoint.url_validation" {
        let plain = v["payload"]["plainToken"].as_str().expect("plainToken");
        let key = if st.answer_validation_wrong.load(Ordering::SeqCst) {
            "wrong"
        } else {
            st.secret.as_str()
        };
        return axum::Json(
            json!({"plainToken": plain, "encryptedToken": hmac_hex(key, plain.as_bytes())}),
        )
        .into_response();
    }
    if !st.delay.is_zero() {
        tokio::time::sleep(st.delay).await;
    }
    if st
        .fail_events
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return AxStatus::INTERNAL_SERVER_ERROR.into_response();
    }
    if v["payload"]["object"]["topic"] == "Answers 202" {
        return AxStatus::ACCEPTED.into_response();
    }
    AxStatus::OK.into_response()
}

async fn receiver(fail_events: usize, answer_validation_wrong: bool, delay: Duration) -> Receiver {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let answer_validation_wrong = Arc::new(AtomicBool::new(answer_validation_wrong));
    let st = RecvState {
        secret: SECRET.into(),
        seen: seen.clone(),
        fail_events: Arc::new(AtomicUsize::new(fail_events)),
        answer_validation_wrong: answer_validation_wrong.clone(),
        delay,
    };
    let app = axum::Router::new()
        .route("/zoom/webhooks", axum::routing::post(receive))
        .with_state(st);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver {
        url: Url::parse(&format!("http://{addr}/zoom/webhooks")).expect("url"),
        seen,
        answer_validation_wrong,
    }
}

impl Receiver {
    fn events(&self) -> Vec<(Value, Seen)> {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .map(|s| (serde_json::from_slice(&s.body).expect("json"), s.clone()))
            .collect()
    }

    fn named(&self, event: &str) -> Vec<(Value, Seen)> {
        self.events()
            .into_iter()
            .filter(|(v, _)| v["event"] == event)
            .collect()
    }
}

/// Points the user-managed app's endpoint at `r`, which passes the validation.
async fn subscribe(s: &Sbx, r: &Receiver) {
    let validation = s
        .ctl
        .set_app_webhook(USER_APP.0, &r.url)
        .await
        .expect("webhook");
    assert!(validation.validated, "{validation:?}");
}

async fn delivered(s: &Sbx, ids: &[u64]) -> Vec<Delivery> {
    let mut out = Vec::new();
    for id in ids {
        out.push(
            s.ctl
                .wait_for_delivery(*id, Duration::from_secs(10))
                .await
                .expect("delivery"),
        );
    }
    out
}

async fn wait_state(s: &Sbx, id: u64, state: &str, attempts: usize) -> Delivery {
    for _ in 0..400 {
        let d = s
            .ctl
            .webhook_deliveries()
            .await
            .expect("deliveries")
            .into_iter()
            .find(|d| d.id == id)
            .expect("delivery");
        if d.state == state && d.attempts.len() == attempts {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("delivery {id} never reached {state} after {attempts} attempts");
}

#[tokio::test]
async fn signed_events_reach_the_receiver() {
    let s = start().await;
    let r = receiver(0, false, Duration::ZERO).await;
    subscribe(&s, &r).await;
    let validation = r.named("endpoint.url_validation");
    assert_eq!(validation.len(), 1);
    assert!(
        verify(SECRET, &validation[0].1),
        "url_validation is signed too"
    );

    let t = s.user_tokens(USER_APP, ADA).await;
    let m = s
        .create_meeting(&t.access, "me", json!({"topic": "Webhook room"}))
        .await;
    let id = m["id"].as_i64().expect("id");
    let started = s.ctl.start_meeting(id).await.expect("start");
    assert_eq!(started.status, "started");
    assert_eq!(started.deliveries.len(), 1);
    let joined = s
        .ctl
        .participant_joined(id, "Pat Patient")
        .await
        .expect("join");
    let ended = s.ctl.end_meeting(id).await.expect("end");
    let all: Vec<u64> = [started.deliveries, joined.deliveries, ended.deliveries].concat();
    for d in delivered(&s, &all).await {
        assert_eq!(d.state, "delivered", "{d:?}");
    }

    let (body, seen) = r.named("meeting.started").pop().expect("meeting.started");
    assert!(verify(SECRET, &seen));
    assert!(!verify("another-secret", &seen));
    let ts: i64 = seen.headers["x-zm-request-timestamp"]
        .to_str()
        .expect("ts")
        .parse()
        .expect("int");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((now - ts).abs() < 60, "timestamp is real time");
    assert_eq!(
        body["payload"]["object"]["id"],
        json!(id.to_string()),
        "object.id is a string"
    );
    assert_eq!(body["payload"]["object"]["host_id"], ADA_ID);
    assert_eq!(body["payload"]["account_id"], RIVERSIDE);
    assert!(body["event_ts"].is_i64());
    let (body, seen) = r.named("meeting.participant_joined").pop().expect("joined");
    assert!(verify(SECRET, &seen));
    assert_eq!(
        body["payload"]["object"]["participant"]["user_name"],
        "Pat Patient"
    );
    let (body, _) = r.named("meeting.ended").pop().expect("ended");
    assert!(body["payload"]["object"]["end_time"].is_string());

    // Grace never authorized the app: nothing is sent about her meetings.
    let admin = s.s2s_token().await;
    let hers = s.create_meeting(&admin, GRACE, json!({})).await;
    let started = s
        .ctl
        .start_meeting(hers["id"].as_i64().expect("id"))
        .await
        .expect("start");
    assert!(started.deliveries.is_empty());

    // The room page starts meetings too, and the app hears about it.
    let m = s
        .create_meeting(&t.access, "me", json!({"topic": "Via page"}))
        .await;
    let resp = s
        .http
        .get(m["start_url"].as_str().expect("start_url"))
        .send()
        .await
        .expect("start page");
    assert_eq!(resp.status(), StatusCode::OK);
    for _ in 0..200 {
        if r.named("meeting.started").len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(r.named("meeting.started").len(), 2);

    // Zoom counts only 200 and 204 as delivered: a 202 is a final failure, not retried.
    let odd = s
        .create_meeting(&t.access, "me", json!({"topic": "Answers 202"}))
        .await;
    let started = s
        .ctl
        .start_meeting(odd["id"].as_i64().expect("id"))
        .await
        .expect("start");
    let d = wait_state(&s, started.deliveries[0], "failed", 1).await;
    assert_eq!(d.attempts.len(), 1);
    assert_eq!(d.attempts[0].status, Some(202));
}

#[tokio::test]
async fn deauthorization_sends_app_deauthorized_and_kills_tokens() {
    let s = start().await;
    let r = receiver(0, false, Duration::ZERO).await;
    subscribe(&s, &r).await;
    let t = s.user_tokens(USER_APP, ADA).await;
    let affected = s
        .ctl
        .deauthorize(ADA, USER_APP.0)
        .await
        .expect("deauthorize");
    assert_eq!(affected.grants, 1);
    delivered(&s, &affected.deliveries).await;
    let (body, seen) = r.named("app_deauthorized").pop().expect("app_deauthorized");
    assert!(verify(SECRET, &seen));
    let p = &body["payload"];
    assert_eq!(p["user_id"], ADA_ID);
    assert_eq!(p["account_id"], RIVERSIDE);
    assert_eq!(p["client_id"], USER_APP.0);
    assert!(p["deauthorization_time"].is_string());
    assert!(p["event_ts"].is_string() && body["event_ts"].is_i64());
    let (status, err) = s.api(Method::GET, "users/me", &t.access, None).await;
    assert_eq!(
        (status, err["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!(124))
    );
    let (status, err) = s
        .token_request(
            USER_APP,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &t.refresh),
            ],
        )
        .await;
    assert_eq!(
        (status, err["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_grant"))
    );
    // Not installed any more.
    assert!(s.ctl.deauthorize(ADA, USER_APP.0).await.is_err());
}

#[tokio::test]
async fn removing_the_app_on_the_account_page_deauthorizes_it() {
    let s = start().await;
    let r = receiver(0, false, Duration::ZERO).await;
    subscribe(&s, &r).await;
    let t = s.user_tokens(USER_APP, GRACE).await;

    let page = s
        .http
        .get(s.url("account/apps"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("Sign in"));
    let resp = s
        .http
        .post(s.url("account/signin"))
        .form(&[("email", GRACE), ("password", PASSWORD)])
        .send()
        .await
        .expect("sign in");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let page = s
        .http
        .get(s.url("account/apps"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains(USER_APP.0), "{page}");
    let resp = s
        .http
        .post(s.url(&format!("account/apps/{}/remove", USER_APP.0)))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("remove");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let page = s
        .http
        .get(s.url("account/apps"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("no installed apps"), "{page}");
    let (status, _) = s.api(Method::GET, "users/me", &t.access, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for _ in 0..200 {
        if !r.named("app_deauthorized").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (body, seen) = r.named("app_deauthorized").pop().expect("app_deauthorized");
    assert!(verify(SECRET, &seen));
    assert_eq!(body["payload"]["user_id"], GRACE_ID);
}

#[tokio::test]
async fn failed_deliveries_follow_zooms_retry_schedule() {
    let s = start().await;
    let r = receiver(2, false, Duration::ZERO).await;
    subscribe(&s, &r).await;
    let t = s.user_tokens(USER_APP, ADA).await;
    let m = s.create_meeting(&t.access, "me", json!({})).await;
    let ev = s
        .ctl
        .start_meeting(m["id"].as_i64().expect("id"))
        .await
        .expect("start");
    let id = ev.deliveries[0];
    let d = wait_state(&s, id, "retrying", 1).await;
    assert_eq!(d.attempts[0].status, Some(500));
    // Nothing happens before 5 minutes have passed.
    s.ctl
        .advance_clock(Duration::from_secs(4 * 60))
        .await
        .expect("advance");
    tokio::time::sleep(Duration::from_millis(200)).await;
    wait_state(&s, id, "retrying", 1).await;
    s.ctl
        .advance_clock(Duration::from_secs(60))
        .await
        .expect("advance");
    wait_state(&s, id, "retrying", 2).await;
    s.ctl
        .advance_clock(Duration::from_secs(20 * 60))
        .await
        .expect("advance");
    let d = wait_state(&s, id, "delivered", 3).await;
    assert_eq!(d.attempts[2].status, Some(200));
    let bodies: Vec<Value> = r
        .named("meeting.started")
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    assert_eq!(bodies.len(), 3);
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "retries resend the same event"
    );
}

#[tokio::test]
async fn retries_give_up_after_three_and_compression_speeds_them_up() {
    // 5/20/60 minutes become 0.1/0.4/1.2 seconds.
    let s = start_with(SandboxConfig {
        webhook_retry_compression: 3000,
        ..SandboxConfig::default()
    })
    .await;
    let r = receiver(10, false, Duration::ZERO).await;
    subscribe(&s, &r).await;
    let t = s.user_tokens(USER_APP, ADA).await;
    let m = s.create_meeting(&t.access, "me", json!({})).await;
    let ev = s
        .ctl
        .start_meeting(m["id"].as_i64().expect("id"))
        .await
        .expect("start");
    let d = s
        .ctl
        .wait_for_delivery(ev.deliveries[0], Duration::from_secs(10))
        .await
        .expect("final");
    assert_eq!(d.state, "gave_up");
    assert_eq!(d.attempts.len(), 4);
}

#[tokio::test]
async fn a_slow_endpoint_times_out_after_three_seconds() {
    let s = start_with(SandboxConfig {
        webhook_retry_compression: 3000,
        ..SandboxConfig::default()
    })
    .await;
    let r = receiver(0, false, Duration::from_millis(3500)).await;
    subscribe(&s, &r).await;
    let t = s.user_tokens(USER_APP, ADA).await;
    let m = s.create_meeting(&t.access, "me", json!({})).await;
    let ev = s
        .ctl
        .start_meeting(m["id"].as_i64().expect("id"))
        .await
        .expect("start");
    let d = wait_state(&s, ev.deliveries[0], "retrying", 1).await;
    assert!(
        d.attempts[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("timeout")),
        "{d:?}"
    );
    assert!(
        d.attempts[0].duration_ms >= 2900 && d.attempts[0].duration_ms < 4500,
        "{d:?}"
    );
}

#[tokio::test]
async fn endpoints_failing_url_validation_get_no_events() {
    let s = start().await;
    let r = receiver(0, true, Duration::ZERO).await;
    let v = s
        .ctl
        .set_app_webhook(USER_APP.0, &r.url)
        .await
        .expect("webhook");
    assert!(!v.validated);
    assert!(v.error.is_some());
    let t = s.user_tokens(USER_APP, ADA).await;
    let m = s.create_meeting(&t.access, "me", json!({})).await;
    let ev = s
        .ctl
        .start_meeting(m["id"].as_i64().expect("id"))
        .await
        .expect("start");
    assert!(ev.deliveries.is_empty());
}

/// Waits until the receiver has seen `n` validation requests.
async fn validations_seen(r: &Receiver, n: usize) {
    for _ in 0..400 {
        if r.named("endpoint.url_validation").len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the receiver never saw {n} url_validation requests");
}

#[tokio::test]
async fn endpoints_are_revalidated_every_72_hours_and_disabled_after_six_failures() {
    let s = start().await;
    let r = receiver(0, false, Duration::ZERO).await;
    subscribe(&s, &r).await;
    let saved = s.ctl.app_webhook(USER_APP.0).await.expect("endpoint");
    assert_eq!(saved.status, "validated");
    assert_eq!(saved.failed_revalidations, 0);
    let next = saved.next_revalidation_at.clone().expect("next");
    let day = |t: &str| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .expect("time")
    };
    assert_eq!(
        day(&next) - day(&saved.checked_at),
        time::Duration::hours(72)
    );

    // Not before its time.
    s.ctl
        .advance_clock(Duration::from_secs(71 * 3600))
        .await
        .expect("advance");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(r.named("endpoint.url_validation").len(), 1);

    // Due: revalidated once, however far the clock jumped, and it passes.
    s.ctl
        .advance_clock(Duration::from_secs(30 * 24 * 3600))
        .await
        .expect("advance");
    validations_seen(&r, 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(r.named("endpoint.url_validation").len(), 2);
    let (body, seen) = r
        .named("endpoint.url_validation")
        .pop()
        .expect("revalidation");
    assert!(verify(SECRET, &seen), "revalidation is signed");
    assert!(body["payload"]["plainToken"].is_string());
    let passed = s.ctl.app_webhook(USER_APP.0).await.expect("endpoint");
    assert_eq!(passed.status, "validated");
    assert!(day(&passed.checked_at) > day(&saved.checked_at));

    // Failing from now on: five failures keep the subscription, the sixth disables it.
    r.answer_validation_wrong.store(true, Ordering::SeqCst);
    for failures in 1..=6u32 {
        s.ctl
            .advance_clock(Duration::from_secs(72 * 3600))
            .await
            .expect("advance");
        validations_seen(&r, 2 + failures as usize).await;
        let mut endpoint = s.ctl.app_webhook(USER_APP.0).await.expect("endpoint");
        for _ in 0..100 {
            if endpoint.failed_revalidations == failures {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
            endpoint = s.ctl.app_webhook(USER_APP.0).await.expect("endpoint");
        }
        assert_eq!(endpoint.failed_revalidations, failures);
        // Tokens live an hour of sandbox time: a fresh grant for each 72-hour step.
        let t = s.user_tokens(USER_APP, ADA).await;
        let m = s.create_meeting(&t.access, "me", json!({})).await;
        let started = s
            .ctl
            .start_meeting(m["id"].as_i64().expect("id"))
            .await
            .expect("start");
        if failures < 6 {
            assert_eq!(endpoint.status, "validated");
            assert_eq!(
                started.deliveries.len(),
                1,
                "still subscribed after {failures}"
            );
        } else {
            assert_eq!(endpoint.status, "disabled");
            assert!(endpoint.next_revalidation_at.is_none());
            assert!(started.deliveries.is_empty(), "no events once disabled");
        }
    }

    // A disabled endpoint is not revalidated; saving it again (and passing) brings it back.
    s.ctl
        .advance_clock(Duration::from_secs(72 * 3600))
        .await
        .expect("advance");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(r.named("endpoint.url_validation").len(), 8);
    r.answer_validation_wrong.store(false, Ordering::SeqCst);
    subscribe(&s, &r).await;
    let back = s.ctl.app_webhook(USER_APP.0).await.expect("endpoint");
    assert_eq!(
        (back.status.as_str(), back.failed_revalidations),
        ("validated", 0)
    );
}
