//! The parts under test as separate processes on loopback: the sandbox and meetgate (the release
//! binary), and the proxy (this binary's `proxy` subcommand). Each one logs to a file in the run's
//! folder, is stopped with SIGTERM (then SIGKILL), and is killed if the bench itself dies.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// A free TCP port on loopback (bound, read, released; the child binds it right after).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding a probe port")?;
    Ok(listener.local_addr()?.port())
}

/// The meetgate binary: the flag, else `meetgate` next to this executable.
pub fn meetgate_bin(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match flag {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe()?
            .parent()
            .context("no folder around the bench binary")?
            .join("meetgate"),
    };
    if !path.is_file() {
        bail!(
            "{} not found: build it first with `cargo build --release -p meetgate -p meetgate-bench`, or pass --meetgate-bin",
            path.display()
        );
    }
    Ok(path)
}

/// Memory of a process from /proc/PID/status, in KiB.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Ok(Memory {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
    })
}

/// CPU time (user + system) a process has used so far, in seconds (/proc/PID/stat).
pub fn cpu_secs(pid: u32) -> anyhow::Result<f64> {
    let t = times(pid)?;
    Ok(t.user_secs + t.system_secs)
}

/// CPU seconds used so far by every process of the PostgreSQL server on this machine (the
/// backends serving meetgate's connections, and the WAL writer, checkpointer and the rest):
/// processes named `postgres`. A process that exits between two readings takes its time with it.
pub fn postgres_server_cpu_secs() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == "postgres")
        })
        .filter_map(|pid| cpu_secs(pid).ok())
        .sum()
}

/// What a process has used so far: CPU time in user space and in the kernel, and context
/// switches (a thread giving up or losing its core; each hand-off between threads costs two).
#[derive(Debug, Clone, Copy)]
pub struct Times {
    pub user_secs: f64,
    pub system_secs: f64,
    pub switches: u64,
}

pub fn times(pid: u32) -> anyhow::Result<Times> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> u64 { fields.get(i).and_then(|f| f.parse().ok()).unwrap_or(0) };
    Ok(Times {
        user_secs: ticks(11) as f64 / clock_ticks(),
        system_secs: ticks(12) as f64 / clock_ticks(),
        switches: switches(pid),
    })
}

/// Context switches of every live thread of `pid` (/proc/PID/task/*/status).
fn switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Resets the peak-RSS mark (VmHWM) to the current RSS, so a later read shows the peak of what
/// came after. Returns false where the kernel or permissions do not allow it.
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// A child process with a name and a log file.
#[derive(Debug)]
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub pid: u32,
    pub log: PathBuf,
    pub started: Instant,
}

impl Proc {
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        dir: &Path,
    ) -> anyhow::Result<Proc> {
        let log = dir.join(format!("{name}.log"));
        let out =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let pid = child.id().context("child has no pid")?;
        Ok(Proc {
            name: name.to_owned(),
            child,
            pid,
            log,
            started,
        })
    }

    pub fn memory(&self) -> anyhow::Result<Memory> {
        memory(self.pid)
    }

    /// Fails with the tail of the log if the process already exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited ({status}); its log {}:\n{}",
                self.name,
                self.log.display(),
                tail(&self.log, 30)
            );
        }
        Ok(())
    }

    /// Polls `url` until it answers 200; returns how long after spawning it did.
    pub async fn wait_ready(&mut self, url: &str, timeout: Duration) -> anyhow::Result<Duration> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(r) = http.get(url).send().await
                && r.status().is_success()
            {
                return Ok(self.started.elapsed());
            }
            self.check_alive()?;
            if Instant::now() > deadline {
                bail!("{} not ready at {url} after {timeout:?}", self.name);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// SIGTERM, then SIGKILL after a grace period.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            self.child.start_kill()?;
            self.child.wait().await?;
        }
        Ok(())
    }
}

pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs `meetgate` once (an operator command) and returns its standard output.
pub async fn run_cli(
    bin: &Path,
    args: &[String],
    env: &[(String, String)],
    dir: &Path,
) -> anyhow::Result<String> {
    let mut cmd = Command::new(bin);
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .await
        .with_context(|| format!("running {} {}", bin.display(), args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "`meetgate {}` failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
