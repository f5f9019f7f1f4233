//! Fault injection: 5xx shares, 429, malformed and XML bodies, timeouts after the work.

use std::time::{Duration, Instant};

use meetgate_sandbox::{FaultKind, FaultSpec};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn a_share_of_5xx_is_deterministic_and_counted() {
    let s = start().await;
    let t = s.user_tokens(USER_APP, ADA).await;
    let m = s.create_meeting(&t.access, "me", json!({})).await;
    let path = format!("meetings/{}", m["id"]);
    s.ctl.set_rate_limits(false).await.expect("settings");
    let run = |seed| {
        let s = &s;
        let path = path.clone();
        let access = t.access.clone();
        async move {
            s.ctl.clear_faults().await.expect("clear");
            s.ctl
                .set_fault(
                    FaultSpec::new(FaultKind::Status { status: 503 })
                        .on("meetings.get")
                        .probability(0.3)
                        .seed(seed),
                )
                .await
                .expect("fault");
            let mut statuses = Vec::new();
            for _ in 0..40 {
                statuses.push(s.api(Method::GET, &path, &access, None).await.0.as_u16());
            }
            statuses
        }
    };
    s.ctl.reset_counters().await.expect("reset");
    let a = run(42).await;
    let b = run(42).await;
    assert_eq!(a, b, "same seed, same sequence");
    let failures = a.iter().filter(|s| **s == 503).count();
    assert!((4..=20).contains(&failures), "{failures} of 40");
    assert!(a.iter().all(|s| *s == 503 || *s == 200));
    let c = s.ctl.counters().await.expect("counters");
    assert_eq!(c.calls("meetings.get", 503), 2 * failures as u64);
    assert_eq!(c.calls("meetings.get", 200), 80 - 2 * failures as u64);
}

#[tokio::test]
async fn next_n_calls_and_body_faults() {
    let s = start().await;
    let t = s.user_tokens(USER_APP, ADA).await;
    s.ctl
        .set_fault(
            FaultSpec::new(FaultKind::Status { status: 500 })
                .on("users.get")
                .times(2),
        )
        .await
        .expect("fault");
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(
            s.api_full(Method::GET, "users/me", &t.access, None)
                .await
                .0
                .as_u16(),
        );
    }
    assert_eq!(got, vec![500, 500, 200]);
    assert!(
        s.ctl.faults().await.expect("faults").is_empty(),
        "spent faults disappear"
    );

    s.ctl
        .set_fault(
            FaultSpec::new(FaultKind::MalformedJson)
                .on("users.get")
                .times(1),
        )
        .await
        .expect("fault");
    let resp = s
        .http
        .get(s.url("v2/users/me"))
        .bearer_auth(&t.access)
        .send()
        .await
        .expect("call");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(serde_json::from_str::<serde_json::Value>(&resp.text().await.expect("text")).is_err());

    s.ctl
        .set_fault(FaultSpec::new(FaultKind::Xml { status: 502 }).times(1))
        .await
        .expect("fault");
    let resp = s
        .http
        .get(s.url("v2/users/me"))
        .bearer_auth(&t.access)
        .send()
        .await
        .expect("call");
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .expect("ct")
            .contains("xml")
    );
    assert!(resp.text().await.expect("text").starts_with("<?xml"));

    s.ctl
        .set_fault(
            FaultSpec::new(FaultKind::ErrorInOk {
                code: 124,
                message: "Invalid access token.".into(),
            })
            .times(1),
        )
        .await
        .expect("fault");
    let (status, body) = s.api(Method::GET, "users/me", &t.access, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["code"], 124);

    // Zoom's other form of a missing scope, as given.
    s.ctl
        .set_fault(
            FaultSpec::new(FaultKind::ZoomError {
                status: 400,
                code: Some(4711),
                error: None,
                message: "Invalid access token, does not contain scopes:[meeting:write].".into(),
            })
            .on("meetings.create")
            .times(1),
        )
        .await
        .expect("fault");
    let (status, body) = s
        .api(
            Method::POST,
            "users/me/meetings",
            &t.access,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], 4711);
    assert!(body["message"].as_str().unwrap().contains("meeting:write"));

    s.ctl
        .set_fault(
            FaultSpec::new(FaultKind::RateLimited)
                .on("meetings.list")
                .times(1),
        )
        .await
        .expect("fault");
    let (status, headers, _) = s
        .api_full(Method::GET, "users/me/meetings", &t.access, None)
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["x-ratelimit-type"], "QPS");

    // The daily limit, as Zoom answers it once a host used up its creates and updates.
    s.ctl
        .set_fault(
            FaultSpec::new(FaultKind::DailyLimit)
                .on("meetings.create")
                .times(1),
        )
        .await
        .expect("fault");
    let (status, headers, body) = s
        .api_full(
            Method::POST,
            "users/me/meetings",
            &t.access,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["x-ratelimit-type"], "Daily-limit");
    let clock = s.ctl.clock().await.expect("clock");
    let today = &clock.now[..10];
    let retry_after = headers["retry-after"].to_str().expect("retry-after");
    assert!(
        retry_after.ends_with("T00:00:00Z") && retry_after[..10] > *today,
        "{retry_after}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("can be created/updated"),
        "{body}"
    );

    // The same limit in the form Zoom's OpenAPI spec documents: code 300.
    s.ctl
        .set_fault(
            FaultSpec::new(FaultKind::ZoomError {
                status: 400,
                code: Some(300),
                error: None,
                message:
                    "A maximum of 100 meetings can be created/updated for a single user in one day."
                        .into(),
            })
            .on("meetings.update")
            .times(1),
        )
        .await
        .expect("fault");
    let m = s.create_meeting(&t.access, "me", json!({})).await;
    let (status, body) = s
        .api(
            Method::PATCH,
            &format!("meetings/{}", m["id"]),
            &t.access,
            Some(json!({"topic": "moved"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], 300);

    s.ctl
        .set_fault(
            FaultSpec::new(FaultKind::Latency { ms: 300 })
                .on("users.get")
                .times(1),
        )
        .await
        .expect("fault");
    let t0 = Instant::now();
    let (status, _) = s.api(Method::GET, "users/me", &t.access, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(t0.elapsed() >= Duration::from_millis(300));

    assert!(
        s.ctl
            .set_fault(FaultSpec::new(FaultKind::RateLimited).on("no.such.endpoint"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn timeout_after_work_leaves_the_meeting_created() {
    let s = start().await;
    let t = s.user_tokens(USER_APP, ADA).await;
    s.ctl
        .set_fault(
            FaultSpec::new(FaultKind::TimeoutAfterWork { hold_ms: 2000 })
                .on("meetings.create")
                .times(1),
        )
        .await
        .expect("fault");
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let err = impatient
        .post(s.url("v2/users/me/meetings"))
        .bearer_auth(&t.access)
        .json(&json!({"topic": "Did it happen?"}))
        .send()
        .await
        .expect_err("times out");
    assert!(err.is_timeout());
    let meetings = s.ctl.meetings_of(ADA).await.expect("meetings");
    assert_eq!(meetings.len(), 1, "the work was done");
    assert_eq!(meetings[0].topic, "Did it happen?");
    // A reconciling client finds it through the API.
    let (_, list) = s
        .api(Method::GET, "users/me/meetings", &t.access, None)
        .await;
    assert_eq!(list["total_records"], 1);

    // after_work: the meeting exists although the answer was a 500.
    s.ctl
        .set_fault(
            FaultSpec::new(FaultKind::Status { status: 500 })
                .on("meetings.create")
                .times(1)
                .after_work(),
        )
        .await
        .expect("fault");
    let (status, _) = s
        .api(
            Method::POST,
            "users/me/meetings",
            &t.access,
            Some(json!({"topic": "ghost"})),
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(s.ctl.meetings_of(ADA).await.expect("meetings").len(), 2);
    // Without after_work the 500 means nothing happened.
    s.ctl
        .set_fault(
            FaultSpec::new(FaultKind::Status { status: 500 })
                .on("meetings.create")
                .times(1),
        )
        .await
        .expect("fault");
    let (status, _) = s
        .api(
            Method::POST,
            "users/me/meetings",
            &t.access,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(s.ctl.meetings_of(ADA).await.expect("meetings").len(), 2);
}

#[tokio::test]
async fn token_endpoint_outage() {
    let s = start().await;
    let t = s.user_tokens(USER_APP, ADA).await;
    s.ctl
        .set_fault(FaultSpec::new(FaultKind::TokenOutage).times(1))
        .await
        .expect("fault");
    let resp = s
        .http
        .post(s.url("oauth/token"))
        .header("authorization", basic(USER_APP))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", t.refresh.as_str()),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .expect("ct")
            .contains("html")
    );
    // The outage did no work: the refresh token still works afterwards.
    let (status, _) = s
        .token_request(
            USER_APP,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &t.refresh),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let c = s.ctl.counters().await.expect("counters");
    assert_eq!(c.calls("oauth.token", 503), 1);
    assert_eq!(c.refreshes_of(ADA_ID, USER_APP.0), 1);
}

#[tokio::test]
async fn a_token_endpoint_redirect_is_reported_not_followed() {
    let s = start().await;
    let t = s.user_tokens(USER_APP, ADA).await;
    s.ctl
        .set_fault(
            FaultSpec::new(FaultKind::Redirect {
                status: 302,
                location: "http://127.0.0.1:9/steal".into(),
            })
            .on("oauth.token")
            .times(1),
        )
        .await
        .expect("fault");
    let resp = s
        .http
        .post(s.url("oauth/token"))
        .header("authorization", basic(USER_APP))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", t.refresh.as_str()),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(resp.headers()["location"], "http://127.0.0.1:9/steal");
    assert!(
        s.ctl
            .set_fault(FaultSpec::new(FaultKind::Redirect {
                status: 200,
                location: "x".into()
            }))
            .await
            .is_err()
    );
}
