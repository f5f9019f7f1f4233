//! One module per command family. Each builds what it needs from the loaded configuration.

mod admin;
mod audit;
mod demo;
mod keys;
mod members;
mod sandbox;
mod serve;

use anyhow::Context;
use meetgate_service::App;
use meetgate_service::clock::Clock;
use meetgate_service::domain::Ctx;

use crate::cli::{Command, ConfigCommand};
use crate::config_load::Loaded;

pub async fn dispatch(command: Command, loaded: Loaded) -> anyhow::Result<()> {
    match command {
        Command::Serve(_) => serve::run(loaded.config).await,
        Command::Migrate => {
            App::build(loaded.config, Clock::system()).await?;
            tracing::info!("database is migrated");
            Ok(())
        }
        Command::Config(ConfigCommand::Default) => {
            print!("{}", meetgate_service::config::DEFAULT_CONFIG_TOML);
            Ok(())
        }
        Command::Config(ConfigCommand::Check) => {
            loaded.config.validate()?;
            for warning in &loaded.warnings {
                eprintln!("warning: {warning}");
            }
            match &loaded.source {
                Some(path) => println!("configuration is valid (file: {})", path.display()),
                None => println!("configuration is valid (no file; defaults and environment)"),
            }
            Ok(())
        }
        Command::Sandbox(args) => sandbox::run(args).await,
        Command::Demo(args) => demo::run(args, loaded.config).await,
        Command::Tenant(cmd) => admin::tenant(cmd, &app(loaded).await?).await,
        Command::Apikey(cmd) => admin::apikey(cmd, &app(loaded).await?).await,
        Command::ZoomApp(cmd) => admin::zoom_app(cmd, &app(loaded).await?).await,
        Command::Connections(cmd) => admin::connections(cmd, &app(loaded).await?).await,
        Command::Doctor(args) => admin::doctor(args, &app(loaded).await?).await,
        Command::Keys(cmd) => keys::run(cmd, loaded).await,
        Command::Member(cmd) => members::run(cmd, &app(loaded).await?).await,
        Command::Audit(cmd) => audit::run(cmd, &app(loaded).await?).await,
    }
}

async fn app(loaded: Loaded) -> anyhow::Result<App> {
    Ok(App::build(loaded.config, Clock::system()).await?)
}

/// The operator's context for a tenant named by id or slug.
async fn operator_ctx(app: &App, tenant: &str) -> anyhow::Result<Ctx> {
    let services = &app.services;
    let found = services
        .find_tenant(tenant)
        .await
        .with_context(|| format!("tenant {tenant:?}"))?;
    Ok(Ctx::operator(found.id, services.clock.now()))
}
