//! `meetgate demo`: meetgate and the sandbox wired to each other, with a demo tenant, a clinician
//! and an admin, so that a newcomer clicks through the whole flow in a browser without a Zoom
//! account.

use anyhow::Context;
use meetgate_sandbox::{AppType as SandboxAppType, SandboxConfig, World};
use meetgate_service::App;
use meetgate_service::clock::Clock;
use meetgate_service::config::Config;
use meetgate_service::domain::{Ctx, NewMember, NewZoomApp, TenantSettings};
use meetgate_store::models::{AppType, MemberRole};
use meetgate_zoom::Secret;

use crate::cli::DemoArgs;

/// The demo's sign-ins. Fixed and printed on purpose: the demo's data lives only as long as the
/// demo, on a loopback address, and a newcomer should not have to look anything up.
const DEMO_PASSWORD: &str = "meetgate-demo";
const DEMO_MEMBERS: [(&str, &str, MemberRole); 2] = [
    (
        "Dr. Ada Lovelace",
        "clinician@demo.meetgate.example",
        MemberRole::Clinician,
    ),
    (
        "Alex Admin",
        "admin@demo.meetgate.example",
        MemberRole::Admin,
    ),
];

/// A URL others can open for an address this process listens on: a wildcard address (0.0.0.0,
/// ::) is not one, so loopback stands in for it.
fn reachable(addr: std::net::SocketAddr) -> String {
    match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => format!("http://127.0.0.1:{}", addr.port()),
        ip if ip.is_unspecified() => format!("http://[::1]:{}", addr.port()),
        _ => format!("http://{addr}"),
    }
}

pub async fn run(args: DemoArgs, mut config: Config) -> anyhow::Result<()> {
    let metrics = super::serve::install_metrics()?;
    let sandbox_addr: std::net::SocketAddr = args
        .sandbox_listen
        .parse()
        .with_context(|| format!("--sandbox-listen {:?}", args.sandbox_listen))?;
    let world = World::default_seed();
    // Start and join links are built from the sandbox's public URL: it must be one a browser can
    // open even when the sandbox listens on every interface.
    let sandbox_public = (sandbox_addr.ip().is_unspecified() && sandbox_addr.port() != 0)
        .then(|| url::Url::parse(&format!("{}/", reachable(sandbox_addr))))
        .transpose()?;
    let sandbox = meetgate_sandbox::spawn(
        SandboxConfig {
            world: world.clone(),
            webhook_retry_compression: 60,
            public_url: sandbox_public,
            ..SandboxConfig::default()
        },
        sandbox_addr,
    )
    .await
    .context("starting the sandbox")?;
    let sandbox_url = sandbox.base_url().as_str().trim_end_matches('/').to_owned();

    // The demo's data is as ephemeral as the sandbox's world: start from an empty database.
    let demo_dir = config.data_dir.join("demo");
    if demo_dir.exists() {
        std::fs::remove_dir_all(&demo_dir)
            .with_context(|| format!("cannot reset {}", demo_dir.display()))?;
    }
    std::fs::create_dir_all(&demo_dir)?;
    config.listen = args.listen.clone();
    let addr = config.listen_addr()?;
    config.public_url = if addr.ip().is_unspecified() && addr.port() != 0 {
        reachable(addr)
    } else {
        String::new()
    };
    config.database_url = match &args.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", demo_dir.join("meetgate.db").display()),
    };
    config.vault.key_file = demo_dir.join("vault.key");
    // The demo runs on one machine: a webhook receiver to try it with listens there too.
    config.outbound.allow_private_webhooks = true;
    let listener = App::bind(addr).await?;
    let app = App::build(config, Clock::system()).await?;
    let services = app.services.clone();
    let public = services.public.as_str().trim_end_matches('/').to_owned();
    let now = services.clock.now();

    let settings = TenantSettings {
        return_urls: vec![format!("{public}/")],
        ..TenantSettings::default()
    };
    let tenant = services
        .create_tenant("Demo Clinic", settings, false, now)
        .await?;
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
                    account_id: (app_type == AppType::ServerToServer)
                        .then(|| zoom_app.owner_account_id.clone()),
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

    let operator = Ctx::operator(tenant.tenant.id, now);
    let mut sign_ins = Vec::new();
    for (name, email, role) in DEMO_MEMBERS {
        let member = services
            .create_member(
                &operator,
                NewMember {
                    email: email.into(),
                    name: name.into(),
                    role,
                    password: Secret::new(DEMO_PASSWORD),
                },
            )
            .await
            .with_context(|| format!("seeding the demo member {email}"))?;
        sign_ins.push(serde_json::json!({ "role": member.role, "name": member.name, "email": member.email, "password": DEMO_PASSWORD }));
    }

    let demo_json = serde_json::json!({
        "meetgate_url": public,
        "sandbox_url": sandbox_url,
        "tenant": tenant.tenant.slug,
        "api_key": tenant.api_key.secret.expose(),
        "meetgate_sign_ins": sign_ins,
        "zoom_apps": apps.iter().map(|(client_id, view)| serde_json::json!({ "id": view.id, "client_id": client_id, "type": view.app_type })).collect::<Vec<_>>(),
        "sandbox_sign_ins": world.users.iter().map(|u| serde_json::json!({ "email": u.email, "password": u.password.expose(), "account_id": u.account_id })).collect::<Vec<_>>(),
    });
    let json_path = services.config.data_dir.join("demo.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&demo_json)?)?;

    let serving = tokio::spawn(app.serve(listener, Some(metrics), super::serve::shutdown_signal()));
    // Zoom validates an endpoint when it is registered, so meetgate must be listening first.
    let control = sandbox.control();
    let redirect_uri = services.redirect_uri();
    let loopback_callback = redirect_uri.starts_with("http://127.0.0.1:")
        || redirect_uri.starts_with("http://localhost:");
    for (client_id, view) in &apps {
        let hook = url::Url::parse(&view.webhook_url)?;
        match control.set_app_webhook(client_id, &hook).await {
            Ok(validation) if !validation.validated => {
                tracing::warn!(client_id, error = ?validation.error, "the sandbox could not validate meetgate's webhook endpoint; meeting status will not update")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(client_id, error = %e, "registering the sandbox webhook failed")
            }
        }
        // The seeded apps accept loopback callbacks on any port; any other address must be
        // registered exactly, as at Zoom. Server-to-server apps have no redirect.
        if !loopback_callback
            && view.app_type != "server_to_server"
            && let Err(e) = control
                .set_app_redirect_uris(client_id, vec![redirect_uri.clone()])
                .await
        {
            tracing::warn!(client_id, error = %e, "registering the redirect URI at the sandbox failed");
        }
    }

    println!("\nmeetgate demo is running\n");
    println!("  Open       {public}/signin");
    for (name, email, role) in DEMO_MEMBERS {
        println!(
            "  {:<10} {email} / {DEMO_PASSWORD}  ({name})",
            role.as_str()
        );
    }
    if let Some(user) = world.users.first() {
        println!(
            "  Zoom       {} / {}  (at the sandbox's consent page, after Connect Zoom)",
            user.email,
            user.password.expose()
        );
    }
    println!("\n  sandbox    {sandbox_url}  (an offline Zoom; see docs/sandbox.md)");
    println!("  API key    {}", tenant.api_key.secret.expose());
    println!("\n  Everything above is also in {}", json_path.display());
    println!("  Press Ctrl-C to stop.\n");
    serving.await.context("meetgate stopped")??;
    sandbox.shutdown().await;
    Ok(())
}
