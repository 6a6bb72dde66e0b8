//! `kaudit scan`: the summary of a scan, a line on standard error or, asked
//! for as data, JSON on standard output.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::Result;
use kaudit_analyzer::findings::{Code, Finding, Severity};
use kaudit_analyzer::report::json_path;
use kaudit_analyzer::scan::ScanStats;

use super::Format;

/// The scan's counts, its findings by severity and code, and its time.
pub(crate) fn summary(
    root: &Path,
    db_path: &Path,
    s: &ScanStats,
    cpu: &str,
    distinct: &[&Finding],
    secs: f64,
    format: Format,
) -> Result<()> {
    let unresolved = distinct
        .iter()
        .filter(|f| f.code == Code::UnresolvedNeeded)
        .count();
    let mut by_severity = std::collections::BTreeMap::new();
    for f in distinct {
        *by_severity.entry(f.code.severity()).or_insert(0usize) += 1;
    }
    let severities = [Severity::Error, Severity::Warning, Severity::Info]
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                by_severity.get(s).copied().unwrap_or(0),
                s.as_str()
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    match format {
        // the summary of a run: standard error, like every command's
        Format::Text => eprintln!(
            "kaudit: scanned {}: {} entries ({:.1} MiB), {} ELF files, {} loads resolved, {} scripts, {} edges, {} findings ({severities}; {} unresolved-needed; `kaudit findings` lists them) in {:.2} s -> {}",
            root.display(),
            s.entries,
            s.bytes as f64 / 1048576.0,
            s.elf,
            s.loads,
            s.scripts,
            s.edges,
            distinct.len(),
            unresolved,
            secs,
            db_path.display()
        ),
        // asked for as data: standard output
        _ => {
            let mut by_code = std::collections::BTreeMap::new();
            for f in distinct {
                *by_code.entry(f.code.as_str()).or_insert(0usize) += 1;
            }
            let by_severity: std::collections::BTreeMap<&str, usize> =
                by_severity.iter().map(|(s, n)| (s.as_str(), *n)).collect();
            let v = serde_json::json!({
                "root": json_path(root.as_os_str().as_bytes()),
                "db": json_path(db_path.as_os_str().as_bytes()),
                "entries": s.entries, "bytes": s.bytes, "elf": s.elf, "loads": s.loads,
                "scripts": s.scripts, "edges": s.edges, "findings": by_code,
                "findings_by_severity": by_severity,
                "cpu": cpu, "seconds": secs,
            });
            let mut out = crate::printer::stdout();
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
    }
    Ok(())
}
