//! The sandbox's own clock: real time plus an offset that tests can move forward.
//!
//! Every expiry in the sandbox (codes, tokens, ZAKs, page tokens, daily limits, webhook retry
//! schedules) reads this clock once at the edge and passes `now` down.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
    changed: Notify,
}

impl Clock {
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.offset()
    }

    pub fn offset(&self) -> time::Duration {
        time::Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }

    /// Moves the clock forward and wakes everything waiting on a deadline (webhook retries).
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX / 4);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Waits until the sandbox clock reaches `due`, following real time and any advance.
    pub async fn sleep_until(&self, due: OffsetDateTime) {
        loop {
            // Register interest before reading the time, so an advance in between is not lost.
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = self.now();
            if now >= due {
                return;
            }
            let remaining = (due - now).unsigned_abs().min(Duration::from_secs(60));
            tokio::select! {
                () = tokio::time::sleep(remaining) => {}
                () = &mut notified => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn advance_moves_now_and_wakes_sleepers() {
        let clock = std::sync::Arc::new(Clock::default());
        let before = clock.now();
        let due = before + time::Duration::minutes(30);
        let c2 = clock.clone();
        let waiter = tokio::spawn(async move { c2.sleep_until(due).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        clock.advance(Duration::from_secs(31 * 60));
        tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .expect("woken")
            .expect("joined");
        assert!(clock.now() - before >= time::Duration::minutes(31));
    }
}
