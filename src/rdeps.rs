//! `kaudit rdeps`: what breaks if a path is removed.

use std::io::Write;
use std::path::Path;
use std::path::PathBuf;

use anyhow::Result;
use kaudit_analyzer::report::json_path;
use kaudit_reports::closure;
use kaudit_reports::graph::Graph;
use kaudit_reports::profile::human;
use kaudit_reports::{show, why};

use crate::printer::Format;
use crate::shared::{entry_path, load_profile, open, select};

/// What breaks if PATH is removed: what needs it directly, the scenarios
/// that need it, and the entries kept only through it
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The path, inside the root
    #[arg(value_name = "PATH")]
    pub(crate) path: PathBuf,
    /// The profile (default: every complete run)
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: Option<PathBuf>,
    /// text or json
    #[arg(long, value_parser = Format::among(&[Format::Text, Format::Json]), default_value = "text")]
    pub(crate) format: Format,
}

/// `kaudit rdeps`.
pub(crate) fn run(db_path: &Path, a: &Args) -> Result<i32> {
    let (db, scan) = open(db_path)?;
    let profile = load_profile(a.profile.as_deref())?;
    let sel = select(&db, profile.as_ref())?;
    let mut graph = Graph::new(&db);
    let path = entry_path(&mut graph, &scan, &a.path)?;
    let c = closure::compute(&mut graph, &sel.runs, profile.as_ref())?;
    let mut out = crate::printer::stdout();
    let Some(e) = c.entries.get(&path) else {
        let f = why::facts(
            &mut graph,
            &mut &c,
            &c.dropped,
            &c.runs,
            profile.as_ref(),
            &path,
        )?;
        out.write_all(why::render_facts(&path, &f).as_bytes())?;
        return Ok(1);
    };
    let lost = closure::kept_only_through(&mut graph, &c, profile.as_ref(), &path)?;
    let scenarios: Vec<String> = c
        .runs
        .iter()
        .filter(|r| c.per_run.get(&r.id).is_some_and(|s| s.contains(&path)))
        .map(|r| format!("{} (run {})", r.name, r.id))
        .collect();
    let lost_bytes: u64 = lost
        .iter()
        .filter_map(|p| c.entries.get(p))
        .filter(|e| e.file.kind == "file")
        .map(|e| e.file.size)
        .sum();
    match a.format {
        Format::Text => {
            let mut s = format!("removing {} breaks:\n", show(&path));
            s.push_str("  what needs it directly:\n");
            for r in &e.reasons {
                s.push_str(&format!("    {}\n", why::describe(r)));
            }
            if e.more > 0 {
                s.push_str(&format!("    … and {} more\n", e.more));
            }
            if !scenarios.is_empty() {
                s.push_str(&format!(
                    "  scenarios that need it: {}\n",
                    scenarios.join(", ")
                ));
            }
            s.push_str(&format!(
                "  entries kept only through it: {} ({})\n",
                lost.len(),
                human(lost_bytes)
            ));
            for p in &lost {
                s.push_str(&format!("    {}\n", show(p)));
            }
            // the units (and what enables them) that start it
            let init = why::init_facts(&db, &path)?;
            if !init.is_empty() {
                s.push_str("  the init system starts it:\n");
                for l in why::render_init(&init).lines() {
                    s.push_str(&format!("    {}\n", l.trim_start_matches("init system: ")));
                }
            }
            out.write_all(s.as_bytes())?;
        }
        _ => {
            let v = serde_json::json!({
                "path": json_path(&path),
                "needed_by": e.reasons,
                "more": e.more,
                "scenarios": scenarios,
                "kept_only_through": lost.iter().map(|p| json_path(p)).collect::<Vec<_>>(),
                "bytes_kept_only_through": lost_bytes,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
    }
    Ok(0)
}
