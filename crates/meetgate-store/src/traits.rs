//! The store contract, one trait per concern; [`Store`] is all of them.

mod audit;
mod connections;
mod idempotency;
mod keys;
mod meetings;
mod oauth;
mod people;
mod tenants;
mod webhooks;

pub use audit::AuditStore;
pub use connections::{ConnectionStore, RefreshLock};
pub use idempotency::IdempotencyStore;
pub use keys::KeyStore;
pub use meetings::MeetingStore;
pub use oauth::OAuthStore;
pub use people::PeopleStore;
pub use tenants::TenantStore;
pub use webhooks::{DeliveryShare, WebhookStore};

use crate::StoreResult;
use crate::models::StoreStats;

/// Everything meetgate stores. Backends implement every part; the service holds an
/// `Arc<dyn Store>` chosen at start-up from the database URL.
#[async_trait::async_trait]
pub trait Store:
    TenantStore
    + PeopleStore
    + OAuthStore
    + ConnectionStore
    + MeetingStore
    + IdempotencyStore
    + WebhookStore
    + AuditStore
    + KeyStore
    + Send
    + Sync
    + std::fmt::Debug
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Applies pending migrations. Safe to call from several processes at once: the schema is
    /// migrated exactly once.
    async fn migrate(&self) -> StoreResult<()>;

    /// A cheap round trip, for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;

    /// Counts for metrics and operators.
    async fn stats(&self) -> StoreResult<StoreStats>;

    /// Connections in use and idle in the pool, for metrics.
    fn pool_usage(&self) -> (u32, u32);

    /// Closes the pool, waiting for connections in use.
    async fn close(&self);
}
