use meetgate_store::models::{
    Connection, Meeting, MeetingQuery, MeetingStatus, MeetingUpdate, MeetingWindow, NewMeeting,
};
use meetgate_store::{
    ConnectionId, Effects, EndUserId, MeetingId, MeetingStore, OffsetDateTime, SealedValue,
    StoreResult, TenantId, ZoomAppId,
};

use crate::SqliteStore;
use crate::connections::{connection, connection_cols};
use crate::convert::{RowExt, as_stored, id, opt_ts, ts};
use crate::effects;
use crate::errors::OrStore;
use crate::sql::{QueryBuilder, Row, fetch_optional_together_now, query};

macro_rules! meeting_cols {
    () => {
        "id, tenant_id, end_user_id, connection_id, zoom_meeting_id, host_zoom_user_id, kind, \
         status, start_time, duration_minutes, timezone, details, idempotency_key, created_at, \
         updated_at, status_changed_at, deleted_at"
    };
}

/// One meeting of a tenant: `$1` the tenant, `$2` the meeting.
static MEETING_BY_ID: &str = concat!(
    "SELECT ",
    meeting_cols!(),
    " FROM meetings WHERE tenant_id = $1 AND id = $2"
);

fn meeting(row: &Row) -> StoreResult<Meeting> {
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

/// When a meeting's slot begins: its start time, or for an instant meeting stored without one
/// (Zoom returns none for them) its creation; `NULL` for a meeting with no fixed time.
macro_rules! slot_start {
    () => {
        "coalesce(start_time, CASE WHEN kind = 'instant' THEN created_at END)"
    };
}
const SLOT_START: &str = slot_start!();

/// The end of a meeting's slot in microseconds: start plus duration (zero when unknown).
const SLOT_END: &str = concat!(
    "(",
    slot_start!(),
    " + coalesce(duration_minutes, 0) * 60000000)"
);

#[async_trait::async_trait]
impl MeetingStore for SqliteStore {
    #[tracing::instrument(skip_all, fields(tenant = %m.tenant_id, meeting = %m.id))]
    async fn insert_meeting(&self, m: &NewMeeting, effects: Effects) -> StoreResult<Meeting> {
        let m = m.to_owned();
        self.write(move |tx| {
            // A deauthorization or disconnect that revoked the connection meanwhile has purged
            // (or ended) its meetings: this one must not come back on it.
            let connected = query(
                "SELECT 1 FROM connections WHERE tenant_id = $1 AND id = $2 AND state <> 'revoked'",
            )
            .bind(id(m.tenant_id.0))
            .bind(id(m.connection_id.0))
            .optional(tx)
            .or_store("connection")?;
            if connected.is_none() {
                return Err(meetgate_store::StoreError::Precondition { what: "connection" });
            }
            query(
                "INSERT INTO meetings (id, tenant_id, end_user_id, connection_id, zoom_meeting_id,
                    host_zoom_user_id, kind, status, start_time, duration_minutes, timezone, details,
                    idempotency_key, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'waiting', $8, $9, $10, $11, $12, $13, $13)",
            )
            .bind(id(m.id.0))
            .bind(id(m.tenant_id.0))
            .bind(id(m.end_user_id.0))
            .bind(id(m.connection_id.0))
            .bind(m.zoom_meeting_id)
            .bind(&m.host_zoom_user_id)
            .bind(m.kind.as_str())
            .bind(opt_ts(m.start_time))
            .bind(m.duration_minutes)
            .bind(&m.timezone)
            .bind(&m.details.0)
            .bind(&m.idempotency_key)
            .bind(ts(m.now))
            .run(tx)
            .or_store("meeting")?;
            effects::write(tx, &effects)?;
            // The row as written: no RETURNING, which would copy it through a temporary table.
            Ok(Meeting {
                id: m.id,
                tenant_id: m.tenant_id,
                end_user_id: m.end_user_id,
                connection_id: m.connection_id,
                zoom_meeting_id: m.zoom_meeting_id,
                host_zoom_user_id: m.host_zoom_user_id.clone(),
                kind: m.kind,
                status: MeetingStatus::Waiting,
                start_time: m.start_time.map(as_stored),
                duration_minutes: m.duration_minutes,
                timezone: m.timezone.clone(),
                details: m.details.clone(),
                idempotency_key: m.idempotency_key.clone(),
                created_at: as_stored(m.now),
                updated_at: as_stored(m.now),
                status_changed_at: None,
                deleted_at: None,
            })
        })
        .await
    }

    async fn get_meeting(&self, tenant: TenantId, mid: MeetingId) -> StoreResult<Option<Meeting>> {
        query(MEETING_BY_ID)
            .bind(id(tenant.0))
            .bind(id(mid.0))
            .fetch_optional_now(&self.reader)
            .await
            .or_store("meeting")?
            .as_ref()
            .map(meeting)
            .transpose()
    }

    async fn get_meeting_with_connection(
        &self,
        tenant: TenantId,
        mid: MeetingId,
    ) -> StoreResult<Option<(Meeting, Option<Connection>)>> {
        let of_meeting = query(MEETING_BY_ID).bind(id(tenant.0)).bind(id(mid.0));
        let of_connection = of_meeting.with_sql(concat!(
            "SELECT ",
            connection_cols!(),
            " FROM connections WHERE tenant_id = $1 AND id = \
             (SELECT connection_id FROM meetings WHERE tenant_id = $1 AND id = $2)"
        ));
        let rows = fetch_optional_together_now(&self.reader, vec![of_meeting, of_connection])
            .await
            .or_store("meeting")?;
        let [Some(m), c] = <[Option<Row>; 2]>::try_from(rows).unwrap_or_default() else {
            return Ok(None);
        };
        Ok(Some((
            meeting(&m)?,
            c.as_ref().map(connection).transpose()?,
        )))
    }

    /// `Upcoming`: not ended or deleted, and with no fixed time or a slot (start plus duration)
    /// that has not passed. `Past`: ended, or a slot that has passed. Deleted meetings only with
    /// `include_deleted`.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    async fn list_meetings(&self, tenant: TenantId, q: &MeetingQuery) -> StoreResult<Vec<Meeting>> {
        let mut qb = QueryBuilder::new(concat!(
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
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            qb.push(" AND id IN (");
            let mut list = qb.separated(", ");
            for m in ids {
                list.push_bind(id(m.0));
            }
            qb.push(")");
        }
        qb.push(" ORDER BY id LIMIT ").push_bind(i64::from(q.limit));
        qb.build()
            .fetch_all(&self.reader)
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
        query(concat!(
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
        .fetch_all_now(&self.reader)
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
        let u = u.to_owned();
        self.write(move |tx| {
            // As for a new meeting: a connection ended meanwhile had its meetings purged.
            let state = query(
                "SELECT c.state AS state FROM meetings m JOIN connections c
                    ON c.tenant_id = m.tenant_id AND c.id = m.connection_id
                 WHERE m.tenant_id = $1 AND m.id = $2",
            )
            .bind(id(tenant.0))
            .bind(id(mid.0))
            .optional(tx)
            .or_store("connection")?;
            if let Some(row) = state
                && row.text("state")? == "revoked"
            {
                return Err(meetgate_store::StoreError::Precondition { what: "connection" });
            }
            let row = query(concat!(
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
            .optional(tx)
            .or_store("meeting")?;
            let Some(row) = row else {
                let live = query(
                    "SELECT 1 FROM meetings WHERE tenant_id = $1 AND id = $2 AND status <> 'deleted'",
                )
                .bind(id(tenant.0))
                .bind(id(mid.0))
                .optional(tx)
                .or_store("meeting")?;
                return match live {
                    Some(_) => Err(meetgate_store::StoreError::VersionConflict { what: "meeting" }),
                    None => Ok(None),
                };
            };
            let updated = meeting(&row)?;
            effects::write(tx, &effects)?;
            Ok(Some(updated))
        })
        .await
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
        self.write(move |tx| {
            // Two deletes at once: the second finds it deleted and writes no second event.
            let was_deleted = query(
                "SELECT 1 FROM meetings WHERE tenant_id = $1 AND id = $2 AND status = 'deleted'",
            )
            .bind(id(tenant.0))
            .bind(id(mid.0))
            .optional(tx)
            .or_store("meeting")?
            .is_some();
            let row = query(concat!(
                "UPDATE meetings SET
                    status_changed_at = CASE WHEN status = 'deleted' THEN status_changed_at ELSE $3 END,
                    status = 'deleted', deleted_at = coalesce(deleted_at, $3), updated_at = $3
                 WHERE tenant_id = $1 AND id = $2 RETURNING ",
                meeting_cols!()
            ))
            .bind(id(tenant.0))
            .bind(id(mid.0))
            .bind(ts(now))
            .optional(tx)
            .or_store("meeting")?;
            let Some(row) = row else {
                return Ok(None);
            };
            let deleted = meeting(&row)?;
            if was_deleted {
                effects::write(tx, &effects.clone().completion_only())?;
            } else {
                effects::write(tx, &effects)?;
            }
            Ok(Some(deleted))
        })
        .await
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
        self.write(move |tx| {
            let done = query(
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
            .run(tx)
            .or_store("meeting")?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            effects::write(tx, &effects)?;
            Ok(true)
        })
        .await
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
        let replacement = replacement.0.clone();
        self.write(move |tx| {
            // The answers kept for idempotent retries repeat the details: a retry must not
            // bring them back.
            query(
                "DELETE FROM idempotency_records
                 WHERE tenant_id = $1 AND state = 'completed' AND resource_id IN (
                    SELECT id FROM meetings WHERE tenant_id = $1 AND connection_id = $2
                       AND ($3 IS NULL OR created_at < $3))",
            )
            .bind(id(tenant.0))
            .bind(id(connection.0))
            .bind(opt_ts(created_before))
            .run(tx)
            .or_store("idempotency record")?;
            let done = query(
                "UPDATE meetings SET details = $3, updated_at = $4
                 WHERE tenant_id = $1 AND connection_id = $2 AND details <> $3
                    AND ($5 IS NULL OR created_at < $5)",
            )
            .bind(id(tenant.0))
            .bind(id(connection.0))
            .bind(&replacement)
            .bind(ts(now))
            .bind(opt_ts(created_before))
            .run(tx)
            .or_store("meeting")?;
            Ok(done.rows_affected())
        })
        .await
    }
}
