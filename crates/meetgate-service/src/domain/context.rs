use meetgate_store::{AuditEventId, NewAuditEvent, NewOutboxEvent, OutboxEventId, TenantId};
use serde_json::Value;
use time::OffsetDateTime;

/// Who acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    ApiKey,
    Member,
    Zoom,
    System,
    Operator,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::Member => "member",
            Self::Zoom => "zoom",
            Self::System => "system",
            Self::Operator => "operator",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: Option<String>,
}

/// Proof that the caller may act for `tenant`, plus the request's id and time.
///
/// Only authentication makes one ([`Ctx::for_api_key`] and [`Ctx::for_member`] are crate-private
/// and called by the HTTP layer after checking a key or a session); the operator CLI, which has
/// the database anyway, uses [`Ctx::operator`]. Every tenant-scoped domain call takes a `Ctx`, so
/// a query cannot forget its tenant.
#[derive(Debug, Clone)]
pub struct Ctx {
    tenant: TenantId,
    pub actor: Actor,
    pub request_id: Option<String>,
    pub now: OffsetDateTime,
    /// Set for members: whether they may run admin pages.
    pub is_admin: bool,
}

impl Ctx {
    pub(crate) fn for_api_key(
        tenant: TenantId,
        key_id: String,
        request_id: Option<String>,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            tenant,
            actor: Actor {
                kind: ActorKind::ApiKey,
                id: Some(key_id),
            },
            request_id,
            now,
            is_admin: true,
        }
    }

    /// A member acting with the role stored for them.
    pub(crate) fn of_member(
        member: &meetgate_store::models::Member,
        request_id: Option<String>,
        now: OffsetDateTime,
    ) -> Self {
        Self::for_member(
            member.tenant_id,
            member.id.to_string(),
            member.role == meetgate_store::models::MemberRole::Admin,
            request_id,
            now,
        )
    }

    pub(crate) fn for_member(
        tenant: TenantId,
        member_id: String,
        is_admin: bool,
        request_id: Option<String>,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            tenant,
            actor: Actor {
                kind: ActorKind::Member,
                id: Some(member_id),
            },
            request_id,
            now,
            is_admin,
        }
    }

    pub(crate) fn system(tenant: TenantId, kind: ActorKind, now: OffsetDateTime) -> Self {
        Self {
            tenant,
            actor: Actor { kind, id: None },
            request_id: None,
            now,
            is_admin: false,
        }
    }

    /// This context, attributed to the request that caused it.
    pub(crate) fn with_request_id(mut self, request_id: Option<&str>) -> Self {
        self.request_id = request_id.map(str::to_owned);
        self
    }

    /// The operator at a terminal (`meetgate tenant ...`).
    pub fn operator(tenant: TenantId, now: OffsetDateTime) -> Self {
        Self {
            tenant,
            actor: Actor {
                kind: ActorKind::Operator,
                id: None,
            },
            request_id: None,
            now,
            is_admin: true,
        }
    }

    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// An audit entry by this actor. `details` must not hold tokens or patient data.
    pub fn audit(
        &self,
        action: &str,
        object_kind: &str,
        object_id: Option<String>,
        outcome: &str,
        details: Value,
    ) -> NewAuditEvent {
        NewAuditEvent {
            id: AuditEventId::new(),
            tenant_id: Some(self.tenant),
            at: self.now,
            actor_kind: self.actor.kind.as_str().to_owned(),
            actor_id: self.actor.id.clone(),
            action: action.to_owned(),
            object_kind: object_kind.to_owned(),
            object_id,
            outcome: outcome.to_owned(),
            request_id: self.request_id.clone(),
            details,
        }
    }

    /// An event for this tenant's webhook endpoints.
    pub fn event(&self, event_type: &str, data: Value) -> NewOutboxEvent {
        event_for(self.tenant, event_type, data, self.now)
    }
}

/// An event for another tenant than the one acting (a superseded connection's owner).
pub fn event_for(
    tenant: TenantId,
    event_type: &str,
    data: Value,
    now: OffsetDateTime,
) -> NewOutboxEvent {
    let id = OutboxEventId::new();
    let payload = serde_json::json!({
        "id": format!("evt_{}", id.0.simple()),
        "type": event_type,
        "created_at": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "data": data,
    });
    NewOutboxEvent {
        id,
        tenant_id: tenant,
        event_type: event_type.to_owned(),
        payload,
        created_at: now,
    }
}
