//! Refresh storm: N real sandbox grants, all expired, M concurrent requests per grant (meeting
//! creates, or start links of one meeting per grant: `--storm-request`).
//! The sandbox must count exactly one refresh per grant and no `invalid_grant`.
//!
//! How the grants expire, honestly: meetgate reads real time, so its clock cannot be moved. The
//! sandbox issues access tokens that live `margin + window` seconds (meetgate's refresh margin is
//! pinned to its default, 300 s); the bench waits `window` seconds after the last connect, so
//! every stored token is inside meetgate's margin (meetgate must refresh it), then advances the
//! sandbox clock by the whole token lifetime, so every one of those tokens is really expired at
//! "Zoom" too. A token refreshed during the storm is fresh for `window` seconds, which is what
//! lets the other M-1 requests of its grant reuse it instead of refreshing again.
//! (A margin above the token lifetime, e.g. 3600 s against 3599 s, would make even a freshly
//! refreshed token count as expiring: every request would refresh, and the count would measure
//! the configuration, not meetgate.)

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use crate::cli::{Backend, RunArgs, StormRequest};
use crate::loadgen;
use crate::meetgate::{Meetgate, Setup, provision};
use crate::processes::{Memory, cpu_secs, memory, reset_peak};
use crate::sandbox::{Sandbox, USER_APP};
use crate::scenarios::{Check, check};
use crate::stats::quantile;
use crate::tasks::run_all;

const MARGIN_SECS: u64 = 300;
const BODY: &str = r#"{"type":"instant","topic":"Storm check-in"}"#;

#[derive(Debug, Clone, Serialize)]
pub struct StormResult {
    pub backend: Backend,
    pub request: StormRequest,
    pub grants: usize,
    pub per_grant: usize,
    pub in_flight: usize,
    pub token_ttl_secs: u64,
    pub refresh_margin_secs: u64,
    pub window_secs: u64,
    pub connect_secs: f64,
    pub requests: u64,
    pub created: u64,
    pub failed: BTreeMap<String, u64>,
    pub refreshes: u64,
    pub grants_refreshed: usize,
    pub max_refreshes_per_grant: u64,
    pub invalid_grant: u64,
    pub sandbox_meetings: u64,
    /// From the first request sent to the last answer.
    pub wall_secs: f64,
    /// From the first request sent until the sandbox had counted N refreshes (polled every
    /// 100 ms), if it got there.
    pub refreshes_done_secs: Option<f64>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub memory_before: Memory,
    /// VmHWM after the storm; reset to the current RSS just before it when `peak_reset`.
    pub peak_kib: u64,
    pub peak_reset: bool,
    /// CPU seconds used during the storm: meetgate, the sandbox, the load generator (on two
    /// cores, the wall time times two is all there is).
    pub cpu_secs: [f64; 3],
    pub checks: Vec<Check>,
}

pub async fn run(
    args: &RunArgs,
    bin: &Path,
    dir: &Path,
    backend: Backend,
) -> anyhow::Result<StormResult> {
    let (n, m, window) = (
        args.storm_grants.max(1),
        args.storm_per_grant.max(1),
        args.storm_window_secs.max(1),
    );
    let ttl = MARGIN_SECS + window;
    let label = format!("storm-{}", backend.name());
    eprintln!(
        "{label}: {n} grants x {m} requests; sandbox token lifetime {ttl} s, refresh margin {MARGIN_SECS} s"
    );
    let sandbox = Sandbox::start(bin, dir, &format!("{label}-sandbox"), ttl).await?;
    let mut setup = Setup::fresh(backend, dir, &label, &args.common.postgres_admin_url).await?;
    setup.extra_env.push((
        "MEETGATE_ZOOM_REFRESH_MARGIN_SECS".into(),
        MARGIN_SECS.to_string(),
    ));
    let tenant = provision(bin, &setup, &sandbox, dir).await?;
    let meetgate =
        Arc::new(Meetgate::start(bin, &setup, tenant, dir, &format!("{label}-meetgate")).await?);
    let users = Arc::new(sandbox.add_users("storm", n, 16).await?);
    let sandbox = Arc::new(sandbox);

    let connect_started = Instant::now();
    let start_links: Arc<Vec<std::sync::Mutex<Option<String>>>> =
        Arc::new((0..n).map(|_| std::sync::Mutex::new(None)).collect());
    {
        let (mg, sb, users, links) = (
            meetgate.clone(),
            sandbox.clone(),
            users.clone(),
            start_links.clone(),
        );
        let request = args.storm_request;
        run_all("connect (OAuth)", n, args.connect_concurrency, move |i| {
            let (mg, sb, users, links) = (mg.clone(), sb.clone(), users.clone(), links.clone());
            async move {
                let user = format!("storm-{i}");
                mg.connect(&sb, &user, &users[i].0).await?;
                if request == StormRequest::StartLink {
                    // Right after the connect, while the token is fresh: no refresh before the storm.
                    let link = mg.create_start_link(&user).await?;
                    if let Ok(mut slot) = links[i].lock() {
                        *slot = Some(link);
                    }
                }
                Ok(())
            }
        })
        .await?;
    }
    let connected_at = Instant::now();
    let connect_secs = (connected_at - connect_started).as_secs_f64();
    let ready_at = connected_at + Duration::from_secs(window + 1);
    eprintln!(
        "{label}: {n} grants connected in {connect_secs:.1} s; waiting {:.0} s until every stored token is inside the refresh margin",
        ready_at
            .saturating_duration_since(Instant::now())
            .as_secs_f64()
    );
    tokio::time::sleep_until(ready_at.into()).await;
    sandbox
        .control
        .advance_clock(Duration::from_secs(ttl))
        .await?;
    sandbox.control.reset_counters().await?;
    let peak_reset = reset_peak(meetgate.proc.pid);
    let memory_before = memory(meetgate.proc.pid)?;
    let cpu_before = [
        cpu_secs(meetgate.proc.pid)?,
        cpu_secs(sandbox.proc.pid)?,
        cpu_secs(std::process::id())?,
    ];

    eprintln!(
        "{label}: storm: {} requests, {} in flight at most",
        n * m,
        args.storm_in_flight
    );
    let client = loadgen::client()?;
    // Each grant's target, parsed once.
    let targets: Vec<reqwest::Url> = (0..n)
        .map(|g| match args.storm_request {
            StormRequest::Create => Ok(meetgate.meetings_url(&format!("storm-{g}"))),
            StormRequest::StartLink => start_links[g]
                .lock()
                .ok()
                .and_then(|l| l.clone())
                .ok_or_else(|| anyhow::anyhow!("no start link for grant {g}")),
        })
        .collect::<anyhow::Result<Vec<_>>>()
        .and_then(loadgen::parse_urls)?;
    let targets = Arc::new(targets);
    let total = n * m;
    // Request k is grant k / m's (k % m)-th; senders take the next k as each one's answer
    // comes, so a grant's m requests go out together, and a fixed set of senders keeps no more
    // than `in_flight` of them open (without a task spawned per request).
    let next = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = mpsc::unbounded_channel::<(Duration, Result<(), String>)>();
    let started = Instant::now();
    let done_flag = Arc::new(AtomicBool::new(false));
    let poller = {
        let (control, done_flag) = (sandbox.control.clone(), done_flag.clone());
        tokio::spawn(async move {
            loop {
                if let Ok(c) = control.counters().await
                    && c.total_refreshes() >= n as u64
                {
                    return Some(started.elapsed().as_secs_f64());
                }
                if done_flag.load(Ordering::Relaxed) {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let key_prefix = Arc::new(uuid::Uuid::new_v4().simple().to_string());
    for _ in 0..args.storm_in_flight.max(m).min(total) {
        let (client, targets, next, tx) =
            (client.clone(), targets.clone(), next.clone(), tx.clone());
        let (api_key, key_prefix, request) = (
            meetgate.tenant.api_key.clone(),
            key_prefix.clone(),
            args.storm_request,
        );
        tokio::spawn(async move {
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= total {
                    break;
                }
                let (g, j) = (k / m, k % m);
                let (req, expected) = match request {
                    StormRequest::Create => (
                        client
                            .post(targets[g].clone())
                            .bearer_auth(&api_key)
                            .header("content-type", "application/json")
                            .header("idempotency-key", format!("{key_prefix}-{g}-{j}"))
                            .body(BODY),
                        201,
                    ),
                    // The start link answers with a redirect to Zoom's start URL, fetched just now.
                    StormRequest::StartLink => (client.get(targets[g].clone()), 302),
                };
                let sent = Instant::now();
                let result = match req.send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let body = r.text().await.unwrap_or_default();
                        if status == expected {
                            Ok(())
                        } else {
                            Err(format!("http {status}: {}", problem_type(&body)))
                        }
                    }
                    Err(e) => Err(format!("transport: {e}")),
                };
                let _ = tx.send((sent.elapsed(), result));
            }
        });
    }
    drop(tx);
    let mut latencies = Vec::with_capacity(n * m);
    let mut failed: BTreeMap<String, u64> = BTreeMap::new();
    let mut created = 0u64;
    while let Some((lat, result)) = rx.recv().await {
        match result {
            Ok(()) => {
                created += 1;
                latencies.push(lat.as_secs_f64() * 1e3);
            }
            Err(kind) => *failed.entry(kind).or_insert(0) += 1,
        }
    }
    let wall_secs = started.elapsed().as_secs_f64();
    done_flag.store(true, Ordering::Relaxed);
    let refreshes_done_secs = poller.await.ok().flatten();
    let peak_kib = memory(meetgate.proc.pid)?.hwm_kib;
    let cpu_used = [
        cpu_secs(meetgate.proc.pid)? - cpu_before[0],
        cpu_secs(sandbox.proc.pid)? - cpu_before[1],
        cpu_secs(std::process::id())? - cpu_before[2],
    ];
    latencies.sort_by(f64::total_cmp);

    let counters = sandbox.control.counters().await?;
    let refreshes = counters.total_refreshes();
    let invalid_grant: u64 = counters.invalid_grant_by_grant_type.values().sum();
    let per_grant: Vec<u64> = users
        .iter()
        .map(|(_, id)| counters.refreshes_of(id, USER_APP))
        .collect();
    let grants_refreshed = per_grant.iter().filter(|&&c| c > 0).count();
    let max_refreshes_per_grant = per_grant.iter().copied().max().unwrap_or(0);
    let sandbox_meetings: u64 = users
        .iter()
        .map(|(_, id)| counters.meetings_created_by(id))
        .sum();
    let requests = (n * m) as u64;
    // The sandbox's counters were reset just before the storm: start links create nothing.
    let (answered_what, meetings_expected) = match args.storm_request {
        StormRequest::Create => ("meetings created (201)", requests),
        StormRequest::StartLink => ("start links answered (302)", 0),
    };
    let check = |what: &str, expected: String, got: String, ok: bool| {
        check(&label, what, expected, got, ok)
    };
    let checks = vec![
        check(
            "refreshes at the sandbox",
            n.to_string(),
            refreshes.to_string(),
            refreshes == n as u64,
        ),
        check(
            "grants refreshed exactly once",
            n.to_string(),
            format!("{grants_refreshed} (max {max_refreshes_per_grant} per grant)"),
            grants_refreshed == n && max_refreshes_per_grant == 1,
        ),
        check(
            "invalid_grant answers",
            "0".into(),
            invalid_grant.to_string(),
            invalid_grant == 0,
        ),
        check(
            answered_what,
            requests.to_string(),
            created.to_string(),
            created == requests,
        ),
        check(
            "meetings created at the sandbox during the storm",
            meetings_expected.to_string(),
            sandbox_meetings.to_string(),
            sandbox_meetings == meetings_expected,
        ),
    ];
    for c in &checks {
        eprintln!(
            "  {} {}: expected {}, got {}",
            if c.ok { "ok  " } else { "FAIL" },
            c.what,
            c.expected,
            c.got
        );
    }
    eprintln!(
        "{label}: wall {wall_secs:.2} s, refreshes done after {refreshes_done_secs:?} s, peak RSS {peak_kib} KiB, CPU s meetgate {:.1} / sandbox {:.1} / load generator {:.1}",
        cpu_used[0], cpu_used[1], cpu_used[2]
    );
    if let Ok(mg) = Arc::try_unwrap(meetgate) {
        mg.proc.stop().await?;
    }
    if let Ok(sb) = Arc::try_unwrap(sandbox) {
        sb.proc.stop().await?;
    }
    Ok(StormResult {
        backend,
        request: args.storm_request,
        grants: n,
        per_grant: m,
        in_flight: args.storm_in_flight,
        token_ttl_secs: ttl,
        refresh_margin_secs: MARGIN_SECS,
        window_secs: window,
        connect_secs,
        requests,
        created,
        failed,
        refreshes,
        grants_refreshed,
        max_refreshes_per_grant,
        invalid_grant,
        sandbox_meetings,
        wall_secs,
        refreshes_done_secs,
        p50_ms: quantile(&latencies, 0.5),
        p99_ms: quantile(&latencies, 0.99),
        max_ms: latencies.last().copied().unwrap_or(f64::NAN),
        memory_before,
        peak_kib,
        peak_reset,
        cpu_secs: cpu_used,
        checks,
    })
}

/// The `type` of a problem+json answer (its detail carries request ids), else the body's start.
fn problem_type(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["type"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(80).collect())
}
