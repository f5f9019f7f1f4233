use crate::models::{ConnectSession, OAuthAttempt, StateLookup, ZoomApp};
use crate::{ConnectSessionId, Effects, OffsetDateTime, StoreResult, TenantId, ZoomAppId};

/// Zoom app registrations, connect sessions and authorization attempts.
#[async_trait::async_trait]
pub trait OAuthStore: Send + Sync {
    async fn create_zoom_app(&self, app: &ZoomApp, effects: Effects) -> StoreResult<()>;
    async fn update_zoom_app(&self, app: &ZoomApp, effects: Effects) -> StoreResult<()>;
    /// Not tenant-scoped (apps may be shared by the deployment); callers that act for a tenant
    /// check `app.tenant_id` is `None` or theirs.
    async fn get_zoom_app(&self, id: ZoomAppId) -> StoreResult<Option<ZoomApp>>;
    /// The tenant's own apps and the deployment's shared ones, oldest first.
    async fn list_zoom_apps_for(&self, tenant: TenantId) -> StoreResult<Vec<ZoomApp>>;
    async fn list_all_zoom_apps(&self) -> StoreResult<Vec<ZoomApp>>;
    /// Zoom's webhooks name the app by client id.
    async fn find_zoom_apps_by_client_id(&self, client_id: &str) -> StoreResult<Vec<ZoomApp>>;

    async fn create_connect_session(&self, session: &ConnectSession) -> StoreResult<()>;
    /// Not tenant-scoped: the link's token is the credential.
    async fn find_connect_session(&self, token_hash: &[u8]) -> StoreResult<Option<ConnectSession>>;
    async fn get_connect_session(
        &self,
        tenant: TenantId,
        id: ConnectSessionId,
    ) -> StoreResult<Option<ConnectSession>>;

    async fn create_oauth_attempt(&self, attempt: &OAuthAttempt) -> StoreResult<()>;
    /// Finds the attempt by `state` and marks it consumed in one step: single use even when two
    /// callbacks race. Not tenant-scoped: `state` is the credential.
    async fn consume_oauth_attempt(
        &self,
        state_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<StateLookup>;
    async fn purge_oauth_attempts(&self, before: OffsetDateTime) -> StoreResult<u64>;
    /// Deletes connect sessions that expired before `before` and have no authorization attempt
    /// left (purge the attempts first).
    async fn purge_connect_sessions(&self, before: OffsetDateTime) -> StoreResult<u64>;
}
