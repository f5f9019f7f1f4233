//! Webhook deliveries in flight, and their fair share of the slots.
//!
//! A round that waited for all of its sends would go at the pace of its slowest endpoint: one
//! host app whose endpoint accepts connections and never answers would hold every tenant's
//! webhooks back by the send timeout, round after round. Here each send runs on its own, a claim
//! takes only as many deliveries as there are free slots, and no endpoint holds more than its
//! share of them. The shares are per process: each replica keeps its own.

use std::collections::HashMap;

use meetgate_store::models::DeliveryJob;
use meetgate_store::{DeliveryShare, WebhookEndpointId};
use time::OffsetDateTime;
use tokio::task::{Id, JoinError, JoinSet};

use super::Services;
use crate::Result;

/// How long a claimed delivery stays leased to this process; a send is over long before
/// (`WEBHOOK_TIMEOUT`), so only a process that died leaves one to expire.
const LEASE: time::Duration = time::Duration::minutes(1);

/// The sends in flight, by endpoint.
#[derive(Debug)]
pub struct DeliverySlots {
    capacity: usize,
    per_endpoint: u32,
    sends: JoinSet<()>,
    endpoint_of: HashMap<Id, WebhookEndpointId>,
}

impl DeliverySlots {
    pub fn new(capacity: usize, per_endpoint: u32) -> Self {
        Self {
            capacity: capacity.max(1),
            per_endpoint: per_endpoint.max(1),
            sends: JoinSet::new(),
            endpoint_of: HashMap::new(),
        }
    }

    /// Sends not finished yet.
    pub fn in_flight(&self) -> usize {
        self.sends.len()
    }

    /// Slots not taken by a send (a send that finished since the last look still takes one).
    pub fn free(&self) -> usize {
        self.capacity.saturating_sub(self.sends.len())
    }

    /// Frees the slots of finished sends, then claims due deliveries for the free ones and
    /// starts sending them, without waiting for any. Returns how many it started.
    pub async fn fill(&mut self, services: &Services, now: OffsetDateTime) -> Result<usize> {
        let Some(claim) = self.next_claim() else {
            return Ok(0);
        };
        let jobs = claim.run(services.clone(), now).await?;
        Ok(self.start(services, jobs, now))
    }

    /// Frees the slots of finished sends and says what a claim may take now: `None` when every
    /// slot is taken.
    pub fn next_claim(&mut self) -> Option<SlotClaim> {
        while let Some(done) = self.sends.try_join_next_with_id() {
            self.finished(done);
        }
        let free = self.free();
        if free == 0 {
            return None;
        }
        let mut in_flight: HashMap<WebhookEndpointId, u32> = HashMap::new();
        for endpoint in self.endpoint_of.values() {
            *in_flight.entry(*endpoint).or_default() += 1;
        }
        Some(SlotClaim {
            free: u32::try_from(free).unwrap_or(u32::MAX),
            per_endpoint: self.per_endpoint,
            in_flight: in_flight.into_iter().collect(),
        })
    }

    /// Starts sending claimed deliveries; returns how many.
    pub fn start(
        &mut self,
        services: &Services,
        jobs: Vec<DeliveryJob>,
        now: OffsetDateTime,
    ) -> usize {
        let started = jobs.len();
        for job in jobs {
            let endpoint = job.endpoint.id;
            let services = services.clone();
            let send = self
                .sends
                .spawn(async move { services.send_and_record(job, now).await });
            self.endpoint_of.insert(send.id(), endpoint);
        }
        started
    }

    /// Waits for one send to finish and frees its slot; false at once when none is in flight.
    pub async fn next_finished(&mut self) -> bool {
        match self.sends.join_next_with_id().await {
            Some(done) => {
                self.finished(done);
                true
            }
            None => false,
        }
    }

    /// Waits for every send in flight, so that each one's outcome is recorded.
    pub async fn drain(&mut self) {
        while self.next_finished().await {}
    }

    fn finished(&mut self, done: std::result::Result<(Id, ()), JoinError>) {
        let id = match done {
            Ok((id, ())) => id,
            Err(e) => {
                // Its lease runs out and another round sends it again.
                tracing::error!(error = %e, "a webhook send did not finish");
                e.id()
            }
        };
        self.endpoint_of.remove(&id);
    }
}

/// What one claim may take: as many deliveries as there are free slots, and to each endpoint
/// what its sends in flight leave of its share. Owned, so that the claim can run on a task of
/// its own.
#[derive(Debug)]
pub struct SlotClaim {
    free: u32,
    per_endpoint: u32,
    in_flight: Vec<(WebhookEndpointId, u32)>,
}

impl SlotClaim {
    pub async fn run(self, services: Services, now: OffsetDateTime) -> Result<Vec<DeliveryJob>> {
        let share = DeliveryShare {
            per_endpoint: self.per_endpoint,
            in_flight: &self.in_flight,
        };
        Ok(services
            .store
            .claim_deliveries(now, LEASE, self.free, &share)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_and_share_are_at_least_one() {
        let slots = DeliverySlots::new(0, 0);
        assert_eq!((slots.capacity, slots.per_endpoint), (1, 1));
        assert_eq!((slots.in_flight(), slots.free()), (0, 1));
    }
}
