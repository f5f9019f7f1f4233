//! The `meetgate` binary: configuration in, then one command.
// Printing is this binary's job: it is a command-line tool.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cli;
mod commands;
mod config_load;
mod logging;
mod table;

use std::collections::HashMap;
use std::process::ExitCode;

use clap::Parser;
use toml::Value;

use crate::cli::{Cli, Command};

/// mimalloc rather than glibc's malloc: allocation was a quarter of the instructions per request
/// (docs/performance.md). The bench uses it too, so that the bare proxy it compares against
/// allocates the same way.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn overrides(cli: &Cli) -> config_load::Overrides {
    let mut out: config_load::Overrides = Vec::new();
    let g = &cli.global;
    if let Some(dir) = &g.data_dir {
        out.push(("data_dir", Value::String(dir.display().to_string())));
    }
    if let Some(url) = &g.database_url {
        out.push(("database_url", Value::String(url.clone())));
    }
    if g.log_json {
        out.push(("log.format", Value::String("json".into())));
    }
    if let Some(level) = &g.log_level {
        out.push(("log.level", Value::String(level.clone())));
    }
    if let Command::Serve(args) = &cli.command {
        if let Some(listen) = &args.listen {
            out.push(("listen", Value::String(listen.clone())));
        }
        if let Some(url) = &args.public_url {
            out.push(("public_url", Value::String(url.clone())));
        }
    }
    out
}

async fn run(mut cli: Cli) -> anyhow::Result<()> {
    if let Command::Demo(args) = &mut cli.command {
        args.database_url = cli.global.database_url.clone();
    }
    let env: HashMap<String, String> = std::env::vars().collect();
    let loaded = config_load::load(cli.global.config.as_deref(), &env, overrides(&cli))?;
    if !matches!(cli.command, Command::Config(_)) {
        logging::init(&loaded.config.log)?;
        for warning in &loaded.warnings {
            tracing::warn!("{warning}");
        }
    }
    commands::dispatch(cli.command, loaded).await
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("meetgate: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line that names the problem; no backtrace.
            eprintln!("meetgate: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, like anyhow's `{:#}`, but without a cause that the
/// message before it already quotes: many errors put their source in their own message
/// (thiserror's `"...: {0}"` with `#[from]`), and the line would say it twice.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::one_line;

    /// What thiserror's `#[error("database: {0}")]` with `#[from]` makes.
    #[derive(Debug)]
    struct Quotes(std::io::Error);

    impl std::fmt::Display for Quotes {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "database: {}", self.0)
        }
    }

    impl std::error::Error for Quotes {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_is_said_once() {
        let quoting = anyhow::Error::from(Quotes(std::io::Error::other("refused")))
            .context("starting meetgate");
        assert_eq!(one_line(&quoting), "starting meetgate: database: refused");
        let plain = anyhow::Error::from(std::io::Error::other("refused")).context("database");
        assert_eq!(one_line(&plain), "database: refused");
    }
}
