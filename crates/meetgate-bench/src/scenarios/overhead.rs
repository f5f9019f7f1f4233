//! Overhead: the same meeting create (a) straight at the sandbox with a token, (b) through the
//! bare proxy, (c) through meetgate with an API key and an Idempotency-Key, on each backend.
//! One sandbox serves all targets; the targets are interleaved within each repetition.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;

use crate::cli::{Backend, RunArgs};
use crate::loadgen::{self, Outcome, Plan};
use crate::meetgate::{Meetgate, Setup, provision};
use crate::processes::{Memory, Proc, Times, cpu_secs, free_port, postgres_server_cpu_secs, times};
use crate::sandbox::Sandbox;
use crate::scenarios::{Check, check, note};
use crate::stats::Spread;

/// What meetgate sends to Zoom for `{"type":"instant","topic":..}` under the default meeting
/// policy, so that the direct and proxy targets ask the sandbox for the same work.
const DIRECT_BODY: &str = r#"{"topic":"Bench check-in","type":1,"duration":60,"settings":{"waiting_room":true,"join_before_host":false,"mute_upon_entry":false,"host_video":true,"participant_video":true,"auto_recording":"none"}}"#;
/// Access tokens outlive every clock advance of the run (see `fresh_sandbox_state`).
pub const LONG_TTL_SECS: u64 = 30 * 24 * 3600;
const MEETGATE_BODY: &str = r#"{"type":"instant","topic":"Bench check-in"}"#;

#[derive(Debug, Clone, Serialize)]
pub struct Level {
    pub rate: u32,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rep {
    pub rep: u32,
    pub saturation: Outcome,
    /// CPU milliseconds per successful create during the saturation run, by process.
    pub cpu: CpuPerCreate,
    pub levels: Vec<Level>,
}

/// CPU milliseconds per successful create (user + system, from /proc/PID/stat).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CpuPerCreate {
    /// The target's own process (proxy or meetgate); none for direct.
    pub target: Option<f64>,
    /// The part of `target` spent in the kernel (system calls, waking threads), in percent.
    pub target_kernel_pct: Option<f64>,
    /// The target's context switches per create.
    pub target_switches: Option<f64>,
    pub sandbox: f64,
    /// The load generator (this process).
    pub bench: f64,
    /// The PostgreSQL server, for a target that uses it (every process named `postgres`).
    pub database: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LevelSummary {
    pub rate: u32,
    pub p50_ms: Spread,
    pub p90_ms: Spread,
    pub p99_ms: Spread,
    pub throughput: Spread,
    pub failed: u64,
    pub sent: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetResult {
    pub name: String,
    pub saturation_rps: Spread,
    pub saturation_p50_ms: Spread,
    pub saturation_failed: u64,
    /// CPU milliseconds per create at saturation: the target's process, the sandbox, the bench.
    pub cpu_ms_target: Spread,
    /// The part of the target's CPU spent in the kernel, percent.
    pub kernel_pct_target: Spread,
    /// The target's context switches per create.
    pub switches_target: Spread,
    pub cpu_ms_sandbox: Spread,
    pub cpu_ms_bench: Spread,
    /// The PostgreSQL server's CPU milliseconds per create, for a target that uses it.
    pub cpu_ms_database: Option<Spread>,
    pub levels: Vec<LevelSummary>,
    pub reps: Vec<Rep>,
    /// Successful creates over every run of this target, warm-ups included.
    pub ok_total: u64,
    pub sent_total: u64,
    /// Meetings the sandbox counted for this target's users.
    pub sandbox_meetings: u64,
    pub memory: Option<Memory>,
    pub startup_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub target: String,
    pub against: String,
    /// Saturation throughput of `target` over `against`, per repetition.
    pub throughput_ratio: Spread,
    /// p50 of `target` minus p50 of `against` at each rate, paired by repetition (ms).
    pub added_p50_ms: Vec<(u32, Spread)>,
    pub added_p99_ms: Vec<(u32, Spread)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OverheadResult {
    pub rates: Vec<u32>,
    pub duration_secs: f64,
    pub warmup_secs: f64,
    pub saturation_concurrency: usize,
    pub users_per_target: usize,
    /// Whether meetgate's creates carried an `Idempotency-Key` (the default).
    pub idempotency_key: bool,
    pub targets: Vec<TargetResult>,
    pub comparisons: Vec<Comparison>,
    pub checks: Vec<Check>,
    /// Targets that could not be set up, with why.
    pub failures: Vec<String>,
}

struct Target {
    name: String,
    plan: Arc<Plan>,
    user_ids: Vec<String>,
    meetgate: Option<Meetgate>,
    reps: Vec<Rep>,
    /// The target's own process, if it has one.
    pid: Option<u32>,
    /// Whether the target keeps its data in the PostgreSQL server.
    uses_postgres: bool,
    /// Successful and sent requests of the warm-up.
    warm: (u64, u64),
}

fn plan(
    urls: Vec<String>,
    bearers: Vec<String>,
    body: &str,
    idempotency: bool,
    prefix: &str,
) -> anyhow::Result<Arc<Plan>> {
    Ok(Arc::new(Plan {
        urls: loadgen::parse_urls(urls)?,
        bearers,
        body: body.to_owned(),
        idempotency,
        key_prefix: format!("{prefix}-{}", uuid::Uuid::new_v4().simple()),
        expect: 201,
        seq: Arc::new(AtomicU64::new(0)),
    }))
}

pub async fn run(args: &RunArgs, bin: &Path, dir: &Path) -> anyhow::Result<OverheadResult> {
    eprintln!("overhead: starting the sandbox and the proxy");
    let sandbox = Sandbox::start(bin, dir, "overhead-sandbox", LONG_TTL_SECS).await?;
    let users = args.users.max(1);
    let direct_users = sandbox.add_users("direct", users, 8).await?;
    let mut tokens = Vec::new();
    for (email, _) in &direct_users {
        tokens.push(sandbox.direct_token(email).await?);
    }
    let direct_ids: Vec<String> = direct_users.iter().map(|(_, id)| id.clone()).collect();

    let proxy_port = free_port()?;
    let proxy_args: Vec<String> = [
        "proxy",
        "--listen",
        &format!("127.0.0.1:{proxy_port}"),
        "--upstream",
        &sandbox.url,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let exe = std::env::current_exe()?;
    let mut proxy = Proc::spawn("overhead-proxy", &exe, &proxy_args, &[], dir)?;
    let proxy_url = format!("http://127.0.0.1:{proxy_port}");
    proxy
        .wait_ready(
            &format!("{proxy_url}/_sandbox/health"),
            Duration::from_secs(20),
        )
        .await?;

    let mut targets = vec![
        Target {
            name: "direct".into(),
            plan: plan(
                vec![format!("{}/v2/users/me/meetings", sandbox.url)],
                tokens.clone(),
                DIRECT_BODY,
                false,
                "direct",
            )?,
            user_ids: direct_ids.clone(),
            meetgate: None,
            reps: Vec::new(),
            warm: (0, 0),
            pid: None,
            uses_postgres: false,
        },
        Target {
            name: "proxy".into(),
            plan: plan(
                vec![format!("{proxy_url}/v2/users/me/meetings")],
                tokens,
                DIRECT_BODY,
                false,
                "proxy",
            )?,
            user_ids: Vec::new(),
            meetgate: None,
            reps: Vec::new(),
            warm: (0, 0),
            pid: Some(proxy.pid),
            uses_postgres: false,
        },
    ];
    let mut failures = Vec::new();
    let mut binaries = vec![(bin, "")];
    if let Some(other) = &args.compare_bin {
        binaries.push((other.as_path(), "-b"));
        if args.reps % 2 == 1 {
            eprintln!(
                "overhead: --reps {} is odd: one build runs first once more than the other (an even number balances the order)",
                args.reps
            );
        }
    }
    for &backend in &args.backends {
        for &(bin, suffix) in &binaries {
            match start_meetgate(args, bin, suffix, dir, &sandbox, backend, users).await {
                Ok(t) => targets.push(t),
                Err(e) => {
                    let failure = format!("overhead, meetgate-{}{suffix}: {e:#}", backend.name());
                    eprintln!("{failure}\n  (measuring the other targets)");
                    failures.push(failure);
                }
            }
        }
    }

    let client = loadgen::client()?;
    fresh_sandbox_state(&sandbox).await?;
    eprintln!("overhead: warming up every target");
    for t in targets.iter_mut() {
        let w = loadgen::closed_loop(&client, &t.plan, 8, 0.0, (args.warmup_secs * 2.0).max(0.2))
            .await?;
        t.warm = (w.ok_total, w.sent_total);
    }
    for rep in 1..=args.reps {
        // Every other repetition runs the targets in reverse order: on this kind of host the
        // later of two identical builds measured 5-10 % faster at saturation in 8 of 9 pairs
        // (docs/performance.md, ninth round), so a fixed order would bias an A/B.
        let order: Vec<usize> = if rep % 2 == 1 {
            (0..targets.len()).collect()
        } else {
            (0..targets.len()).rev().collect()
        };
        for &i in &order {
            let t = &mut targets[i];
            eprintln!(
                "overhead: rep {rep}/{}, {}: saturation ({} clients)",
                args.reps, t.name, args.saturation_concurrency
            );
            let before = (
                t.pid.map(times).transpose()?,
                cpu_secs(sandbox.proc.pid)?,
                cpu_secs(std::process::id())?,
                t.uses_postgres.then(postgres_server_cpu_secs),
            );
            let saturation = loadgen::closed_loop(
                &client,
                &t.plan,
                args.saturation_concurrency,
                args.warmup_secs,
                args.duration_secs,
            )
            .await?;
            let per = |now: f64, then: f64| (now - then) * 1e3 / saturation.ok_total.max(1) as f64;
            let used: Option<(Times, Times)> = match (t.pid, before.0) {
                (Some(pid), Some(then)) => Some((times(pid)?, then)),
                _ => None,
            };
            let cpu = CpuPerCreate {
                target: used.map(|(now, then)| {
                    per(
                        now.user_secs + now.system_secs,
                        then.user_secs + then.system_secs,
                    )
                }),
                target_kernel_pct: used.map(|(now, then)| {
                    let all = now.user_secs + now.system_secs - then.user_secs - then.system_secs;
                    100.0 * (now.system_secs - then.system_secs) / all.max(1e-9)
                }),
                target_switches: used.map(|(now, then)| {
                    now.switches.saturating_sub(then.switches) as f64
                        / saturation.ok_total.max(1) as f64
                }),
                sandbox: per(cpu_secs(sandbox.proc.pid)?, before.1),
                bench: per(cpu_secs(std::process::id())?, before.2),
                database: before.3.map(|then| per(postgres_server_cpu_secs(), then)),
            };
            eprintln!(
                "  {:.0} creates/s, p50 {:.2} ms, failed {}, CPU ms/create: target {:?} ({:?} % kernel, {:?} switches/create), sandbox {:.3}, bench {:.3}, PostgreSQL {:?}",
                saturation.throughput,
                saturation.p50_ms,
                saturation.failed(),
                cpu.target,
                cpu.target_kernel_pct,
                cpu.target_switches,
                cpu.sandbox,
                cpu.bench,
                cpu.database
            );
            settle(&sandbox).await?;
            let mut levels = Vec::new();
            for &rate in &args.rates {
                let outcome = loadgen::open_loop(
                    &client,
                    &t.plan,
                    rate,
                    args.warmup_secs,
                    args.duration_secs,
                    args.max_in_flight,
                )
                .await?;
                eprintln!(
                    "  {rate} rps: p50 {:.2} ms, p90 {:.2}, p99 {:.2}, ok {}/{}, failed {:?}",
                    outcome.p50_ms,
                    outcome.p90_ms,
                    outcome.p99_ms,
                    outcome.ok,
                    outcome.sent,
                    outcome.errors
                );
                levels.push(Level { rate, outcome });
                settle(&sandbox).await?;
            }
            t.reps.push(Rep {
                rep,
                saturation,
                cpu,
                levels,
            });
        }
    }

    let counters = sandbox.control.counters().await?;
    let mut results = Vec::new();
    for t in &targets {
        let ok_total: u64 = t
            .reps
            .iter()
            .flat_map(|r| std::iter::once(&r.saturation).chain(r.levels.iter().map(|l| &l.outcome)))
            .map(|o| o.ok_total)
            .sum::<u64>()
            + t.warm.0;
        let sent_total: u64 = t
            .reps
            .iter()
            .flat_map(|r| std::iter::once(&r.saturation).chain(r.levels.iter().map(|l| &l.outcome)))
            .map(|o| o.sent_total)
            .sum::<u64>()
            + t.warm.1;
        let sandbox_meetings: u64 = t
            .user_ids
            .iter()
            .map(|id| counters.meetings_created_by(id))
            .sum();
        let (memory, startup_ms) = match &t.meetgate {
            Some(m) => (m.proc.memory().ok(), Some(m.startup.as_secs_f64() * 1e3)),
            None => (None, None),
        };
        results.push(summarize(
            t,
            ok_total,
            sent_total,
            sandbox_meetings,
            memory,
            startup_ms,
        ));
    }
    let comparisons = compare(&targets);
    let checks = checks(&results, args.smoke);

    for t in targets {
        if let Some(m) = t.meetgate {
            m.proc.stop().await?;
        }
    }
    proxy.stop().await?;
    sandbox.proc.stop().await?;
    Ok(OverheadResult {
        rates: args.rates.clone(),
        duration_secs: args.duration_secs,
        warmup_secs: args.warmup_secs,
        saturation_concurrency: args.saturation_concurrency,
        idempotency_key: !args.without_idempotency_key,
        users_per_target: users,
        targets: results,
        comparisons,
        checks,
        failures,
    })
}

/// Every request answered 201, and the sandbox holds one meeting per 201. Direct and proxy
/// share their sandbox users, so their meetings are counted together.
fn checks(results: &[TargetResult], smoke: bool) -> Vec<Check> {
    let mut out = Vec::new();
    let all = if smoke { check } else { note };
    for r in results {
        out.push(all(
            "overhead",
            &format!("{}: creates answered 201", r.name),
            r.sent_total,
            r.ok_total,
            r.ok_total == r.sent_total,
        ));
    }
    let direct_ok: u64 = results
        .iter()
        .filter(|r| r.name == "direct" || r.name == "proxy")
        .map(|r| r.ok_total)
        .sum();
    for r in results {
        match r.name.as_str() {
            "proxy" => {}
            "direct" => out.push(check(
                "overhead",
                "direct+proxy: meetings at the sandbox",
                direct_ok,
                r.sandbox_meetings,
                r.sandbox_meetings == direct_ok,
            )),
            name => out.push(check(
                "overhead",
                &format!("{name}: meetings at the sandbox"),
                r.ok_total,
                r.sandbox_meetings,
                r.sandbox_meetings == r.ok_total,
            )),
        }
    }
    out
}

/// A pause between runs, so one run's tail does not land in the next; then the sandbox's
/// per-create state is made prunable again (see `fresh_sandbox_state`).
async fn settle(sandbox: &Sandbox) -> anyhow::Result<()> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    fresh_sandbox_state(sandbox).await
}

/// The sandbox mints a ZAK (valid 2 hours) for every meeting it creates and keeps it until a
/// sweep (`sweep_if_grown`: whenever the map has doubled), which runs under its global lock. A
/// run creates hundreds of thousands of meetings; advancing the sandbox clock past the ZAK
/// lifetime between runs lets each sweep drop them all, so that no run pays for an earlier
/// run's ZAKs. Access tokens live 30 days here, so no token expires.
pub async fn fresh_sandbox_state(sandbox: &Sandbox) -> anyhow::Result<()> {
    sandbox
        .control
        .advance_clock(Duration::from_secs(2 * 3600 + 1))
        .await?;
    Ok(())
}

/// A meetgate target: `bin` on a fresh database of `backend`, named `meetgate-<backend><suffix>`.
async fn start_meetgate(
    args: &RunArgs,
    bin: &Path,
    suffix: &str,
    dir: &Path,
    sandbox: &Sandbox,
    backend: Backend,
    users: usize,
) -> anyhow::Result<Target> {
    let name = format!("meetgate-{}{suffix}", backend.name());
    eprintln!("overhead: setting up {name} ({})", bin.display());
    let setup = Setup::fresh(
        backend,
        dir,
        &format!("overhead-{}{suffix}", backend.name()),
        &args.common.postgres_admin_url,
    )
    .await?;
    let tenant = provision(bin, &setup, sandbox, dir).await?;
    let meetgate = Meetgate::start(bin, &setup, tenant, dir, &format!("overhead-{name}")).await?;
    let zoom_users = sandbox
        .add_users(&format!("mg{}{suffix}-", backend.name()), users, 8)
        .await?;
    let mut urls = Vec::new();
    for (i, (email, _)) in zoom_users.iter().enumerate() {
        let user = format!("user-{i}");
        meetgate
            .connect(sandbox, &user, email)
            .await
            .with_context(|| format!("connecting {user} to {email}"))?;
        urls.push(meetgate.meetings_url(&user));
    }
    let plan = plan(
        urls,
        vec![meetgate.tenant.api_key.clone()],
        MEETGATE_BODY,
        !args.without_idempotency_key,
        &name,
    )?;
    let pid = Some(meetgate.proc.pid);
    Ok(Target {
        name,
        plan,
        user_ids: zoom_users.into_iter().map(|(_, id)| id).collect(),
        meetgate: Some(meetgate),
        reps: Vec::new(),
        warm: (0, 0),
        pid,
        uses_postgres: backend == Backend::Postgres,
    })
}

fn summarize(
    t: &Target,
    ok_total: u64,
    sent_total: u64,
    sandbox_meetings: u64,
    memory: Option<Memory>,
    startup_ms: Option<f64>,
) -> TargetResult {
    let sat: Vec<&Outcome> = t.reps.iter().map(|r| &r.saturation).collect();
    let rates: Vec<u32> = t
        .reps
        .first()
        .map(|r| r.levels.iter().map(|l| l.rate).collect())
        .unwrap_or_default();
    let levels = rates
        .iter()
        .map(|&rate| {
            let runs: Vec<&Outcome> = t
                .reps
                .iter()
                .flat_map(|r| {
                    r.levels
                        .iter()
                        .filter(|l| l.rate == rate)
                        .map(|l| &l.outcome)
                })
                .collect();
            LevelSummary {
                rate,
                p50_ms: Spread::of(&runs.iter().map(|o| o.p50_ms).collect::<Vec<_>>()),
                p90_ms: Spread::of(&runs.iter().map(|o| o.p90_ms).collect::<Vec<_>>()),
                p99_ms: Spread::of(&runs.iter().map(|o| o.p99_ms).collect::<Vec<_>>()),
                throughput: Spread::of(&runs.iter().map(|o| o.throughput).collect::<Vec<_>>()),
                failed: runs.iter().map(|o| o.failed()).sum(),
                sent: runs.iter().map(|o| o.sent).sum(),
            }
        })
        .collect();
    TargetResult {
        name: t.name.clone(),
        saturation_rps: Spread::of(&sat.iter().map(|o| o.throughput).collect::<Vec<_>>()),
        saturation_p50_ms: Spread::of(&sat.iter().map(|o| o.p50_ms).collect::<Vec<_>>()),
        saturation_failed: sat.iter().map(|o| o.failed()).sum(),
        cpu_ms_target: Spread::of(
            &t.reps
                .iter()
                .filter_map(|r| r.cpu.target)
                .collect::<Vec<_>>(),
        ),
        kernel_pct_target: Spread::of(
            &t.reps
                .iter()
                .filter_map(|r| r.cpu.target_kernel_pct)
                .collect::<Vec<_>>(),
        ),
        switches_target: Spread::of(
            &t.reps
                .iter()
                .filter_map(|r| r.cpu.target_switches)
                .collect::<Vec<_>>(),
        ),
        cpu_ms_sandbox: Spread::of(&t.reps.iter().map(|r| r.cpu.sandbox).collect::<Vec<_>>()),
        cpu_ms_bench: Spread::of(&t.reps.iter().map(|r| r.cpu.bench).collect::<Vec<_>>()),
        cpu_ms_database: t.uses_postgres.then(|| {
            Spread::of(
                &t.reps
                    .iter()
                    .filter_map(|r| r.cpu.database)
                    .collect::<Vec<_>>(),
            )
        }),
        levels,
        reps: t.reps.clone(),
        ok_total,
        sent_total,
        sandbox_meetings,
        memory,
        startup_ms,
    }
}

/// Every meetgate target against direct and against proxy, paired by repetition.
fn compare(targets: &[Target]) -> Vec<Comparison> {
    let mut out = Vec::new();
    for t in targets.iter().filter(|t| t.meetgate.is_some()) {
        for base in targets.iter().filter(|b| b.meetgate.is_none()) {
            let pairs: Vec<(&Rep, &Rep)> = t.reps.iter().zip(base.reps.iter()).collect();
            let ratio: Vec<f64> = pairs
                .iter()
                .map(|(a, b)| a.saturation.throughput / b.saturation.throughput)
                .collect();
            let rates: Vec<u32> = t
                .reps
                .first()
                .map(|r| r.levels.iter().map(|l| l.rate).collect())
                .unwrap_or_default();
            let added = |pick: fn(&Outcome) -> f64| -> Vec<(u32, Spread)> {
                rates
                    .iter()
                    .map(|&rate| {
                        let diffs: Vec<f64> = pairs
                            .iter()
                            .filter_map(|(a, b)| {
                                let x = a.levels.iter().find(|l| l.rate == rate)?;
                                let y = b.levels.iter().find(|l| l.rate == rate)?;
                                Some(pick(&x.outcome) - pick(&y.outcome))
                            })
                            .collect();
                        (rate, Spread::of(&diffs))
                    })
                    .collect()
            };
            out.push(Comparison {
                target: t.name.clone(),
                against: base.name.clone(),
                throughput_ratio: Spread::of(&ratio),
                added_p50_ms: added(|o| o.p50_ms),
                added_p99_ms: added(|o| o.p99_ms),
            });
        }
    }
    out
}
