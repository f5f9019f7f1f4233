use std::io::Write;

use anyhow::Context;
use meetgate_service::App;

use crate::cli::AuditCommand;

pub async fn run(cmd: AuditCommand, app: &App) -> anyhow::Result<()> {
    let AuditCommand::Export { tenant, output } = cmd;
    let services = &app.services;
    let tenant_id = match tenant {
        Some(t) => Some(
            services
                .find_tenant(&t)
                .await
                .with_context(|| format!("tenant {t:?}"))?
                .id,
        ),
        None => None,
    };
    let mut out: Box<dyn Write> = match &output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let mut failed: Option<std::io::Error> = None;
    let total = services
        .export_audit(tenant_id, |page| {
            for entry in page {
                if failed.is_some() {
                    return;
                }
                let line = serde_json::to_string(&entry).unwrap_or_default();
                if let Err(e) = writeln!(out, "{line}") {
                    failed = Some(e);
                }
            }
            if output.is_some() {
                eprint!(".");
            }
        })
        .await?;
    if let Some(e) = failed {
        return Err(e).context("writing the export");
    }
    out.flush()?;
    if output.is_some() {
        eprintln!("\nexported {total} audit entries");
    }
    Ok(())
}
