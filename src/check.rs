//! `kaudit check`: the image gate.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use kaudit_graph::Db;
use kaudit_reports::check::{self, Manifest, Rules};
use kaudit_reports::closure;
use kaudit_reports::gate::Growth;
use kaudit_reports::graph::Graph;
use kaudit_reports::profile::Profile;
use kaudit_reports::units::parse_size;
use kaudit_reports::why;

use crate::printer::Format;

/// The image gate: fail a build when the image outgrows its budget or baseline, or changes
///
/// Computes the profile's allowlist again and compares it with the
/// committed baseline (allowlists/NAME.txt: every entry with its type,
/// mode, size, package, symlink target and reason codes) and the
/// profile's budget. Results, each with a stable code: over-budget,
/// growth (more than max_growth, default 5%, against the baseline),
/// added (with the chain that keeps it), removed, type-changed,
/// mode-changed, target-changed, evidence-lost (kept by the runs in the
/// baseline, now only by an include); then each package's change in
/// bytes. The profile's [check] table says which fail, warn or are off.
/// The report goes to stdout (or --out FILE). Exit status 0 pass, 1
/// fail, 2 error, whether or not the report is read. --update-baseline
/// writes the baseline instead, deliberately.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The profile (allowlists/NAME.toml)
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: PathBuf,
    /// The committed baseline (allowlists/NAME.txt)
    #[arg(long, value_name = "FILE")]
    pub(crate) baseline: PathBuf,
    /// The budget, overriding the profile's (120MiB, 2GiB, bytes)
    #[arg(long, value_name = "SIZE")]
    pub(crate) budget: Option<String>,
    /// Growth allowed against the baseline, overriding the profile's (5%, 2MiB)
    #[arg(long, value_name = "PCT|SIZE")]
    pub(crate) max_growth: Option<String>,
    /// text; markdown for a pull-request comment; json; junit for CI systems
    #[arg(long, value_parser = Format::among(&[Format::Text, Format::Markdown, Format::Json, Format::Junit]), default_value = "text")]
    pub(crate) format: Format,
    /// Write the report to FILE instead of stdout
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// Write the current image as the new baseline (and pass)
    #[arg(long)]
    pub(crate) update_baseline: bool,
}

pub(crate) fn run(db_path: &Path, a: &Args) -> Result<i32> {
    // the arguments and the profile are checked before the graph is read
    let profile = Profile::load(&a.profile)?;
    let budget = match (&a.budget, profile.budget) {
        (Some(b), _) => parse_size(b)
            .with_context(|| format!("--budget {b}: expected a size such as 120MiB"))?,
        (None, Some(b)) => b,
        (None, None) => bail!(
            "{}: a budget is required (budget = \"120 MiB\" in the profile, or --budget)",
            a.profile.display()
        ),
    };
    let mut rules = Rules::with_budget(budget);
    rules.max_growth = profile.check.max_growth;
    rules.added = profile.check.added;
    rules.removed = profile.check.removed;
    rules.changed = profile.check.changed;
    rules.evidence_lost = profile.check.evidence_lost;
    rules.unproven = profile.check.unproven;
    if let Some(g) = &a.max_growth {
        rules.max_growth = Growth::parse(g)
            .with_context(|| format!("--max-growth {g}: expected a share (5%) or a size (2MiB)"))?;
    }
    let db = Db::open(db_path, false)?;
    let sel = crate::shared::select(&db, Some(&profile))?;
    let mut graph = Graph::new(&db);
    let c = closure::compute_with(&mut graph, &sel.runs, Some(&profile), false)?;
    let owners = |p: &[u8]| crate::shared::owners(&db, p);
    let now = Manifest::of(&c, &owners);
    if a.update_baseline {
        std::fs::write(&a.baseline, now.render(&profile.name))
            .with_context(|| format!("writing {}", a.baseline.display()))?;
        crate::say::note(format_args!(
            "baseline {} written: {} entries",
            a.baseline.display(),
            now.items.len()
        ));
        return Ok(0);
    }
    let text = std::fs::read_to_string(&a.baseline).with_context(|| {
        format!(
            "reading the baseline {} (--update-baseline writes it)",
            a.baseline.display()
        )
    })?;
    let base =
        Manifest::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", a.baseline.display()))?;
    let why_of = |p: &[u8]| -> Option<String> {
        let hops = why::chain(&mut &c, p).ok()??;
        Some(crate::printer::why::chain(&hops, &owners))
    };
    let proofs = crate::shared::proof_map(&db, &profile.name)?;
    let proof_of = |p: &[u8]| proofs.as_ref().map(|m| m.get(p).cloned());
    let outcome = check::check(&profile.name, &base, &now, &rules, &why_of, &proof_of);
    let body = crate::printer::check::render(&outcome, a.format)?;
    match &a.out {
        Some(f) => std::fs::write(f, body).with_context(|| format!("writing {}", f.display()))?,
        None => crate::printer::stdout().write_all(body.as_bytes())?,
    }
    Ok(if outcome.passed() { 0 } else { 1 })
}
