//! `kaudit allowlist`: the minimal allowlist of a profile.

use std::io::Write;
use std::path::Path;
use std::path::PathBuf;

use anyhow::Result;
use kaudit_reports::closure;
use kaudit_reports::graph::Graph;
use kaudit_reports::profile::Profile;

use crate::printer::Format;
use crate::shared::{only_proven, open, remember, select, write_atomically};

/// The minimal allowlist of a profile: every entry the image needs
///
/// Computes the closure of the profile (allowlists/NAME.toml): the roots
/// are what each scenario's latest passed run accessed (opened, executed,
/// listed, modified, in use at start), every name its processes asked for
/// with success (each symlink walked and what it reached) and the
/// profile's includes; from them the graph's edges are followed (the
/// loader closure of every ELF object, interpreters, shebangs, symlink
/// hops, directory symlinks walked, parent directories), minus the
/// excludes. A run that may have lost events or names is refused unless
/// the profile says allow_incomplete = true.
///
/// Output: one absolute path per line, sorted, directories included (the
/// root directory itself is the image, not a line) — for
/// `rsync -a --files-from=LIST ROOT/ DEST/`; with --relative, for
/// `tar -C ROOT --no-recursion -T LIST`. A summary (entries, bytes,
/// budget, each scenario's share) goes to stderr.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The profile (allowlists/NAME.toml)
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: PathBuf,
    /// Write the list to FILE (replaced atomically) instead of stdout
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// text: one path per line; json: every entry with type, size, mode,
    /// package and reason codes, and the summary
    #[arg(long, value_parser = Format::among(&[Format::Text, Format::Json]), default_value = "text")]
    pub(crate) format: Format,
    /// Paths relative to the root, for `tar -C ROOT --no-recursion -T`
    #[arg(long)]
    pub(crate) relative: bool,
    /// End each path with NUL instead of a newline (`rsync --from0`, `tar --null`)
    #[arg(long, short = '0')]
    pub(crate) null: bool,
    /// Leave out the entries the last `kaudit prove` of the profile did not
    /// show necessary (a 1-minimal image; an entry kept since that proof
    /// stays until it is proven)
    #[arg(long)]
    pub(crate) proven: bool,
}

/// `kaudit allowlist`.
pub(crate) fn run(db_path: &Path, a: &Args) -> Result<i32> {
    let (db, scan) = open(db_path)?;
    let profile = Profile::load(&a.profile)?;
    let sel = select(&db, Some(&profile))?;
    let mut graph = Graph::new(&db);
    let mut c = crate::say::timed("closure", || {
        closure::compute(&mut graph, &sel.runs, Some(&profile))
    })?;
    remember(&db, &sel, &profile, &c);
    if a.proven {
        let said = only_proven(&db, &profile, &mut c)?;
        crate::say::note(format_args!("{said}"));
    }
    let body = match a.format {
        Format::Text => crate::printer::allowlist::list(&c, a.relative, a.null)?,
        _ => crate::printer::allowlist::json(&db, &profile, &scan, &c)?,
    };
    match &a.out {
        Some(path) => write_atomically(path, &body)?,
        None => {
            let mut out = crate::printer::stdout();
            out.write_all(&body)?;
            out.flush()?;
        }
    }
    if !crate::say::quiet() {
        eprint!(
            "{}",
            crate::printer::allowlist::summary(&profile, &scan, &c)
        );
    }
    Ok(0)
}
