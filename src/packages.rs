//! `kaudit owner`, `kaudit packages` and `kaudit install-mask`: the image
//! seen package by package.

use std::path::{Path, PathBuf};

use anyhow::Result;
use kaudit_graph::Db;
use kaudit_reports::profile::Profile;

use crate::printer::Format;
use crate::shared::{closure_of, package_masks};

/// The packages an image keeps, with kept and dropped files and bytes
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The profile (allowlists/NAME.toml)
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: PathBuf,
    /// Also the packages that keep nothing
    #[arg(long)]
    pub(crate) all: bool,
    /// text or json
    #[arg(long, value_parser = Format::among(&[Format::Text, Format::Json]), default_value = "text")]
    pub(crate) format: Format,
}

/// `kaudit packages --profile FILE`.
pub(crate) fn run(db_path: &Path, a: &Args) -> Result<i32> {
    let db = Db::open_read(db_path)?;
    let profile = Profile::load(&a.profile)?;
    let c = closure_of(&db, &profile)?;
    let rows = package_masks(&db, &c)?;
    let mut out = crate::printer::stdout();
    crate::printer::packages::table(&mut out, &rows, a.all, a.format)?;
    Ok(0)
}
