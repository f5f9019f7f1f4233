//! Builders for rows the tests need, with unique names so tests never collide.

use std::sync::Arc;

use serde_json::json;
use time::Duration;

use crate::models::*;
use crate::*;

/// Now, truncated to microseconds (what every backend stores), so values round-trip exactly.
pub fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1000 * 1000)
        .expect("valid nanosecond")
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

pub fn sealed(text: &str) -> SealedValue {
    SealedValue(format!("sealed:{text}").into_bytes())
}

pub async fn tenant(store: &Arc<dyn Store>) -> Tenant {
    let t = NewTenant {
        id: TenantId::new(),
        name: "Clinic".into(),
        slug: unique("clinic"),
        settings: json!({"meeting_policy": {"waiting_room": true}}),
        created_at: now(),
    };
    store
        .create_tenant(&t, Effects::none())
        .await
        .expect("create tenant")
}

pub async fn end_user(store: &Arc<dyn Store>, tenant: TenantId) -> EndUser {
    store
        .upsert_end_user(
            tenant,
            &unique("user"),
            Some("dr@example.test"),
            Some("Dr"),
            now(),
        )
        .await
        .expect("upsert end user")
}

pub fn new_zoom_app(tenant: Option<TenantId>) -> ZoomApp {
    ZoomApp {
        id: ZoomAppId::new(),
        tenant_id: tenant,
        name: "Zoom".into(),
        app_type: AppType::UserManaged,
        client_id: unique("client"),
        client_secret: sealed("client-secret"),
        account_id: None,
        scopes: "meeting:write user:read".into(),
        redirect_uri: "https://meetgate.example.test/oauth/callback".into(),
        webhook_secret: Some(sealed("webhook-secret")),
        webhook_secret_next: None,
        auth_base_url: "https://zoom.us".into(),
        api_base_url: "https://api.zoom.us".into(),
        created_at: now(),
    }
}

pub async fn zoom_app(store: &Arc<dyn Store>, tenant: Option<TenantId>) -> ZoomApp {
    let app = new_zoom_app(tenant);
    store
        .create_zoom_app(&app, Effects::none())
        .await
        .expect("create zoom app");
    app
}

pub fn grant(
    tenant: TenantId,
    end_user: EndUserId,
    app: ZoomAppId,
    zoom_user: &str,
    at: OffsetDateTime,
) -> NewGrant {
    NewGrant {
        id: ConnectionId::new(),
        tenant_id: tenant,
        end_user_id: end_user,
        zoom_app_id: app,
        zoom_user_id: zoom_user.into(),
        zoom_account_id: "acct-1".into(),
        zoom_email: Some("dr@zoom.example.test".into()),
        scopes: "meeting:write".into(),
        api_url: "https://api.zoom.us".into(),
        access_token: sealed("access-1"),
        access_expires_at: at + Duration::hours(1),
        refresh_token: Some(sealed("refresh-1")),
        next_refresh_at: Some(at + Duration::minutes(50)),
        now: at,
        connect_session: None,
    }
}

/// A tenant's end user with a connected grant through a fresh app of the tenant.
#[derive(Debug)]
pub struct Connected {
    pub tenant: Tenant,
    pub end_user: EndUser,
    pub app: ZoomApp,
    pub connection: Connection,
}

pub async fn connected(store: &Arc<dyn Store>) -> Connected {
    let tenant = tenant(store).await;
    connected_in(store, &tenant).await
}

pub async fn connected_in(store: &Arc<dyn Store>, tenant: &Tenant) -> Connected {
    let end_user = end_user(store, tenant.id).await;
    let app = zoom_app(store, Some(tenant.id)).await;
    let g = grant(tenant.id, end_user.id, app.id, &unique("zoom-user"), now());
    let connection = store
        .save_grant(&g, &[], Effects::none())
        .await
        .expect("save grant");
    Connected {
        tenant: tenant.clone(),
        end_user,
        app,
        connection,
    }
}

pub fn audit(tenant: Option<TenantId>, action: &str) -> NewAuditEvent {
    NewAuditEvent {
        id: AuditEventId::new(),
        tenant_id: tenant,
        at: now(),
        actor_kind: "system".into(),
        actor_id: Some("tester".into()),
        action: action.into(),
        object_kind: "test".into(),
        object_id: None,
        outcome: "success".into(),
        request_id: Some("req-1".into()),
        details: json!({"n": 1}),
    }
}

pub fn event(tenant: TenantId, event_type: &str) -> NewOutboxEvent {
    NewOutboxEvent {
        id: OutboxEventId::new(),
        tenant_id: tenant,
        event_type: event_type.into(),
        payload: json!({"type": event_type}),
        created_at: now(),
    }
}

/// Audit entries of a tenant (or, with `None`, of the whole deployment) whose action starts
/// with `prefix`.
pub async fn audit_actions(
    store: &Arc<dyn Store>,
    tenant: Option<TenantId>,
    prefix: &str,
) -> Vec<String> {
    let q = AuditQuery {
        tenant_id: tenant,
        action_prefix: Some(prefix.into()),
        limit: 1000,
        ..AuditQuery::default()
    };
    store
        .list_audit(&q)
        .await
        .expect("list audit")
        .into_iter()
        .map(|a| a.action)
        .collect()
}

pub async fn events(store: &Arc<dyn Store>, tenant: TenantId) -> Vec<OutboxEvent> {
    store
        .list_events(tenant, None, 1000)
        .await
        .expect("list events")
}

pub async fn new_meeting(
    store: &Arc<dyn Store>,
    c: &Connected,
    start: Option<OffsetDateTime>,
    duration: Option<i32>,
) -> Meeting {
    let m = meeting_for(c, start, duration);
    store
        .insert_meeting(&m, Effects::none())
        .await
        .expect("insert meeting")
}

pub fn meeting_for(
    c: &Connected,
    start: Option<OffsetDateTime>,
    duration: Option<i32>,
) -> NewMeeting {
    NewMeeting {
        id: MeetingId::new(),
        tenant_id: c.tenant.id,
        end_user_id: c.end_user.id,
        connection_id: c.connection.id,
        zoom_meeting_id: i64::from(rand_u32()) + 80_000_000_000,
        host_zoom_user_id: c.connection.zoom_user_id.clone(),
        kind: if start.is_some() {
            MeetingKind::Scheduled
        } else {
            MeetingKind::Instant
        },
        start_time: start,
        duration_minutes: duration,
        timezone: Some("Europe/Berlin".into()),
        details: sealed("topic and agenda"),
        idempotency_key: None,
        now: now(),
    }
}

pub fn rand_u32() -> u32 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Claims idempotency key `key` (request hash `h`) for a request at `at`, which must be new.
pub async fn claim_new_key(
    store: &Arc<dyn Store>,
    tenant: TenantId,
    key: &str,
    at: OffsetDateTime,
) -> HeldKey {
    let new = claim(tenant, key, b"h", at);
    let claimed = store.claim_idempotency_key(&new).await.expect("claim");
    assert!(
        matches!(claimed, IdempotencyClaim::Claimed(_)),
        "{claimed:?}"
    );
    held(&new)
}

/// The key as held by `claim`.
pub fn held(claim: &NewIdempotencyClaim) -> HeldKey {
    HeldKey::of(claim)
}

/// The completion a meeting create writes for the key `held`: 201 with `body`.
pub fn created_completion(
    held: &HeldKey,
    meeting: MeetingId,
    body: &str,
) -> Option<CompleteIdempotency> {
    Some(CompleteIdempotency {
        held: held.clone(),
        response_status: 201,
        response_body: sealed(body),
        resource_id: Some(meeting.to_string()),
    })
}

pub fn claim(tenant: TenantId, key: &str, hash: &[u8], at: OffsetDateTime) -> NewIdempotencyClaim {
    NewIdempotencyClaim {
        id: uuid::Uuid::now_v7(),
        tenant_id: tenant,
        key: key.into(),
        request_hash: hash.to_vec(),
        now: at,
        expires_at: at + Duration::hours(24),
        stale_after: Duration::seconds(30),
        recovery: None,
    }
}

pub fn endpoint(tenant: TenantId, types: &[&str]) -> WebhookEndpoint {
    WebhookEndpoint {
        id: WebhookEndpointId::new(),
        tenant_id: tenant,
        url: format!("https://host.example.test/hooks/{}", unique("ep")),
        secret: sealed("endpoint-secret"),
        previous_secret: None,
        previous_secret_expires_at: None,
        event_types: types.iter().map(|t| (*t).to_string()).collect(),
        description: Some("test endpoint".into()),
        created_at: now(),
        disabled_at: None,
    }
}

pub fn inbox_item(app: ZoomAppId, at: OffsetDateTime) -> InboxItem {
    InboxItem {
        id: InboxItemId::new(),
        zoom_app_id: app,
        dedup_key: unique("dedup"),
        event_type: "meeting.started".into(),
        payload: sealed("payload"),
        event_at: at,
        received_at: at,
        processed_at: None,
        attempts: 0,
        next_attempt_at: at,
        last_error: None,
    }
}

pub fn is_conflict(e: &StoreError) -> bool {
    matches!(e, StoreError::Conflict { .. })
}

pub fn is_precondition(e: &StoreError, what: &str) -> bool {
    matches!(e, StoreError::Precondition { what: w } if *w == what)
}

pub fn is_version_conflict(e: &StoreError) -> bool {
    matches!(e, StoreError::VersionConflict { .. })
}

pub fn is_not_found(e: &StoreError) -> bool {
    matches!(e, StoreError::NotFound { .. })
}
