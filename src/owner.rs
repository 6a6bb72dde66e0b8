//! `kaudit owner`: the package that owns each path, like `dpkg -S` and `qfile`.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use kaudit_graph::Db;
use kaudit_reports::graph::Graph;
use kaudit_reports::show;

/// The package that owns each PATH (like dpkg -S and qfile)
///
/// From the package databases the scan read (dpkg, Portage). A path is
/// taken inside the root, its directory symlinks resolved (/bin/ls is
/// /usr/bin/ls on a usrmerged root). Exit status 1 when a path has no
/// package.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Paths inside the root
    #[arg(value_name = "PATH", required = true)]
    pub(crate) paths: Vec<PathBuf>,
}

/// `kaudit owner PATH…`: like `dpkg -S` and `qfile`.
pub(crate) fn run(db_path: &Path, a: &Args) -> Result<i32> {
    let db = Db::open_read(db_path)?;
    let mut graph = Graph::new(&db);
    let mut out = crate::printer::stdout();
    let mut code = 0;
    for p in &a.paths {
        let given = p.as_os_str().as_bytes();
        let path = graph.canonical(given)?.unwrap_or_else(|| given.to_vec());
        let owners = db.owners(&path)?;
        let shown = if path == given {
            show(given)
        } else {
            format!("{} ({})", show(given), show(&path))
        };
        if owners.is_empty() {
            writeln!(out, "{shown}: no package")?;
            code = 1;
        } else {
            writeln!(out, "{}: {shown}", owners.join(", "))?;
        }
    }
    Ok(code)
}
