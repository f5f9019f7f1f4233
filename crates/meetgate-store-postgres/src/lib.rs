//! PostgreSQL backend of the meetgate store, safe for several meetgate replicas on one database.
//!
//! The refresh lock is a session advisory lock held on a dedicated pooled connection for as long
//! as its holder works, so it never expires under a slow holder and dies with a dead one.
//! Background claims use `FOR UPDATE SKIP LOCKED` so that replicas never share a row.

mod audit;
mod connect;
mod connections;
mod convert;
mod effects;
mod errors;
mod idempotency;
mod keyed_lock;
mod keys;
mod meetings;
mod oauth;
mod people;
mod refresh_lock;
mod tenants;
#[cfg(feature = "test-support")]
pub mod test_support;
mod webhooks;

use std::sync::Arc;

use meetgate_store::models::{ConnectionState, StoreStats};
use meetgate_store::{Store, StoreResult};
use sqlx::postgres::PgPool;
use sqlx::{Postgres, Transaction};

pub use connect::StoreOptions;
#[cfg(feature = "test-support")]
pub use test_support::{
    drop_test_database, end_sessions_holding_advisory_locks, execute_sql, fresh_test_database,
};

use crate::convert::RowExt;
use crate::errors::OrStore;
use crate::keyed_lock::KeyedLocks;

/// The PostgreSQL store. Cheap to clone; clones share the pool.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Tasks of this process that want the same connection's refresh lock queue here first, so
    /// that waiters do not each hold a pooled connection blocked in `pg_advisory_lock`.
    refresh_queue: Arc<KeyedLocks<uuid::Uuid>>,
    /// Bounds the pooled connections that refresh locks hold (see `StoreOptions`).
    refresh_slots: Arc<tokio::sync::Semaphore>,
    refresh_lock_wait: std::time::Duration,
}

impl PgStore {
    /// Connects to `postgres://user:password@host:port/database` (or `postgresql://`). Fails
    /// within the connect timeout when the server does not answer. Does not migrate; call
    /// [`Store::migrate`].
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    pub async fn connect_with(url: &str, options: StoreOptions) -> StoreResult<Self> {
        let pool = connect::open(url, &options).await?;
        Ok(Self {
            pool,
            refresh_queue: KeyedLocks::new(),
            refresh_slots: Arc::new(tokio::sync::Semaphore::new(options.refresh_lock_slots())),
            refresh_lock_wait: options.refresh_lock_wait,
        })
    }

    pub(crate) async fn begin_write(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.or_store("transaction")
    }

    /// The pool, for tests that look behind the store.
    #[doc(hidden)]
    pub fn pool_for_tests(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait::async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    #[tracing::instrument(skip_all)]
    async fn migrate(&self) -> StoreResult<()> {
        connect::migrate(&self.pool).await
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .or_store("ping")?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn stats(&self) -> StoreResult<StoreStats> {
        let rows = sqlx::query("SELECT state, count(*) AS n FROM connections GROUP BY state")
            .fetch_all(&self.pool)
            .await
            .or_store("connection")?;
        let mut connections_by_state = Vec::with_capacity(rows.len());
        for row in rows {
            connections_by_state.push((row.parsed::<ConnectionState>("state")?, row.int("n")?));
        }
        let row = sqlx::query(
            "SELECT
                (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending') AS outbox,
                (SELECT count(*) FROM zoom_inbox WHERE processed_at IS NULL) AS inbox,
                (SELECT min(received_at) FROM zoom_inbox WHERE processed_at IS NULL) AS oldest",
        )
        .fetch_one(&self.pool)
        .await
        .or_store("stats")?;
        Ok(StoreStats {
            connections_by_state,
            outbox_pending: row.int("outbox")?,
            inbox_pending: row.int("inbox")?,
            oldest_inbox_pending: row.opt_time("oldest")?,
        })
    }

    fn pool_usage(&self) -> (u32, u32) {
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        (self.pool.size().saturating_sub(idle), idle)
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
