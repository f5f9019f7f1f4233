//! What an operator sees of one real run (`meetgate demo`: connect, a create, a forced token
//! expiry that four creates at once meet, a deauthorization): exact counters on `/metrics`, the
//! audit trail from `meetgate audit export` with request ids, and JSON logs that carry the
//! request id.

use std::process::Stdio;
use std::time::Duration;

use meetgate_sandbox::{FaultKind, FaultSpec};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::{free_port, meetgate, temp_dir, wait_ready};

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_shows_in_metrics_audit_export_and_logs() {
    let dir = temp_dir();
    let (port, sandbox_port) = (free_port(), free_port());
    let log_path = dir.join("demo.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut demo = KillOnDrop(
        meetgate()
            .args([
                "--data-dir",
                dir.to_str().unwrap(),
                "--log-json",
                "--log-level",
                "info,meetgate_service=debug,tower_http=debug",
                "demo",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--sandbox-listen",
                &format!("127.0.0.1:{sandbox_port}"),
            ])
            // The banner (with the demo's API key, on purpose) goes to stdout; logs to stderr.
            .stdout(Stdio::null())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_ready(port, &mut demo.0);
    let demo_json: Value =
        serde_json::from_slice(&std::fs::read(dir.join("demo.json")).unwrap()).unwrap();
    let base = demo_json["meetgate_url"].as_str().unwrap().to_owned();
    let key = demo_json["api_key"].as_str().unwrap().to_owned();
    let app = demo_json["zoom_apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "user_managed")
        .unwrap()
        .clone();
    let zoom_user = demo_json["sandbox_sign_ins"][0].clone();
    let control = meetgate_sandbox::SandboxControl::new(
        demo_json["sandbox_url"].as_str().unwrap().parse().unwrap(),
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Connect, the way a browser does.
    let session: Value = http
        .post(format!("{base}/v1/connect-sessions"))
        .bearer_auth(&key)
        .json(&json!({ "user": "dr-ops", "return_url": format!("{base}/"), "zoom_app_id": app["id"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let connect_url = session["connect_url"].as_str().unwrap();
    let go = http.get(format!("{connect_url}/go")).send().await.unwrap();
    assert_eq!(go.status(), 303);
    let cookie = go.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let authorize = go.headers()[LOCATION].to_str().unwrap().parse().unwrap();
    let callback = control
        .authorize_headless(
            &authorize,
            zoom_user["email"].as_str().unwrap(),
            zoom_user["password"].as_str().unwrap(),
        )
        .await
        .unwrap();
    let back = http
        .get(callback.as_str())
        .header(COOKIE, cookie)
        .header("x-request-id", "ops-callback")
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 303);

    // A create; then Zoom's clock jumps past the access token's life, and four creates at once
    // are each refused with 124. The first to take the grant's lock refreshes, while Zoom's token
    // endpoint takes a second; the other three queue behind it and share its token. All retry.
    let create = |request_id: &'static str| {
        let (http, base, key) = (http.clone(), base.clone(), key.clone());
        async move {
            let r = http
                .post(format!("{base}/v1/users/dr-ops/meetings"))
                .bearer_auth(key)
                .header("x-request-id", request_id)
                .json(&json!({ "topic": "Follow-up", "client_label": "Jane Roe" }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        }
    };
    create("ops-create-1").await;
    control
        .advance_clock(Duration::from_secs(3700))
        .await
        .unwrap();
    control
        .set_fault(
            FaultSpec::new(FaultKind::Latency { ms: 1000 })
                .on("oauth.token")
                .times(1),
        )
        .await
        .unwrap();
    tokio::join!(
        create("ops-create-2"),
        create("ops-create-3"),
        create("ops-create-4"),
        create("ops-create-5"),
    );

    control
        .deauthorize(
            zoom_user["email"].as_str().unwrap(),
            app["client_id"].as_str().unwrap(),
        )
        .await
        .unwrap();
    let mut revoked = false;
    for _ in 0..100 {
        let state: Value = http
            .get(format!("{base}/v1/users/dr-ops/connection"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if state["state"] == "revoked" {
            revoked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(revoked, "the deauthorization webhook was applied");

    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (series, expected) in [
        (r#"meetgate_refreshes_total{outcome="refreshed"}"#, 1.0),
        (r#"meetgate_refreshes_total{outcome="shared"}"#, 3.0),
        ("meetgate_meetings_created_total", 5.0),
        ("meetgate_connections_connected_total", 1.0),
        (
            r#"meetgate_http_requests_total{method="POST",route="/v1/users/{user}/meetings",status="201"}"#,
            5.0,
        ),
        (
            r#"meetgate_zoom_requests_total{endpoint="meetings.create",outcome="ok"}"#,
            5.0,
        ),
        // Read from the store at the scrape: the one connection ended with the deauthorization.
        (r#"meetgate_connections{state="connected"}"#, 0.0),
        (r#"meetgate_connections{state="revoked"}"#, 1.0),
        ("meetgate_zoom_events_pending", 0.0),
        ("meetgate_zoom_events_lag_seconds", 0.0),
    ] {
        assert_eq!(
            metric(&metrics, series),
            Some(expected),
            "{series} in\n{metrics}"
        );
    }
    assert!(
        metric(&metrics, "meetgate_webhook_deliveries_pending").is_some()
            && metric(&metrics, r#"meetgate_db_pool_connections{state="idle"}"#)
                .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    assert!(
        !metrics.contains("Jane Roe") && !metrics.contains(&key),
        "no patient data or secret in a label"
    );
    drop(demo);

    // The audit trail, from the command an auditor's operator runs.
    let export = meetgate()
        .args([
            "--data-dir",
            dir.join("demo").to_str().unwrap(),
            "audit",
            "export",
        ])
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let events: Vec<Value> = String::from_utf8(export.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let find = |action: &str, request_id: Option<&str>| {
        events
            .iter()
            .any(|e| e["action"] == action && request_id.is_none_or(|r| e["request_id"] == r))
    };
    assert!(
        find("connection.connected", Some("ops-callback")),
        "{events:#?}"
    );
    assert!(find("meeting.created", Some("ops-create-1")), "{events:#?}");
    assert!(find("meeting.created", Some("ops-create-2")), "{events:#?}");
    let deauthorized = events
        .iter()
        .find(|e| e["action"] == "connection.deauthorized")
        .unwrap_or_else(|| panic!("no deauthorization in {events:#?}"));
    assert!(
        deauthorized["request_id"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    let exported = serde_json::to_string(&events).unwrap();
    assert!(
        !exported.contains("Jane Roe"),
        "no patient data in the audit log"
    );

    // Logs: JSON lines; whatever is logged while serving a request names its request id.
    let logs = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(lines.len() > 5, "JSON log lines:\n{logs}");
    let in_requests: Vec<&Value> = lines
        .iter()
        .filter(|l| l.to_string().contains("\"request\""))
        .collect();
    assert!(!in_requests.is_empty(), "request spans are logged:\n{logs}");
    for line in &in_requests {
        assert!(
            line.to_string().contains("request_id"),
            "a line logged in a request without its request id: {line}"
        );
    }
    assert!(
        logs.contains("ops-create-2"),
        "the caller's request id is logged"
    );
    assert!(!logs.contains("Jane Roe") && !logs.contains(&key));
    let _ = std::fs::remove_dir_all(&dir);
}
