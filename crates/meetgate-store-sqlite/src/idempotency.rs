use meetgate_store::models::{
    IdempotencyClaim, IdempotencyRecord, IdempotencyState, NewIdempotencyClaim,
};
use meetgate_store::{
    CompleteIdempotency, HeldKey, IdempotencyStore, OffsetDateTime, StoreError, StoreResult,
    TenantId,
};
use serde_json::Value;

use crate::SqliteStore;
use crate::convert::{RowExt, as_stored, id, json, ts};
use crate::effects;
use crate::errors::OrStore;
use crate::sql::{Row, query};

macro_rules! record_cols {
    () => {
        "id, tenant_id, key, request_hash, state, response_status, response_body, resource_id, \
         recovery, created_at, locked_at, expires_at"
    };
}

fn record(row: &Row) -> StoreResult<IdempotencyRecord> {
    let status = row
        .opt_int("response_status")?
        .map(|s| u16::try_from(s).map_err(|e| crate::convert::corrupt("response_status", e)))
        .transpose()?;
    Ok(IdempotencyRecord {
        id: row.uuid("id")?,
        tenant_id: TenantId(row.uuid("tenant_id")?),
        key: row.text("key")?,
        request_hash: row.bytes("request_hash")?,
        state: row.parsed("state")?,
        response_status: status,
        response_body: row.opt_sealed("response_body")?,
        resource_id: row.opt_text("resource_id")?,
        recovery: row.opt_json("recovery")?,
        created_at: row.time("created_at")?,
        locked_at: row.time("locked_at")?,
        expires_at: row.time("expires_at")?,
    })
}

#[async_trait::async_trait]
impl IdempotencyStore for SqliteStore {
    /// One write (committed with whatever other writes are queued with it). First a plain
    /// insert: a new key, the common case, is claimed by it. Only if the key exists, an upsert
    /// replaces an expired record or takes over a stale in-progress one (refreshing its lock
    /// time, so one taker wins); its returned row with this claim's id is a fresh claim, one with
    /// another id a takeover. Otherwise the key is held: read what holds it. (The plain insert
    /// first, because `RETURNING` makes SQLite build a temporary table for every claim.)
    #[tracing::instrument(skip_all, fields(tenant = %c.tenant_id))]
    async fn claim_idempotency_key(
        &self,
        c: &NewIdempotencyClaim,
    ) -> StoreResult<IdempotencyClaim> {
        // The holder read after a refused claim may vanish (expired and cleaned up) before it is
        // read; the claim is then simply tried again.
        for _ in 0..3 {
            let claim = query(concat!(
                "INSERT INTO idempotency_records (id, tenant_id, key, request_hash, state, created_at,
                    locked_at, expires_at, recovery, holder)
                 VALUES ($1, $2, $3, $4, 'in_progress', $5, $5, $6, $8, $1)
                 ON CONFLICT (tenant_id, key) DO UPDATE SET
                    holder = excluded.holder,
                    id = CASE WHEN idempotency_records.expires_at <= $5
                         THEN excluded.id ELSE idempotency_records.id END,
                    request_hash = excluded.request_hash,
                    state = 'in_progress',
                    response_status = NULL, response_body = NULL, resource_id = NULL,
                    recovery = CASE WHEN idempotency_records.expires_at <= $5
                               THEN excluded.recovery ELSE idempotency_records.recovery END,
                    created_at = CASE WHEN idempotency_records.expires_at <= $5
                                 THEN excluded.created_at ELSE idempotency_records.created_at END,
                    locked_at = excluded.locked_at,
                    expires_at = CASE WHEN idempotency_records.expires_at <= $5
                                 THEN excluded.expires_at ELSE idempotency_records.expires_at END
                 WHERE idempotency_records.expires_at <= $5
                    OR (idempotency_records.state = 'in_progress'
                        AND idempotency_records.request_hash = excluded.request_hash
                        AND idempotency_records.locked_at <= $7)
                 RETURNING ",
                record_cols!()
            ))
            .bind(id(c.id))
            .bind(id(c.tenant_id.0))
            .bind(&c.key)
            .bind(&c.request_hash)
            .bind(ts(c.now))
            .bind(ts(c.expires_at))
            .bind(ts(c.now.saturating_sub(c.stale_after)))
            .bind(c.recovery.as_ref().map(json));
            let fresh = claim.with_sql(
                "INSERT INTO idempotency_records (id, tenant_id, key, request_hash, state,
                    created_at, locked_at, expires_at, recovery, holder)
                 VALUES ($1, $2, $3, $4, 'in_progress', $5, $5, $6, $8, $1)
                 ON CONFLICT (tenant_id, key) DO NOTHING",
            );
            let claimed = self
                .write(move |tx| {
                    if fresh
                        .run(tx)
                        .or_store("idempotency record")?
                        .rows_affected()
                        == 1
                    {
                        return Ok(Ok(()));
                    }
                    claim.optional(tx).or_store("idempotency record").map(Err)
                })
                .await?;
            let claimed = match claimed {
                Ok(()) => {
                    return Ok(IdempotencyClaim::Claimed(Box::new(IdempotencyRecord {
                        id: c.id,
                        tenant_id: c.tenant_id,
                        key: c.key.clone(),
                        request_hash: c.request_hash.clone(),
                        state: IdempotencyState::InProgress,
                        response_status: None,
                        response_body: None,
                        resource_id: None,
                        recovery: c.recovery.clone(),
                        created_at: as_stored(c.now),
                        locked_at: as_stored(c.now),
                        expires_at: as_stored(c.expires_at),
                    })));
                }
                Err(upserted) => upserted,
            };
            if let Some(row) = claimed {
                let rec = record(&row)?;
                return Ok(if rec.id == c.id {
                    IdempotencyClaim::Claimed(Box::new(rec))
                } else {
                    IdempotencyClaim::Recovered(Box::new(rec))
                });
            }
            let holder = query(concat!(
                "SELECT ",
                record_cols!(),
                " FROM idempotency_records WHERE tenant_id = $1 AND key = $2"
            ))
            .bind(id(c.tenant_id.0))
            .bind(&c.key)
            .fetch_optional_now(&self.reader)
            .await
            .or_store("idempotency record")?;
            if let Some(row) = holder {
                return Ok(classify(record(&row)?, &c.request_hash));
            }
        }
        Err(StoreError::Database(
            "idempotency record vanished mid-claim three times".into(),
        ))
    }

    #[tracing::instrument(skip_all, fields(tenant = %held.tenant_id))]
    async fn note_idempotency_progress(
        &self,
        held: &HeldKey,
        recovery: &Value,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let done = query(
            "UPDATE idempotency_records SET recovery = $3, locked_at = $4
             WHERE tenant_id = $1 AND key = $2 AND state = 'in_progress' AND holder = $5",
        )
        .bind(id(held.tenant_id.0))
        .bind(&held.key)
        .bind(json(recovery))
        .bind(ts(now))
        .bind(id(held.holder))
        .execute(&self.writer)
        .await
        .or_store("idempotency record")?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "idempotency record",
            });
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(tenant = %completion.held.tenant_id))]
    async fn complete_idempotency(&self, completion: &CompleteIdempotency) -> StoreResult<()> {
        let completion = completion.clone();
        self.writer
            .run(move |c| effects::complete_idempotency(c, &completion))
            .await
            .or_store("idempotency record")?
    }

    #[tracing::instrument(skip_all, fields(tenant = %held.tenant_id))]
    async fn release_idempotency_key(&self, held: &HeldKey) -> StoreResult<()> {
        query(
            "DELETE FROM idempotency_records
             WHERE tenant_id = $1 AND key = $2 AND state = 'in_progress' AND holder = $3",
        )
        .bind(id(held.tenant_id.0))
        .bind(&held.key)
        .bind(id(held.holder))
        .execute(&self.writer)
        .await
        .or_store("idempotency record")?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn purge_idempotency(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let done = query("DELETE FROM idempotency_records WHERE expires_at <= $1")
            .bind(ts(now))
            .execute(&self.writer)
            .await
            .or_store("idempotency record")?;
        Ok(done.rows_affected())
    }
}

/// What an existing record that this claim could not take means for it.
fn classify(rec: IdempotencyRecord, request_hash: &[u8]) -> IdempotencyClaim {
    if rec.request_hash != request_hash {
        IdempotencyClaim::Mismatch
    } else if rec.state == meetgate_store::models::IdempotencyState::Completed {
        IdempotencyClaim::Completed(Box::new(rec))
    } else {
        IdempotencyClaim::InProgress
    }
}
