//! WAL checkpoints on a thread of their own.
//!
//! SQLite checkpoints automatically in the connection that commits when the WAL has grown past
//! a threshold, and a checkpoint syncs the database file: the one writer would stop for that
//! sync, and every write queued behind it with it (the benchmark saw the writer blocked on disk
//! a third of the time). Here a separate connection checkpoints in `PASSIVE` mode four times a
//! second, which never blocks the writer or readers; the writer's own automatic checkpoint stays
//! as a safety net at a much larger WAL size, in case this thread falls behind.
//!
//! Why that often: a checkpoint first syncs the WAL written since the last one, and the writer's
//! next append waits for the WAL page being written back; the wait grows with what there is to
//! sync. At 500 creates/s, every 250 ms instead of every second halved meetgate's p99 (132 → 68
//! ms) for about a tenth more CPU per create (pages changed again between two checkpoints are
//! copied again); see docs/performance.md.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// WAL pages after which the writer checkpoints itself (SQLite's default is 1,000).
pub(crate) const WRITER_AUTOCHECKPOINT_PAGES: u32 = 20_000;

const INTERVAL: Duration = Duration::from_millis(250);

/// Stops its thread when stopped or dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    stop: Mutex<Option<mpsc::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    /// `running` is set while a checkpoint runs (the writer then keeps writes on its thread).
    pub(crate) fn start(connection: Connection, running: Arc<AtomicBool>) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    running.store(true, Ordering::Release);
                    let done =
                        connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                    running.store(false, Ordering::Release);
                    if let Err(e) = done {
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

    /// The checkpointing connection is opened `query_only` like the readers; a checkpoint is
    /// not a change to the data, so SQLite allows it there.
    #[test]
    fn a_query_only_connection_checkpoints_the_wal() {
        let dir = std::env::temp_dir().join(format!("meetgate-ckpt-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer
            .execute_batch("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('a'), ('b');")
            .unwrap();
        let checkpointer = Connection::open(&path).unwrap();
        checkpointer
            .pragma_update(None, "query_only", true)
            .unwrap();
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
}
