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

    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
            + time::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
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
