use serde_json::Value;

use crate::models::{IdempotencyClaim, NewIdempotencyClaim};
use crate::{OffsetDateTime, StoreResult, TenantId};

#[async_trait::async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for this request or reports who has it; see [`IdempotencyClaim`].
    async fn claim_idempotency_key(
        &self,
        claim: &NewIdempotencyClaim,
    ) -> StoreResult<IdempotencyClaim>;
    /// Notes what the request is about to do outside the database (for reconciliation after a
    /// crash), and refreshes the lock time.
    async fn note_idempotency_progress(
        &self,
        tenant: TenantId,
        key: &str,
        recovery: &Value,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Completes a record without any other change (errors that are replayed as they were).
    async fn complete_idempotency(
        &self,
        completion: &crate::CompleteIdempotency,
    ) -> StoreResult<()>;
    /// Drops an in-progress claim whose request failed before changing anything, so that the
    /// client may retry with the same key.
    async fn release_idempotency_key(&self, tenant: TenantId, key: &str) -> StoreResult<()>;
    async fn purge_idempotency(&self, now: OffsetDateTime) -> StoreResult<u64>;
}
