//! `kaudit scenarios`: the scenarios found (name, description, where), and
//! one shown with its parameters and steps.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::Result;
use kaudit_tracer::scenario::Scenario;

/// One line per scenario: its name, description and where it comes from.
pub(crate) fn list(out: &mut impl Write, found: &BTreeMap<String, (String, String)>) -> Result<()> {
    for (name, (desc, place)) in found {
        writeln!(out, "{name}\t{desc}\t{place}")?;
    }
    Ok(())
}

/// A scenario: its description, parameters, steps and cleanup.
pub(crate) fn show(out: &mut impl Write, name: &str, path: &Path, s: &Scenario) -> Result<()> {
    writeln!(out, "{name} ({})", path.display())?;
    if let Some(d) = &s.description {
        writeln!(out, "  {d}")?;
    }
    for (k, p) in &s.params {
        writeln!(
            out,
            "  param {k}{}{}",
            if p.required {
                " (required)".to_string()
            } else {
                p.default
                    .as_ref()
                    .map(|d| format!(" = {d:?}"))
                    .unwrap_or_default()
            },
            p.description
                .as_ref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        )?;
    }
    for (i, st) in s.steps.iter().enumerate() {
        let name = st.name.clone().unwrap_or_else(|| format!("step-{}", i + 1));
        match (&st.run, &st.daemon) {
            (Some(r), _) => writeln!(out, "  step {name}: run {r}")?,
            (_, Some(d)) => writeln!(out, "  step {name}: daemon {d}")?,
            _ => {}
        }
    }
    for st in &s.cleanup {
        if let Some(r) = &st.run {
            writeln!(out, "  cleanup: {r}")?;
        }
    }
    Ok(())
}
