//! Writing an [`Effects`] value inside the caller's transaction.

use std::collections::BTreeSet;

use meetgate_store::{CompleteIdempotency, Effects, NewAuditEvent, NewOutboxEvent, StoreResult};
use rusqlite::Connection;
use serde_json::Value;

use crate::convert::{RowExt, id, json, opt_id, ts};
use crate::errors::OrStore;
use crate::sql::{QueryBuilder, query};

/// Rows per multi-row INSERT, well below SQLite's limit of 32766 bound parameters.
const BATCH: usize = 500;

pub(crate) fn is_empty(effects: &Effects) -> bool {
    effects.audit.is_empty() && effects.events.is_empty() && effects.idempotency.is_none()
}

pub(crate) fn write(conn: &Connection, effects: &Effects) -> StoreResult<()> {
    insert_audit(conn, &effects.audit)?;
    insert_events(conn, &effects.events)?;
    if let Some(completion) = &effects.idempotency {
        complete_idempotency(conn, completion)?;
    }
    Ok(())
}

pub(crate) fn insert_audit(conn: &Connection, entries: &[NewAuditEvent]) -> StoreResult<()> {
    for chunk in entries.chunks(BATCH) {
        let mut qb = QueryBuilder::new(
            "INSERT INTO audit_events (id, tenant_id, at, actor_kind, actor_id, action, \
             object_kind, object_id, outcome, request_id, details) ",
        );
        qb.push_values(chunk, |mut b, a| {
            b.push_bind(id(a.id.0))
                .push_bind(opt_id(a.tenant_id.map(|t| t.0)))
                .push_bind(ts(a.at))
                .push_bind(a.actor_kind.clone())
                .push_bind(a.actor_id.clone())
                .push_bind(a.action.clone())
                .push_bind(a.object_kind.clone())
                .push_bind(a.object_id.clone())
                .push_bind(a.outcome.clone())
                .push_bind(a.request_id.clone())
                .push_bind(json(&a.details));
        });
        qb.build().run(conn).or_store("audit event")?;
    }
    Ok(())
}

/// Inserts the events and fans each out into one pending delivery per active endpoint of its
/// tenant that subscribes to its type (an empty subscription list means every type).
pub(crate) fn insert_events(conn: &Connection, events: &[NewOutboxEvent]) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    for chunk in events.chunks(BATCH) {
        let mut qb = QueryBuilder::new(
            "INSERT INTO outbox_events (id, tenant_id, event_type, payload, created_at) ",
        );
        qb.push_values(chunk, |mut b, e| {
            b.push_bind(id(e.id.0))
                .push_bind(id(e.tenant_id.0))
                .push_bind(e.event_type.clone())
                .push_bind(json(&e.payload))
                .push_bind(ts(e.created_at));
        });
        qb.build().run(conn).or_store("outbox event")?;
    }

    let tenants: BTreeSet<String> = events.iter().map(|e| id(e.tenant_id.0)).collect();
    let mut qb = QueryBuilder::new(
        "SELECT id, tenant_id, event_types FROM webhook_endpoints \
         WHERE disabled_at IS NULL AND tenant_id IN (",
    );
    let mut list = qb.separated(", ");
    for t in tenants {
        list.push_bind(t);
    }
    qb.push(")");
    let rows = qb.build().all(conn).or_store("webhook endpoint")?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut endpoints = Vec::with_capacity(rows.len());
    for row in rows {
        let types: Value = row.json("event_types")?;
        let types: Vec<String> =
            serde_json::from_value(types).map_err(|e| crate::convert::corrupt("event_types", e))?;
        endpoints.push((row.uuid("id")?, row.uuid("tenant_id")?, types));
    }

    let mut deliveries = Vec::new();
    for event in events {
        for (endpoint_id, tenant_id, types) in &endpoints {
            if *tenant_id == event.tenant_id.0
                && (types.is_empty() || types.contains(&event.event_type))
            {
                deliveries.push((meetgate_store::DeliveryId::new(), event, *endpoint_id));
            }
        }
    }
    for chunk in deliveries.chunks(BATCH) {
        let mut qb = QueryBuilder::new(
            "INSERT INTO webhook_deliveries (id, tenant_id, event_id, endpoint_id, status, \
             attempts, next_attempt_at, created_at) ",
        );
        qb.push_values(chunk, |mut b, (delivery_id, event, endpoint_id)| {
            b.push_bind(id(delivery_id.0))
                .push_bind(id(event.tenant_id.0))
                .push_bind(id(event.id.0))
                .push_bind(id(*endpoint_id))
                .push_bind("pending")
                .push_bind(0_i64)
                .push_bind(ts(event.created_at))
                .push_bind(ts(event.created_at));
        });
        qb.build().run(conn).or_store("webhook delivery")?;
    }
    Ok(())
}

/// Completes an in-progress record held by the completion's claim. A record that is gone
/// (released, expired and purged) or was taken over by another request fails the change it
/// comes with (`Precondition`): the successor records the outcome, once.
pub(crate) fn complete_idempotency(conn: &Connection, c: &CompleteIdempotency) -> StoreResult<()> {
    let done = query(
        "UPDATE idempotency_records
         SET state = 'completed', response_status = $3, response_body = $4, resource_id = $5
         WHERE tenant_id = $1 AND key = $2 AND state = 'in_progress' AND holder = $6",
    )
    .bind(id(c.held.tenant_id.0))
    .bind(&c.held.key)
    .bind(i64::from(c.response_status))
    .bind(&c.response_body.0)
    .bind(&c.resource_id)
    .bind(id(c.held.holder))
    .run(conn)
    .or_store("idempotency record")?;
    if done.rows_affected() == 0 {
        return Err(meetgate_store::StoreError::Precondition {
            what: "idempotency record",
        });
    }
    Ok(())
}
