use serde_json::Value;

use crate::models::{ApiKey, NewTenant, Tenant};
use crate::{ApiKeyId, Effects, OffsetDateTime, StoreResult, TenantId};

#[async_trait::async_trait]
pub trait TenantStore: Send + Sync {
    async fn create_tenant(&self, tenant: &NewTenant, effects: Effects) -> StoreResult<Tenant>;
    async fn get_tenant(&self, id: TenantId) -> StoreResult<Option<Tenant>>;
    async fn get_tenant_by_slug(&self, slug: &str) -> StoreResult<Option<Tenant>>;
    async fn list_tenants(&self) -> StoreResult<Vec<Tenant>>;
    async fn update_tenant_settings(
        &self,
        id: TenantId,
        settings: &Value,
        effects: Effects,
    ) -> StoreResult<Tenant>;

    /// Refused with `Precondition { what: "API key limit" }`, and nothing written, when the
    /// tenant already has `max_active` keys not revoked. The count and the insert are one
    /// transaction, so concurrent creations cannot pass the limit together.
    async fn create_api_key(
        &self,
        key: &ApiKey,
        max_active: u32,
        effects: Effects,
    ) -> StoreResult<()>;
    /// Not tenant-scoped: this is how a request's tenant is found. The caller compares the
    /// secret hash in constant time.
    async fn find_api_key(&self, lookup: &str) -> StoreResult<Option<ApiKey>>;
    async fn list_api_keys(&self, tenant: TenantId) -> StoreResult<Vec<ApiKey>>;
    /// Returns false when the key does not exist in this tenant or was already revoked.
    async fn revoke_api_key(
        &self,
        tenant: TenantId,
        id: ApiKeyId,
        now: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<bool>;
    async fn touch_api_key(&self, id: ApiKeyId, now: OffsetDateTime) -> StoreResult<()>;
}
