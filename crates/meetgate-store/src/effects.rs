use serde_json::Value;
use time::OffsetDateTime;

use crate::{AuditEventId, OutboxEventId, SealedValue, TenantId};

/// What else a mutation writes, in the same transaction as the mutation itself.
///
/// Building this value is the domain's job (it knows what an audit entry or an event says); writing
/// it atomically with the change is the store's. A failed change writes none of it.
#[derive(Debug, Default, Clone)]
pub struct Effects {
    pub audit: Vec<NewAuditEvent>,
    pub events: Vec<NewOutboxEvent>,
    pub idempotency: Option<CompleteIdempotency>,
}

impl Effects {
    /// What stays of these effects for a change that turned out to be done already: the
    /// idempotency completion only (the request still gets its answer), no second audit entry
    /// or event.
    pub fn completion_only(self) -> Self {
        Self {
            idempotency: self.idempotency,
            ..Self::default()
        }
    }

    pub fn none() -> Self {
        Self::default()
    }

    pub fn audit(mut self, entry: NewAuditEvent) -> Self {
        self.audit.push(entry);
        self
    }

    pub fn event(mut self, event: NewOutboxEvent) -> Self {
        self.events.push(event);
        self
    }

    pub fn idempotency(mut self, completion: Option<CompleteIdempotency>) -> Self {
        self.idempotency = completion;
        self
    }
}

/// An append-only audit log entry. `details` must never hold tokens or patient data.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub id: AuditEventId,
    pub tenant_id: Option<TenantId>,
    pub at: OffsetDateTime,
    /// `member`, `api_key`, `zoom`, `system` or `operator`.
    pub actor_kind: String,
    pub actor_id: Option<String>,
    /// Dotted verb, e.g. `connection.connected`, `meeting.created`, `api_key.revoked`.
    pub action: String,
    pub object_kind: String,
    pub object_id: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    pub request_id: Option<String>,
    pub details: Value,
}

/// An event for the host app. On insert the store fans it out into one delivery per active
/// webhook endpoint of the tenant that subscribes to `event_type`.
#[derive(Debug, Clone)]
pub struct NewOutboxEvent {
    pub id: OutboxEventId,
    pub tenant_id: TenantId,
    pub event_type: String,
    pub payload: Value,
    pub created_at: OffsetDateTime,
}

/// An idempotency key as held by one claim. A claim taken over (its holder presumed dead) gets a
/// new holder, so the earlier holder's late release, note or completion changes nothing.
#[derive(Debug, Clone)]
pub struct HeldKey {
    pub tenant_id: TenantId,
    pub key: String,
    /// The id of the [`crate::models::NewIdempotencyClaim`] that holds the key.
    pub holder: uuid::Uuid,
}

impl HeldKey {
    /// The key as `claim` holds it once claimed.
    pub fn of(claim: &crate::models::NewIdempotencyClaim) -> Self {
        Self {
            tenant_id: claim.tenant_id,
            key: claim.key.clone(),
            holder: claim.id,
        }
    }
}

/// Finishes an idempotency record with the response that was sent.
#[derive(Debug, Clone)]
pub struct CompleteIdempotency {
    pub held: HeldKey,
    pub response_status: u16,
    pub response_body: SealedValue,
    pub resource_id: Option<String>,
}
