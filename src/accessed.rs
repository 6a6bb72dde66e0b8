//! `kaudit accessed`: what a run opened, executed, listed or wrote, or the names it asked for.

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
    crate::printer::runs::accesses(&mut out, &run, &rows, a.format)?;
    Ok(0)
}

/// `kaudit accessed --names`: each name with its call and result, and the
/// symlinks it walks in the run's root (resolved now, with the analyzer's
/// root model, when the root is still there).
fn names(db: &Db, run: &kaudit_graph::RunRow, format: Format) -> anyhow::Result<i32> {
    let (rows, status) = db.names(run.id)?;
    let mut out = crate::printer::stdout();
    crate::printer::runs::names(&mut out, run, &rows, status.as_deref(), format)?;
    Ok(0)
}
