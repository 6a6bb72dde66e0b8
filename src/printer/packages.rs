//! `kaudit packages`: each package with what the image keeps of it and
//! drops, as a table or JSON.

use std::io::Write;

use anyhow::Result;
use kaudit_reports::profile::human;

use super::Format;
use crate::shared::Row;

/// The packages that keep files (every package with `all`), as a table
/// with a closing count, or as JSON.
pub(crate) fn table(out: &mut impl Write, rows: &[Row], all: bool, format: Format) -> Result<()> {
    match format {
        Format::Text => {
            writeln!(
                out,
                "{:<40} {:<28} {:>6} {:>10} {:>7} {:>10}",
                "package", "version", "kept", "bytes", "dropped", "bytes"
            )?;
            for r in rows.iter().filter(|r| r.mask.kept > 0 || all) {
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
                if all { "" } else { "; --all lists the others" }
            )?;
        }
        _ => {
            let v: Vec<serde_json::Value> = rows
                .iter()
                .filter(|r| r.mask.kept > 0 || all)
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
    Ok(())
}
