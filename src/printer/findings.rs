//! `kaudit findings`: the findings as text or JSON, and their count by
//! severity on standard error.

use std::io::Write;

use anyhow::Result;
use kaudit_analyzer::report::json_path;
use kaudit_graph::FindingRow;

use super::Format;

/// Write the findings in `format` (text or JSON).
pub(crate) fn write(out: &mut impl Write, rows: &[FindingRow], format: Format) -> Result<()> {
    match format {
        Format::Text => {
            for f in rows {
                write!(out, "{:<7} {} ", f.severity, f.code)?;
                out.write_all(&f.path)?;
                write!(out, ": {}", f.message)?;
                if f.loads > 1 {
                    write!(out, " (in {} loads)", f.loads)?;
                }
                writeln!(out)?;
            }
        }
        _ => {
            let v: Vec<serde_json::Value> = rows
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "code": f.code,
                        "severity": f.severity,
                        "path": json_path(&f.path),
                        "message": f.message,
                        "origin": f.origin,
                        "loads": f.loads,
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
    }
    Ok(())
}

/// How many findings, by severity, said on standard error beside the list
/// (a closed output still ends here).
pub(crate) fn counts(rows: &[FindingRow]) {
    let mut by_severity = std::collections::BTreeMap::new();
    for f in rows {
        *by_severity.entry(f.severity.as_str()).or_insert(0usize) += 1;
    }
    let counts: Vec<String> = ["error", "warning", "info"]
        .iter()
        .filter_map(|s| by_severity.get(s).map(|n| format!("{n} {s}")))
        .collect();
    eprintln!(
        "kaudit: {} finding(s){}",
        rows.len(),
        if counts.is_empty() {
            String::new()
        } else {
            format!(" ({})", counts.join(", "))
        }
    );
}
