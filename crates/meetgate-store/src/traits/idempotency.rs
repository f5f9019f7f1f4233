use serde_json::Value;

use crate::models::{IdempotencyClaim, NewIdempotencyClaim};
use crate::{HeldKey, OffsetDateTime, StoreResult};

#[async_trait::async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for this request or reports who has it; see [`IdempotencyClaim`].
    async fn claim_idempotency_key(
        &self,
        claim: &NewIdempotencyClaim,
    ) -> StoreResult<IdempotencyClaim>;
    /// Notes what the request is about to do outside the database (for reconciliation after a
    /// crash), and refreshes the lock time. `NotFound` when `held` no longer holds the key.
    async fn note_idempotency_progress(
        &self,
        held: &HeldKey,
        recovery: &Value,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Completes a record without any other change (errors that are replayed as they were).
    /// `Precondition`, with nothing written, when the completion's claim no longer holds it.
    async fn complete_idempotency(
        &self,
        completion: &crate::CompleteIdempotency,
    ) -> StoreResult<()>;
    /// Drops an in-progress claim whose request failed before changing anything, so that the
    /// client may retry with the same key. A claim taken over since is the successor's, and
    /// stays.
    async fn release_idempotency_key(&self, held: &HeldKey) -> StoreResult<()>;
    async fn purge_idempotency(&self, now: OffsetDateTime) -> StoreResult<u64>;
}
