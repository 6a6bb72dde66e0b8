//! `kaudit why` (and `rdeps` of an entry not kept): chains of evidence and
//! the facts about an entry that is not kept, as text or JSON.

use std::io::Write;

use anyhow::Result;
use kaudit_reports::why::{self, Facts};

/// The facts about `path`, which is not kept, as text.
pub(crate) fn facts(out: &mut impl Write, path: &[u8], f: &Facts) -> Result<()> {
    out.write_all(why::render_facts(path, f).as_bytes())?;
    Ok(())
}
