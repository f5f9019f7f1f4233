//! SQLite connections on threads of their own, running jobs sent from async code.
//!
//! A job is a closure that gets a connection and runs to completion on that connection's thread.
//! A write transaction is one job, so SQLite's write lock is held only while its statements run:
//! never across an `.await`, where a busy runtime would leave it idle while the next statement
//! waits to be scheduled (the benchmark measured exactly that as meetgate's throughput limit on
//! SQLite; see docs/performance.md). And since a job does not belong to the request that sent it,
//! a request that goes away mid-write cannot leave a transaction open.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::inline_pool::InlinePool;

/// Why a job did not run or did not answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WorkerError {
    #[error("the store was closed")]
    Closed,
    #[error("a database job panicked")]
    Panicked,
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Write transactions queued together commit together, at most this many at a time.
const MAX_GROUP: usize = 64;

/// A write that comes less than this after the one before goes to the writer's thread even when
/// the writer is idle. Writes that close together mean load; on the writer's thread those that
/// arrive while it commits share the next commit, and so their pages, where each written on its
/// caller's thread would commit alone (docs/performance.md, fourteenth round: +10 % creates per
/// second at saturation). Further apart, a write on the caller's thread saves the two thread
/// wake-ups of a hand-off, which is what a lightly loaded server's latency is made of.
pub(crate) const BUSY_WRITE_GAP: Duration = Duration::from_micros(100);

/// One write transaction, run inside a transaction it may share with others.
pub(crate) trait Part: Send {
    /// Runs its statements; `false` when it failed (it keeps its own error to answer with).
    /// It may be run again after the group has been rolled back, so it must not consume what
    /// it writes.
    fn run(&mut self, c: &Connection) -> bool;
    /// Answers the caller: with `committed` if its last run succeeded, else with its own error.
    /// A part that never ran (the transaction could not begin) answers with `committed`'s error.
    fn finish(self: Box<Self>, committed: Result<(), &rusqlite::Error>);
}

enum Message {
    Run(Job),
    Part(Box<dyn Part>),
    Stop,
}

/// A thread's connection. The thread takes it for each job; a one-connection worker may also
/// lend it to a caller while the thread has nothing to do (see [`Worker::write_now`]). Emptied
/// when the thread ends, which closes the connection.
type Slot = Arc<Mutex<Option<Connection>>>;

/// One queue served by one or more threads, each owning one connection. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Worker {
    name: &'static str,
    queue: mpsc::Sender<Message>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    slots: Vec<Slot>,
    size: u32,
    busy: Arc<AtomicU32>,
    /// Messages sent and not yet taken by a thread.
    queued: Arc<AtomicU32>,
    /// Connections lent to the caller's thread for [`Worker::run_now`] (readers only).
    inline: Option<Arc<InlinePool>>,
    /// Set while a checkpoint runs; [`Worker::write_now`] lends nothing then (writers only).
    checkpointing: Option<Arc<AtomicBool>>,
    /// The writer whose connection [`Worker::run_now`] borrows while it is idle (readers only).
    idle_writer: Option<Arc<Worker>>,
    /// When the last write asked for the writer, in nanoseconds since `started` (writers only).
    last_write: Arc<AtomicU64>,
    started: Instant,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("name", &self.name).finish()
    }
}

impl Worker {
    /// Starts one thread per connection, all taking jobs from one queue in arrival order.
    pub(crate) fn start(name: &'static str, connections: Vec<Connection>) -> std::io::Result<Self> {
        let (queue, receiver) = mpsc::channel::<Message>();
        let receiver = Arc::new(Mutex::new(receiver));
        let size = u32::try_from(connections.len()).unwrap_or(u32::MAX);
        let busy = Arc::new(AtomicU32::new(0));
        let queued = Arc::new(AtomicU32::new(0));
        let mut threads = Vec::with_capacity(connections.len());
        let mut slots = Vec::with_capacity(connections.len());
        for (i, connection) in connections.into_iter().enumerate() {
            let slot: Slot = Arc::new(Mutex::new(Some(connection)));
            slots.push(Arc::clone(&slot));
            let receiver = Arc::clone(&receiver);
            let counts = (Arc::clone(&busy), Arc::clone(&queued));
            let thread = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || serve(&slot, &receiver, &counts.0, &counts.1))?;
            threads.push(thread);
        }
        Ok(Self {
            name,
            queue,
            threads: Arc::new(Mutex::new(threads)),
            slots,
            size,
            busy,
            queued,
            inline: None,
            checkpointing: None,
            idle_writer: None,
            last_write: Arc::new(AtomicU64::new(0)),
            started: Instant::now(),
        })
    }

    /// Lets [`Worker::write_now`] lend this (one-connection) worker's connection to callers,
    /// except while `checkpointing` is set.
    pub(crate) fn with_writes_now(mut self, checkpointing: Arc<AtomicBool>) -> Self {
        self.checkpointing = Some(checkpointing);
        self
    }

    /// The writer's connection for a write on the calling thread, when nothing is queued for it,
    /// its thread is not using it and no checkpoint runs. A write then costs no hand-off to the
    /// writer's thread and back (two thread wake-ups, more than a small write's own time).
    /// While a checkpoint syncs the WAL, an append can wait on the disk for tens of milliseconds;
    /// writes queue for the writer's thread then, so that the wait never blocks the runtime.
    pub(crate) fn write_now(&self) -> Option<WriteNow<'_>> {
        let checkpointing = self.checkpointing.as_ref()?;
        if checkpointing.load(Ordering::Acquire) || self.queued.load(Ordering::Acquire) > 0 {
            return None;
        }
        let [slot] = self.slots.as_slice() else {
            return None;
        };
        let guard = slot.try_lock().ok()?;
        guard.as_ref()?;
        self.busy.fetch_add(1, Ordering::Relaxed);
        Some(WriteNow {
            guard,
            busy: &self.busy,
        })
    }

    /// [`Worker::write_now`] for a write transaction, unless the write before it asked less than
    /// [`BUSY_WRITE_GAP`] ago: under load, writes queue for the writer's group commit.
    pub(crate) fn write_now_unless_busy(&self) -> Option<WriteNow<'_>> {
        self.write_now_unless_busy_at(self.started.elapsed())
    }

    /// [`Worker::write_now_unless_busy`] for a write asking `since_start` after the worker began.
    fn write_now_unless_busy_at(&self, since_start: Duration) -> Option<WriteNow<'_>> {
        let now = u64::try_from(since_start.as_nanos()).unwrap_or(u64::MAX);
        let previous = self.last_write.swap(now, Ordering::AcqRel);
        if previous != 0 && now.saturating_sub(previous) < BUSY_WRITE_GAP.as_nanos() as u64 {
            return None;
        }
        self.write_now()
    }

    /// Lets [`Worker::run_now`] run a read on `writer`'s connection while the writer is idle
    /// (when [`Worker::write_now`] would lend it). A read that begins after another connection
    /// committed resets that connection's page cache and reads every page it touches from the
    /// file again; the writer's own commits never reset its cache, so a read there finds most of
    /// its pages in memory.
    pub(crate) fn with_reads_on_idle_writer(mut self, writer: Worker) -> Self {
        self.idle_writer = Some(Arc::new(writer));
        self
    }

    /// Adds connections that [`Worker::run_now`] lends to the calling thread.
    pub(crate) fn with_inline(mut self, connections: Vec<Connection>) -> Self {
        self.inline = Some(Arc::new(InlinePool::new(connections)));
        self
    }

    /// Connections running a job, and connections waiting for one.
    pub(crate) fn usage(&self) -> (u32, u32) {
        let busy = self.busy.load(Ordering::Relaxed).min(self.size);
        let (lent, idle) = self.inline.as_ref().map_or((0, 0), |p| p.usage());
        (busy + lent, self.size - busy + idle)
    }

    /// Runs a short `job` (an indexed read of a few rows) on the calling thread when a lent
    /// connection is idle: the idle writer's first (see [`Worker::with_reads_on_idle_writer`]),
    /// else one of the inline pool's ([`crate::inline_pool`]); else like [`Worker::run`].
    pub(crate) async fn run_now<T, F>(&self, job: F) -> Result<T, WorkerError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> T + Send + 'static,
    {
        if let Some(writer) = &self.idle_writer
            && let Some(mut lent) = writer.write_now()
            && let Some(connection) = lent.connection_mut()
        {
            return std::panic::catch_unwind(AssertUnwindSafe(|| job(connection))).map_err(|_| {
                tracing::error!("a database read panicked");
                WorkerError::Panicked
            });
        }
        let job = match &self.inline {
            Some(pool) => match pool.try_run(job) {
                Ok(answer) => return answer,
                Err(job) => job,
            },
            None => job,
        };
        self.run(job).await
    }

    /// Runs `job` on one of this worker's connections and returns what it returned.
    pub(crate) async fn run<T, F>(&self, job: F) -> Result<T, WorkerError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> T + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |connection| {
            // A caller that went away no longer wants the answer; the job itself has run.
            let _ = answer.send(job(connection));
        });
        self.send(Message::Run(job))?;
        // The sender is dropped without an answer only when the job panicked (or the thread is
        // gone, which only a stop does).
        answered.await.map_err(|_| WorkerError::Panicked)
    }

    /// Queues a write transaction. Parts queued while the writer was busy run together in one
    /// SQLite transaction and are answered after its one commit: one WAL append and one lock
    /// instead of one per request (see `run_group` for what happens when one fails).
    pub(crate) fn submit(&self, part: Box<dyn Part>) -> Result<(), WorkerError> {
        self.send(Message::Part(part))
    }

    fn send(&self, message: Message) -> Result<(), WorkerError> {
        self.queued.fetch_add(1, Ordering::AcqRel);
        self.queue.send(message).map_err(|_| {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            WorkerError::Closed
        })
    }

    /// Stops every thread once the jobs queued before it have run, and waits for them, so
    /// that the connections are closed (and SQLite has checkpointed) when this returns.
    pub(crate) async fn stop(&self) {
        if let Some(pool) = &self.inline {
            pool.close();
        }
        let threads = match self.threads.lock() {
            Ok(mut threads) => std::mem::take(&mut *threads),
            Err(_) => return,
        };
        for _ in &threads {
            let _ = self.send(Message::Stop);
        }
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
    }
}

/// A connection lent by [`Worker::write_now`]; back to its thread when dropped.
pub(crate) struct WriteNow<'a> {
    guard: MutexGuard<'a, Option<Connection>>,
    busy: &'a AtomicU32,
}

impl WriteNow<'_> {
    pub(crate) fn connection(&self) -> Option<&Connection> {
        self.guard.as_ref()
    }

    fn connection_mut(&mut self) -> Option<&mut Connection> {
        self.guard.as_mut()
    }
}

impl Drop for WriteNow<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.guard.as_ref()
            && !connection.is_autocommit()
        {
            tracing::warn!("a database write left a transaction open; rolled back");
            let _ = connection.execute_batch("ROLLBACK");
        }
        self.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

fn serve(
    slot: &Mutex<Option<Connection>>,
    receiver: &Mutex<mpsc::Receiver<Message>>,
    busy: &AtomicU32,
    queued: &AtomicU32,
) {
    let take = || {
        let message = receiver.lock().ok()?.recv().ok()?;
        queued.fetch_sub(1, Ordering::AcqRel);
        Some(message)
    };
    let mut pending = None;
    while let Some(message) = pending.take().or_else(take) {
        if matches!(message, Message::Stop) {
            break;
        }
        let Ok(mut connection) = slot.lock() else {
            break;
        };
        let Some(connection) = connection.as_mut() else {
            break;
        };
        busy.fetch_add(1, Ordering::Relaxed);
        match message {
            Message::Run(job) => run_job(connection, job),
            Message::Part(first) => {
                let mut parts = vec![first];
                while parts.len() < MAX_GROUP {
                    let Ok(Ok(next)) = receiver.lock().map(|r| r.try_recv()) else {
                        break;
                    };
                    queued.fetch_sub(1, Ordering::AcqRel);
                    match next {
                        Message::Part(part) => parts.push(part),
                        other => {
                            pending = Some(other);
                            break;
                        }
                    }
                }
                run_group(connection, parts);
            }
            Message::Stop => {}
        }
        // No job may leave a transaction open for the next one to inherit.
        if !connection.is_autocommit() {
            tracing::warn!("a database job left a transaction open; rolled back");
            let _ = connection.execute_batch("ROLLBACK");
        }
        busy.fetch_sub(1, Ordering::Relaxed);
    }
    // Closing the connection here, not when the last handle goes, so that `stop` returns with
    // the database closed (and checkpointed).
    if let Ok(mut connection) = slot.lock() {
        connection.take();
    }
}

fn run_job(connection: &mut Connection, job: Job) {
    // A panicking job rolls its transaction back as it unwinds; the connection and the thread
    // stay in service for the next one.
    if std::panic::catch_unwind(AssertUnwindSafe(|| job(connection))).is_err() {
        tracing::error!("a database job panicked");
    }
}

/// Runs the parts in one transaction. Optimistically without savepoints: a savepoint copies
/// every page its part touches into a statement journal, about a tenth of a create's CPU. When a
/// part fails (or panics) the whole group is rolled back instead, and the parts run again one
/// transaction each, in the same order, which gives every part the outcome it would have had
/// alone. Failures are rare (a conflict, a lost compare-and-swap), so the retry rarely happens.
fn run_group(connection: &mut Connection, mut parts: Vec<Box<dyn Part>>) {
    if parts.len() == 1 {
        return parts
            .into_iter()
            .for_each(|part| run_alone(connection, part));
    }
    if let Err(e) = transaction(connection, "BEGIN IMMEDIATE") {
        return parts.into_iter().for_each(|part| part.finish(Err(&e)));
    }
    let mut failed = None;
    for (i, part) in parts.iter_mut().enumerate() {
        let ran = std::panic::catch_unwind(AssertUnwindSafe(|| part.run(connection)));
        if !matches!(ran, Ok(true)) {
            failed = Some((i, ran.is_err()));
            break;
        }
    }
    if let Some((failed, panicked)) = failed {
        let _ = transaction(connection, "ROLLBACK");
        for (i, part) in parts.into_iter().enumerate() {
            if i == failed && panicked {
                // Dropping it drops its answer: the caller hears that its write panicked.
                tracing::error!("a database write panicked");
                continue;
            }
            run_alone(connection, part);
        }
        return;
    }
    match transaction(connection, "COMMIT") {
        Ok(()) => parts.into_iter().for_each(|part| part.finish(Ok(()))),
        Err(e) => {
            let _ = transaction(connection, "ROLLBACK");
            parts.into_iter().for_each(|part| part.finish(Err(&e)));
        }
    }
}

/// Runs one part in a transaction of its own (also on a caller's thread, see
/// [`Worker::write_now`]).
pub(crate) fn run_alone(connection: &Connection, mut part: Box<dyn Part>) {
    if let Err(e) = transaction(connection, "BEGIN IMMEDIATE") {
        return part.finish(Err(&e));
    }
    match std::panic::catch_unwind(AssertUnwindSafe(|| part.run(connection))) {
        Ok(true) => match transaction(connection, "COMMIT") {
            Ok(()) => part.finish(Ok(())),
            Err(e) => {
                let _ = transaction(connection, "ROLLBACK");
                part.finish(Err(&e));
            }
        },
        Ok(false) => {
            let _ = transaction(connection, "ROLLBACK");
            part.finish(Ok(()));
        }
        Err(_) => {
            // Dropping it drops its answer: the caller hears that its write panicked.
            tracing::error!("a database write panicked");
            let _ = transaction(connection, "ROLLBACK");
        }
    }
}

/// BEGIN, COMMIT or ROLLBACK, from the statement cache: `execute_batch` would parse the SQL
/// again each time, and every write pays a BEGIN and a COMMIT (in callgrind, parsing them was
/// 2 % of the instructions of a request that refreshes its grant).
fn transaction(connection: &Connection, sql: &'static str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([]).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> Connection {
        Connection::open_in_memory().unwrap()
    }

    #[tokio::test]
    async fn runs_jobs_and_survives_a_panic() {
        let worker = Worker::start("test", vec![memory()]).unwrap();
        let one: i64 = worker
            .run(|c| c.query_row("SELECT 1", [], |r| r.get(0)).unwrap())
            .await
            .unwrap();
        assert_eq!(one, 1);
        let panicked = worker.run(|_| -> i64 { panic!("boom") }).await;
        assert!(matches!(panicked, Err(WorkerError::Panicked)));
        let two: i64 = worker
            .run(|c| c.query_row("SELECT 2", [], |r| r.get(0)).unwrap())
            .await
            .unwrap();
        assert_eq!(two, 2);
    }

    #[tokio::test]
    async fn a_panic_inside_a_transaction_rolls_it_back() {
        let worker = Worker::start("test", vec![memory()]).unwrap();
        worker
            .run(|c| c.execute_batch("CREATE TABLE t (x INTEGER)").unwrap())
            .await
            .unwrap();
        let _ = worker
            .run(|c| {
                c.execute_batch("BEGIN; INSERT INTO t VALUES (1)").unwrap();
                panic!("mid-transaction");
            })
            .await;
        let (rows, autocommit): (i64, bool) = worker
            .run(|c| {
                let n = c
                    .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                    .unwrap();
                (n, c.is_autocommit())
            })
            .await
            .unwrap();
        assert_eq!((rows, autocommit), (0, true));
    }

    #[tokio::test]
    async fn writes_close_together_queue_for_the_group_commit() {
        let checkpointing = Arc::new(AtomicBool::new(false));
        let worker = Worker::start("test-writer", vec![Connection::open_in_memory().unwrap()])
            .unwrap()
            .with_writes_now(checkpointing);
        let at = |micros: u64| Duration::from_micros(micros);
        assert!(
            worker.write_now_unless_busy_at(at(1_000)).is_some(),
            "the first write"
        );
        assert!(
            worker.write_now_unless_busy_at(at(1_050)).is_none(),
            "50 µs after the one before: to the writer's thread"
        );
        assert!(
            worker.write_now_unless_busy_at(at(1_120)).is_none(),
            "the gap counts from the last write that asked, queued or not"
        );
        assert!(
            worker
                .write_now_unless_busy_at(at(1_120) + BUSY_WRITE_GAP)
                .is_some(),
            "a gap as long as BUSY_WRITE_GAP: on the calling thread again"
        );
        worker.stop().await;
    }

    #[tokio::test]
    async fn lends_the_writer_only_when_idle_and_not_checkpointing() {
        let checkpointing = Arc::new(AtomicBool::new(false));
        let worker = Worker::start("test", vec![memory()])
            .unwrap()
            .with_writes_now(Arc::clone(&checkpointing));
        assert!(worker.write_now().is_some_and(|w| w.connection().is_some()));
        assert_eq!(worker.usage(), (0, 1), "given back when dropped");

        // The thread holds the connection for a job: nothing to lend, nothing queued behind.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let holder = worker.clone();
        let holding = tokio::spawn(async move { holder.run(move |_| held.recv().unwrap()).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(worker.write_now().is_none(), "the thread is using it");
        release.send(()).unwrap();
        holding.await.unwrap().unwrap();
        // The answer comes just before the thread lets the connection go.
        let mut lent = false;
        for _ in 0..100 {
            if worker.write_now().is_some() {
                lent = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert!(lent, "lent again once the thread is done");

        checkpointing.store(true, Ordering::Release);
        assert!(worker.write_now().is_none(), "never during a checkpoint");
        checkpointing.store(false, Ordering::Release);

        // Readers (no gate) never lend; a stopped worker has no connection left.
        assert!(
            Worker::start("r", vec![memory()])
                .unwrap()
                .write_now()
                .is_none()
        );
        worker.stop().await;
        assert!(worker.write_now().is_none());
    }

    #[tokio::test]
    async fn reads_on_the_idle_writer_and_on_a_reader_while_it_is_busy() {
        let path =
            std::env::temp_dir().join(format!("meetgate-worker-{}.db", uuid::Uuid::new_v4()));
        let open = || {
            let c = Connection::open(&path).unwrap();
            c.execute_batch("PRAGMA journal_mode = WAL").unwrap();
            c
        };
        let writer_connection = open();
        writer_connection
            .execute_batch("CREATE TABLE t (x INTEGER)")
            .unwrap();
        let writer = Worker::start("w", vec![writer_connection])
            .unwrap()
            .with_writes_now(Arc::new(AtomicBool::new(false)));
        let reader = Worker::start("r", vec![open()])
            .unwrap()
            .with_reads_on_idle_writer(writer.clone());
        // Where a read ran, told by the name of its thread.
        let on = |w: &Worker| {
            let w = w.clone();
            async move {
                w.run_now(|_| std::thread::current().name().map(str::to_owned))
                    .await
                    .unwrap()
            }
        };
        let caller = std::thread::current().name().map(str::to_owned);
        assert_eq!(
            on(&reader).await,
            caller,
            "the idle writer, on the calling thread"
        );
        assert_eq!(writer.usage(), (0, 1), "and given back");

        // While the writer's thread holds its connection, the read goes to the reader's thread.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let holder = writer.clone();
        let holding = tokio::spawn(async move { holder.run(move |_| held.recv().unwrap()).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(on(&reader).await.as_deref(), Some("r-0"));
        release.send(()).unwrap();
        holding.await.unwrap().unwrap();

        // What the writer committed, a read on it sees; a panicking read keeps the writer usable.
        writer
            .run(|c| c.execute_batch("INSERT INTO t VALUES (7)").unwrap())
            .await
            .unwrap();
        let seen: i64 = reader
            .run_now(|c| c.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap())
            .await
            .unwrap();
        assert_eq!(seen, 7);
        let panicked = reader.run_now(|_| -> i64 { panic!("boom") }).await;
        assert!(matches!(panicked, Err(WorkerError::Panicked)));
        assert!(writer.write_now().is_some(), "the writer is lent again");
        reader.stop().await;
        writer.stop().await;
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test]
    async fn a_stopped_worker_refuses_jobs() {
        let worker = Worker::start("test", vec![memory(), memory()]).unwrap();
        worker.stop().await;
        assert!(matches!(worker.run(|_| ()).await, Err(WorkerError::Closed)));
    }

    /// Inserts `value` into `t`; a negative value fails after inserting, zero panics.
    struct Insert {
        value: i64,
        runs: Arc<AtomicU32>,
        answer: std::sync::mpsc::Sender<(i64, Result<(), String>)>,
        ok: bool,
    }

    impl Part for Insert {
        fn run(&mut self, c: &Connection) -> bool {
            self.runs.fetch_add(1, Ordering::Relaxed);
            c.execute("INSERT INTO t VALUES (?1)", [self.value])
                .unwrap();
            assert!(self.value != 0, "zero");
            self.ok = self.value > 0;
            self.ok
        }

        fn finish(self: Box<Self>, committed: Result<(), &rusqlite::Error>) {
            let result = match (self.ok, committed) {
                (false, _) => Err("own error".to_owned()),
                (true, Err(e)) => Err(e.to_string()),
                (true, Ok(())) => Ok(()),
            };
            let _ = self.answer.send((self.value, result));
        }
    }

    /// Runs `values` as one group (each an [`Insert`]) on a fresh table; returns the rows kept,
    /// the answers, and how many times parts ran.
    async fn group_of(values: &[i64]) -> (Vec<i64>, Vec<(i64, Result<(), String>)>, u32) {
        let worker = Worker::start("test", vec![memory()]).unwrap();
        worker
            .run(|c| c.execute_batch("CREATE TABLE t (x INTEGER)").unwrap())
            .await
            .unwrap();
        // Hold the writer so that the parts queue up and run as one group.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let holder = worker.clone();
        let holding = tokio::spawn(async move { holder.run(move |_| held.recv().unwrap()).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let runs = Arc::new(AtomicU32::new(0));
        let (answer, answers) = std::sync::mpsc::channel();
        for &value in values {
            let part = Insert {
                value,
                runs: Arc::clone(&runs),
                answer: answer.clone(),
                ok: false,
            };
            worker.submit(Box::new(part)).unwrap();
        }
        drop(answer);
        release.send(()).unwrap();
        holding.await.unwrap().unwrap();
        let rows: Vec<i64> = worker
            .run(|c| {
                let mut s = c.prepare("SELECT x FROM t ORDER BY x").unwrap();
                s.query_map([], |r| r.get(0))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap()
            })
            .await
            .unwrap();
        let mut answered: Vec<_> = answers.iter().collect();
        answered.sort();
        (rows, answered, runs.load(Ordering::Relaxed))
    }

    #[tokio::test]
    async fn a_group_commits_once_without_failures() {
        let (rows, answered, runs) = group_of(&[1, 2, 3]).await;
        assert_eq!(rows, vec![1, 2, 3]);
        assert_eq!(answered, vec![(1, Ok(())), (2, Ok(())), (3, Ok(()))]);
        assert_eq!(runs, 3, "no part ran twice");
    }

    #[tokio::test]
    async fn a_failing_part_is_rolled_back_alone() {
        let (rows, answered, runs) = group_of(&[1, 2, -3, 4]).await;
        assert_eq!(rows, vec![1, 2, 4], "the failed part left nothing");
        assert_eq!(
            answered,
            vec![
                (-3, Err("own error".to_owned())),
                (1, Ok(())),
                (2, Ok(())),
                (4, Ok(()))
            ]
        );
        // Up to the failure in the group (3), then each part alone (4).
        assert_eq!(runs, 7);
    }

    #[tokio::test]
    async fn a_panicking_part_is_dropped_and_the_rest_commit() {
        let (rows, answered, runs) = group_of(&[1, 0, 2]).await;
        assert_eq!(rows, vec![1, 2], "the panicked part left nothing");
        // Its answer was dropped: its caller hears that the write panicked.
        assert_eq!(answered, vec![(1, Ok(())), (2, Ok(()))]);
        // Up to the panic in the group (2), then the others alone (2): it never runs again.
        assert_eq!(runs, 4);
    }
}
