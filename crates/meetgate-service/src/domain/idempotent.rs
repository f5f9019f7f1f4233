//! `Idempotency-Key` on the operations that change a meeting after it exists (PATCH, DELETE).
//! Creates have their own, stricter handling in `meetings.rs` (a create is not idempotent at
//! Zoom, so a lost answer is reconciled there). An update or a delete is idempotent at Zoom:
//! a key whose holder died mid-way is simply run again.

use meetgate_store::models::{IdempotencyClaim, NewIdempotencyClaim};
use meetgate_store::{CompleteIdempotency, HeldKey, SealedColumn};
use serde::Serialize;
use serde_json::Value;

use super::{Ctx, Services};
use crate::secrets::sha256;
use crate::{Error, Result};

/// What an operation answered: freshly, or replayed from an earlier request with the same key.
#[derive(Debug)]
pub enum Keyed<T> {
    Fresh(T),
    Replayed { status: u16, body: Value },
}

/// A key claimed for this request, to be completed in the same write as the operation.
#[derive(Debug, Clone)]
pub(crate) struct ClaimedKey {
    held: HeldKey,
    record_id: uuid::Uuid,
}

enum KeyState {
    Run(Option<ClaimedKey>),
    Replay { status: u16, body: Value },
}

/// 1 to 255 characters, as for creates.
pub(crate) fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 255 {
        return Err(Error::validation(
            "Idempotency-Key",
            "must be 1 to 255 characters",
        ));
    }
    Ok(())
}

impl Services {
    /// How long a claimed key's attempt is left alone before a retry may take it over. Longer
    /// than the longest path a holder may still be on: the Zoom call, a refresh after Zoom's
    /// 124 and the call again, then reconciling a lost answer (a list and a read). Taken over
    /// sooner, a live attempt and its retry would both act.
    pub(crate) fn takeover_after_secs(&self) -> u64 {
        self.config.zoom.request_timeout_secs.saturating_mul(5) + 5
    }

    /// Until when the holder of a key claimed at `claimed_at` may start a Zoom call: one that
    /// starts later could still be running when a retry takes the key over. A holder past it
    /// stops looking and answers "outcome unknown"; the retry looks again.
    pub(crate) fn last_call_before(
        &self,
        claimed_at: time::OffsetDateTime,
    ) -> time::OffsetDateTime {
        let zoom_call = self.config.zoom.request_timeout_secs;
        let window = self.takeover_after_secs().saturating_sub(zoom_call);
        claimed_at + time::Duration::seconds(i64::try_from(window).unwrap_or(i64::MAX))
    }

    /// Zoom's answer was lost and not found: retry with the key once the attempt can be taken
    /// over.
    pub(crate) fn outcome_unknown(&self) -> Error {
        Error::ZoomOutcomeUnknown {
            retry_after_secs: self.takeover_after_secs(),
        }
    }

    /// A claim of `key` for `request`: records are kept 24 hours, and one left in progress longer
    /// than two Zoom timeouts belongs to an attempt that died and may be taken over.
    pub(crate) fn new_claim(
        &self,
        ctx: &Ctx,
        key: &str,
        request: &impl Serialize,
        recovery: Option<Value>,
    ) -> Result<NewIdempotencyClaim> {
        // The takeover window runs from the claim, not from the request's start: a request may
        // have waited for a refresh before claiming, and the holder's time starts now.
        let now = self.clock.now().max(ctx.now);
        Ok(NewIdempotencyClaim {
            id: uuid::Uuid::now_v7(),
            tenant_id: ctx.tenant(),
            key: key.to_owned(),
            request_hash: sha256(&serde_json::to_vec(request).map_err(Error::internal)?),
            now,
            expires_at: now + time::Duration::hours(24),
            stale_after: time::Duration::seconds(
                i64::try_from(self.takeover_after_secs()).unwrap_or(i64::MAX),
            ),
            recovery,
        })
    }

    /// Claims `key` for `request` (which names the operation and its target, so the same key on
    /// another operation is a mismatch).
    async fn claim_key(
        &self,
        ctx: &Ctx,
        key: Option<&str>,
        request: &impl Serialize,
    ) -> Result<KeyState> {
        let Some(key) = key else {
            return Ok(KeyState::Run(None));
        };
        check_key(key)?;
        let claim = self.new_claim(ctx, key, request, None)?;
        match self.store.claim_idempotency_key(&claim).await? {
            IdempotencyClaim::Claimed(record) | IdempotencyClaim::Recovered(record) => {
                Ok(KeyState::Run(Some(ClaimedKey {
                    held: HeldKey::of(&claim),
                    record_id: record.id,
                })))
            }
            IdempotencyClaim::InProgress => Err(Error::IdempotencyInProgress),
            IdempotencyClaim::Mismatch => Err(Error::IdempotencyMismatch),
            IdempotencyClaim::Completed(record) => {
                metrics::counter!("meetgate_idempotent_replays_total").increment(1);
                let stored = self.replay(ctx, &record)?;
                Ok(KeyState::Replay {
                    status: stored.status,
                    body: serde_json::from_str(stored.body.get()).map_err(Error::internal)?,
                })
            }
        }
    }

    /// Runs `work` under `key`: a completed key answers its stored answer instead, and a failure
    /// releases the key (unless Zoom may have acted). `work` gets the claim to complete in its
    /// own write.
    pub(crate) async fn keyed<T, F, Fut>(
        &self,
        ctx: &Ctx,
        key: Option<&str>,
        request: &impl Serialize,
        work: F,
    ) -> Result<Keyed<T>>
    where
        F: FnOnce(Option<ClaimedKey>) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let claimed = match self.claim_key(ctx, key, request).await? {
            KeyState::Replay { status, body } => return Ok(Keyed::Replayed { status, body }),
            KeyState::Run(claimed) => claimed,
        };
        let result = work(claimed.clone()).await;
        self.release_key_after(claimed.as_ref(), &result).await;
        result.map(Keyed::Fresh)
    }

    /// The completion to write together with the operation's own change.
    pub(crate) fn complete_key(
        &self,
        ctx: &Ctx,
        claimed: Option<&ClaimedKey>,
        status: u16,
        body: &Value,
        resource_id: String,
    ) -> Result<Option<CompleteIdempotency>> {
        let Some(claimed) = claimed else {
            return Ok(None);
        };
        Ok(Some(CompleteIdempotency {
            held: claimed.held.clone(),
            response_status: status,
            response_body: self.vault.seal(
                SealedColumn::IdempotencyResponse,
                Some(ctx.tenant()),
                &claimed.record_id.to_string(),
                &serde_json::to_vec(body).map_err(Error::internal)?,
            )?,
            resource_id: Some(resource_id),
        }))
    }

    /// Lets the client retry with the same key after a failure, unless Zoom may have acted.
    async fn release_key_after<T>(&self, claimed: Option<&ClaimedKey>, result: &Result<T>) {
        if let (Err(e), Some(claimed)) = (result, claimed)
            && !matches!(e, Error::ZoomOutcomeUnknown { .. })
        {
            let _ = self.store.release_idempotency_key(&claimed.held).await;
        }
    }
}
