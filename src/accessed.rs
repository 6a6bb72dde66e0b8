//! `kaudit accessed`: what a run opened, executed, listed or wrote, or the names it asked for.

use std::io::Write;
use std::path::Path;

use kaudit_graph::Db;

use crate::printer::Format;

/// What a run opened, executed, listed or wrote
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A run id (see `kaudit runs`)
    #[arg(long, value_name = "ID", conflicts_with = "scenario")]
    pub(crate) run: Option<i64>,
    /// The latest run of this scenario (or ad-hoc name); default: the latest run
    #[arg(long, value_name = "NAME")]
    pub(crate) scenario: Option<String>,
    /// list: one path per line (each path once); json: every access with its process and step
    #[arg(long, value_parser = Format::among(&[Format::List, Format::Json]), default_value = "list")]
    pub(crate) format: Format,
    /// The names programs asked for instead: each path with the call, its
    /// result (ok, ENOENT, ...) and the symlinks it walks inside the run's root
    #[arg(long)]
    pub(crate) names: bool,
}

pub(crate) fn run(db_path: &Path, a: &Args) -> anyhow::Result<i32> {
    let db = Db::open_read(db_path)?;
    let Some(run) = db.find_run(a.run, a.scenario.as_deref())? else {
        anyhow::bail!("no such run in {}", db_path.display());
    };
    if a.names {
        return names(&db, &run, a.format);
    }
    let rows = db.accesses(run.id)?;
    let mut out = crate::printer::stdout();
    match a.format {
        Format::List => {
            let mut last: Option<&[u8]> = None;
            for r in &rows {
                if last != Some(r.path.as_slice()) {
                    out.write_all(&r.path)?;
                    out.write_all(b"\n")?;
                    last = Some(&r.path);
                }
            }
        }
        _ => {
            let p = kaudit_analyzer::report::json_path;
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
    Ok(0)
}

/// `kaudit accessed --names`: each name with its call and result, and the
/// symlinks it walks in the run's root (resolved now, with the analyzer's
/// root model, when the root is still there).
fn names(db: &Db, run: &kaudit_graph::RunRow, format: Format) -> anyhow::Result<i32> {
    let (rows, status) = db.names(run.id)?;
    let mut out = crate::printer::stdout();
    let p = kaudit_analyzer::report::json_path;
    match format {
        Format::List => {
            if let Some(s) = status.as_deref().filter(|s| *s != "complete") {
                eprintln!("kaudit: names of run {} are {s}", run.id);
            }
            for n in &rows {
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
    Ok(0)
}
