use meetgate_store::models::{Connection, ConnectionState, NewGrant, RefreshedTokens};
use meetgate_store::{
    ConnectionId, ConnectionStore, Effects, EndUserId, OffsetDateTime, RefreshLock, StoreError,
    StoreResult, TenantId, ZoomAppId,
};

use crate::SqliteStore;
use crate::convert::{RowExt, id, opt_id, opt_ts, ts};
use crate::effects;
use crate::errors::OrStore;
use crate::refresh_lock::{SqliteRefreshLock, store_refreshed};
use crate::sql::{QueryBuilder, Row, query};

macro_rules! connection_cols {
    () => {
        "id, tenant_id, end_user_id, zoom_app_id, state, state_reason, zoom_user_id, \
         zoom_account_id, zoom_email, scopes, api_url, access_token, access_expires_at, \
         refresh_token, version, refresh_started_at, refresh_failures, next_refresh_at, \
         last_refreshed_at, connected_at, created_at, updated_at"
    };
}
pub(crate) use connection_cols;

pub(crate) fn connection(row: &Row) -> StoreResult<Connection> {
    Ok(Connection {
        id: ConnectionId(row.uuid("id")?),
        tenant_id: TenantId(row.uuid("tenant_id")?),
        end_user_id: EndUserId(row.uuid("end_user_id")?),
        zoom_app_id: ZoomAppId(row.uuid("zoom_app_id")?),
        state: row.parsed("state")?,
        state_reason: row.opt_text("state_reason")?,
        zoom_user_id: row.opt_text("zoom_user_id")?,
        zoom_account_id: row.opt_text("zoom_account_id")?,
        zoom_email: row.opt_text("zoom_email")?,
        scopes: row.text("scopes")?,
        api_url: row.text("api_url")?,
        access_token: row.opt_sealed("access_token")?,
        access_expires_at: row.opt_time("access_expires_at")?,
        refresh_token: row.opt_sealed("refresh_token")?,
        version: row.int("version")?,
        refresh_started_at: row.opt_time("refresh_started_at")?,
        refresh_failures: row.int32("refresh_failures")?,
        next_refresh_at: row.opt_time("next_refresh_at")?,
        last_refreshed_at: row.opt_time("last_refreshed_at")?,
        connected_at: row.opt_time("connected_at")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

const SUPERSEDED_REASON: &str = "replaced by a newer grant of the same Zoom user";

#[async_trait::async_trait]
impl ConnectionStore for SqliteStore {
    async fn get_connection(
        &self,
        tenant: TenantId,
        cid: ConnectionId,
    ) -> StoreResult<Option<Connection>> {
        query(concat!(
            "SELECT ",
            connection_cols!(),
            " FROM connections WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(id(tenant.0))
        .bind(id(cid.0))
        .fetch_optional_now(&self.reader)
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
        query(concat!(
            "SELECT ",
            connection_cols!(),
            " FROM connections WHERE tenant_id = $1 AND end_user_id = $2 AND zoom_app_id = $3"
        ))
        .bind(id(tenant.0))
        .bind(id(end_user.0))
        .bind(id(app.0))
        .fetch_optional_now(&self.reader)
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
        query(concat!(
            "SELECT ",
            connection_cols!(),
            " FROM connections WHERE tenant_id = $1 AND end_user_id = $2 ORDER BY id"
        ))
        .bind(id(tenant.0))
        .bind(id(end_user.0))
        .fetch_all_now(&self.reader)
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
        query(concat!(
            "SELECT ",
            connection_cols!(),
            " FROM connections WHERE tenant_id = $1 AND end_user_id = \
             (SELECT id FROM end_users WHERE tenant_id = $1 AND external_id = $2) ORDER BY id"
        ))
        .bind(id(tenant.0))
        .bind(external_id)
        .fetch_all_now(&self.reader)
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
        query(concat!(
            "SELECT ",
            connection_cols!(),
            " FROM connections WHERE tenant_id = $1 AND ($2 IS NULL OR state = $2)
              AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4"
        ))
        .bind(id(tenant.0))
        .bind(state.map(|s| s.as_str()))
        .bind(opt_id(after.map(|a| a.0)))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
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
        query(concat!(
            "SELECT ",
            connection_cols!(),
            " FROM connections WHERE zoom_app_id = $1 AND zoom_user_id = $2 ORDER BY id"
        ))
        .bind(id(app.0))
        .bind(zoom_user_id)
        .fetch_all_now(&self.reader)
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
        let supersede = supersede.to_owned();
        let grant = grant.to_owned();
        self.write(move |tx| {
            let row = query(concat!(
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
            .optional(tx)
            .or_store("connection")?
            .ok_or(StoreError::Conflict { what: "connection" })?;
            let saved = connection(&row)?;

            let others: Vec<String> = supersede
                .iter()
                .filter(|c| **c != saved.id)
                .map(|c| id(c.0))
                .collect();
            if !others.is_empty() {
                let mut qb = QueryBuilder::new(
                    "UPDATE connections SET state = 'superseded', state_reason = ",
                );
                qb.push_bind(SUPERSEDED_REASON)
                    .push(
                        ", access_token = NULL, refresh_token = NULL, access_expires_at = NULL, \
                         refresh_started_at = NULL, next_refresh_at = NULL, version = version + 1, \
                         updated_at = ",
                    )
                    .push_bind(ts(grant.now))
                    .push(" WHERE state IN ('connected', 'needs_reauth') AND id IN (");
                let mut list = qb.separated(", ");
                for other in others {
                    list.push_bind(other);
                }
                qb.push(")");
                qb.build().run(tx).or_store("connection")?;
            }
            if let Some(session) = grant.connect_session {
                let used = query(
                    "UPDATE connect_sessions SET completed_at = coalesce(completed_at, $2)
                     WHERE id = $1 AND tenant_id = $3 AND end_user_id = $4",
                )
                .bind(id(session.0))
                .bind(ts(grant.now))
                .bind(id(grant.tenant_id.0))
                .bind(id(grant.end_user_id.0))
                .run(tx)
                .or_store("connect session")?;
                if used.rows_affected() == 0 {
                    // Purged meanwhile: the grant matters more than marking a gone link.
                    tracing::warn!(session = %session, "the grant's connect link is gone");
                }
            }

            effects::write(tx, &effects)?;
            Ok(saved)
        })
        .await
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
        let reason = reason.to_owned();
        self.write(move |tx| {
            // zoom_user_id and zoom_account_id stay even when purging: a replayed deauthorization
            // must still find the row.
            let row = query(concat!(
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
            .bind(&reason)
            .bind(purge_zoom_data)
            .bind(ts(now))
            .optional(tx)
            .or_store("connection")?;
            let Some(row) = row else {
                return Ok(None);
            };
            let ended = connection(&row)?;
            effects::write(tx, &effects)?;
            Ok(Some(ended))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(connection = %cid))]
    async fn lock_for_refresh(&self, cid: ConnectionId) -> StoreResult<Box<dyn RefreshLock>> {
        let guard = self.refresh_locks.lock(cid.0).await;
        Ok(Box::new(SqliteRefreshLock::new(self.clone(), cid, guard)))
    }

    #[tracing::instrument(skip_all, fields(connection = %cid))]
    async fn store_refreshed_after_lost_lock(
        &self,
        cid: ConnectionId,
        expected_version: i64,
        tokens: &RefreshedTokens,
        now: OffsetDateTime,
    ) -> StoreResult<Connection> {
        store_refreshed(self, cid, expected_version, tokens, now, Effects::none()).await
    }

    #[tracing::instrument(skip_all)]
    async fn claim_due_refreshes(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
        limit: u32,
    ) -> StoreResult<Vec<(TenantId, ConnectionId)>> {
        // A single statement on the one writer connection: select and lease happen atomically.
        let rows = query(
            "UPDATE connections SET next_refresh_at = $2
             WHERE id IN (SELECT id FROM connections
                          WHERE state = 'connected' AND next_refresh_at <= $1
                          ORDER BY next_refresh_at LIMIT $3)
             RETURNING tenant_id, id",
        )
        .bind(ts(now))
        .bind(ts(now.saturating_add(lease)))
        .bind(i64::from(limit))
        .fetch_all(&self.writer)
        .await
        .or_store("connection")?;
        rows.iter()
            .map(|r| Ok((TenantId(r.uuid("tenant_id")?), ConnectionId(r.uuid("id")?))))
            .collect()
    }
}
