//! SQLite backend of the meetgate store.
//!
//! For a single meetgate process: the refresh lock is an in-process mutex per connection, so two
//! processes sharing one database file would not exclude each other's refreshes. Use PostgreSQL
//! to run several replicas.
//!
//! Writes go through one dedicated connection and every multi-statement write runs in a
//! `BEGIN IMMEDIATE` transaction, so that a transaction never has to upgrade from reader to
//! writer (which fails with `SQLITE_BUSY` instead of waiting). Reads use a pool of their own.

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
mod webhooks;

use std::sync::Arc;

use meetgate_store::models::{ConnectionState, StoreStats};
use meetgate_store::{Store, StoreResult};
use sqlx::sqlite::SqlitePool;
use sqlx::{Sqlite, Transaction};

pub use connect::StoreOptions;

use crate::convert::RowExt;
use crate::errors::OrStore;
use crate::keyed_lock::KeyedLocks;

/// The SQLite store. Cheap to clone; clones share the pools and the refresh locks.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// The writer and reader are one pool (an in-memory database).
    shared_pool: bool,
    refresh_locks: Arc<KeyedLocks<uuid::Uuid>>,
}

impl SqliteStore {
    /// Opens (creating if missing, with its parent directory) `sqlite://path/to/file.db`, or
    /// `sqlite::memory:` for a throw-away database. Does not migrate; call [`Store::migrate`].
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    pub async fn connect_with(url: &str, options: StoreOptions) -> StoreResult<Self> {
        let pools = connect::open(url, &options).await?;
        Ok(Self {
            writer: pools.writer,
            reader: pools.reader,
            shared_pool: pools.shared,
            refresh_locks: KeyedLocks::new(),
        })
    }

    /// The pool that writes go through, for tests that inspect connection settings.
    #[doc(hidden)]
    pub fn writer_pool_for_tests(&self) -> &SqlitePool {
        &self.writer
    }

    /// A write transaction that holds SQLite's write lock from its first statement.
    pub(crate) async fn begin_write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .or_store("transaction")
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    #[tracing::instrument(skip_all)]
    async fn migrate(&self) -> StoreResult<()> {
        connect::migrate(&self.writer).await
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .or_store("ping")?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn stats(&self) -> StoreResult<StoreStats> {
        let rows = sqlx::query("SELECT state, count(*) AS n FROM connections GROUP BY state")
            .fetch_all(&self.reader)
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
        .fetch_one(&self.reader)
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
        let usage = |p: &SqlitePool| {
            let idle = u32::try_from(p.num_idle()).unwrap_or(u32::MAX);
            (p.size().saturating_sub(idle), idle)
        };
        let (w_used, w_idle) = usage(&self.writer);
        if self.shared_pool {
            return (w_used, w_idle);
        }
        let (r_used, r_idle) = usage(&self.reader);
        (w_used + r_used, w_idle + r_idle)
    }

    async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}
