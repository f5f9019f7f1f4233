//! The one load generator used for every target.
//!
//! Open loop: request k is due at `start + k / rate` whatever happened to the earlier ones, and
//! its latency runs from that due time (so a stalled server is charged for the requests that
//! queued behind it: no coordinated omission). A dedicated thread keeps the schedule with
//! `std::thread::sleep` (tens of microseconds late at most, where tokio's timer wheel rounds to a
//! millisecond) and hands each request to the tokio runtime.
//!
//! Closed loop: `concurrency` clients each send their next request when the previous answered;
//! completions per second is the throughput at saturation.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use crate::stats::quantile;

/// What to send: request `i` goes to `urls[i % n]` with `bearers[i % n]`.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Parsed once: a URL given as a string is parsed again for every request, which costs the
    /// load generator CPU that the targets on the same two cores then lack.
    pub urls: Vec<reqwest::Url>,
    pub bearers: Vec<String>,
    pub body: String,
    /// Send a unique `Idempotency-Key` (`{key_prefix}-{i}`) with every request.
    pub idempotency: bool,
    pub key_prefix: String,
    /// The status that counts as success.
    pub expect: u16,
    /// Next request number (shared by every run of this plan, so keys never repeat).
    pub seq: Arc<AtomicU64>,
}

impl Plan {
    pub fn request(&self, client: &reqwest::Client, i: u64) -> reqwest::RequestBuilder {
        let n = self.urls.len().max(1) as u64;
        let url = &self.urls[(i % n) as usize];
        let bearer = &self.bearers[(i % self.bearers.len().max(1) as u64) as usize];
        let mut req = client
            .post(url.clone())
            .bearer_auth(bearer)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(self.body.clone());
        if self.idempotency {
            req = req.header("idempotency-key", format!("{}-{i}", self.key_prefix));
        }
        req
    }

    fn next(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }
}

/// Parses the URLs of a [`Plan`].
pub fn parse_urls(urls: Vec<String>) -> anyhow::Result<Vec<reqwest::Url>> {
    urls.iter()
        .map(|u| reqwest::Url::parse(u).map_err(|e| anyhow::anyhow!("bad target URL {u}: {e}")))
        .collect()
}

/// The HTTP client of the load generator (HTTP/1.1 keep-alive, no proxy). Its 60 s timeout is
/// longer than meetgate's own request timeout (30 s), so the bench never abandons a request
/// that meetgate is still working on (see docs/performance.md: a cancelled request can break
/// meetgate's SQLite writer).
pub fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(usize::MAX)
        .pool_idle_timeout(Duration::from_secs(90))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()?)
}

/// Results of one measured run.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Requests scheduled (open loop) or completed (closed loop) in the measured window.
    pub sent: u64,
    pub ok: u64,
    /// Failures by kind: `http 500`, `timeout`, `connect`, `dropped` (too many in flight) ...
    pub errors: BTreeMap<String, u64>,
    pub measured_secs: f64,
    /// Successful responses per second in the measured window.
    pub throughput: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Successful responses over the whole run, warm-up included (for count checks).
    pub ok_total: u64,
    pub sent_total: u64,
}

impl Outcome {
    pub fn failed(&self) -> u64 {
        self.errors.values().sum()
    }
}

struct Record {
    measured: bool,
    latency: Duration,
    result: Result<(), String>,
}

fn summarize(records: &[Record], measured_secs: f64) -> Outcome {
    let mut lat: Vec<f64> = Vec::new();
    let mut errors = BTreeMap::new();
    let (mut sent, mut ok, mut ok_total) = (0u64, 0u64, 0u64);
    for r in records {
        if r.result.is_ok() {
            ok_total += 1;
        }
        if !r.measured {
            continue;
        }
        sent += 1;
        match &r.result {
            Ok(()) => {
                ok += 1;
                lat.push(r.latency.as_secs_f64() * 1e3);
            }
            Err(kind) => *errors.entry(kind.clone()).or_insert(0) += 1,
        }
    }
    lat.sort_by(f64::total_cmp);
    Outcome {
        sent,
        ok,
        errors,
        measured_secs,
        throughput: ok as f64 / measured_secs.max(1e-9),
        p50_ms: quantile(&lat, 0.50),
        p90_ms: quantile(&lat, 0.90),
        p99_ms: quantile(&lat, 0.99),
        max_ms: lat.last().copied().unwrap_or(f64::NAN),
        ok_total,
        sent_total: records.len() as u64,
    }
}

fn classify(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect".into()
    } else {
        "transport".into()
    }
}

/// Sends one request and reads the whole answer.
async fn exchange(req: reqwest::RequestBuilder, expect: u16) -> Result<(), String> {
    let resp = req.send().await.map_err(|e| classify(&e))?;
    let status = resp.status().as_u16();
    let _ = resp.bytes().await.map_err(|e| classify(&e))?;
    if status == expect {
        Ok(())
    } else {
        Err(format!("http {status}"))
    }
}

/// Open loop at `rate` requests per second: `warmup` unmeasured seconds, then `duration`.
pub async fn open_loop(
    client: &reqwest::Client,
    plan: &Arc<Plan>,
    rate: u32,
    warmup: f64,
    duration: f64,
    max_in_flight: usize,
) -> anyhow::Result<Outcome> {
    let rate = f64::from(rate.max(1));
    let warm_n = (warmup * rate).round() as u64;
    let total = warm_n + (duration * rate).round() as u64;
    let (tx, mut rx) = mpsc::unbounded_channel::<Record>();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let handle = tokio::runtime::Handle::current();
    let (client, plan) = (client.clone(), plan.clone());
    let dispatcher = tokio::task::spawn_blocking(move || {
        let start = Instant::now() + Duration::from_millis(20);
        for k in 0..total {
            let due = start + Duration::from_secs_f64(k as f64 / rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            let measured = k >= warm_n;
            if in_flight.load(Ordering::Relaxed) >= max_in_flight {
                let _ = tx.send(Record {
                    measured,
                    latency: Duration::ZERO,
                    result: Err("dropped".into()),
                });
                continue;
            }
            in_flight.fetch_add(1, Ordering::Relaxed);
            let req = plan.request(&client, plan.next());
            let (tx, in_flight, expect) = (tx.clone(), in_flight.clone(), plan.expect);
            handle.spawn(async move {
                let result = exchange(req, expect).await;
                let latency = due.elapsed();
                in_flight.fetch_sub(1, Ordering::Relaxed);
                let _ = tx.send(Record {
                    measured,
                    latency,
                    result,
                });
            });
        }
    });
    let mut records = Vec::with_capacity(total as usize);
    while let Some(r) = rx.recv().await {
        records.push(r);
    }
    dispatcher.await?;
    Ok(summarize(&records, duration))
}

/// Closed loop with `concurrency` clients: `warmup` unmeasured seconds, then `duration`.
pub async fn closed_loop(
    client: &reqwest::Client,
    plan: &Arc<Plan>,
    concurrency: usize,
    warmup: f64,
    duration: f64,
) -> anyhow::Result<Outcome> {
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(warmup);
    let end = measure_from + Duration::from_secs_f64(duration);
    let (tx, mut rx) = mpsc::unbounded_channel::<Record>();
    for _ in 0..concurrency.max(1) {
        let (client, plan, tx) = (client.clone(), plan.clone(), tx.clone());
        tokio::spawn(async move {
            loop {
                let sent_at = Instant::now();
                if sent_at >= end {
                    break;
                }
                let result = exchange(plan.request(&client, plan.next()), plan.expect).await;
                let done = Instant::now();
                let _ = tx.send(Record {
                    measured: sent_at >= measure_from && done <= end,
                    latency: done - sent_at,
                    result,
                });
            }
        });
    }
    drop(tx);
    let mut records = Vec::new();
    while let Some(r) = rx.recv().await {
        records.push(r);
    }
    Ok(summarize(&records, duration))
}
