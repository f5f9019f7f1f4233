//! Opening the database and migrating it.

use std::str::FromStr;
use std::time::{Duration, Instant};

use meetgate_store::{StoreError, StoreResult};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Executor, Row};

use crate::errors::{OrStore, map_sqlx, one_line};

/// Readers beyond this only add threads: sqlx runs each SQLite connection on a thread of its own,
/// and measured on 2 cores, 16 readers cost 15% of create throughput against 2 to 4 (thread
/// wake-ups and context switches; see docs/performance.md).
const MAX_READERS: u32 = 4;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Pool and timeout settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections for reads. Writes always go through one dedicated connection: SQLite admits
    /// one writer at a time, and queueing in the pool is fairer and faster than SQLite's
    /// busy-wait sleeps.
    pub max_connections: u32,
    /// How long a call waits for a free connection before failing with `Unavailable`.
    pub acquire_timeout: Duration,
    /// How long `connect` may take before failing with `Unavailable`.
    pub connect_timeout: Duration,
    /// How long a statement waits for another process's write lock.
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(10),
        }
    }
}

pub(crate) struct Pools {
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
    /// `reader` is a clone of `writer` (an in-memory database).
    pub(crate) shared: bool,
}

fn is_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

pub(crate) async fn open(url: &str, options: &StoreOptions) -> StoreResult<Pools> {
    if !url.starts_with("sqlite:") {
        return Err(StoreError::InvalidUrl(
            "expected a sqlite: URL such as sqlite://data/meetgate.db or sqlite::memory:".into(),
        ));
    }
    let connect = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::InvalidUrl(one_line(&e.to_string())))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(options.busy_timeout);

    let memory = is_memory(url);
    if !memory {
        let path = connect.get_filename();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot create directory {}: {e}",
                    parent.display()
                ))
            })?;
        }
    }

    let opening = async {
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            // sqlx's `begin` is not cancel-safe: a request dropped (client gone, timeout) between
            // BEGIN and the transaction guard returns the connection still inside a transaction,
            // and every later `begin` on it fails. Such a connection is closed (SQLite rolls the
            // transaction back) and the pool opens a fresh one.
            .before_acquire(|conn, _| {
                let clean = !sqlx::Connection::is_in_transaction(conn);
                if !clean {
                    tracing::warn!("discarding a writer connection left inside a transaction");
                }
                Box::pin(async move { Ok(clean) })
            })
            .connect_with(connect.clone())
            .await
            .map_err(open_error)?;
        // An in-memory database lives in its connections; a second pool would see another (or,
        // with a shared cache, a table-locking) database, so both roles share the one connection.
        let reader = if memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(options.max_connections.clamp(1, MAX_READERS))
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await
                .map_err(open_error)?
        };
        Ok::<_, StoreError>(Pools {
            writer,
            reader,
            shared: memory,
        })
    };
    tokio::time::timeout(options.connect_timeout, opening)
        .await
        .map_err(|_| {
            StoreError::Unavailable(format!(
                "opening the SQLite database took longer than {:?}",
                options.connect_timeout
            ))
        })?
}

fn open_error(e: sqlx::Error) -> StoreError {
    match map_sqlx(e, "database") {
        StoreError::Database(m) | StoreError::Corrupt(m) => {
            StoreError::Unavailable(format!("cannot open the SQLite database: {m}"))
        }
        other => other,
    }
}

/// Applies pending migrations inside one `BEGIN IMMEDIATE` transaction.
///
/// sqlx's SQLite migrator takes no lock, so two processes starting at once could both try to
/// apply the same migration. Holding SQLite's write lock from the first read of the migrations
/// table to the commit makes the check-and-apply atomic across processes; the table has sqlx's
/// layout so `sqlx migrate info` keeps working.
pub(crate) async fn migrate(writer: &SqlitePool) -> StoreResult<()> {
    let mut tx = writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(migration_error)?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
            version BIGINT PRIMARY KEY,
            description TEXT NOT NULL,
            installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            success BOOLEAN NOT NULL,
            checksum BLOB NOT NULL,
            execution_time BIGINT NOT NULL
        )",
    )
    .execute(&mut *tx)
    .await
    .map_err(migration_error)?;

    let applied = sqlx::query("SELECT version, checksum, success FROM _sqlx_migrations")
        .fetch_all(&mut *tx)
        .await
        .map_err(migration_error)?;
    let mut done = std::collections::HashMap::new();
    for row in applied {
        let version: i64 = row.try_get("version").or_store("migration")?;
        let checksum: Vec<u8> = row.try_get("checksum").or_store("migration")?;
        let success: bool = row.try_get("success").or_store("migration")?;
        if !success {
            return Err(StoreError::Migration(format!(
                "migration {version} is marked as failed; repair the database by hand"
            )));
        }
        done.insert(version, checksum);
    }

    for migration in MIGRATOR.iter() {
        if migration.migration_type.is_down_migration() {
            continue;
        }
        if let Some(checksum) = done.get(&migration.version) {
            if checksum.as_slice() != &*migration.checksum {
                return Err(StoreError::Migration(format!(
                    "migration {} was changed after it was applied",
                    migration.version
                )));
            }
            continue;
        }
        let started = Instant::now();
        let sql: &'static str = &migration.sql;
        (&mut *tx).execute(sql).await.map_err(|e| {
            StoreError::Migration(format!(
                "migration {}: {}",
                migration.version,
                one_line(&e.to_string())
            ))
        })?;
        let elapsed = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES ($1, $2, TRUE, $3, $4)",
        )
        .bind(migration.version)
        .bind(&*migration.description)
        .bind(&*migration.checksum)
        .bind(elapsed)
        .execute(&mut *tx)
        .await
        .map_err(migration_error)?;
    }
    tx.commit().await.map_err(migration_error)
}

fn migration_error(e: sqlx::Error) -> StoreError {
    match map_sqlx(e, "migration") {
        e @ StoreError::Unavailable(_) => e,
        other => StoreError::Migration(other.to_string()),
    }
}
