use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "meetgate",
    version,
    about = "Let your users create Zoom meetings with their own Zoom accounts"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file (default: ./meetgate.toml if present; or MEETGATE_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the embedded database and generated key live (setting `data_dir`).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://path` or `postgres://...` (setting `database_url`).
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Log as JSON lines (setting `log.format = "json"`).
    #[arg(long, global = true)]
    pub log_json: bool,
    /// Log filter, e.g. `debug` or `info,meetgate_service=trace` (setting `log.level`).
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API, the pages and the background jobs.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Show or check the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run the Zoom sandbox on its own (an offline Zoom for integration tests).
    Sandbox(SandboxArgs),
    /// Run meetgate wired to a built-in sandbox, with a demo tenant, clinician and admin.
    Demo(DemoArgs),
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage a tenant's API keys.
    #[command(subcommand)]
    Apikey(ApiKeyCommand),
    /// Manage the people who sign in to a tenant's web app.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Register and check Zoom apps.
    #[command(subcommand, name = "zoom-app")]
    ZoomApp(ZoomAppCommand),
    /// Inspect users' Zoom connections.
    #[command(subcommand)]
    Connections(ConnectionsCommand),
    /// Explain why Zoom calls fail (or would fail) for a user's connection.
    Doctor(DoctorArgs),
    /// Inspect and rotate the encryption keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Export the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (setting `listen`, default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// The URL users reach meetgate at (setting `public_url`).
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a commented configuration file with every default.
    Default,
    /// Load the configuration as `serve` would, and report the first problem.
    Check,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    #[arg(long, default_value = "127.0.0.1:9090", value_name = "ADDR")]
    pub listen: String,
    /// A world file (accounts, users, apps) instead of the default seed.
    #[arg(long, value_name = "FILE")]
    pub seed: Option<PathBuf>,
    /// The sandbox's base URL in links, when it is reached through another address.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Turn Zoom's rate limits off (benchmarks).
    #[arg(long)]
    pub no_rate_limits: bool,
    /// Access-token lifetime in seconds.
    #[arg(long, default_value_t = 3599)]
    pub token_ttl_secs: u64,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: String,
    #[arg(long, default_value = "127.0.0.1:9090", value_name = "ADDR")]
    pub sandbox_listen: String,
    /// The global `--database-url`, when given on the command line: the demo then runs on that
    /// (empty) database instead of a fresh SQLite file. Never `database_url` from the
    /// configuration file or the environment, which may name a real deployment's database: the
    /// demo fills its database with made-up data.
    #[arg(skip)]
    pub database_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct Output {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant and print its first API key.
    Create {
        name: String,
        /// A URL prefix connect sessions may return to (repeatable).
        #[arg(long = "return-url", value_name = "URL")]
        return_urls: Vec<String>,
        /// Issue an `mg_test_` key instead of `mg_live_`.
        #[arg(long)]
        test: bool,
        #[command(flatten)]
        output: Output,
    },
    List {
        #[command(flatten)]
        output: Output,
    },
    Show {
        /// Tenant id or slug.
        tenant: String,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value = "")]
        label: String,
        #[arg(long)]
        test: bool,
        #[command(flatten)]
        output: Output,
    },
    List {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        output: Output,
    },
    Revoke {
        #[arg(long)]
        tenant: String,
        /// The key's id (from `apikey list`).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Print a single-use invitation link (valid 7 days) with which the person chooses their
    /// own password. The usual way to bring in a tenant's first admin.
    Invite {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        /// `admin` or `clinician`.
        #[arg(long, default_value = "clinician")]
        role: String,
        #[command(flatten)]
        output: Output,
    },
    /// Create a member with a password read from the environment variable named by
    /// --password-env, never from a flag (flags end up in shell history and `ps`).
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// `admin` or `clinician`.
        #[arg(long, default_value = "clinician")]
        role: String,
        #[arg(long, default_value = "MEETGATE_MEMBER_PASSWORD")]
        password_env: String,
        #[command(flatten)]
        output: Output,
    },
    List {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        output: Output,
    },
    /// Print a single-use link (valid 24 hours) with which a member who forgot their password
    /// chooses a new one; their sessions end when they do.
    ResetPassword {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[command(flatten)]
        output: Output,
    },
    /// The tenant's invitations and password reset links, newest first, with their state.
    Invitations {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        output: Output,
    },
    /// Withdraw an unused invitation or password reset link: it stops working at once.
    RevokeInvitation {
        #[arg(long)]
        tenant: String,
        /// The invitation's id (from `member invitations`).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once at start-up; boxing would only obscure the clap derive"
)]
pub enum ZoomAppCommand {
    /// Register a Zoom app. The client secret and webhook secret are read from the environment
    /// variables named by --client-secret-env and --webhook-secret-env, never from flags.
    Add {
        /// Tenant id or slug; absent: shared by every tenant.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, default_value = "Zoom")]
        name: String,
        /// `user_managed`, `admin_managed` or `server_to_server`.
        #[arg(long = "type")]
        app_type: String,
        #[arg(long)]
        client_id: String,
        #[arg(long, default_value = "ZOOM_CLIENT_SECRET")]
        client_secret_env: String,
        #[arg(long, default_value = "ZOOM_WEBHOOK_SECRET")]
        webhook_secret_env: String,
        /// Server-to-server apps: the owning Zoom account id.
        #[arg(long)]
        account_id: Option<String>,
        /// Space-separated scopes to request.
        #[arg(long, default_value = "")]
        scopes: String,
        /// Zoom's OAuth base (default https://zoom.us).
        #[arg(long)]
        auth_base_url: Option<String>,
        /// Zoom's API base (default https://api.zoom.us).
        #[arg(long)]
        api_base_url: Option<String>,
        /// Verify the credentials against Zoom's token endpoint after registering.
        #[arg(long)]
        check: bool,
        #[command(flatten)]
        output: Output,
    },
    List {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        output: Output,
    },
    /// Verify an app's credentials against Zoom's token endpoint.
    Check { id: String },
}

#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    List {
        #[arg(long)]
        tenant: String,
        /// Only this state: connected, needs_reauth, revoked, superseded.
        #[arg(long)]
        state: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    Show {
        #[arg(long)]
        tenant: String,
        /// The host app's id for the user.
        #[arg(long)]
        user: String,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[arg(long)]
    pub tenant: String,
    /// The host app's id for the user.
    #[arg(long)]
    pub user: String,
    /// Check creating meetings for this Zoom user (id or email) instead of the connected one.
    #[arg(long)]
    pub host: Option<String>,
    #[command(flatten)]
    pub output: Output,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// The configured keys and the keys the database knows.
    Status {
        #[command(flatten)]
        output: Output,
    },
    /// Re-encrypt every stored secret under the primary (first) key. Resumable; the service may
    /// keep running.
    Rotate {
        #[arg(long, default_value_t = 500)]
        batch: u32,
    },
    /// Print a new random key entry (`id:base64`) to put first in `vault.keys`.
    Generate {
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Write the audit log as JSON lines.
    Export {
        /// Tenant id or slug; absent: every tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// File to write; absent: standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}
