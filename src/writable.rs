//! `kaudit writable`: the directories a read-only image must have writable.

use std::path::Path;
use std::path::PathBuf;

use anyhow::Result;
use kaudit_reports::graph::Graph;
use kaudit_reports::writable;

use crate::printer::Format;
use crate::shared::{load_profile, open, select};

/// The directories that must be writable in a read-only image
///
/// From the writes seen in the runs (files created, deleted, renamed or
/// modified): the top-most directories written in, each `tmpfs` when it
/// was on a tmpfs during the run or nothing written there outlived the
/// run, else `persistent`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The profile whose runs are read (default: every complete run)
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: Option<PathBuf>,
    /// text or json
    #[arg(long, value_parser = Format::among(&[Format::Text, Format::Json]), default_value = "text")]
    pub(crate) format: Format,
}

/// `kaudit writable`.
pub(crate) fn run(db_path: &Path, a: &Args) -> Result<i32> {
    let (db, _scan) = open(db_path)?;
    let profile = load_profile(a.profile.as_deref())?;
    let sel = select(&db, profile.as_ref())?;
    let mut graph = Graph::new(&db);
    let w = writable::writable(&mut graph, &sel.runs)?;
    let mut out = crate::printer::stdout();
    crate::printer::writable::write(&mut out, &w, a.format)?;
    Ok(0)
}
