//! JSON shapes of the control API (`/_sandbox/...`), shared by the server and `SandboxControl`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::secret::Secret;
use crate::world::{AppType, Plan, Role};

/// Everything the sandbox counted since start or the last reset.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// endpoint name (`meetings.create`, `oauth.token`, ...) -> HTTP status -> calls.
    pub endpoints: BTreeMap<String, BTreeMap<u16, u64>>,
    /// `grant_type` as sent (`authorization_code`, `refresh_token`, `account_credentials`,
    /// or `(missing)`) -> token requests, successful or not.
    pub token_requests: BTreeMap<String, u64>,
    /// `user_id:client_id` (or `account_id:client_id` for server-to-server) -> successful
    /// refreshes.
    pub refreshes: BTreeMap<String, u64>,
    /// `grant_type` -> `invalid_grant` answers.
    pub invalid_grant_by_grant_type: BTreeMap<String, u64>,
    /// `user_id:client_id` -> `invalid_grant` answers, where the token could be attributed.
    pub invalid_grant_by_grant: BTreeMap<String, u64>,
    /// host user id -> meetings created through the API.
    pub meetings_created: BTreeMap<String, u64>,
    /// Webhook delivery attempts (every try, including retries and URL validations).
    pub webhook_attempts: u64,
}

impl Counters {
    /// Calls of `endpoint` answered with `status`.
    pub fn calls(&self, endpoint: &str, status: u16) -> u64 {
        self.endpoints
            .get(endpoint)
            .and_then(|m| m.get(&status))
            .copied()
            .unwrap_or(0)
    }

    /// Calls of `endpoint` whatever the status.
    pub fn total_calls(&self, endpoint: &str) -> u64 {
        self.endpoints
            .get(endpoint)
            .map(|m| m.values().sum())
            .unwrap_or(0)
    }

    pub fn token_requests_of(&self, grant_type: &str) -> u64 {
        self.token_requests.get(grant_type).copied().unwrap_or(0)
    }

    pub fn refreshes_of(&self, user_id: &str, client_id: &str) -> u64 {
        self.refreshes
            .get(&format!("{user_id}:{client_id}"))
            .copied()
            .unwrap_or(0)
    }

    pub fn total_refreshes(&self) -> u64 {
        self.refreshes.values().sum()
    }

    pub fn invalid_grants_of(&self, user_id: &str, client_id: &str) -> u64 {
        self.invalid_grant_by_grant
            .get(&format!("{user_id}:{client_id}"))
            .copied()
            .unwrap_or(0)
    }

    pub fn invalid_grants_for_grant_type(&self, grant_type: &str) -> u64 {
        self.invalid_grant_by_grant_type
            .get(grant_type)
            .copied()
            .unwrap_or(0)
    }

    pub fn meetings_created_by(&self, user_id: &str) -> u64 {
        self.meetings_created.get(user_id).copied().unwrap_or(0)
    }
}

/// A fault to inject. Matching calls get it while `count` lasts (or forever), each with
/// `probability` (drawn from a generator seeded with `seed`, so runs repeat).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultSpec {
    /// Endpoint name (`meetings.create`, `oauth.token`, ...); `None` means every Zoom-facing
    /// endpoint (never the control API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Share of matching calls that get the fault, 0.0..=1.0 (default 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Apply to the next N matching calls only, then remove the fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// For status/rate_limited/malformed_json/xml/error_in_ok: do the real work first, then
    /// replace the answer (the meeting exists, the client sees an error).
    #[serde(default)]
    pub after_work: bool,
    /// Seed of the probability draws (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl FaultSpec {
    pub fn new(kind: FaultKind) -> Self {
        Self {
            endpoint: None,
            kind,
            probability: None,
            count: None,
            after_work: false,
            seed: None,
        }
    }

    pub fn on(mut self, endpoint: &str) -> Self {
        self.endpoint = Some(endpoint.to_owned());
        self
    }

    pub fn times(mut self, count: u32) -> Self {
        self.count = Some(count);
        self
    }

    pub fn probability(mut self, p: f64) -> Self {
        self.probability = Some(p);
        self
    }

    pub fn after_work(mut self) -> Self {
        self.after_work = true;
        self
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Delay the call, then serve it normally (stacks with one other fault).
    Latency { ms: u64 },
    /// Answer with this HTTP status (e.g. 500, 502, 503) and Zoom's JSON error body.
    Status { status: u16 },
    /// Answer 429 with Zoom's QPS body and headers.
    RateLimited,
    /// Answer 429 with Zoom's daily-limit body and headers, `Retry-After` the next 00:00 UTC
    /// on the sandbox clock, as if the host had used up its creates and updates for the day.
    DailyLimit,
    /// Answer 200 with a truncated JSON body.
    MalformedJson,
    /// Answer with an XML error body and this status.
    Xml { status: u16 },
    /// Answer HTTP 200 whose JSON body is an error envelope.
    ErrorInOk { code: i64, message: String },
    /// Answer Zoom's own error with this status: `{"code", "message"}` on the REST API,
    /// `{"reason": message, "error"}` on the token endpoint. For the forms Zoom sends that the
    /// sandbox does not choose by itself (4711 with HTTP 400 for a missing scope,
    /// `invalid_request` with HTTP 401 for a dead refresh token, 3007, ...).
    ZoomError {
        status: u16,
        /// Zoom's numeric code (REST API).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<i64>,
        /// The OAuth error (token endpoint); `server_error` when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        message: String,
    },
    /// Do the work, then hold the response for `hold_ms` before sending it: a client with a
    /// shorter timeout sees a timeout although the work is done.
    TimeoutAfterWork { hold_ms: u64 },
    /// The token endpoint answers 503 with an HTML page (applies to `oauth.token` only).
    TokenOutage,
    /// Answer with a redirect (e.g. 302) to `location`; a careful client never follows it.
    Redirect { status: u16, location: String },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultInfo {
    pub id: u64,
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// Times this fault was applied.
    pub applied: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClockState {
    /// Sandbox time, `yyyy-MM-ddTHH:mm:ssZ`.
    pub now: String,
    pub unix: i64,
    /// How far the sandbox clock runs ahead of real time, in seconds.
    pub offset_seconds: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdvanceClock {
    pub seconds: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewAccount {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    pub plan: Plan,
}

/// A user to add; omitted fields get Zoom-like defaults (generated id, licensed member).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub email: String,
    pub password: Secret,
    pub account_id: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<u8>,
    #[serde(default)]
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// An app to add; omitted credentials are generated and returned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewApp {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    pub name: String,
    #[serde(rename = "type")]
    pub app_type: AppType,
    pub scopes: Vec<String>,
    #[serde(default)]
    pub granular: bool,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    pub owner_account_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret_token: Option<Secret>,
    #[serde(default)]
    pub webhook_events: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RedirectUris {
    pub redirect_uris: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetWebhook {
    pub url: Url,
}

/// An app's webhook endpoint as Zoom sees it: whether it receives events, and when Zoom
/// revalidates it next.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub url: Url,
    /// `validated` (receives events), `failed` (failed when saved) or `disabled` (failed six
    /// revalidations in a row).
    pub status: String,
    /// RFC 3339, sandbox clock: the last validation (or the seed).
    pub checked_at: String,
    pub failed_revalidations: u32,
    /// RFC 3339, sandbox clock; only while `validated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_revalidation_at: Option<String>,
}

/// Outcome of the `endpoint.url_validation` challenge sent when an endpoint is registered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UrlValidation {
    pub validated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub delivery_id: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deauthorize {
    /// User id or email.
    pub user: String,
    pub client_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpireTokens {
    /// User id or email (or account id for server-to-server grants).
    pub user: String,
    pub client_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    /// Grants touched by the call.
    pub grants: u64,
    /// Access tokens touched by the call.
    pub tokens: u64,
    /// Webhook deliveries queued by the call.
    #[serde(default)]
    pub deliveries: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JoinParticipant {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeetingEvent {
    pub meeting_id: i64,
    pub status: String,
    /// Webhook deliveries queued by the call.
    pub deliveries: Vec<u64>,
}

/// A meeting as the control API reports it, deleted ones included.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SandboxMeeting {
    pub id: i64,
    pub uuid: String,
    pub host_id: String,
    pub account_id: String,
    pub topic: String,
    #[serde(rename = "type")]
    pub meeting_type: u8,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    pub duration: i64,
    pub created_at: String,
    pub deleted: bool,
    pub expired: bool,
    pub participants: Vec<String>,
    pub occurrences: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GrantInfo {
    pub id: u64,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub account_id: String,
    pub app_type: AppType,
    pub scopes: Vec<String>,
    /// live | superseded | revoked | deauthorized
    pub state: String,
    pub created_at: String,
    pub refreshes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: u64,
    pub event: String,
    pub client_id: String,
    pub url: String,
    /// pending | delivered | retrying | failed | gave_up
    pub state: String,
    pub attempts: Vec<DeliveryAttempt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    /// The exact JSON body that was (or will be) sent.
    pub body: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub rate_limits: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ControlErrorBody {
    pub error: String,
}
