//! `kaudit rdeps`: what removing an entry breaks, as text or JSON.

use std::io::Write;

use anyhow::Result;
use kaudit_analyzer::report::json_path;
use kaudit_reports::closure::Reason;
use kaudit_reports::show;
use kaudit_reports::units::human;
use kaudit_reports::why::{self, InitFact};

use super::Format;

/// What removing an entry breaks.
pub(crate) struct Rdeps<'a> {
    /// The entry.
    pub(crate) path: &'a [u8],
    /// What needs it directly (the reasons that keep it).
    pub(crate) needed_by: &'a [Reason],
    /// Reasons counted beyond those kept.
    pub(crate) more: usize,
    /// The scenarios whose runs reach it, as "NAME (run ID)".
    pub(crate) scenarios: Vec<String>,
    /// The entries kept only through it.
    pub(crate) lost: Vec<Vec<u8>>,
    /// The bytes of the files among them.
    pub(crate) lost_bytes: u64,
    /// The units (and what enables them) that start it.
    pub(crate) init: Vec<InitFact>,
}

/// Write `r` in `format` (text or JSON).
pub(crate) fn write(out: &mut impl Write, r: &Rdeps<'_>, format: Format) -> Result<()> {
    if format == Format::Json {
        let v = serde_json::json!({
            "path": json_path(r.path),
            "needed_by": r.needed_by,
            "more": r.more,
            "scenarios": r.scenarios,
            "kept_only_through": r.lost.iter().map(|p| json_path(p)).collect::<Vec<_>>(),
            "bytes_kept_only_through": r.lost_bytes,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    let mut s = format!("removing {} breaks:\n", show(r.path));
    s.push_str("  what needs it directly:\n");
    for x in r.needed_by {
        s.push_str(&format!("    {}\n", why::describe(x)));
    }
    if r.more > 0 {
        s.push_str(&format!("    … and {} more\n", r.more));
    }
    if !r.scenarios.is_empty() {
        s.push_str(&format!(
            "  scenarios that need it: {}\n",
            r.scenarios.join(", ")
        ));
    }
    s.push_str(&format!(
        "  entries kept only through it: {} ({})\n",
        r.lost.len(),
        human(r.lost_bytes)
    ));
    for p in &r.lost {
        s.push_str(&format!("    {}\n", show(p)));
    }
    if !r.init.is_empty() {
        s.push_str("  the init system starts it:\n");
        for l in crate::printer::why::init_text(&r.init).lines() {
            s.push_str(&format!("    {}\n", l.trim_start_matches("init system: ")));
        }
    }
    out.write_all(s.as_bytes())?;
    Ok(())
}
