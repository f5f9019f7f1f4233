//! Profile of meetgate's hot path: `meetgate serve` under valgrind's callgrind, instrumentation
//! switched on only around a small fixed load of meeting creates (closed loop), then
//! `callgrind_annotate` (exclusive and inclusive) into the results folder.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::cli::{ProfileArgs, StormRequest};
use crate::loadgen::{self, Plan};
use crate::meetgate::{Meetgate, Setup, provision};
use crate::processes::{Proc, meetgate_bin};
use crate::sandbox::Sandbox;

const BODY: &str = r#"{"type":"instant","topic":"Profile check-in"}"#;

async fn tool(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .with_context(|| format!("running {program} (is valgrind installed?)"))?;
    if !out.status.success() {
        bail!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub async fn run(args: ProfileArgs, dir: &Path) -> anyhow::Result<()> {
    let bin = meetgate_bin(args.common.meetgate_bin.as_deref())?;
    let sandbox = Sandbox::start(&bin, dir, "profile-sandbox", args.token_lifetime).await?;
    let setup = Setup::fresh(
        args.backend,
        dir,
        "profile",
        &args.common.postgres_admin_url,
    )
    .await?;
    let tenant = provision(&bin, &setup, &sandbox, dir).await?;
    // Connect the users with a normal meetgate; profile a fresh one on the same database.
    let users = args.concurrency.max(1);
    let zoom_users = sandbox.add_users("profile", users, 4).await?;
    let mg = Meetgate::start(&bin, &setup, tenant.clone(), dir, "profile-meetgate-setup").await?;
    let mut urls = Vec::new();
    for (i, (email, _)) in zoom_users.iter().enumerate() {
        let user = format!("user-{i}");
        mg.connect(&sandbox, &user, email).await?;
        urls.push(match args.request {
            StormRequest::Create => mg.meetings_url(&user),
            StormRequest::StartLink => mg.create_start_link(&user).await?,
        });
    }
    mg.proc.stop().await?;

    let out_file = dir.join("callgrind.out");
    let valgrind_args: Vec<String> = [
        "--tool=callgrind".to_owned(),
        format!("--callgrind-out-file={}", out_file.display()),
        "--instr-atstart=no".to_owned(),
        bin.display().to_string(),
        "serve".to_owned(),
    ]
    .into();
    eprintln!("profile: starting meetgate under callgrind");
    let mut proc = Proc::spawn(
        "profile-meetgate-callgrind",
        Path::new("valgrind"),
        &valgrind_args,
        &setup.env(),
        dir,
    )?;
    let startup = proc
        .wait_ready(
            &format!("{}/readyz", setup.base()),
            Duration::from_secs(600),
        )
        .await?;
    eprintln!(
        "profile: ready under callgrind after {:.1} s",
        startup.as_secs_f64()
    );
    let plan = Arc::new(Plan {
        urls: loadgen::parse_urls(urls)?,
        bearers: vec![tenant.api_key.clone()],
        body: BODY.into(),
        idempotency: args.request == StormRequest::Create,
        key_prefix: format!("profile-{}", uuid::Uuid::new_v4().simple()),
        expect: match args.request {
            StormRequest::Create => 201,
            StormRequest::StartLink => 302,
        },
        seq: Arc::new(AtomicU64::new(0)),
    });
    let client = loadgen::client()?;
    let get = args.request == StormRequest::StartLink;
    // Warm-up (lazy initialisation, connection pools), not collected.
    send(&client, &plan, get, 40, users).await?;
    let pid = proc.pid.to_string();
    tool("callgrind_control", &["-i", "on", &pid]).await?;
    let started = Instant::now();
    let ok = send(&client, &plan, get, args.requests, users).await?;
    let secs = started.elapsed().as_secs_f64();
    tool("callgrind_control", &["-i", "off", &pid]).await?;
    eprintln!(
        "profile: {ok}/{} requests answered {} under callgrind in {secs:.1} s",
        args.requests, plan.expect
    );
    proc.stop().await?;
    sandbox.proc.stop().await?;

    let out = out_file.display().to_string();
    let exclusive = tool(
        "callgrind_annotate",
        &["--inclusive=no", "--threshold=99", &out],
    )
    .await?;
    let inclusive = tool(
        "callgrind_annotate",
        &["--inclusive=yes", "--threshold=99", &out],
    )
    .await?;
    std::fs::write(dir.join("callgrind-exclusive.txt"), &exclusive)?;
    std::fs::write(dir.join("callgrind-inclusive.txt"), &inclusive)?;
    println!(
        "# callgrind: {} {} ({} concurrent, tokens live {} s), {}\n",
        args.requests,
        match args.request {
            StormRequest::Create => "meeting creates",
            StormRequest::StartLink => "start links",
        },
        users,
        args.token_lifetime,
        args.backend.name()
    );
    println!(
        "## exclusive (top 40)\n\n```\n{}\n```\n",
        head(&exclusive, 60)
    );
    println!(
        "## inclusive (top 60)\n\n```\n{}\n```",
        head(&inclusive, 80)
    );
    println!("\nFull listings: {}", dir.display());
    Ok(())
}

/// Sends `n` requests with `concurrency` clients (`get`: a plain GET of the URL, as a browser
/// opens a start link); returns how many answered the plan's expected status.
async fn send(
    client: &reqwest::Client,
    plan: &Arc<Plan>,
    get: bool,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<u64> {
    let mut set = tokio::task::JoinSet::new();
    let per = n.div_ceil(concurrency);
    for c in 0..concurrency {
        let (client, plan) = (client.clone(), plan.clone());
        let count = per.min(n.saturating_sub(c * per));
        set.spawn(async move {
            let mut ok = 0u64;
            for _ in 0..count {
                let i = plan.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let request = if get {
                    client.get(plan.urls[i as usize % plan.urls.len()].clone())
                } else {
                    plan.request(&client, i)
                };
                let resp = request.timeout(Duration::from_secs(120)).send().await?;
                if resp.status().as_u16() == plan.expect {
                    ok += 1;
                }
                let _ = resp.bytes().await;
            }
            anyhow::Ok(ok)
        });
    }
    let mut ok = 0;
    while let Some(r) = set.join_next().await {
        ok += r??;
    }
    Ok(ok)
}

fn head(text: &str, lines: usize) -> String {
    text.lines().take(lines).collect::<Vec<_>>().join("\n")
}
