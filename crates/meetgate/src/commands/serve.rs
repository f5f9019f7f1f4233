use meetgate_service::App;
use meetgate_service::clock::Clock;
use meetgate_service::config::Config;
use meetgate_service::http::MetricsRender;
use meetgate_service::vault::KeySource;

/// Installs the Prometheus recorder; the returned renderer serves `/metrics`.
pub fn install_metrics() -> anyhow::Result<MetricsRender> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&[
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ])?
        .install_recorder()?;
    Ok(std::sync::Arc::new(move || handle.render()))
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

pub fn announce_keys(source: &KeySource) {
    match source {
        KeySource::GeneratedFile(path) => tracing::warn!(
            path = %path.display(),
            "generated a new encryption key; back it up: losing it loses every stored Zoom grant"
        ),
        KeySource::ExistingFile(path) => {
            tracing::info!(path = %path.display(), "using the encryption key file")
        }
        KeySource::Configured => tracing::info!("using the configured encryption keys"),
    }
}

pub async fn run(config: Config) -> anyhow::Result<()> {
    let metrics_listen = config.metrics.listen.clone();
    let metrics = if config.metrics.enabled {
        Some(install_metrics()?)
    } else {
        None
    };
    let addr = config.listen_addr()?;
    let app = App::build(config, Clock::system()).await?;
    announce_keys(&app.key_source);
    // With a separate metrics address, /metrics is served there and not on the main listener.
    let main_metrics = match (&metrics, metrics_listen.is_empty()) {
        (Some(render), false) => {
            let render = render.clone();
            let metrics_addr: std::net::SocketAddr = metrics_listen.parse()?;
            let listener = App::bind(metrics_addr).await?;
            let router = meetgate_service::http::metrics_router(render, app.services.clone());
            let limits = meetgate_service::http::server::ConnectionLimits::of(&app.services.config);
            tokio::spawn(meetgate_service::http::serve_metrics(
                listener, router, limits,
            ));
            tracing::info!(%metrics_addr, "metrics listening");
            None
        }
        (m, _) => m.clone(),
    };
    let listener = App::bind(addr).await?;
    tracing::info!(%addr, public_url = %app.services.public, backend = app.services.store.backend(), "meetgate listening");
    app.serve(listener, main_metrics, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}
