//! Meeting behaviour: types, time zones, occurrences, pagination.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn local_start_time_is_converted_with_the_timezone() {
    let s = start().await;
    let t = s.user_tokens(USER_APP, ADA).await;
    let m = s
        .create_meeting(&t.access, "me", json!({"topic": "tz", "start_time": "2031-07-01T09:00:00", "timezone": "America/New_York", "password": "ab-1_*@"}))
        .await;
    assert_eq!(m["start_time"], "2031-07-01T13:00:00Z");
    assert_eq!(m["timezone"], "America/New_York");
    assert_eq!(m["password"], "ab-1_*@");
    assert_eq!(m["type"], 2);
    assert_eq!(m["settings"]["waiting_room"], false);
    // Without a timezone the user's (America/New_York for the seeded Ada) applies.
    let m = s
        .create_meeting(
            &t.access,
            "me",
            json!({"start_time": "2031-01-15T09:00:00"}),
        )
        .await;
    assert_eq!(m["start_time"], "2031-01-15T14:00:00Z");
    let (status, err) = s
        .api(
            Method::POST,
            "users/me/meetings",
            &t.access,
            Some(json!({"timezone": "Mars/Olympus"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["errors"][0]["field"], "timezone");
}

#[tokio::test]
async fn settings_are_echoed_and_patched() {
    let s = start().await;
    let t = s.user_tokens(USER_APP, ADA).await;
    let m = s
        .create_meeting(&t.access, "me", json!({"settings": {"waiting_room": true, "join_before_host": true, "jbh_time": 5, "audio": "voip", "unknown_setting": 1}}))
        .await;
    assert_eq!(m["settings"]["waiting_room"], true);
    assert_eq!(m["settings"]["jbh_time"], 5);
    assert_eq!(m["settings"]["audio"], "voip");
    assert!(m["settings"].get("unknown_setting").is_none());
    let id = m["id"].as_i64().expect("id");
    let (status, _) = s
        .api(
            Method::PATCH,
            &format!("meetings/{id}"),
            &t.access,
            Some(json!({"settings": {"waiting_room": false}})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, got) = s
        .api(Method::GET, &format!("meetings/{id}"), &t.access, None)
        .await;
    assert_eq!(got["settings"]["waiting_room"], false);
    assert_eq!(got["settings"]["jbh_time"], 5, "untouched settings stay");
    assert!(
        got["start_url"]
            .as_str()
            .expect("start_url")
            .contains("zak=")
    );
    assert!(
        got["join_url"]
            .as_str()
            .expect("join_url")
            .contains(&format!("/j/{id}?pwd="))
    );
}

#[tokio::test]
async fn recurring_meetings_have_occurrences() {
    let s = start().await;
    let t = s.user_tokens(USER_APP, ADA).await;
    let m = s
        .create_meeting(
            &t.access,
            "me",
            json!({"type": 8, "start_time": "2031-03-03T15:00:00Z", "timezone": "UTC", "duration": 30,
                   "recurrence": {"type": 2, "weekly_days": "2,4", "end_times": 4}}),
        )
        .await;
    let occ = m["occurrences"].as_array().expect("occurrences");
    let starts: Vec<&str> = occ
        .iter()
        .map(|o| o["start_time"].as_str().expect("start"))
        .collect();
    // 2031-03-03 is a Monday: Mondays (2) and Wednesdays (4).
    assert_eq!(
        starts,
        vec![
            "2031-03-03T15:00:00Z",
            "2031-03-05T15:00:00Z",
            "2031-03-10T15:00:00Z",
            "2031-03-12T15:00:00Z"
        ]
    );
    assert_eq!(m["recurrence"]["type"], 2);
    let id = m["id"].as_i64().expect("id");
    let second = occ[1]["occurrence_id"]
        .as_str()
        .expect("occurrence id")
        .to_owned();

    let (status, _) = s
        .api(
            Method::PATCH,
            &format!("meetings/{id}?occurrence_id={second}"),
            &t.access,
            Some(json!({"duration": 90})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, one) = s
        .api(
            Method::GET,
            &format!("meetings/{id}?occurrence_id={second}"),
            &t.access,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["duration"], 90);
    assert_eq!(one["start_time"], "2031-03-05T15:00:00Z");
    let (status, err) = s
        .api(
            Method::PATCH,
            &format!("meetings/{id}?occurrence_id={second}"),
            &t.access,
            Some(json!({"topic": "no"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["code"], 300);

    let (status, _) = s
        .api(
            Method::DELETE,
            &format!("meetings/{id}?occurrence_id={second}"),
            &t.access,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, got) = s
        .api(Method::GET, &format!("meetings/{id}"), &t.access, None)
        .await;
    assert_eq!(got["occurrences"].as_array().expect("occ").len(), 3);
    let (status, err) = s
        .api(
            Method::GET,
            &format!("meetings/{id}?occurrence_id={second}"),
            &t.access,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["code"], 3000);

    // Type 3 has no fixed time and no occurrences.
    let m = s.create_meeting(&t.access, "me", json!({"type": 3})).await;
    assert!(m.get("start_time").is_none());
    assert!(m.get("occurrences").is_none());
}

#[tokio::test]
async fn moving_a_fixed_time_series_needs_its_recurrence() {
    let s = start().await;
    let t = s.user_tokens(USER_APP, ADA).await;
    let m = s
        .create_meeting(
            &t.access,
            "me",
            json!({"type": 8, "start_time": "2031-03-03T15:00:00Z", "timezone": "UTC", "duration": 30,
                   "recurrence": {"type": 2, "weekly_days": "2", "end_times": 3}}),
        )
        .await;
    let id = m["id"].as_i64().expect("id");
    // A future start_time without the recurrence object is refused, as Zoom documents.
    let (status, err) = s
        .api(
            Method::PATCH,
            &format!("meetings/{id}"),
            &t.access,
            Some(json!({"start_time": "2031-03-05T15:00:00Z"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["code"], 300);
    assert_eq!(err["errors"][0]["field"], "recurrence");
    let (_, got) = s
        .api(Method::GET, &format!("meetings/{id}"), &t.access, None)
        .await;
    assert_eq!(got["start_time"], "2031-03-03T15:00:00Z", "nothing changed");
    // A duration alone needs none.
    let (status, _) = s
        .api(
            Method::PATCH,
            &format!("meetings/{id}"),
            &t.access,
            Some(json!({"duration": 45})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // With the recurrence (Wednesdays now) the series moves.
    let (status, _) = s
        .api(
            Method::PATCH,
            &format!("meetings/{id}"),
            &t.access,
            Some(json!({"start_time": "2031-03-05T15:00:00Z",
                        "recurrence": {"type": 2, "weekly_days": "4", "end_times": 3}})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, got) = s
        .api(Method::GET, &format!("meetings/{id}"), &t.access, None)
        .await;
    let starts: Vec<&str> = got["occurrences"]
        .as_array()
        .expect("occurrences")
        .iter()
        .map(|o| o["start_time"].as_str().expect("start"))
        .collect();
    assert_eq!(
        starts,
        vec![
            "2031-03-05T15:00:00Z",
            "2031-03-12T15:00:00Z",
            "2031-03-19T15:00:00Z"
        ]
    );
}

#[tokio::test]
async fn listing_pages_with_next_page_token() {
    let s = start().await;
    let t = s.user_tokens(USER_APP, ADA).await;
    let mut ids = Vec::new();
    for day in 1..=5 {
        let m = s
            .create_meeting(&t.access, "me", json!({"topic": format!("m{day}"), "start_time": format!("2031-02-0{day}T10:00:00Z")}))
            .await;
        ids.push(m["id"].as_i64().expect("id"));
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let path = if token.is_empty() {
            "users/me/meetings?page_size=2".to_owned()
        } else {
            format!("users/me/meetings?page_size=2&next_page_token={token}")
        };
        let (status, page) = s.api(Method::GET, &path, &t.access, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["total_records"], 5);
        assert_eq!(page["page_size"], 2);
        for m in page["meetings"].as_array().expect("meetings") {
            seen.push(m["id"].as_i64().expect("id"));
        }
        pages += 1;
        token = page["next_page_token"].as_str().expect("token").to_owned();
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids, "sorted by start time, each once");

    let (_, first) = s
        .api(
            Method::GET,
            "users/me/meetings?page_size=2",
            &t.access,
            None,
        )
        .await;
    let token = first["next_page_token"].as_str().expect("token").to_owned();
    s.ctl
        .advance_clock(Duration::from_secs(15 * 60))
        .await
        .expect("advance");
    let (status, err) = s
        .api(
            Method::GET,
            &format!("users/me/meetings?next_page_token={token}"),
            &t.access,
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "next_page_token lives 15 minutes"
    );
    assert_eq!(err["code"], 300);
    let (status, _) = s
        .api(
            Method::GET,
            "users/me/meetings?page_size=301",
            &t.access,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s
        .api(
            Method::GET,
            "users/me/meetings?type=someday",
            &t.access,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn list_types_follow_meeting_state() {
    let s = start().await;
    let t = s.user_tokens(USER_APP, ADA).await;
    let a = s
        .create_meeting(
            &t.access,
            "me",
            json!({"start_time": "2031-02-01T10:00:00Z"}),
        )
        .await;
    let _b = s
        .create_meeting(
            &t.access,
            "me",
            json!({"start_time": "2031-02-02T10:00:00Z"}),
        )
        .await;
    // Zoom's list leaves instant meetings out, started or not; and an instant meeting has no
    // start time, in the create answer or when read.
    let instant = s
        .create_meeting(
            &t.access,
            "me",
            json!({"type": 1, "start_time": "2031-02-03T10:00:00Z"}),
        )
        .await;
    assert!(instant.get("start_time").is_none(), "{instant}");
    let (_, read) = s
        .api(
            Method::GET,
            &format!("meetings/{}", instant["id"]),
            &t.access,
            None,
        )
        .await;
    assert_eq!(read["type"], 1);
    assert!(read.get("start_time").is_none(), "{read}");
    s.ctl
        .start_meeting(instant["id"].as_i64().expect("id"))
        .await
        .expect("start");
    let a_id = a["id"].as_i64().expect("id");
    s.ctl.start_meeting(a_id).await.expect("start");
    let (_, live) = s
        .api(Method::GET, "users/me/meetings?type=live", &t.access, None)
        .await;
    assert_eq!(live["total_records"], 1);
    assert_eq!(live["meetings"][0]["id"], a_id);
    let (status, err) = s
        .api(
            Method::PATCH,
            &format!("meetings/{a_id}"),
            &t.access,
            Some(json!({"topic": "moved"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a meeting in progress cannot be updated"
    );
    assert_eq!(err["code"], 3000);
    let (status, err) = s
        .api(Method::DELETE, &format!("meetings/{a_id}"), &t.access, None)
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a meeting in progress cannot be deleted"
    );
    assert_eq!(err["code"], 3002);
    s.ctl.end_meeting(a_id).await.expect("end");
    let (_, prev) = s
        .api(
            Method::GET,
            "users/me/meetings?type=previous_meetings",
            &t.access,
            None,
        )
        .await;
    assert_eq!(prev["total_records"], 1);
    // A meeting that has happened stays in the host's history.
    let (status, err) = s
        .api(Method::DELETE, &format!("meetings/{a_id}"), &t.access, None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an ended meeting stays");
    assert_eq!(err["code"], 3007);
    let (_, upcoming) = s
        .api(
            Method::GET,
            "users/me/meetings?type=upcoming",
            &t.access,
            None,
        )
        .await;
    assert_eq!(upcoming["total_records"], 2);
    let (_, scheduled) = s
        .api(
            Method::GET,
            "users/me/meetings?type=scheduled",
            &t.access,
            None,
        )
        .await;
    assert_eq!(
        scheduled["total_records"], 2,
        "no instant meeting: {scheduled}"
    );
}

#[tokio::test]
async fn zak_endpoint_and_deleted_meetings_in_control() {
    let s = start().await;
    let t = s.user_tokens(USER_APP, ADA).await;
    let (status, zak) = s
        .api(Method::GET, "users/me/token?type=zak", &t.access, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(zak["token"].as_str().expect("token").len() > 40);
    let (status, _) = s
        .api(Method::GET, "users/me/token?type=bogus", &t.access, None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let m = s.create_meeting(&t.access, "me", json!({})).await;
    let (status, _) = s
        .api(
            Method::DELETE,
            &format!("meetings/{}", m["id"]),
            &t.access,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let all = s.ctl.meetings_of(ADA_ID).await.expect("meetings");
    assert_eq!(all.len(), 1);
    assert!(all[0].deleted);
}

#[tokio::test]
async fn scheduled_meetings_expire_thirty_days_after_their_end() {
    let s = start().await;
    let token = s.s2s_token().await;
    let m = s.create_meeting(&token, ADA, json!({"duration": 60})).await;
    let path = format!("meetings/{}", m["id"]);
    s.ctl
        .advance_clock(Duration::from_secs(29 * 86400))
        .await
        .expect("advance");
    let token = s.s2s_token().await;
    let (status, _) = s.api(Method::GET, &path, &token, None).await;
    assert_eq!(status, StatusCode::OK);
    s.ctl
        .advance_clock(Duration::from_secs(2 * 86400))
        .await
        .expect("advance");
    let token = s.s2s_token().await;
    let (status, err) = s.api(Method::GET, &path, &token, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["code"], 3001);
}

#[tokio::test]
async fn the_list_cuts_the_agenda_to_250_characters() {
    let s = start().await;
    let t = s.user_tokens(USER_APP, ADA).await;
    let agenda = "é".repeat(300);
    let m = s
        .create_meeting(
            &t.access,
            "me",
            json!({"start_time": "2031-03-01T10:00:00Z", "agenda": agenda}),
        )
        .await;
    let (_, list) = s
        .api(Method::GET, "users/me/meetings", &t.access, None)
        .await;
    let listed = list["meetings"][0]["agenda"].as_str().expect("agenda");
    assert_eq!(listed.chars().count(), 250);
    let (_, whole) = s
        .api(
            Method::GET,
            &format!("meetings/{}", m["id"]),
            &t.access,
            None,
        )
        .await;
    assert_eq!(whole["agenda"], agenda);
}
