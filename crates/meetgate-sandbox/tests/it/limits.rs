//! Per-second limits per account and category, and the daily create+update limit.

use std::time::Duration;

use meetgate_sandbox::{AppType, NewAccount, NewApp, NewUser, Plan, Role, SandboxConfig, Secret};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

/// A free-plan account with one user and a user-managed app registered for `REDIRECT` exactly.
async fn free_practice(s: &Sbx) -> (String, String) {
    let account = s
        .ctl
        .add_account(NewAccount {
            id: None,
            name: "Tiny Practice".into(),
            plan: Plan::Free,
        })
        .await
        .expect("account");
    s.ctl
        .add_user(NewUser {
            id: None,
            email: "solo@tiny.example".into(),
            password: Secret::new(PASSWORD),
            account_id: account.id.clone(),
            first_name: "Solo".into(),
            last_name: "Doc".into(),
            user_type: None,
            role: Role::Owner,
            timezone: None,
        })
        .await
        .expect("user");
    let app = s
        .ctl
        .add_app(NewApp {
            client_id: Some("tinyClient".into()),
            client_secret: None,
            name: "Tiny".into(),
            app_type: AppType::UserManaged,
            scopes: vec![
                "meeting:read".into(),
                "meeting:write".into(),
                "user:read".into(),
            ],
            granular: false,
            redirect_uris: vec![REDIRECT.into()],
            owner_account_id: account.id,
            webhook_secret_token: None,
            webhook_events: vec![],
        })
        .await
        .expect("app");
    (app.client_id, app.client_secret.expose().to_owned())
}

#[tokio::test]
async fn per_second_limit_answers_429_with_zoom_headers() {
    let s = start().await;
    let (id, secret) = free_practice(&s).await;
    let t = s.user_tokens((&id, &secret), "solo@tiny.example").await;
    let mut limited = None;
    for _ in 0..10 {
        let (status, headers, body) = s
            .api_full(Method::GET, "users/me/meetings", &t.access, None)
            .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((headers, body));
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["x-ratelimit-category"], "Medium");
    }
    let (headers, body) = limited.expect("free plan allows 2 Medium calls per second");
    assert_eq!(headers["x-ratelimit-category"], "Medium");
    assert_eq!(headers["x-ratelimit-type"], "QPS");
    assert_eq!(headers["x-ratelimit-limit"], "2");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    assert_eq!(body["code"], 429);
    // Light calls have their own budget (4/s on free).
    let (status, headers, _) = s.api_full(Method::GET, "users/me", &t.access, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-ratelimit-category"], "Light");
    assert_eq!(headers["x-ratelimit-limit"], "4");
    // Another account is not affected.
    let ada = s.user_tokens(USER_APP, ADA).await;
    let (status, _) = s
        .api(Method::GET, "users/me/meetings", &ada.access, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        s.ctl
            .counters()
            .await
            .expect("counters")
            .calls("meetings.list", 429)
            >= 1
    );

    // Switched off at run time, the same burst passes.
    s.ctl.set_rate_limits(false).await.expect("settings");
    for _ in 0..10 {
        let (status, _) = s
            .api(Method::GET, "users/me/meetings", &t.access, None)
            .await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn rate_limits_can_be_switched_off_in_the_config() {
    let s = start_with(SandboxConfig {
        rate_limits: false,
        ..SandboxConfig::default()
    })
    .await;
    let (id, secret) = free_practice(&s).await;
    let t = s.user_tokens((&id, &secret), "solo@tiny.example").await;
    for _ in 0..20 {
        let (status, headers, _) = s
            .api_full(Method::GET, "users/me/meetings", &t.access, None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers.get("x-ratelimit-type").is_none());
    }
}

#[tokio::test]
async fn one_hundred_creates_and_updates_per_user_per_day() {
    let s = start().await;
    // Start at 01:00 UTC so the run cannot straddle midnight.
    let now = s.ctl.clock().await.expect("clock").unix;
    let next_midnight = (now / 86400 + 1) * 86400;
    s.ctl
        .advance_clock(Duration::from_secs(
            u64::try_from(next_midnight + 3600 - now).expect("positive"),
        ))
        .await
        .expect("advance");
    let token = s.s2s_token().await;
    let mut first_id = 0;
    for i in 0..100 {
        if i % 15 == 0 {
            // Stay under the 20/s Medium limit of the pro plan.
            s.ctl
                .advance_clock(Duration::from_secs(1))
                .await
                .expect("advance");
        }
        let m = if i < 99 {
            s.create_meeting(&token, GRACE_ID, json!({"topic": format!("#{i}")}))
                .await
        } else {
            // Updates count too: the 100th action is a PATCH.
            let (status, _) = s
                .api(
                    Method::PATCH,
                    &format!("meetings/{first_id}"),
                    &token,
                    Some(json!({"topic": "renamed"})),
                )
                .await;
            assert_eq!(status, StatusCode::NO_CONTENT);
            continue;
        };
        if i == 0 {
            first_id = m["id"].as_i64().expect("id");
        }
    }
    s.ctl
        .advance_clock(Duration::from_secs(1))
        .await
        .expect("advance");
    let (status, headers, body) = s
        .api_full(
            Method::POST,
            &format!("users/{GRACE_ID}/meetings"),
            &token,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(headers["x-ratelimit-type"], "Daily-limit");
    assert_eq!(headers["x-ratelimit-limit"], "100");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    let tomorrow = time::OffsetDateTime::from_unix_timestamp(next_midnight + 86400).expect("time");
    let expected = format!(
        "{:04}-{:02}-{:02}T00:00:00Z",
        tomorrow.year(),
        u8::from(tomorrow.month()),
        tomorrow.day()
    );
    assert_eq!(headers["retry-after"], expected.as_str());
    assert_eq!(body["code"], 429);
    let (status, _) = s
        .api(
            Method::PATCH,
            &format!("meetings/{first_id}"),
            &token,
            Some(json!({"topic": "again"})),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Reads and other hosts are unaffected.
    let (status, _) = s
        .api(Method::GET, &format!("meetings/{first_id}"), &token, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    s.create_meeting(&token, ADA_ID, json!({})).await;
    assert_eq!(
        s.ctl
            .counters()
            .await
            .expect("counters")
            .meetings_created_by(GRACE_ID),
        99
    );

    // The limit resets at 00:00 UTC on the sandbox clock.
    s.ctl
        .advance_clock(Duration::from_secs(23 * 3600))
        .await
        .expect("advance");
    let token = s.s2s_token().await;
    s.create_meeting(&token, GRACE_ID, json!({})).await;
}
