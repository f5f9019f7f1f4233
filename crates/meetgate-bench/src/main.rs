//! `meetgate-bench`: what meetgate costs in latency and throughput against the Zoom sandbox,
//! whether its refresh holds when thousands of grants expire at once, and how it scales with
//! stored connections. See docs/performance.md.
// Reporting is this binary's job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cli;
mod loadgen;
mod meetgate;
mod plot;
mod processes;
mod profile;
mod proxy;
mod report;
mod sandbox;
mod scenarios;
mod stats;
mod tasks;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use crate::cli::{Cli, Command, RunArgs, Scenario};
use crate::report::{Machine, Results};

/// mimalloc rather than glibc's malloc: allocation was a quarter of the instructions per request
/// (docs/performance.md). The bench uses it too, so that the bare proxy it compares against
/// allocates the same way.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The full storm of the target.
const TARGET_STORM_GRANTS: usize = 10_000;

fn stamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        now.year(),
        now.month() as u8,
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

fn results_dir(out: &Path, suffix: &str) -> anyhow::Result<PathBuf> {
    let dir = out.join(format!("{}{suffix}", stamp()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(std::fs::canonicalize(&dir)?)
}

async fn run(args: RunArgs) -> anyhow::Result<bool> {
    let args = if args.smoke {
        args.smoke_preset()
    } else {
        args
    };
    let bin = processes::meetgate_bin(args.common.meetgate_bin.as_deref())?;
    let dir = results_dir(&args.common.out, if args.smoke { "-smoke" } else { "" })?;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    eprintln!("meetgate-bench: results in {}", dir.display());
    let started_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let clock = std::time::Instant::now();

    let mut checks = Vec::new();
    let mut failures = Vec::new();
    let overhead = if args.scenarios.contains(&Scenario::Overhead) {
        let o = scenarios::overhead::run(&args, &bin, &dir).await?;
        checks.extend(o.checks.clone());
        failures.extend(o.failures.clone());
        Some(o)
    } else {
        None
    };
    let mut storms = Vec::new();
    if args.scenarios.contains(&Scenario::Storm) {
        for &backend in &args.backends {
            match scenarios::storm::run(&args, &bin, &dir, backend).await {
                Ok(s) => {
                    checks.extend(s.checks.clone());
                    storms.push(s);
                }
                Err(e) => failures.push(failed("storm", backend, &e)),
            }
        }
    }
    let mut scales = Vec::new();
    if args.scenarios.contains(&Scenario::Scale) {
        for &backend in &args.backends {
            match scenarios::scale::run(&args, &bin, &dir, backend).await {
                Ok(s) => {
                    checks.extend(s.checks.clone());
                    scales.push(s);
                }
                Err(e) => failures.push(failed("scale", backend, &e)),
            }
        }
    }
    let verdicts = if args.smoke {
        Vec::new()
    } else {
        report::verdicts(overhead.as_ref(), &storms, TARGET_STORM_GRANTS)
    };
    let results = Results {
        started_at,
        command,
        smoke: args.smoke,
        machine: Machine::read(),
        overhead,
        storms,
        scales,
        verdicts,
        checks,
        failures,
    };
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_vec_pretty(&results)?,
    )?;
    let mut md = report::markdown(&results);
    if let Some(o) = &results.overhead {
        let png = dir.join("latency.png");
        match plot::latency_png(&png, o) {
            Ok(true) => md.push_str("Plot: `latency.png`.\n"),
            Ok(false) => md.push_str("Plot: `latency.png` (no font found: drawn without text; colours in report order: blue, orange, green, red).\n"),
            Err(e) => md.push_str(&format!("Plot failed: {e:#}\n")),
        }
    }
    std::fs::write(dir.join("results.md"), &md)?;
    println!("{md}");
    eprintln!(
        "meetgate-bench: {}{} in {:.0} s; results in {}",
        if results.counts_ok() {
            "all counts right"
        } else {
            "WRONG COUNTS"
        },
        if results.failures.is_empty() {
            ""
        } else {
            ", SOME PARTS FAILED"
        },
        clock.elapsed().as_secs_f64(),
        dir.display()
    );
    if !results.failures.is_empty() {
        anyhow::bail!("{}", results.failures.join("\n"));
    }
    Ok(results.counts_ok())
}

/// A scenario that failed on one backend: reported, and the run goes on with the others.
fn failed(scenario: &str, backend: cli::Backend, e: &anyhow::Error) -> String {
    let failure = format!("{scenario}, {}: {e:#}", backend.name());
    eprintln!("{failure}\n  (going on with the rest)");
    failure
}

async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("meetgate-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        let work = async move {
            match cli.command {
                Some(Command::Proxy(args)) => proxy::run(args).await.map(|()| true),
                Some(Command::Profile(args)) => {
                    let dir = results_dir(&args.common.out, "-profile")?;
                    profile::run(args, &dir).await.map(|()| true)
                }
                Some(Command::Run(args)) => run(args).await,
                None => run(cli.run).await,
            }
        };
        // On Ctrl-C or SIGTERM the work is dropped, and with it every child process
        // (they are spawned with kill_on_drop).
        tokio::select! {
            outcome = work => outcome,
            () = interrupted() => Err(anyhow::anyhow!("interrupted; child processes stopped")),
        }
    });
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("meetgate-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
