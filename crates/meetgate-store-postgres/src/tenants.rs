use meetgate_store::models::{ApiKey, NewTenant, Tenant};
use meetgate_store::{
    ApiKeyId, Effects, OffsetDateTime, StoreError, StoreResult, TenantId, TenantStore,
};
use serde_json::Value;
use sqlx::postgres::PgRow;

use crate::PgStore;
use crate::convert::{RowExt, id, json, opt_ts, ts};
use crate::effects;
use crate::errors::OrStore;

macro_rules! tenant_cols {
    () => {
        "id, name, slug, settings, created_at"
    };
}

macro_rules! api_key_cols {
    () => {
        "id, tenant_id, lookup, secret_hash, label, environment, created_at, last_used_at, \
         revoked_at"
    };
}

fn tenant(row: &PgRow) -> StoreResult<Tenant> {
    Ok(Tenant {
        id: TenantId(row.uuid("id")?),
        name: row.text("name")?,
        slug: row.text("slug")?,
        settings: row.json("settings")?,
        created_at: row.time("created_at")?,
    })
}

fn api_key(row: &PgRow) -> StoreResult<ApiKey> {
    Ok(ApiKey {
        id: ApiKeyId(row.uuid("id")?),
        tenant_id: TenantId(row.uuid("tenant_id")?),
        lookup: row.text("lookup")?,
        secret_hash: row.bytes("secret_hash")?,
        label: row.text("label")?,
        environment: row.text("environment")?,
        created_at: row.time("created_at")?,
        last_used_at: row.opt_time("last_used_at")?,
        revoked_at: row.opt_time("revoked_at")?,
    })
}

#[async_trait::async_trait]
impl TenantStore for PgStore {
    #[tracing::instrument(skip_all, fields(tenant = %t.id))]
    async fn create_tenant(&self, t: &NewTenant, effects: Effects) -> StoreResult<Tenant> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(concat!(
            "INSERT INTO tenants (id, name, slug, settings, created_at) VALUES ($1, $2, $3, $4, $5) \
             RETURNING ",
            tenant_cols!()
        ))
        .bind(id(t.id.0))
        .bind(&t.name)
        .bind(&t.slug)
        .bind(json(&t.settings))
        .bind(ts(t.created_at))
        .fetch_one(&mut *tx)
        .await
        .or_store("tenant")?;
        let created = tenant(&row)?;
        effects::write(&mut tx, &effects).await?;
        tx.commit().await.or_store("transaction")?;
        Ok(created)
    }

    async fn get_tenant(&self, tid: TenantId) -> StoreResult<Option<Tenant>> {
        sqlx::query(concat!(
            "SELECT ",
            tenant_cols!(),
            " FROM tenants WHERE id = $1"
        ))
        .bind(id(tid.0))
        .fetch_optional(&self.pool)
        .await
        .or_store("tenant")?
        .as_ref()
        .map(tenant)
        .transpose()
    }

    async fn get_tenant_by_slug(&self, slug: &str) -> StoreResult<Option<Tenant>> {
        sqlx::query(concat!(
            "SELECT ",
            tenant_cols!(),
            " FROM tenants WHERE slug = $1"
        ))
        .bind(slug)
        .fetch_optional(&self.pool)
        .await
        .or_store("tenant")?
        .as_ref()
        .map(tenant)
        .transpose()
    }

    async fn list_tenants(&self) -> StoreResult<Vec<Tenant>> {
        sqlx::query(concat!(
            "SELECT ",
            tenant_cols!(),
            " FROM tenants ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await
        .or_store("tenant")?
        .iter()
        .map(tenant)
        .collect()
    }

    #[tracing::instrument(skip_all, fields(tenant = %tid))]
    async fn update_tenant_settings(
        &self,
        tid: TenantId,
        settings: &Value,
        effects: Effects,
    ) -> StoreResult<Tenant> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(concat!(
            "UPDATE tenants SET settings = $2 WHERE id = $1 RETURNING ",
            tenant_cols!()
        ))
        .bind(id(tid.0))
        .bind(json(settings))
        .fetch_optional(&mut *tx)
        .await
        .or_store("tenant")?
        .ok_or(StoreError::NotFound { what: "tenant" })?;
        let updated = tenant(&row)?;
        effects::write(&mut tx, &effects).await?;
        tx.commit().await.or_store("transaction")?;
        Ok(updated)
    }

    #[tracing::instrument(skip_all, fields(tenant = %key.tenant_id))]
    async fn create_api_key(
        &self,
        key: &ApiKey,
        max_active: u32,
        effects: Effects,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        // Locking the tenant's row makes a concurrent creation wait and then count this key.
        // `NO KEY`: the foreign-key checks of the tenant's other writes are not held up.
        sqlx::query("SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE")
            .bind(id(key.tenant_id.0))
            .fetch_optional(&mut *tx)
            .await
            .or_store("tenant")?;
        let done = sqlx::query(concat!(
            "INSERT INTO api_keys (",
            api_key_cols!(),
            ") SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE (SELECT count(*) FROM api_keys \
             WHERE tenant_id = $2 AND revoked_at IS NULL) < $10"
        ))
        .bind(id(key.id.0))
        .bind(id(key.tenant_id.0))
        .bind(&key.lookup)
        .bind(&key.secret_hash)
        .bind(&key.label)
        .bind(&key.environment)
        .bind(ts(key.created_at))
        .bind(opt_ts(key.last_used_at))
        .bind(opt_ts(key.revoked_at))
        .bind(i64::from(max_active))
        .execute(&mut *tx)
        .await
        .or_store("api key")?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Precondition {
                what: "API key limit",
            });
        }
        effects::write(&mut tx, &effects).await?;
        tx.commit().await.or_store("transaction")
    }

    async fn find_api_key(&self, lookup: &str) -> StoreResult<Option<ApiKey>> {
        sqlx::query(concat!(
            "SELECT ",
            api_key_cols!(),
            " FROM api_keys WHERE lookup = $1"
        ))
        .bind(lookup)
        .fetch_optional(&self.pool)
        .await
        .or_store("api key")?
        .as_ref()
        .map(api_key)
        .transpose()
    }

    async fn list_api_keys(&self, tenant: TenantId) -> StoreResult<Vec<ApiKey>> {
        sqlx::query(concat!(
            "SELECT ",
            api_key_cols!(),
            " FROM api_keys WHERE tenant_id = $1 ORDER BY id"
        ))
        .bind(id(tenant.0))
        .fetch_all(&self.pool)
        .await
        .or_store("api key")?
        .iter()
        .map(api_key)
        .collect()
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, api_key = %key))]
    async fn revoke_api_key(
        &self,
        tenant: TenantId,
        key: ApiKeyId,
        now: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $3
             WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
        )
        .bind(id(tenant.0))
        .bind(id(key.0))
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .or_store("api key")?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        effects::write(&mut tx, &effects).await?;
        tx.commit().await.or_store("transaction")?;
        Ok(true)
    }

    async fn touch_api_key(&self, key: ApiKeyId, now: OffsetDateTime) -> StoreResult<()> {
        // Skipping rows already touched at this time or later keeps concurrent requests of one
        // key from rewriting the row over and over.
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $2
             WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
        )
        .bind(id(key.0))
        .bind(ts(now))
        .execute(&self.pool)
        .await
        .or_store("api key")?;
        Ok(())
    }
}
