//! `kaudit assemble`.

use anyhow::{Context, Result};
use kaudit_image::{assemble, read_list, Target};
use kaudit_reports::units::human;

use crate::cli::{AssembleArgs, Cli};

pub(crate) fn run(_cli: &Cli, a: &AssembleArgs) -> Result<i32> {
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
