//! `meetgate demo`: meetgate and the sandbox wired to each other, with a demo tenant, so that a
//! newcomer sees the whole flow in a browser without a Zoom account.

use anyhow::Context;
use meetgate_sandbox::{AppType as SandboxAppType, SandboxConfig, World};
use meetgate_service::App;
use meetgate_service::clock::Clock;
use meetgate_service::config::Config;
use meetgate_service::domain::{NewZoomApp, TenantSettings};
use meetgate_store::models::AppType;
use meetgate_zoom::Secret;

use crate::cli::DemoArgs;

pub async fn run(args: DemoArgs, mut config: Config) -> anyhow::Result<()> {
    let metrics = super::serve::install_metrics()?;
    let sandbox_addr = args.sandbox_listen.parse().with_context(|| format!("--sandbox-listen {:?}", args.sandbox_listen))?;
    let world = World::default_seed();
    let sandbox = meetgate_sandbox::spawn(SandboxConfig { world: world.clone(), webhook_retry_compression: 60, ..SandboxConfig::default() }, sandbox_addr)
        .await
        .context("starting the sandbox")?;
    let sandbox_url = sandbox.base_url().as_str().trim_end_matches('/').to_owned();

    // The demo's data is as ephemeral as the sandbox's world: start from an empty database.
    let demo_dir = config.data_dir.join("demo");
    if demo_dir.exists() {
        std::fs::remove_dir_all(&demo_dir).with_context(|| format!("cannot reset {}", demo_dir.display()))?;
    }
    std::fs::create_dir_all(&demo_dir)?;
    config.listen = args.listen.clone();
    config.public_url = String::new();
    config.database_url = format!("sqlite://{}", demo_dir.join("meetgate.db").display());
    config.vault.key_file = demo_dir.join("vault.key");
    let addr = config.listen_addr()?;
    let listener = App::bind(addr).await?;
    let app = App::build(config, Clock::system()).await?;
    let services = app.services.clone();
    let public = services.public.as_str().trim_end_matches('/').to_owned();
    let now = services.clock.now();

    let settings = TenantSettings { return_urls: vec![format!("{public}/")], ..TenantSettings::default() };
    let tenant = services.create_tenant("Demo Clinic", settings, false, now).await?;
    let mut apps = Vec::new();
    for zoom_app in &world.apps {
        let app_type = match zoom_app.app_type {
            SandboxAppType::UserManaged => AppType::UserManaged,
            SandboxAppType::AdminManaged => AppType::AdminManaged,
            SandboxAppType::ServerToServer => AppType::ServerToServer,
        };
        let view = services
            .register_zoom_app(
                NewZoomApp {
                    tenant_id: Some(tenant.tenant.id),
                    name: zoom_app.name.clone(),
                    app_type,
                    client_id: zoom_app.client_id.clone(),
                    client_secret: Secret::new(zoom_app.client_secret.expose()),
                    account_id: (app_type == AppType::ServerToServer).then(|| zoom_app.owner_account_id.clone()),
                    scopes: String::new(),
                    webhook_secret: Some(Secret::new(zoom_app.webhook_secret_token.expose())),
                    auth_base_url: Some(sandbox_url.clone()),
                    api_base_url: Some(sandbox_url.clone()),
                },
                now,
            )
            .await?;
        apps.push((zoom_app.client_id.clone(), view));
    }

    let demo_json = serde_json::json!({
        "meetgate_url": public,
        "sandbox_url": sandbox_url,
        "tenant": tenant.tenant.slug,
        "api_key": tenant.api_key.secret.expose(),
        "zoom_apps": apps.iter().map(|(client_id, view)| serde_json::json!({ "id": view.id, "client_id": client_id, "type": view.app_type })).collect::<Vec<_>>(),
        "sandbox_sign_ins": world.users.iter().map(|u| serde_json::json!({ "email": u.email, "password": u.password.expose(), "account_id": u.account_id })).collect::<Vec<_>>(),
    });
    let json_path = services.config.data_dir.join("demo.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&demo_json)?)?;

    let serving = tokio::spawn(app.serve(listener, Some(metrics), super::serve::shutdown_signal()));
    // Zoom validates an endpoint when it is registered, so meetgate must be listening first.
    let control = sandbox.control();
    for (client_id, view) in &apps {
        let hook = url::Url::parse(&view.webhook_url)?;
        if let Err(e) = control.set_app_webhook(client_id, &hook).await {
            tracing::warn!(client_id, error = %e, "registering the sandbox webhook failed");
        }
    }

    println!("\nmeetgate demo is running\n");
    println!("  meetgate   {public}");
    println!("  sandbox    {sandbox_url}  (an offline Zoom; see docs/sandbox.md)");
    println!("  API key    {}", tenant.api_key.secret.expose());
    if let Some(user) = world.users.first() {
        println!("  Zoom sign-in at the sandbox: {} / {}", user.email, user.password.expose());
    }
    println!("\n  Everything above is also in {}", json_path.display());
    println!("  Press Ctrl-C to stop.\n");
    serving.await.context("meetgate stopped")??;
    sandbox.shutdown().await;
    Ok(())
}
