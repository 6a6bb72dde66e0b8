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
use std::path::{Path, PathBuf};

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

/// Check an image: whole, every load and link resolving, every scenario replayed
///
/// With --profile: every entry of the profile's allowlist must be in the
/// image (a missing one is named with the chain that keeps it). Then the
/// image is scanned like any root: every load of a program it runs (and
/// of a library it loads) must resolve inside it, every interpreter and
/// shebang exist, every symlink resolve (targets under /proc, /sys, /dev,
/// /run and /tmp are mounted at run time). Then each scenario (the
/// profile's, or --scenario) is replayed inside the image with its
/// expectations (kaudit trace --root IMAGE --overlay: the image is never
/// written); a failed replay lists the paths its processes looked for in
/// vain that the source root has, each with why it was not kept. The
/// problems go to stdout, progress and the verdict to stderr. Exit
/// status 1 when anything fails, whether or not stdout is read. Needs
/// root for the replays.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The image (a directory, e.g. from kaudit assemble)
    #[arg(long, value_name = "DIR")]
    pub(crate) root: PathBuf,
    /// The profile the image was built from (its allowlist and scenarios)
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: Option<PathBuf>,
    /// A scenario to replay (repeatable; default: the profile's)
    #[arg(long, value_name = "NAME")]
    pub(crate) scenario: Vec<String>,
    /// A directory of scenario files, searched first
    #[arg(long, value_name = "DIR")]
    pub(crate) scenarios: Option<PathBuf>,
    /// Static checks only
    #[arg(long)]
    pub(crate) no_replay: bool,
    /// Boot ROOT as peer NAME in the replays of booted scenarios that ran
    /// with a peer of that name (repeatable); by default each peer is booted
    /// from the root it was traced with
    #[arg(long = "peer", value_name = "NAME=ROOT")]
    pub(crate) peers: Vec<String>,
    /// The image was built from `kaudit allowlist --proven`: the entries the
    /// last proof did not show necessary are not expected in it
    #[arg(long, requires = "profile")]
    pub(crate) proven: bool,
}

/// Where the kernel and the init system mount filesystems at run time: a
/// symlink into them resolves on a running node.
const RUNTIME: &[&[u8]] = &[b"/proc", b"/sys", b"/dev", b"/run", b"/tmp"];

struct Problem {
    code: &'static str,
    text: String,
}

pub(crate) fn run(db_path: &Path, a: &Args) -> Result<i32> {
    let image = Root::open(&a.root).with_context(|| format!("the image {}", a.root.display()))?;
    let profile = match &a.profile {
        Some(p) => Some(Profile::load(p)?),
        None => None,
    };
    let mut problems: Vec<Problem> = Vec::new();

    // the graph of the source root, when the profile's closure is asked
    let db = if profile.is_some() || db_path.exists() {
        Some(Db::open_read(db_path)?)
    } else {
        None
    };
    let mut closure: Option<Closure> = None;
    if let (Some(p), Some(db)) = (&profile, &db) {
        let sel = runs::for_profile(db, p)?;
        let mut graph = Graph::new(db);
        let mut c = closure::compute_with(&mut graph, &sel.runs, Some(p), false)?;
        if a.proven {
            let said = crate::shared::only_proven(db, p, &mut c)?;
            crate::say::note(format_args!("{said}"));
        }
        let mut missing = 0;
        for (path, _) in c.listed() {
            if image.lstat(path).is_ok() {
                continue;
            }
            missing += 1;
            let hops = why::chain(&mut &c, path)?.unwrap_or_default();
            let pkg = |p: &[u8]| crate::shared::owners(db, p);
            let mut chain = crate::printer::why::chain(&hops, &pkg);
            if let Some(ex) = why::explained(&mut &c, path)? {
                chain.push_str("explained through the graph:\n");
                chain.push_str(&crate::printer::why::chain(&ex, &pkg));
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
            crate::shared::load_scenario(s, a.scenarios.as_deref())?;
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
                                indent(&crate::printer::why::facts_text(&canon, &f), 8)
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
    crate::printer::verify::problems(&mut out, problems.iter().map(|p| (p.code, p.text.as_str())))?;
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

fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines()
        .map(|l| format!("{pad}{l}\n"))
        .collect::<String>()
}
use crate::replay::{check_peers, first_on_the_way, replay_command, traced_args};
