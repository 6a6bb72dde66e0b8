//! `kaudit verify`: is an image whole, and does it still do its job?
//!
//! 1. With a profile: every entry of the profile's allowlist is in the image
//!    (a missing one is named with the chain that keeps it).
//! 2. Static integrity: the image is scanned like any root; every load of a
//!    program that is run (or a library that is loaded) resolves, every
//!    interpreter and shebang exists, every symlink resolves (targets under
//!    /proc, /sys, /dev, /run and /tmp are mounted at run time).
//! 3. Each scenario is replayed inside the image (`kaudit trace --root
//!    IMAGE`, on an overlay: the image is never written) with its expectations. A
//!    failed replay lists the paths its processes looked for in vain that the
//!    source root has, each with why it was not kept.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::Command;

use anyhow::{Context, Result};
use kaudit_analyzer::bytes;
use kaudit_analyzer::findings::Code;
use kaudit_analyzer::rootfs::{self, Root};
use kaudit_analyzer::scan::{self, ScanOptions};
use kaudit_graph::Db;
use kaudit_reports::closure::{self, Closure};
use kaudit_reports::graph::Graph;
use kaudit_reports::profile::Profile;
use kaudit_reports::{runs, show, why};

use crate::cli::{Cli, VerifyArgs};

/// Where the kernel and the init system mount filesystems at run time: a
/// symlink into them resolves on a running node.
const RUNTIME: &[&[u8]] = &[b"/proc", b"/sys", b"/dev", b"/run", b"/tmp"];

struct Problem {
    code: &'static str,
    text: String,
}

pub(crate) fn run(cli: &Cli, a: &VerifyArgs) -> Result<i32> {
    let image = Root::open(&a.root).with_context(|| format!("the image {}", a.root.display()))?;
    let profile = match &a.profile {
        Some(p) => Some(Profile::load(p)?),
        None => None,
    };
    let mut problems: Vec<Problem> = Vec::new();

    // the graph of the source root, when the profile's closure is asked
    let db = if profile.is_some() || cli.db.exists() {
        Some(Db::open_read(&cli.db)?)
    } else {
        None
    };
    let mut closure: Option<Closure> = None;
    if let (Some(p), Some(db)) = (&profile, &db) {
        let sel = runs::for_profile(db, p)?;
        let mut graph = Graph::new(db);
        let mut c = closure::compute_with(&mut graph, &sel.runs, Some(p), false)?;
        if a.proven {
            let said = crate::report::only_proven(db, p, &mut c)?;
            crate::say::note(format_args!("{said}"));
        }
        let mut missing = 0;
        for (path, _) in c.listed() {
            if image.lstat(path).is_ok() {
                continue;
            }
            missing += 1;
            let hops = why::chain(&mut &c, path)?.unwrap_or_default();
            let pkg = |p: &[u8]| crate::report::owners(db, p);
            let mut chain = why::render_chain(&hops, &pkg);
            if let Some(ex) = why::explained(&mut &c, path)? {
                chain.push_str("explained through the graph:\n");
                chain.push_str(&why::render_chain(&ex, &pkg));
            }
            problems.push(Problem {
                code: "missing-entry",
                text: format!(
                    "{} is in the allowlist of profile {} but not in the image; it is kept because:\n{}",
                    show(path),
                    p.name,
                    indent(&chain, 4)
                ),
            });
        }
        let listed = c.listed().count();
        eprintln!(
            "kaudit: allowlist: {} of {listed} entries present",
            listed - missing,
        );
        closure = Some(c);
    }

    // static integrity
    let opts = ScanOptions::default();
    let walk = scan::walk_root(&image, &opts, &|_| {})?;
    let analysis = scan::analyze(&image, &walk, &opts, &|_| {});
    // what the source root has as well is not the image's doing (a library
    // that does not load as a main object of its own, yet loads through
    // the program that needs it): said, not counted
    let in_source: BTreeSet<(String, Vec<u8>, String)> = match &db {
        Some(db) if closure.is_some() => db
            .findings(&kaudit_graph::FindingFilter::default())?
            .into_iter()
            .map(|f| (f.code, f.path, f.message))
            .collect(),
        _ => BTreeSet::new(),
    };
    let mut also_in_source = 0;
    for f in &analysis.findings {
        let code = f.finding.code;
        let about = f.context.as_deref().unwrap_or(&f.finding.path);
        // with a profile, only what the image runs or loads must load
        let relevant = match &closure {
            None => true,
            Some(c) => match c.entries.get(about) {
                Some(e) => match code {
                    Code::UnresolvedNeeded | Code::LoadError => {
                        e.run || (e.loaded && !e.file.program)
                    }
                    Code::MissingInterpreter | Code::MissingShebangInterpreter => e.run,
                    _ => true,
                },
                None => false,
            },
        };
        let kind = match code {
            Code::UnresolvedNeeded => "unresolved-needed",
            Code::LoadError => "load-error",
            Code::MissingInterpreter => "missing-interpreter",
            Code::MissingShebangInterpreter => "missing-shebang-interpreter",
            Code::DanglingSymlink | Code::SymlinkLoop => {
                let r = rootfs::resolve(&walk.index, &f.finding.path, b"/");
                let runtime = match &r.target {
                    Err(rootfs::ResolveError::NotFound { at }) => {
                        RUNTIME.iter().any(|d| bytes::at_or_below(at, d))
                    }
                    _ => false,
                };
                if runtime {
                    continue;
                }
                "dangling-symlink"
            }
            _ => continue,
        };
        if !relevant {
            continue;
        }
        if in_source.contains(&(
            code.as_str().to_string(),
            f.finding.path.clone(),
            f.finding.message.clone(),
        )) {
            also_in_source += 1;
            continue;
        }
        let context = match &f.context {
            Some(c) if c != &f.finding.path => format!(" (in the load of {})", show(c)),
            _ => String::new(),
        };
        problems.push(Problem {
            code: kind,
            text: format!("{}{context}: {}", show(&f.finding.path), f.finding.message),
        });
    }
    if also_in_source > 0 {
        eprintln!(
            "kaudit: static: {also_in_source} finding(s) the source root has as well, not counted (kaudit findings lists them)"
        );
    }
    eprintln!(
        "kaudit: static: {} ELF objects, {} scripts; {} problem(s) found",
        analysis.stats.elf,
        analysis.stats.scripts,
        problems
            .iter()
            .filter(|p| p.code != "missing-entry")
            .count()
    );

    // replays
    let scenarios: Vec<String> = if !a.scenario.is_empty() {
        a.scenario.clone()
    } else {
        profile
            .as_ref()
            .map(|p| p.scenarios.clone())
            .unwrap_or_default()
    };
    if !a.no_replay {
        // a scenario that cannot be found is a setup error, not the image's fault
        for s in &scenarios {
            crate::trace::load_scenario(s, a.scenarios.as_deref())?;
        }
        check_peers(db.as_ref(), closure.as_ref(), &scenarios, &a.peers)?;
        let exe = std::env::current_exe().context("finding kaudit itself")?;
        let scratch = tempfile::tempdir().context("a scratch directory for the replays")?;
        for s in &scenarios {
            let rdb = scratch.path().join(format!("{s}.db"));
            let t = std::time::Instant::now();
            // as it was traced: with the parameters (and nodes) of the profile's run
            let args = traced_args(db.as_ref(), closure.as_ref(), s, &a.peers);
            let r = replay_command(&exe, &rdb, &a.root, s, &args, a.scenarios.as_deref())
                .output()
                .context("running the replay")?;
            let secs = t.elapsed().as_secs_f64();
            for l in String::from_utf8_lossy(&r.stderr).lines() {
                crate::say::detail(format_args!("replay {s}: {l}"));
            }
            if r.status.success() {
                eprintln!("kaudit: replay {s}: passed in {secs:.1} s");
                continue;
            }
            eprintln!("kaudit: replay {s}: FAILED ({}) in {secs:.1} s", r.status);
            let err = String::from_utf8_lossy(&r.stderr);
            let tail: Vec<&str> = err.lines().rev().take(12).collect();
            let mut text = format!("scenario {s} failed inside the image:\n");
            for l in tail.iter().rev() {
                text.push_str(&format!("    {l}\n"));
            }
            // what its processes looked for in vain that the source has
            if let (Some(db), Ok(rd)) = (&db, Db::open_read(&rdb)) {
                if let Some(run) = rd.find_run(None, Some(s))? {
                    let (names, _) = rd.names(run.id)?;
                    let mut graph = Graph::new(db);
                    let mut seen = BTreeSet::new();
                    for n in names.iter().filter(|n| n.result == "ENOENT") {
                        // the first entry on the name's way (its own, then each
                        // symlink's target, as the source root has them) that
                        // the image lacks
                        let Some(canon) = missing_on_the_way(&mut graph, &image, &n.path)? else {
                            continue;
                        };
                        if !seen.insert(canon.clone()) {
                            continue;
                        }
                        let why_not = match &closure {
                            Some(c) if c.entries.contains_key(&canon) => {
                                "        the allowlist keeps it (missing-entry, above): the image was built from another list, or changed since\n".to_string()
                            }
                            Some(c) => {
                                let f = why::facts(&mut graph, &mut &*c, &c.dropped, &c.runs, profile.as_ref(), &canon)?;
                                indent(&why::render_facts(&canon, &f), 8)
                            }
                            None => String::new(),
                        };
                        let what = if canon == n.path {
                            String::new()
                        } else {
                            format!(": on its way, {}", show(&canon))
                        };
                        text.push_str(&format!(
                            "    {} looked for {} ({}){what}, which the source has and the image lacks\n{why_not}",
                            n.comm,
                            show(&n.path),
                            n.call
                        ));
                    }
                }
            }
            problems.push(Problem {
                code: "replay-failed",
                text,
            });
        }
    }

    if problems.is_empty() {
        eprintln!(
            "kaudit: verified {}: {}every load and link resolves{}",
            a.root.display(),
            if closure.is_some() {
                "the image holds its allowlist, "
            } else {
                ""
            },
            if scenarios.is_empty() || a.no_replay {
                String::new()
            } else {
                format!(", and {} replay(s) passed", scenarios.len())
            }
        );
        return Ok(0);
    }
    // the problems are the answer: standard output; a closed one changes
    // nothing of the exit status
    let mut out = crate::printer::stdout();
    for p in &problems {
        writeln!(out, "{}: {}", p.code, p.text.trim_end())?;
    }
    out.flush()?;
    eprintln!("kaudit: verify failed: {} problem(s)", problems.len());
    Ok(1)
}

/// Follow `path` through the source graph — directories resolved, then the
/// entry and each symlink target in turn — and return the first entry the
/// source has and the image lacks.
fn missing_on_the_way(graph: &mut Graph<'_>, image: &Root, path: &[u8]) -> Result<Option<Vec<u8>>> {
    first_on_the_way(graph, path, |p| image.lstat(p).is_err())
}

/// Follow `path` through the source graph — directories resolved, then the
/// entry and each symlink target in turn — and return the first entry the
/// source has for which `pick` holds.
pub(crate) fn first_on_the_way(
    graph: &mut Graph<'_>,
    path: &[u8],
    mut pick: impl FnMut(&[u8]) -> bool,
) -> Result<Option<Vec<u8>>> {
    let mut cur = match graph.canonical(path)? {
        Some(c) => c,
        None => return Ok(None),
    };
    for _ in 0..40 {
        let Some(f) = graph.file(&cur)? else {
            return Ok(None);
        };
        if pick(&cur) {
            return Ok(Some(cur));
        }
        match (&f.link_target, f.kind.as_str()) {
            (Some(t), "symlink") => {
                let next = if t.starts_with(b"/") {
                    t.clone()
                } else {
                    bytes::join(bytes::parent(&cur), t)
                };
                match graph.canonical(&next)? {
                    Some(c) => cur = c,
                    None => return Ok(None),
                }
            }
            _ => return Ok(None),
        }
    }
    Ok(None)
}

fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines()
        .map(|l| format!("{pad}{l}\n"))
        .collect::<String>()
}

/// `kaudit --db DB trace --root IMAGE --scenario NAME ARGS…`: one replay
/// of a scenario inside an image (on an overlay: the image is never written).
pub(crate) fn replay_command(
    exe: &std::path::Path,
    db: &std::path::Path,
    image: &std::path::Path,
    scenario: &str,
    args: &[String],
    scenarios: Option<&std::path::Path>,
) -> Command {
    let mut c = Command::new(exe);
    c.arg("--db")
        .arg(db)
        .args(["trace", "--root"])
        .arg(image)
        .args(["--scenario", scenario])
        .args(args);
    if let Some(d) = scenarios {
        c.arg("--scenarios").arg(d);
    }
    c
}

/// Each `--peer NAME=ROOT` must name a peer of a run that is replayed: a
/// misspelt name would otherwise be ignored, and the peer booted from the
/// root it was traced with.
pub(crate) fn check_peers(
    db: Option<&Db>,
    closure: Option<&Closure>,
    scenarios: &[String],
    peers: &[String],
) -> Result<()> {
    if peers.is_empty() {
        return Ok(());
    }
    let known: BTreeSet<String> = scenarios
        .iter()
        .filter_map(|s| traced_params(db, closure, s))
        .filter_map(|v| {
            v["peers"]
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>())
        })
        .flatten()
        .collect();
    for p in peers {
        let Some((name, _)) = p.split_once('=') else {
            anyhow::bail!("--peer {p}: expected NAME=ROOT");
        };
        if !known.contains(name) {
            anyhow::bail!(
                "--peer {p}: no replayed run has a peer {name:?} ({})",
                if known.is_empty() {
                    "they have none".to_string()
                } else {
                    format!(
                        "theirs: {}",
                        known.into_iter().collect::<Vec<_>>().join(", ")
                    )
                }
            );
        }
    }
    Ok(())
}

/// The stored parameters (`run.params`: `params`, a booted run's
/// `hostname` and `peers`) of the run of `scenario` the profile's closure
/// was computed from; `None` without a profile or stored parameters.
fn traced_params(
    db: Option<&Db>,
    closure: Option<&Closure>,
    scenario: &str,
) -> Option<serde_json::Value> {
    let (db, c) = (db?, closure?);
    let run = c.runs.iter().find(|r| r.name == scenario)?;
    let text = db.run_params(run.id).ok()??;
    serde_json::from_str(&text).ok()
}

/// The `kaudit trace` arguments of the run of `scenario` the profile's
/// closure was computed from: its `--param NAME=VALUE`s, and a booted
/// run's `--hostname` and `--peer`s (none without a profile, or for a run
/// without stored parameters).
pub(crate) fn traced_args(
    db: Option<&Db>,
    closure: Option<&Closure>,
    scenario: &str,
    peers: &[String],
) -> Vec<String> {
    let Some(v) = traced_params(db, closure, scenario) else {
        return Vec::new();
    };
    let mut args: Vec<String> = v["params"]
        .as_object()
        .map(|m| {
            m.iter()
                .flat_map(|(k, v)| {
                    v.as_str()
                        .map(|v| ["--param".to_string(), format!("{k}={v}")])
                })
                .flatten()
                .collect()
        })
        .unwrap_or_default();
    // a booted run: its node's name and its peers, booted again beside the
    // image (a peer given to verify is booted from that root instead)
    if let Some(h) = v["hostname"].as_str() {
        args.extend(["--hostname".to_string(), h.to_string()]);
    }
    if let Some(m) = v["peers"].as_object() {
        for (n, r) in m {
            let given = peers
                .iter()
                .find(|p| p.split_once('=').map(|(g, _)| g) == Some(n.as_str()));
            match (given, r.as_str()) {
                (Some(g), _) => args.extend(["--peer".to_string(), g.clone()]),
                (None, Some(r)) => args.extend(["--peer".to_string(), format!("{n}={r}")]),
                (None, None) => {}
            }
        }
    }
    args
}
