//! One meetgate under test: a fresh database, a tenant and the sandbox's user-managed app set up
//! with the `meetgate` CLI, `meetgate serve` as its own process, and users connected through the
//! real OAuth flow (connect session, connect page, consent at the sandbox, callback).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use rand::RngCore;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use sqlx::Connection;
use url::Url;

use crate::cli::Backend;
use crate::processes::{Proc, free_port, run_cli};
use crate::sandbox::{PASSWORD, Sandbox, USER_APP};

/// Where host apps "return" after connecting (only a prefix check; never visited).
pub const RETURN_URL: &str = "http://127.0.0.1:9/done";

/// The configuration shared by the CLI commands and the server of one meetgate.
#[derive(Debug, Clone)]
pub struct Setup {
    pub backend: Backend,
    pub database_url: String,
    pub data_dir: PathBuf,
    pub port: u16,
    /// Extra `MEETGATE_*` variables.
    pub extra_env: Vec<(String, String)>,
    keys: String,
}

impl Setup {
    /// A fresh database (a new SQLite file, or a new PostgreSQL database) and a fresh vault key.
    pub async fn fresh(
        backend: Backend,
        dir: &Path,
        label: &str,
        postgres_admin_url: &str,
    ) -> anyhow::Result<Setup> {
        let data_dir = dir.join(format!("data-{label}"));
        std::fs::create_dir_all(&data_dir)?;
        let database_url = match backend {
            Backend::Sqlite => format!("sqlite://{}", data_dir.join("meetgate.db").display()),
            Backend::Postgres => fresh_postgres(postgres_admin_url, label).await?,
        };
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        let keys = format!(
            "bench:{}",
            base64::engine::general_purpose::STANDARD.encode(key)
        );
        Ok(Setup {
            backend,
            database_url,
            data_dir,
            port: free_port()?,
            extra_env: Vec::new(),
            keys,
        })
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            ("MEETGATE_DATABASE_URL", self.database_url.clone()),
            ("MEETGATE_DATA_DIR", self.data_dir.display().to_string()),
            ("MEETGATE_VAULT_KEYS", self.keys.clone()),
            ("MEETGATE_LISTEN", format!("127.0.0.1:{}", self.port)),
            ("MEETGATE_PUBLIC_URL", self.base()),
            ("MEETGATE_LOG_LEVEL", "warn".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.extend(self.extra_env.iter().cloned());
        env
    }

    /// The service configuration the server will load (for seeding in-process).
    pub fn service_config(&self) -> meetgate_service::config::Config {
        let mut config = meetgate_service::config::Config {
            listen: format!("127.0.0.1:{}", self.port),
            public_url: self.base(),
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            ..meetgate_service::config::Config::default()
        };
        config.vault.keys = self.keys.clone();
        config.jobs.enabled = false;
        config
    }
}

async fn fresh_postgres(admin_url: &str, label: &str) -> anyhow::Result<String> {
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let name = format!("meetgate_bench_{stamp}_{}", label.replace('-', "_"));
    let mut admin = sqlx::PgConnection::connect(admin_url).await.with_context(|| {
        "cannot reach PostgreSQL (start it with `bash scripts/start-postgres.sh`, or pass --postgres-admin-url, or --backends sqlite)"
    })?;
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
        .with_context(|| format!("creating database {name}"))?;
    admin.close().await?;
    let mut url = Url::parse(admin_url)?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// A tenant with an API key and the sandbox's user-managed app.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub api_key: String,
    pub tenant_id: String,
    pub app_id: String,
}

/// `meetgate tenant create` and `meetgate zoom-app add`, against the setup's database.
pub async fn provision(
    bin: &Path,
    setup: &Setup,
    sandbox: &Sandbox,
    dir: &Path,
) -> anyhow::Result<Tenant> {
    let env = setup.env();
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let out = run_cli(
        bin,
        &args(&[
            "tenant",
            "create",
            "Bench Clinic",
            "--return-url",
            RETURN_URL,
            "--json",
        ]),
        &env,
        dir,
    )
    .await?;
    let created: Value = serde_json::from_str(&out).context("tenant create --json output")?;
    let api_key = created["api_key"]
        .as_str()
        .context("no api_key in tenant create output")?
        .to_owned();
    let tenant_id = created["tenant"]["id"]
        .as_str()
        .context("no tenant.id")?
        .to_owned();
    let slug = created["tenant"]["slug"]
        .as_str()
        .context("no tenant.slug")?
        .to_owned();
    let world = sandbox.control.world().await?;
    let secret = world
        .apps
        .iter()
        .find(|a| a.client_id == USER_APP)
        .context("no user-managed app in the sandbox")?
        .client_secret
        .expose()
        .to_owned();
    let mut app_env = env.clone();
    app_env.push(("ZOOM_CLIENT_SECRET".into(), secret));
    let out = run_cli(
        bin,
        &args(&[
            "zoom-app",
            "add",
            "--tenant",
            &slug,
            "--type",
            "user_managed",
            "--client-id",
            USER_APP,
            "--auth-base-url",
            &sandbox.url,
            "--api-base-url",
            &sandbox.url,
            "--json",
        ]),
        &app_env,
        dir,
    )
    .await?;
    let app: Value = serde_json::from_str(&out).context("zoom-app add --json output")?;
    let app_id = app["id"]
        .as_str()
        .context("no id in zoom-app add output")?
        .to_owned();
    Ok(Tenant {
        api_key,
        tenant_id,
        app_id,
    })
}

/// A running `meetgate serve`.
#[derive(Debug)]
pub struct Meetgate {
    pub proc: Proc,
    pub base: String,
    pub tenant: Tenant,
    pub startup: Duration,
    http: reqwest::Client,
}

impl Meetgate {
    pub async fn start(
        bin: &Path,
        setup: &Setup,
        tenant: Tenant,
        dir: &Path,
        name: &str,
    ) -> anyhow::Result<Meetgate> {
        let mut proc = Proc::spawn(name, bin, &["serve".to_owned()], &setup.env(), dir)?;
        let base = setup.base();
        let startup = proc
            .wait_ready(&format!("{base}/readyz"), Duration::from_secs(120))
            .await?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Meetgate {
            proc,
            base,
            tenant,
            startup,
            http,
        })
    }

    pub fn meetings_url(&self, user: &str) -> String {
        format!("{}/v1/users/{user}/meetings", self.base)
    }

    /// Creates an instant meeting for `user` and returns its start link.
    pub async fn create_start_link(&self, user: &str) -> anyhow::Result<String> {
        let response = self
            .http
            .post(self.meetings_url(user))
            .bearer_auth(&self.tenant.api_key)
            .json(&json!({ "type": "instant", "topic": "Storm check-in" }))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if status.as_u16() != 201 {
            bail!("POST meetings answered {status}: {body}");
        }
        body["start_link"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no start_link in {body}"))
    }

    /// Connects host-app user `user` to the sandbox user `email`, as a browser would.
    pub async fn connect(&self, sandbox: &Sandbox, user: &str, email: &str) -> anyhow::Result<()> {
        let session = self
            .http
            .post(format!("{}/v1/connect-sessions", self.base))
            .bearer_auth(&self.tenant.api_key)
            .json(&json!({ "user": user, "return_url": RETURN_URL, "zoom_app_id": self.tenant.app_id }))
            .send()
            .await?;
        let status = session.status();
        let session: Value = session.json().await?;
        if status.as_u16() != 201 {
            bail!("POST /v1/connect-sessions answered {status}: {session}");
        }
        let connect_url = session["connect_url"]
            .as_str()
            .context("no connect_url")?
            .to_owned();
        let page = self.http.get(&connect_url).send().await?;
        if page.status().as_u16() != 200 {
            bail!("the connect page answered {}", page.status());
        }
        let go = self.http.get(format!("{connect_url}/go")).send().await?;
        if go.status().as_u16() != 303 {
            bail!("{connect_url}/go answered {}", go.status());
        }
        let authorize = Url::parse(
            go.headers()
                .get(LOCATION)
                .context("no Location from /go")?
                .to_str()?,
        )?;
        let cookie = go
            .headers()
            .get(SET_COOKIE)
            .context("no cookie from /go")?
            .to_str()?
            .split(';')
            .next()
            .unwrap_or_default()
            .to_owned();
        let callback = sandbox
            .control
            .authorize_headless(&authorize, email, PASSWORD)
            .await?;
        let back = self
            .http
            .get(callback.as_str())
            .header(COOKIE, cookie)
            .send()
            .await?;
        let status = back.status();
        let location = back
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        match location {
            Some(l) if status.as_u16() == 303 && l.contains("meetgate_status=connected") => {
                if l.contains("meetgate_error") {
                    bail!("connected with a warning: {l}");
                }
                Ok(())
            }
            _ => {
                let body = back.text().await.unwrap_or_default();
                bail!(
                    "the OAuth callback answered {status} {location:?}: {}",
                    body.chars().take(300).collect::<String>()
                )
            }
        }
    }
}
