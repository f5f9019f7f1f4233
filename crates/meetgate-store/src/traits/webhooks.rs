use crate::models::{
    Delivery, DeliveryJob, DeliveryOutcome, InboxItem, ListOrder, OutboxEvent, SecretRotation,
    WebhookEndpoint,
};
use crate::{
    DeliveryId, Effects, InboxItemId, OffsetDateTime, StoreResult, TenantId, WebhookEndpointId,
};

/// How a delivery claim shares itself between endpoints, so that one endpoint's backlog, or one
/// that answers slowly, cannot take every delivery slot from the other endpoints and tenants.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryShare<'a> {
    /// At most this many deliveries to one endpoint in flight, those the caller already has
    /// included.
    pub per_endpoint: u32,
    /// Deliveries the caller has in flight, per endpoint: such an endpoint gets only what is
    /// left of its share (none once it has `per_endpoint`).
    pub in_flight: &'a [(WebhookEndpointId, u32)],
}

impl DeliveryShare<'_> {
    /// Oldest first, with no cap per endpoint.
    pub const ANY: DeliveryShare<'static> = DeliveryShare {
        per_endpoint: u32::MAX,
        in_flight: &[],
    };
}

/// Zoom's events coming in (the inbox) and the host app's events going out (outbox, endpoints,
/// deliveries).
#[async_trait::async_trait]
pub trait WebhookStore: Send + Sync {
    /// Stores a verified Zoom event. False when an event with the same dedup key is already in.
    async fn insert_inbox_item(&self, item: &InboxItem) -> StoreResult<bool>;
    /// Unprocessed items due now, leased for `lease` so that other workers skip them.
    async fn claim_inbox_items(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
        limit: u32,
    ) -> StoreResult<Vec<InboxItem>>;
    /// Marks an item processed, with `effects` in the same transaction. False, with nothing
    /// written, when another worker processed it first.
    async fn finish_inbox_item(
        &self,
        id: InboxItemId,
        now: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<bool>;
    /// Records a failed attempt. `claimed_attempts` is the item's attempt count as claimed:
    /// `NotFound` when another worker has claimed it since (its lease ran out) or finished it.
    async fn fail_inbox_item(
        &self,
        id: InboxItemId,
        claimed_attempts: i32,
        error: &str,
        next_attempt_at: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Gives up on an item that kept failing: marks it processed at `now` with `error`, so that
    /// it is not tried again and goes with the processed items. False, with nothing written,
    /// when it was processed meanwhile.
    async fn abandon_inbox_item(
        &self,
        id: InboxItemId,
        error: &str,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    async fn purge_inbox(&self, processed_before: OffsetDateTime) -> StoreResult<u64>;

    /// Refused with `Precondition { what: "webhook endpoint limit" }`, and nothing written, when
    /// the tenant already has `max_active` endpoints not deleted; the count and the insert are
    /// one transaction, as for API keys.
    async fn create_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        max_active: u32,
        effects: Effects,
    ) -> StoreResult<()>;
    async fn list_webhook_endpoints(&self, tenant: TenantId) -> StoreResult<Vec<WebhookEndpoint>>;
    async fn get_webhook_endpoint(
        &self,
        tenant: TenantId,
        id: WebhookEndpointId,
    ) -> StoreResult<Option<WebhookEndpoint>>;
    /// Stores a new signing secret. False, with nothing written, when the endpoint is not in the
    /// tenant or is deleted; `VersionConflict { what: "webhook endpoint secret" }` when its secret
    /// is no longer `rotation.expected` (another rotation came first).
    async fn rotate_webhook_endpoint_secret(
        &self,
        tenant: TenantId,
        id: WebhookEndpointId,
        rotation: &SecretRotation,
        effects: Effects,
    ) -> StoreResult<bool>;
    /// Forgets the previous secrets whose time is up. Returns how many endpoints had one.
    async fn clear_expired_webhook_secrets(&self, now: OffsetDateTime) -> StoreResult<u64>;
    /// Disables the endpoint and drops its pending deliveries. False if not found.
    async fn delete_webhook_endpoint(
        &self,
        tenant: TenantId,
        id: WebhookEndpointId,
        now: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<bool>;

    /// Writes events with no other change (for example a notice to another tenant).
    async fn append_events(&self, effects: Effects) -> StoreResult<()>;
    async fn list_events(
        &self,
        tenant: TenantId,
        after: Option<crate::OutboxEventId>,
        limit: u32,
    ) -> StoreResult<Vec<OutboxEvent>>;
    /// Pending deliveries due now, oldest first, leased for `lease`: at most `limit`, of which
    /// at most `share.per_endpoint` go to any one endpoint, and none to `share.skip_endpoints`.
    async fn claim_deliveries(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
        limit: u32,
        share: &DeliveryShare<'_>,
    ) -> StoreResult<Vec<DeliveryJob>>;
    /// Records an attempt's outcome. `claimed_attempts` is the delivery's attempt count as
    /// claimed: `NotFound`, with nothing written, when another worker has claimed it since (its
    /// lease ran out), it is no longer pending, or it is gone (its endpoint was deleted).
    async fn record_delivery(
        &self,
        id: DeliveryId,
        claimed_attempts: i32,
        outcome: &DeliveryOutcome,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// In `order`, continuing after the delivery `after` (in that order) when given.
    async fn list_deliveries(
        &self,
        tenant: TenantId,
        endpoint: Option<WebhookEndpointId>,
        after: Option<DeliveryId>,
        order: ListOrder,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>>;
    /// Deletes up to `limit` outbox events created before `created_before`, with their
    /// deliveries, in one transaction. An event with a delivery still pending stays,
    /// so that retention never cuts a retry short. Returns how many events went: call again
    /// while it returns `limit`.
    async fn purge_events(&self, created_before: OffsetDateTime, limit: u32) -> StoreResult<u64>;
}
