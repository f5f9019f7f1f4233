//! The Zoom sandbox as its own process (`meetgate sandbox --no-rate-limits`), its bench users,
//! and access tokens obtained straight from it (for the direct and proxy targets).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use meetgate_sandbox::{NewAccount, NewUser, Plan, Role, SandboxControl, Secret};
use url::Url;

use crate::processes::{Proc, free_port};
use crate::tasks::run_all;

/// The user-managed classic app of the sandbox's default seed.
pub const USER_APP: &str = "sbxUserManagedClient01";
pub const PASSWORD: &str = "bench-pw";
/// Where the direct OAuth flow says it would return (the seed accepts any loopback port; nothing
/// listens there, the redirect is read, never followed).
const DIRECT_REDIRECT: &str = "http://127.0.0.1:9/oauth/callback";

#[derive(Debug)]
pub struct Sandbox {
    pub proc: Proc,
    /// Base URL without the trailing slash.
    pub url: String,
    pub control: SandboxControl,
    pub account_id: String,
}

impl Sandbox {
    /// Starts a sandbox with rate limits off and the given access-token lifetime.
    pub async fn start(bin: &Path, dir: &Path, name: &str, ttl_secs: u64) -> anyhow::Result<Self> {
        let port = free_port()?;
        let args: Vec<String> = [
            "sandbox",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--no-rate-limits",
            "--token-ttl-secs",
            &ttl_secs.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let env = [("MEETGATE_LOG_LEVEL".to_owned(), "warn".to_owned())];
        let mut proc = Proc::spawn(name, bin, &args, &env, dir)?;
        let url = format!("http://127.0.0.1:{port}");
        proc.wait_ready(&format!("{url}/_sandbox/health"), Duration::from_secs(30))
            .await?;
        let control = SandboxControl::new(Url::parse(&format!("{url}/"))?);
        let account = control
            .add_account(NewAccount {
                id: None,
                name: "Bench Clinic".into(),
                plan: Plan::Business,
            })
            .await
            .context("adding the bench account")?;
        Ok(Sandbox {
            proc,
            url,
            control,
            account_id: account.id,
        })
    }

    /// Adds `n` users `{prefix}{i}@bench.example`; returns their emails and Zoom user ids.
    pub async fn add_users(
        &self,
        prefix: &str,
        n: usize,
        concurrency: usize,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let emails: Arc<Vec<String>> = Arc::new(
            (0..n)
                .map(|i| format!("{prefix}{i}@bench.example"))
                .collect(),
        );
        let ids: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(vec![String::new(); n]));
        let (control, account, list, found) = (
            self.control.clone(),
            self.account_id.clone(),
            emails.clone(),
            ids.clone(),
        );
        run_all(
            &format!("sandbox users {prefix}*"),
            n,
            concurrency,
            move |i| {
                let (control, account, email, found) = (
                    control.clone(),
                    account.clone(),
                    list[i].clone(),
                    found.clone(),
                );
                async move {
                    let user = control
                        .add_user(NewUser {
                            id: None,
                            email,
                            password: Secret::new(PASSWORD),
                            account_id: account,
                            first_name: "Bench".into(),
                            last_name: format!("User{i}"),
                            user_type: None,
                            role: Role::Member,
                            timezone: None,
                        })
                        .await?;
                    if let Ok(mut all) = found.lock() {
                        all[i] = user.id;
                    }
                    Ok(())
                }
            },
        )
        .await?;
        let ids = ids.lock().map(|v| v.clone()).unwrap_or_default();
        Ok(emails.iter().cloned().zip(ids).collect())
    }

    /// An access token for `email` through the user-managed app, the way any Zoom client gets
    /// one: consent, then the code exchange at `/oauth/token` with HTTP Basic.
    pub async fn direct_token(&self, email: &str) -> anyhow::Result<String> {
        let world = self.control.world().await?;
        let app = world
            .apps
            .iter()
            .find(|a| a.client_id == USER_APP)
            .context("the sandbox seed has no user-managed app")?;
        let mut authorize = Url::parse(&format!("{}/oauth/authorize", self.url))?;
        authorize
            .query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", USER_APP)
            .append_pair("redirect_uri", DIRECT_REDIRECT)
            .append_pair("state", "bench");
        let back = self
            .control
            .authorize_headless(&authorize, email, PASSWORD)
            .await?;
        let code = back
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .with_context(|| format!("no code in {back}"))?;
        let http = reqwest::Client::builder().no_proxy().build()?;
        let answer = http
            .post(format!("{}/oauth/token", self.url))
            .basic_auth(USER_APP, Some(app.client_secret.expose()))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", DIRECT_REDIRECT),
            ])
            .send()
            .await?;
        let status = answer.status();
        let body: serde_json::Value = answer.json().await?;
        let Some(token) = body["access_token"].as_str() else {
            bail!("token exchange answered {status}: {body}");
        };
        Ok(token.to_owned())
    }
}
