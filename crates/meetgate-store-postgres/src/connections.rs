use std::borrow::Cow;

use meetgate_store::models::{Connection, ConnectionState, NewGrant, RefreshedTokens};
use meetgate_store::{
    ConnectionId, ConnectionStore, Effects, EndUserId, OffsetDateTime, RefreshLock, StoreError,
    StoreResult, TenantId, ZoomAppId,
};
use sqlx::postgres::PgRow;

use crate::PgStore;
use crate::convert::{RowExt, id, opt_id, opt_ts, ts};
use crate::effects;
use crate::errors::OrStore;
use crate::refresh_lock::{PgRefreshLock, store_refreshed_on};

macro_rules! connection_cols {
    () => {
        "id, tenant_id, end_user_id, zoom_app_id, state, state_reason, zoom_user_id, \
         zoom_account_id, zoom_email, scopes, api_url, access_token, access_expires_at, \
         refresh_token, version, refresh_started_at, refresh_failures, next_refresh_at, \
         last_refreshed_at, connected_at, created_at, updated_at"
    };
}
pub(crate) use connection_cols;

pub(crate) fn connection(row: &PgRow) -> StoreResult<Connection> {
    connection_prefixed(row, "")
}

/// A connection whose columns carry `prefix` in `row` (`c_id`, ...), as where a join returns
/// them beside another table's.
pub(crate) fn connection_prefixed(row: &PgRow, prefix: &str) -> StoreResult<Connection> {
    let col = |name: &'static str| -> Cow<'static, str> {
        if prefix.is_empty() {
            Cow::Borrowed(name)
        } else {
            Cow::Owned(format!("{prefix}{name}"))
        }
    };
    Ok(Connection {
        id: ConnectionId(row.uuid(&col("id"))?),
        tenant_id: TenantId(row.uuid(&col("tenant_id"))?),
        end_user_id: EndUserId(row.uuid(&col("end_user_id"))?),
        zoom_app_id: ZoomAppId(row.uuid(&col("zoom_app_id"))?),
        state: row.parsed(&col("state"))?,
        state_reason: row.opt_text(&col("state_reason"))?,
        zoom_user_id: row.opt_text(&col("zoom_user_id"))?,
        zoom_account_id: row.opt_text(&col("zoom_account_id"))?,
        zoom_email: row.opt_text(&col("zoom_email"))?,
        scopes: row.text(&col("scopes"))?,
        api_url: row.text(&col("api_url"))?,
        access_token: row.opt_sealed(&col("access_token"))?,
        access_expires_at: row.opt_time(&col("access_expires_at"))?,
        refresh_token: row.opt_sealed(&col("refresh_token"))?,
        version: row.int(&col("version"))?,
        refresh_started_at: row.opt_time(&col("refresh_started_at"))?,
        refresh_failures: row.int32(&col("refresh_failures"))?,
        next_refresh_at: row.opt_time(&col("next_refresh_at"))?,
        last_refreshed_at: row.opt_time(&col("last_refreshed_at"))?,
        connected_at: row.opt_time(&col("connected_at"))?,
        created_at: row.time(&col("created_at"))?,
        updated_at: row.time(&col("updated_at"))?,
    })
}

const SUPERSEDED_REASON: &str = "replaced by a newer grant of the same Zoom user";

#[async_trait::async_trait]
impl ConnectionStore for PgStore {
    async fn get_connection(
        &self,
        tenant: TenantId,
        cid: ConnectionId,
    ) -> StoreResult<Option<Connection>> {
        sqlx::query(concat!(
            "SELECT ",
            connection_cols!(),
            " FROM connections WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(id(tenant.0))
        .bind(id(cid.0))
        .fetch_optional(&self.pool)
        .await
        .or_store("connection")?
        .as_ref()
        .map(connection)
        .transpose()
    }

    async fn find_connection(
        &self,
        tenant: TenantId,
        end_user: EndUserId,
        app: ZoomAppId,
    ) -> StoreResult<Option<Connection>> {
        sqlx::query(concat!(
            "SELECT ",
            connection_cols!(),
            " FROM connections WHERE tenant_id = $1 AND end_user_id = $2 AND zoom_app_id = $3"
        ))
        .bind(id(tenant.0))
        .bind(id(end_user.0))
        .bind(id(app.0))
        .fetch_optional(&self.pool)
        .await
        .or_store("connection")?
        .as_ref()
        .map(connection)
        .transpose()
    }

    async fn list_user_connections(
        &self,
        tenant: TenantId,
        end_user: EndUserId,
    ) -> StoreResult<Vec<Connection>> {
        sqlx::query(concat!(
            "SELECT ",
            connection_cols!(),
            " FROM connections WHERE tenant_id = $1 AND end_user_id = $2 ORDER BY id"
        ))
        .bind(id(tenant.0))
        .bind(id(end_user.0))
        .fetch_all(&self.pool)
        .await
        .or_store("connection")?
        .iter()
        .map(connection)
        .collect()
    }

    async fn list_connections_of_external_user(
        &self,
        tenant: TenantId,
        external_id: &str,
    ) -> StoreResult<Vec<Connection>> {
        sqlx::query(concat!(
            "SELECT ",
            connection_cols!(),
            " FROM connections WHERE tenant_id = $1 AND end_user_id = \
             (SELECT id FROM end_users WHERE tenant_id = $1 AND external_id = $2) ORDER BY id"
        ))
        .bind(id(tenant.0))
        .bind(external_id)
        .fetch_all(&self.pool)
        .await
        .or_store("connection")?
        .iter()
        .map(connection)
        .collect()
    }

    async fn list_connections(
        &self,
        tenant: TenantId,
        state: Option<ConnectionState>,
        after: Option<ConnectionId>,
        limit: u32,
    ) -> StoreResult<Vec<Connection>> {
        sqlx::query(concat!(
            "SELECT ",
            connection_cols!(),
            " FROM connections WHERE tenant_id = $1 AND ($2 IS NULL OR state = $2)
              AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4"
        ))
        .bind(id(tenant.0))
        .bind(state.map(|s| s.as_str()))
        .bind(opt_id(after.map(|a| a.0)))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .or_store("connection")?
        .iter()
        .map(connection)
        .collect()
    }

    /// Rows in every state: a deauthorization replayed after the connection was ended must
    /// still find it (and see there is nothing left to do).
    async fn find_connections_by_zoom_user(
        &self,
        app: ZoomAppId,
        zoom_user_id: &str,
    ) -> StoreResult<Vec<Connection>> {
        sqlx::query(concat!(
            "SELECT ",
            connection_cols!(),
            " FROM connections WHERE zoom_app_id = $1 AND zoom_user_id = $2 ORDER BY id"
        ))
        .bind(id(app.0))
        .bind(zoom_user_id)
        .fetch_all(&self.pool)
        .await
        .or_store("connection")?
        .iter()
        .map(connection)
        .collect()
    }

    /// On reconnect, `grant.id` must be the existing row's id (the tokens are sealed for it);
    /// a different id is refused with `Conflict` so that two racing first connects cannot leave
    /// tokens sealed for an id that lost. Only `connected` and `needs_reauth` rows are
    /// superseded; a revoked row keeps its state.
    #[tracing::instrument(skip_all, fields(tenant = %grant.tenant_id, connection = %grant.id))]
    async fn save_grant(
        &self,
        grant: &NewGrant,
        supersede: &[ConnectionId],
        effects: Effects,
    ) -> StoreResult<Connection> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(concat!(
            "INSERT INTO connections (id, tenant_id, end_user_id, zoom_app_id, state,
                zoom_user_id, zoom_account_id, zoom_email, scopes, api_url, access_token,
                access_expires_at, refresh_token, version, refresh_failures, next_refresh_at,
                last_refreshed_at, connected_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 'connected', $5, $6, $7, $8, $9, $10, $11, $12, 1, 0, $13,
                $14, $14, $14, $14)
             ON CONFLICT (end_user_id, zoom_app_id) DO UPDATE SET
                state = 'connected', state_reason = NULL,
                zoom_user_id = excluded.zoom_user_id, zoom_account_id = excluded.zoom_account_id,
                zoom_email = excluded.zoom_email, scopes = excluded.scopes,
                api_url = excluded.api_url, access_token = excluded.access_token,
                access_expires_at = excluded.access_expires_at,
                refresh_token = excluded.refresh_token, version = connections.version + 1,
                refresh_started_at = NULL, refresh_failures = 0,
                next_refresh_at = excluded.next_refresh_at,
                last_refreshed_at = excluded.last_refreshed_at,
                connected_at = excluded.connected_at, updated_at = excluded.updated_at
             WHERE connections.id = excluded.id AND connections.tenant_id = excluded.tenant_id
             RETURNING ",
            connection_cols!()
        ))
        .bind(id(grant.id.0))
        .bind(id(grant.tenant_id.0))
        .bind(id(grant.end_user_id.0))
        .bind(id(grant.zoom_app_id.0))
        .bind(&grant.zoom_user_id)
        .bind(&grant.zoom_account_id)
        .bind(&grant.zoom_email)
        .bind(&grant.scopes)
        .bind(&grant.api_url)
        .bind(&grant.access_token.0)
        .bind(ts(grant.access_expires_at))
        .bind(grant.refresh_token.as_ref().map(|t| &t.0))
        .bind(opt_ts(grant.next_refresh_at))
        .bind(ts(grant.now))
        .fetch_optional(&mut *tx)
        .await
        .or_store("connection")?
        .ok_or(StoreError::Conflict { what: "connection" })?;
        let saved = connection(&row)?;

        let others: Vec<uuid::Uuid> = supersede
            .iter()
            .filter(|c| **c != saved.id)
            .map(|c| c.0)
            .collect();
        if !others.is_empty() {
            sqlx::query(
                "UPDATE connections SET state = 'superseded', state_reason = $2,
                    access_token = NULL, refresh_token = NULL, access_expires_at = NULL,
                    refresh_started_at = NULL, next_refresh_at = NULL, version = version + 1,
                    updated_at = $3
                 WHERE id = ANY($1) AND state IN ('connected', 'needs_reauth')",
            )
            .bind(others)
            .bind(SUPERSEDED_REASON)
            .bind(ts(grant.now))
            .execute(&mut *tx)
            .await
            .or_store("connection")?;
        }
        if let Some(session) = grant.connect_session {
            let used = sqlx::query(
                "UPDATE connect_sessions SET completed_at = coalesce(completed_at, $2)
                 WHERE id = $1 AND tenant_id = $3 AND end_user_id = $4",
            )
            .bind(id(session.0))
            .bind(ts(grant.now))
            .bind(id(grant.tenant_id.0))
            .bind(id(grant.end_user_id.0))
            .execute(&mut *tx)
            .await
            .or_store("connect session")?;
            if used.rows_affected() == 0 {
                // Purged meanwhile: the grant matters more than marking a gone link.
                tracing::warn!(session = %session, "the grant's connect link is gone");
            }
        }

        effects::write(&mut tx, &effects).await?;
        tx.commit().await.or_store("transaction")?;
        Ok(saved)
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %cid, state = %state))]
    #[allow(clippy::too_many_arguments)]
    async fn end_connection(
        &self,
        tenant: TenantId,
        cid: ConnectionId,
        state: ConnectionState,
        reason: &str,
        purge_zoom_data: bool,
        now: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<Option<Connection>> {
        let mut tx = self.begin_write().await?;
        // zoom_user_id and zoom_account_id stay even when purging: a replayed deauthorization
        // must still find the row.
        let row = sqlx::query(concat!(
            "UPDATE connections SET state = $3, state_reason = $4, access_token = NULL,
                refresh_token = NULL, access_expires_at = NULL, refresh_started_at = NULL,
                next_refresh_at = NULL, version = version + 1, updated_at = $6,
                zoom_email = CASE WHEN $5 THEN NULL ELSE zoom_email END
             WHERE tenant_id = $1 AND id = $2 RETURNING ",
            connection_cols!()
        ))
        .bind(id(tenant.0))
        .bind(id(cid.0))
        .bind(state.as_str())
        .bind(reason)
        .bind(purge_zoom_data)
        .bind(ts(now))
        .fetch_optional(&mut *tx)
        .await
        .or_store("connection")?;
        let Some(row) = row else {
            return Ok(None);
        };
        let ended = connection(&row)?;
        effects::write(&mut tx, &effects).await?;
        tx.commit().await.or_store("transaction")?;
        Ok(Some(ended))
    }

    #[tracing::instrument(skip_all, fields(connection = %cid))]
    async fn lock_for_refresh(&self, cid: ConnectionId) -> StoreResult<Box<dyn RefreshLock>> {
        Ok(Box::new(PgRefreshLock::acquire(self, cid).await?))
    }

    #[tracing::instrument(skip_all, fields(connection = %cid))]
    async fn store_refreshed_after_lost_lock(
        &self,
        cid: ConnectionId,
        expected_version: i64,
        tokens: &RefreshedTokens,
        now: OffsetDateTime,
    ) -> StoreResult<Connection> {
        let mut conn = self.pool.acquire().await.or_store("connection")?;
        store_refreshed_on(&mut conn, cid, expected_version, tokens, now).await
    }

    #[tracing::instrument(skip_all)]
    async fn claim_due_refreshes(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
        limit: u32,
    ) -> StoreResult<Vec<(TenantId, ConnectionId)>> {
        // Rows another claimer has locked are skipped, not waited for: concurrent claimers
        // take disjoint batches, and the lease keeps them apart after commit. The selection is
        // materialized so that it runs once: as a subquery of the UPDATE the planner may re-run
        // it and update more rows than the limit.
        let rows = sqlx::query(
            "WITH due AS MATERIALIZED (
                SELECT id FROM connections
                WHERE state = 'connected' AND next_refresh_at <= $1
                ORDER BY next_refresh_at LIMIT $3
                FOR UPDATE SKIP LOCKED
             )
             UPDATE connections c SET next_refresh_at = $2 FROM due
             WHERE c.id = due.id
             RETURNING c.tenant_id, c.id",
        )
        .bind(ts(now))
        .bind(ts(now.saturating_add(lease)))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .or_store("connection")?;
        rows.iter()
            .map(|r| Ok((TenantId(r.uuid("tenant_id")?), ConnectionId(r.uuid("id")?))))
            .collect()
    }
}
