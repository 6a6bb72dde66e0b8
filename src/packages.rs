//! `kaudit owner`, `kaudit packages` and `kaudit install-mask`: the image
//! seen package by package.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;

use anyhow::{Context, Result};
use kaudit_graph::Db;
use kaudit_reports::closure::{self, Closure};
use kaudit_reports::graph::Graph;
use kaudit_reports::mask::{self, Installed, PackageMask};
use kaudit_reports::profile::Profile;
use kaudit_reports::show;
use kaudit_reports::units::human;

use crate::cli::{Cli, InstallMaskArgs, OwnerArgs, PackagesArgs, ReportFormat};

/// `kaudit owner PATH…`: like `dpkg -S` and `qfile`.
pub(crate) fn owner(cli: &Cli, a: &OwnerArgs) -> Result<i32> {
    let db = Db::open_read(&cli.db)?;
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

/// A package with what the image keeps of it.
struct Row {
    mask: PackageMask,
    /// The database it comes from: `dpkg` or `portage`.
    db: String,
    slot: Option<String>,
}

impl Row {
    /// The package as Portage names it in `package.env` and the world set:
    /// `CATEGORY/PN`, with `:SLOT` when the slot is not the default `0` (two
    /// slots of one package are two lines).
    fn atom(&self) -> String {
        match self.slot.as_deref() {
            Some(s) if s != "0" => format!("{}:{s}", self.mask.name),
            _ => self.mask.name.clone(),
        }
    }
}

/// Every package of the graph with what the image keeps of it.
fn package_masks(db: &Db, c: &Closure) -> Result<Vec<Row>> {
    let mut out = Vec::new();
    let mut graph = Graph::new(db);
    for p in db.packages()? {
        let mut entries: Vec<Installed> = Vec::new();
        for f in db.package_files(p.id)? {
            // a symlink to a directory (/bin -> usr/bin) is shared like a
            // directory: counted as one, for no package
            let kind = if f.kind == "symlink" && graph.is_dir_link(&f.path)? {
                "dir".to_string()
            } else if f.listed_kind.is_empty() {
                match f.kind.as_str() {
                    "dir" => "dir",
                    "symlink" => "sym",
                    "fifo" => "fif",
                    "char-device" | "block-device" => "dev",
                    _ => "obj",
                }
                .to_string()
            } else {
                f.listed_kind
            };
            entries.push(Installed {
                path: f.path,
                kind,
                size: if f.kind == "file" { f.size } else { 0 },
            });
        }
        let kept = |path: &[u8]| c.entries.contains_key(path);
        out.push(Row {
            mask: mask::masks(&p.name, p.version.as_deref(), &entries, &kept),
            db: p.db,
            slot: p.slot,
        });
    }
    out.sort_by(|a, b| {
        b.mask
            .kept_bytes
            .cmp(&a.mask.kept_bytes)
            .then_with(|| a.mask.name.cmp(&b.mask.name))
            .then_with(|| a.slot.cmp(&b.slot))
    });
    Ok(out)
}

fn closure_of(db: &Db, profile: &Profile) -> Result<Closure> {
    let sel = crate::report::select(db, Some(profile))?;
    let mut graph = Graph::new(db);
    Ok(closure::compute_with(
        &mut graph,
        &sel.runs,
        Some(profile),
        false,
    )?)
}

/// `kaudit packages --profile FILE`.
pub(crate) fn packages(cli: &Cli, a: &PackagesArgs) -> Result<i32> {
    let db = Db::open_read(&cli.db)?;
    let profile = Profile::load(&a.profile)?;
    let c = closure_of(&db, &profile)?;
    let rows = package_masks(&db, &c)?;
    let mut out = crate::printer::stdout();
    match a.format {
        ReportFormat::Text => {
            writeln!(
                out,
                "{:<40} {:<28} {:>6} {:>10} {:>7} {:>10}",
                "package", "version", "kept", "bytes", "dropped", "bytes"
            )?;
            for r in rows.iter().filter(|r| r.mask.kept > 0 || a.all) {
                let m = &r.mask;
                writeln!(
                    out,
                    "{:<40} {:<28} {:>6} {:>10} {:>7} {:>10}",
                    r.atom(),
                    m.version.as_deref().unwrap_or("-"),
                    m.kept,
                    human(m.kept_bytes),
                    m.dropped,
                    human(m.dropped_bytes)
                )?;
            }
            let needed = rows.iter().filter(|r| r.mask.kept > 0).count();
            writeln!(
                out,
                "{needed} of {} packages keep files (directories not counted){}",
                rows.len(),
                if a.all {
                    ""
                } else {
                    "; --all lists the others"
                }
            )?;
        }
        ReportFormat::Json => {
            let v: Vec<serde_json::Value> = rows
                .iter()
                .filter(|r| r.mask.kept > 0 || a.all)
                .map(|r| {
                    let m = &r.mask;
                    serde_json::json!({
                        "package": m.name, "version": m.version, "slot": r.slot, "db": r.db,
                        "kept_files": m.kept, "kept_bytes": m.kept_bytes,
                        "dropped_files": m.dropped, "dropped_bytes": m.dropped_bytes,
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
    }
    Ok(0)
}

/// A package atom's file name in `env/kaudit/`.
fn env_name(atom: &str) -> String {
    atom.replace(['/', ':'], "-")
}

/// `kaudit install-mask --profile FILE [--out DIR]`.
pub(crate) fn install_mask(cli: &Cli, a: &InstallMaskArgs) -> Result<i32> {
    let db = Db::open_read(&cli.db)?;
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
    let header = |m: &PackageMask| {
        format!(
            "# {}{}: keeps {} file(s) ({}), drops {} ({}){}",
            m.name,
            m.version
                .as_deref()
                .map(|v| format!("-{v}"))
                .unwrap_or_default(),
            m.kept,
            human(m.kept_bytes),
            m.dropped,
            human(m.dropped_bytes),
            if m.unmaskable.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} dropped symlink(s) stay (INSTALL_MASK leaves symlinks): {}",
                    m.unmaskable.len(),
                    m.unmaskable
                        .iter()
                        .map(|p| show(p))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            }
        )
    };
    match &a.out {
        None => {
            let mut out = crate::printer::stdout();
            for (atom, m) in by_atom
                .iter()
                .filter(|(_, m)| !m.masks.is_empty() || !m.unmaskable.is_empty())
            {
                writeln!(out, "{}", header(m))?;
                writeln!(out, "{atom} INSTALL_MASK=\"{}\"", m.masks.join(" "))?;
            }
            writeln!(
                out,
                "# the packages the image needs (@world): {}",
                world.join(" ")
            )?;
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
                    header(m),
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
