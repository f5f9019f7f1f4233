//! Opening the database and migrating it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use meetgate_store::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use sha2::{Digest, Sha256};

use crate::checkpoint::{Checkpointer, Rounds, WRITER_AUTOCHECKPOINT_PAGES};
use crate::errors::{OrStore, map_sqlite, one_line};
use crate::sql::query;
use crate::worker::Worker;

/// Readers beyond this only add threads that wait for the two cores a small deployment has; each
/// reader is a thread with its own connection.
const MAX_READERS: u32 = 4;

/// Prepared statements kept per connection: more than the store has distinct statements, so
/// that none is prepared twice.
const STATEMENT_CACHE: usize = 256;

/// The schema, in order. A migration never changes once released; a change is a new one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (
        2,
        "checks without IN lists",
        include_str!("../migrations/0002_checks_without_in_lists.sql"),
    ),
    (
        3,
        "tenant-scoped keys for meetings, idempotency records and outbox events",
        include_str!("../migrations/0003_tenant_scoped_keys.sql"),
    ),
    (
        4,
        "the claim that holds an idempotency key; password reset links",
        include_str!("../migrations/0004_claim_holders_and_password_resets.sql"),
    ),
    (
        5,
        "the previous secret of a webhook endpoint during a rotation",
        include_str!("../migrations/0005_webhook_secret_rotation.sql"),
    ),
    (
        6,
        "the endpoint in the index of due deliveries",
        include_str!("../migrations/0006_due_deliveries_by_endpoint.sql"),
    ),
];

/// Connection and timeout settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Reader threads (at most 4), each with a connection, and as many connections lent to the
    /// calling thread for short reads. Writes always go through one dedicated connection:
    /// SQLite admits one writer at a time, and a queue in front of one writer is fairer and
    /// faster than SQLite's busy-wait sleeps.
    pub max_connections: u32,
    /// Kept for configuration compatibility with the PostgreSQL backend; a SQLite job waits in
    /// its worker's queue instead.
    pub acquire_timeout: Duration,
    /// How long `connect` may take before failing with `Unavailable`.
    pub connect_timeout: Duration,
    /// How long a statement waits for another process's write lock.
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(10),
        }
    }
}

pub(crate) struct Workers {
    pub(crate) writer: Worker,
    pub(crate) reader: Worker,
    /// `reader` is `writer` (an in-memory database).
    pub(crate) shared: bool,
    /// None for an in-memory database (no WAL).
    pub(crate) checkpointer: Option<Checkpointer>,
}

/// Where a `sqlite:` URL points.
#[derive(Debug, PartialEq, Eq)]
enum Location {
    Memory,
    File(PathBuf),
}

/// `sqlite::memory:`, `sqlite://relative/or/absolute.db` (also `sqlite:path`), optionally with
/// `?mode=rwc` (the default) or `?mode=memory`.
fn parse(url: &str) -> StoreResult<Location> {
    let invalid = |why: &str| {
        StoreError::InvalidUrl(format!(
            "{why}; expected a sqlite: URL such as sqlite://data/meetgate.db or sqlite::memory:"
        ))
    };
    let rest = url
        .strip_prefix("sqlite:")
        .ok_or_else(|| invalid("not a sqlite: URL"))?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, params) = rest.split_once('?').unwrap_or((rest, ""));
    let mut memory = path == ":memory:";
    for param in params.split('&').filter(|p| !p.is_empty()) {
        match param {
            "mode=memory" => memory = true,
            "mode=rwc" => {}
            other => return Err(invalid(&format!("unsupported URL parameter {other:?}"))),
        }
    }
    if memory {
        return Ok(Location::Memory);
    }
    if path.is_empty() {
        return Err(invalid("no file path"));
    }
    Ok(Location::File(PathBuf::from(path)))
}

/// Settings every connection gets.
fn configure(c: &Connection, options: &StoreOptions) -> rusqlite::Result<()> {
    c.busy_timeout(options.busy_timeout)?;
    c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    c.pragma_update(None, "foreign_keys", true)?;
    c.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

fn open_file(path: &Path, options: &StoreOptions, writer: bool) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let c = Connection::open_with_flags(path, flags).map_err(open_error)?;
    configure(&c, options).map_err(open_error)?;
    if writer {
        let mode: String = c
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(open_error)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable(format!(
                "cannot switch the SQLite database to WAL mode (it stays {mode})"
            )));
        }
        c.pragma_update(None, "wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES)
            .map_err(open_error)?;
    } else {
        // A statement that tries to write through a reader fails instead of taking the lock.
        c.pragma_update(None, "query_only", true)
            .map_err(open_error)?;
        // No `mmap_size`: a read that begins after another connection committed drops the
        // reader's page cache and, when mapped, its mapping too. Under writes that is most reads:
        // each then paid an munmap (a TLB shootdown on every core), an mmap and page faults,
        // which cost more than reading its few pages with `pread` (docs/performance.md, sixth round).
    }
    Ok(c)
}

fn open_blocking(location: &Location, options: &StoreOptions) -> StoreResult<Workers> {
    let spawn_error =
        |e: std::io::Error| StoreError::Unavailable(format!("cannot start a SQLite thread: {e}"));
    match location {
        Location::Memory => {
            // An in-memory database lives in its one connection: reads and writes share it.
            let c = Connection::open_in_memory().map_err(open_error)?;
            configure(&c, options).map_err(open_error)?;
            let writer = Worker::start("sqlite-writer", vec![c]).map_err(spawn_error)?;
            Ok(Workers {
                reader: writer.clone(),
                writer,
                shared: true,
                checkpointer: None,
            })
        }
        Location::File(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Unavailable(format!(
                        "cannot create directory {}: {e}",
                        parent.display()
                    ))
                })?;
            }
            let writer = open_file(path, options, true)?;
            let readers = options.max_connections.clamp(1, MAX_READERS);
            let mut reader_connections = Vec::new();
            let mut inline_connections = Vec::new();
            for _ in 0..readers {
                reader_connections.push(open_file(path, options, false)?);
                inline_connections.push(open_file(path, options, false)?);
            }
            let checkpointing = Arc::new(AtomicBool::new(false));
            let writer = Worker::start("sqlite-writer", vec![writer])
                .map_err(spawn_error)?
                .with_writes_now(Arc::clone(&checkpointing));
            let rounds = Rounds::new(open_file(path, options, false)?, path, checkpointing)
                .map_err(|e| {
                    StoreError::Unavailable(format!(
                        "cannot open {} to sync it: {e}",
                        path.display()
                    ))
                })?;
            let checkpointer = Checkpointer::start(rounds).map_err(spawn_error)?;
            Ok(Workers {
                reader: Worker::start("sqlite-reader", reader_connections)
                    .map_err(spawn_error)?
                    .with_inline(inline_connections)
                    .with_reads_on_idle_writer(writer.clone()),
                writer,
                shared: false,
                checkpointer: Some(checkpointer),
            })
        }
    }
}

pub(crate) async fn open(url: &str, options: &StoreOptions) -> StoreResult<Workers> {
    let location = parse(url)?;
    let opening = {
        let options = options.clone();
        tokio::task::spawn_blocking(move || open_blocking(&location, &options))
    };
    match tokio::time::timeout(options.connect_timeout, opening).await {
        Ok(Ok(opened)) => opened,
        Ok(Err(e)) => Err(StoreError::Unavailable(format!(
            "opening the SQLite database failed: {e}"
        ))),
        Err(_) => Err(StoreError::Unavailable(format!(
            "opening the SQLite database took longer than {:?}",
            options.connect_timeout
        ))),
    }
}

fn open_error(e: rusqlite::Error) -> StoreError {
    match map_sqlite(e, "database") {
        StoreError::Database(m) | StoreError::Corrupt(m) | StoreError::Unavailable(m) => {
            StoreError::Unavailable(format!("cannot open the SQLite database: {m}"))
        }
        other => other,
    }
}

fn checksum(sql: &str) -> Vec<u8> {
    Sha256::digest(sql.as_bytes()).to_vec()
}

/// Applies pending migrations inside one `BEGIN IMMEDIATE` transaction, so that several
/// processes starting at once apply each migration once: the write lock is held from the first
/// read of the migrations table to the commit.
///
/// Foreign keys are off meanwhile, as SQLite's procedure for rebuilding a table asks: dropping
/// the old copy of a table that others reference would otherwise delete, or refuse, their rows.
/// Whatever the migrations did is checked with `PRAGMA foreign_key_check` before the commit.
pub(crate) async fn migrate(writer: &Worker) -> StoreResult<()> {
    writer
        .run(|c| {
            // The pragma is a no-op inside a transaction, so it goes before BEGIN.
            c.pragma_update(None, "foreign_keys", false)
                .map_err(migration_error)?;
            let applied = apply_migrations(c);
            let restored = c
                .pragma_update(None, "foreign_keys", true)
                .map_err(migration_error);
            applied.and(restored)
        })
        .await
        .or_store("migration")?
}

fn apply_migrations(c: &mut rusqlite::Connection) -> StoreResult<()> {
    let tx = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(migration_error)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            description TEXT NOT NULL,
            checksum BLOB NOT NULL,
            applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
        )",
    )
    .map_err(migration_error)?;
    let applied = query("SELECT version, checksum FROM schema_migrations")
        .all(&tx)
        .map_err(migration_error)?;
    let mut done = std::collections::HashMap::new();
    for row in &applied {
        use crate::convert::RowExt;
        done.insert(row.int("version")?, row.bytes("checksum")?);
    }
    for (version, description, sql) in MIGRATIONS {
        let sum = checksum(sql);
        match done.get(version) {
            Some(applied) if *applied == sum => continue,
            Some(_) => {
                return Err(StoreError::Migration(format!(
                    "migration {version} was changed after it was applied"
                )));
            }
            None => {}
        }
        tx.execute_batch(sql).map_err(|e| {
            StoreError::Migration(format!("migration {version}: {}", one_line(&e.to_string())))
        })?;
        query("INSERT INTO schema_migrations (version, description, checksum) VALUES (?1, ?2, ?3)")
            .bind(*version)
            .bind(*description)
            .bind(sum)
            .run(&tx)
            .map_err(migration_error)?;
        check_foreign_keys(&tx, *version)?;
    }
    tx.commit().map_err(migration_error)
}

/// Fails if any row references a row that does not exist.
fn check_foreign_keys(c: &rusqlite::Connection, version: i64) -> StoreResult<()> {
    let mut statement = c
        .prepare("PRAGMA foreign_key_check")
        .map_err(migration_error)?;
    let mut rows = statement.query([]).map_err(migration_error)?;
    if let Some(row) = rows.next().map_err(migration_error)? {
        let table: String = row.get(0).map_err(migration_error)?;
        let parent: String = row.get(2).map_err(migration_error)?;
        return Err(StoreError::Migration(format!(
            "migration {version} left a row of {table} that references no row of {parent}"
        )));
    }
    Ok(())
}

fn migration_error(e: rusqlite::Error) -> StoreError {
    match map_sqlite(e, "migration") {
        e @ StoreError::Unavailable(_) => e,
        other => StoreError::Migration(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_migration_that_leaves_a_dangling_reference_is_named() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE parent (id TEXT PRIMARY KEY);
             CREATE TABLE child (parent_id TEXT REFERENCES parent (id));
             INSERT INTO parent VALUES ('p');
             INSERT INTO child VALUES ('p');",
        )
        .unwrap();
        check_foreign_keys(&c, 7).unwrap();
        c.execute_batch("PRAGMA foreign_keys = OFF; INSERT INTO child VALUES ('gone')")
            .unwrap();
        let err = check_foreign_keys(&c, 7).unwrap_err().to_string();
        assert!(
            err.contains("migration 7") && err.contains("child") && err.contains("parent"),
            "{err}"
        );
    }

    #[test]
    fn urls() {
        assert_eq!(parse("sqlite::memory:").unwrap(), Location::Memory);
        assert_eq!(
            parse("sqlite://x.db?mode=memory").unwrap(),
            Location::Memory
        );
        assert_eq!(
            parse("sqlite://data/m.db").unwrap(),
            Location::File("data/m.db".into())
        );
        assert_eq!(
            parse("sqlite:///abs/m.db?mode=rwc").unwrap(),
            Location::File("/abs/m.db".into())
        );
        assert_eq!(parse("sqlite:m.db").unwrap(), Location::File("m.db".into()));
        for bad in ["", "file:/x.db", "sqlite://", "sqlite://x.db?mode=ro"] {
            assert!(
                matches!(parse(bad), Err(StoreError::InvalidUrl(_))),
                "{bad}"
            );
        }
    }
}
