use crate::models::{Connection, ConnectionState, NewGrant, RefreshedTokens};
use crate::{ConnectionId, Effects, EndUserId, OffsetDateTime, StoreResult, TenantId, ZoomAppId};

/// Stored grants, and the one-writer-per-connection lock that makes refresh happen exactly once.
#[async_trait::async_trait]
pub trait ConnectionStore: Send + Sync {
    async fn get_connection(
        &self,
        tenant: TenantId,
        id: ConnectionId,
    ) -> StoreResult<Option<Connection>>;
    async fn find_connection(
        &self,
        tenant: TenantId,
        end_user: EndUserId,
        app: ZoomAppId,
    ) -> StoreResult<Option<Connection>>;
    async fn list_user_connections(
        &self,
        tenant: TenantId,
        end_user: EndUserId,
    ) -> StoreResult<Vec<Connection>>;
    /// [`list_user_connections`](Self::list_user_connections) of the end user with the host
    /// app's id `external_id`, in one round trip; empty when there is no such user.
    async fn list_connections_of_external_user(
        &self,
        tenant: TenantId,
        external_id: &str,
    ) -> StoreResult<Vec<Connection>>;
    async fn list_connections(
        &self,
        tenant: TenantId,
        state: Option<ConnectionState>,
        after: Option<ConnectionId>,
        limit: u32,
    ) -> StoreResult<Vec<Connection>>;
    /// Every connection holding a grant of this Zoom user through this app, in any tenant (Zoom
    /// keeps one live grant per user and app; deauthorization names the user).
    async fn find_connections_by_zoom_user(
        &self,
        app: ZoomAppId,
        zoom_user_id: &str,
    ) -> StoreResult<Vec<Connection>>;

    /// Stores a new grant: inserts the connection or updates the same row (same id) on
    /// reconnect, bumps its version, and marks `supersede` connections `superseded` with their
    /// tokens deleted. All in one transaction with `effects`.
    async fn save_grant(
        &self,
        grant: &NewGrant,
        supersede: &[ConnectionId],
        effects: Effects,
    ) -> StoreResult<Connection>;

    /// Moves a connection out of `connected`, deleting its tokens (and, with `purge_zoom_data`,
    /// the Zoom user's email; meeting details go with `purge_meeting_details`), bumping the
    /// version so that a refresh in flight cannot write tokens back. Returns the updated row, or
    /// `None` if not found.
    #[allow(clippy::too_many_arguments)]
    async fn end_connection(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        state: ConnectionState,
        reason: &str,
        purge_zoom_data: bool,
        now: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<Option<Connection>>;

    /// Takes the connection's refresh lock, waiting for a holder elsewhere (another task or
    /// replica) to finish. The lock lives as long as its holder: it never expires while the
    /// holder works, and a holder that dies releases it.
    async fn lock_for_refresh(&self, id: ConnectionId) -> StoreResult<Box<dyn RefreshLock>>;

    /// [`RefreshLock::store_refreshed`] for a holder whose lock broke while Zoom answered (on
    /// PostgreSQL, its database session died, and the lock with it): the same compare-and-swap on
    /// the version, through any database connection. Zoom has already rotated the refresh token,
    /// so these tokens are the only live ones; the version still guards against a newer writer.
    async fn store_refreshed_after_lost_lock(
        &self,
        id: ConnectionId,
        expected_version: i64,
        tokens: &RefreshedTokens,
        now: OffsetDateTime,
    ) -> StoreResult<Connection>;

    /// Candidates for the background refresh job: connected, `next_refresh_at <= now`. Claiming
    /// pushes their `next_refresh_at` forward by `lease` so other replicas skip them; the refresh
    /// itself still takes the connection's lock.
    async fn claim_due_refreshes(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
        limit: u32,
    ) -> StoreResult<Vec<(TenantId, ConnectionId)>>;
}

/// A held refresh lock on one connection. Every write through it compares and swaps on the
/// connection's version.
#[async_trait::async_trait]
pub trait RefreshLock: Send + std::fmt::Debug {
    /// The connection as it is now, read under the lock.
    async fn reread(&mut self) -> StoreResult<Option<Connection>>;
    /// Records that a refresh call is about to go to Zoom. Committed before the call. Refused
    /// with `VersionConflict` when the version moved, or when another holder's marker may still
    /// be live: set after `live_after` and not followed by any write. Two processes that hold
    /// no common lock (two on one SQLite file, or behind a pooler that breaks the lock) can then
    /// not both send the same refresh token.
    async fn mark_refresh_started(
        &mut self,
        expected_version: i64,
        now: OffsetDateTime,
        live_after: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Stores Zoom's answer right after it came: new tokens, version + 1, marker cleared,
    /// failures reset.
    async fn store_refreshed(
        &mut self,
        expected_version: i64,
        tokens: &RefreshedTokens,
        now: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<Connection>;
    /// Records a failed attempt that left the grant's fate unknown or intact. `keep_marker` when
    /// the request may have reached Zoom (a timeout), so the next holder knows.
    async fn record_refresh_failure(
        &mut self,
        expected_version: i64,
        next_refresh_at: OffsetDateTime,
        keep_marker: bool,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// The grant is dead at Zoom: tokens deleted, state set, version + 1.
    async fn mark_dead(
        &mut self,
        expected_version: i64,
        state: ConnectionState,
        reason: &str,
        now: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<Connection>;
    /// Releases the lock. Dropping without releasing also releases it (by closing the database
    /// connection that holds it), more slowly.
    async fn release(self: Box<Self>) -> StoreResult<()>;
}
