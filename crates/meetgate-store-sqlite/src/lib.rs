//! SQLite backend of the meetgate store.
//!
//! For a single meetgate process: the refresh lock is an in-process mutex per connection, so two
//! processes sharing one database file would not exclude each other's refreshes. Use PostgreSQL
//! to run several replicas.
//!
//! Each connection lives on a thread of its own (see [`worker`]). Writes go through one dedicated
//! connection, and every multi-statement write runs as one job in a `BEGIN IMMEDIATE`
//! transaction, so that a transaction never has to upgrade from reader to writer (which fails
//! with `SQLITE_BUSY` instead of waiting) and holds the write lock only while its statements
//! run. Reads go to a few reader connections of their own.

mod audit;
mod checkpoint;
mod connect;
mod connections;
mod convert;
mod effects;
mod errors;
mod idempotency;
mod inline_pool;
mod keyed_lock;
mod keys;
mod meetings;
mod oauth;
mod people;
mod refresh_lock;
mod sql;
mod tenants;
mod webhooks;
mod worker;

use std::sync::Arc;

use meetgate_store::models::{ConnectionState, StoreStats};
use meetgate_store::{Store, StoreError, StoreResult};

pub use connect::StoreOptions;

use crate::convert::RowExt;
use crate::errors::OrStore;
use crate::keyed_lock::KeyedLocks;
use crate::sql::query;
use crate::worker::Worker;

/// The SQLite store. Cheap to clone; clones share the connections and the refresh locks.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: Worker,
    reader: Worker,
    /// The writer and reader are one connection (an in-memory database).
    shared: bool,
    checkpointer: Option<Arc<checkpoint::Checkpointer>>,
    refresh_locks: Arc<KeyedLocks<uuid::Uuid>>,
}

impl SqliteStore {
    /// Opens (creating if missing, with its parent directory) `sqlite://path/to/file.db`, or
    /// `sqlite::memory:` for a throw-away database. Does not migrate; call [`Store::migrate`].
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    pub async fn connect_with(url: &str, options: StoreOptions) -> StoreResult<Self> {
        let workers = connect::open(url, &options).await?;
        Ok(Self {
            writer: workers.writer,
            reader: workers.reader,
            shared: workers.shared,
            checkpointer: workers.checkpointer.map(Arc::new),
            refresh_locks: KeyedLocks::new(),
        })
    }

    /// Runs `f` on the writer connection outside any transaction, for tests that inspect
    /// connection settings or provoke states the store never leaves behind.
    #[doc(hidden)]
    pub async fn on_writer_for_tests<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> T + Send + 'static,
    {
        self.writer.run(f).await.or_store("test")
    }

    /// Runs `f` as one write transaction with the writer's connection: its changes are committed
    /// if it succeeds and rolled back if it fails. On the calling thread when the writer is idle
    /// and writes are not coming fast (see [`Worker::write_now_unless_busy`]), else on the
    /// writer's thread, where transactions queued at the
    /// same moment share one commit (see [`Worker::submit`]); either way the answer comes only
    /// once the commit is done.
    pub(crate) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&rusqlite::Connection) -> StoreResult<T> + Send + 'static,
    {
        let (answer, mut answered) = tokio::sync::oneshot::channel();
        let part = Box::new(WritePart {
            f,
            answer,
            result: None,
        });
        let panicked = || StoreError::Database("a database write panicked".into());
        if let Some(now) = self.writer.write_now_unless_busy()
            && let Some(c) = now.connection()
        {
            // The same transaction the writer's thread runs for a part that is alone.
            worker::run_alone(c, part);
            return answered.try_recv().map_err(|_| panicked())?;
        }
        self.writer.submit(part).or_store("transaction")?;
        answered.await.map_err(|_| panicked())?
    }

    /// Runs `f` on a reader connection (reads that need more than one statement).
    pub(crate) async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> StoreResult<T> + Send + 'static,
    {
        self.reader.run(move |c| f(c)).await.or_store("read")?
    }
}

/// A write transaction for the writer's group commit.
struct WritePart<T, F> {
    f: F,
    answer: tokio::sync::oneshot::Sender<StoreResult<T>>,
    /// What the last run returned.
    result: Option<StoreResult<T>>,
}

impl<T, F> worker::Part for WritePart<T, F>
where
    T: Send + 'static,
    F: FnMut(&rusqlite::Connection) -> StoreResult<T> + Send + 'static,
{
    fn run(&mut self, c: &rusqlite::Connection) -> bool {
        let result = (self.f)(c);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<(), &rusqlite::Error>) {
        let answer = match (self.result, committed) {
            (Some(Err(e)), _) => Err(e),
            (_, Err(e)) => Err(errors::commit_error(e)),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (None, Ok(())) => Err(StoreError::Database("a write was never run".into())),
        };
        let _ = self.answer.send(answer);
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
        query("SELECT 1")
            .fetch_one(&self.reader)
            .await
            .or_store("ping")?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn stats(&self) -> StoreResult<StoreStats> {
        self.read(|c| {
            let rows = query("SELECT state, count(*) AS n FROM connections GROUP BY state")
                .all(c)
                .or_store("connection")?;
            let mut connections_by_state = Vec::with_capacity(rows.len());
            for row in rows {
                connections_by_state.push((row.parsed::<ConnectionState>("state")?, row.int("n")?));
            }
            let row = query(
                "SELECT
                    (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending') AS outbox,
                    (SELECT count(*) FROM zoom_inbox WHERE processed_at IS NULL) AS inbox,
                    (SELECT min(received_at) FROM zoom_inbox WHERE processed_at IS NULL) AS oldest",
            )
            .one(c)
            .or_store("stats")?;
            Ok(StoreStats {
                connections_by_state,
                outbox_pending: row.int("outbox")?,
                inbox_pending: row.int("inbox")?,
                oldest_inbox_pending: row.opt_time("oldest")?,
            })
        })
        .await
    }

    /// Connections running a job and connections waiting for one (all are always open).
    fn pool_usage(&self) -> (u32, u32) {
        let (w_busy, w_idle) = self.writer.usage();
        if self.shared {
            return (w_busy, w_idle);
        }
        let (r_busy, r_idle) = self.reader.usage();
        (w_busy + r_busy, w_idle + r_idle)
    }

    async fn close(&self) {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.stop().await;
        }
        self.writer.stop().await;
        if !self.shared {
            self.reader.stop().await;
        }
    }
}
