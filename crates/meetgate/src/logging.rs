use meetgate_service::config::LogConfig;
use tracing_subscriber::EnvFilter;

/// Human-readable or JSON logs, filtered by `log.level` (or `RUST_LOG` when set).
pub fn init(config: &LogConfig) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.is_empty() => EnvFilter::try_new(directives),
        _ => EnvFilter::try_new(&config.level),
    }
    .map_err(|e| anyhow::anyhow!("setting `log.level`: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = if config.format == "json" {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.with_target(false).try_init()
    };
    installed.map_err(|e| anyhow::anyhow!("logging: {e}"))
}
