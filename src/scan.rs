//! `kaudit scan`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use kaudit_analyzer::loader::{LiveObjects, Resolver};
use kaudit_analyzer::rootfs::Root;
use kaudit_analyzer::scan::{self, Progress, ScanOptions};
use kaudit_graph::Db;

use crate::printer::Format;
use crate::shared::LoaderArgs;

/// Static analysis of a root filesystem into the graph
///
/// Walks DIR and records every entry (type, size, mode, owner, symlink
/// target, inode and link count), parses every ELF file (class, machine,
/// PT_INTERP, DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH, DF_1_NODEFLIB)
/// and every script's #! line, and resolves the load of every dynamic ELF
/// object with the root's own loader rules (glibc or musl). Each edge
/// records how it was found. The root's package databases (Portage's
/// /var/db/pkg, dpkg's /var/lib/dpkg) are read too: which package owns
/// each entry. Paths are interpreted inside DIR as a chroot
/// would; nothing outside DIR is read and nothing is executed.
///
/// The walk stays on DIR's filesystem (other mounts are reported, not
/// entered; see --cross-filesystems) and does not enter DIR/proc, DIR/sys
/// or DIR/dev (see --special-dirs). Scanning again replaces the previous
/// scan atomically. The summary (counts, findings by severity) goes to
/// stderr; with --format json it is data, on stdout. `kaudit findings`
/// lists the findings.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The root filesystem to analyse
    #[arg(long, value_name = "DIR")]
    pub(crate) root: PathBuf,
    /// Descend into other filesystems mounted below DIR
    #[arg(long)]
    pub(crate) cross_filesystems: bool,
    /// Also walk DIR/proc, DIR/sys and DIR/dev
    #[arg(long)]
    pub(crate) special_dirs: bool,
    #[command(flatten)]
    pub(crate) loader: LoaderArgs,
    /// PATH used to resolve `#!/usr/bin/env NAME` scripts
    #[arg(
        long = "path",
        value_name = "PATH",
        default_value = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    )]
    pub(crate) path_env: String,
    /// Output format of the summary
    #[arg(long, value_parser = Format::among(&[Format::Text, Format::Json]), default_value = "text")]
    pub(crate) format: Format,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(crate) fn run(db_path: &Path, a: &Args) -> anyhow::Result<i32> {
    let started = Instant::now();
    let started_at = now();
    let root = Root::open(&a.root)?;
    let opts = ScanOptions {
        cross_filesystems: a.cross_filesystems,
        special_dirs: a.special_dirs,
        loader: a.loader.options()?,
        path_env: a.path_env.as_bytes().to_vec(),
    };
    // a loader configuration no ldconfig could read stops the scan before
    // the graph is touched
    {
        let objects = LiveObjects::new(&root);
        Resolver::new(&root, &root, &objects, opts.loader.clone())
            .check_configuration()
            .with_context(|| format!("the loader configuration of {}", a.root.display()))?;
    }
    // then the database: a bad database fails before the work is done
    let mut db = Db::open(db_path, true)?;
    let bar = if std::io::stderr().is_terminal() && !crate::say::quiet() {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {wide_bar} {pos}/{len}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        Some(b)
    } else {
        None
    };
    let progress = |p: Progress| {
        if let Some(b) = &bar {
            match p {
                Progress::Walking(n) => {
                    b.set_message(format!("walking: {n} entries"));
                    b.tick();
                }
                Progress::Reading(n, t) => {
                    b.set_message("reading headers");
                    b.set_length(t as u64);
                    b.set_position(n as u64);
                }
                Progress::Resolving(n, t) => {
                    b.set_message("resolving loads");
                    b.set_length(t as u64);
                    b.set_position(n as u64);
                }
            }
        }
    };
    let walk = crate::say::timed("walk", || scan::walk_root(&root, &opts, &progress))
        .with_context(|| format!("scanning {}", a.root.display()))?;
    if let Some(b) = &bar {
        b.set_message("resolving loads, writing the graph");
    }
    // the entries are stored while the loads are resolved
    let result = crate::say::timed("loads resolved and the graph written", || {
        db.replace_scan_with(root.host_path(), walk.index.entries(), started_at, || {
            scan::analyze(&root, &walk, &opts, &progress)
        })
    })?;
    // the installed packages and what each owns (dpkg), read inside the root
    let packages = kaudit_analyzer::packages::read(&root, &walk.index);
    let package_findings = {
        use std::borrow::Borrow;
        let analysis: &kaudit_analyzer::scan::Analysis = result.borrow();
        kaudit_analyzer::packages::findings(&packages, &walk.index, &analysis.elf)
    };
    db.replace_packages(&packages, &package_findings)?;
    for p in &packages.problems {
        eprintln!("kaudit: packages: {p}");
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut distinct: Vec<_> = result
        .findings
        .iter()
        .map(|f| &f.finding)
        .chain(&package_findings)
        .collect();
    distinct.sort();
    distinct.dedup();
    let secs = started.elapsed().as_secs_f64();
    crate::printer::scan::summary(
        root.host_path(),
        db_path,
        &result.stats,
        &result.cpu,
        &distinct,
        secs,
        a.format,
    )?;
    Ok(0)
}
