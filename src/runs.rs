//! `kaudit runs`: the traced runs.

use std::path::Path;

use kaudit_graph::Db;

use crate::printer::Format;

/// List the traced runs
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Output format
    #[arg(long, value_parser = Format::among(&[Format::Text, Format::Json]), default_value = "text")]
    pub(crate) format: Format,
}

pub(crate) fn run(db_path: &Path, a: &Args) -> anyhow::Result<i32> {
    let db = Db::open_read(db_path)?;
    let runs = db.runs()?;
    let mut out = crate::printer::stdout();
    crate::printer::runs::runs(&mut out, &runs, a.format)?;
    Ok(0)
}
