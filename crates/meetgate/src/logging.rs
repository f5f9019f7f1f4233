use meetgate_service::config::LogConfig;
use tracing_subscriber::EnvFilter;

/// Human-readable or JSON logs, filtered by `log.level` (or `RUST_LOG` when set).
pub fn init(config: &LogConfig) -> anyhow::Result<()> {
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|directives| !directives.is_empty());
    let filter = match &from_env {
        Some(directives) => EnvFilter::try_new(directives)
            .map_err(|e| anyhow::anyhow!("the RUST_LOG variable: {e}"))?,
        None => EnvFilter::try_new(&config.level)
            .map_err(|e| anyhow::anyhow!("setting `log.level`: {e}"))?,
    };
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
    installed.map_err(|e| anyhow::anyhow!("logging: {e}"))?;
    if from_env.is_some() {
        // Said once, so that a RUST_LOG left in an image does not silently beat the setting.
        tracing::warn!(log_level = %config.level, "RUST_LOG is set and replaces `log.level`");
    }
    Ok(())
}
