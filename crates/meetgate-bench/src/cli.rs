//! Command line: `meetgate-bench [run options]` runs the benchmark; `proxy` is the pass-through
//! forwarder the benchmark starts as its own process; `profile` runs meetgate under callgrind.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "meetgate-bench",
    about = "Measure what meetgate costs in latency and throughput, against the Zoom sandbox",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the benchmark (the default when no subcommand is given).
    Run(RunArgs),
    /// The bare pass-through proxy (axum + reqwest): the floor for anything in the middle.
    Proxy(ProxyArgs),
    /// Run meetgate under valgrind's callgrind with a small fixed load, and summarise.
    Profile(ProfileArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    Overhead,
    Storm,
    Scale,
}

/// What each storm request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StormRequest {
    /// A meeting create (a Zoom POST and a meeting written per request): the wall time is then
    /// mostly the create throughput.
    Create,
    /// Opening the grant's meeting's start link (one Zoom GET, nothing written): the wall time is
    /// then mostly the refresh path's. One meeting per grant is created right after its connect.
    StartLink,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct Common {
    /// The meetgate binary (default: `meetgate` next to this binary, i.e. target/release).
    #[arg(long, value_name = "PATH")]
    pub meetgate_bin: Option<PathBuf>,
    /// Where results go; each run writes `<out>/<timestamp>/`.
    #[arg(long, default_value = "bench-results", value_name = "DIR")]
    pub out: PathBuf,
    /// An admin connection for creating a fresh PostgreSQL database per run. meetgate connects
    /// with its parameters too: the default leaves TLS out, as for a database on the same host.
    #[arg(
        long,
        default_value = "postgres://meetgate:meetgate@127.0.0.1:55432/postgres?sslmode=disable",
        value_name = "URL"
    )]
    pub postgres_admin_url: String,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: Common,
    /// A few seconds: tiny counts and short loads; checks counts only (refreshes == grants,
    /// no invalid_grant, meetings created == requests sent) and exits non-zero on a wrong count.
    #[arg(long)]
    pub smoke: bool,
    /// Scenarios to run (comma separated).
    #[arg(long, value_delimiter = ',', default_values = ["overhead", "storm", "scale"])]
    pub scenarios: Vec<Scenario>,
    /// Backends for meetgate (comma separated).
    #[arg(long, value_delimiter = ',', default_values = ["sqlite", "postgres"])]
    pub backends: Vec<Backend>,
    /// Offered loads for the open-loop runs, requests per second.
    #[arg(long, value_delimiter = ',', default_values_t = [100u32, 500, 2000])]
    pub rates: Vec<u32>,
    /// Measured seconds per load level.
    #[arg(long, default_value_t = 5.0)]
    pub duration_secs: f64,
    /// Unmeasured seconds before each measurement, at the same load.
    #[arg(long, default_value_t = 1.0)]
    pub warmup_secs: f64,
    /// Repetitions; targets are interleaved within each repetition, in reverse order every
    /// other one (an A/B wants an even number).
    #[arg(long, default_value_t = 3)]
    pub reps: u32,
    /// Concurrent closed-loop clients for the saturation throughput.
    #[arg(long, default_value_t = 64)]
    pub saturation_concurrency: usize,
    /// A second meetgate binary (an older build, say) measured beside the first in the overhead
    /// scenario, as targets `meetgate-<backend>-b` interleaved with the others in every
    /// repetition: on a noisy host, an A/B within one run is the comparison that holds. Give an
    /// even `--reps`: the order of the targets flips every repetition, so that each build runs
    /// first as often as second.
    #[arg(long, value_name = "PATH")]
    pub compare_bin: Option<PathBuf>,
    /// Send meetgate's creates without an `Idempotency-Key`: no claim before the Zoom call and no
    /// replayable answer, so one write fewer per create. For measuring what the key costs;
    /// host apps should send one (a retried create without it can make a second meeting).
    #[arg(long)]
    pub without_idempotency_key: bool,
    /// Connected users the overhead load is spread over (per target).
    #[arg(long, default_value_t = 8)]
    pub users: usize,
    /// Requests in flight at most in an open-loop run; beyond it a scheduled request counts as
    /// failed (`dropped`), so that an overloaded target cannot exhaust the client.
    #[arg(long, default_value_t = 1024)]
    pub max_in_flight: usize,
    /// Refresh storm: expired grants.
    #[arg(long, default_value_t = 10_000)]
    pub storm_grants: usize,
    /// Refresh storm: concurrent requests per grant.
    #[arg(long, default_value_t = 5)]
    pub storm_per_grant: usize,
    /// Refresh storm: requests in flight at most (the requests of one grant are sent together).
    #[arg(long, default_value_t = 1000)]
    pub storm_in_flight: usize,
    /// Refresh storm: seconds between the last connect and the storm. The sandbox's token
    /// lifetime is meetgate's refresh margin (300 s) plus this, so a token counts as expiring
    /// this long after it was issued, and a refreshed token stays fresh this long.
    #[arg(long, default_value_t = 60)]
    pub storm_window_secs: u64,
    /// Refresh storm: what each request is.
    #[arg(long, value_enum, default_value_t = StormRequest::Create)]
    pub storm_request: StormRequest,
    /// Scale: stored connections.
    #[arg(long, default_value_t = 100_000)]
    pub scale_connections: usize,
    /// Scale: offered loads for the creates on the large database.
    #[arg(long, value_delimiter = ',', default_values_t = [10u32, 100])]
    pub scale_rates: Vec<u32>,
    /// Scale: seconds meetgate idles after `/readyz` before its memory at rest is read.
    #[arg(long, default_value_t = 3.0)]
    pub rest_secs: f64,
    /// Concurrent users connected through OAuth (storm set-up).
    #[arg(long, default_value_t = 48)]
    pub connect_concurrency: usize,
}

impl RunArgs {
    /// The smoke preset: tiny counts, short loads.
    pub fn smoke_preset(mut self) -> Self {
        self.rates = vec![50];
        self.duration_secs = 0.5;
        self.warmup_secs = 0.2;
        self.rest_secs = 0.5;
        self.reps = 1;
        self.saturation_concurrency = 8;
        self.users = 2;
        self.storm_grants = self.storm_grants.min(20);
        self.storm_per_grant = self.storm_per_grant.min(5);
        self.storm_window_secs = 2;
        self.scale_connections = self.scale_connections.min(200);
        self.scale_rates = vec![50];
        self
    }
}

#[derive(Debug, Clone, Args)]
pub struct ProxyArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9180")]
    pub listen: String,
    /// Where to forward every request (e.g. http://127.0.0.1:9090).
    #[arg(long)]
    pub upstream: String,
}

#[derive(Debug, Clone, Args)]
pub struct ProfileArgs {
    #[command(flatten)]
    pub common: Common,
    /// Backend of the profiled meetgate.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub backend: Backend,
    /// Requests sent (closed loop, one at a time per client after a warm-up).
    #[arg(long, default_value_t = 300)]
    pub requests: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// What each request is: a meeting create, or opening a meeting's start link.
    #[arg(long, value_enum, default_value = "create")]
    pub request: StormRequest,
    /// Lifetime of the sandbox's access tokens, in seconds. At or below meetgate's refresh margin
    /// (300 s) every token is already due, so every request refreshes its grant: a profile of the
    /// refresh path.
    #[arg(long, default_value_t = 3599)]
    pub token_lifetime: u64,
}
