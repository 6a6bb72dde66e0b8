//! `kaudit prove`: the entries not shown necessary, or every kept entry's
//! proof as JSON.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::Result;
use kaudit_analyzer::report::json_path;
use kaudit_graph::ProofRow;
use kaudit_reports::show;

use super::Format;

/// The proof of a profile's image: as text, each entry not shown necessary
/// with why; as JSON, the summary and every entry's proof.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write(
    out: &mut impl Write,
    profile: &str,
    image: &Path,
    all: &[ProofRow],
    unproven: &[&ProofRow],
    replays: u64,
    tested: usize,
    seconds: f64,
    baseline: f64,
    format: Format,
) -> Result<()> {
    let count = |k: &str| all.iter().filter(|r| r.kind == k).count();
    match format {
        Format::Json => {
            let v = serde_json::json!({
                "profile": profile,
                "image": json_path(image.as_os_str().as_bytes()),
                "summary": {
                    "loader": count("loader"), "replay": count("replay"),
                    "include": count("include"), "parent": count("parent"),
                    "unproven": count("unproven"),
                    "replays": replays, "tested": tested,
                    "seconds": seconds, "baseline_seconds": baseline,
                },
                "entries": all.iter().map(|r| serde_json::json!({
                    "path": json_path(&r.path),
                    "proof": r.kind, "scenario": r.scenario, "step": r.step, "detail": r.detail,
                })).collect::<Vec<_>>(),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        _ => {
            for r in unproven {
                writeln!(out, "{}\t{}", show(&r.path), r.detail)?;
            }
        }
    }
    Ok(())
}
