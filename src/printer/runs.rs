//! `kaudit runs` and `kaudit accessed`: the runs, a run's accesses and the
//! names its processes asked for, as lines or JSON.

use std::io::Write;

use anyhow::Result;
use kaudit_analyzer::report::json_path;
use kaudit_graph::{AccessRow, NameRow, RunRow};

use super::Format;

/// The runs, one per line (tab-separated) or as JSON.
pub(crate) fn runs(out: &mut impl Write, runs: &[RunRow], format: Format) -> Result<()> {
    match format {
        Format::Text => {
            for r in runs {
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
                        "root": json_path(&r.root), "host": r.host, "kernel": r.kernel,
                        "started_at": r.started_at, "finished_at": r.finished_at,
                        "status": r.status, "complete": r.complete, "events": r.events, "lost": r.lost,
                        "names": r.names,
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
    }
    Ok(())
}

/// A run's accesses: each path once per line, or every access as JSON.
pub(crate) fn accesses(
    out: &mut impl Write,
    run: &RunRow,
    rows: &[AccessRow],
    format: Format,
) -> Result<()> {
    let p = json_path;
    match format {
        Format::List => {
            let mut last: Option<&[u8]> = None;
            for r in rows {
                if last != Some(r.path.as_slice()) {
                    out.write_all(&r.path)?;
                    out.write_all(b"\n")?;
                    last = Some(&r.path);
                }
            }
        }
        _ => {
            let v = serde_json::json!({
                "run": run.id, "name": run.name, "status": run.status, "complete": run.complete,
                "accesses": rows.iter().map(|r| serde_json::json!({
                    "path": p(&r.path), "kind": r.kind, "pid": r.pid, "comm": r.comm,
                    "exe": r.exe.as_deref().map(p), "parents": r.parents, "step": r.step,
                    "count": r.count, "first_ms": r.first_ms,
                })).collect::<Vec<_>>(),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
    }
    Ok(())
}

/// The names a run's processes asked for: each with its result, call and
/// the symlinks it walks, or as JSON; `status` is how complete they are.
pub(crate) fn names(
    out: &mut impl Write,
    run: &RunRow,
    rows: &[NameRow],
    status: Option<&str>,
    format: Format,
) -> Result<()> {
    let p = json_path;
    match format {
        Format::List => {
            if let Some(s) = status.filter(|s| *s != "complete") {
                eprintln!("kaudit: names of run {} are {s}", run.id);
            }
            for n in rows {
                write!(out, "{:<8} {:<11} ", n.result, n.call)?;
                out.write_all(&n.path)?;
                for (link, target) in &n.hops {
                    out.write_all(b"  [")?;
                    out.write_all(link)?;
                    out.write_all(b" -> ")?;
                    out.write_all(target)?;
                    out.write_all(b"]")?;
                }
                if let Some(t) = n
                    .resolved
                    .as_ref()
                    .filter(|t| **t != n.path || !n.hops.is_empty())
                {
                    out.write_all(b"  => ")?;
                    out.write_all(t)?;
                }
                out.write_all(b"\n")?;
            }
        }
        _ => {
            let v = serde_json::json!({
                "run": run.id, "name": run.name, "names": status,
                "asked": rows.iter().map(|n| serde_json::json!({
                    "path": p(&n.path), "call": n.call, "result": n.result,
                    "evidence": n.evidence, "nofollow": n.nofollow, "pid": n.pid,
                    "comm": n.comm, "step": n.step, "count": n.count, "first_ms": n.first_ms,
                    "symlinks": n.hops.iter().map(|(l, t)| serde_json::json!({
                        "link": p(l), "target": p(t)})).collect::<Vec<_>>(),
                    "resolved": n.resolved.as_deref().map(p),
                })).collect::<Vec<_>>(),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
    }
    Ok(())
}
