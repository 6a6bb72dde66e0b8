//! `kaudit runs`: the traced runs.

use std::io::Write;
use std::path::Path;

use kaudit_graph::Db;

use crate::printer::Format;

/// List the traced runs
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Output format
    #[arg(long, value_parser = Format::among(&[Format::Text, Format::Json]), default_value = "text")]
    pub(crate) format: Format,
}

pub(crate) fn run(db_path: &Path, a: &Args) -> anyhow::Result<i32> {
    let db = Db::open_read(db_path)?;
    let runs = db.runs()?;
    let mut out = crate::printer::stdout();
    match a.format {
        Format::Text => {
            for r in &runs {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{} events\tnames {}",
                    r.id,
                    r.name,
                    r.status,
                    if r.complete { "complete" } else { "incomplete" },
                    r.command.as_deref().unwrap_or(&r.kind),
                    r.events,
                    match r.names.as_deref() {
                        Some("complete") => "complete",
                        Some(_) => "partial",
                        None => "none",
                    }
                )?;
            }
        }
        _ => {
            let v: Vec<_> = runs
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "id": r.id, "name": r.name, "kind": r.kind, "command": r.command,
                        "root": String::from_utf8_lossy(&r.root), "host": r.host, "kernel": r.kernel,
                        "started_at": r.started_at, "finished_at": r.finished_at,
                        "status": r.status, "complete": r.complete, "events": r.events, "lost": r.lost,
                        "names": r.names,
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
    }
    Ok(0)
}
