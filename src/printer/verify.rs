//! `kaudit verify`: the problems found, one per paragraph, each with its
//! code.

use std::io::Write;

use anyhow::Result;

/// Each problem as `CODE: TEXT` (the text may run over several lines).
pub(crate) fn problems<'a>(
    out: &mut impl Write,
    problems: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<()> {
    for (code, text) in problems {
        writeln!(out, "{code}: {}", text.trim_end())?;
    }
    Ok(())
}
