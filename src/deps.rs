//! `kaudit deps`.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use kaudit_analyzer::loader::{LiveObjects, Resolver};
use kaudit_analyzer::report::DepsReport;
use kaudit_analyzer::rootfs::Root;
use kaudit_analyzer::stored;
use kaudit_graph::{Db, DbError};

use crate::printer::Format;
use crate::shared::LoaderArgs;

/// What PATH needs at load time, and through which rule each was found
///
/// Resolves straight on a root with --root (no scan needed), or reads the
/// graph written by `kaudit scan`. Exit status 1 when a DT_NEEDED entry is
/// not found (finding unresolved-needed) or the load would abort.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Paths inside the root (absolute, e.g. /usr/bin/runc)
    #[arg(required = true, value_name = "PATH")]
    pub(crate) paths: Vec<PathBuf>,
    /// Resolve directly inside this root instead of reading the graph
    #[arg(long, value_name = "DIR")]
    pub(crate) root: Option<PathBuf>,
    /// tree: each edge with its rule; list: the closure, one path per line, as
    /// the loader opens it; json: everything, structured
    #[arg(long, value_parser = Format::among(&[Format::Tree, Format::List, Format::Json]), default_value = "tree")]
    pub(crate) format: Format,
    #[command(flatten)]
    pub(crate) loader: LoaderArgs,
}

pub(crate) fn run(db_path: &Path, a: &Args) -> anyhow::Result<i32> {
    let options = a.loader.options()?;
    if a.root.is_none() && (a.loader.cpu != "host" || a.loader.ld_library_path.is_some()) {
        anyhow::bail!("--cpu and --ld-library-path apply with --root; the graph holds the resolution of its scan");
    }
    let reports: Vec<DepsReport> = match &a.root {
        Some(dir) => {
            let root = Root::open(dir)?;
            let objects = LiveObjects::new(&root);
            let resolver = Resolver::new(&root, &root, &objects, options);
            resolver
                .check_configuration()
                .with_context(|| format!("the loader configuration of {}", dir.display()))?;
            let mut out = Vec::new();
            for p in &a.paths {
                let c = resolver.closure(p.as_os_str().as_bytes());
                let mut r = DepsReport::from(&c);
                for f in resolver.setup_findings() {
                    if !r.findings.contains(&f) {
                        r.findings.push(f);
                    }
                }
                out.push(r);
            }
            out
        }
        None => {
            let db = Db::open_read(db_path)?;
            let index = db.index()?;
            if db.scan_info()?.is_none() {
                return Err(DbError::NoScan {
                    path: db.path().to_path_buf(),
                }
                .into());
            }
            let mut out = Vec::new();
            for p in &a.paths {
                let mut own = std::collections::HashMap::new();
                let r = stored::deps(
                    &index,
                    p.as_os_str().as_bytes(),
                    |file| db.stored_load(file),
                    &mut |x: &[u8]| kaudit_reports::graph::own_needs(&db, &mut own, x),
                )?
                .with_context(|| {
                    format!("{} is not in the graph {}", p.display(), db_path.display())
                })?;
                out.push(r);
            }
            out
        }
    };
    let mut out = crate::printer::stdout();
    crate::printer::deps::write(&mut out, &reports, a.format)?;
    out.flush()?;
    let mut code = 0;
    for r in &reports {
        if r.linkage == "not-elf" && r.fatal.is_some() {
            let path = String::from_utf8_lossy(&r.path);
            let fatal = r.fatal.as_deref().unwrap_or("");
            // the message names the path already, most often
            if fatal.contains(&*path) {
                eprintln!("kaudit: error: {fatal}");
            } else {
                eprintln!("kaudit: error: {path}: {fatal}");
            }
            return Ok(2);
        }
        // the tree and JSON hold the finding; a list holds paths only, so
        // the finding is said beside it
        if a.format == Format::List {
            if let Some(fatal) = &r.fatal {
                eprintln!(
                    "kaudit: load aborts: {}: {fatal}",
                    String::from_utf8_lossy(&r.path)
                );
            }
            for e in r.unresolved() {
                eprintln!(
                    "kaudit: unresolved-needed: {} needs {}",
                    String::from_utf8_lossy(&e.from),
                    String::from_utf8_lossy(&e.name)
                );
            }
        }
        if !r.complete() {
            code = 1;
        }
    }
    Ok(code)
}
