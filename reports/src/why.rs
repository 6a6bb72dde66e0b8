//! `kaudit why PATH`: the chain of evidence that keeps an entry, or the
//! nearest facts known about one that is not kept; `kaudit rdeps PATH`: what
//! breaks without it.

use std::collections::HashSet;
use std::fmt::Write as _;

use kaudit_analyzer::initsys;
use kaudit_graph::{DbError, RunRow};
use serde::Serialize;

use crate::closure::{Closure, Dropped, Reason};
use crate::graph::Graph;
use crate::profile::Profile;
use crate::show;

/// One hop of a chain: an entry and the reason that reached it.
#[derive(Debug, Clone, Serialize)]
pub struct Hop {
    /// The entry.
    #[serde(with = "crate::pathser::bytes")]
    pub path: Vec<u8>,
    /// Why (for the first hop: the root's evidence).
    pub reason: Reason,
}

/// Where the reasons of kept entries are read from: a closure in memory,
/// or one stored in the graph ([`crate::cache::Cache`]).
pub trait Kept {
    /// The reasons that keep `path` and how many more were only counted;
    /// `None` when it is not kept.
    fn reasons(&mut self, path: &[u8]) -> Result<Option<(Vec<Reason>, usize)>, DbError>;
}

impl Kept for &Closure {
    fn reasons(&mut self, path: &[u8]) -> Result<Option<(Vec<Reason>, usize)>, DbError> {
        Ok(self.entries.get(path).map(|e| (e.reasons.clone(), e.more)))
    }
}

impl Kept for crate::cache::Cache<'_> {
    fn reasons(&mut self, path: &[u8]) -> Result<Option<(Vec<Reason>, usize)>, DbError> {
        crate::cache::Cache::reasons(self, path)
    }
}

/// The shortest chain from a root to `path` (root first), if kept.
pub fn chain(k: &mut dyn Kept, path: &[u8]) -> Result<Option<Vec<Hop>>, DbError> {
    chain_with(k, path, false)
}

/// When the shortest chain of `path` is an observation of the entry itself
/// (a run opened it, a process asked for it), the chain that explains it
/// through the graph — the link that leads to it, the program that needs
/// it, and what ran that program: at each hop, the first reason that is an
/// edge, if there is one.
pub fn explained(k: &mut dyn Kept, path: &[u8]) -> Result<Option<Vec<Hop>>, DbError> {
    let Some((reasons, _)) = k.reasons(path)? else {
        return Ok(None);
    };
    match reasons.first() {
        Some(r) if r.from().is_none() && reasons.iter().any(|r| r.from().is_some()) => {
            chain_with(k, path, true)
        }
        _ => Ok(None),
    }
}

/// The chain from a root to `path`: each hop's first reason, or with
/// `edges` its first reason that comes from another kept entry not yet on
/// the chain.
fn chain_with(k: &mut dyn Kept, path: &[u8], edges: bool) -> Result<Option<Vec<Hop>>, DbError> {
    let mut out = Vec::new();
    let mut cur = path.to_vec();
    let mut seen = HashSet::new();
    loop {
        seen.insert(cur.clone());
        let Some((reasons, _)) = k.reasons(&cur)? else {
            return Ok(None);
        };
        let mut pick = None;
        if edges {
            for r in &reasons {
                if let Some(f) = r.from() {
                    if !seen.contains(f) && k.reasons(f)?.is_some() {
                        pick = Some(r.clone());
                        break;
                    }
                }
            }
        }
        let Some(reason) = pick.or_else(|| reasons.first().cloned()) else {
            return Ok(None);
        };
        out.push(Hop {
            path: cur.clone(),
            reason: reason.clone(),
        });
        match reason.from() {
            Some(f) if !seen.contains(f) => cur = f.to_vec(),
            _ => break,
        }
    }
    out.reverse();
    Ok(Some(out))
}

fn verb(kind: &str) -> &str {
    match kind {
        "open" => "opened",
        "opendir" => "listed",
        "exec" => "executed",
        "modify" => "modified",
        "close-write" => "written",
        "in-use-at-start" => "in use when tracing started",
        other => other,
    }
}

fn step_of(scenario: &str, run: i64, step: &Option<String>) -> String {
    match step {
        Some(s) => format!("in step \"{s}\" of {scenario} (run {run})"),
        None => format!("in {scenario} (run {run})"),
    }
}

/// A reason as a sentence.
pub fn describe(r: &Reason) -> String {
    match r {
        Reason::Accessed {
            run,
            scenario,
            step,
            kind,
            pid,
            comm,
            exe,
            parents,
        } => {
            let mut s = format!(
                "{} by {comm}[{pid}] {}",
                verb(kind),
                step_of(scenario, *run, step)
            );
            if let Some(x) = exe {
                let _ = write!(s, "; exe {}", show(x));
            }
            if !parents.is_empty() {
                let _ = write!(s, "; parents {parents}");
            }
            s
        }
        Reason::Asked {
            run,
            scenario,
            step,
            name,
            call,
            pid,
            comm,
            hop,
        } => {
            let what = match hop {
                Some(h) => format!("symlink {h} of the walk"),
                None => "what it reached".to_string(),
            };
            format!(
                "{comm}[{pid}] asked for {} ({call}) {}: {what}",
                show(name),
                step_of(scenario, *run, step)
            )
        }
        Reason::WrittenIn {
            run,
            scenario,
            step,
            kind,
            entry,
            pid,
            comm,
        } => {
            let what = match kind.as_str() {
                "create" => "created",
                "delete" => "deleted",
                "moved-from" => "renamed away",
                "moved-to" => "renamed into place",
                k => k,
            };
            format!(
                "written in: {comm}[{pid}] {what} {} {}",
                show(entry),
                step_of(scenario, *run, step)
            )
        }
        Reason::Beneath {
            run,
            scenario,
            entry,
            how,
        } => format!(
            "beneath: {} ({how}) in {scenario} (run {run}) lies below it, and the scanned root does not have it (a mount point's file, or made at run time)",
            show(entry)
        ),
        Reason::Include { glob, reason, line } => {
            format!("include {glob} (profile line {line}): {reason}")
        }
        Reason::Edge {
            kind,
            from,
            name,
            opened,
            rule,
            via,
            load,
        } => {
            let name = name.as_deref().map(show).unwrap_or_default();
            let mut s = match kind.as_str() {
                "needed" => {
                    let mut s = format!("needed: DT_NEEDED \"{name}\" of {}", show(from));
                    if let Some(o) = opened {
                        let _ = write!(s, ", opened as {}", show(o));
                    }
                    if let Some(r) = rule {
                        let _ = write!(s, " (rule {r}");
                        if let Some(v) = via {
                            let _ = write!(s, ", via {}", show(v));
                        }
                        s.push(')');
                    }
                    s
                }
                "interp" if rule.as_deref() == Some("default-loader") => format!(
                    "interp: the default loader {name}, for the library {}",
                    show(from)
                ),
                "interp" => format!("interp: PT_INTERP \"{name}\" of {}", show(from)),
                "shebang" if rule.as_deref() == Some("env-path") => format!(
                    "shebang: #!/usr/bin/env {name} of {}, found as {}",
                    show(from),
                    opened.as_deref().map(show).unwrap_or_default()
                ),
                "shebang" => format!("shebang: #!{name} of {}", show(from)),
                "symlink" => format!("symlink: {} -> {name}", show(from)),
                "walks" => format!(
                    "walks: a directory symlink on the way to {name}, for {}",
                    show(from)
                ),
                other => format!("{other} from {}", show(from)),
            };
            if let Some(l) = load {
                let _ = write!(s, ", in the load of {}", show(l));
            }
            s
        }
        Reason::Parent { child } => format!("parent directory of {}", show(child)),
    }
}

/// Every chain from an entry back to the roots (`--all`): each reason of
/// the entry is a branch leading to the entry it comes from, expanded there
/// unless it was met before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    /// The entry's reasons, each a branch.
    pub branches: Vec<Branch>,
    /// Reasons counted beyond those kept.
    pub more: usize,
}

/// One reason in a [`Tree`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    /// The reason.
    pub reason: Reason,
    /// The kept entry it comes from (`None`: a root).
    pub from: Option<Vec<u8>>,
    /// `from` was met earlier in the tree and is not expanded again.
    pub again: bool,
    /// `from`'s own reasons (`None`: a root, met again, or not kept).
    pub below: Option<Tree>,
}

/// Every chain that keeps `path`, as a tree (empty when it is not kept).
pub fn every_chain(k: &mut dyn Kept, path: &[u8]) -> Result<Tree, DbError> {
    let mut shown = HashSet::new();
    shown.insert(path.to_vec());
    Ok(tree(k, path, &mut shown)?.unwrap_or(Tree {
        branches: Vec::new(),
        more: 0,
    }))
}

fn tree(
    k: &mut dyn Kept,
    path: &[u8],
    shown: &mut HashSet<Vec<u8>>,
) -> Result<Option<Tree>, DbError> {
    let Some((reasons, more)) = k.reasons(path)? else {
        return Ok(None);
    };
    let mut branches = Vec::with_capacity(reasons.len());
    for r in reasons {
        let from = r.from().map(<[u8]>::to_vec);
        let (again, below) = match &from {
            None => (false, None),
            Some(f) => {
                let again = !shown.insert(f.clone());
                (again, if again { None } else { tree(k, f, shown)? })
            }
        };
        branches.push(Branch {
            reason: r,
            from,
            again,
            below,
        });
    }
    Ok(Some(Tree { branches, more }))
}

/// What is known about a path that is not kept.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    /// `file`, `dir`, … when the scanned root has it; `None`: not in the root.
    pub present: Option<String>,
    /// Its size.
    pub size: Option<u64>,
    /// Reached, but excluded: the rule's line, glob and reason, and what reached it.
    pub excluded: Vec<String>,
    /// An exclude rule matches it (even if nothing reached it).
    pub exclude_rule: Option<String>,
    /// Names asked for it that did not succeed (probed-absent, failed).
    pub probes: Vec<String>,
    /// Reached, but not in the scanned root.
    pub reached_absent: Vec<String>,
    /// Symlinks in the root that lead to it (kept or not).
    pub links: Vec<String>,
}

/// Gather the facts about a path that is not kept.
pub fn facts(
    graph: &mut Graph<'_>,
    k: &mut dyn Kept,
    dropped: &[Dropped],
    runs: &[RunRow],
    profile: Option<&Profile>,
    path: &[u8],
) -> Result<Facts, DbError> {
    let file = graph.file(path)?;
    let mut f = Facts {
        present: file.as_ref().map(|x| x.kind.clone()),
        size: file.as_ref().map(|x| x.size),
        excluded: Vec::new(),
        exclude_rule: profile
            .and_then(|p| p.excluded(path))
            .map(|r| format!("line {}: {} ({})", r.line, r.glob, r.reason)),
        probes: Vec::new(),
        reached_absent: Vec::new(),
        links: Vec::new(),
    };
    for d in dropped.iter().filter(|d| d.path == path) {
        match d.excluded_by {
            Some(_) => f.excluded.push(describe(&d.reason)),
            None => f.reached_absent.push(describe(&d.reason)),
        }
    }
    if !runs.is_empty() {
        let ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
        for n in graph.db().names_for(path, &ids)? {
            f.probes.push(format!(
                "{}: {}[{}] asked for {} ({}: {}) {}",
                n.evidence,
                n.comm,
                n.pid,
                show(&n.path),
                n.call,
                n.result,
                step_of(&n.scenario, n.run, &n.step)
            ));
        }
    }
    for l in graph.links_to(path)? {
        let kept = if k.reasons(&l)?.is_some() {
            "kept"
        } else {
            "not kept: nothing asked for it"
        };
        f.links.push(format!("{} ({kept})", show(&l)));
    }
    Ok(f)
}

/// What the init system's configuration says about an entry (edges of kind
/// `init`, which the closure does not follow): each unit or service script
/// that starts it, by which directive, and what enables that unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InitFact {
    /// The directive (`ExecStart`, `command`, …).
    pub rule: String,
    /// The unit file, drop-in or init script that names the entry.
    #[serde(with = "crate::pathser::bytes")]
    pub unit: Vec<u8>,
    /// The unit a drop-in belongs to (the drop-in is `unit` then).
    #[serde(with = "crate::pathser::opt_bytes")]
    pub dropin_of: Option<Vec<u8>>,
    /// What enables it: (the enabling entry, its rule, the unit or
    /// directory it belongs to).
    pub enabled_by: Vec<Enabler>,
}

/// An entry that enables a unit: a `.wants/` link, a runlevel link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enabler {
    /// The link.
    #[serde(with = "crate::pathser::bytes")]
    pub link: Vec<u8>,
    /// `wants-dir`, `requires-dir` or `runlevel`.
    pub rule: String,
    /// The unit whose directory holds the link (or the runlevel directory).
    #[serde(with = "crate::pathser::bytes")]
    pub of: Vec<u8>,
}

/// The init facts about `path`.
pub fn init_facts(db: &kaudit_graph::Db, path: &[u8]) -> Result<Vec<InitFact>, DbError> {
    // names of the entry: itself and the symlinks one hop away that lead to it
    let mut names: Vec<Vec<u8>> = vec![path.to_vec()];
    names.extend(db.symlinks_to(path)?);
    let into = |dst: &[u8], rules: &[&str]| -> Result<Vec<(Vec<u8>, String)>, DbError> {
        Ok(db
            .init_edges_to(dst, rules)?
            .into_iter()
            .map(|e| (e.from, e.rule))
            .collect())
    };
    // the directives that run a program, systemd's and OpenRC's
    let starts: Vec<&str> = initsys::EXEC
        .iter()
        .copied()
        .chain([initsys::OPENRC_COMMAND])
        .collect();
    let mut out = Vec::new();
    for n in &names {
        for (unit, rule) in into(n, &starts)? {
            // a drop-in's directive: the unit it belongs to
            let dropin_of = into(&unit, &["drop-in"])?
                .into_iter()
                .next()
                .map(|(u, _)| u);
            let owner = dropin_of.clone().unwrap_or_else(|| unit.clone());
            let mut enabled_by = Vec::new();
            // the links that lead to the unit file, and the unit file itself
            let mut links: Vec<Vec<u8>> = vec![owner.clone()];
            links.extend(db.symlinks_to(&owner)?);
            for l in &links {
                for (of, rule) in into(l, &["wants-dir", "requires-dir", "runlevel"])? {
                    enabled_by.push(Enabler {
                        link: l.clone(),
                        rule,
                        of,
                    });
                }
            }
            let fact = InitFact {
                rule,
                unit,
                dropin_of,
                enabled_by,
            };
            if !out.contains(&fact) {
                out.push(fact);
            }
        }
    }
    Ok(out)
}
