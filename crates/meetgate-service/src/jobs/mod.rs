//! Background work as single steps (tests drive them directly) with a loop around them. Several
//! replicas may run the loop at once: each step claims its work in the database.

use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::watch;

use crate::domain::Services;
use crate::domain::deliveries::DeliverySlots;

/// Audit entries or outbound events deleted per statement: a backlog goes in short
/// transactions, and writes queued for SQLite's writer go between them.
const PURGE_BATCH: u32 = 500;

/// Deletes what has outlived its use: idempotency records, sessions, connect links and their
/// authorization attempts, processed Zoom events, webhook secrets rotated out and expired, and
/// audit entries and outbound events past retention. Each kind is purged on its own: one that fails (a lock, a `statement_timeout`) is
/// logged and leaves the others to run; the first failure is the answer.
pub async fn cleanup(services: &Services, now: OffsetDateTime) -> Result<u64, crate::Error> {
    let store = &services.store;
    let web = &services.config.web;
    let jobs = &services.config.jobs;
    let session_idle = now - time::Duration::minutes(web.session_idle_minutes as i64);
    let audit_before = now - retention(jobs.audit_retention_days);
    let events_before = now - retention(jobs.event_retention_days);
    let purges: [(&str, meetgate_store::StoreResult<u64>); 8] = [
        ("idempotency records", store.purge_idempotency(now).await),
        ("sessions", store.purge_sessions(now, session_idle).await),
        (
            "OAuth attempts",
            store
                .purge_oauth_attempts(now - time::Duration::days(1))
                .await,
        ),
        (
            "connect links",
            store
                .purge_connect_sessions(now - time::Duration::days(1))
                .await,
        ),
        (
            "Zoom events",
            store.purge_inbox(now - time::Duration::days(7)).await,
        ),
        (
            "expired webhook secrets",
            store.clear_expired_webhook_secrets(now).await,
        ),
        (
            "audit entries",
            in_batches(|limit| store.purge_audit(audit_before, limit)).await,
        ),
        (
            "outbound events",
            in_batches(|limit| store.purge_events(events_before, limit)).await,
        ),
    ];
    let mut removed = 0;
    let mut first_failure = None;
    for (what, purged) in purges {
        match purged {
            Ok(n) => removed += n,
            Err(e) => {
                tracing::warn!(error = %e, "purging {what} failed");
                first_failure.get_or_insert(e);
            }
        }
    }
    match first_failure {
        Some(e) => Err(e.into()),
        None => Ok(removed),
    }
}

/// Repeats a batched purge until a batch comes back short.
async fn in_batches<F, Fut>(purge: F) -> meetgate_store::StoreResult<u64>
where
    F: Fn(u32) -> Fut,
    Fut: std::future::Future<Output = meetgate_store::StoreResult<u64>>,
{
    let mut removed = 0;
    loop {
        let purged = purge(PURGE_BATCH).await?;
        removed += purged;
        if purged < u64::from(PURGE_BATCH) {
            return Ok(removed);
        }
    }
}

/// `days` is at most `MAX_RETENTION_DAYS` (checked with the configuration).
fn retention(days: u64) -> time::Duration {
    time::Duration::days(days.min(crate::config::MAX_RETENTION_DAYS) as i64)
}

/// Runs `work` as a task of its own: a panic in it (a bug) is logged and answers `None`,
/// instead of ending every background job of the process without a word.
async fn supervised<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> Option<T> {
    match tokio::spawn(work).await {
        Ok(done) => Some(done),
        Err(e) => {
            tracing::error!(error = %e, "a background job panicked; the next round runs as usual");
            None
        }
    }
}

/// Runs every kind of background work until `shutdown` turns true, each in a loop of its own:
/// back to back while it has work, pausing `jobs.idle_interval_ms` when it has none; clean-up
/// once an hour. Apart, a delivery round that waits on host apps that do not answer cannot hold
/// back Zoom's events or the token refreshes.
pub async fn run(services: Services, shutdown: watch::Receiver<bool>) {
    tokio::join!(
        repeat(&services, &shutdown, "inbox", |s| async move {
            s.inbox_step(s.clock.now(), 100).await
        }),
        repeat(&services, &shutdown, "refresh", |s| async move {
            s.refresh_due_step(s.clock.now(), 50).await
        }),
        deliveries(&services, &shutdown),
        hourly_cleanup(&services, &shutdown),
    );
    tracing::info!("background jobs stopped");
}

/// Runs `step` (which answers how much it did) until shutdown, pausing when it found nothing.
async fn repeat<F, Fut>(
    services: &Services,
    shutdown: &watch::Receiver<bool>,
    what: &'static str,
    step: F,
) where
    F: Fn(Services) -> Fut,
    Fut: std::future::Future<Output = Result<usize, crate::Error>> + Send + 'static,
{
    let idle = Duration::from_millis(services.config.jobs.idle_interval_ms.max(10));
    let mut shutdown = shutdown.clone();
    while !*shutdown.borrow() {
        let busy = match supervised(step(services.clone())).await {
            Some(Ok(done)) => done > 0,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "{what} step failed");
                false
            }
            None => false,
        };
        if !busy && !pause(idle, &mut shutdown).await {
            break;
        }
    }
}

/// Keeps the webhook delivery slots full while there is work: a send that hangs holds its own
/// slot, not the others' (see [`DeliverySlots`]). At shutdown, waits for the sends in flight, so
/// that a delivery already sent is recorded and not sent again after the restart.
async fn deliveries(services: &Services, shutdown: &watch::Receiver<bool>) {
    let idle = Duration::from_millis(services.config.jobs.idle_interval_ms.max(10));
    // Slots freed one by one are claimed for together, since each claim probes every endpoint
    // with pending deliveries: at most once per quarter of the slots freed, or per idle interval.
    let jobs = &services.config.jobs;
    let capacity = usize::try_from(jobs.webhook_max_in_flight).unwrap_or(usize::MAX);
    let batch = (capacity / 4).max(1);
    let mut shutdown = shutdown.clone();
    let mut slots = DeliverySlots::new(capacity, jobs.webhook_max_in_flight_per_endpoint);
    let mut claim = true;
    while !*shutdown.borrow() {
        if claim {
            let now = services.clock.now();
            let started = match slots.next_claim() {
                None => 0,
                Some(next) => match supervised(next.run(services.clone(), now)).await {
                    Some(Ok(jobs)) => slots.start(services, jobs, now),
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "delivery step failed");
                        0
                    }
                    None => 0,
                },
            };
            if started > 0 {
                continue;
            }
        }
        // Nothing to start: wait for slots to free up, for new work to come due, or for the end.
        let in_flight = slots.in_flight() > 0;
        claim = tokio::select! {
            _ = slots.next_finished(), if in_flight => slots.free() >= batch || slots.in_flight() == 0,
            go_on = pause(idle, &mut shutdown) => {
                if !go_on {
                    break;
                }
                true
            }
        };
    }
    slots.drain().await;
}

async fn hourly_cleanup(services: &Services, shutdown: &watch::Receiver<bool>) {
    let mut shutdown = shutdown.clone();
    while !*shutdown.borrow() {
        let now = services.clock.now();
        let this = services.clone();
        let mut purging = tokio::spawn(async move { cleanup(&this, now).await });
        // A first clean-up after an upgrade may have a long backlog: shutdown stops it between
        // its statements (each is a transaction of its own) rather than wait for all of them.
        tokio::select! {
            done = &mut purging => match done {
                Ok(Err(e)) => tracing::warn!(error = %e, "clean-up failed"),
                Err(e) => tracing::error!(error = %e, "clean-up panicked; the next one runs as usual"),
                Ok(Ok(_)) => {}
            },
            _ = shutdown.wait_for(|stop| *stop) => {
                purging.abort();
                break;
            }
        }
        if !pause(Duration::from_secs(3600), &mut shutdown).await {
            break;
        }
    }
}

/// Sleeps `for_` or until shutdown; false when the loop should end (shutdown, or its sender is
/// gone).
async fn pause(for_: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(for_) => true,
        changed = shutdown.changed() => changed.is_ok() && !*shutdown.borrow(),
    }
}

#[cfg(test)]
mod tests {
    use super::supervised;

    #[tokio::test]
    async fn a_panicking_round_is_reported_and_the_next_one_runs() {
        assert_eq!(supervised(async { 7 }).await, Some(7));
        let panicked = supervised(async {
            if true {
                panic!("a bug in a step");
            }
            7
        })
        .await;
        assert_eq!(panicked, None);
        assert_eq!(supervised(async { 8 }).await, Some(8));
    }
}
