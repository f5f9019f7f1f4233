//! Start-up: configuration in, a running service out. Opens the store, migrates, loads and checks
//! the keyring, builds the services, serves HTTP with graceful shutdown, runs the jobs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use meetgate_store::models::KeyFingerprint;
use meetgate_store::{Store, StoreError};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::domain::Services;
use crate::http::MetricsRender;
use crate::store::{StoreSettings, open_store};
use crate::vault::{KeyLoadError, KeySource, Keyring, load_keyring};

/// Why meetgate could not start. Each says what to fix in one line.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store's messages name the database already ("database unavailable: ...").
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("vault: {0}")]
    Keys(#[from] KeyLoadError),
    #[error("vault: {0}")]
    KeyMismatch(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// A configured meetgate: services built, nothing listening yet.
#[derive(Debug, Clone)]
pub struct App {
    pub services: Services,
    pub key_source: KeySource,
}

/// Refuses a keyring that does not match the keys that encrypted the data, then records the
/// configured keys' fingerprints.
pub async fn check_keyring(
    store: &dyn Store,
    ring: &Keyring,
    now: time::OffsetDateTime,
) -> Result<(), AppError> {
    let recorded = store.list_key_fingerprints().await?;
    let configured = ring.fingerprints();
    for (id, fingerprint) in &configured {
        if let Some(r) = recorded.iter().find(|r| &r.key_id == id)
            && &r.fingerprint != fingerprint
        {
            return Err(AppError::KeyMismatch(format!(
                "key {id:?} is not the key that was recorded under that id; the data was encrypted with another key. Configure the original key (vault.keys or the key file)"
            )));
        }
    }
    let known = recorded.iter().any(|r| {
        configured
            .iter()
            .any(|(id, fp)| &r.key_id == id && &r.fingerprint == fp)
    });
    if !recorded.is_empty() && !known {
        let ids: Vec<&str> = recorded.iter().map(|r| r.key_id.as_str()).collect();
        return Err(AppError::KeyMismatch(format!(
            "none of the configured keys encrypted this database (it knows keys {ids:?}); configure them in vault.keys, or point data_dir at the right key file"
        )));
    }
    for (id, fingerprint) in configured {
        if !recorded.iter().any(|r| r.key_id == id) {
            store
                .record_key_fingerprint(&KeyFingerprint {
                    key_id: id,
                    fingerprint,
                    created_at: now,
                })
                .await?;
        }
    }
    Ok(())
}

impl App {
    /// Builds meetgate from its configuration: validates it, opens and migrates the database,
    /// loads the keyring and checks it against the data.
    pub async fn build(config: Config, clock: Clock) -> Result<Self, AppError> {
        config.validate()?;
        let url = config.effective_database_url();
        if url.starts_with("sqlite:") {
            std::fs::create_dir_all(&config.data_dir).map_err(|e| {
                AppError::Other(format!(
                    "cannot create data_dir {}: {e}",
                    config.data_dir.display()
                ))
            })?;
        }
        let store = open_store(&url, StoreSettings::of(&config)).await?;
        store.migrate().await?;
        let now = clock.now();
        let today = format!("{:04}{:02}{:02}", now.year(), now.month() as u8, now.day());
        let (ring, key_source) =
            load_keyring(&config.vault.keys, &config.effective_key_file(), &today)?;
        check_keyring(store.as_ref(), &ring, now).await?;
        let services = Services::new(store, Arc::new(ring), Arc::new(config), clock)
            .map_err(|e| AppError::Other(e.to_string()))?;
        Ok(Self {
            services,
            key_source,
        })
    }

    /// Serves on `listener` until `shutdown` resolves, then finishes in-flight requests (up to
    /// `http.shutdown_grace_secs`) and stops the jobs.
    pub async fn serve(
        self,
        listener: TcpListener,
        metrics: Option<MetricsRender>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let services = self.services.clone();
        let (stop_tx, stop_rx) = watch::channel(false);
        let jobs = services
            .config
            .jobs
            .enabled
            .then(|| tokio::spawn(crate::jobs::run(services.clone(), stop_rx.clone())));
        let router = crate::http::router(services.clone(), metrics);
        let grace = Duration::from_secs(services.config.http.shutdown_grace_secs);
        let mut signal_rx = stop_rx.clone();
        let limits = crate::http::server::ConnectionLimits::of(&services.config);
        // The peer address feeds the web app's per-address sign-in limit.
        let server = crate::http::server::serve(listener, router, limits, async move {
            let _ = signal_rx.wait_for(|stop| *stop).await;
        });
        let trigger = tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = stop_tx.send(true);
        });
        let served = tokio::spawn(server);
        let mut grace_rx = stop_rx;
        let result = tokio::select! {
            r = served => r.map_err(|e| AppError::Other(e.to_string())),
            _ = async {
                let _ = grace_rx.wait_for(|stop| *stop).await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!("in-flight requests did not finish within the grace period");
                Ok(())
            }
        };
        trigger.abort();
        if let Some(jobs) = jobs {
            // A delivery already sent must be recorded, or it goes again after the restart.
            let round = crate::domain::WEBHOOK_TIMEOUT + Duration::from_secs(5);
            if tokio::time::timeout(round, jobs).await.is_err() {
                tracing::warn!("the background jobs' last round did not finish in time");
            }
        }
        // A refresh cut off between Zoom's answer and the store's write loses the rotated
        // token, and with it the grant: let those in flight finish (Zoom's timeout bounds them).
        let zoom_timeout = Duration::from_secs(services.config.zoom.request_timeout_secs);
        if !services.drain_refreshes(zoom_timeout * 2).await {
            tracing::warn!("token refreshes were still running at shutdown");
        }
        services.store.close().await;
        result
    }

    pub async fn bind(addr: SocketAddr) -> Result<TcpListener, AppError> {
        TcpListener::bind(addr)
            .await
            .map_err(|source| AppError::Listen {
                addr: addr.to_string(),
                source,
            })
    }
}
