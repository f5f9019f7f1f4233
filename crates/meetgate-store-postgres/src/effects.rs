//! Writing an [`Effects`] value inside the caller's transaction.

use std::collections::BTreeSet;

use meetgate_store::{CompleteIdempotency, Effects, NewAuditEvent, NewOutboxEvent, StoreResult};
use serde_json::Value;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use crate::convert::{RowExt, id, json, opt_id, ts};
use crate::errors::OrStore;

/// Rows per multi-row INSERT, well below PostgreSQL's limit of 65535 bound parameters.
const BATCH: usize = 500;

pub(crate) fn is_empty(effects: &Effects) -> bool {
    effects.audit.is_empty() && effects.events.is_empty() && effects.idempotency.is_none()
}

pub(crate) async fn write(conn: &mut PgConnection, effects: &Effects) -> StoreResult<()> {
    if is_empty(effects) {
        return Ok(());
    }
    if effects.audit.len() <= BATCH && effects.events.len() <= BATCH {
        return write_in_one_statement(conn, effects).await;
    }
    insert_audit(conn, &effects.audit).await?;
    insert_events(conn, &effects.events).await?;
    if let Some(completion) = &effects.idempotency {
        complete_idempotency(conn, completion).await?;
    }
    Ok(())
}

/// The usual, small `effects` in one statement, so one round trip to the server instead of up to
/// four: the audit and outbox inserts and the idempotency completion are data-modifying CTEs
/// (PostgreSQL runs those to completion whether or not the query reads them), and the query's
/// rows are the endpoints the events fan out to (one row of NULLs when there are none, so that
/// the completion's count always comes back).
async fn write_in_one_statement(conn: &mut PgConnection, effects: &Effects) -> StoreResult<()> {
    let mut qb = QueryBuilder::<Postgres>::new("WITH ");
    let mut ctes = 0;
    if !effects.audit.is_empty() {
        qb.push(
            "audit AS (INSERT INTO audit_events (id, tenant_id, at, actor_kind, actor_id, \
             action, object_kind, object_id, outcome, request_id, details) ",
        );
        push_audit_values(&mut qb, &effects.audit);
        qb.push(")");
        ctes += 1;
    }
    if !effects.events.is_empty() {
        if ctes > 0 {
            qb.push(", ");
        }
        qb.push(
            "events AS (INSERT INTO outbox_events (id, tenant_id, event_type, payload, created_at) ",
        );
        push_event_values(&mut qb, &effects.events);
        qb.push(")");
        ctes += 1;
    }
    if let Some(c) = &effects.idempotency {
        if ctes > 0 {
            qb.push(", ");
        }
        qb.push(
            "completed AS (UPDATE idempotency_records SET state = 'completed', response_status = ",
        )
        .push_bind(i32::from(c.response_status))
        .push(", response_body = ")
        .push_bind(c.response_body.0.clone())
        .push(", resource_id = ")
        .push_bind(c.resource_id.clone())
        .push(" WHERE tenant_id = ")
        .push_bind(id(c.tenant_id.0))
        .push(" AND key = ")
        .push_bind(c.key.clone())
        .push(" AND state = 'in_progress' RETURNING 1) SELECT (SELECT count(*) FROM completed)");
    } else {
        qb.push(" SELECT 1::bigint");
    }
    qb.push(
        " AS completed, e.id, e.tenant_id, e.event_types FROM (SELECT 1) AS one \
         LEFT JOIN webhook_endpoints e ON e.disabled_at IS NULL AND e.tenant_id = ANY(",
    )
    .push_bind(event_tenants(&effects.events))
    .push(")");
    let rows = qb
        .build()
        .fetch_all(&mut *conn)
        .await
        .or_store("audit, outbox and idempotency")?;
    let completed: i64 = rows
        .first()
        .map(|r| r.try_get("completed"))
        .transpose()
        .or_store("idempotency record")?
        .unwrap_or(0);
    if let Some(c) = &effects.idempotency
        && completed == 0
    {
        tracing::warn!(tenant = %c.tenant_id, "idempotency completion found no in-progress record");
    }
    let mut endpoints = Vec::new();
    for row in &rows {
        if let Some(endpoint) = row.opt_uuid("id")? {
            endpoints.push((endpoint, row.uuid("tenant_id")?, row.json("event_types")?));
        }
    }
    insert_deliveries(conn, &effects.events, endpoints).await
}

/// `VALUES (...), ...` of audit entries, in `audit_events`' column order.
fn push_audit_values(qb: &mut QueryBuilder<'_, Postgres>, entries: &[NewAuditEvent]) {
    qb.push_values(entries, |mut b, a| {
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
}

/// `VALUES (...), ...` of outbox events, in `outbox_events`' column order.
fn push_event_values(qb: &mut QueryBuilder<'_, Postgres>, events: &[NewOutboxEvent]) {
    qb.push_values(events, |mut b, e| {
        b.push_bind(id(e.id.0))
            .push_bind(id(e.tenant_id.0))
            .push_bind(e.event_type.clone())
            .push_bind(json(&e.payload))
            .push_bind(ts(e.created_at));
    });
}

fn event_tenants(events: &[NewOutboxEvent]) -> Vec<uuid::Uuid> {
    events
        .iter()
        .map(|e| e.tenant_id.0)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

pub(crate) async fn insert_audit(
    conn: &mut PgConnection,
    entries: &[NewAuditEvent],
) -> StoreResult<()> {
    for chunk in entries.chunks(BATCH) {
        let mut qb = QueryBuilder::<Postgres>::new(
            "INSERT INTO audit_events (id, tenant_id, at, actor_kind, actor_id, action, \
             object_kind, object_id, outcome, request_id, details) ",
        );
        push_audit_values(&mut qb, chunk);
        qb.build()
            .execute(&mut *conn)
            .await
            .or_store("audit event")?;
    }
    Ok(())
}

/// Inserts the events and fans each out into one pending delivery per active endpoint of its
/// tenant that subscribes to its type (an empty subscription list means every type).
pub(crate) async fn insert_events(
    conn: &mut PgConnection,
    events: &[NewOutboxEvent],
) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    for chunk in events.chunks(BATCH) {
        let mut qb = QueryBuilder::<Postgres>::new(
            "INSERT INTO outbox_events (id, tenant_id, event_type, payload, created_at) ",
        );
        push_event_values(&mut qb, chunk);
        qb.build()
            .execute(&mut *conn)
            .await
            .or_store("outbox event")?;
    }

    let rows = sqlx::query(
        "SELECT id, tenant_id, event_types FROM webhook_endpoints
         WHERE disabled_at IS NULL AND tenant_id = ANY($1)",
    )
    .bind(event_tenants(events))
    .fetch_all(&mut *conn)
    .await
    .or_store("webhook endpoint")?;
    let mut endpoints = Vec::with_capacity(rows.len());
    for row in rows {
        endpoints.push((
            row.uuid("id")?,
            row.uuid("tenant_id")?,
            row.json("event_types")?,
        ));
    }
    insert_deliveries(conn, events, endpoints).await
}

/// One pending delivery per event and endpoint of its tenant that subscribes to its type (an
/// empty subscription list means every type). `endpoints`: id, tenant, `event_types`.
async fn insert_deliveries(
    conn: &mut PgConnection,
    events: &[NewOutboxEvent],
    endpoints: Vec<(uuid::Uuid, uuid::Uuid, Value)>,
) -> StoreResult<()> {
    if endpoints.is_empty() {
        return Ok(());
    }
    let mut subscribed = Vec::with_capacity(endpoints.len());
    for (endpoint_id, tenant_id, types) in endpoints {
        let types: Vec<String> =
            serde_json::from_value(types).map_err(|e| crate::convert::corrupt("event_types", e))?;
        subscribed.push((endpoint_id, tenant_id, types));
    }
    let mut deliveries = Vec::new();
    for event in events {
        for (endpoint_id, tenant_id, types) in &subscribed {
            if *tenant_id == event.tenant_id.0
                && (types.is_empty() || types.contains(&event.event_type))
            {
                deliveries.push((meetgate_store::DeliveryId::new(), event, *endpoint_id));
            }
        }
    }
    for chunk in deliveries.chunks(BATCH) {
        let mut qb = QueryBuilder::<Postgres>::new(
            "INSERT INTO webhook_deliveries (id, tenant_id, event_id, endpoint_id, status, \
             attempts, next_attempt_at, created_at) ",
        );
        qb.push_values(chunk, |mut b, (delivery_id, event, endpoint_id)| {
            b.push_bind(id(delivery_id.0))
                .push_bind(id(event.tenant_id.0))
                .push_bind(id(event.id.0))
                .push_bind(id(*endpoint_id))
                .push_bind("pending")
                .push_bind(0_i32)
                .push_bind(ts(event.created_at))
                .push_bind(ts(event.created_at));
        });
        qb.build()
            .execute(&mut *conn)
            .await
            .or_store("webhook delivery")?;
    }
    Ok(())
}

/// Completes an in-progress record. A record that is gone (released, expired and purged) or was
/// completed by a request that took it over is left alone: failing the change that carried the
/// completion would lose work that already happened outside the database.
pub(crate) async fn complete_idempotency(
    conn: &mut PgConnection,
    c: &CompleteIdempotency,
) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE idempotency_records
         SET state = 'completed', response_status = $3, response_body = $4, resource_id = $5
         WHERE tenant_id = $1 AND key = $2 AND state = 'in_progress'",
    )
    .bind(id(c.tenant_id.0))
    .bind(&c.key)
    .bind(i32::from(c.response_status))
    .bind(&c.response_body.0)
    .bind(&c.resource_id)
    .execute(&mut *conn)
    .await
    .or_store("idempotency record")?;
    if done.rows_affected() == 0 {
        tracing::warn!(tenant = %c.tenant_id, "idempotency completion found no in-progress record");
    }
    Ok(())
}
