//! `kaudit writable`: the directories that must be writable, as text or JSON.

use std::io::Write;

use anyhow::Result;
use kaudit_reports::writable::Writable;

use super::Format;

/// Write the writable directories in `format` (text or JSON).
pub(crate) fn write(out: &mut impl Write, w: &[Writable], format: Format) -> Result<()> {
    match format {
        Format::Text => {
            for x in w {
                let kinds: Vec<String> = x.writes.iter().map(|(k, n)| format!("{k} {n}")).collect();
                writeln!(out, "{:<10} {}", x.class, x.path)?;
                writeln!(out, "           {}; writes: {}", x.why, kinds.join(", "))?;
                if !x.in_root {
                    writeln!(
                        out,
                        "           not in the image: created at run time under {}",
                        x.base
                    )?;
                }
                writeln!(out, "           e.g. {}", x.example)?;
            }
        }
        _ => writeln!(out, "{}", serde_json::to_string_pretty(w)?)?,
    }
    Ok(())
}
