//! Writing an [`Effects`] value inside the caller's transaction.

use meetgate_store::{
    CompleteIdempotency, Effects, NewAuditEvent, NewOutboxEvent, StoreError, StoreResult,
};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use crate::convert::{id, json, opt_id, ts};
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
    if fit_one_statement(effects) {
        return write_in_one_statement(conn, effects).await;
    }
    insert_audit(conn, &effects.audit).await?;
    insert_events(conn, &effects.events).await?;
    if let Some(completion) = &effects.idempotency {
        complete_idempotency(conn, completion).await?;
    }
    Ok(())
}

/// Whether `effects` fit in one statement ([`push_ctes`]); larger ones are written in batches.
pub(crate) fn fit_one_statement(effects: &Effects) -> bool {
    effects.audit.len() <= BATCH && effects.events.len() <= BATCH
}

/// The usual, small `effects` in one statement, so one round trip to the server instead of up to
/// five (see [`push_ctes`]).
async fn write_in_one_statement(conn: &mut PgConnection, effects: &Effects) -> StoreResult<()> {
    let mut qb = QueryBuilder::<Postgres>::new("WITH ");
    let completed = push_ctes(&mut qb, effects, true);
    qb.push(" SELECT ").push(completed).push(" AS completed");
    let row = qb
        .build()
        .fetch_one(&mut *conn)
        .await
        .or_store("audit, outbox and idempotency")?;
    check_completed(effects, &row)
}

/// With [`DELIVERIES_TO`] around a relation of events (`id, tenant_id, event_type, created_at`):
/// one pending delivery per event and active endpoint of its tenant that subscribes to its type
/// (an empty list means every type). The ids are UUIDv7 like those made in Rust; PostgreSQL 15 has
/// no `uuidv7()`, so this is a random UUID with the millisecond time laid over its first 48 bits
/// and the version nibble set to 7.
const DELIVERIES_FROM: &str = "INSERT INTO webhook_deliveries (id, tenant_id, event_id, \
     endpoint_id, status, attempts, next_attempt_at, created_at) \
     SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing \
         substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3) \
         FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid, \
     ev.tenant_id, ev.id, e.id, 'pending', 0, ev.created_at, ev.created_at FROM ";

/// See [`DELIVERIES_FROM`].
const DELIVERIES_TO: &str = " ev JOIN webhook_endpoints e ON e.tenant_id = ev.tenant_id \
     AND e.disabled_at IS NULL \
     AND (e.event_types = '[]'::jsonb OR e.event_types ? ev.event_type)";

/// Pushes `effects` as data-modifying CTEs of the statement being built (after a `, ` unless
/// `first`): the audit and outbox inserts, each event's fan-out into one pending delivery per
/// active endpoint of its tenant that subscribes to its type, and the idempotency completion.
/// PostgreSQL runs such CTEs to completion whether or not the query reads them, and a statement
/// is atomic on its own, so no transaction has to be opened for them. Returns the expression the
/// query selects `AS completed` for [`check_completed`]. Only for [`fit_one_statement`] effects.
pub(crate) fn push_ctes(
    qb: &mut QueryBuilder<'_, Postgres>,
    effects: &Effects,
    mut first: bool,
) -> &'static str {
    let mut next = |qb: &mut QueryBuilder<'_, Postgres>| {
        if !std::mem::take(&mut first) {
            qb.push(", ");
        }
    };
    if !effects.audit.is_empty() {
        next(qb);
        qb.push(
            "audit AS (INSERT INTO audit_events (id, tenant_id, at, actor_kind, actor_id, \
             action, object_kind, object_id, outcome, request_id, details) ",
        );
        push_audit_values(qb, &effects.audit);
        qb.push(")");
    }
    if !effects.events.is_empty() {
        next(qb);
        qb.push(
            "events AS (INSERT INTO outbox_events (id, tenant_id, event_type, payload, created_at) ",
        );
        push_event_values(qb, &effects.events);
        // The deliveries read the events from the CTE: the statement's snapshot cannot see them
        // in the table.
        qb.push(" RETURNING id, tenant_id, event_type, created_at), deliveries AS (")
            .push(DELIVERIES_FROM)
            .push("events")
            .push(DELIVERIES_TO)
            .push(")");
    }
    let Some(c) = &effects.idempotency else {
        return "1::bigint";
    };
    next(qb);
    qb.push("completed AS (UPDATE idempotency_records SET state = 'completed', response_status = ")
        .push_bind(i32::from(c.response_status))
        .push(", response_body = ")
        .push_bind(c.response_body.0.clone())
        .push(", resource_id = ")
        .push_bind(c.resource_id.clone())
        .push(" WHERE tenant_id = ")
        .push_bind(id(c.held.tenant_id.0))
        .push(" AND key = ")
        .push_bind(c.held.key.clone())
        .push(" AND state = 'in_progress' AND holder = ")
        .push_bind(id(c.held.holder))
        .push(" RETURNING 1)");
    "(SELECT count(*) FROM completed)"
}

/// Fails when the idempotency completion of a [`push_ctes`] statement found no record held by
/// its claim; inside a transaction, the caller's error rolls it back.
pub(crate) fn check_completed(effects: &Effects, row: &sqlx::postgres::PgRow) -> StoreResult<()> {
    let completed: i64 = row.try_get("completed").or_store("idempotency record")?;
    if effects.idempotency.is_some() && completed == 0 {
        return Err(lost_claim());
    }
    Ok(())
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

    let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.id.0).collect();
    let mut qb = QueryBuilder::<Postgres>::new(DELIVERIES_FROM);
    qb.push(
        "(SELECT id, tenant_id, event_type, created_at FROM outbox_events \
         WHERE id = ANY(",
    )
    .push_bind(ids)
    .push("))")
    .push(DELIVERIES_TO);
    qb.build()
        .execute(&mut *conn)
        .await
        .or_store("webhook delivery")?;
    Ok(())
}

/// Completes an in-progress record held by the completion's claim. A record that is gone
/// (released, expired and purged) or was taken over by another request fails the change it
/// comes with (`Precondition`): the successor records the outcome, once.
pub(crate) async fn complete_idempotency(
    conn: &mut PgConnection,
    c: &CompleteIdempotency,
) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE idempotency_records
         SET state = 'completed', response_status = $3, response_body = $4, resource_id = $5
         WHERE tenant_id = $1 AND key = $2 AND state = 'in_progress' AND holder = $6",
    )
    .bind(id(c.held.tenant_id.0))
    .bind(&c.held.key)
    .bind(i32::from(c.response_status))
    .bind(&c.response_body.0)
    .bind(&c.resource_id)
    .bind(id(c.held.holder))
    .execute(&mut *conn)
    .await
    .or_store("idempotency record")?;
    if done.rows_affected() == 0 {
        return Err(lost_claim());
    }
    Ok(())
}

fn lost_claim() -> StoreError {
    StoreError::Precondition {
        what: "idempotency record",
    }
}

/// SQL that fails the whole statement with `Precondition` (see the migration that defines
/// `meetgate_refuse`) unless `condition` holds, for statements that commit on their own.
pub(crate) fn refuse_unless(condition: &str, what: &'static str) -> String {
    format!("CASE WHEN {condition} THEN true ELSE meetgate_refuse('{what}') END")
}
