//! Rows as the store hands them out. Encrypted columns are [`SealedValue`]s; timestamps are UTC.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::*;

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = StoreError;
            fn from_str(s: &str) -> Result<Self, StoreError> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(StoreError::Corrupt(format!(
                        "unknown {} {other:?}", stringify!($name)
                    ))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// Who a member is within a tenant.
    MemberRole { Admin => "admin", Clinician => "clinician" }
);
string_enum!(
    /// Zoom's app types; each names the host and needs scopes differently.
    AppType {
        UserManaged => "user_managed",
        AdminManaged => "admin_managed",
        ServerToServer => "server_to_server",
    }
);
string_enum!(
    /// The life of a connection. Only `connected` holds tokens.
    ConnectionState {
        Connected => "connected",
        NeedsReauth => "needs_reauth",
        Revoked => "revoked",
        Superseded => "superseded",
    }
);
string_enum!(
    /// How a meeting recurs, in meetgate's words (Zoom types 1, 2, 3 and 8).
    MeetingKind { Instant => "instant", Scheduled => "scheduled", Recurring => "recurring" }
);
string_enum!(
    /// Where a meeting is in its life, as Zoom's webhooks and API report it.
    MeetingStatus {
        Waiting => "waiting",
        Started => "started",
        Ended => "ended",
        Deleted => "deleted",
    }
);
string_enum!(
    /// An idempotency record is claimed before the work and completed after it.
    IdempotencyState { InProgress => "in_progress", Completed => "completed" }
);
string_enum!(
    /// Where a webhook delivery stands.
    DeliveryStatus { Pending => "pending", Delivered => "delivered", Failed => "failed" }
);

#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    /// Short, URL-safe, unique name used by the CLI (`meetgate tenant show clinic-a`).
    pub slug: String,
    /// The tenant's settings as JSON (return-URL allow list, meeting policy, ...); the service
    /// owns its shape.
    pub settings: Value,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewTenant {
    pub id: TenantId,
    pub name: String,
    pub slug: String,
    pub settings: Value,
    pub created_at: OffsetDateTime,
}

#[derive(Clone)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    /// The public part of the key, used to find the row before the constant-time hash check.
    pub lookup: String,
    /// SHA-256 of the secret part. Keys are 256-bit random, so a fast hash is right here.
    pub secret_hash: Vec<u8>,
    pub label: String,
    /// `live` or `test`.
    pub environment: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("lookup", &self.lookup)
            .field("secret_hash", &"<redacted>")
            .field("label", &self.label)
            .field("environment", &self.environment)
            .field("revoked_at", &self.revoked_at)
            .finish()
    }
}

#[derive(Clone)]
pub struct Member {
    pub id: MemberId,
    pub tenant_id: TenantId,
    /// Lower-cased; unique across the deployment so that sign-in needs no tenant picker.
    pub email: String,
    pub name: String,
    pub role: MemberRole,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub created_at: OffsetDateTime,
    pub disabled_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("password_hash", &"<redacted>")
            .finish()
    }
}

#[derive(Clone)]
pub struct WebSession {
    /// SHA-256 of the cookie value; the cookie itself is never stored.
    pub id_hash: Vec<u8>,
    pub tenant_id: TenantId,
    pub member_id: MemberId,
    pub csrf_token: String,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for WebSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSession")
            .field("tenant_id", &self.tenant_id)
            .field("member_id", &self.member_id)
            .field("last_seen_at", &self.last_seen_at)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct Invitation {
    pub id: InvitationId,
    pub tenant_id: TenantId,
    pub email: String,
    pub role: MemberRole,
    pub token_hash: Vec<u8>,
    pub created_by: Option<MemberId>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    /// The member whose password this link resets; `None` for an invitation to join.
    pub resets_member: Option<MemberId>,
}

impl std::fmt::Debug for Invitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invitation")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("expires_at", &self.expires_at)
            .field("used_at", &self.used_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct EndUser {
    pub id: EndUserId,
    pub tenant_id: TenantId,
    /// The host app's own id for this user.
    pub external_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct ZoomApp {
    pub id: ZoomAppId,
    /// `None` for an app shared by every tenant of the deployment.
    pub tenant_id: Option<TenantId>,
    pub name: String,
    pub app_type: AppType,
    pub client_id: String,
    pub client_secret: SealedValue,
    /// Server-to-server apps only: the Zoom account the app belongs to.
    pub account_id: Option<String>,
    /// Space-separated scopes requested at authorization.
    pub scopes: String,
    pub redirect_uri: String,
    pub webhook_secret: Option<SealedValue>,
    /// The next webhook secret during a rotation; both verify.
    pub webhook_secret_next: Option<SealedValue>,
    /// Where `/oauth/authorize`, `/oauth/token` and `/oauth/revoke` live (Zoom: https://zoom.us).
    pub auth_base_url: String,
    /// The default API base (Zoom: https://api.zoom.us); a grant's own `api_url` wins.
    pub api_base_url: String,
    pub created_at: OffsetDateTime,
}

#[derive(Clone)]
pub struct ConnectSession {
    pub id: ConnectSessionId,
    pub tenant_id: TenantId,
    pub end_user_id: EndUserId,
    pub zoom_app_id: ZoomAppId,
    /// SHA-256 of the random token in the connect link.
    pub token_hash: Vec<u8>,
    pub return_url: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub completed_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for ConnectSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectSession")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("end_user_id", &self.end_user_id)
            .field("zoom_app_id", &self.zoom_app_id)
            .field("expires_at", &self.expires_at)
            .field("completed_at", &self.completed_at)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct OAuthAttempt {
    pub id: OAuthAttemptId,
    pub tenant_id: TenantId,
    pub connect_session_id: ConnectSessionId,
    pub end_user_id: EndUserId,
    pub zoom_app_id: ZoomAppId,
    /// SHA-256 of `state`.
    pub state_hash: Vec<u8>,
    /// SHA-256 of the browser-binding cookie set when the attempt began.
    pub browser_hash: Vec<u8>,
    pub pkce_verifier: SealedValue,
    pub return_url: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub consumed_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for OAuthAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthAttempt")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("connect_session_id", &self.connect_session_id)
            .field("expires_at", &self.expires_at)
            .field("consumed_at", &self.consumed_at)
            .finish_non_exhaustive()
    }
}

/// What consuming a `state` found. Consuming is atomic: of two callbacks racing on one state,
/// exactly one sees `Consumed`.
#[derive(Debug, Clone)]
pub enum StateLookup {
    Unknown,
    AlreadyUsed(Box<OAuthAttempt>),
    Consumed(Box<OAuthAttempt>),
}

#[derive(Debug, Clone)]
pub struct Connection {
    pub id: ConnectionId,
    pub tenant_id: TenantId,
    pub end_user_id: EndUserId,
    pub zoom_app_id: ZoomAppId,
    pub state: ConnectionState,
    /// Why the connection left `connected` (human readable, no secrets).
    pub state_reason: Option<String>,
    pub zoom_user_id: Option<String>,
    pub zoom_account_id: Option<String>,
    pub zoom_email: Option<String>,
    /// Space-separated scopes Zoom granted.
    pub scopes: String,
    pub api_url: String,
    pub access_token: Option<SealedValue>,
    pub access_expires_at: Option<OffsetDateTime>,
    pub refresh_token: Option<SealedValue>,
    /// Bumped on every token write; refresh and revocation compare-and-swap on it.
    pub version: i64,
    /// Set just before a refresh call goes to Zoom (with `updated_at` set to the same time),
    /// cleared when its answer is stored, kept by a failure that may have reached Zoom (which
    /// moves `updated_at` on). Found set by the next holder of the refresh lock, it means an
    /// earlier holder's call may have rotated the token; found equal to `updated_at`, that
    /// holder may still be storing Zoom's answer.
    pub refresh_started_at: Option<OffsetDateTime>,
    pub refresh_failures: i32,
    pub next_refresh_at: Option<OffsetDateTime>,
    pub last_refreshed_at: Option<OffsetDateTime>,
    pub connected_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A fresh grant from Zoom, to be stored as the connection of `end_user_id` through `zoom_app_id`.
/// `id` is the existing connection's id on reconnect, or a new one; the tokens are sealed for it.
#[derive(Debug, Clone)]
pub struct NewGrant {
    pub id: ConnectionId,
    pub tenant_id: TenantId,
    pub end_user_id: EndUserId,
    pub zoom_app_id: ZoomAppId,
    pub zoom_user_id: String,
    pub zoom_account_id: String,
    pub zoom_email: Option<String>,
    pub scopes: String,
    pub api_url: String,
    pub access_token: SealedValue,
    pub access_expires_at: OffsetDateTime,
    pub refresh_token: Option<SealedValue>,
    pub next_refresh_at: Option<OffsetDateTime>,
    pub now: OffsetDateTime,
    /// The connect link this grant came through, marked used in the grant's own transaction:
    /// a link that connected can never connect again, even if meetgate stops right after.
    pub connect_session: Option<ConnectSessionId>,
}

/// Tokens from a successful refresh.
#[derive(Debug, Clone)]
pub struct RefreshedTokens {
    pub access_token: SealedValue,
    pub access_expires_at: OffsetDateTime,
    /// Zoom always rotates; a missing refresh token keeps the stored one rather than wiping it.
    pub refresh_token: Option<SealedValue>,
    pub scopes: Option<String>,
    pub api_url: Option<String>,
    pub next_refresh_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone)]
pub struct Meeting {
    pub id: MeetingId,
    pub tenant_id: TenantId,
    pub end_user_id: EndUserId,
    pub connection_id: ConnectionId,
    pub zoom_meeting_id: i64,
    pub host_zoom_user_id: Option<String>,
    pub kind: MeetingKind,
    pub status: MeetingStatus,
    pub start_time: Option<OffsetDateTime>,
    pub duration_minutes: Option<i32>,
    pub timezone: Option<String>,
    /// Topic, agenda, join URL, password, client label, recurrence, settings, occurrences: health
    /// data, so sealed as one JSON document.
    pub details: SealedValue,
    pub idempotency_key: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// When the status last changed, from the event that changed it; older events lose.
    pub status_changed_at: Option<OffsetDateTime>,
    pub deleted_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone)]
pub struct NewMeeting {
    pub id: MeetingId,
    pub tenant_id: TenantId,
    pub end_user_id: EndUserId,
    pub connection_id: ConnectionId,
    pub zoom_meeting_id: i64,
    pub host_zoom_user_id: Option<String>,
    pub kind: MeetingKind,
    pub start_time: Option<OffsetDateTime>,
    pub duration_minutes: Option<i32>,
    pub timezone: Option<String>,
    pub details: SealedValue,
    pub idempotency_key: Option<String>,
    pub now: OffsetDateTime,
}

/// New values for a meeting after a successful update at Zoom.
#[derive(Debug, Clone)]
pub struct MeetingUpdate {
    pub start_time: Option<OffsetDateTime>,
    pub duration_minutes: Option<i32>,
    pub timezone: Option<String>,
    pub details: SealedValue,
    /// The details this update was built from. Every write of the details seals them afresh
    /// (new nonce), so they serve as the row's version: a concurrent change since the read
    /// refuses the update (`VersionConflict`) instead of being overwritten.
    pub replaces: SealedValue,
    pub now: OffsetDateTime,
}

/// The order of a listing by id (ids are time ordered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListOrder {
    OldestFirst,
    NewestFirst,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeetingWindow {
    All,
    /// Not ended or deleted, and starting now or later (or with no fixed time).
    Upcoming,
    /// Ended, or started before now.
    Past,
}

#[derive(Debug, Clone)]
pub struct MeetingQuery {
    pub end_user_id: Option<EndUserId>,
    pub window: MeetingWindow,
    pub include_deleted: bool,
    /// Return meetings with ids after this one (ids are time ordered).
    pub after: Option<MeetingId>,
    /// Only these meetings (those a page shows, say); all when `None`.
    pub ids: Option<Vec<MeetingId>>,
    pub limit: u32,
    pub now: OffsetDateTime,
}

#[derive(Clone)]
pub struct IdempotencyRecord {
    pub id: uuid::Uuid,
    pub tenant_id: TenantId,
    pub key: String,
    /// SHA-256 over method, path and body: the same key with another request is refused.
    pub request_hash: Vec<u8>,
    pub state: IdempotencyState,
    pub response_status: Option<u16>,
    pub response_body: Option<SealedValue>,
    pub resource_id: Option<String>,
    /// What the in-progress request had begun (for reconciling a create interrupted after Zoom
    /// was called). No patient data.
    pub recovery: Option<Value>,
    pub created_at: OffsetDateTime,
    pub locked_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for IdempotencyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotencyRecord")
            .field("tenant_id", &self.tenant_id)
            .field("key", &self.key)
            .field("state", &self.state)
            .field("response_status", &self.response_status)
            .field("resource_id", &self.resource_id)
            .finish_non_exhaustive()
    }
}

/// The outcome of claiming an idempotency key.
#[derive(Debug, Clone)]
pub enum IdempotencyClaim {
    /// The key is new: this request owns it now.
    Claimed(Box<IdempotencyRecord>),
    /// Another request holds it and is still working (or died less than `stale_after` ago).
    InProgress,
    /// Finished before: replay this.
    Completed(Box<IdempotencyRecord>),
    /// The key was used with a different request.
    Mismatch,
    /// A request held it and died (locked longer than `stale_after`); this request now owns it
    /// and must reconcile from `recovery` before doing the work again.
    Recovered(Box<IdempotencyRecord>),
}

#[derive(Debug, Clone)]
pub struct NewIdempotencyClaim {
    pub id: uuid::Uuid,
    pub tenant_id: TenantId,
    pub key: String,
    pub request_hash: Vec<u8>,
    pub now: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// An in-progress record older than this is taken over.
    pub stale_after: time::Duration,
    /// What the holder is about to do, stored with a fresh claim (a takeover keeps the earlier
    /// holder's note: it describes the attempt that may have reached Zoom).
    pub recovery: Option<serde_json::Value>,
}

#[derive(Debug, Clone)]
pub struct InboxItem {
    pub id: InboxItemId,
    pub zoom_app_id: ZoomAppId,
    /// Unique: a redelivered event is stored once.
    pub dedup_key: String,
    pub event_type: String,
    pub payload: SealedValue,
    /// `event_ts` from Zoom, used so an older event never overwrites newer state.
    pub event_at: OffsetDateTime,
    pub received_at: OffsetDateTime,
    pub processed_at: Option<OffsetDateTime>,
    pub attempts: i32,
    pub next_attempt_at: OffsetDateTime,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub tenant_id: TenantId,
    pub url: String,
    pub secret: SealedValue,
    /// The secret a rotation replaced: deliveries are signed with it too until
    /// `previous_secret_expires_at`, so that the host app can switch without missing an event.
    pub previous_secret: Option<SealedValue>,
    pub previous_secret_expires_at: Option<OffsetDateTime>,
    /// Empty means every event type.
    pub event_types: Vec<String>,
    pub description: Option<String>,
    pub created_at: OffsetDateTime,
    pub disabled_at: Option<OffsetDateTime>,
}

/// A webhook endpoint's new signing secret, with the one it replaces.
#[derive(Debug, Clone)]
pub struct SecretRotation {
    /// The secret stored now; the rotation happens only if it is still the endpoint's.
    pub expected: SealedValue,
    /// The new secret.
    pub secret: SealedValue,
    /// `expected`'s plaintext sealed for the previous secret's column, or `None` to stop
    /// signing with it at once (a leaked secret).
    pub previous: Option<SealedValue>,
    pub previous_expires_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone)]
pub struct OutboxEvent {
    pub id: OutboxEventId,
    pub tenant_id: TenantId,
    pub event_type: String,
    pub payload: Value,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: DeliveryId,
    pub tenant_id: TenantId,
    pub event_id: OutboxEventId,
    pub endpoint_id: WebhookEndpointId,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    pub delivered_at: Option<OffsetDateTime>,
}

/// A delivery claimed by a worker, with what it needs to send it.
#[derive(Debug, Clone)]
pub struct DeliveryJob {
    pub delivery: Delivery,
    pub event: OutboxEvent,
    pub endpoint: WebhookEndpoint,
}

/// How one delivery attempt went.
#[derive(Debug, Clone)]
pub enum DeliveryOutcome {
    Delivered {
        status_code: i32,
    },
    Retry {
        status_code: Option<i32>,
        error: String,
        next_attempt_at: OffsetDateTime,
    },
    GiveUp {
        status_code: Option<i32>,
        error: String,
    },
}

#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub tenant_id: Option<TenantId>,
    pub at: OffsetDateTime,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub object_kind: String,
    pub object_id: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    pub details: Value,
}

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// `None` only for operator-wide exports.
    pub tenant_id: Option<TenantId>,
    pub action_prefix: Option<String>,
    pub object_id: Option<String>,
    pub actor_id: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// Entries with ids after this one (ids are time ordered).
    pub after: Option<AuditEventId>,
    /// Entries with ids before this one.
    pub before: Option<AuditEventId>,
    /// Newest first; oldest first otherwise.
    pub newest_first: bool,
    pub limit: u32,
}

/// A key's fingerprint as recorded in the database, so that start-up can refuse a keyring that
/// does not match the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFingerprint {
    pub key_id: String,
    pub fingerprint: String,
    pub created_at: OffsetDateTime,
}

/// One encrypted cell, for key rotation.
#[derive(Debug, Clone)]
pub struct SealedCell {
    pub column: SealedColumn,
    /// The row's primary key as text.
    pub row_id: String,
    pub tenant_id: Option<TenantId>,
    pub value: SealedValue,
}

/// Counts for metrics and the operator CLI.
#[derive(Debug, Clone, Default)]
pub struct StoreStats {
    pub connections_by_state: Vec<(ConnectionState, i64)>,
    pub outbox_pending: i64,
    pub inbox_pending: i64,
    pub oldest_inbox_pending: Option<OffsetDateTime>,
}
