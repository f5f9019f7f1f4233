//! Opens the store named by the database URL: SQLite for `sqlite:`, PostgreSQL for
//! `postgres://`/`postgresql://`.

use std::sync::Arc;

use meetgate_store::{Store, StoreError};

pub async fn open_store(url: &str, max_connections: u32) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        let options = meetgate_store_sqlite::StoreOptions {
            max_connections,
            ..Default::default()
        };
        Ok(Arc::new(
            meetgate_store_sqlite::SqliteStore::connect_with(url, options).await?,
        ))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let options = meetgate_store_postgres::StoreOptions {
            max_connections,
            ..Default::default()
        };
        Ok(Arc::new(
            meetgate_store_postgres::PgStore::connect_with(url, options).await?,
        ))
    } else {
        Err(StoreError::InvalidUrl(
            "the database URL must start with sqlite:, postgres:// or postgresql://".into(),
        ))
    }
}
