use std::io::Write;

use meetgate_service::App;
use meetgate_service::clock::Clock;
use meetgate_service::vault::{Keyring, generate_key_entry, rotate_all};

use crate::cli::KeysCommand;
use crate::config_load::Loaded;
use crate::table::{print_json, print_table};

pub async fn run(cmd: KeysCommand, loaded: Loaded) -> anyhow::Result<()> {
    if let KeysCommand::Generate { id } = &cmd {
        println!("{}", generate_key_entry(id));
        return Ok(());
    }
    let app = App::build(loaded.config, Clock::system()).await?;
    let services = &app.services;
    match cmd {
        KeysCommand::Status { output } => {
            let recorded = services.store.list_key_fingerprints().await?;
            let configured = services.vault.fingerprints();
            let rows: Vec<Vec<String>> = configured
                .iter()
                .enumerate()
                .map(|(i, (id, fp))| {
                    let role = if i == 0 { "primary" } else { "decrypt-only" };
                    let known = recorded
                        .iter()
                        .any(|r| &r.key_id == id && &r.fingerprint == fp);
                    vec![
                        id.clone(),
                        role.into(),
                        fp.clone(),
                        if known { "recorded" } else { "new" }.into(),
                    ]
                })
                .collect();
            if output.json {
                print_json(
                    &serde_json::json!({ "configured": configured, "recorded": recorded.iter().map(|r| (&r.key_id, &r.fingerprint)).collect::<Vec<_>>() }),
                )?;
            } else {
                print_table(&["key id", "role", "fingerprint", "database"], rows);
            }
        }
        KeysCommand::Rotate { batch } => {
            let ring: &Keyring = &services.vault;
            eprintln!(
                "re-encrypting every stored secret under key {:?}",
                ring.primary_id()
            );
            let done = rotate_all(services.store.as_ref(), ring, batch.max(1), |p| {
                eprint!(
                    "\r{:?}: {} scanned, {} re-encrypted   ",
                    p.column, p.scanned, p.rewritten
                );
                let _ = std::io::stderr().flush();
            })
            .await?;
            eprintln!();
            println!(
                "done: {} secrets scanned, {} re-encrypted; older keys may be removed from vault.keys once every replica runs with this keyring",
                done.scanned, done.rewritten
            );
        }
        KeysCommand::Generate { .. } => {}
    }
    Ok(())
}
