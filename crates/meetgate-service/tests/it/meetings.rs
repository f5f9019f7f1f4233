use meetgate_sandbox::FaultKind;
use reqwest::Method;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::*;

both_backends!(
    instant_meeting_and_its_start_link,
    twenty_concurrent_creates_with_one_key_make_one_meeting,
    wrong_app_type_and_foreign_user_get_a_fix,
    scheduled_recurring_update_delete_and_list,
    a_series_moves_with_its_recurrence,
    invalid_input_is_a_problem_and_changes_nothing,
    lost_create_answer_is_reconciled_not_retried,
    a_holder_out_of_time_stops_looking_and_the_retry_adopts,
    a_holder_whose_key_was_taken_over_leaves_the_meeting_to_the_retry,
    a_lost_answer_to_an_instant_create_makes_another,
    a_meeting_in_progress_cannot_be_changed_and_says_why,
    two_updates_at_once_keep_both_changes,
    an_update_whose_read_back_fails_keeps_what_was_sent,
    zooms_other_missing_scope_answer_gets_the_same_fix,
    a_client_that_hangs_up_still_gets_its_meeting_recorded,
    updates_and_deletes_honour_idempotency_keys,
    a_lost_answer_to_an_occurrence_delete_is_done_on_retry,
    tenants_cannot_see_each_other,
    an_instant_meeting_without_a_start_time_passes
);

async fn instant_meeting_and_its_start_link(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    let (status, meeting) = app
        .create_meeting(
            "dr-ada",
            json!({ "type": "instant", "client_label": "Jane Doe" }),
        )
        .await;
    assert_eq!(status, 201, "{meeting}");
    assert_eq!(meeting["type"], "instant");
    assert_eq!(meeting["status"], "waiting");
    assert_eq!(meeting["client_label"], "Jane Doe");
    assert!(
        meeting["join_url"].as_str().unwrap().contains("/j/"),
        "{meeting}"
    );
    // The answer's times are the stored ones, to the microsecond.
    let path = format!("/v1/meetings/{}", meeting["id"].as_str().unwrap());
    let (_, stored) = app.api(Method::GET, &path, None).await;
    assert_eq!(stored["created_at"], meeting["created_at"], "{stored}");
    assert_eq!(stored["updated_at"], meeting["updated_at"], "{stored}");
    // By default the client's name does not leave for Zoom as the topic.
    let at_zoom = app.env.control().meetings_of(ADA).await.unwrap();
    assert_eq!(at_zoom.len(), 1);
    assert_eq!(at_zoom[0].topic, "Telehealth session");

    // The start link works without an API key and lands on a start URL fetched now.
    let start_link = meeting["start_link"].as_str().unwrap();
    let gets_before = app.counters().await.calls("meetings.get", 200);
    let response = app.http.get(start_link).send().await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&app.env.sandbox_url()) && location.contains("zak="),
        "{location}"
    );
    assert_eq!(
        app.counters().await.calls("meetings.get", 200),
        gets_before + 1,
        "fetched at click time"
    );

    // A tampered link is refused.
    let tampered = start_link.replace("sig=", "sig=0");
    let response = app.http.get(&tampered).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

async fn twenty_concurrent_creates_with_one_key_make_one_meeting(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.api_on(
                &app.main,
                Method::POST,
                "/v1/users/dr-ada/meetings",
                Some(json!({ "topic": "Follow-up" })),
                Some("key-123"),
            )
            .await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert!(status == 201 || status == 409, "{status} {body}");
        if status == 201 {
            ids.insert(body["id"].as_str().unwrap().to_owned());
        } else {
            assert_eq!(body["type"], "/problems/idempotency-in-progress");
        }
    }
    assert_eq!(
        app.env.control().meetings_of(ADA).await.unwrap().len(),
        1,
        "exactly one meeting at Zoom"
    );
    assert!(ids.len() <= 1, "every success is the same meeting: {ids:?}");
    // Afterwards the key replays the stored answer; another body with it is refused.
    let (status, replay) = app
        .api_on(
            &app.main,
            Method::POST,
            "/v1/users/dr-ada/meetings",
            Some(json!({ "topic": "Follow-up" })),
            Some("key-123"),
        )
        .await;
    assert_eq!(status, 201);
    if let Some(id) = ids.iter().next() {
        assert_eq!(replay["id"], id.as_str());
    }
    let (status, problem) = app
        .api_on(
            &app.main,
            Method::POST,
            "/v1/users/dr-ada/meetings",
            Some(json!({ "topic": "Other" })),
            Some("key-123"),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem["type"], "/problems/idempotency-mismatch");
    assert_eq!(app.env.control().meetings_of(ADA).await.unwrap().len(), 1);
}

async fn wrong_app_type_and_foreign_user_get_a_fix(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    // A user-managed grant can only act for its own user.
    app.connect("ada-user", ADA, USER_APP).await;
    let (status, problem) = app
        .create_meeting("ada-user", json!({ "host": GRACE }))
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["type"], "/problems/zoom-rejected");
    assert!(
        problem["fix"].as_str().unwrap().contains("admin-managed"),
        "{problem}"
    );
    assert!(
        problem["required_scopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "meeting:write:admin")
    );
    let (_, diagnosis) = app
        .api(
            Method::GET,
            &format!("/v1/users/ada-user/connection/diagnosis?host={GRACE}"),
            None,
        )
        .await;
    assert_eq!(diagnosis["ok"], false, "{diagnosis}");
    assert!(
        diagnosis["operations"][0]["fix"]
            .as_str()
            .unwrap()
            .contains("admin-managed")
    );

    // An admin-managed grant acts for users of its own account, not of another.
    app.connect("ada-admin", ADA, ADMIN_APP).await;
    let (status, ok) = app
        .create_meeting("ada-admin", json!({ "host": GRACE }))
        .await;
    assert_eq!(status, 201, "{ok}");
    assert_eq!(app.env.control().meetings_of(GRACE).await.unwrap().len(), 1);
    let (status, problem) = app
        .create_meeting("ada-admin", json!({ "host": BARBARA }))
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["zoom_code"], 1010);
    assert!(
        problem["fix"]
            .as_str()
            .unwrap()
            .contains("does not belong to the connected Zoom account"),
        "{problem}"
    );
    let (_, diagnosis) = app
        .api(
            Method::GET,
            "/v1/users/ada-admin/connection/diagnosis",
            None,
        )
        .await;
    assert_eq!(diagnosis["ok"], true, "{diagnosis}");

    // Server-to-server: the app's own account, no consent.
    let ctx = meetgate_service::domain::Ctx::operator(app.tenant, app.services().clock.now());
    app.services()
        .connect_server_to_server(&ctx, "front-desk", app.apps[S2S_APP], GRACE)
        .await
        .unwrap();
    let (status, body) = app.create_meeting("front-desk", json!({})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(app.env.control().meetings_of(GRACE).await.unwrap().len(), 2);

    // The same with granular scopes (every server-to-server app made today): create, start
    // link (a read), delete, each under its own `:admin` scope.
    app.services()
        .connect_server_to_server(&ctx, "front-desk-2", app.apps[GRANULAR_S2S_APP], GRACE)
        .await
        .unwrap();
    let (status, meeting) = app
        .create_meeting(
            "front-desk-2",
            json!({ "type": "scheduled", "start_time": "2030-03-01T10:00:00Z" }),
        )
        .await;
    assert_eq!(status, 201, "{meeting}");
    let start = app
        .http
        .get(meeting["start_link"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    let path = format!("/v1/meetings/{}", meeting["id"].as_str().unwrap());
    let (status, body) = app.api(Method::DELETE, &path, None).await;
    assert!([200, 204].contains(&status), "{status} {body}");
    let zoom_id = meeting["zoom_meeting_id"].as_i64().unwrap();
    let at_zoom = app.env.control().meetings_of(GRACE).await.unwrap();
    assert!(
        at_zoom.iter().any(|m| m.id == zoom_id && m.deleted),
        "{at_zoom:?}"
    );
}

async fn scheduled_recurring_update_delete_and_list(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    let (status, scheduled) = app
        .create_meeting("dr-ada", json!({ "type": "scheduled", "topic": "Intake", "start_time": "2030-01-15T15:00:00Z", "duration": 45, "timezone": "America/New_York" }))
        .await;
    assert_eq!(status, 201, "{scheduled}");
    assert_eq!(scheduled["duration"], 45);
    assert_eq!(scheduled["start_time"], "2030-01-15T15:00:00Z");
    assert_eq!(
        scheduled["settings"]["waiting_room"], true,
        "the tenant's locked policy applies"
    );
    let (status, recurring) = app
        .create_meeting("dr-ada", json!({ "type": "recurring", "topic": "Weekly", "start_time": "2030-01-16T15:00:00Z", "duration": 30, "recurrence": { "type": "weekly", "weekly_days": [4], "end_times": 4 } }))
        .await;
    assert_eq!(status, 201, "{recurring}");
    assert_eq!(
        recurring["occurrences"].as_array().map(Vec::len),
        Some(4),
        "{recurring}"
    );

    // Zoom's 3000 carries its reason in its message: the answer passes it on, and does not claim
    // that the user is not the host.
    let recurring_id = recurring["id"].as_str().unwrap();
    let (status, refused) = app
        .api(
            Method::DELETE,
            &format!("/v1/meetings/{recurring_id}?occurrence_id=1"),
            None,
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["zoom_code"], 3000, "{refused}");
    let fix = refused["fix"].as_str().unwrap_or_default();
    assert!(fix.contains("Invalid occurrence_id"), "{refused}");
    assert!(!fix.contains("not this meeting's host"), "{refused}");

    let (status, list) = app
        .api(Method::GET, "/v1/users/dr-ada/meetings?limit=1", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let cursor = list["next_cursor"].as_str().unwrap();
    let (_, page2) = app
        .api(
            Method::GET,
            &format!("/v1/users/dr-ada/meetings?limit=1&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(page2["data"][0]["id"], recurring["id"]);
    assert!(page2["next_cursor"].is_null());

    let id = scheduled["id"].as_str().unwrap();
    let (status, updated) = app
        .api(
            Method::PATCH,
            &format!("/v1/meetings/{id}"),
            Some(json!({ "topic": "Intake (moved)", "duration": 60 })),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["topic"], "Intake (moved)");
    assert_eq!(updated["duration"], 60);
    let zoom_id = scheduled["zoom_meeting_id"].as_i64().unwrap();
    let at_zoom = app.env.control().meetings_of(ADA).await.unwrap();
    assert_eq!(
        at_zoom.iter().find(|m| m.id == zoom_id).unwrap().duration,
        60
    );
    // An empty agenda or client label clears it.
    let path = format!("/v1/meetings/{id}");
    let (_, set) = app
        .api(
            Method::PATCH,
            &path,
            Some(json!({ "agenda": "Notes", "client_label": "Jane" })),
        )
        .await;
    assert_eq!(set["agenda"], "Notes", "{set}");
    assert_eq!(set["client_label"], "Jane", "{set}");
    let (status, cleared) = app
        .api(
            Method::PATCH,
            &path,
            Some(json!({ "agenda": "", "client_label": "" })),
        )
        .await;
    assert_eq!(status, 200, "{cleared}");
    assert!(
        cleared["agenda"].as_str().unwrap_or_default().is_empty(),
        "{cleared}"
    );
    assert!(cleared["client_label"].is_null(), "{cleared}");
    // An update checks what a create checks: no past start, and only recurring meetings recur.
    for (patch, field) in [
        (
            json!({ "start_time": "2020-01-15T15:00:00Z" }),
            "start_time",
        ),
        (
            json!({ "recurrence": { "type": "daily", "end_times": 3 } }),
            "recurrence",
        ),
    ] {
        let (status, problem) = app
            .api(Method::PATCH, &format!("/v1/meetings/{id}"), Some(patch))
            .await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }

    let (status, _) = app
        .api(Method::DELETE, &format!("/v1/meetings/{id}"), None)
        .await;
    assert_eq!(status, 204);
    assert!(
        !app.env
            .control()
            .meetings_of(ADA)
            .await
            .unwrap()
            .iter()
            .any(|m| m.id == zoom_id && !m.deleted)
    );
    let (status, _) = app
        .api(Method::DELETE, &format!("/v1/meetings/{id}"), None)
        .await;
    assert_eq!(status, 404, "deleting twice");
    let (_, list) = app
        .api(Method::GET, "/v1/users/dr-ada/meetings?window=all", None)
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
}

/// Zoom moves a series only with its recurrence: a type-8 meeting needs it with every future
/// start, and a type-3 one ignores a start unless the PATCH makes it type 8.
async fn a_series_moves_with_its_recurrence(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    let starts = |view: &Value| -> Vec<String> {
        view["occurrences"]
            .as_array()
            .map(|o| {
                o.iter()
                    .map(|o| o["start_time"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    // Wednesdays (2030-01-16 is one); a new start alone keeps the stored recurrence.
    let (status, weekly) = app
        .create_meeting("dr-ada", json!({ "type": "recurring", "start_time": "2030-01-16T15:00:00Z", "duration": 30, "recurrence": { "type": "weekly", "weekly_days": [4], "end_times": 3 } }))
        .await;
    assert_eq!(status, 201, "{weekly}");
    let path = format!("/v1/meetings/{}", weekly["id"].as_str().unwrap());
    let (status, moved) = app
        .api(
            Method::PATCH,
            &path,
            Some(json!({ "start_time": "2030-01-23T16:00:00Z" })),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        starts(&moved),
        [
            "2030-01-23T16:00:00Z",
            "2030-01-30T16:00:00Z",
            "2030-02-06T16:00:00Z"
        ],
        "{moved}"
    );
    // With a recurrence, that one: Fridays.
    let (status, moved) = app
        .api(
            Method::PATCH,
            &path,
            Some(json!({ "start_time": "2030-01-25T16:00:00Z", "recurrence": { "type": "weekly", "weekly_days": [6], "end_times": 2 } })),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        starts(&moved),
        ["2030-01-25T16:00:00Z", "2030-02-01T16:00:00Z"],
        "{moved}"
    );

    // No fixed time: a start alone, or a recurrence alone, would be dropped at Zoom.
    let (status, loose) = app
        .create_meeting("dr-ada", json!({ "type": "recurring" }))
        .await;
    assert_eq!(status, 201, "{loose}");
    let path = format!("/v1/meetings/{}", loose["id"].as_str().unwrap());
    let updates_before = app.counters().await.total_calls("meetings.update");
    for (patch, field) in [
        (
            json!({ "start_time": "2030-01-16T15:00:00Z" }),
            "recurrence",
        ),
        (
            json!({ "recurrence": { "type": "daily", "end_times": 2 } }),
            "start_time",
        ),
    ] {
        let (status, problem) = app.api(Method::PATCH, &path, Some(patch)).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    assert_eq!(
        app.counters().await.total_calls("meetings.update"),
        updates_before,
        "nothing reached Zoom"
    );
    // Both together fix its occurrences (Zoom's type 8).
    let (status, fixed) = app
        .api(
            Method::PATCH,
            &path,
            Some(json!({ "start_time": "2030-01-16T15:00:00Z", "recurrence": { "type": "daily", "end_times": 2 } })),
        )
        .await;
    assert_eq!(status, 200, "{fixed}");
    assert_eq!(fixed["type"], "recurring");
    assert_eq!(fixed["start_time"], "2030-01-16T15:00:00Z", "{fixed}");
    assert_eq!(
        starts(&fixed),
        ["2030-01-16T15:00:00Z", "2030-01-17T15:00:00Z"],
        "{fixed}"
    );
    let zoom_id = loose["zoom_meeting_id"].as_i64().unwrap();
    let at_zoom = app.env.control().meetings_of(ADA).await.unwrap();
    assert_eq!(
        at_zoom
            .iter()
            .find(|m| m.id == zoom_id)
            .unwrap()
            .meeting_type,
        8
    );
}

async fn invalid_input_is_a_problem_and_changes_nothing(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    let cases = [
        (json!({ "type": "scheduled" }), "start_time"),
        (json!({ "type": "weekly" }), "type"),
        (json!({ "password": "way-too-long-password" }), "password"),
        (json!({ "duration": 0 }), "duration"),
        // A path segment of Zoom's URL: `..` would point the call at another endpoint.
        (json!({ "host": ".." }), "host"),
        (json!({ "host": "users/../token" }), "host"),
        (json!({ "timezone": "Foo/Bar" }), "timezone"),
        (json!({ "topic": "bell\u{7}" }), "topic"),
        (
            json!({ "type": "recurring", "start_time": "2030-01-16T15:00:00Z", "recurrence": { "type": "weekly" } }),
            "recurrence.weekly_days",
        ),
        // A recurrence needs a start; a start needs a recurrence; neither may be in the past.
        (
            json!({ "type": "recurring", "recurrence": { "type": "daily" } }),
            "start_time",
        ),
        (
            json!({ "type": "recurring", "start_time": "2030-01-16T15:00:00Z" }),
            "recurrence",
        ),
        (
            json!({ "type": "recurring", "start_time": "2020-01-16T15:00:00Z", "recurrence": { "type": "daily" } }),
            "start_time",
        ),
        // Zoom's limits on the interval, and an end after the start.
        (
            json!({ "type": "recurring", "start_time": "2030-01-16T15:00:00Z", "recurrence": { "type": "weekly", "weekly_days": [2], "repeat_interval": 13 } }),
            "recurrence.repeat_interval",
        ),
        (
            json!({ "type": "recurring", "start_time": "2030-01-16T15:00:00Z", "recurrence": { "type": "daily", "end_date_time": "2030-01-15T15:00:00Z" } }),
            "recurrence.end_date_time",
        ),
    ];
    for (body, field) in cases {
        let (status, problem) = app.create_meeting("dr-ada", body).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["type"], "/problems/validation");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    // JSON of the wrong shape names where it goes wrong, like a value out of range.
    for (body, field) in [
        (json!({ "topik": "typo" }), "topik"),
        (json!({ "duration": "an hour" }), "duration"),
        (
            json!({ "recurrence": { "type": "daily", "weekly_days": "2" } }),
            "recurrence.weekly_days",
        ),
    ] {
        let (status, problem) = app.create_meeting("dr-ada", body).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["type"], "/problems/validation");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    // Broken JSON stays a malformed body.
    let broken = app
        .http
        .post(format!("{}/v1/users/dr-ada/meetings", app.main.base))
        .bearer_auth(&app.api_key)
        .header("content-type", "application/json")
        .body(r#"{"topic": "#)
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), 400);
    let problem: Value = broken.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/malformed-body", "{problem}");
    // Good JSON under another content type is refused as such, not as malformed.
    let sent_as_text = app
        .http
        .post(format!("{}/v1/users/dr-ada/meetings", app.main.base))
        .bearer_auth(&app.api_key)
        .header("content-type", "text/plain")
        .body(r#"{"topic":"plain"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(sent_as_text.status(), 415);
    let problem: Value = sent_as_text.json().await.unwrap();
    assert_eq!(
        problem["type"], "/problems/unsupported-media-type",
        "{problem}"
    );
    let (status, problem) = app.create_meeting("nobody", json!({})).await;
    assert_eq!(status, 409);
    assert_eq!(problem["type"], "/problems/not-connected");
    assert!(app.env.control().meetings_of(ADA).await.unwrap().is_empty());
    let audit = app
        .services()
        .store
        .list_audit(&meetgate_store::models::AuditQuery {
            tenant_id: Some(app.tenant),
            action_prefix: Some("meeting.".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(audit.is_empty(), "no half-written meeting: {audit:?}");
}

/// A scheduled meeting whose answer from Zoom was lost is found in Zoom's list and adopted.
async fn lost_create_answer_is_reconciled_not_retried(backend: Backend) {
    let Some(app) = TestApp::spawn_impatient(backend).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    lose_next_create_answer(&app).await;
    let body =
        json!({ "type": "scheduled", "topic": "Check-in", "start_time": "2031-05-01T09:00:00Z" });
    let create = || create_for_ada(&app, &body, "lost-1");
    let (status, meeting) = create().await;
    assert_eq!(status, 201, "adopted from Zoom's list: {meeting}");
    let at_zoom = app.env.control().meetings_of(ADA).await.unwrap();
    assert_eq!(at_zoom.len(), 1);
    assert_eq!(meeting["zoom_meeting_id"], at_zoom[0].id);
    let (status, again) = create().await;
    assert_eq!(status, 201);
    assert_eq!(again["id"], meeting["id"]);
    assert_eq!(app.env.control().meetings_of(ADA).await.unwrap().len(), 1);
}

/// A key's holder starts no Zoom call it might still be in when a retry can take the key over:
/// out of time to look for a lost answer, it answers "outcome unknown", and the retry that
/// takes the key over finds the meeting and adopts it.
async fn a_holder_out_of_time_stops_looking_and_the_retry_adopts(backend: Backend) {
    let Some(app) = TestApp::spawn_impatient(backend).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    lose_next_create_answer(&app).await;
    let lists_before = app.counters().await.calls("meetings.list", 200);
    let body =
        json!({ "type": "scheduled", "topic": "Review", "start_time": "2031-05-02T09:00:00Z" });
    let create = || create_for_ada(&app, &body, "late-1");
    let first = create();
    let clock = app.services().clock.clone();
    let (answer, ()) = tokio::join!(first, async {
        // While Zoom's answer is being lost: the takeover window (10 s here) nearly over.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        clock.advance(std::time::Duration::from_millis(9_500));
    });
    let (status, problem) = answer;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["type"], "/problems/zoom-outcome-unknown");
    assert_eq!(
        app.counters().await.calls("meetings.list", 200),
        lists_before,
        "no look started that could outlast the window"
    );
    app.services()
        .clock
        .advance(std::time::Duration::from_secs(1));
    let (status, meeting) = create().await;
    assert_eq!(
        status, 201,
        "the retry takes the key over and adopts: {meeting}"
    );
    let at_zoom = app.env.control().meetings_of(ADA).await.unwrap();
    assert_eq!(at_zoom.len(), 1, "one meeting at Zoom");
    assert_eq!(meeting["zoom_meeting_id"], at_zoom[0].id);
}

/// A holder whose key a retry took over while Zoom created its meeting does not delete that
/// meeting: the retry may have adopted it, and its answer carries the meeting's link.
async fn a_holder_whose_key_was_taken_over_leaves_the_meeting_to_the_retry(backend: Backend) {
    let Some(app) = TestApp::spawn_impatient(backend).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    // Zoom creates the meeting at once and answers 800 ms later, within the 1 s timeout.
    app.fault(
        FaultKind::TimeoutAfterWork { hold_ms: 800 },
        "meetings.create",
        1,
    )
    .await;
    // The retry's read of the meeting it adopts ends after the first holder has its answer.
    app.fault(FaultKind::Latency { ms: 700 }, "meetings.get", 1)
        .await;
    let body =
        json!({ "type": "scheduled", "topic": "Consult", "start_time": "2031-05-03T09:00:00Z" });
    let create = || create_for_ada(&app, &body, "slow-1");
    let clock = app.services().clock.clone();
    let (first, second) = tokio::join!(create(), async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        // The first holder looks dead to the retry: its window (10 s here) is over.
        clock.advance(std::time::Duration::from_secs(11));
        create().await
    });
    assert_eq!(first.0, 409, "the first holder lost the key: {}", first.1);
    assert_eq!(first.1["type"], "/problems/idempotency-in-progress");
    assert_eq!(second.0, 201, "the retry adopted the meeting: {}", second.1);
    let at_zoom = app.env.control().meetings_of(ADA).await.unwrap();
    assert_eq!(at_zoom.len(), 1, "the adopted meeting is still at Zoom");
    assert_eq!(second.1["zoom_meeting_id"], at_zoom[0].id);
}

/// Zoom's list leaves instant meetings out, so a lost answer cannot be looked up: meetgate
/// makes another at once, and records one. The first, whose link nobody got, is never started.
async fn a_lost_answer_to_an_instant_create_makes_another(backend: Backend) {
    let Some(app) = TestApp::spawn_impatient(backend).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    lose_next_create_answer(&app).await;
    let lists_before = app.counters().await.calls("meetings.list", 200);
    let instant = json!({ "type": "instant" });
    let create = || create_for_ada(&app, &instant, "instant-1");
    let (status, meeting) = create().await;
    assert_eq!(status, 201, "{meeting}");
    let at_zoom = app.env.control().meetings_of(ADA).await.unwrap();
    assert_eq!(at_zoom.len(), 2, "the lost one and the one recorded");
    assert!(at_zoom.iter().any(|m| meeting["zoom_meeting_id"] == m.id));
    assert_eq!(
        app.counters().await.calls("meetings.list", 200),
        lists_before,
        "no futile look in a list that cannot hold it"
    );
    let (status, again) = create().await;
    assert_eq!(status, 201);
    assert_eq!(
        again["id"], meeting["id"],
        "the key replays the one recorded"
    );
    assert_eq!(app.env.control().meetings_of(ADA).await.unwrap().len(), 2);

    // Both answers lost: the outcome is unknown, and the answer says when a retry with the key
    // can take the attempt over (5 x meetgate's 1 s Zoom timeout + 5 s here).
    app.fault(
        FaultKind::TimeoutAfterWork { hold_ms: 2500 },
        "meetings.create",
        2,
    )
    .await;
    let response = app
        .http
        .post(app.url("/v1/users/dr-ada/meetings"))
        .bearer_auth(&app.api_key)
        .header("idempotency-key", "instant-2")
        .json(&json!({ "type": "instant" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "10");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(
        problem["type"], "/problems/zoom-outcome-unknown",
        "{problem}"
    );
}

/// `POST /v1/users/dr-ada/meetings` with `body` and an Idempotency-Key.
async fn create_for_ada(app: &TestApp, body: &Value, key: &str) -> (u16, Value) {
    app.api_on(
        &app.main,
        Method::POST,
        "/v1/users/dr-ada/meetings",
        Some(body.clone()),
        Some(key),
    )
    .await
}

/// Zoom creates the next meeting but its answer never reaches meetgate.
async fn lose_next_create_answer(app: &TestApp) {
    app.fault(
        FaultKind::TimeoutAfterWork { hold_ms: 2500 },
        "meetings.create",
        1,
    )
    .await;
}

/// Zoom refuses to change a meeting in progress (3000); the answer says so, and nothing changes.
async fn a_meeting_in_progress_cannot_be_changed_and_says_why(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    let (status, meeting) = app
        .create_meeting("dr-ada", json!({ "type": "instant", "topic": "Intake" }))
        .await;
    assert_eq!(status, 201, "{meeting}");
    let zoom_id = meeting["zoom_meeting_id"].as_i64().unwrap();
    app.env.control().start_meeting(zoom_id).await.unwrap();
    let path = format!("/v1/meetings/{}", meeting["id"].as_str().unwrap());
    let (status, problem) = app
        .api(Method::PATCH, &path, Some(json!({ "topic": "Renamed" })))
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["type"], "/problems/zoom-rejected");
    assert_eq!(problem["zoom_code"], 3000);
    assert!(
        problem["fix"].as_str().unwrap().contains("in progress"),
        "{problem}"
    );
    let (_, stored) = app.api(Method::GET, &path, None).await;
    assert_eq!(stored["topic"], "Intake");

    // Once it has ended, Zoom keeps it (3007): the answer says so, and it stays in the history,
    // marked ended even though Zoom's meeting.ended webhook never reached meetgate here.
    app.env.control().end_meeting(zoom_id).await.unwrap();
    let (_, before) = app.api(Method::GET, &path, None).await;
    assert_ne!(before["status"], "ended", "{before}");
    let (status, problem) = app.api(Method::DELETE, &path, None).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["zoom_code"], 3007, "{problem}");
    assert!(
        problem["fix"].as_str().unwrap().contains("already ended"),
        "{problem}"
    );
    let (status, stored) = app.api(Method::GET, &path, None).await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["status"], "ended", "{stored}");
    let events = app.services().store.list_events(app.tenant, None, 50).await;
    let ended: Vec<_> = events
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "meeting.ended")
        .collect();
    assert_eq!(ended.len(), 1, "the host app hears that it ended, once");
    assert_eq!(ended[0].payload["data"]["zoom_meeting_id"], zoom_id);
    let (status, _) = app.api(Method::DELETE, &path, None).await;
    assert_eq!(status, 422);
    let events = app.services().store.list_events(app.tenant, None, 50).await;
    assert_eq!(
        events
            .unwrap()
            .iter()
            .filter(|e| e.event_type == "meeting.ended")
            .count(),
        1,
        "a second refusal adds nothing"
    );
}

/// Two updates of one meeting overlap: the one that writes last read the meeting before the
/// other wrote, and must not put back what it read (the client label lives only in meetgate).
async fn two_updates_at_once_keep_both_changes(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    let (status, meeting) = app
        .create_meeting("dr-ada", json!({ "type": "scheduled", "topic": "Intake", "start_time": "2030-01-15T15:00:00Z", "client_label": "Before" }))
        .await;
    assert_eq!(status, 201, "{meeting}");
    let path = format!("/v1/meetings/{}", meeting["id"].as_str().unwrap());
    // The first update's read-back from Zoom is slow, so the second one writes first.
    app.fault(FaultKind::Latency { ms: 1200 }, "meetings.get", 1)
        .await;
    let slow = app.api(Method::PATCH, &path, Some(json!({ "topic": "Renamed" })));
    let fast = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        app.api(
            Method::PATCH,
            &path,
            Some(json!({ "client_label": "Jane Doe" })),
        )
        .await
    };
    let ((slow_status, slow_body), (fast_status, fast_body)) = tokio::join!(slow, fast);
    assert_eq!(fast_status, 200, "{fast_body}");
    assert_eq!(fast_body["client_label"], "Jane Doe");
    assert_eq!(slow_status, 200, "{slow_body}");
    assert_eq!(slow_body["client_label"], "Jane Doe", "{slow_body}");
    let (_, stored) = app.api(Method::GET, &path, None).await;
    assert_eq!(stored["topic"], "Renamed", "{stored}");
    assert_eq!(stored["client_label"], "Jane Doe", "{stored}");
    // The refused write wrote nothing: one audit entry per update.
    let (_, audit) = app
        .api(Method::GET, "/v1/audit-events?action=meeting.updated", None)
        .await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 2, "{audit}");
}

/// Zoom's next reads of a meeting answer 503.
async fn fail_reads_back(app: &TestApp) {
    app.fault(
        FaultKind::ZoomError {
            status: 503,
            code: None,
            error: None,
            message: "Service temporarily unavailable".into(),
        },
        "meetings.get",
        5,
    )
    .await;
}

/// Zoom makes the change, then fails to answer the read that follows: meetgate's copy takes what
/// was sent (and the client label, which only meetgate holds), instead of staying as it was.
async fn an_update_whose_read_back_fails_keeps_what_was_sent(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    let (status, meeting) = app
        .create_meeting("dr-ada", json!({ "type": "scheduled", "topic": "Intake", "start_time": "2030-01-15T15:00:00Z", "client_label": "Before", "agenda": "First visit" }))
        .await;
    assert_eq!(status, 201, "{meeting}");
    assert_eq!(meeting["settings"]["mute_upon_entry"], false, "{meeting}");
    let path = format!("/v1/meetings/{}", meeting["id"].as_str().unwrap());
    fail_reads_back(&app).await;
    let patch = json!({
        "topic": "Follow-up",
        "client_label": "Jane Doe",
        "agenda": "",
        "start_time": "2030-01-16T16:30:00Z",
        "duration": 45,
        "settings": { "mute_upon_entry": true }
    });
    let (status, updated) = app.api(Method::PATCH, &path, Some(patch)).await;
    assert_eq!(status, 200, "{updated}");
    let (_, stored) = app.api(Method::GET, &path, None).await;
    for view in [&updated, &stored] {
        assert_eq!(view["topic"], "Follow-up", "{view}");
        assert_eq!(view["client_label"], "Jane Doe", "{view}");
        assert!(view["agenda"].is_null(), "{view}");
        assert_eq!(view["start_time"], "2030-01-16T16:30:00Z", "{view}");
        assert_eq!(view["duration"], 45, "{view}");
        assert_eq!(view["settings"]["mute_upon_entry"], true, "{view}");
        // Settings meetgate does not send stay as they were.
        assert_eq!(view["settings"]["audio"], meeting["settings"]["audio"]);
        assert_eq!(view["settings"]["encryption_type"], "enhanced_encryption");
        assert_eq!(view["join_url"], meeting["join_url"], "{view}");
    }
    let at_zoom = app.env.control().meetings_of(ADA).await.unwrap();
    assert_eq!(at_zoom[0].topic, "Follow-up", "the change reached Zoom");
    let (_, audit) = app
        .api(Method::GET, "/v1/audit-events?action=meeting.updated", None)
        .await;
    let entries = audit["data"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["details"]["zoom_read_back"], "failed", "{audit}");

    // A new passcode changes the join URL at Zoom in a way only Zoom knows: that update answers
    // the error, and a retry reads again.
    fail_reads_back(&app).await;
    let (status, problem) = app
        .api(Method::PATCH, &path, Some(json!({ "password": "n3wPass" })))
        .await;
    assert_eq!(status, 502, "{problem}");
    let (_, after) = app.api(Method::GET, &path, None).await;
    assert_eq!(after["password"], stored["password"], "{after}");
}

/// The host app gives up while meetgate waits for Zoom: the meeting Zoom then creates is still
/// recorded (and listed), not orphaned at Zoom.
async fn a_client_that_hangs_up_still_gets_its_meeting_recorded(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    app.fault(FaultKind::Latency { ms: 700 }, "meetings.create", 1)
        .await;
    let hasty = app
        .http
        .post(app.url("/v1/users/dr-ada/meetings"))
        .bearer_auth(&app.api_key)
        .json(&json!({ "topic": "Follow-up" }))
        .timeout(std::time::Duration::from_millis(150))
        .send()
        .await;
    assert!(hasty.unwrap_err().is_timeout(), "the client gave up first");
    eventually("the meeting is recorded", || async {
        let (status, list) = app
            .api(Method::GET, "/v1/users/dr-ada/meetings?window=all", None)
            .await;
        status == 200 && list["data"].as_array().is_some_and(|d| d.len() == 1)
    })
    .await;
    let at_zoom = app.env.control().meetings_of(ADA).await.unwrap();
    assert_eq!(at_zoom.len(), 1);
    let (_, list) = app
        .api(Method::GET, "/v1/users/dr-ada/meetings?window=all", None)
        .await;
    assert_eq!(list["data"][0]["zoom_meeting_id"], at_zoom[0].id);
}

async fn updates_and_deletes_honour_idempotency_keys(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    let (_, meeting) = app
        .create_meeting("dr-ada", json!({ "topic": "Intake" }))
        .await;
    let path = format!("/v1/meetings/{}", meeting["id"].as_str().unwrap());
    let send = |method: Method, body: Option<Value>, key: &'static str| {
        let (http, url, api_key) = (app.http.clone(), app.url(&path), app.api_key.clone());
        async move {
            let mut request = http
                .request(method, url)
                .bearer_auth(api_key)
                .header("idempotency-key", key);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let r = request.send().await.unwrap();
            let replayed = r.headers().contains_key("idempotent-replayed");
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (status, replayed, body)
        }
    };
    let patch = json!({ "topic": "Intake, moved", "duration": 50 });
    let (status, replayed, first) = send(Method::PATCH, Some(patch.clone()), "upd-1").await;
    assert_eq!((status, replayed), (200, false), "{first}");
    let (status, replayed, again) = send(Method::PATCH, Some(patch), "upd-1").await;
    assert_eq!((status, replayed), (200, true));
    assert_eq!(again, first);
    let (status, _, problem) =
        send(Method::PATCH, Some(json!({ "topic": "Other" })), "upd-1").await;
    assert_eq!(status, 422);
    assert_eq!(problem["type"], "/problems/idempotency-mismatch");
    let updates = app
        .services()
        .store
        .list_audit(&meetgate_store::models::AuditQuery {
            tenant_id: Some(app.tenant),
            action_prefix: Some("meeting.updated".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(updates.len(), 1, "one update however often the key is sent");
    let at_zoom = app.env.control().meetings_of(ADA).await.unwrap();
    assert_eq!(at_zoom[0].topic, "Intake, moved");

    let (status, replayed, _) = send(Method::DELETE, None, "del-1").await;
    assert_eq!((status, replayed), (204, false));
    let (status, replayed, _) = send(Method::DELETE, None, "del-1").await;
    assert_eq!(
        (status, replayed),
        (204, true),
        "a retried delete is not a 404"
    );
    let (status, _, _) = send(Method::DELETE, None, "del-2").await;
    assert_eq!(status, 404, "a new delete of a deleted meeting");
}

async fn tenants_cannot_see_each_other(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    let (_, meeting) = app.create_meeting("dr-ada", json!({})).await;
    let id = meeting["id"].as_str().unwrap();
    let services = app.services();
    let other = services
        .create_tenant(
            "Other Clinic",
            Default::default(),
            true,
            services.clock.now(),
        )
        .await
        .unwrap();
    let key = other.api_key.secret.expose().to_owned();
    let get = |path: String| {
        let (http, key) = (app.http.clone(), key.clone());
        let url = app.url(&path);
        async move {
            let r = http.get(url).bearer_auth(key).send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let (status, problem) = get(format!("/v1/meetings/{id}")).await;
    assert_eq!(status, 404);
    let (missing_status, missing) = get(format!("/v1/meetings/{}", uuid::Uuid::now_v7())).await;
    assert_eq!(missing_status, 404);
    assert_eq!(
        problem["detail"], missing["detail"],
        "another tenant's id answers like a missing one"
    );
    let (status, _) = get("/v1/users/dr-ada/connection".into()).await;
    assert_eq!(status, 409);
    let (_, list) = get("/v1/users/dr-ada/meetings?window=all".into()).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
}

/// The database refuses the meeting after Zoom made it: meetgate undoes it at Zoom, so the
/// failed request leaves nothing behind and the retry makes exactly one meeting. SQLite only:
/// the undoing is domain code, and a trigger is the simplest way to make the write fail.
#[tokio::test]
async fn a_meeting_the_database_refuses_is_undone_at_zoom() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    let side = meetgate_store_sqlite::SqliteStore::connect(&app.env.database_url)
        .await
        .unwrap();
    let refuse = |on: bool| {
        let side = &side;
        async move {
            let sql = if on {
                "CREATE TRIGGER refuse_meetings BEFORE INSERT ON meetings \
                 BEGIN SELECT RAISE(ABORT, 'disk is full'); END"
            } else {
                "DROP TRIGGER refuse_meetings"
            };
            side.on_writer_for_tests(move |c| c.execute_batch(sql).unwrap())
                .await
                .unwrap();
        }
    };
    let body = json!({ "topic": "Refused once" });
    let path = "/v1/users/dr-ada/meetings";
    refuse(true).await;
    let (status, problem) = app
        .api_on(
            &app.main,
            Method::POST,
            path,
            Some(body.clone()),
            Some("k-refused"),
        )
        .await;
    assert!(status >= 500, "{status} {problem}");
    assert!(problem["type"].is_string(), "{problem}");
    let at_zoom = app.env.control().meetings_of(ADA).await.unwrap();
    assert!(
        at_zoom.len() == 1 && at_zoom[0].deleted,
        "made, then undone at Zoom: {at_zoom:?}"
    );

    refuse(false).await;
    let (status, meeting) = app
        .api_on(&app.main, Method::POST, path, Some(body), Some("k-refused"))
        .await;
    assert_eq!(status, 201, "{meeting}");
    let live: Vec<_> = app
        .env
        .control()
        .meetings_of(ADA)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| !m.deleted)
        .collect();
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0].id, meeting["zoom_meeting_id"].as_i64().unwrap());
}

/// Zoom deletes the occurrence but its answer is lost: the retry with the same key finds it gone
/// and reports the delete done (once), instead of Zoom's "Invalid occurrence_id".
async fn a_lost_answer_to_an_occurrence_delete_is_done_on_retry(backend: Backend) {
    let Some(app) = TestApp::spawn_impatient(backend).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    let (status, recurring) = app
        .create_meeting("dr-ada", json!({ "type": "recurring", "topic": "Weekly", "start_time": "2030-01-16T15:00:00Z", "duration": 30, "recurrence": { "type": "weekly", "weekly_days": [4], "end_times": 4 } }))
        .await;
    assert_eq!(status, 201, "{recurring}");
    let occurrence = recurring["occurrences"][1]["occurrence_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!(
        "/v1/meetings/{}?occurrence_id={occurrence}",
        recurring["id"].as_str().unwrap()
    );
    app.fault(
        FaultKind::TimeoutAfterWork { hold_ms: 2500 },
        "meetings.delete",
        1,
    )
    .await;
    let (status, lost) = app
        .api_on(&app.main, Method::DELETE, &path, None, Some("del-1"))
        .await;
    assert_eq!(status, 502, "{lost}");
    let (status, retried) = app
        .api_on(&app.main, Method::DELETE, &path, None, Some("del-1"))
        .await;
    assert_eq!(status, 204, "{retried}");
    let at_zoom = app.env.control().meetings_of(ADA).await.unwrap();
    assert_eq!(at_zoom[0].occurrences, 3, "one of four deleted, once");
    let (_, audit) = app
        .api(Method::GET, "/v1/audit-events?action=meeting.deleted", None)
        .await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 1, "{audit}");
}

/// Zoom answers a missing scope with 4700 and HTTP 401, or with 4711 and HTTP 400 (ZOOM.md:
/// CONFLICT). The sandbox sends the first by itself; the second, sent here as a fault, gets the
/// same answer: which scope, and what to change. No refresh is tried for it.
async fn zooms_other_missing_scope_answer_gets_the_same_fix(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    app.fault(
        FaultKind::ZoomError {
            status: 400,
            code: Some(4711),
            error: None,
            message: "Invalid access token, does not contain scopes:[meeting:write].".into(),
        },
        "meetings.create",
        1,
    )
    .await;
    app.env.control().reset_counters().await.unwrap();
    let (status, problem) = app.create_meeting("dr-ada", json!({})).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["type"], "/problems/zoom-rejected");
    assert_eq!(problem["zoom_code"], 4711);
    let required = problem["required_scopes"].as_array().unwrap();
    assert!(required.iter().any(|s| s == "meeting:write"), "{problem}");
    assert!(
        problem["fix"].as_str().unwrap().contains("connect again"),
        "{problem}"
    );
    assert_eq!(app.counters().await.calls("oauth.token", 200), 0);
}

/// A create through meetgate that Zoom refuses with `fault`: status, headers and body.
async fn create_refused_with(
    app: &TestApp,
    fault: FaultKind,
) -> (u16, reqwest::header::HeaderMap, Value) {
    app.fault(fault, "meetings.create", 1).await;
    let response = app
        .http
        .post(app.url("/v1/users/dr-ada/meetings"))
        .bearer_auth(&app.api_key)
        .json(&json!({ "type": "instant" }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap())
}

/// Seconds until the next 00:00 UTC, give or take the test's own run time.
fn seconds_to_midnight_utc() -> u64 {
    let now = time::OffsetDateTime::now_utc();
    let midnight = now.date().next_day().unwrap().midnight().assume_utc();
    (midnight - now).whole_seconds() as u64
}

/// Zoom's spec documents its daily limit as HTTP 400 with code 300, not only as a 429: either
/// way it is the rate limit, with a retry at 00:00 UTC, not an invalid request.
#[tokio::test]
async fn the_daily_limit_told_as_code_300_is_a_rate_limit() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    let (status, headers, problem) = create_refused_with(
        &app,
        FaultKind::ZoomError {
            status: 400,
            code: Some(300),
            error: None,
            message:
                "A maximum of 100 meetings can be created/updated for a single user in one day."
                    .into(),
        },
    )
    .await;
    assert_eq!(status, 429, "{problem}");
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(problem["type"], "/problems/zoom-rate-limited");
    assert!(
        problem["detail"].as_str().unwrap().contains("daily limit"),
        "{problem}"
    );
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    let expected = seconds_to_midnight_utc();
    assert!(
        retry_after.abs_diff(expected) <= 5,
        "{retry_after} s, midnight in {expected} s"
    );
    assert_eq!(problem["retry_after"], retry_after.to_string());
    assert!(problem.get("zoom_retry_after").is_none(), "{problem}");
}

/// Zoom's daily limit carries Retry-After as an ISO-8601 date-time; meetgate's own header must
/// be delay-seconds (RFC 9110), and Zoom's value stays readable in the problem.
#[tokio::test]
async fn a_daily_limit_answers_retry_after_in_seconds() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    let (status, headers, problem) = create_refused_with(&app, FaultKind::DailyLimit).await;
    assert_eq!(status, 429, "{problem}");
    assert_eq!(problem["type"], "/problems/zoom-rate-limited");
    let header = headers["retry-after"].to_str().unwrap();
    let retry_after: u64 = header
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After is not delay-seconds: {header:?}"));
    assert!(retry_after <= 86_400, "{retry_after}");
    assert!(
        retry_after.abs_diff(seconds_to_midnight_utc()) <= 5,
        "{retry_after}"
    );
    assert_eq!(problem["retry_after"], header);
    let zoom_value = problem["zoom_retry_after"].as_str().unwrap();
    assert!(zoom_value.ends_with("T00:00:00Z"), "{zoom_value}");
}

/// Zoom returns no start time for an instant meeting. meetgate dates it from its creation, so
/// it leaves the upcoming meetings once its hour is over instead of staying there for good.
async fn an_instant_meeting_without_a_start_time_passes(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.connect("dr-ada", ADA, USER_APP).await;
    let (status, meeting) = app
        .create_meeting("dr-ada", json!({ "type": "instant" }))
        .await;
    assert_eq!(status, 201, "{meeting}");
    let at_zoom = app.env.control().meetings_of(ADA).await.unwrap();
    assert_eq!(
        at_zoom[0].start_time, None,
        "the sandbox gives no start time"
    );
    assert_eq!(meeting["start_time"], meeting["created_at"], "{meeting}");
    let ids = |window: &'static str| {
        let app = &app;
        async move {
            let (status, list) = app
                .api(
                    Method::GET,
                    &format!("/v1/users/dr-ada/meetings?window={window}"),
                    None,
                )
                .await;
            assert_eq!(status, 200, "{list}");
            list["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].clone())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids("upcoming").await, [meeting["id"].clone()]);
    assert!(ids("past").await.is_empty());
    // Its slot (60 minutes by default) is over.
    app.services()
        .clock
        .advance(std::time::Duration::from_secs(61 * 60));
    assert!(ids("upcoming").await.is_empty());
    assert_eq!(ids("past").await, [meeting["id"].clone()]);
}
