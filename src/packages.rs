//! `kaudit owner`, `kaudit packages` and `kaudit install-mask`: the image
//! seen package by package.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use kaudit_graph::Db;
use kaudit_reports::profile::{human, Profile};

use crate::printer::Format;
use crate::shared::{closure_of, package_masks};

/// The packages an image keeps, with kept and dropped files and bytes
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The profile (allowlists/NAME.toml)
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: PathBuf,
    /// Also the packages that keep nothing
    #[arg(long)]
    pub(crate) all: bool,
    /// text or json
    #[arg(long, value_parser = Format::among(&[Format::Text, Format::Json]), default_value = "text")]
    pub(crate) format: Format,
}

/// `kaudit packages --profile FILE`.
pub(crate) fn run(db_path: &Path, a: &Args) -> Result<i32> {
    let db = Db::open_read(db_path)?;
    let profile = Profile::load(&a.profile)?;
    let c = closure_of(&db, &profile)?;
    let rows = package_masks(&db, &c)?;
    let mut out = crate::printer::stdout();
    match a.format {
        Format::Text => {
            writeln!(
                out,
                "{:<40} {:<28} {:>6} {:>10} {:>7} {:>10}",
                "package", "version", "kept", "bytes", "dropped", "bytes"
            )?;
            for r in rows.iter().filter(|r| r.mask.kept > 0 || a.all) {
                let m = &r.mask;
                writeln!(
                    out,
                    "{:<40} {:<28} {:>6} {:>10} {:>7} {:>10}",
                    r.atom(),
                    m.version.as_deref().unwrap_or("-"),
                    m.kept,
                    human(m.kept_bytes),
                    m.dropped,
                    human(m.dropped_bytes)
                )?;
            }
            let needed = rows.iter().filter(|r| r.mask.kept > 0).count();
            writeln!(
                out,
                "{needed} of {} packages keep files (directories not counted){}",
                rows.len(),
                if a.all {
                    ""
                } else {
                    "; --all lists the others"
                }
            )?;
        }
        _ => {
            let v: Vec<serde_json::Value> = rows
                .iter()
                .filter(|r| r.mask.kept > 0 || a.all)
                .map(|r| {
                    let m = &r.mask;
                    serde_json::json!({
                        "package": m.name, "version": m.version, "slot": r.slot, "db": r.db,
                        "kept_files": m.kept, "kept_bytes": m.kept_bytes,
                        "dropped_files": m.dropped, "dropped_bytes": m.dropped_bytes,
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
    }
    Ok(0)
}
