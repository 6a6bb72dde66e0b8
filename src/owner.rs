//! `kaudit owner`: the package that owns each path, like `dpkg -S` and `qfile`.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use kaudit_graph::Db;
use kaudit_reports::graph::Graph;

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
        crate::printer::packages::owner(&mut out, given, &path, &owners)?;
        if owners.is_empty() {
            code = 1;
        }
    }
    Ok(code)
}
