use std::sync::LazyLock;

use meetgate_store::models::{
    Connection, Meeting, MeetingQuery, MeetingStatus, MeetingUpdate, MeetingWindow, NewMeeting,
};
use meetgate_store::{
    ConnectionId, Effects, EndUserId, MeetingId, MeetingStore, OffsetDateTime, SealedValue,
    StoreResult, TenantId, ZoomAppId,
};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder};

use crate::PgStore;
use crate::connections::{connection_cols, connection_prefixed};
use crate::convert::{RowExt, id, opt_ts, ts};
use crate::effects;
use crate::errors::OrStore;

macro_rules! meeting_cols {
    () => {
        "id, tenant_id, end_user_id, connection_id, zoom_meeting_id, host_zoom_user_id, kind, \
         status, start_time, duration_minutes, timezone, details, idempotency_key, created_at, \
         updated_at, status_changed_at, deleted_at"
    };
}

fn meeting(row: &PgRow) -> StoreResult<Meeting> {
    Ok(Meeting {
        id: MeetingId(row.uuid("id")?),
        tenant_id: TenantId(row.uuid("tenant_id")?),
        end_user_id: EndUserId(row.uuid("end_user_id")?),
        connection_id: ConnectionId(row.uuid("connection_id")?),
        zoom_meeting_id: row.int("zoom_meeting_id")?,
        host_zoom_user_id: row.opt_text("host_zoom_user_id")?,
        kind: row.parsed("kind")?,
        status: row.parsed("status")?,
        start_time: row.opt_time("start_time")?,
        duration_minutes: row.opt_int32("duration_minutes")?,
        timezone: row.opt_text("timezone")?,
        details: row.sealed("details")?,
        idempotency_key: row.opt_text("idempotency_key")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
        status_changed_at: row.opt_time("status_changed_at")?,
        deleted_at: row.opt_time("deleted_at")?,
    })
}

/// `INSERT INTO meetings ... RETURNING` every column, for `m`.
fn push_insert(qb: &mut QueryBuilder<'_, Postgres>, m: &NewMeeting) {
    qb.push(
        "INSERT INTO meetings (id, tenant_id, end_user_id, connection_id, zoom_meeting_id, \
         host_zoom_user_id, kind, status, start_time, duration_minutes, timezone, details, \
         idempotency_key, created_at, updated_at) VALUES (",
    );
    let mut values = qb.separated(", ");
    values
        .push_bind(id(m.id.0))
        .push_bind(id(m.tenant_id.0))
        .push_bind(id(m.end_user_id.0))
        .push_bind(id(m.connection_id.0))
        .push_bind(m.zoom_meeting_id)
        .push_bind(m.host_zoom_user_id.clone())
        .push_bind(m.kind.as_str())
        .push_bind("waiting")
        .push_bind(opt_ts(m.start_time))
        .push_bind(m.duration_minutes)
        .push_bind(m.timezone.clone())
        .push_bind(m.details.0.clone())
        .push_bind(m.idempotency_key.clone())
        .push_bind(ts(m.now))
        .push_bind(ts(m.now));
    qb.push(concat!(") RETURNING ", meeting_cols!()));
}

/// A meeting and its connection (of the same tenant), the connection's columns prefixed `c_`.
static MEETING_WITH_CONNECTION: LazyLock<String> = LazyLock::new(|| {
    let connection: Vec<String> = connection_cols!()
        .split(',')
        .map(|c| format!("c.{0} AS c_{0}", c.trim()))
        .collect();
    format!(
        "SELECT m.*, {} FROM (SELECT {} FROM meetings WHERE tenant_id = $1 AND id = $2) m \
         LEFT JOIN connections c ON c.tenant_id = m.tenant_id AND c.id = m.connection_id",
        connection.join(", "),
        meeting_cols!()
    )
});

/// When a meeting's slot begins: its start time, or for an instant meeting stored without one
/// (Zoom returns none for them) its creation; `NULL` for a meeting with no fixed time.
macro_rules! slot_start {
    () => {
        "coalesce(start_time, CASE WHEN kind = 'instant' THEN created_at END)"
    };
}
const SLOT_START: &str = slot_start!();

/// The end of a meeting's slot: start plus duration (zero when unknown).
const SLOT_END: &str = concat!(
    "(",
    slot_start!(),
    " + make_interval(mins => coalesce(duration_minutes, 0)))"
);

#[async_trait::async_trait]
impl MeetingStore for PgStore {
    #[tracing::instrument(skip_all, fields(tenant = %m.tenant_id, meeting = %m.id))]
    async fn insert_meeting(&self, m: &NewMeeting, effects: Effects) -> StoreResult<Meeting> {
        if !effects::fit_one_statement(&effects) {
            let mut tx = self.begin_write().await?;
            let connected = sqlx::query(
                "SELECT 1 FROM connections WHERE tenant_id = $1 AND id = $2
                 AND state <> 'revoked' FOR SHARE",
            )
            .bind(id(m.tenant_id.0))
            .bind(id(m.connection_id.0))
            .fetch_optional(&mut *tx)
            .await
            .or_store("connection")?;
            if connected.is_none() {
                return Err(meetgate_store::StoreError::Precondition { what: "connection" });
            }
            let mut qb = QueryBuilder::<Postgres>::new("");
            push_insert(&mut qb, m);
            let row = qb.build().fetch_one(&mut *tx).await.or_store("meeting")?;
            let created = meeting(&row)?;
            effects::write(&mut tx, &effects).await?;
            tx.commit().await.or_store("transaction")?;
            return Ok(created);
        }
        // The usual case: the meeting and its effects in one statement, one round trip where a
        // transaction took four (BEGIN, the meeting, the effects, COMMIT). A statement is atomic
        // on its own; see `effects::push_ctes`.
        // The connection's row is share-locked for the statement: a deauthorization ending it
        // waits, or has ended it and purged its meetings' details, and then this one is refused
        // rather than bring details back. A completion of an idempotency key that another
        // request took over refuses it too. The refusal fails the statement, so nothing stays.
        let mut qb = QueryBuilder::<Postgres>::new(
            "WITH conn AS (SELECT 1 FROM connections WHERE tenant_id = ",
        );
        qb.push_bind(id(m.tenant_id.0))
            .push(" AND id = ")
            .push_bind(id(m.connection_id.0))
            .push(" AND state <> 'revoked' FOR SHARE), m AS (");
        push_insert(&mut qb, m);
        qb.push(")");
        let completed = effects::push_ctes(&mut qb, &effects, false);
        qb.push(" SELECT m.*, ").push(effects::refuse_unless(
            "EXISTS (SELECT 1 FROM conn)",
            "connection",
        ));
        if effects.idempotency.is_some() {
            qb.push(" AND ").push(effects::refuse_unless(
                &format!("{completed} > 0"),
                "idempotency record",
            ));
        }
        qb.push(" AS allowed FROM m");
        let row = qb.build().fetch_one(&self.pool).await.or_store("meeting")?;
        meeting(&row)
    }

    async fn get_meeting(&self, tenant: TenantId, mid: MeetingId) -> StoreResult<Option<Meeting>> {
        sqlx::query(concat!(
            "SELECT ",
            meeting_cols!(),
            " FROM meetings WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(id(tenant.0))
        .bind(id(mid.0))
        .fetch_optional(&self.pool)
        .await
        .or_store("meeting")?
        .as_ref()
        .map(meeting)
        .transpose()
    }

    /// One round trip: the meeting's columns as they are, the connection's prefixed `c_`.
    async fn get_meeting_with_connection(
        &self,
        tenant: TenantId,
        mid: MeetingId,
    ) -> StoreResult<Option<(Meeting, Option<Connection>)>> {
        let Some(row) = sqlx::query(&MEETING_WITH_CONNECTION)
            .bind(id(tenant.0))
            .bind(id(mid.0))
            .fetch_optional(&self.pool)
            .await
            .or_store("meeting")?
        else {
            return Ok(None);
        };
        let connection = match row.opt_uuid("c_id")? {
            Some(_) => Some(connection_prefixed(&row, "c_")?),
            None => None,
        };
        Ok(Some((meeting(&row)?, connection)))
    }

    /// `Upcoming`: not ended or deleted, and with no fixed time or a slot (start plus duration)
    /// that has not passed. `Past`: ended, or a slot that has passed. Deleted meetings only with
    /// `include_deleted`.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    async fn list_meetings(&self, tenant: TenantId, q: &MeetingQuery) -> StoreResult<Vec<Meeting>> {
        let mut qb = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            meeting_cols!(),
            " FROM meetings WHERE tenant_id = "
        ));
        qb.push_bind(id(tenant.0));
        if let Some(end_user) = q.end_user_id {
            qb.push(" AND end_user_id = ").push_bind(id(end_user.0));
        }
        if !q.include_deleted {
            qb.push(" AND status <> 'deleted'");
        }
        match q.window {
            MeetingWindow::All => {}
            MeetingWindow::Upcoming => {
                qb.push(" AND status NOT IN ('ended', 'deleted') AND (")
                    .push(SLOT_START)
                    .push(" IS NULL OR ")
                    .push(SLOT_END)
                    .push(" >= ")
                    .push_bind(ts(q.now))
                    .push(")");
            }
            MeetingWindow::Past => {
                qb.push(" AND (status = 'ended' OR (")
                    .push(SLOT_START)
                    .push(" IS NOT NULL AND ")
                    .push(SLOT_END)
                    .push(" < ")
                    .push_bind(ts(q.now))
                    .push("))");
            }
        }
        if let Some(after) = q.after {
            qb.push(" AND id > ").push_bind(id(after.0));
        }
        if let Some(ids) = &q.ids {
            let ids: Vec<uuid::Uuid> = ids.iter().map(|m| m.0).collect();
            qb.push(" AND id = ANY(").push_bind(ids).push(")");
        }
        qb.push(" ORDER BY id LIMIT ").push_bind(i64::from(q.limit));
        qb.build()
            .fetch_all(&self.pool)
            .await
            .or_store("meeting")?
            .iter()
            .map(meeting)
            .collect()
    }

    async fn find_meetings_by_zoom_id(
        &self,
        zoom_app: ZoomAppId,
        zoom_meeting_id: i64,
    ) -> StoreResult<Vec<Meeting>> {
        sqlx::query(concat!(
            "SELECT ",
            meeting_cols!(),
            " FROM meetings m WHERE zoom_meeting_id = $1
              AND EXISTS (SELECT 1 FROM connections c
                          WHERE c.tenant_id = m.tenant_id AND c.id = m.connection_id
                            AND c.zoom_app_id = $2)
              ORDER BY id"
        ))
        .bind(zoom_meeting_id)
        .bind(id(zoom_app.0))
        .fetch_all(&self.pool)
        .await
        .or_store("meeting")?
        .iter()
        .map(meeting)
        .collect()
    }

    /// A deleted meeting is not updated (`None`).
    #[tracing::instrument(skip_all, fields(tenant = %tenant, meeting = %mid))]
    async fn update_meeting(
        &self,
        tenant: TenantId,
        mid: MeetingId,
        u: &MeetingUpdate,
        effects: Effects,
    ) -> StoreResult<Option<Meeting>> {
        let mut tx = self.begin_write().await?;
        // As for a new meeting: a connection ended meanwhile had its meetings purged.
        let state: Option<String> = sqlx::query_scalar(
            "SELECT c.state FROM meetings m JOIN connections c
                ON c.tenant_id = m.tenant_id AND c.id = m.connection_id
             WHERE m.tenant_id = $1 AND m.id = $2 FOR SHARE OF c",
        )
        .bind(id(tenant.0))
        .bind(id(mid.0))
        .fetch_optional(&mut *tx)
        .await
        .or_store("connection")?;
        if state.as_deref() == Some("revoked") {
            return Err(meetgate_store::StoreError::Precondition { what: "connection" });
        }
        let row = sqlx::query(concat!(
            "UPDATE meetings SET start_time = $3, duration_minutes = $4, timezone = $5,
                details = $6, updated_at = $7
             WHERE tenant_id = $1 AND id = $2 AND status <> 'deleted' AND details = $8
             RETURNING ",
            meeting_cols!()
        ))
        .bind(id(tenant.0))
        .bind(id(mid.0))
        .bind(opt_ts(u.start_time))
        .bind(u.duration_minutes)
        .bind(&u.timezone)
        .bind(&u.details.0)
        .bind(ts(u.now))
        .bind(&u.replaces.0)
        .fetch_optional(&mut *tx)
        .await
        .or_store("meeting")?;
        let Some(row) = row else {
            // Read committed: this sees the concurrent change that made the update miss.
            let live = sqlx::query(
                "SELECT 1 FROM meetings WHERE tenant_id = $1 AND id = $2 AND status <> 'deleted'",
            )
            .bind(id(tenant.0))
            .bind(id(mid.0))
            .fetch_optional(&mut *tx)
            .await
            .or_store("meeting")?;
            return match live {
                Some(_) => Err(meetgate_store::StoreError::VersionConflict { what: "meeting" }),
                None => Ok(None),
            };
        };
        let updated = meeting(&row)?;
        effects::write(&mut tx, &effects).await?;
        tx.commit().await.or_store("transaction")?;
        Ok(Some(updated))
    }

    /// Idempotent: deleting a deleted meeting keeps its first deletion time and returns it.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, meeting = %mid))]
    async fn mark_meeting_deleted(
        &self,
        tenant: TenantId,
        mid: MeetingId,
        now: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<Option<Meeting>> {
        let mut tx = self.begin_write().await?;
        // Two deletes at once: the second finds it deleted and writes no second event.
        let was: Option<String> = sqlx::query_scalar(
            "SELECT status FROM meetings WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        )
        .bind(id(tenant.0))
        .bind(id(mid.0))
        .fetch_optional(&mut *tx)
        .await
        .or_store("meeting")?;
        let effects = if was.as_deref() == Some("deleted") {
            effects.completion_only()
        } else {
            effects
        };
        let row = sqlx::query(concat!(
            "UPDATE meetings SET
                status_changed_at = CASE WHEN status = 'deleted' THEN status_changed_at ELSE $3 END,
                status = 'deleted', deleted_at = coalesce(deleted_at, $3), updated_at = $3
             WHERE tenant_id = $1 AND id = $2 RETURNING ",
            meeting_cols!()
        ))
        .bind(id(tenant.0))
        .bind(id(mid.0))
        .bind(ts(now))
        .fetch_optional(&mut *tx)
        .await
        .or_store("meeting")?;
        let Some(row) = row else {
            return Ok(None);
        };
        let deleted = meeting(&row)?;
        effects::write(&mut tx, &effects).await?;
        tx.commit().await.or_store("transaction")?;
        Ok(Some(deleted))
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, meeting = %mid, status = %status))]
    async fn set_meeting_status(
        &self,
        tenant: TenantId,
        mid: MeetingId,
        status: MeetingStatus,
        event_at: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE meetings SET status = $3, status_changed_at = $4,
                updated_at = CASE WHEN updated_at < $4 THEN $4 ELSE updated_at END,
                deleted_at = CASE WHEN $3 = 'deleted' THEN $4 ELSE deleted_at END
             WHERE tenant_id = $1 AND id = $2 AND status <> 'deleted'
               AND (status_changed_at IS NULL OR status_changed_at < $4)",
        )
        .bind(id(tenant.0))
        .bind(id(mid.0))
        .bind(status.as_str())
        .bind(ts(event_at))
        .execute(&mut *tx)
        .await
        .or_store("meeting")?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        effects::write(&mut tx, &effects).await?;
        tx.commit().await.or_store("transaction")?;
        Ok(true)
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %connection))]
    async fn purge_meeting_details(
        &self,
        tenant: TenantId,
        connection: ConnectionId,
        replacement: &SealedValue,
        created_before: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> StoreResult<u64> {
        // The answers kept for idempotent retries repeat the details: a retry must not bring
        // them back. One statement, so both go or neither.
        let done: i64 = sqlx::query_scalar(
            "WITH purged AS (
                UPDATE meetings SET details = $3, updated_at = $4
                WHERE tenant_id = $1 AND connection_id = $2 AND details <> $3
                   AND ($5::timestamptz IS NULL OR created_at < $5)
                RETURNING id
             ), forgotten AS (
                DELETE FROM idempotency_records
                WHERE tenant_id = $1 AND state = 'completed' AND resource_id IN (
                    SELECT id::text FROM meetings WHERE tenant_id = $1 AND connection_id = $2
                       AND ($5::timestamptz IS NULL OR created_at < $5))
             )
             SELECT count(*) FROM purged",
        )
        .bind(id(tenant.0))
        .bind(id(connection.0))
        .bind(&replacement.0)
        .bind(ts(now))
        .bind(opt_ts(created_before))
        .fetch_one(&self.pool)
        .await
        .or_store("meeting")?;
        Ok(u64::try_from(done).unwrap_or(0))
    }
}
