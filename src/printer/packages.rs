//! `kaudit packages`, `owner` and `install-mask`: each package with what the
//! image keeps of it and drops, as a table or JSON; the owners of paths;
//! INSTALL_MASK lines.

use std::io::Write;

use anyhow::Result;
use kaudit_reports::mask::PackageMask;
use kaudit_reports::show;
use kaudit_reports::units::human;

use super::Format;
use crate::shared::Row;

/// The packages that keep files (every package with `all`), as a table
/// with a closing count, or as JSON.
pub(crate) fn table(out: &mut impl Write, rows: &[Row], all: bool, format: Format) -> Result<()> {
    match format {
        Format::Text => {
            writeln!(
                out,
                "{:<40} {:<28} {:>6} {:>10} {:>7} {:>10}",
                "package", "version", "kept", "bytes", "dropped", "bytes"
            )?;
            for r in rows.iter().filter(|r| r.mask.kept > 0 || all) {
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
                if all { "" } else { "; --all lists the others" }
            )?;
        }
        _ => {
            let v: Vec<serde_json::Value> = rows
                .iter()
                .filter(|r| r.mask.kept > 0 || all)
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
    Ok(())
}

/// The comment that heads a package's INSTALL_MASK: what it keeps and
/// drops, and the dropped symlinks INSTALL_MASK cannot remove.
pub(crate) fn mask_header(m: &PackageMask) -> String {
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
}

/// Each Portage package's INSTALL_MASK line (with its header), then the
/// packages the image needs (@world).
pub(crate) fn install_mask(
    out: &mut impl Write,
    by_atom: &[(String, &PackageMask)],
    world: &[&str],
) -> Result<()> {
    for (atom, m) in by_atom
        .iter()
        .filter(|(_, m)| !m.masks.is_empty() || !m.unmaskable.is_empty())
    {
        writeln!(out, "{}", mask_header(m))?;
        writeln!(out, "{atom} INSTALL_MASK=\"{}\"", m.masks.join(" "))?;
    }
    writeln!(
        out,
        "# the packages the image needs (@world): {}",
        world.join(" ")
    )?;
    Ok(())
}

/// A path's owners, as `kaudit owner` says it: `PACKAGE, …: PATH` or
/// `PATH: no package` (the path given, and the entry it names when that
/// differs).
pub(crate) fn owner(
    out: &mut impl Write,
    given: &[u8],
    path: &[u8],
    owners: &[String],
) -> Result<()> {
    let shown = if path == given {
        show(given)
    } else {
        format!("{} ({})", show(given), show(path))
    };
    if owners.is_empty() {
        writeln!(out, "{shown}: no package")?;
    } else {
        writeln!(out, "{}: {shown}", owners.join(", "))?;
    }
    Ok(())
}
