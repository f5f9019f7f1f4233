//! Scale: 100,000 stored connections. Memory at rest, start-up time to `/readyz` 200, and the
//! latency of meeting creates that must look one connection up among them.
//!
//! The bulk connections are written straight through meetgate's store and vault (the same
//! rows and ciphertexts the OAuth callback writes, with made-up tokens that are never used);
//! the connections the creates are measured on are real sandbox grants, connected through the
//! OAuth flow after the seeding. The seeded grants' next idle refresh is 30 days away, so the
//! background refresh job leaves them alone during the measurement.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use anyhow::Context;
use meetgate_service::App;
use meetgate_service::clock::Clock;
use meetgate_store::models::NewGrant;
use meetgate_store::{ConnectionId, Effects, SealedColumn, Store, TenantId, ZoomAppId};
use serde::Serialize;

use crate::cli::{Backend, RunArgs};
use crate::loadgen::{self, Plan};
use crate::meetgate::{Meetgate, Setup, provision};
use crate::processes::Memory;
use crate::sandbox::Sandbox;
use crate::scenarios::overhead::{LONG_TTL_SECS, LevelSummary, fresh_sandbox_state};
use crate::scenarios::{Check, check, note};
use crate::stats::Spread;
use crate::tasks::run_all;

const BODY: &str = r#"{"type":"instant","topic":"Scale check-in"}"#;

#[derive(Debug, Clone, Serialize)]
pub struct Boot {
    pub connections: usize,
    pub startup_ms: f64,
    pub at_rest: Memory,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScaleResult {
    pub backend: Backend,
    pub connections: usize,
    pub seed_secs: f64,
    pub empty: Boot,
    pub full: Boot,
    pub real_users: usize,
    /// One client, one create at a time: the latency of a create with no queueing.
    pub unloaded_p50_ms: Spread,
    pub unloaded_p99_ms: Spread,
    pub unloaded_rps: Spread,
    pub levels: Vec<LevelSummary>,
    pub after_load: Memory,
    pub ok_total: u64,
    pub sent_total: u64,
    pub sandbox_meetings: u64,
    pub checks: Vec<Check>,
}

/// What starting a meetgate needs.
struct Site<'a> {
    bin: &'a Path,
    setup: &'a Setup,
    tenant: &'a crate::meetgate::Tenant,
    dir: &'a Path,
    rest_secs: f64,
}

async fn boot(site: &Site<'_>, name: &str, connections: usize) -> anyhow::Result<(Meetgate, Boot)> {
    let mg = Meetgate::start(site.bin, site.setup, site.tenant.clone(), site.dir, name).await?;
    tokio::time::sleep(Duration::from_secs_f64(site.rest_secs)).await;
    let at_rest = mg.proc.memory()?;
    let startup_ms = mg.startup.as_secs_f64() * 1e3;
    eprintln!(
        "  {connections} connections: ready after {startup_ms:.0} ms, {} KiB resident at rest",
        at_rest.rss_kib
    );
    Ok((
        mg,
        Boot {
            connections,
            startup_ms,
            at_rest,
        },
    ))
}

pub async fn run(
    args: &RunArgs,
    bin: &Path,
    dir: &Path,
    backend: Backend,
) -> anyhow::Result<ScaleResult> {
    let label = format!("scale-{}", backend.name());
    let n = args.scale_connections;
    eprintln!("{label}: {n} stored connections");
    let sandbox = Sandbox::start(bin, dir, &format!("{label}-sandbox"), LONG_TTL_SECS).await?;
    let setup = Setup::fresh(backend, dir, &label, &args.common.postgres_admin_url).await?;
    let tenant = provision(bin, &setup, &sandbox, dir).await?;

    let site = Site {
        bin,
        setup: &setup,
        tenant: &tenant,
        dir,
        rest_secs: args.rest_secs,
    };
    let (mg, empty) = boot(&site, &format!("{label}-meetgate-empty"), 0).await?;
    mg.proc.stop().await?;

    let started = Instant::now();
    seed(&setup, &tenant, &sandbox, n).await?;
    let seed_secs = started.elapsed().as_secs_f64();
    eprintln!("{label}: seeded in {seed_secs:.1} s");

    let (mg, full) = boot(&site, &format!("{label}-meetgate"), n).await?;
    let users = args.users.max(1);
    let real = sandbox.add_users("scale", users, 8).await?;
    let mut urls = Vec::new();
    for (i, (email, _)) in real.iter().enumerate() {
        let user = format!("real-{i}");
        mg.connect(&sandbox, &user, email)
            .await
            .with_context(|| format!("connecting {user}"))?;
        urls.push(mg.meetings_url(&user));
    }
    let plan = Arc::new(Plan {
        urls: loadgen::parse_urls(urls)?,
        bearers: vec![mg.tenant.api_key.clone()],
        body: BODY.into(),
        idempotency: true,
        key_prefix: format!("scale-{}", uuid::Uuid::new_v4().simple()),
        expect: 201,
        seq: Arc::new(AtomicU64::new(0)),
    });
    let client = loadgen::client()?;
    let warm =
        loadgen::closed_loop(&client, &plan, 8, 0.0, (args.warmup_secs * 2.0).max(0.2)).await?;
    let mut levels = Vec::new();
    let (mut ok_total, mut sent_total) = (warm.ok_total, warm.sent_total);
    let mut unloaded = Vec::new();
    for rep in 1..=args.reps {
        fresh_sandbox_state(&sandbox).await?;
        let o =
            loadgen::closed_loop(&client, &plan, 1, args.warmup_secs, args.duration_secs).await?;
        eprintln!(
            "  one client, rep {rep}: p50 {:.2} ms, p99 {:.2} ms, {:.0} creates/s",
            o.p50_ms, o.p99_ms, o.throughput
        );
        ok_total += o.ok_total;
        sent_total += o.sent_total;
        unloaded.push(o);
    }
    for &rate in &args.scale_rates {
        let mut runs = Vec::new();
        for rep in 1..=args.reps {
            fresh_sandbox_state(&sandbox).await?;
            let o = loadgen::open_loop(
                &client,
                &plan,
                rate,
                args.warmup_secs,
                args.duration_secs,
                args.max_in_flight,
            )
            .await?;
            eprintln!(
                "  {rate} rps rep {rep}: p50 {:.2} ms, p99 {:.2} ms, ok {}/{}",
                o.p50_ms, o.p99_ms, o.ok, o.sent
            );
            ok_total += o.ok_total;
            sent_total += o.sent_total;
            runs.push(o);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        levels.push(LevelSummary {
            rate,
            p50_ms: Spread::of(&runs.iter().map(|o| o.p50_ms).collect::<Vec<_>>()),
            p90_ms: Spread::of(&runs.iter().map(|o| o.p90_ms).collect::<Vec<_>>()),
            p99_ms: Spread::of(&runs.iter().map(|o| o.p99_ms).collect::<Vec<_>>()),
            throughput: Spread::of(&runs.iter().map(|o| o.throughput).collect::<Vec<_>>()),
            failed: runs.iter().map(|o| o.failed()).sum(),
            sent: runs.iter().map(|o| o.sent).sum(),
        });
    }
    let after_load = mg.proc.memory()?;
    let counters = sandbox.control.counters().await?;
    let sandbox_meetings: u64 = real
        .iter()
        .map(|(_, id)| counters.meetings_created_by(id))
        .sum();
    mg.proc.stop().await?;
    sandbox.proc.stop().await?;
    let all = if args.smoke { check } else { note };
    let checks = vec![
        all(
            &label,
            "creates answered 201",
            sent_total,
            ok_total,
            ok_total == sent_total,
        ),
        check(
            &label,
            "meetings at the sandbox",
            ok_total,
            sandbox_meetings,
            sandbox_meetings == ok_total,
        ),
    ];
    Ok(ScaleResult {
        backend,
        connections: n,
        seed_secs,
        empty,
        full,
        real_users: users,
        unloaded_p50_ms: Spread::of(&unloaded.iter().map(|o| o.p50_ms).collect::<Vec<_>>()),
        unloaded_p99_ms: Spread::of(&unloaded.iter().map(|o| o.p99_ms).collect::<Vec<_>>()),
        unloaded_rps: Spread::of(&unloaded.iter().map(|o| o.throughput).collect::<Vec<_>>()),
        levels,
        after_load,
        ok_total,
        sent_total,
        sandbox_meetings,
        checks,
    })
}

/// Writes `n` connections through meetgate's own store and vault, in-process.
async fn seed(
    setup: &Setup,
    tenant: &crate::meetgate::Tenant,
    sandbox: &Sandbox,
    n: usize,
) -> anyhow::Result<()> {
    let app = App::build(setup.service_config(), Clock::system())
        .await
        .context("opening meetgate's database in-process")?;
    let services = app.services.clone();
    let tenant_id: TenantId = tenant
        .tenant_id
        .parse()
        .map_err(|_| anyhow::anyhow!("bad tenant id {}", tenant.tenant_id))?;
    let app_id: ZoomAppId = tenant
        .app_id
        .parse()
        .map_err(|_| anyhow::anyhow!("bad app id {}", tenant.app_id))?;
    let (account, api_url) = (sandbox.account_id.clone(), sandbox.url.clone());
    let store: Arc<dyn Store> = services.store.clone();
    let vault = services.vault.clone();
    let concurrency = match setup.backend {
        Backend::Sqlite => 4,
        Backend::Postgres => 12,
    };
    run_all("seeding connections", n, concurrency, move |i| {
        let (store, vault, account, api_url) = (
            store.clone(),
            vault.clone(),
            account.clone(),
            api_url.clone(),
        );
        async move {
            let now = time::OffsetDateTime::now_utc();
            let user = store
                .upsert_end_user(
                    tenant_id,
                    &format!("seed-{i}"),
                    Some(&format!("seed{i}@seed.example")),
                    None,
                    now,
                )
                .await?;
            let id = ConnectionId::new();
            let row = id.to_string();
            let access = vault.seal_str(
                SealedColumn::ConnectionAccessToken,
                Some(tenant_id),
                &row,
                &format!("seed-access-{}", uuid::Uuid::new_v4().simple()),
            )?;
            let refresh = vault.seal_str(
                SealedColumn::ConnectionRefreshToken,
                Some(tenant_id),
                &row,
                &format!("seed-refresh-{}", uuid::Uuid::new_v4().simple()),
            )?;
            let grant = NewGrant {
                id,
                tenant_id,
                end_user_id: user.id,
                zoom_app_id: app_id,
                zoom_user_id: format!("seedZoomUser{i:010}"),
                zoom_account_id: account,
                zoom_email: Some(format!("seed{i}@seed.example")),
                scopes: "meeting:read meeting:write user:read user_info:read".into(),
                api_url,
                access_token: access,
                access_expires_at: now + time::Duration::seconds(3599),
                refresh_token: Some(refresh),
                next_refresh_at: Some(
                    now + time::Duration::days(30) + time::Duration::seconds((i % 86_400) as i64),
                ),
                now,
                connect_session: None,
            };
            store.save_grant(&grant, &[], Effects::none()).await?;
            Ok(())
        }
    })
    .await?;
    services.store.close().await;
    Ok(())
}
