//! Signed webhook deliveries with Zoom's retry schedule, run in background tasks.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use url::Url;

use crate::control::dto::{Delivery, DeliveryAttempt, UrlValidation};
use crate::error::SandboxError;
use crate::ids;
use crate::meetings::Meeting;
use crate::secret::Secret;
use crate::state::{EndpointCheck, EndpointStatus, Inner, SandboxState, lock};
use crate::timefmt;
use crate::world::{App, AppType};

/// Zoom waits 3 s for an answer.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(3);
/// After a failed attempt Zoom retries after 5, 20 and 60 more minutes, then gives up.
pub const RETRY_MINUTES: [i64; 3] = [5, 20, 60];

/// `v0=` + hex(HMAC-SHA256(secret, "v0:{timestamp}:{body}")).
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = new_mac(secret);
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// The `encryptedToken` of `endpoint.url_validation`: hex(HMAC-SHA256(secret, plainToken)).
pub fn encrypted_token(secret: &str, plain_token: &str) -> String {
    let mut mac = new_mac(secret);
    mac.update(plain_token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn new_mac(secret: &str) -> Hmac<Sha256> {
    match <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

/// An event on its way to one app's endpoint.
pub struct Outgoing {
    pub client_id: String,
    pub url: Url,
    pub secret: Secret,
    pub event: String,
    pub body: Value,
}

pub struct Webhooks {
    http: reqwest::Client,
    records: Mutex<BTreeMap<u64, Delivery>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("deliveries", &lock(&self.records).len())
            .finish_non_exhaustive()
    }
}

impl Webhooks {
    pub fn new() -> Result<Self, SandboxError> {
        let http = reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Zoom Marketplace/1.1a")
            .build()?;
        Ok(Self {
            http,
            records: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
        })
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.records).values().cloned().collect()
    }

    pub fn clear(&self) {
        lock(&self.records).clear();
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut Delivery)) {
        if let Some(d) = lock(&self.records).get_mut(&id) {
            f(d);
        }
    }

    fn register(&self, out: &Outgoing) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        lock(&self.records).insert(
            id,
            Delivery {
                id,
                event: out.event.clone(),
                client_id: out.client_id.clone(),
                url: out.url.to_string(),
                state: "pending".into(),
                attempts: Vec::new(),
                next_attempt_at: None,
                body: out.body.clone(),
            },
        );
        id
    }
}

fn event_ts_ms(now: time::OffsetDateTime) -> i64 {
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Transport timestamp: Zoom's real clock, because receivers check it against theirs.
fn wall_clock_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

enum AttemptOutcome {
    Delivered,
    Retry,
    Fail,
}

impl SandboxState {
    /// Queues deliveries in background tasks and returns their ids.
    pub(crate) fn dispatch(&self, events: Vec<Outgoing>) -> Vec<u64> {
        events
            .into_iter()
            .map(|out| {
                let id = self.webhooks.register(&out);
                let state = self.clone();
                tokio::spawn(async move { state.run_delivery(id, out).await });
                id
            })
            .collect()
    }

    async fn run_delivery(self, id: u64, out: Outgoing) {
        let body = serde_json::to_vec(&out.body).unwrap_or_default();
        let mut shutdown = self.shutdown.subscribe();
        for attempt in 0..=RETRY_MINUTES.len() {
            if attempt > 0 {
                let minutes = RETRY_MINUTES[attempt - 1];
                let delay = time::Duration::seconds(minutes * 60)
                    / i32::try_from(self.retry_compression).unwrap_or(1);
                let due = self.now() + delay;
                self.webhooks.update(id, |d| {
                    d.state = "retrying".into();
                    d.next_attempt_at = Some(timefmt::format(due));
                });
                tokio::select! {
                    () = self.clock.sleep_until(due) => {}
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
            }
            match self.attempt(id, &out, &body).await {
                (AttemptOutcome::Delivered, _) => {
                    self.webhooks.update(id, |d| {
                        d.state = "delivered".into();
                        d.next_attempt_at = None;
                    });
                    return;
                }
                (AttemptOutcome::Fail, _) => {
                    self.webhooks.update(id, |d| {
                        d.state = "failed".into();
                        d.next_attempt_at = None;
                    });
                    return;
                }
                (AttemptOutcome::Retry, _) => {}
            }
        }
        self.webhooks.update(id, |d| {
            d.state = "gave_up".into();
            d.next_attempt_at = None;
        });
    }

    /// One signed POST. Returns the outcome and, on 2xx, the response body.
    async fn attempt(
        &self,
        id: u64,
        out: &Outgoing,
        body: &[u8],
    ) -> (AttemptOutcome, Option<Vec<u8>>) {
        let ts = wall_clock_seconds();
        let sig = signature(out.secret.expose(), ts, body);
        let started = Instant::now();
        let at = timefmt::format(self.now());
        self.counters().webhook_attempts += 1;
        let result = self
            .webhooks
            .http
            .post(out.url.clone())
            .header("content-type", "application/json; charset=utf-8")
            .header("x-zm-request-timestamp", ts.to_string())
            .header("x-zm-signature", sig)
            .header("x-zm-trackingid", format!("v=2.0&s={}", ids::token(12)))
            .body(body.to_vec())
            .send()
            .await;
        let (status, error, outcome, resp_body) = match result {
            Ok(resp) => {
                let status = resp.status();
                let bytes = resp.bytes().await.map(|b| b.to_vec()).ok();
                // Zoom wants 200 or 204; any other answer, 2xx included, is not a delivery.
                let outcome = if status == reqwest::StatusCode::OK
                    || status == reqwest::StatusCode::NO_CONTENT
                {
                    AttemptOutcome::Delivered
                } else if status.is_server_error() {
                    AttemptOutcome::Retry
                } else {
                    AttemptOutcome::Fail
                };
                (Some(status.as_u16()), None, outcome, bytes)
            }
            Err(e) => {
                let error = if e.is_timeout() {
                    "timeout after 3 s".to_owned()
                } else {
                    format!("connection failed: {e}")
                };
                (None, Some(error), AttemptOutcome::Retry, None)
            }
        };
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.webhooks.update(id, |d| {
            d.attempts.push(DeliveryAttempt {
                at,
                status,
                error,
                duration_ms,
            });
        });
        (outcome, resp_body)
    }

    /// Sends `endpoint.url_validation` and checks the answer, as Zoom does when an endpoint is
    /// saved. Events go only to validated endpoints.
    pub(crate) async fn validate_endpoint(&self, app: &App, url: Url) -> UrlValidation {
        let result = self.send_url_validation(app, url).await;
        let now = self.now();
        self.inner().endpoint_status.insert(
            app.client_id.clone(),
            EndpointCheck::new(result.validated, now),
        );
        result
    }

    /// One `endpoint.url_validation` request and the verdict on its answer; changes no status.
    pub(crate) async fn send_url_validation(&self, app: &App, url: Url) -> UrlValidation {
        let plain = ids::token(16);
        let out = Outgoing {
            client_id: app.client_id.clone(),
            url,
            secret: app.webhook_secret_token.clone(),
            event: "endpoint.url_validation".into(),
            body: json!({
                "payload": {"plainToken": plain},
                "event_ts": event_ts_ms(self.now()),
                "event": "endpoint.url_validation",
            }),
        };
        let id = self.webhooks.register(&out);
        let body = serde_json::to_vec(&out.body).unwrap_or_default();
        let (outcome, resp) = self.attempt(id, &out, &body).await;
        let status = lock(&self.webhooks.records)
            .get(&id)
            .and_then(|d| d.attempts.last().and_then(|a| a.status));
        let expected = encrypted_token(app.webhook_secret_token.expose(), &plain);
        let answer: Option<Value> = resp.and_then(|b| serde_json::from_slice(&b).ok());
        let problem = match (&outcome, status, &answer) {
            (AttemptOutcome::Delivered, Some(200), Some(a)) => {
                let plain_ok = a.get("plainToken").and_then(Value::as_str) == Some(plain.as_str());
                let enc = a
                    .get("encryptedToken")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if plain_ok && Secret::new(expected).matches(enc) {
                    None
                } else {
                    Some(
                        "answer did not carry the expected plainToken and encryptedToken"
                            .to_owned(),
                    )
                }
            }
            (AttemptOutcome::Delivered, Some(200), None) => Some("answer was not JSON".to_owned()),
            (_, Some(s), _) => Some(format!("answered HTTP {s}, expected 200")),
            (_, None, _) => lock(&self.webhooks.records)
                .get(&id)
                .and_then(|d| d.attempts.last().and_then(|a| a.error.clone()))
                .or(Some("no answer".to_owned())),
        };
        let validated = problem.is_none();
        self.webhooks.update(id, |d| {
            d.state = if validated { "delivered" } else { "failed" }.into();
        });
        UrlValidation {
            validated,
            status,
            error: problem,
            delivery_id: id,
        }
    }
}

fn endpoint_of(inner: &Inner, app: &App, event: &str) -> Option<(Url, Secret)> {
    let url = app.webhook_url.clone()?;
    if !app.subscribes_to(event) {
        return None;
    }
    let status = inner.endpoint_status.get(&app.client_id).map(|c| c.status);
    if status != Some(EndpointStatus::Validated) {
        return None;
    }
    Some((url, app.webhook_secret_token.clone()))
}

/// Apps that hear about a host's meetings: user-managed apps the host authorized,
/// admin-managed apps installed on the host's account, server-to-server apps of that account.
pub fn meeting_event(
    inner: &Inner,
    meeting: &Meeting,
    event: &str,
    object: serde_json::Map<String, Value>,
    now: time::OffsetDateTime,
) -> Vec<Outgoing> {
    let mut out = Vec::new();
    for app in inner.apps.values() {
        let covered = match app.app_type {
            AppType::UserManaged => inner.oauth.live_grants().any(|g| {
                g.client_id == app.client_id && g.user_id.as_deref() == Some(&meeting.host_id)
            }),
            AppType::AdminManaged => inner
                .oauth
                .live_grants()
                .any(|g| g.client_id == app.client_id && g.account_id == meeting.account_id),
            AppType::ServerToServer => app.owner_account_id == meeting.account_id,
        };
        if !covered {
            continue;
        }
        let Some((url, secret)) = endpoint_of(inner, app, event) else {
            continue;
        };
        out.push(Outgoing {
            client_id: app.client_id.clone(),
            url,
            secret,
            event: event.to_owned(),
            body: json!({
                "event": event,
                "event_ts": event_ts_ms(now),
                "payload": {
                    "account_id": meeting.account_id,
                    "object": Value::Object(object.clone()),
                },
            }),
        });
    }
    out
}

/// `app_deauthorized` for one app and user.
pub fn deauthorized(
    inner: &Inner,
    app: &App,
    account_id: &str,
    user_id: &str,
    now: time::OffsetDateTime,
) -> Option<Outgoing> {
    let (url, secret) = endpoint_of(inner, app, "app_deauthorized")?;
    let ts = event_ts_ms(now);
    let when = timefmt::format(now);
    // Zoom's legacy payload signature; receivers must rely on x-zm-signature instead.
    let legacy = encrypted_token(
        app.webhook_secret_token.expose(),
        &format!("{account_id}{user_id}{}{when}", app.client_id),
    );
    Some(Outgoing {
        client_id: app.client_id.clone(),
        url,
        secret,
        event: "app_deauthorized".into(),
        body: json!({
            "event": "app_deauthorized",
            "event_ts": ts,
            "payload": {
                "account_id": account_id,
                "user_id": user_id,
                "signature": legacy,
                "deauthorization_time": when,
                "client_id": app.client_id,
                "event_ts": ts.to_string(),
            },
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_documented_algorithm() {
        // hex(HMAC-SHA256("secret", "v0:1700000000:{}")), computed independently.
        let sig = signature("secret", 1_700_000_000, b"{}");
        assert!(sig.starts_with("v0="));
        assert_eq!(sig.len(), 3 + 64);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"secret").expect("key");
        mac.update(b"v0:1700000000:{}");
        assert_eq!(
            sig,
            format!("v0={}", hex::encode(mac.finalize().into_bytes()))
        );
        assert_ne!(sig, signature("secret", 1_700_000_001, b"{}"));
    }
}
