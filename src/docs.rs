//! `kaudit docs`: the justification pages of a profile.

use std::path::Path;
use std::path::PathBuf;

use anyhow::{Context, Result};
use kaudit_reports::closure;
use kaudit_reports::graph::Graph;
use kaudit_reports::pages::{self, PackageFiles, PkgFile, Site};
use kaudit_reports::profile::Profile;
use kaudit_reports::units::human;
use kaudit_reports::writable;

use crate::shared::{open, proof_map, remember, select};

/// Justification pages of a profile: Markdown for a repository or mdBook
///
/// Writes into DIR: index.md (totals against the whole root and the
/// budget, each scenario's share, a per-package table by size, a size
/// picture, what each kept program and library needs directly, the
/// writable directories, what was left out), a page per package under
/// packages/ (its kept files, each with the reason that keeps it, and its
/// dropped files and bytes), writable.md, size.svg, graph.svg, and
/// SUMMARY.md and book.toml for mdBook (`mdbook build DIR`; a book.toml
/// kaudit did not write is left as it is). The same graph and profile
/// give byte-identical pages. Only the files kaudit writes are replaced
/// in DIR; nothing else is touched.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The profile (allowlists/NAME.toml)
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: PathBuf,
    /// Where the pages go (created if missing)
    #[arg(long, value_name = "DIR")]
    pub(crate) out: PathBuf,
}

/// `kaudit docs`.
pub(crate) fn run(db_path: &Path, a: &Args) -> Result<i32> {
    let (db, scan) = open(db_path)?;
    let profile = Profile::load(&a.profile)?;
    let sel = select(&db, Some(&profile))?;
    let mut graph = Graph::new(&db);
    let c = crate::say::timed("closure", || {
        closure::compute(&mut graph, &sel.runs, Some(&profile))
    })?;
    let w = writable::writable(&mut graph, &sel.runs)?;
    remember(&db, &sel, &profile, &c);
    let needs = crate::say::timed("direct needs for graph.svg", || {
        pages::needs(&mut graph, &c)
    })?;
    let packages = crate::say::timed("packages and their files", || -> Result<_> {
        let mut packages = Vec::new();
        for p in db.packages()? {
            let mut files = Vec::new();
            for f in db.package_files(p.id)? {
                let dir_link = f.kind == "symlink" && graph.is_dir_link(&f.path)?;
                files.push(PkgFile {
                    path: f.path,
                    kind: f.kind,
                    size: f.size,
                    dir_link,
                });
            }
            packages.push(PackageFiles {
                name: p.name,
                version: p.version,
                files,
            });
        }
        Ok(packages)
    })?;
    let proofs = proof_map(&db, &profile.name)?;
    let site = Site {
        profile: &profile,
        root: &scan.root,
        root_entries: scan.entries,
        root_bytes: scan.bytes,
        closure: &c,
        writable: &w,
        packages: &packages,
        needs: &needs,
        proofs: proofs.as_ref(),
    };
    let written = pages::write(&site, &a.out)
        .with_context(|| format!("writing the pages into {}", a.out.display()))?;
    crate::say::note(format_args!(
        "{} page(s) and pictures written to {} ({} kept entries, {})",
        written.len(),
        a.out.display(),
        c.listed().count(),
        human(c.bytes())
    ));
    if !written.iter().any(|p| p == Path::new("book.toml")) {
        crate::say::note(format_args!(
            "{} is not the one kaudit writes: left as it is",
            a.out.join("book.toml").display()
        ));
    }
    crate::say::detail(format_args!(
        "{} runs read, {} arrows in graph.svg",
        sel.runs.len(),
        needs.len()
    ));
    for p in &written {
        crate::say::detail(format_args!("wrote {}", a.out.join(p).display()));
    }
    Ok(0)
}
