//! Gauges read from the store when `/metrics` is scraped: what the counters cannot say (how
//! many connections are in each state, what waits in the outbox and the inbox, the pool).

use std::time::Duration;

use meetgate_store::models::ConnectionState;
use time::OffsetDateTime;

use super::Services;

const STATES: [ConnectionState; 4] = [
    ConnectionState::Connected,
    ConnectionState::NeedsReauth,
    ConnectionState::Revoked,
    ConnectionState::Superseded,
];

/// A scrape must not hang on a database that does not answer.
const STATS_TIMEOUT: Duration = Duration::from_secs(2);

impl Services {
    /// Sets the store's gauges as of `now`. When the store does not answer in time they keep
    /// their last values, and a warning says so.
    pub async fn publish_gauges(&self, now: OffsetDateTime) {
        let (in_use, idle) = self.store.pool_usage();
        metrics::gauge!("meetgate_db_pool_connections", "state" => "in_use").set(in_use as f64);
        metrics::gauge!("meetgate_db_pool_connections", "state" => "idle").set(idle as f64);
        let stats = match tokio::time::timeout(STATS_TIMEOUT, self.store.stats()).await {
            Ok(Ok(stats)) => stats,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "reading the store's counts for /metrics failed");
                return;
            }
            Err(_) => {
                tracing::warn!("the store's counts for /metrics took longer than 2 s");
                return;
            }
        };
        for state in STATES {
            let count = stats
                .connections_by_state
                .iter()
                .find(|(s, _)| *s == state)
                .map_or(0, |(_, n)| *n);
            metrics::gauge!("meetgate_connections", "state" => state.as_str()).set(count as f64);
        }
        metrics::gauge!("meetgate_webhook_deliveries_pending").set(stats.outbox_pending as f64);
        metrics::gauge!("meetgate_zoom_events_pending").set(stats.inbox_pending as f64);
        // An event is stored with a short lease while it is processed inline: a lag of a few
        // seconds is normal, a growing one means events keep failing.
        let lag = stats
            .oldest_inbox_pending
            .map_or(0.0, |t| (now - t).as_seconds_f64().max(0.0));
        metrics::gauge!("meetgate_zoom_events_lag_seconds").set(lag);
    }
}
