//! The sandbox's meeting pages: start with a ZAK, end with a button, join with a passcode.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

fn form_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("field") + marker.len();
    let end = html[start..].find('"').expect("end") + start;
    html[start..end].to_owned()
}

#[tokio::test]
async fn start_url_starts_and_the_button_ends_the_meeting() {
    let s = start().await;
    let t = s.user_tokens(USER_APP, ADA).await;
    let m = s
        .create_meeting(&t.access, "me", json!({"topic": "Room test"}))
        .await;
    let id = m["id"].as_i64().expect("id");
    let start_url = m["start_url"].as_str().expect("start_url");
    assert!(
        start_url.starts_with(s.base.as_str()),
        "links point at the sandbox itself"
    );
    let resp = s.http.get(start_url).send().await.expect("start page");
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.expect("html");
    assert!(html.contains("Room test") && html.contains("started"));
    let (_, got) = s
        .api(Method::GET, &format!("meetings/{id}"), &t.access, None)
        .await;
    assert_eq!(got["status"], "started");

    // Someone joins through the join link.
    let join_url = m["join_url"].as_str().expect("join_url");
    let page = s
        .http
        .get(join_url)
        .send()
        .await
        .expect("join page")
        .text()
        .await
        .expect("html");
    let pwd = form_field(&page, "pwd");
    let resp = s
        .http
        .post(s.url(&format!("j/{id}")))
        .form(&[("pwd", pwd.as_str()), ("name", "Pat Patient")])
        .send()
        .await
        .expect("join");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.expect("html").contains("Pat Patient"));
    let wrong = s
        .http
        .post(s.url(&format!("j/{id}")))
        .form(&[("pwd", "nope"), ("passcode", "nope"), ("name", "Mallory")])
        .send()
        .await
        .expect("join");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    // End with the form on the host's page.
    let zak = form_field(&html, "zak");
    let resp = s
        .http
        .post(s.url(&format!("s/{id}/end")))
        .form(&[("zak", zak.as_str())])
        .send()
        .await
        .expect("end");
    assert_eq!(resp.status(), StatusCode::OK);
    let (_, got) = s
        .api(Method::GET, &format!("meetings/{id}"), &t.access, None)
        .await;
    assert_eq!(got["status"], "waiting");
    let meetings = s.ctl.meetings_of(ADA).await.expect("meetings");
    assert_eq!(meetings[0].participants, vec!["Pat Patient".to_owned()]);
}

#[tokio::test]
async fn the_zak_in_start_url_expires_after_two_hours() {
    let s = start().await;
    let token = s.s2s_token().await;
    let m = s
        .create_meeting(&token, ADA, json!({"start_time": "2031-01-01T10:00:00Z"}))
        .await;
    let start_url = m["start_url"].as_str().expect("start_url").to_owned();
    s.ctl
        .advance_clock(Duration::from_secs(2 * 3600))
        .await
        .expect("advance");
    let resp = s.http.get(&start_url).send().await.expect("start page");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let html = resp.text().await.expect("html");
    assert!(html.contains("expired"), "{html}");
    let token = s.s2s_token().await;
    let (_, got) = s
        .api(Method::GET, &format!("meetings/{}", m["id"]), &token, None)
        .await;
    assert_eq!(got["status"], "waiting", "an expired link starts nothing");
    // A fresh GET gives a fresh start_url that works.
    let resp = s
        .http
        .get(got["start_url"].as_str().expect("start_url"))
        .send()
        .await
        .expect("start");
    assert_eq!(resp.status(), StatusCode::OK);

    // Someone else's ZAK cannot start the meeting.
    let (_, zak) = s
        .api(
            Method::GET,
            &format!("users/{GRACE_ID}/token?type=zak"),
            &token,
            None,
        )
        .await;
    let other = s.create_meeting(&token, ADA, json!({})).await;
    let resp = s
        .http
        .get(s.url(&format!(
            "s/{}?zak={}",
            other["id"],
            zak["token"].as_str().expect("zak")
        )))
        .send()
        .await
        .expect("start");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_zak_is_valid_until_just_before_two_hours() {
    let s = start().await;
    let token = s.s2s_token().await;
    let m = s.create_meeting(&token, ADA, json!({})).await;
    s.ctl
        .advance_clock(Duration::from_secs(2 * 3600 - 30))
        .await
        .expect("advance");
    let resp = s
        .http
        .get(m["start_url"].as_str().expect("start_url"))
        .send()
        .await
        .expect("start");
    assert_eq!(resp.status(), StatusCode::OK);
}
