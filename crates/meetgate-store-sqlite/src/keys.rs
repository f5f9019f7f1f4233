use meetgate_store::models::{KeyFingerprint, SealedCell};
use meetgate_store::{KeyStore, SealedColumn, SealedValue, StoreError, StoreResult, TenantId};

use crate::SqliteStore;
use crate::convert::{RowExt, ts};
use crate::errors::OrStore;
use crate::sql::query;

/// The statements for one sealed column. Table and column names come from
/// [`SealedColumn::location`], never from input, so formatting them into SQL is safe.
fn cells_sql(column: SealedColumn) -> (String, String) {
    let (table, col) = column.location();
    // The inbox belongs to a Zoom app, not a tenant.
    let tenant = if table == "zoom_inbox" {
        "NULL"
    } else {
        "tenant_id"
    };
    let select = format!(
        "SELECT id, {tenant} AS tenant_id, {col} AS value FROM {table}
         WHERE {col} IS NOT NULL AND ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2"
    );
    let replace = format!("UPDATE {table} SET {col} = $3 WHERE id = $1 AND {col} = $2");
    (select, replace)
}

/// Row ids are lowercase hyphenated UUIDs; normalising the cursor keeps text order right even
/// when a caller hands one back in another spelling.
fn normalize_row_id(row_id: &str) -> StoreResult<String> {
    uuid::Uuid::parse_str(row_id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|e| StoreError::Database(format!("row id is not a UUID: {e}")))
}

#[async_trait::async_trait]
impl KeyStore for SqliteStore {
    async fn list_key_fingerprints(&self) -> StoreResult<Vec<KeyFingerprint>> {
        query(
            "SELECT key_id, fingerprint, created_at FROM key_fingerprints
             ORDER BY created_at, key_id",
        )
        .fetch_all(&self.reader)
        .await
        .or_store("key fingerprint")?
        .iter()
        .map(|r| {
            Ok(KeyFingerprint {
                key_id: r.text("key_id")?,
                fingerprint: r.text("fingerprint")?,
                created_at: r.time("created_at")?,
            })
        })
        .collect()
    }

    /// Recording the same key again is a no-op; the same id with another fingerprint is a
    /// `Conflict`.
    #[tracing::instrument(skip_all, fields(key_id = %key.key_id))]
    async fn record_key_fingerprint(&self, key: &KeyFingerprint) -> StoreResult<()> {
        let key = key.to_owned();
        self.write(move |tx| {
            query(
                "INSERT INTO key_fingerprints (key_id, fingerprint, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (key_id) DO NOTHING",
            )
            .bind(&key.key_id)
            .bind(&key.fingerprint)
            .bind(ts(key.created_at))
            .run(tx)
            .or_store("key fingerprint")?;
            let stored: String =
                query("SELECT fingerprint FROM key_fingerprints WHERE key_id = $1")
                    .bind(&key.key_id)
                    .one(tx)
                    .or_store("key fingerprint")?
                    .text("fingerprint")?;
            if stored != key.fingerprint {
                return Err(StoreError::Conflict {
                    what: "key fingerprint",
                });
            }
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(column = ?column))]
    async fn sealed_cells(
        &self,
        column: SealedColumn,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<SealedCell>> {
        let after = after.map(normalize_row_id).transpose()?;
        let (select, _) = cells_sql(column);
        query(select)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .or_store("sealed cell")?
            .iter()
            .map(|r| {
                Ok(SealedCell {
                    column,
                    row_id: r.text("id")?,
                    tenant_id: r.opt_uuid("tenant_id")?.map(TenantId),
                    value: r.sealed("value")?,
                })
            })
            .collect()
    }

    #[tracing::instrument(skip_all, fields(column = ?column))]
    async fn replace_sealed_cell(
        &self,
        column: SealedColumn,
        row_id: &str,
        old: &SealedValue,
        new: &SealedValue,
    ) -> StoreResult<bool> {
        let row_id = normalize_row_id(row_id)?;
        let (_, replace) = cells_sql(column);
        let done = query(replace)
            .bind(row_id)
            .bind(&old.0)
            .bind(&new.0)
            .execute(&self.writer)
            .await
            .or_store("sealed cell")?;
        Ok(done.rows_affected() == 1)
    }
}
