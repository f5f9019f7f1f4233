//! `meetgate member`: the people who sign in to a tenant's web app.

use anyhow::Context;
use meetgate_service::App;
use meetgate_service::domain::NewMember;
use meetgate_store::models::MemberRole;
use meetgate_zoom::Secret;

use super::operator_ctx;
use crate::cli::MemberCommand;
use crate::table::{print_json, print_table};

fn role(value: &str) -> anyhow::Result<MemberRole> {
    value
        .parse()
        .map_err(|_| anyhow::anyhow!("--role must be `admin` or `clinician`, not {value:?}"))
}

/// An invitation's or reset's link, the only time it is shown, with what it lets its holder do.
fn print_link(
    created: &meetgate_service::domain::CreatedInvitation,
    json: bool,
    what_it_does: &str,
) -> anyhow::Result<()> {
    if json {
        print_json(&serde_json::json!({
            "invitation": created.view,
            "link": created.link.expose(),
        }))?;
    } else {
        println!("{}", created.link.expose());
        println!(
            "\nSend this link to {} only: {what_it_does}.",
            created.view.email
        );
    }
    Ok(())
}

pub async fn run(cmd: MemberCommand, app: &App) -> anyhow::Result<()> {
    let services = &app.services;
    match cmd {
        MemberCommand::Invite {
            tenant,
            email,
            role: r,
            output,
        } => {
            let ctx = operator_ctx(app, &tenant).await?;
            let created = services.invite_member(&ctx, &email, role(&r)?).await?;
            print_link(
                &created,
                output.json,
                "it works once and lets its holder choose a password",
            )?;
        }
        MemberCommand::Add {
            tenant,
            email,
            name,
            role: r,
            password_env,
            output,
        } => {
            let password = std::env::var(&password_env).with_context(|| {
                format!("set the new member's password in the environment variable {password_env}")
            })?;
            let ctx = operator_ctx(app, &tenant).await?;
            let member = services
                .create_member(
                    &ctx,
                    NewMember {
                        email,
                        name,
                        role: role(&r)?,
                        password: Secret::new(password),
                    },
                )
                .await?;
            if output.json {
                print_json(&member)?;
            } else {
                println!(
                    "member {} ({}) added as {}",
                    member.email, member.id, member.role
                );
            }
        }
        MemberCommand::ResetPassword {
            tenant,
            email,
            output,
        } => {
            let ctx = operator_ctx(app, &tenant).await?;
            let created = services
                .create_password_reset_for_email(&ctx, &email)
                .await?;
            print_link(
                &created,
                output.json,
                "it works once, for 24 hours, and lets its holder choose a new password for this account",
            )?;
        }
        MemberCommand::Invitations { tenant, output } => {
            let ctx = operator_ctx(app, &tenant).await?;
            let mut invitations = services.list_invitations(&ctx).await?;
            invitations.reverse();
            if output.json {
                print_json(&invitations)?;
            } else {
                print_table(
                    &["id", "email", "role", "state", "expires"],
                    invitations
                        .iter()
                        .map(|i| {
                            vec![
                                i.id.to_string(),
                                i.email.clone(),
                                i.role.clone(),
                                i.state.clone(),
                                i.expires_at
                                    .format(&time::format_description::well_known::Rfc3339)
                                    .unwrap_or_default(),
                            ]
                        })
                        .collect(),
                );
            }
        }
        MemberCommand::RevokeInvitation { tenant, id } => {
            let ctx = operator_ctx(app, &tenant).await?;
            let id = id
                .parse()
                .map_err(|_| anyhow::anyhow!("{id:?} is not an invitation id"))?;
            services.revoke_invitation(&ctx, id).await?;
            println!("invitation {id} revoked: its link no longer works");
        }
        MemberCommand::List { tenant, output } => {
            let ctx = operator_ctx(app, &tenant).await?;
            let members = services.list_members(&ctx).await?;
            if output.json {
                print_json(&members)?;
            } else {
                print_table(
                    &["id", "email", "name", "role", "disabled"],
                    members
                        .iter()
                        .map(|m| {
                            vec![
                                m.id.to_string(),
                                m.email.clone(),
                                m.name.clone(),
                                m.role.clone(),
                                if m.disabled { "yes" } else { "" }.to_owned(),
                            ]
                        })
                        .collect(),
                );
            }
        }
    }
    Ok(())
}
