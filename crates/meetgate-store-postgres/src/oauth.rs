use meetgate_store::models::{ConnectSession, OAuthAttempt, StateLookup, ZoomApp};
use meetgate_store::{
    ConnectSessionId, Effects, EndUserId, OAuthAttemptId, OAuthStore, OffsetDateTime, StoreError,
    StoreResult, TenantId, ZoomAppId,
};
use sqlx::postgres::PgRow;

use crate::PgStore;
use crate::convert::{RowExt, id, opt_id, opt_ts, ts};
use crate::effects;
use crate::errors::OrStore;

macro_rules! zoom_app_cols {
    () => {
        "id, tenant_id, name, app_type, client_id, client_secret, account_id, scopes, \
         redirect_uri, webhook_secret, webhook_secret_next, auth_base_url, api_base_url, created_at"
    };
}

macro_rules! connect_session_cols {
    () => {
        "id, tenant_id, end_user_id, zoom_app_id, token_hash, return_url, created_at, expires_at, \
         completed_at"
    };
}

macro_rules! attempt_cols {
    () => {
        "id, tenant_id, connect_session_id, end_user_id, zoom_app_id, state_hash, browser_hash, \
         pkce_verifier, return_url, created_at, expires_at, consumed_at"
    };
}

fn zoom_app(row: &PgRow) -> StoreResult<ZoomApp> {
    Ok(ZoomApp {
        id: ZoomAppId(row.uuid("id")?),
        tenant_id: row.opt_uuid("tenant_id")?.map(TenantId),
        name: row.text("name")?,
        app_type: row.parsed("app_type")?,
        client_id: row.text("client_id")?,
        client_secret: row.sealed("client_secret")?,
        account_id: row.opt_text("account_id")?,
        scopes: row.text("scopes")?,
        redirect_uri: row.text("redirect_uri")?,
        webhook_secret: row.opt_sealed("webhook_secret")?,
        webhook_secret_next: row.opt_sealed("webhook_secret_next")?,
        auth_base_url: row.text("auth_base_url")?,
        api_base_url: row.text("api_base_url")?,
        created_at: row.time("created_at")?,
    })
}

fn connect_session(row: &PgRow) -> StoreResult<ConnectSession> {
    Ok(ConnectSession {
        id: ConnectSessionId(row.uuid("id")?),
        tenant_id: TenantId(row.uuid("tenant_id")?),
        end_user_id: EndUserId(row.uuid("end_user_id")?),
        zoom_app_id: ZoomAppId(row.uuid("zoom_app_id")?),
        token_hash: row.bytes("token_hash")?,
        return_url: row.text("return_url")?,
        created_at: row.time("created_at")?,
        expires_at: row.time("expires_at")?,
        completed_at: row.opt_time("completed_at")?,
    })
}

fn attempt(row: &PgRow) -> StoreResult<OAuthAttempt> {
    Ok(OAuthAttempt {
        id: OAuthAttemptId(row.uuid("id")?),
        tenant_id: TenantId(row.uuid("tenant_id")?),
        connect_session_id: ConnectSessionId(row.uuid("connect_session_id")?),
        end_user_id: EndUserId(row.uuid("end_user_id")?),
        zoom_app_id: ZoomAppId(row.uuid("zoom_app_id")?),
        state_hash: row.bytes("state_hash")?,
        browser_hash: row.bytes("browser_hash")?,
        pkce_verifier: row.sealed("pkce_verifier")?,
        return_url: row.text("return_url")?,
        created_at: row.time("created_at")?,
        expires_at: row.time("expires_at")?,
        consumed_at: row.opt_time("consumed_at")?,
    })
}

#[async_trait::async_trait]
impl OAuthStore for PgStore {
    #[tracing::instrument(skip_all, fields(zoom_app = %app.id))]
    async fn create_zoom_app(&self, app: &ZoomApp, effects: Effects) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(concat!(
            "INSERT INTO zoom_apps (",
            zoom_app_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(id(app.id.0))
        .bind(opt_id(app.tenant_id.map(|t| t.0)))
        .bind(&app.name)
        .bind(app.app_type.as_str())
        .bind(&app.client_id)
        .bind(&app.client_secret.0)
        .bind(&app.account_id)
        .bind(&app.scopes)
        .bind(&app.redirect_uri)
        .bind(app.webhook_secret.as_ref().map(|s| &s.0))
        .bind(app.webhook_secret_next.as_ref().map(|s| &s.0))
        .bind(&app.auth_base_url)
        .bind(&app.api_base_url)
        .bind(ts(app.created_at))
        .execute(&mut *tx)
        .await
        .or_store("zoom app")?;
        effects::write(&mut tx, &effects).await?;
        tx.commit().await.or_store("transaction")
    }

    /// Updates every field but the id, the owning tenant and the creation time. The owner is part
    /// of the condition, so an app cannot be edited through another tenant's id.
    #[tracing::instrument(skip_all, fields(zoom_app = %app.id))]
    async fn update_zoom_app(&self, app: &ZoomApp, effects: Effects) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE zoom_apps SET name = $3, app_type = $4, client_id = $5, client_secret = $6,
                account_id = $7, scopes = $8, redirect_uri = $9, webhook_secret = $10,
                webhook_secret_next = $11, auth_base_url = $12, api_base_url = $13
             WHERE id = $1 AND tenant_id IS NOT DISTINCT FROM $2",
        )
        .bind(id(app.id.0))
        .bind(opt_id(app.tenant_id.map(|t| t.0)))
        .bind(&app.name)
        .bind(app.app_type.as_str())
        .bind(&app.client_id)
        .bind(&app.client_secret.0)
        .bind(&app.account_id)
        .bind(&app.scopes)
        .bind(&app.redirect_uri)
        .bind(app.webhook_secret.as_ref().map(|s| &s.0))
        .bind(app.webhook_secret_next.as_ref().map(|s| &s.0))
        .bind(&app.auth_base_url)
        .bind(&app.api_base_url)
        .execute(&mut *tx)
        .await
        .or_store("zoom app")?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "zoom app" });
        }
        effects::write(&mut tx, &effects).await?;
        tx.commit().await.or_store("transaction")
    }

    async fn get_zoom_app(&self, app: ZoomAppId) -> StoreResult<Option<ZoomApp>> {
        sqlx::query(concat!(
            "SELECT ",
            zoom_app_cols!(),
            " FROM zoom_apps WHERE id = $1"
        ))
        .bind(id(app.0))
        .fetch_optional(&self.pool)
        .await
        .or_store("zoom app")?
        .as_ref()
        .map(zoom_app)
        .transpose()
    }

    async fn list_zoom_apps_for(&self, tenant: TenantId) -> StoreResult<Vec<ZoomApp>> {
        sqlx::query(concat!(
            "SELECT ",
            zoom_app_cols!(),
            " FROM zoom_apps WHERE tenant_id = $1 OR tenant_id IS NULL ORDER BY created_at, id"
        ))
        .bind(id(tenant.0))
        .fetch_all(&self.pool)
        .await
        .or_store("zoom app")?
        .iter()
        .map(zoom_app)
        .collect()
    }

    async fn list_all_zoom_apps(&self) -> StoreResult<Vec<ZoomApp>> {
        sqlx::query(concat!(
            "SELECT ",
            zoom_app_cols!(),
            " FROM zoom_apps ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await
        .or_store("zoom app")?
        .iter()
        .map(zoom_app)
        .collect()
    }

    async fn find_zoom_apps_by_client_id(&self, client_id: &str) -> StoreResult<Vec<ZoomApp>> {
        sqlx::query(concat!(
            "SELECT ",
            zoom_app_cols!(),
            " FROM zoom_apps WHERE client_id = $1 ORDER BY created_at, id"
        ))
        .bind(client_id)
        .fetch_all(&self.pool)
        .await
        .or_store("zoom app")?
        .iter()
        .map(zoom_app)
        .collect()
    }

    async fn create_connect_session(&self, s: &ConnectSession) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO connect_sessions (",
            connect_session_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(id(s.id.0))
        .bind(id(s.tenant_id.0))
        .bind(id(s.end_user_id.0))
        .bind(id(s.zoom_app_id.0))
        .bind(&s.token_hash)
        .bind(&s.return_url)
        .bind(ts(s.created_at))
        .bind(ts(s.expires_at))
        .bind(opt_ts(s.completed_at))
        .execute(&self.pool)
        .await
        .or_store("connect session")?;
        Ok(())
    }

    async fn find_connect_session(&self, token_hash: &[u8]) -> StoreResult<Option<ConnectSession>> {
        sqlx::query(concat!(
            "SELECT ",
            connect_session_cols!(),
            " FROM connect_sessions WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .or_store("connect session")?
        .as_ref()
        .map(connect_session)
        .transpose()
    }

    async fn get_connect_session(
        &self,
        tenant: TenantId,
        sid: ConnectSessionId,
    ) -> StoreResult<Option<ConnectSession>> {
        sqlx::query(concat!(
            "SELECT ",
            connect_session_cols!(),
            " FROM connect_sessions WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(id(tenant.0))
        .bind(id(sid.0))
        .fetch_optional(&self.pool)
        .await
        .or_store("connect session")?
        .as_ref()
        .map(connect_session)
        .transpose()
    }

    async fn create_oauth_attempt(&self, a: &OAuthAttempt) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO oauth_attempts (",
            attempt_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(id(a.id.0))
        .bind(id(a.tenant_id.0))
        .bind(id(a.connect_session_id.0))
        .bind(id(a.end_user_id.0))
        .bind(id(a.zoom_app_id.0))
        .bind(&a.state_hash)
        .bind(&a.browser_hash)
        .bind(&a.pkce_verifier.0)
        .bind(&a.return_url)
        .bind(ts(a.created_at))
        .bind(ts(a.expires_at))
        .bind(opt_ts(a.consumed_at))
        .execute(&self.pool)
        .await
        .or_store("oauth attempt")?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn consume_oauth_attempt(
        &self,
        state_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<StateLookup> {
        // One statement both checks and marks, so of two racing callbacks one sees no row.
        let consumed = sqlx::query(concat!(
            "UPDATE oauth_attempts SET consumed_at = $2
             WHERE state_hash = $1 AND consumed_at IS NULL RETURNING ",
            attempt_cols!()
        ))
        .bind(state_hash)
        .bind(ts(now))
        .fetch_optional(&self.pool)
        .await
        .or_store("oauth attempt")?;
        if let Some(row) = consumed {
            return Ok(StateLookup::Consumed(Box::new(attempt(&row)?)));
        }
        let existing = sqlx::query(concat!(
            "SELECT ",
            attempt_cols!(),
            " FROM oauth_attempts WHERE state_hash = $1"
        ))
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await
        .or_store("oauth attempt")?;
        Ok(match existing {
            Some(row) => StateLookup::AlreadyUsed(Box::new(attempt(&row)?)),
            None => StateLookup::Unknown,
        })
    }

    /// Deletes attempts that expired before `before`. Consumed attempts stay until then, so that
    /// a replayed callback is still recognised as a replay.
    #[tracing::instrument(skip_all)]
    async fn purge_oauth_attempts(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM oauth_attempts WHERE expires_at < $1")
            .bind(ts(before))
            .execute(&self.pool)
            .await
            .or_store("oauth attempt")?;
        Ok(done.rows_affected())
    }

    async fn purge_connect_sessions(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM connect_sessions s WHERE expires_at < $1
               AND NOT EXISTS (SELECT 1 FROM oauth_attempts a
                               WHERE a.tenant_id = s.tenant_id AND a.connect_session_id = s.id)",
        )
        .bind(ts(before))
        .execute(&self.pool)
        .await
        .or_store("connect session")?;
        Ok(done.rows_affected())
    }
}
