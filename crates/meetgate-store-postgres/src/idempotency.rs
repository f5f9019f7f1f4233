use meetgate_store::models::{IdempotencyClaim, IdempotencyRecord, NewIdempotencyClaim};
use meetgate_store::{
    CompleteIdempotency, HeldKey, IdempotencyStore, OffsetDateTime, StoreError, StoreResult,
    TenantId,
};
use serde_json::Value;
use sqlx::postgres::PgRow;

use crate::PgStore;
use crate::convert::{RowExt, id, json, ts};
use crate::effects;
use crate::errors::OrStore;

macro_rules! record_cols {
    () => {
        "id, tenant_id, key, request_hash, state, response_status, response_body, resource_id, \
         recovery, created_at, locked_at, expires_at"
    };
}

fn record(row: &PgRow) -> StoreResult<IdempotencyRecord> {
    let status = row
        .opt_int32("response_status")?
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

impl PgStore {
    /// `None` when the record disappeared between the upsert and the read.
    async fn try_claim(&self, c: &NewIdempotencyClaim) -> StoreResult<Option<IdempotencyClaim>> {
        let claimed = sqlx::query(concat!(
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
        .bind(c.recovery.as_ref().map(json))
        .fetch_optional(&self.pool)
        .await
        .or_store("idempotency record")?;
        if let Some(row) = claimed {
            let rec = record(&row)?;
            return Ok(Some(if rec.id == c.id {
                IdempotencyClaim::Claimed(Box::new(rec))
            } else {
                IdempotencyClaim::Recovered(Box::new(rec))
            }));
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            record_cols!(),
            " FROM idempotency_records WHERE tenant_id = $1 AND key = $2"
        ))
        .bind(id(c.tenant_id.0))
        .bind(&c.key)
        .fetch_optional(&self.pool)
        .await
        .or_store("idempotency record")?;
        Ok(row
            .as_ref()
            .map(record)
            .transpose()?
            .map(|rec| classify(rec, &c.request_hash)))
    }
}

#[async_trait::async_trait]
impl IdempotencyStore for PgStore {
    /// One statement inserts the record, or replaces an expired one, or takes over a stale
    /// in-progress one (refreshing its lock time; concurrent takers queue on the row lock and
    /// re-check, so one wins); otherwise a read reports what holds the key. A returned row with
    /// this claim's id is a fresh claim; a returned row with another id is a takeover.
    #[tracing::instrument(skip_all, fields(tenant = %c.tenant_id))]
    async fn claim_idempotency_key(
        &self,
        c: &NewIdempotencyClaim,
    ) -> StoreResult<IdempotencyClaim> {
        // The record can vanish between the two statements (released or purged); then again.
        for _ in 0..3 {
            if let Some(claim) = self.try_claim(c).await? {
                return Ok(claim);
            }
        }
        Err(StoreError::Unavailable(
            "idempotency key kept changing during the claim".into(),
        ))
    }

    #[tracing::instrument(skip_all, fields(tenant = %held.tenant_id))]
    async fn note_idempotency_progress(
        &self,
        held: &HeldKey,
        recovery: &Value,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE idempotency_records SET recovery = $3, locked_at = $4
             WHERE tenant_id = $1 AND key = $2 AND state = 'in_progress' AND holder = $5",
        )
        .bind(id(held.tenant_id.0))
        .bind(&held.key)
        .bind(json(recovery))
        .bind(ts(now))
        .bind(id(held.holder))
        .execute(&self.pool)
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
        let mut conn = self.pool.acquire().await.or_store("idempotency record")?;
        effects::complete_idempotency(&mut conn, completion).await
    }

    #[tracing::instrument(skip_all, fields(tenant = %held.tenant_id))]
    async fn release_idempotency_key(&self, held: &HeldKey) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM idempotency_records
             WHERE tenant_id = $1 AND key = $2 AND state = 'in_progress' AND holder = $3",
        )
        .bind(id(held.tenant_id.0))
        .bind(&held.key)
        .bind(id(held.holder))
        .execute(&self.pool)
        .await
        .or_store("idempotency record")?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn purge_idempotency(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM idempotency_records WHERE expires_at <= $1")
            .bind(ts(now))
            .execute(&self.pool)
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
