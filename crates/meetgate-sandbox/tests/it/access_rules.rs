//! Who may call what: `me` versus ids per app type, scopes, accounts, token validity.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn user_managed_token_naming_a_user_id_needs_admin_scopes() {
    let s = start().await;
    let t = s.user_tokens(USER_APP, ADA).await;
    for path in [
        format!("users/{ADA_ID}/meetings"),
        format!("users/{ADA}/meetings"),
    ] {
        let (status, err) = s
            .api(Method::POST, &path, &t.access, Some(json!({"topic": "x"})))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(err["code"], 4700);
        assert_eq!(
            err["message"],
            "Invalid access token, does not contain scopes: [meeting:write:admin]"
        );
    }
    let (status, err) = s
        .api(Method::GET, &format!("users/{ADA_ID}"), &t.access, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        err["message"],
        "Invalid access token, does not contain scopes: [user:read:admin]"
    );

    let g = s.user_tokens(GRANULAR_APP, ADA).await;
    let (status, err) = s
        .api(
            Method::POST,
            &format!("users/{ADA_ID}/meetings"),
            &g.access,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        err["message"],
        "Invalid access token, does not contain scopes: [meeting:write:meeting:admin]"
    );
    // Granular scopes work with `me`.
    let m = s
        .create_meeting(&g.access, "me", json!({"topic": "granular"}))
        .await;
    let (status, _) = s
        .api(
            Method::GET,
            &format!("meetings/{}", m["id"]),
            &g.access,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn user_managed_token_sees_only_its_own_meetings() {
    let s = start().await;
    let ada = s.user_tokens(USER_APP, ADA).await;
    let grace = s.user_tokens(USER_APP, GRACE).await;
    let m = s
        .create_meeting(&ada.access, "me", json!({"topic": "Ada's"}))
        .await;
    let path = format!("meetings/{}", m["id"]);
    // Grace is of Ada's account: not the host, as Zoom says it.
    for (method, code) in [(Method::GET, 3000), (Method::DELETE, 3003)] {
        let (status, err) = s.api(method, &path, &grace.access, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(err["code"], code);
    }
    let (status, _) = s.api(Method::GET, &path, &ada.access, None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn admin_managed_token_reaches_its_account_only() {
    let s = start().await;
    let admin = s.user_tokens(ADMIN_APP, ADA).await;
    // Any user of the account, by id or email.
    let m = s
        .create_meeting(&admin.access, GRACE, json!({"topic": "for Grace"}))
        .await;
    assert_eq!(m["host_id"], GRACE_ID);
    assert_eq!(m["host_email"], GRACE);
    let (status, list) = s
        .api(
            Method::GET,
            &format!("users/{GRACE_ID}/meetings"),
            &admin.access,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["total_records"], 1);
    // `me` is the installing admin.
    let (_, me) = s.api(Method::GET, "users/me", &admin.access, None).await;
    assert_eq!(me["id"], ADA_ID);
    // Another account's user: 1010.
    for who in [BARBARA_ID, BARBARA] {
        let (status, err) = s
            .api(
                Method::POST,
                &format!("users/{who}/meetings"),
                &admin.access,
                Some(json!({})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(err["code"], 1010);
    }
    // Nobody at all: 1001.
    let (status, err) = s
        .api(
            Method::GET,
            "users/nobody@nowhere.example",
            &admin.access,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["code"], 1001);
    // Another account's meeting: access refused.
    let other = s.user_tokens(USER_APP, BARBARA).await;
    let theirs = s.create_meeting(&other.access, "me", json!({})).await;
    let (status, err) = s
        .api(
            Method::GET,
            &format!("meetings/{}", theirs["id"]),
            &admin.access,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["code"], 3000);
}

#[tokio::test]
async fn server_to_server_token_creates_for_its_own_account() {
    let s = start().await;
    let token = s.s2s_token().await;
    let m = s
        .create_meeting(&token, GRACE_ID, json!({"topic": "s2s"}))
        .await;
    assert_eq!(m["host_id"], GRACE_ID);
    let m = s
        .create_meeting(&token, ADA, json!({"topic": "s2s by email"}))
        .await;
    assert_eq!(m["host_id"], ADA_ID);
    let (status, err) = s
        .api(Method::POST, "users/me/meetings", &token, Some(json!({})))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "server-to-server tokens must name a user"
    );
    assert_eq!(err["code"], 1001);
    let (status, err) = s
        .api(
            Method::POST,
            &format!("users/{BARBARA_ID}/meetings"),
            &token,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["code"], 1010);
    let list = s.ctl.meetings_of(GRACE).await.expect("meetings");
    assert_eq!(list.len(), 1);
}

#[tokio::test]
async fn bearer_tokens_only_in_the_header_and_only_while_valid() {
    let s = start().await;
    let t = s.user_tokens(USER_APP, ADA).await;
    let mut url = s.url("v2/users/me");
    url.query_pairs_mut().append_pair("access_token", &t.access);
    let resp = s.http.get(url.clone()).send().await.expect("call");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let err: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(err["code"], 124);
    // Even with a valid header as well.
    let resp = s
        .http
        .get(url)
        .bearer_auth(&t.access)
        .send()
        .await
        .expect("call");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let resp = s.http.get(s.url("v2/users/me")).send().await.expect("call");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let (status, err) = s.api(Method::GET, "users/me", "garbage", None).await;
    assert_eq!(
        (status, err["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!(124))
    );

    // Expiry follows the sandbox clock: 3599 s.
    s.ctl
        .advance_clock(Duration::from_secs(3590))
        .await
        .expect("advance");
    let (status, _) = s.api(Method::GET, "users/me", &t.access, None).await;
    assert_eq!(status, StatusCode::OK);
    s.ctl
        .advance_clock(Duration::from_secs(10))
        .await
        .expect("advance");
    let (status, err) = s.api(Method::GET, "users/me", &t.access, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(err["code"], 124);
    assert_eq!(err["message"], "Access token is expired.");
    // A refresh brings a working token back.
    let (status, fresh) = s
        .token_request(
            USER_APP,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &t.refresh),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let access = fresh["access_token"].as_str().expect("access");
    let (status, _) = s.api(Method::GET, "users/me", access, None).await;
    assert_eq!(status, StatusCode::OK);
    // Forced expiry through the control API.
    let affected = s
        .ctl
        .expire_access_tokens_of(ADA, USER_APP.0)
        .await
        .expect("expire");
    assert_eq!(affected.grants, 1);
    let (status, _) = s.api(Method::GET, "users/me", access, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn invalid_bodies_answer_300_with_errors() {
    let s = start().await;
    let t = s.user_tokens(USER_APP, ADA).await;
    let (status, err) = s
        .api(
            Method::POST,
            "users/me/meetings",
            &t.access,
            Some(json!({"topic": "x".repeat(201), "type": 5, "start_time": "tomorrow", "password": "has space", "settings": {"jbh_time": 7, "audio": "radio"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["code"], 300);
    let fields: Vec<&str> = err["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    assert_eq!(
        fields,
        vec![
            "topic",
            "type",
            "start_time",
            "password",
            "settings.audio",
            "settings.jbh_time"
        ]
    );
    let resp = s
        .http
        .post(s.url("v2/users/me/meetings"))
        .bearer_auth(&t.access)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("call");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let err: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(err["code"], 300);
    let (status, err) = s
        .api(
            Method::POST,
            "users/me/meetings",
            &t.access,
            Some(json!({"type": 8})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "type 8 needs a recurrence");
    assert_eq!(err["errors"][0]["field"], "recurrence");
    assert!(s.ctl.meetings_of(ADA).await.expect("meetings").is_empty());
}
