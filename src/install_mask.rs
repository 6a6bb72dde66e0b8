//! `kaudit install-mask`: per-package INSTALL_MASK for Gentoo.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use kaudit_graph::Db;
use kaudit_reports::mask::PackageMask;
use kaudit_reports::profile::Profile;

use crate::shared::{closure_of, package_masks};

/// Per-package INSTALL_MASK that drops exactly what no chain needs (Gentoo)
///
/// For each Portage package: patterns (absolute paths, glob characters
/// escaped; whole directories where everything the package installs
/// below them is dropped) that drop its files the profile's closure does
/// not keep, and the set of packages the image needs (@world). Without
/// --out, printed; with --out DIR, written as DIR/package.env, one
/// DIR/env/kaudit/CATEGORY-PN.conf per package (INSTALL_MASK and
/// PKG_INSTALL_MASK) and DIR/world. A package whose slot is not 0 is
/// CATEGORY/PN:SLOT (its file CATEGORY-PN-SLOT.conf), so two installed
/// slots are two lines. Dropped symlinks are listed but not masked:
/// INSTALL_MASK leaves symlinks.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The profile (allowlists/NAME.toml)
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: PathBuf,
    /// Write package.env, env/kaudit/*.conf and world into DIR
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
}

/// A package atom's file name in `env/kaudit/`.
fn env_name(atom: &str) -> String {
    atom.replace(['/', ':'], "-")
}

/// `kaudit install-mask --profile FILE [--out DIR]`.
pub(crate) fn run(db_path: &Path, a: &Args) -> Result<i32> {
    let db = Db::open_read(db_path)?;
    let profile = Profile::load(&a.profile)?;
    let c = closure_of(&db, &profile)?;
    let rows = package_masks(&db, &c)?;
    let mut by_atom: Vec<(String, &PackageMask)> = rows
        .iter()
        .filter(|r| r.db == "portage")
        .map(|r| (r.atom(), &r.mask))
        .collect();
    if by_atom.is_empty() {
        eprintln!(
            "kaudit: the root has no Portage packages: INSTALL_MASK applies to Gentoo builds only"
        );
    }
    by_atom.sort_by(|x, y| x.0.cmp(&y.0));
    let world: Vec<&str> = by_atom
        .iter()
        .filter(|(_, m)| m.kept > 0)
        .map(|(atom, _)| atom.as_str())
        .collect();
    match &a.out {
        None => {
            let mut out = crate::printer::stdout();
            crate::printer::packages::install_mask(&mut out, &by_atom, &world)?;
        }
        Some(dir) => {
            let env = dir.join("env/kaudit");
            std::fs::create_dir_all(&env).with_context(|| format!("creating {}", env.display()))?;
            let mut package_env = String::from(
                "# written by kaudit install-mask: per-package INSTALL_MASK from the evidence graph\n",
            );
            for (atom, m) in by_atom.iter().filter(|(_, m)| !m.masks.is_empty()) {
                let file = format!("{}.conf", env_name(atom));
                let body = format!(
                    "{}\nINSTALL_MASK=\"{}\"\nPKG_INSTALL_MASK=\"{}\"\n",
                    crate::printer::packages::mask_header(m),
                    m.masks.join(" "),
                    m.masks.join(" ")
                );
                std::fs::write(env.join(&file), body)
                    .with_context(|| format!("writing {}", env.join(&file).display()))?;
                package_env.push_str(&format!("{atom} kaudit/{file}\n"));
            }
            std::fs::write(dir.join("package.env"), package_env)?;
            let mut w = world.join("\n");
            w.push('\n');
            std::fs::write(dir.join("world"), w)?;
            crate::say::note(format_args!(
                "{} package(s) masked, {} needed; {}/package.env, {}/env/kaudit/, {}/world",
                by_atom.iter().filter(|(_, m)| !m.masks.is_empty()).count(),
                world.len(),
                dir.display(),
                dir.display(),
                dir.display()
            ));
        }
    }
    Ok(0)
}
