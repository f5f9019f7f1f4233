//! The refresh lock: an in-process mutex per connection, held for as long as the holder works.
//! Every write still compares and swaps on the row's version, so a writer that lost (to
//! `end_connection`, `save_grant` or a lock it should not have had) cannot overwrite newer state.

use meetgate_store::models::{Connection, ConnectionState, RefreshedTokens};
use meetgate_store::{ConnectionId, Effects, OffsetDateTime, RefreshLock, StoreError, StoreResult};

use crate::SqliteStore;
use crate::connections::{connection, connection_cols};
use crate::convert::{id, opt_ts, ts};
use crate::effects;
use crate::errors::OrStore;
use crate::keyed_lock::KeyedGuard;
use crate::sql::query;

#[derive(Debug)]
pub(crate) struct SqliteRefreshLock {
    store: SqliteStore,
    id: ConnectionId,
    _guard: KeyedGuard<uuid::Uuid>,
}

impl SqliteRefreshLock {
    pub(crate) fn new(store: SqliteStore, id: ConnectionId, guard: KeyedGuard<uuid::Uuid>) -> Self {
        Self {
            store,
            id,
            _guard: guard,
        }
    }
}

/// Tells a lost compare-and-swap from a row that is gone.
fn lost(conn: &rusqlite::Connection, cid: ConnectionId) -> StoreError {
    match query("SELECT 1 FROM connections WHERE id = $1")
        .bind(id(cid.0))
        .optional(conn)
        .or_store("connection")
    {
        Ok(Some(_)) => StoreError::VersionConflict { what: "connection" },
        Ok(None) => StoreError::NotFound { what: "connection" },
        Err(e) => e,
    }
}

/// Stores refreshed tokens and `effects` in one transaction, if the version still matches.
pub(crate) async fn store_refreshed(
    store: &SqliteStore,
    cid: ConnectionId,
    expected_version: i64,
    tokens: &RefreshedTokens,
    now: OffsetDateTime,
    effects: Effects,
) -> StoreResult<Connection> {
    let tokens = tokens.to_owned();
    store
        .write(move |tx| {
            // A missing refresh token keeps the stored one: wiping it would strand the grant.
            let row = query(concat!(
                "UPDATE connections SET access_token = $3, access_expires_at = $4,
                refresh_token = coalesce($5, refresh_token), scopes = coalesce($6, scopes),
                api_url = coalesce($7, api_url), next_refresh_at = $8, version = version + 1,
                refresh_started_at = NULL, refresh_failures = 0, last_refreshed_at = $9,
                updated_at = $9
             WHERE id = $1 AND version = $2 RETURNING ",
                connection_cols!()
            ))
            .bind(id(cid.0))
            .bind(expected_version)
            .bind(&tokens.access_token.0)
            .bind(ts(tokens.access_expires_at))
            .bind(tokens.refresh_token.as_ref().map(|t| &t.0))
            .bind(&tokens.scopes)
            .bind(&tokens.api_url)
            .bind(opt_ts(tokens.next_refresh_at))
            .bind(ts(now))
            .optional(tx)
            .or_store("connection")?;
            let Some(row) = row else {
                return Err(lost(tx, cid));
            };
            let saved = connection(&row)?;
            effects::write(tx, &effects)?;
            Ok(saved)
        })
        .await
}

#[async_trait::async_trait]
impl RefreshLock for SqliteRefreshLock {
    async fn reread(&mut self) -> StoreResult<Option<Connection>> {
        query(concat!(
            "SELECT ",
            connection_cols!(),
            " FROM connections WHERE id = $1"
        ))
        .bind(id(self.id.0))
        .fetch_optional_now(&self.store.reader)
        .await
        .or_store("connection")?
        .as_ref()
        .map(connection)
        .transpose()
    }

    #[tracing::instrument(skip_all, fields(connection = %self.id))]
    async fn mark_refresh_started(
        &mut self,
        expected_version: i64,
        now: OffsetDateTime,
        live_after: OffsetDateTime,
    ) -> StoreResult<()> {
        let cid = self.id;
        let update = query(
            "UPDATE connections SET refresh_started_at = $3, updated_at = $3
             WHERE id = $1 AND version = $2
               AND (refresh_started_at IS NULL OR updated_at <> refresh_started_at
                    OR refresh_started_at <= $4)",
        )
        .bind(id(cid.0))
        .bind(expected_version)
        .bind(ts(now))
        .bind(ts(live_after));
        self.store
            .write(move |tx| {
                if update.run(tx).or_store("connection")?.rows_affected() == 0 {
                    return Err(lost(tx, cid));
                }
                Ok(())
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(connection = %self.id))]
    async fn store_refreshed(
        &mut self,
        expected_version: i64,
        tokens: &RefreshedTokens,
        now: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<Connection> {
        store_refreshed(&self.store, self.id, expected_version, tokens, now, effects).await
    }

    #[tracing::instrument(skip_all, fields(connection = %self.id))]
    async fn record_refresh_failure(
        &mut self,
        expected_version: i64,
        next_refresh_at: OffsetDateTime,
        keep_marker: bool,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let cid = self.id;
        let update = query(
            "UPDATE connections SET refresh_failures = refresh_failures + 1,
                next_refresh_at = $3,
                refresh_started_at = CASE WHEN $4 THEN refresh_started_at ELSE NULL END,
                updated_at = $5
             WHERE id = $1 AND version = $2",
        )
        .bind(id(self.id.0))
        .bind(expected_version)
        .bind(ts(next_refresh_at))
        .bind(keep_marker)
        .bind(ts(now));
        self.store
            .write(move |tx| {
                if update.run(tx).or_store("connection")?.rows_affected() == 0 {
                    return Err(lost(tx, cid));
                }
                Ok(())
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(connection = %self.id, state = %state))]
    async fn mark_dead(
        &mut self,
        expected_version: i64,
        state: ConnectionState,
        reason: &str,
        now: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<Connection> {
        let cid = self.id;
        let reason = reason.to_owned();
        self.store
            .write(move |tx| {
                let row = query(concat!(
                    "UPDATE connections SET state = $3, state_reason = $4, access_token = NULL,
                    refresh_token = NULL, access_expires_at = NULL, refresh_started_at = NULL,
                    next_refresh_at = NULL, version = version + 1, updated_at = $5
                 WHERE id = $1 AND version = $2 RETURNING ",
                    connection_cols!()
                ))
                .bind(id(cid.0))
                .bind(expected_version)
                .bind(state.as_str())
                .bind(&reason)
                .bind(ts(now))
                .optional(tx)
                .or_store("connection")?;
                let Some(row) = row else {
                    return Err(lost(tx, cid));
                };
                let dead = connection(&row)?;
                effects::write(tx, &effects)?;
                Ok(dead)
            })
            .await
    }

    async fn release(self: Box<Self>) -> StoreResult<()> {
        // Dropping the guard unlocks; there is no database state to undo.
        drop(self);
        Ok(())
    }
}
