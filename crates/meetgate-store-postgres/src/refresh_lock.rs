//! The refresh lock: a session advisory lock on a connection taken out of the pool for as long
//! as the holder works. All of the holder's reads and writes go through that connection, and
//! every write compares and swaps on the row's version.

use meetgate_store::models::{Connection, ConnectionState, RefreshedTokens};
use meetgate_store::{ConnectionId, Effects, OffsetDateTime, RefreshLock, StoreError, StoreResult};
use sqlx::pool::PoolConnection;
use sqlx::{Connection as _, PgConnection, Postgres};

use crate::PgStore;
use crate::connections::{connection, connection_cols};
use crate::convert::{id, opt_ts, ts};
use crate::effects;
use crate::errors::OrStore;
use crate::keyed_lock::KeyedGuard;

/// The advisory lock key of a connection: both halves of its UUID folded into 64 bits.
pub(crate) fn advisory_key(cid: ConnectionId) -> i64 {
    let (hi, lo) = cid.0.as_u64_pair();
    i64::from_ne_bytes((hi ^ lo).to_ne_bytes())
}

#[derive(Debug)]
pub(crate) struct PgRefreshLock {
    id: ConnectionId,
    /// Holds the advisory lock while `Some`. `None` only after `release`.
    conn: Option<PoolConnection<Postgres>>,
    _slot: tokio::sync::OwnedSemaphorePermit,
    _queue: KeyedGuard<uuid::Uuid>,
}

impl PgRefreshLock {
    pub(crate) async fn acquire(store: &PgStore, cid: ConnectionId) -> StoreResult<Self> {
        let queue = store.refresh_queue.lock(cid.0).await;
        let slot = store
            .refresh_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("the store was closed".into()))?;
        let conn = store.pool.acquire().await.or_store("connection")?;
        // Built before waiting so that a cancelled or failed wait drops (and closes) the
        // connection rather than returning it to the pool with a lock request pending.
        let mut lock = Self {
            id: cid,
            conn: Some(conn),
            _slot: slot,
            _queue: queue,
        };
        // On the lock's own session: `lock_timeout` bounds the wait, and is reset once the
        // lock is held so that the holder's statements, and the pool's next user, wait as
        // usual (a failed wait closes the session). The keepalives make the server notice
        // within about a minute that a holder's host died without closing its socket, and drop
        // its lock; by default that takes two hours, and every replica's requests for the
        // grant would wait on it. One round trip, as the simple protocol takes it.
        let statement = format!(
            "SET tcp_keepalives_idle = 30; SET tcp_keepalives_interval = 10; \
             SET tcp_keepalives_count = 3; SET lock_timeout = {wait}; \
             SELECT pg_advisory_lock({key}); RESET lock_timeout",
            wait = store
                .refresh_lock_wait
                .as_millis()
                .clamp(1, i32::MAX as u128),
            key = advisory_key(cid),
        );
        simple_query(lock.conn()?, statement)
            .await
            .or_store("connection's refresh lock")?;
        Ok(lock)
    }

    fn conn(&mut self) -> StoreResult<&mut PgConnection> {
        match self.conn.as_mut() {
            Some(conn) => Ok(&mut **conn),
            None => Err(StoreError::Database("refresh lock already released".into())),
        }
    }
}

/// Statements without parameters go in one message of the simple protocol, which takes several.
async fn simple_query(conn: &mut PgConnection, statements: String) -> Result<(), sqlx::Error> {
    sqlx::Executor::execute(conn, statements.as_str())
        .await
        .map(|_| ())
}

impl Drop for PgRefreshLock {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Returned to the pool, the connection would keep the lock for its next user.
            // Closed, it makes the server drop the lock.
            tracing::warn!(connection = %self.id, "refresh lock dropped without release; closing its database connection");
            drop(conn.detach());
        }
    }
}

/// Tells a lost compare-and-swap from a row that is gone.
async fn lost(conn: &mut PgConnection, cid: ConnectionId) -> StoreError {
    match sqlx::query("SELECT 1 FROM connections WHERE id = $1")
        .bind(id(cid.0))
        .fetch_optional(conn)
        .await
        .or_store("connection")
    {
        Ok(Some(_)) => StoreError::VersionConflict { what: "connection" },
        Ok(None) => StoreError::NotFound { what: "connection" },
        Err(e) => e,
    }
}

/// Stores refreshed tokens if the version still matches; `None` when it does not.
async fn update_refreshed(
    conn: &mut PgConnection,
    cid: ConnectionId,
    expected_version: i64,
    tokens: &RefreshedTokens,
    now: OffsetDateTime,
) -> StoreResult<Option<Connection>> {
    // A missing refresh token keeps the stored one: wiping it would strand the grant.
    sqlx::query(concat!(
        "UPDATE connections SET access_token = $3, access_expires_at = $4,
            refresh_token = coalesce($5, refresh_token), scopes = coalesce($6, scopes),
            api_url = coalesce($7, api_url), next_refresh_at = $8, version = version + 1,
            refresh_started_at = NULL, refresh_failures = 0, last_refreshed_at = $9,
            updated_at = $9
         WHERE id = $1 AND version = $2 RETURNING ",
        connection_cols!()
    ))
    .bind(id(cid.0))
    .bind(expected_version)
    .bind(&tokens.access_token.0)
    .bind(ts(tokens.access_expires_at))
    .bind(tokens.refresh_token.as_ref().map(|t| &t.0))
    .bind(&tokens.scopes)
    .bind(&tokens.api_url)
    .bind(opt_ts(tokens.next_refresh_at))
    .bind(ts(now))
    .fetch_optional(conn)
    .await
    .or_store("connection")?
    .as_ref()
    .map(connection)
    .transpose()
}

/// Stores refreshed tokens in one autocommit statement on `conn`, if the version still matches.
pub(crate) async fn store_refreshed_on(
    conn: &mut PgConnection,
    cid: ConnectionId,
    expected_version: i64,
    tokens: &RefreshedTokens,
    now: OffsetDateTime,
) -> StoreResult<Connection> {
    match update_refreshed(conn, cid, expected_version, tokens, now).await? {
        Some(saved) => Ok(saved),
        None => Err(lost(conn, cid).await),
    }
}

#[async_trait::async_trait]
impl RefreshLock for PgRefreshLock {
    async fn reread(&mut self) -> StoreResult<Option<Connection>> {
        let cid = self.id;
        sqlx::query(concat!(
            "SELECT ",
            connection_cols!(),
            " FROM connections WHERE id = $1"
        ))
        .bind(id(cid.0))
        .fetch_optional(self.conn()?)
        .await
        .or_store("connection")?
        .as_ref()
        .map(connection)
        .transpose()
    }

    /// Autocommit: the marker is durable before the caller's call to Zoom.
    #[tracing::instrument(skip_all, fields(connection = %self.id))]
    async fn mark_refresh_started(
        &mut self,
        expected_version: i64,
        now: OffsetDateTime,
        live_after: OffsetDateTime,
    ) -> StoreResult<()> {
        let cid = self.id;
        let conn = self.conn()?;
        let done = sqlx::query(
            "UPDATE connections SET refresh_started_at = $3, updated_at = $3
             WHERE id = $1 AND version = $2
               AND (refresh_started_at IS NULL OR updated_at <> refresh_started_at
                    OR refresh_started_at <= $4)",
        )
        .bind(id(cid.0))
        .bind(expected_version)
        .bind(ts(now))
        .bind(ts(live_after))
        .execute(&mut *conn)
        .await
        .or_store("connection")?;
        if done.rows_affected() == 0 {
            return Err(lost(conn, cid).await);
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(connection = %self.id))]
    async fn store_refreshed(
        &mut self,
        expected_version: i64,
        tokens: &RefreshedTokens,
        now: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<Connection> {
        let cid = self.id;
        let conn = self.conn()?;
        if effects::is_empty(&effects) {
            // Nothing else to write: one autocommit statement, no transaction round trips.
            return store_refreshed_on(conn, cid, expected_version, tokens, now).await;
        }
        let mut tx = conn.begin().await.or_store("transaction")?;
        let Some(saved) = update_refreshed(&mut tx, cid, expected_version, tokens, now).await?
        else {
            return Err(lost(&mut tx, cid).await);
        };
        effects::write(&mut tx, &effects).await?;
        tx.commit().await.or_store("transaction")?;
        Ok(saved)
    }

    #[tracing::instrument(skip_all, fields(connection = %self.id))]
    async fn record_refresh_failure(
        &mut self,
        expected_version: i64,
        next_refresh_at: OffsetDateTime,
        keep_marker: bool,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let cid = self.id;
        let conn = self.conn()?;
        let done = sqlx::query(
            "UPDATE connections SET refresh_failures = refresh_failures + 1,
                next_refresh_at = $3,
                refresh_started_at = CASE WHEN $4 THEN refresh_started_at ELSE NULL END,
                updated_at = $5
             WHERE id = $1 AND version = $2",
        )
        .bind(id(cid.0))
        .bind(expected_version)
        .bind(ts(next_refresh_at))
        .bind(keep_marker)
        .bind(ts(now))
        .execute(&mut *conn)
        .await
        .or_store("connection")?;
        if done.rows_affected() == 0 {
            return Err(lost(conn, cid).await);
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(connection = %self.id, state = %state))]
    async fn mark_dead(
        &mut self,
        expected_version: i64,
        state: ConnectionState,
        reason: &str,
        now: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<Connection> {
        let cid = self.id;
        let conn = self.conn()?;
        let mut tx = conn.begin().await.or_store("transaction")?;
        let row = sqlx::query(concat!(
            "UPDATE connections SET state = $3, state_reason = $4, access_token = NULL,
                refresh_token = NULL, access_expires_at = NULL, refresh_started_at = NULL,
                next_refresh_at = NULL, version = version + 1, updated_at = $5
             WHERE id = $1 AND version = $2 RETURNING ",
            connection_cols!()
        ))
        .bind(id(cid.0))
        .bind(expected_version)
        .bind(state.as_str())
        .bind(reason)
        .bind(ts(now))
        .fetch_optional(&mut *tx)
        .await
        .or_store("connection")?;
        let Some(row) = row else {
            return Err(lost(&mut tx, cid).await);
        };
        let dead = connection(&row)?;
        effects::write(&mut tx, &effects).await?;
        tx.commit().await.or_store("transaction")?;
        Ok(dead)
    }

    async fn release(mut self: Box<Self>) -> StoreResult<()> {
        let cid = self.id;
        let unlocked: bool = sqlx::query_scalar("SELECT pg_advisory_unlock($1)")
            .bind(advisory_key(cid))
            .fetch_one(self.conn()?)
            .await
            .or_store("connection")?;
        if !unlocked {
            tracing::warn!(connection = %cid, "refresh lock was not held at release");
        }
        // Unlocked: the connection may go back to the pool.
        drop(self.conn.take());
        Ok(())
    }
}
