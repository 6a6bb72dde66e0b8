//! `kaudit why`: the chain of evidence that keeps a path.

use std::path::Path;
use std::path::PathBuf;

use anyhow::Result;
use kaudit_graph::Db;
use kaudit_reports::cache::Cache;
use kaudit_reports::closure;
use kaudit_reports::graph::Graph;
use kaudit_reports::profile::Profile;
use kaudit_reports::runs::Selection;
use kaudit_reports::why;

use crate::printer::Format;
use crate::shared::{entry_path, load_profile, open, owners, select};

/// Why PATH is kept: the shortest chain of evidence from a root
///
/// Each hop with its evidence: scenario, step, process and access kind;
/// the DT_NEEDED name and the rule that found it; shebang; the symlink
/// and who asked for it; the include and its reason. With --all, every
/// chain, as a tree from PATH back to the roots. A path that is not kept:
/// exit status 1 and the nearest facts known (present in the root or not,
/// excluded by which rule, probed-absent by whom, symlinks leading to it).
/// Roots: the profile's, or without --profile every name's latest passed,
/// complete run. --format json: the chain, every reason recorded and how
/// many more the text counts.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The path, inside the root (/usr/bin/runc)
    #[arg(value_name = "PATH")]
    pub(crate) path: PathBuf,
    /// The profile whose closure is asked about (default: every complete run)
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: Option<PathBuf>,
    /// Every chain, as a tree
    #[arg(long)]
    pub(crate) all: bool,
    /// text or json
    #[arg(long, value_parser = Format::among(&[Format::Text, Format::Json]), default_value = "text")]
    pub(crate) format: Format,
}

/// `kaudit why`.
pub(crate) fn run(db_path: &Path, a: &Args) -> Result<i32> {
    let (db, scan) = open(db_path)?;
    let profile = load_profile(a.profile.as_deref())?;
    let sel = select(&db, profile.as_ref())?;
    let mut graph = Graph::new(&db);
    let path = entry_path(&mut graph, &scan, &a.path)?;
    // the closure stored by an earlier report, else computed and stored
    let mut cache = Cache::new(&db, &sel.runs, profile.as_ref())?;
    if !cache.present()? {
        let c = closure::compute_with(&mut graph, &sel.runs, profile.as_ref(), false)?;
        if let Err(e) = cache.store(&c) {
            eprintln!("kaudit: note: the closure could not be stored for later questions: {e}");
            return answer(
                a,
                &db,
                &mut graph,
                &mut &c,
                &c.dropped,
                &sel,
                profile.as_ref(),
                &path,
            );
        }
    }
    let dropped = cache.dropped(&path)?;
    answer(
        a,
        &db,
        &mut graph,
        &mut cache,
        &dropped,
        &sel,
        profile.as_ref(),
        &path,
    )
}

#[allow(clippy::too_many_arguments)]
fn answer(
    a: &Args,
    db: &Db,
    graph: &mut Graph<'_>,
    k: &mut dyn why::Kept,
    dropped: &[kaudit_reports::closure::Dropped],
    sel: &Selection,
    profile: Option<&Profile>,
    path: &[u8],
) -> Result<i32> {
    let mut out = crate::printer::stdout();
    // what the init system's configuration says of it (evidence, never a need)
    let init = why::init_facts(db, path)?;
    let Some(hops) = why::chain(k, path)? else {
        let facts = why::facts(graph, k, dropped, &sel.runs, profile, path)?;
        crate::printer::why::not_kept(&mut out, path, &facts, &init, a.format)?;
        return Ok(1);
    };
    // what the last proof of the profile showed of it
    let proof = match profile {
        Some(p) => db.proof_of(&p.name, path)?,
        None => None,
    };
    let (reasons, more) = k.reasons(path)?.unwrap_or_default();
    let text = a.format == Format::Text;
    let kept = crate::printer::why::Kept {
        path,
        tree: if text && a.all {
            Some(why::every_chain(k, path)?)
        } else {
            None
        },
        explained: if text && !a.all {
            why::explained(k, path)?
        } else {
            None
        },
        hops,
        reasons,
        more,
        init,
        proof,
    };
    let pkg = |p: &[u8]| owners(db, p);
    crate::printer::why::kept(&mut out, &kept, &pkg, a.format)?;
    Ok(0)
}
