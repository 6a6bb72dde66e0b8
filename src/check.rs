//! `kaudit check`: the image gate.

use std::io::Write;

use anyhow::{bail, Context, Result};
use kaudit_graph::Db;
use kaudit_reports::check::{self, Manifest, Rules};
use kaudit_reports::closure;
use kaudit_reports::gate::Growth;
use kaudit_reports::graph::Graph;
use kaudit_reports::profile::Profile;
use kaudit_reports::units::parse_size;
use kaudit_reports::why;

use crate::cli::{CheckArgs, CheckFormat, Cli};

pub(crate) fn run(cli: &Cli, a: &CheckArgs) -> Result<i32> {
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
    let db = Db::open(&cli.db, false)?;
    let sel = crate::report::select(&db, Some(&profile))?;
    let mut graph = Graph::new(&db);
    let c = closure::compute_with(&mut graph, &sel.runs, Some(&profile), false)?;
    let owners = |p: &[u8]| crate::report::owners(&db, p);
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
        Some(why::render_chain(&hops, &owners))
    };
    let proofs = crate::report::proof_map(&db, &profile.name)?;
    let proof_of = |p: &[u8]| proofs.as_ref().map(|m| m.get(p).cloned());
    let outcome = check::check(&profile.name, &base, &now, &rules, &why_of, &proof_of);
    let body = match a.format {
        CheckFormat::Text => check::text(&outcome),
        CheckFormat::Markdown => check::markdown(&outcome),
        CheckFormat::Json => serde_json::to_string_pretty(&outcome)? + "\n",
        CheckFormat::Junit => check::junit(&outcome),
    };
    match &a.out {
        Some(f) => std::fs::write(f, body).with_context(|| format!("writing {}", f.display()))?,
        None => crate::printer::stdout().write_all(body.as_bytes())?,
    }
    Ok(if outcome.passed() { 0 } else { 1 })
}
