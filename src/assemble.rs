//! `kaudit assemble`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use kaudit_image::{assemble, read_list, Target};
use kaudit_reports::units::human;

/// Build the image: copy exactly the allowlisted entries of a root
///
/// Copies each entry of the allowlist (one absolute path per line, as
/// `kaudit allowlist` writes it) from ROOT, keeping its type, mode,
/// owner, timestamps and extended attributes (file capabilities
/// included); symlinks are copied as symlinks, hard links stay hard links
/// (stored once), FIFOs and device nodes are made again. A directory an
/// entry lies in is made even when the list does not name it. OUT ending
/// in .tar, .squashfs (or .sqfs) or .erofs is written with GNU tar,
/// mksquashfs or mkfs.erofs from the distribution; anything else is a
/// directory. A path with `..`, or through a symlink, is refused: nothing
/// outside ROOT is read and no symlink is followed. An output inside
/// ROOT is refused; an existing output is replaced only with --force.
/// A summary (entries, counted as the allowlist's lines, and bytes) goes
/// to stderr.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The allowlist (kaudit allowlist --out FILE)
    #[arg(long, value_name = "FILE")]
    pub(crate) allowlist: PathBuf,
    /// The root the entries are copied from
    #[arg(long, value_name = "ROOT")]
    pub(crate) from: PathBuf,
    /// The image: a directory, or X.tar, X.squashfs, X.erofs
    #[arg(long, value_name = "DIR|X.tar|X.squashfs|X.erofs")]
    pub(crate) out: PathBuf,
    /// Replace an existing output
    #[arg(long)]
    pub(crate) force: bool,
    /// The allowlist ends each path with NUL (kaudit allowlist --null)
    #[arg(long, short = '0')]
    pub(crate) null: bool,
}

pub(crate) fn run(_db_path: &Path, a: &Args) -> Result<i32> {
    let text = std::fs::read(&a.allowlist)
        .with_context(|| format!("reading the allowlist {}", a.allowlist.display()))?;
    let list = read_list(&text, a.null)?;
    let target = Target::of(&a.out);
    let started = std::time::Instant::now();
    let r = assemble(&list, &a.from, &target, a.force)?;
    let image = match r.image_bytes {
        Some(b) => format!(
            ", {} {} ({} of content)",
            target.kind(),
            human(b),
            human(r.bytes)
        ),
        None => format!(", {} of content", human(r.bytes)),
    };
    // the summary of a run: standard error (the image is the output)
    eprintln!(
        "kaudit: assembled {}: {} entries ({} files, {} hard links, {} directories ({} implied), {} symlinks, {} special, {} extended attributes){image} in {:.2} s",
        a.out.display(),
        r.entries,
        r.files,
        r.hardlinks,
        r.dirs,
        r.implied_dirs,
        r.symlinks,
        r.special,
        r.xattrs,
        started.elapsed().as_secs_f64()
    );
    Ok(0)
}
