//! Reader connections lent to the calling thread, for reads too short to be worth a hand-off.
//!
//! Sending a job to a connection's thread and waking the caller with its answer costs two thread
//! wake-ups, often more CPU than an indexed lookup of one row from the page cache. The reads on a
//! request's path (a key, a user's connections, a meeting) therefore run here, on the async
//! runtime's thread, when a connection is idle. Long reads (lists, statistics) keep going to the
//! reader threads, where they cannot hold up other requests. A read never waits for a lent
//! connection: when none is idle it goes to the reader threads too.

use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use rusqlite::Connection;

use crate::worker::WorkerError;

pub(crate) struct InlinePool {
    idle: Mutex<Vec<Connection>>,
    size: u32,
    lent: AtomicU32,
    closed: AtomicBool,
}

impl InlinePool {
    pub(crate) fn new(connections: Vec<Connection>) -> Self {
        Self {
            size: u32::try_from(connections.len()).unwrap_or(u32::MAX),
            idle: Mutex::new(connections),
            lent: AtomicU32::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// Runs `job` on an idle connection on this thread; gives `job` back when none is idle.
    pub(crate) fn try_run<T, F>(&self, job: F) -> Result<Result<T, WorkerError>, F>
    where
        F: FnOnce(&mut Connection) -> T,
    {
        let Some(mut connection) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) else {
            return Err(job);
        };
        self.lent.fetch_add(1, Ordering::Relaxed);
        // A panicking job answers like one on a reader thread; the connection goes back.
        let answer = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut connection)));
        self.give_back(connection);
        Ok(answer.map_err(|_| {
            tracing::error!("a database read panicked");
            WorkerError::Panicked
        }))
    }

    fn give_back(&self, connection: Connection) {
        self.lent.fetch_sub(1, Ordering::Relaxed);
        // A read never leaves a transaction open, but one that panicked mid-statement must not
        // hand the next reader a stale snapshot.
        if !connection.is_autocommit() {
            let _ = connection.execute_batch("ROLLBACK");
        }
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(connection);
        }
    }

    /// Connections lent out, and connections idle.
    pub(crate) fn usage(&self) -> (u32, u32) {
        let lent = self.lent.load(Ordering::Relaxed).min(self.size);
        (lent, self.size - lent)
    }

    /// Closes the idle connections; lent ones are closed when they come back.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize) -> InlinePool {
        InlinePool::new(
            (0..n)
                .map(|_| Connection::open_in_memory().unwrap())
                .collect(),
        )
    }

    #[test]
    fn runs_on_an_idle_connection_and_gives_it_back() {
        let p = pool(1);
        let one: i64 = p
            .try_run(|c| c.query_row("SELECT 1", [], |r| r.get(0)).unwrap())
            .ok()
            .unwrap()
            .unwrap();
        assert_eq!(one, 1);
        assert_eq!(p.usage(), (0, 1));
    }

    #[test]
    fn gives_the_job_back_when_every_connection_is_lent() {
        let p = pool(1);
        let nested = p
            .try_run(|_| {
                assert_eq!(p.usage(), (1, 0));
                p.try_run(|_| ()).is_err()
            })
            .ok()
            .unwrap()
            .unwrap();
        assert!(nested, "the inner read found no idle connection");
    }

    #[test]
    fn a_panicking_read_answers_panicked_and_keeps_the_connection() {
        let p = pool(1);
        let panicked = p.try_run(|_| -> i64 { panic!("boom") }).ok().unwrap();
        assert!(matches!(panicked, Err(WorkerError::Panicked)));
        assert_eq!(p.usage(), (0, 1));
        assert!(p.try_run(|_| ()).is_ok(), "the connection came back");
    }

    #[test]
    fn a_closed_pool_lends_nothing() {
        let p = pool(2);
        p.close();
        assert!(p.try_run(|_| ()).is_err());
    }
}
