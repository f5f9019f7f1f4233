//! Runs many set-up jobs (add a user, connect a user, seed a row) a few at a time, with a
//! progress line on stderr.

use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tokio::task::JoinSet;

/// Runs `job(0..n)`, `concurrency` at a time; stops at the first error.
pub async fn run_all<F, Fut>(
    label: &str,
    n: usize,
    concurrency: usize,
    job: F,
) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let job = Arc::new(job);
    let started = Instant::now();
    let mut set = JoinSet::new();
    let mut next = 0usize;
    let mut done = 0usize;
    let mut shown = Instant::now();
    while done < n {
        while next < n && set.len() < concurrency.max(1) {
            let (job, i) = (job.clone(), next);
            set.spawn(async move { job(i).await.with_context(|| format!("item {i}")) });
            next += 1;
        }
        match set.join_next().await {
            Some(result) => {
                result??;
                done += 1;
            }
            None => break,
        }
        if shown.elapsed().as_millis() >= 500 || done == n {
            shown = Instant::now();
            let secs = started.elapsed().as_secs_f64();
            let mut err = std::io::stderr();
            let _ = write!(
                err,
                "\r  {label}: {done}/{n} ({:.0}/s, {secs:.0} s)   ",
                done as f64 / secs.max(1e-9)
            );
            let _ = err.flush();
        }
    }
    if n > 0 {
        let _ = writeln!(std::io::stderr());
    }
    Ok(())
}
