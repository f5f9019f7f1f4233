//! Opens the store named by the database URL: SQLite for `sqlite:`, PostgreSQL for
//! `postgres://`/`postgresql://`.

use std::sync::Arc;

use meetgate_store::{Store, StoreError};

/// What the store needs from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct StoreSettings {
    pub max_connections: u32,
    /// Refreshes this process runs at once; on PostgreSQL each holds a pooled connection for
    /// its lock, so the store caps them below the pool size.
    pub max_refreshes: u32,
    /// The longest a refresh lock's holder works: a disconnect's two Zoom calls.
    pub longest_refresh: std::time::Duration,
}

impl StoreSettings {
    pub fn of(config: &crate::config::Config) -> Self {
        let zoom_call = std::time::Duration::from_secs(config.zoom.request_timeout_secs);
        Self {
            max_connections: config.database_max_connections,
            max_refreshes: config.zoom.max_concurrent_refreshes,
            longest_refresh: zoom_call * 2,
        }
    }
}

pub async fn open_store(url: &str, settings: StoreSettings) -> Result<Arc<dyn Store>, StoreError> {
    let max_connections = settings.max_connections;
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
            max_refresh_locks: settings.max_refreshes,
            // A holder's writes after its Zoom calls take well under the margin.
            refresh_lock_wait: settings.longest_refresh + std::time::Duration::from_secs(10),
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
