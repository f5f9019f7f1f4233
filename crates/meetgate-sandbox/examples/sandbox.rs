//! Runs the sandbox on its own until Ctrl-C:
//! `cargo run -p meetgate-sandbox --example sandbox -- 127.0.0.1:9090 [world.toml]`
//! (`meetgate sandbox --listen .. --seed ..` does the same through the main binary).

#![allow(clippy::print_stdout)]

use meetgate_sandbox::{SandboxConfig, World};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:9090".to_owned())
        .parse()?;
    let world = match args.next() {
        Some(path) => World::from_toml_str(&std::fs::read_to_string(path)?)?,
        None => World::default_seed(),
    };
    let sandbox = meetgate_sandbox::spawn(
        SandboxConfig {
            world,
            ..SandboxConfig::default()
        },
        listen,
    )
    .await?;
    println!("Zoom sandbox listening on {}", sandbox.base_url());
    println!("  OAuth:   {}oauth/authorize", sandbox.base_url());
    println!("  API:     {}v2", sandbox.base_url());
    println!("  Control: {}_sandbox/world", sandbox.base_url());
    tokio::signal::ctrl_c().await?;
    sandbox.shutdown().await;
    Ok(())
}
