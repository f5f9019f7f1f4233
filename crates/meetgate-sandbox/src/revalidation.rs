//! Zoom's revalidation of webhook endpoints: every 72 hours it sends `endpoint.url_validation`
//! again, and after six failures in a row it disables the subscription.
//!
//! The schedule follows the sandbox clock, so a test advances the clock instead of waiting. An
//! endpoint whose turn came is revalidated once, however far the clock jumped past it.

use time::{Duration, OffsetDateTime};

use crate::state::{EndpointStatus, SandboxState};

pub const REVALIDATE_EVERY: Duration = Duration::hours(72);
pub const DISABLE_AFTER_FAILURES: u32 = 6;

impl SandboxState {
    /// Revalidates endpoints as they come due until [`SandboxState::begin_shutdown`]; `spawn`
    /// runs it. Serving [`crate::router`] yourself, spawn it beside the server.
    pub async fn run_revalidation(self) {
        let mut shutdown = self.shutdown.subscribe();
        loop {
            let due = self
                .next_revalidation()
                .unwrap_or(self.now() + REVALIDATE_EVERY);
            tokio::select! {
                () = self.clock.sleep_until(due) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            self.revalidate_due(self.now()).await;
        }
    }

    /// When the earliest validated endpoint is due. An endpoint saved later is due later still,
    /// so sleeping until then misses nothing.
    fn next_revalidation(&self) -> Option<OffsetDateTime> {
        self.inner()
            .endpoint_status
            .values()
            .filter(|c| c.status == EndpointStatus::Validated)
            .map(|c| c.checked_at + REVALIDATE_EVERY)
            .min()
    }

    /// Revalidates every validated endpoint due at `now`, one after the other.
    async fn revalidate_due(&self, now: OffsetDateTime) {
        let due: Vec<_> = {
            let mut inner = self.inner();
            // A status without an app and URL behind it would stay due for ever and spin the
            // loop: it goes (saving an endpoint and removing one keep them together anyway).
            let apps = &inner.apps;
            let orphans: Vec<String> = inner
                .endpoint_status
                .keys()
                .filter(|id| apps.get(*id).is_none_or(|a| a.webhook_url.is_none()))
                .cloned()
                .collect();
            for id in orphans {
                inner.endpoint_status.remove(&id);
            }
            inner
                .endpoint_status
                .iter()
                .filter(|(_, c)| {
                    c.status == EndpointStatus::Validated && c.checked_at + REVALIDATE_EVERY <= now
                })
                .filter_map(|(client_id, c)| {
                    let app = inner.apps.get(client_id)?;
                    Some((app.clone(), app.webhook_url.clone()?, c.checked_at))
                })
                .collect()
        };
        for (app, url, checked_at) in due {
            let result = self.send_url_validation(&app, url.clone()).await;
            let now = self.now();
            let mut inner = self.inner();
            // Saved again or removed while the request was out: that newer state stands.
            let unchanged = inner
                .apps
                .get(&app.client_id)
                .and_then(|a| a.webhook_url.as_ref())
                == Some(&url);
            let Some(check) = inner.endpoint_status.get_mut(&app.client_id) else {
                continue;
            };
            if !unchanged || check.checked_at != checked_at {
                continue;
            }
            check.checked_at = now;
            if result.validated {
                check.failed_revalidations = 0;
            } else {
                check.failed_revalidations += 1;
                if check.failed_revalidations >= DISABLE_AFTER_FAILURES {
                    check.status = EndpointStatus::Disabled;
                }
            }
        }
    }
}
