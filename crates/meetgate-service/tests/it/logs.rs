//! With logs at TRACE, no token, code, verifier, client secret, webhook secret or API key from a
//! whole connect-create-refresh-deauthorize run appears in them.

use std::io::Write;
use std::sync::{Arc, Mutex};

use meetgate_store::SealedColumn;
use reqwest::Method;
use serde_json::json;

use crate::support::*;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_secret_reaches_the_logs_at_trace() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(move || writer.clone()).with_ansi(false).finish();
    // On a current-thread runtime every task (meetgate, sandbox) runs on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);

    let Some(app) = TestApp::spawn(Backend::Sqlite).await else { return };
    let url = url::Url::parse(&app.url(&format!("/zoom/webhooks/{}", app.apps[USER_APP]))).unwrap();
    app.env.control().set_app_webhook(USER_APP, &url).await.unwrap();
    let trip = app.begin_connect("dr-ada", USER_APP).await;
    let callback = app.env.control().authorize_headless(&trip.authorize_url, ADA, PASSWORD).await.unwrap();
    let code = query(&callback, "code").unwrap();
    let state = query(&callback, "state").unwrap();
    app.finish_connect(&callback, Some(&trip.cookie)).await;
    let (status, meeting) = app.create_meeting("dr-ada", json!({ "topic": "Patient Jane Roe", "client_label": "Jane Roe" })).await;
    assert_eq!(status, 201, "{meeting}");
    // Read the stored tokens before they rotate, then force a refresh.
    let services = app.services();
    let conn = services.store.list_connections(app.tenant, None, None, 1).await.unwrap().remove(0);
    let open = |column, value: &meetgate_store::SealedValue| services.vault.open_string(column, Some(app.tenant), &conn.id.to_string(), value).unwrap();
    let mut secrets = vec![
        open(SealedColumn::ConnectionAccessToken, conn.access_token.as_ref().unwrap()),
        open(SealedColumn::ConnectionRefreshToken, conn.refresh_token.as_ref().unwrap()),
        code,
        state,
        app.api_key.clone(),
        "sbx-user-managed-secret-0001".into(),
        "sbx-user-managed-webhook-secret".into(),
        trip.cookie.split('=').nth(1).unwrap().to_owned(),
    ];
    services.clock.advance(std::time::Duration::from_secs(3700));
    app.env.control().advance_clock(std::time::Duration::from_secs(3700)).await.unwrap();
    let (status, _) = app.api(Method::GET, &format!("/v1/meetings/{}", meeting["id"].as_str().unwrap()), None).await;
    assert_eq!(status, 200);
    let start = app.http.get(meeting["start_link"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(start.status(), 302);
    let zak = start.headers()["location"].to_str().unwrap().split("zak=").nth(1).unwrap().to_owned();
    secrets.push(zak);
    let conn = services.store.list_connections(app.tenant, None, None, 1).await.unwrap().remove(0);
    secrets.push(open(SealedColumn::ConnectionAccessToken, conn.access_token.as_ref().unwrap()));
    app.env.control().deauthorize(ADA, USER_APP).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.len() > 10_000, "TRACE logging was captured ({} bytes)", logs.len());
    for secret in &secrets {
        assert!(secret.len() >= 8, "secret too short to be meaningful: {secret}");
        assert!(!logs.contains(secret.as_str()), "a secret leaked into the logs: {}…", &secret[..6]);
    }
    for health_data in ["Jane Roe", "Patient Jane"] {
        assert!(!logs.contains(health_data), "health data in the logs: {health_data}");
    }
}
