use reqwest::Method;
use serde_json::Value;

use crate::both_backends;
use crate::support::*;

both_backends!(
    openapi_describes_every_route,
    errors_are_problems_with_request_ids,
    a_key_revoked_elsewhere_is_refused_within_the_lookup_cache_ttl
);

/// A client that never finishes its headers is cut off after `http.header_read_timeout_secs`
/// (slowloris), and a whole request on the same listener is served as usual.
#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let impatient = app
        .env
        .instance(|c| c.http.header_read_timeout_secs = 1)
        .await;
    let addr = impatient.base.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: meetgate\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        slow.read_to_end(&mut answer),
    )
    .await;
    assert!(read.is_ok(), "the connection is closed, not held");
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    assert!(
        !String::from_utf8_lossy(&answer).contains(" 200 "),
        "the unfinished request is not served"
    );
    let served = app
        .http
        .get(format!("{}/healthz", impatient.base))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
}

/// Another process caches keys for `lookup_cache_secs`: with 0 it refuses a key revoked elsewhere
/// at once, with 1 within a second; the process that revoked it refuses it at once.
async fn a_key_revoked_elsewhere_is_refused_within_the_lookup_cache_ttl(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let uncached = app.env.instance(|c| c.lookup_cache_secs = 0).await;
    let cached = app.env.instance(|c| c.lookup_cache_secs = 1).await;
    for instance in [&app.main, &uncached, &cached] {
        let (status, _) = app
            .api_on(instance, Method::GET, "/v1/tenant/settings", None, None)
            .await;
        assert_eq!(status, 200, "the key works everywhere first");
    }
    let services = app.services();
    let ctx = meetgate_service::domain::Ctx::operator(app.tenant, services.clock.now());
    let keys = services.list_api_keys(&ctx).await.unwrap();
    services.revoke_api_key(&ctx, keys[0].id).await.unwrap();
    for (name, instance) in [("the revoker", &app.main), ("no cache", &uncached)] {
        let (status, _) = app
            .api_on(instance, Method::GET, "/v1/tenant/settings", None, None)
            .await;
        assert_eq!(status, 401, "{name} refuses at once");
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, _) = app
        .api_on(&cached, Method::GET, "/v1/tenant/settings", None, None)
        .await;
    assert_eq!(status, 401, "a 1 s cache refuses after a second");
}

async fn openapi_describes_every_route(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let spec: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3.1"),
        "OpenAPI 3.1"
    );
    let paths = spec["paths"].as_object().unwrap();
    let expected = [
        "/v1/connect-sessions",
        "/v1/users/{user}/connection",
        "/v1/users/{user}/connection/diagnosis",
        "/v1/users/{user}/meetings",
        "/v1/meetings/{id}",
        "/v1/meetings/{id}/start",
        "/v1/webhook-endpoints",
        "/v1/webhook-endpoints/{id}",
        "/v1/webhook-endpoints/{id}/deliveries",
        "/v1/tenant/settings",
        "/v1/audit-events",
    ];
    for path in expected {
        assert!(paths.contains_key(path), "{path} is not in /openapi.json");
    }
    // And every documented operation is served (not the router's fallback).
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .replace("{user}", "someone")
                .replace("{id}", &uuid::Uuid::now_v7().to_string());
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app
                .http
                .request(method.clone(), app.url(&concrete))
                .bearer_auth(&app.api_key)
                .json(&serde_json::json!({}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_ne!(status, 405, "{method} {path}");
            assert_ne!(
                body["detail"], "no such route",
                "{method} {path} is documented but not routed"
            );
        }
    }
}

async fn errors_are_problems_with_request_ids(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let response = app
        .http
        .get(app.url("/v1/users/x/connection"))
        .header("x-request-id", "req-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(response.headers()["x-request-id"], "req-abc-123");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "/problems/unauthenticated");
    assert_eq!(body["request_id"], "req-abc-123");

    let (status, body) = app.api(Method::GET, "/v1/nothing-here", None).await;
    assert_eq!(status, 404);
    assert_eq!(body["type"], "/problems/not-found");
    let (status, body) = app.api(Method::PUT, "/v1/connect-sessions", None).await;
    assert_eq!(status, 405);
    assert_eq!(body["type"], "/problems/method-not-allowed");
    // A local time that is year 10000 in UTC: refused, not handed to the database (whose
    // driver panicked on it).
    let (status, body) = app
        .api(
            Method::GET,
            "/v1/audit-events?since=9999-12-31T23:59:59-23:59",
            None,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "since", "{body}");
    // A query parameter that does not fit is named.
    let (status, body) = app
        .api(Method::GET, "/v1/users/u-1/meetings?limit=abc", None)
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "limit", "{body}");
    // The audit log pages newest first on request, the cursor continuing backwards.
    let (_, oldest_first) = app.api(Method::GET, "/v1/audit-events", None).await;
    let all: Vec<Value> = oldest_first["data"].as_array().unwrap().clone();
    assert!(all.len() >= 2, "{oldest_first}");
    let (status, newest) = app
        .api(Method::GET, "/v1/audit-events?order=desc&limit=1", None)
        .await;
    assert_eq!(status, 200, "{newest}");
    assert_eq!(
        newest["data"][0]["id"],
        all[all.len() - 1]["id"],
        "{newest}"
    );
    let cursor = newest["next_cursor"].as_str().unwrap();
    let (_, older) = app
        .api(
            Method::GET,
            &format!("/v1/audit-events?order=desc&limit=1&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(older["data"][0]["id"], all[all.len() - 2]["id"], "{older}");
    // The cursor remembers the order: without `order` it goes on backwards, and against it it is
    // refused rather than read the other way.
    let (_, older) = app
        .api(
            Method::GET,
            &format!("/v1/audit-events?limit=1&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(older["data"][0]["id"], all[all.len() - 2]["id"], "{older}");
    let (status, body) = app
        .api(
            Method::GET,
            &format!("/v1/audit-events?order=asc&limit=1&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "order", "{body}");
    let (status, body) = app
        .api(Method::GET, "/v1/audit-events?order=sideways", None)
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "order", "{body}");
    // A webhook endpoint's description is shown on the admin pages: bounded and printable.
    let (status, body) = app
        .api(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(serde_json::json!({ "url": "https://events.example/hook", "description": "d".repeat(300) })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "description", "{body}");
    // What a connect session stores about the user is checked like a member's.
    for (extra, field) in [
        (serde_json::json!({ "email": "x\u{7}" }), "email"),
        (serde_json::json!({ "name": "n".repeat(500) }), "name"),
        // Reserved for the web app's members, whose links only work signed in.
        (
            serde_json::json!({ "user": format!("member:{}", uuid::Uuid::now_v7()) }),
            "user",
        ),
    ] {
        let mut request = serde_json::json!({ "user": "u-1", "return_url": app.url("/done") });
        request
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, body) = app
            .api(Method::POST, "/v1/connect-sessions", Some(request))
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
    // A misspelled setting is refused, not taken as "no such setting, use the default".
    for (sent, field) in [
        (
            serde_json::json!({ "return_url": ["https://x.example/"] }),
            "return_url",
        ),
        (
            serde_json::json!({ "meeting_policy": { "waiting_rom": { "value": true, "locked": true } } }),
            "meeting_policy.waiting_rom",
        ),
        (
            serde_json::json!({ "meeting_policy": { "waiting_room": { "value": "yes" } } }),
            "meeting_policy.waiting_room.value",
        ),
    ] {
        let (status, body) = app
            .api(Method::PUT, "/v1/tenant/settings", Some(sent))
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
    let (_, settings) = app.api(Method::GET, "/v1/tenant/settings", None).await;
    assert!(
        !settings["return_urls"].as_array().unwrap().is_empty(),
        "{settings}"
    );
    // So is an unknown field of a connect session.
    let (status, body) = app
        .api(
            Method::POST,
            "/v1/connect-sessions",
            Some(serde_json::json!({ "user": "u-1", "return_url": app.url("/done"), "retrun": 1 })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["type"], "/problems/validation", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("retrun"),
        "{body}"
    );
    // Every problem type's URI explains itself.
    let page = app
        .http
        .get(app.url("/problems/needs-reauth"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("connect_url"));
    // A revoked key stops working at once.
    let services = app.services();
    let ctx = meetgate_service::domain::Ctx::operator(app.tenant, services.clock.now());
    let keys = services.list_api_keys(&ctx).await.unwrap();
    services.revoke_api_key(&ctx, keys[0].id).await.unwrap();
    let (status, _) = app.api(Method::GET, "/v1/tenant/settings", None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn health_and_readiness() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// The body limit answers before any handler; its answer is still a problem document.
#[tokio::test]
async fn an_oversized_body_is_a_problem_too() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let big = format!("{{\"user\":\"{}\"}}", "x".repeat(400 * 1024));
    let response = app
        .http
        .post(app.url("/v1/connect-sessions"))
        .bearer_auth(&app.api_key)
        .header("content-type", "application/json")
        .header("x-request-id", "big-body-1")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/payload-too-large");
    assert_eq!(problem["request_id"], "big-body-1");
}

/// Any token is an HTTP method; labelled as sent, unauthenticated requests could grow the
/// metrics registry without end. Not a store's behaviour: SQLite only.
#[tokio::test]
async fn metrics_label_odd_methods_as_other() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let instance = app.env.instance_with_metrics().await;
    let odd = Method::from_bytes(b"QZX1").unwrap();
    for path in ["/v1/tenant/settings", "/no/such/route"] {
        let response = app
            .http
            .request(odd.clone(), format!("{}{path}", instance.base))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error(), "{path}");
    }
    let metrics = app
        .http
        .get(format!("{}/metrics", instance.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!metrics.contains("QZX1"), "{metrics}");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("meetgate_http_requests_total{")
                && l.contains(r#"method="other""#)),
        "{metrics}"
    );
}

/// HSTS only where browsers reach meetgate over https. Not a store's behaviour: SQLite only.
#[tokio::test]
async fn strict_transport_security_only_when_public_url_is_https() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let https = app
        .env
        .instance(|c| c.public_url = "https://meetgate.example".into())
        .await;
    for path in ["/healthz", "/v1/tenant/settings", "/signin"] {
        let response = app
            .http
            .get(format!("{}{path}", https.base))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=31536000",
            "{path}"
        );
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert!(
            response
                .headers()
                .get("strict-transport-security")
                .is_none(),
            "{path} over http"
        );
    }
}
