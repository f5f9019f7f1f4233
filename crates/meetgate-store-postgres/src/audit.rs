use meetgate_store::models::{AuditEvent, AuditQuery};
use meetgate_store::{AuditEventId, AuditStore, Effects, OffsetDateTime, StoreResult, TenantId};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder};

use crate::PgStore;
use crate::convert::{RowExt, id, ts};
use crate::effects;
use crate::errors::OrStore;

fn audit_event(row: &PgRow) -> StoreResult<AuditEvent> {
    Ok(AuditEvent {
        id: AuditEventId(row.uuid("id")?),
        tenant_id: row.opt_uuid("tenant_id")?.map(TenantId),
        at: row.time("at")?,
        actor_kind: row.text("actor_kind")?,
        actor_id: row.opt_text("actor_id")?,
        action: row.text("action")?,
        object_kind: row.text("object_kind")?,
        object_id: row.opt_text("object_id")?,
        outcome: row.text("outcome")?,
        request_id: row.opt_text("request_id")?,
        details: row.json("details")?,
    })
}

#[async_trait::async_trait]
impl AuditStore for PgStore {
    #[tracing::instrument(skip_all)]
    async fn append_audit(&self, effects: Effects) -> StoreResult<()> {
        if effects::is_empty(&effects) {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        effects::write(&mut tx, &effects).await?;
        tx.commit().await.or_store("transaction")
    }

    /// `since` is inclusive and `until` exclusive; `action_prefix` matches the start of the
    /// action literally (no wildcards).
    #[tracing::instrument(skip_all)]
    async fn list_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let mut qb = QueryBuilder::<Postgres>::new(
            "SELECT id, tenant_id, at, actor_kind, actor_id, action, object_kind, object_id, \
             outcome, request_id, details FROM audit_events WHERE 1 = 1",
        );
        if let Some(tenant) = q.tenant_id {
            qb.push(" AND tenant_id = ").push_bind(id(tenant.0));
        }
        if let Some(prefix) = &q.action_prefix {
            qb.push(" AND starts_with(action, ")
                .push_bind(prefix.clone())
                .push(")");
        }
        if let Some(object_id) = &q.object_id {
            qb.push(" AND object_id = ").push_bind(object_id.clone());
        }
        if let Some(actor_id) = &q.actor_id {
            qb.push(" AND actor_id = ").push_bind(actor_id.clone());
        }
        if let Some(since) = q.since {
            qb.push(" AND at >= ").push_bind(ts(since));
        }
        if let Some(until) = q.until {
            qb.push(" AND at < ").push_bind(ts(until));
        }
        if let Some(after) = q.after {
            qb.push(" AND id > ").push_bind(id(after.0));
        }
        if let Some(before) = q.before {
            qb.push(" AND id < ").push_bind(id(before.0));
        }
        qb.push(if q.newest_first {
            " ORDER BY id DESC LIMIT "
        } else {
            " ORDER BY id LIMIT "
        })
        .push_bind(i64::from(q.limit));
        qb.build()
            .fetch_all(&self.pool)
            .await
            .or_store("audit event")?
            .iter()
            .map(audit_event)
            .collect()
    }

    #[tracing::instrument(skip_all)]
    async fn purge_audit(&self, before: OffsetDateTime, limit: u32) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM audit_events WHERE id IN
                (SELECT id FROM audit_events WHERE at < $1 ORDER BY at LIMIT $2
                 FOR UPDATE SKIP LOCKED)",
        )
        .bind(ts(before))
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await
        .or_store("audit event")?;
        Ok(done.rows_affected())
    }
}
