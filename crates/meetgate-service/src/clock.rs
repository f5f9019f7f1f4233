use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

/// Where "now" comes from. Handlers and jobs read it once at their edge and pass it down; domain
/// logic never reads the clock itself. Tests move it forward.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    /// To the microsecond, which is what both databases keep: an answer built from `now` shows
    /// the same times as the row read back later.
    pub fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc()
            + time::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed));
        now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now)
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: std::time::Duration) {
        self.offset_ms
            .fetch_add(by.as_millis() as i64, Ordering::Relaxed);
    }

    /// Puts this clock (and every clone of it) back on real time, for tests that moved it forward
    /// and next talk to something that only knows real time (webhook timestamps, for one).
    pub fn reset(&self) {
        self.offset_ms.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn now_is_whole_microseconds() {
        for _ in 0..100 {
            assert_eq!(Clock::system().now().nanosecond() % 1_000, 0);
        }
    }
}
