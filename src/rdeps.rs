//! `kaudit rdeps`: what breaks if a path is removed.

use std::path::Path;
use std::path::PathBuf;

use anyhow::Result;
use kaudit_reports::closure;
use kaudit_reports::graph::Graph;
use kaudit_reports::why;

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
        crate::printer::why::facts(&mut out, &path, &f)?;
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
    let init = why::init_facts(&db, &path)?;
    let r = crate::printer::rdeps::Rdeps {
        path: &path,
        needed_by: &e.reasons,
        more: e.more,
        scenarios,
        lost,
        lost_bytes,
        init,
    };
    crate::printer::rdeps::write(&mut out, &r, a.format)?;
    Ok(0)
}
