//! WAL checkpoints on a thread of their own.
//!
//! SQLite checkpoints automatically in the connection that commits when the WAL has grown past
//! a threshold, and a checkpoint syncs the WAL and the database file: the one writer would stop
//! for those syncs, and every write queued behind it with it. Here a separate connection
//! checkpoints in `PASSIVE` mode four times a second, which never blocks the writer or readers.
//!
//! Under a steady stream of writes, though, such a checkpoint copies most frames but never all:
//! the writer appends while it runs, and a reader's snapshot holds newer frames back. Only a
//! checkpoint that copies every frame syncs the database file and lets the WAL start over, so
//! under load that one is the writer's own (at [`WRITER_AUTOCHECKPOINT_PAGES`]), and it used to
//! sync every page this thread had copied since the last one: 40–50 ms on the writer's thread
//! every few seconds at saturation, for every write queued behind it. This thread therefore
//! also syncs the database file after each checkpoint that copied something, through a
//! descriptor of its own, so that the writer's sync finds only what was copied since.
//!
//! Why four times a second: a checkpoint first syncs the WAL written since the last one, and
//! the writer's next append waits for the WAL page being written back; the wait grows with what
//! there is to sync. At 500 creates/s, every 250 ms instead of every second halved meetgate's p99
//! (132 → 68 ms) for about a tenth more CPU per create; see docs/performance.md.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// WAL pages after which the writer checkpoints itself (SQLite's default is 1,000).
pub(crate) const WRITER_AUTOCHECKPOINT_PAGES: u32 = 20_000;

const INTERVAL: Duration = Duration::from_millis(250);

/// What a checkpoint saw: frames in the WAL, and how many of them are in the database file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WalState {
    pub(crate) frames: i64,
    pub(crate) copied: i64,
}

impl WalState {
    /// Runs a `PASSIVE` checkpoint on `c`: copies what it can without waiting for anyone.
    fn checkpoint(c: &Connection) -> rusqlite::Result<Self> {
        c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok(Self {
                frames: r.get(1)?,
                copied: r.get(2)?,
            })
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum RoundError {
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] rusqlite::Error),
    #[error("syncing the database file: {0}")]
    Sync(#[from] std::io::Error),
}

/// What a round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Round {
    pub(crate) wal: WalState,
    /// The database file was synced: the checkpoint copied frames since the last round.
    pub(crate) synced: bool,
}

/// The checkpointing connection, and a descriptor of the database file to sync.
pub(crate) struct Rounds {
    connection: Connection,
    database: File,
    /// Set while the checkpoint runs (the writer then keeps writes on its own thread).
    running: Arc<AtomicBool>,
    last: Option<WalState>,
}

impl Rounds {
    pub(crate) fn new(
        connection: Connection,
        database: &Path,
        running: Arc<AtomicBool>,
    ) -> std::io::Result<Self> {
        Ok(Self {
            connection,
            // On Linux an fsync through a read-only descriptor syncs the file's pages whoever
            // wrote them.
            database: File::open(database)?,
            running,
            last: None,
        })
    }

    /// One checkpoint, then a sync of the database file if it copied anything new.
    pub(crate) fn run(&mut self) -> Result<Round, RoundError> {
        self.running.store(true, Ordering::Release);
        let wal = WalState::checkpoint(&self.connection);
        self.running.store(false, Ordering::Release);
        let wal = wal?;
        // Also when every frame it counted was copied: SQLite syncs the file itself only if no
        // frame was appended meanwhile, which under load there usually was.
        let synced = wal.copied > 0 && self.last != Some(wal);
        if synced {
            self.database.sync_data()?;
        }
        self.last = Some(wal);
        Ok(Round { wal, synced })
    }
}

/// Stops its thread when stopped or dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    stop: Mutex<Option<mpsc::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    pub(crate) fn start(mut rounds: Rounds) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    if let Err(e) = rounds.run() {
                        tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
                    }
                }
            })?;
        Ok(Self {
            stop: Mutex::new(Some(stop)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Ends the thread and waits for a checkpoint in progress to finish.
    pub(crate) async fn stop(&self) {
        if let Ok(mut stop) = self.stop.lock() {
            stop.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db() -> (std::path::PathBuf, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("meetgate-ckpt-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.db");
        (dir, path)
    }

    fn wal_writer(path: &Path) -> Connection {
        let writer = Connection::open(path).unwrap();
        writer
            .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer
    }

    /// A fresh database whose WAL holds a table and two rows, and its writer.
    fn two_rows_in_the_wal() -> (std::path::PathBuf, std::path::PathBuf, Connection) {
        let (dir, path) = temp_db();
        let writer = wal_writer(&path);
        writer
            .execute_batch("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('a'), ('b');")
            .unwrap();
        (dir, path, writer)
    }

    fn query_only(path: &Path) -> Connection {
        let c = Connection::open(path).unwrap();
        c.pragma_update(None, "query_only", true).unwrap();
        c
    }

    /// The checkpointing connection is opened `query_only` like the readers; a checkpoint is
    /// not a change to the data, so SQLite allows it there.
    #[test]
    fn a_query_only_connection_checkpoints_the_wal() {
        let (dir, path, writer) = two_rows_in_the_wal();
        let checkpointer = query_only(&path);
        let (busy, log, done): (i64, i64, i64) = checkpointer
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(busy, 0);
        assert!(log > 0, "the WAL held frames");
        assert_eq!(done, log, "every frame was copied back");
        drop((writer, checkpointer));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A round syncs the database file after copying frames, including the part of the WAL a
    /// reader's snapshot let it copy, and does not sync again while nothing new was copied.
    #[test]
    fn a_round_syncs_the_database_after_copying_and_only_then() {
        let (dir, path, writer) = two_rows_in_the_wal();
        let reader = Connection::open(&path).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let _: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        writer
            .execute_batch("INSERT INTO t SELECT hex(randomblob(2000)) FROM t")
            .unwrap();
        let running = Arc::new(AtomicBool::new(false));
        let mut rounds = Rounds::new(query_only(&path), &path, Arc::clone(&running)).unwrap();

        let first = rounds.run().unwrap();
        assert!(first.synced, "{first:?}");
        assert!(
            0 < first.wal.copied && first.wal.copied < first.wal.frames,
            "the reader's snapshot held the newer frames back: {first:?}"
        );
        assert!(!running.load(Ordering::Acquire));

        let again = rounds.run().unwrap();
        assert_eq!(again.wal, first.wal);
        assert!(!again.synced, "nothing new was copied: {again:?}");

        reader.execute_batch("COMMIT").unwrap();
        let rest = rounds.run().unwrap();
        assert!(rest.synced);
        assert_eq!(rest.wal.copied, rest.wal.frames, "{rest:?}");
        drop((writer, reader, rounds));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
