use anyhow::Context;
use meetgate_sandbox::{SandboxConfig, World};

use crate::cli::SandboxArgs;

pub async fn run(args: SandboxArgs) -> anyhow::Result<()> {
    let world = match &args.seed {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            World::from_toml_str(&text).with_context(|| format!("seed {}", path.display()))?
        }
        None => World::default_seed(),
    };
    let config = SandboxConfig {
        world,
        access_token_ttl: std::time::Duration::from_secs(args.token_ttl_secs.max(1)),
        rate_limits: !args.no_rate_limits,
        public_url: args
            .public_url
            .as_deref()
            .map(url::Url::parse)
            .transpose()
            .context("--public-url")?,
        ..SandboxConfig::default()
    };
    let addr = args
        .listen
        .parse()
        .with_context(|| format!("--listen {:?} is not an address", args.listen))?;
    let sandbox = meetgate_sandbox::spawn(config, addr).await?;
    tracing::info!(url = %sandbox.base_url(), "Zoom sandbox listening; control API at /_sandbox, see docs/sandbox.md");
    super::serve::shutdown_signal().await;
    sandbox.shutdown().await;
    Ok(())
}
