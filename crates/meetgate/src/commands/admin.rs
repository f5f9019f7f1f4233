//! Operator commands: tenants, API keys, Zoom apps, connections, the doctor.

use anyhow::{Context, bail};
use meetgate_service::App;
use meetgate_service::domain::{NewZoomApp, TenantSettings};
use meetgate_store::models::{AppType, ConnectionState};
use meetgate_zoom::Secret;

use super::operator_ctx;
use crate::cli::{ApiKeyCommand, ConnectionsCommand, DoctorArgs, TenantCommand, ZoomAppCommand};
use crate::table::{opt, print_json, print_table};

fn rfc3339(t: &time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub async fn tenant(cmd: TenantCommand, app: &App) -> anyhow::Result<()> {
    let services = &app.services;
    match cmd {
        TenantCommand::Create {
            name,
            return_urls,
            test,
            output,
        } => {
            let settings = TenantSettings {
                return_urls,
                ..TenantSettings::default()
            };
            let created = services
                .create_tenant(&name, settings, !test, services.clock.now())
                .await?;
            if output.json {
                print_json(
                    &serde_json::json!({ "tenant": created.tenant, "api_key": created.api_key.secret.expose(), "api_key_id": created.api_key.view.id }),
                )?;
            } else {
                println!("tenant   {} ({})", created.tenant.name, created.tenant.slug);
                println!("id       {}", created.tenant.id);
                println!("api key  {}", created.api_key.secret.expose());
                println!(
                    "\nThe API key is shown only now. Store it in the host application's secrets."
                );
            }
        }
        TenantCommand::List { output } => {
            let tenants = services.list_tenants().await?;
            if output.json {
                print_json(&tenants)?;
            } else {
                print_table(
                    &["id", "slug", "name", "created"],
                    tenants
                        .iter()
                        .map(|t| {
                            vec![
                                t.id.to_string(),
                                t.slug.clone(),
                                t.name.clone(),
                                rfc3339(&t.created_at),
                            ]
                        })
                        .collect(),
                );
            }
        }
        TenantCommand::Show { tenant, output } => {
            let found = services
                .find_tenant(&tenant)
                .await
                .with_context(|| format!("tenant {tenant:?}"))?;
            if output.json {
                print_json(&found)?;
            } else {
                println!(
                    "{} ({})\nid: {}\ncreated: {}",
                    found.name,
                    found.slug,
                    found.id,
                    rfc3339(&found.created_at)
                );
                println!(
                    "settings:\n{}",
                    serde_json::to_string_pretty(&found.settings)?
                );
            }
        }
    }
    Ok(())
}

pub async fn apikey(cmd: ApiKeyCommand, app: &App) -> anyhow::Result<()> {
    let services = &app.services;
    match cmd {
        ApiKeyCommand::Create {
            tenant,
            label,
            test,
            output,
        } => {
            let ctx = operator_ctx(app, &tenant).await?;
            let created = services.create_api_key(&ctx, &label, !test).await?;
            if output.json {
                print_json(
                    &serde_json::json!({ "key": created.view, "secret": created.secret.expose() }),
                )?;
            } else {
                println!(
                    "{}\n\nShown only now. Revoke the old key once the host app uses this one.",
                    created.secret.expose()
                );
            }
        }
        ApiKeyCommand::List { tenant, output } => {
            let ctx = operator_ctx(app, &tenant).await?;
            let keys = services.list_api_keys(&ctx).await?;
            if output.json {
                print_json(&keys)?;
            } else {
                print_table(
                    &["id", "prefix", "label", "created", "last used", "revoked"],
                    keys.iter()
                        .map(|k| {
                            vec![
                                k.id.to_string(),
                                k.prefix.clone(),
                                k.label.clone(),
                                rfc3339(&k.created_at),
                                opt(&k.last_used_at.map(|t| rfc3339(&t))),
                                opt(&k.revoked_at.map(|t| rfc3339(&t))),
                            ]
                        })
                        .collect(),
                );
            }
        }
        ApiKeyCommand::Revoke { tenant, id } => {
            let ctx = operator_ctx(app, &tenant).await?;
            let id = id
                .parse()
                .context("not an API key id (see `meetgate apikey list`)")?;
            services.revoke_api_key(&ctx, id).await?;
            println!("revoked");
        }
    }
    Ok(())
}

pub async fn zoom_app(cmd: ZoomAppCommand, app: &App) -> anyhow::Result<()> {
    let services = &app.services;
    match cmd {
        ZoomAppCommand::Add {
            tenant,
            name,
            app_type,
            client_id,
            client_secret_env,
            webhook_secret_env,
            account_id,
            scopes,
            auth_base_url,
            api_base_url,
            check,
            output,
        } => {
            let tenant_id = match tenant {
                Some(t) => Some(
                    services
                        .find_tenant(&t)
                        .await
                        .with_context(|| format!("tenant {t:?}"))?
                        .id,
                ),
                None => None,
            };
            let app_type: AppType = app_type.parse().map_err(|_| {
                anyhow::anyhow!("--type must be user_managed, admin_managed or server_to_server")
            })?;
            let Ok(secret) = std::env::var(&client_secret_env) else {
                bail!(
                    "set the client secret in the environment variable {client_secret_env} (secrets are not taken as flags)"
                );
            };
            let webhook_secret = std::env::var(&webhook_secret_env).ok().map(Secret::new);
            let view = services
                .register_zoom_app(
                    NewZoomApp {
                        tenant_id,
                        name,
                        app_type,
                        client_id,
                        client_secret: Secret::new(secret),
                        account_id,
                        scopes,
                        webhook_secret,
                        auth_base_url,
                        api_base_url,
                    },
                    services.clock.now(),
                )
                .await?;
            if output.json {
                print_json(&view)?;
            } else {
                println!(
                    "registered Zoom app {}\n  redirect URL (enter in Zoom's Marketplace): {}\n  event notification endpoint: {}",
                    view.id, view.redirect_uri, view.webhook_url
                );
            }
            if check {
                println!("{}", services.check_zoom_app(view.id).await?);
            }
        }
        ZoomAppCommand::List { tenant, output } => {
            let ctx = operator_ctx(app, &tenant).await?;
            let apps = services.list_zoom_apps(&ctx).await?;
            if output.json {
                print_json(&apps)?;
            } else {
                print_table(
                    &[
                        "id",
                        "name",
                        "type",
                        "client id",
                        "shared",
                        "webhook secret",
                    ],
                    apps.iter()
                        .map(|a| {
                            vec![
                                a.id.to_string(),
                                a.name.clone(),
                                a.app_type.clone(),
                                a.client_id.clone(),
                                a.shared.to_string(),
                                a.has_webhook_secret.to_string(),
                            ]
                        })
                        .collect(),
                );
            }
        }
        ZoomAppCommand::Check { id } => {
            let id = id
                .parse()
                .context("not a Zoom app id (see `meetgate zoom-app list`)")?;
            println!("{}", services.check_zoom_app(id).await?);
        }
    }
    Ok(())
}

pub async fn connections(cmd: ConnectionsCommand, app: &App) -> anyhow::Result<()> {
    let services = &app.services;
    match cmd {
        ConnectionsCommand::List {
            tenant,
            state,
            output,
        } => {
            let ctx = operator_ctx(app, &tenant).await?;
            let state: Option<ConnectionState> =
                state.map(|s| s.parse()).transpose().map_err(|_| {
                    anyhow::anyhow!(
                        "--state must be connected, needs_reauth, revoked or superseded"
                    )
                })?;
            let list = services.list_connections(&ctx, state).await?;
            if output.json {
                print_json(&list)?;
            } else {
                print_table(
                    &["user", "state", "zoom user", "app type", "last refresh"],
                    list.iter()
                        .map(|c| {
                            vec![
                                c.user.clone(),
                                c.state.clone(),
                                opt(&c.zoom_email.clone().or(c.zoom_user_id.clone())),
                                c.app_type.clone(),
                                opt(&c.last_refreshed_at.map(|t| rfc3339(&t))),
                            ]
                        })
                        .collect(),
                );
            }
        }
        ConnectionsCommand::Show {
            tenant,
            user,
            output,
        } => {
            let ctx = operator_ctx(app, &tenant).await?;
            let conn = services.get_connection(&ctx, &user).await?;
            if output.json {
                print_json(&conn)?;
            } else {
                println!("{}", serde_json::to_string_pretty(&conn)?);
            }
        }
    }
    Ok(())
}

pub async fn doctor(args: DoctorArgs, app: &App) -> anyhow::Result<()> {
    let ctx = operator_ctx(app, &args.tenant).await?;
    let diagnosis = app
        .services
        .diagnose(&ctx, &args.user, args.host.as_deref())
        .await?;
    if args.output.json {
        return print_json(&diagnosis);
    }
    println!("{}\n", diagnosis.summary);
    println!(
        "connection: {} · app type: {} · scopes ({}): {}",
        diagnosis.connection_state,
        diagnosis.app_type,
        diagnosis.scope_style,
        diagnosis.granted_scopes.join(" ")
    );
    println!();
    for op in &diagnosis.operations {
        let mark = if op.ok { "ok  " } else { "FAIL" };
        println!("{mark} {:<16} {}", op.operation, op.zoom_endpoint);
        if let Some(problem) = &op.problem {
            println!("     why: {problem}");
        }
        if let Some(fix) = &op.fix {
            println!("     fix: {fix}");
        }
    }
    Ok(())
}
