//! The results of one run: the machine, the numbers, the targets met or not, as JSON and as a
//! Markdown report.

use std::fmt::Write as _;

use serde::Serialize;

use crate::scenarios::Check;
use crate::scenarios::overhead::OverheadResult;
use crate::scenarios::scale::ScaleResult;
use crate::scenarios::storm::StormResult;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub memory: String,
    pub kernel: String,
}

impl Machine {
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let command = |program: &str, args: &[&str]| {
            std::process::Command::new(program)
                .args(args)
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default()
        };
        Machine {
            nproc: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            cpu_model,
            memory: command("free", &["-h"]),
            kernel: command("uname", &["-sr"]),
        }
    }
}

/// One of the targets, met or not.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub target: String,
    pub measured: String,
    /// `None`: reported, not judged (or not measured in this run).
    pub met: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub started_at: String,
    pub command: String,
    pub smoke: bool,
    pub machine: Machine,
    pub overhead: Option<OverheadResult>,
    pub storms: Vec<StormResult>,
    pub scales: Vec<ScaleResult>,
    pub verdicts: Vec<Verdict>,
    pub checks: Vec<Check>,
    /// Parts that could not run, with why (the rest of the run went on).
    pub failures: Vec<String>,
}

impl Results {
    pub fn counts_ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok || !c.enforced)
    }
}

fn mib(kib: u64) -> String {
    format!("{:.0}", kib as f64 / 1024.0)
}

/// The targets, judged on this run's numbers.
pub fn verdicts(
    overhead: Option<&OverheadResult>,
    storms: &[StormResult],
    full_storm: usize,
) -> Vec<Verdict> {
    let mut out = Vec::new();
    if let Some(o) = overhead {
        let find = |t: &str, b: &str| {
            o.comparisons
                .iter()
                .find(|c| c.target == t && c.against == b)
        };
        if let Some(c) = find("meetgate-sqlite", "proxy") {
            out.push(Verdict {
                target: "SQLite: throughput >= 60% of the bare proxy's".into(),
                measured: format!("{:.0}%", c.throughput_ratio.median * 100.0),
                met: Some(c.throughput_ratio.median >= 0.6),
            });
        }
        if let Some(c) = find("meetgate-sqlite", "direct") {
            match c.added_p50_ms.iter().find(|(r, _)| *r == 500) {
                Some((_, s)) => out.push(Verdict {
                    target: "SQLite: <= 0.5 ms added over direct at p50, 500 rps".into(),
                    measured: format!("{} ms", s.show(2)),
                    met: Some(s.median <= 0.5),
                }),
                None => out.push(Verdict {
                    target: "SQLite: <= 0.5 ms added over direct at p50, 500 rps".into(),
                    measured: "500 rps not in --rates".into(),
                    met: None,
                }),
            }
        }
        for against in ["proxy", "direct"] {
            if let Some(c) = find("meetgate-postgres", against) {
                let added = c
                    .added_p50_ms
                    .iter()
                    .map(|(r, s)| format!("{} ms at {r} rps", s.show(2)))
                    .collect::<Vec<_>>()
                    .join(", ");
                out.push(Verdict {
                    target: format!("PostgreSQL against {against} (reported)"),
                    measured: format!(
                        "throughput {:.0}% of {against}; p50 added {added}",
                        c.throughput_ratio.median * 100.0
                    ),
                    met: None,
                });
            }
        }
    }
    for s in storms {
        let full = s.grants == full_storm;
        let counts = s.refreshes == s.grants as u64 && s.invalid_grant == 0;
        out.push(Verdict {
            target: format!(
                "storm ({}), N={}: exactly N refreshes, 0 invalid_grant, under 10 s",
                s.backend.name(),
                s.grants
            ),
            measured: format!(
                "{} refreshes, {} invalid_grant, {:.2} s wall ({} requests){}",
                s.refreshes,
                s.invalid_grant,
                s.wall_secs,
                s.requests,
                if full {
                    ""
                } else {
                    " — not the N=10,000 of the target"
                }
            ),
            met: full.then_some(counts && s.wall_secs < 10.0),
        });
    }
    out
}

pub fn markdown(r: &Results) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# meetgate benchmark{}\n",
        if r.smoke { " (smoke)" } else { "" }
    );
    let _ = writeln!(md, "Run {} · `{}`\n", r.started_at, r.command);
    let _ = writeln!(
        md,
        "Machine: {} cores ({}), {}, {}.\n",
        r.machine.nproc,
        r.machine.cpu_model,
        r.machine
            .memory
            .lines()
            .nth(1)
            .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
            .unwrap_or_default(),
        r.machine.kernel
    );
    if !r.failures.is_empty() {
        let _ = writeln!(md, "## Not measured\n");
        for f in &r.failures {
            let _ = writeln!(md, "- {}", f.replace('\n', " "));
        }
        md.push('\n');
    }
    if let Some(o) = &r.overhead {
        overhead_md(&mut md, o);
    }
    if !r.storms.is_empty() {
        storm_md(&mut md, &r.storms);
    }
    if !r.scales.is_empty() {
        scale_md(&mut md, &r.scales);
    }
    if !r.verdicts.is_empty() {
        let _ = writeln!(
            md,
            "## Targets\n\n| target | measured | met |\n|---|---|---|"
        );
        for v in &r.verdicts {
            let met = match v.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "–",
            };
            let _ = writeln!(md, "| {} | {} | {met} |", v.target, v.measured);
        }
        md.push('\n');
    }
    let _ = writeln!(
        md,
        "## Counts\n\n| scenario | what | expected | got | |\n|---|---|---|---|---|"
    );
    for c in &r.checks {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            c.scenario,
            c.what,
            c.expected,
            c.got,
            match (c.ok, c.enforced) {
                (true, _) => "ok",
                (false, true) => "**WRONG**",
                (false, false) => "not all (reported, not enforced)",
            }
        );
    }
    md
}

fn overhead_md(md: &mut String, o: &OverheadResult) {
    let _ = writeln!(
        md,
        "## Overhead: creating a meeting\n\n{} users per target; {} s measured after {} s warm-up per level; open loop (latency from the scheduled send time); saturation = closed loop with {} clients. Median [min–max] over repetitions.{}\n",
        o.users_per_target,
        o.duration_secs,
        o.warmup_secs,
        o.saturation_concurrency,
        if o.idempotency_key {
            ""
        } else {
            " meetgate's creates carried no Idempotency-Key (`--without-idempotency-key`)."
        }
    );
    let _ = writeln!(
        md,
        "| target | saturation (creates/s) | p50 at saturation (ms) | failed | CPU ms per create: target / sandbox / load generator (+ PostgreSQL server) | target: kernel share (%) | target: context switches per create |\n|---|---|---|---|---|---|---|"
    );
    for t in &o.targets {
        let database = t
            .cpu_ms_database
            .as_ref()
            .map(|d| format!(" (+ {})", d.show(3)))
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} / {} / {}{} | {} | {} |",
            t.name,
            t.saturation_rps.show(0),
            t.saturation_p50_ms.show(2),
            t.saturation_failed,
            t.cpu_ms_target.show(3),
            t.cpu_ms_sandbox.show(3),
            t.cpu_ms_bench.show(3),
            database,
            t.kernel_pct_target.show(0),
            t.switches_target.show(1)
        );
    }
    let _ = writeln!(
        md,
        "\n| target | offered rps | p50 (ms) | p90 (ms) | p99 (ms) | achieved rps | failed / sent |\n|---|---|---|---|---|---|---|"
    );
    for t in &o.targets {
        for l in &t.levels {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} / {} |",
                t.name,
                l.rate,
                l.p50_ms.show(2),
                l.p90_ms.show(2),
                l.p99_ms.show(2),
                l.throughput.show(0),
                l.failed,
                l.sent
            );
        }
    }
    let _ = writeln!(
        md,
        "\n| meetgate | against | throughput ratio | p50 added (ms) | p99 added (ms) |\n|---|---|---|---|---|"
    );
    for c in &o.comparisons {
        let join = |v: &[(u32, crate::stats::Spread)]| {
            v.iter()
                .map(|(r, s)| format!("{r}: {}", s.show(2)))
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            c.target,
            c.against,
            c.throughput_ratio.show(2),
            join(&c.added_p50_ms),
            join(&c.added_p99_ms)
        );
    }
    let mems: Vec<String> = o
        .targets
        .iter()
        .filter_map(|t| {
            t.memory.map(|m| {
                format!(
                    "{}: {} MiB resident, {} MiB peak, ready {:.0} ms after start",
                    t.name,
                    mib(m.rss_kib),
                    mib(m.hwm_kib),
                    t.startup_ms.unwrap_or(f64::NAN)
                )
            })
        })
        .collect();
    if !mems.is_empty() {
        let _ = writeln!(
            md,
            "\nmeetgate processes after the runs: {}.",
            mems.join("; ")
        );
    }
    md.push('\n');
}

fn storm_md(md: &mut String, storms: &[StormResult]) {
    let _ = writeln!(
        md,
        "## Refresh storm\n\n| backend | grants × requests | refreshes | invalid_grant | answered / sent | wall (s) | all refreshed after (s) | p50 / p99 (ms) | meetgate RSS before → peak (MiB) | connect N grants (s) | CPU s: meetgate / sandbox / load generator |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for s in storms {
        let _ = writeln!(
            md,
            "| {} | {} × {} {} | {} | {} | {} / {} | {:.2} | {} | {:.0} / {:.0} | {} → {}{} | {:.1} | {:.1} / {:.1} / {:.1} |",
            s.backend.name(),
            s.grants,
            s.per_grant,
            match s.request {
                crate::cli::StormRequest::Create => "creates",
                crate::cli::StormRequest::StartLink => "start links",
            },
            s.refreshes,
            s.invalid_grant,
            s.created,
            s.requests,
            s.wall_secs,
            s.refreshes_done_secs
                .map(|x| format!("{x:.2}"))
                .unwrap_or_else(|| "never".into()),
            s.p50_ms,
            s.p99_ms,
            mib(s.memory_before.rss_kib),
            mib(s.peak_kib),
            if s.peak_reset {
                ""
            } else {
                " (peak since start)"
            },
            s.connect_secs,
            s.cpu_secs[0],
            s.cpu_secs[1],
            s.cpu_secs[2]
        );
        if !s.failed.is_empty() {
            let _ = writeln!(md, "\nfailures ({}): {:?}\n", s.backend.name(), s.failed);
        }
    }
    if let Some(s) = storms.first() {
        let _ = writeln!(
            md,
            "\nTokens live {} s at the sandbox, meetgate refreshes {} s before expiry; the storm starts {} s after the last connect (every stored token inside the margin) with the sandbox clock advanced {} s (every stored token really expired there). At most {} requests in flight; the {} requests of a grant are sent together.\n",
            s.token_ttl_secs,
            s.refresh_margin_secs,
            s.window_secs + 1,
            s.token_ttl_secs,
            s.in_flight,
            s.per_grant
        );
    }
}

fn scale_md(md: &mut String, scales: &[ScaleResult]) {
    let _ = writeln!(
        md,
        "## Scale\n\n| backend | connections | seeded in (s) | ready after (ms) | RSS at rest (MiB) | RSS after load (MiB) |\n|---|---|---|---|---|---|"
    );
    for s in scales {
        for b in [&s.empty, &s.full] {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.0} | {} | {} |",
                s.backend.name(),
                b.connections,
                if b.connections == 0 {
                    "–".to_owned()
                } else {
                    format!("{:.1}", s.seed_secs)
                },
                b.startup_ms,
                mib(b.at_rest.rss_kib),
                if b.connections == 0 {
                    "–".to_owned()
                } else {
                    mib(s.after_load.rss_kib)
                }
            );
        }
    }
    let _ = writeln!(
        md,
        "\nCreates on real grants among the stored connections, one client at a time (no queueing):\n\n| backend | p50 (ms) | p99 (ms) | creates/s |\n|---|---|---|---|"
    );
    for s in scales {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            s.backend.name(),
            s.unloaded_p50_ms.show(2),
            s.unloaded_p99_ms.show(2),
            s.unloaded_rps.show(0)
        );
    }
    let _ = writeln!(
        md,
        "\nThe same creates at fixed offered loads (open loop):\n\n| backend | offered rps | p50 (ms) | p90 (ms) | p99 (ms) | failed / sent |\n|---|---|---|---|---|---|"
    );
    for s in scales {
        for l in &s.levels {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} / {} |",
                s.backend.name(),
                l.rate,
                l.p50_ms.show(2),
                l.p90_ms.show(2),
                l.p99_ms.show(2),
                l.failed,
                l.sent
            );
        }
    }
    md.push('\n');
}
