use crate::models::{AuditEvent, AuditQuery};
use crate::{Effects, OffsetDateTime, StoreResult};

/// The append-only audit log. There is no update; deletion happens only by retention.
#[async_trait::async_trait]
pub trait AuditStore: Send + Sync {
    /// Writes audit entries (and any events) that accompany no other change.
    async fn append_audit(&self, effects: Effects) -> StoreResult<()>;
    /// Oldest first, after `query.after`.
    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>>;
    /// Deletes up to `limit` entries older than `before`, oldest first: callers repeat until
    /// fewer come back, so that no single statement holds the writer (or outlives a
    /// `statement_timeout`) however much is due.
    async fn purge_audit(&self, before: OffsetDateTime, limit: u32) -> StoreResult<u64>;
}
