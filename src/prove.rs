//! `kaudit prove`: is every kept entry of a profile's image needed?
//!
//! Each kept entry that is not a directory gets a proof, or is said to have
//! none:
//! - **include**: a profile include keeps it, with its reason;
//! - **loader**: it is the interpreter or a `DT_NEEDED` object of an object
//!   that is itself shown necessary, a symlink on the way of that load, or
//!   the target of a necessary symlink: without it that object cannot load
//!   (or the link leads nowhere);
//! - **replay**: the scenarios that used it, replayed inside the image with
//!   it hidden (a whiteout in the replay's overlay: the image is never
//!   written), fail; the first failing step and its message are the proof.
//!
//! Replays test many entries at once (group testing): a group whose replays
//! pass is unneeded as a whole; a failed replay names the hidden entries
//! its processes looked for (the names the replay's own trace captured, and
//! the directories it listed), and when that is one entry, the failure is
//! that entry's proof; otherwise the group is split. Entries removed stay
//! removed for later tests, so what is left is needed with all the others
//! gone; a last replay of every scenario with every unneeded entry hidden
//! checks them together.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};
use kaudit_analyzer::bytes;
use kaudit_graph::{Db, ProofRow, ProofRun};
use kaudit_reports::closure::{self, Closure, Reason};
use kaudit_reports::graph::Graph;
use kaudit_reports::profile::Profile;
use kaudit_reports::{runs, show};

use crate::printer::Format;

/// Prove every kept entry of an image necessary, or say which are not
///
/// For each entry of the profile's allowlist (directories aside): an
/// include keeps it with its reason; or it is the interpreter, a
/// DT_NEEDED object or a symlink on the way of the load of an object
/// shown necessary (a loader proof); or the scenarios that used it,
/// replayed inside the image with it hidden (a whiteout in the replay's
/// overlay: the image is never written), fail (a replay proof: the
/// first failing step and its message). Replays hide many entries at
/// once and split a group only when it fails; a last replay of every
/// scenario hides every entry not shown necessary at once. The proofs
/// go into the graph (kaudit why, kaudit docs, kaudit allowlist
/// --proven, kaudit check); the entries not shown necessary go to
/// stdout, the summary and the time against one replay of every
/// scenario to stderr. Exit status 0 when every entry is shown necessary
/// or included, 1 otherwise. Needs root.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The profile (allowlists/NAME.toml): its allowlist, scenarios and includes
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: PathBuf,
    /// The image assembled from the profile's allowlist (a directory)
    #[arg(long, value_name = "DIR")]
    pub(crate) root: PathBuf,
    /// A directory of scenario files, searched first
    #[arg(long, value_name = "DIR")]
    pub(crate) scenarios: Option<PathBuf>,
    /// Boot ROOT as peer NAME in the replays of booted scenarios that ran
    /// with a peer of that name (repeatable), as kaudit verify does
    #[arg(long = "peer", value_name = "NAME=ROOT")]
    pub(crate) peers: Vec<String>,
    /// Replays run at once, each in namespaces of its own [default: one
    /// more than the machine's processors: a replay mostly waits]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) jobs: Option<u16>,
    /// text: the entries not shown necessary; json: every kept entry's proof
    #[arg(long, value_parser = Format::among(&[Format::Text, Format::Json]), default_value = "text")]
    pub(crate) format: Format,
}

/// How one replay went.
#[derive(Debug, Clone, Default)]
struct Outcome {
    passed: bool,
    scenario: String,
    step: Option<String>,
    message: String,
}

/// What the replays need to know.
struct Replayer<'a> {
    exe: PathBuf,
    image: &'a Path,
    scenarios_dir: Option<&'a Path>,
    /// per scenario: its trace arguments, and the bound of a replay and of
    /// each of its steps (none for the baseline)
    args: BTreeMap<String, (Vec<String>, Option<std::time::Duration>)>,
    scratch: tempfile::TempDir,
    count: std::sync::atomic::AtomicU64,
    /// set by SIGINT or SIGTERM
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Replayer<'_> {
    /// Replay `scenario` inside the image with `hidden` hidden; a failed
    /// replay's database is kept (to read which hidden entries it met), a
    /// passed one's removed.
    fn replay(
        &self,
        scenario: &str,
        hidden: &BTreeSet<Vec<u8>>,
    ) -> Result<(Outcome, Option<PathBuf>)> {
        let n = self.count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let db = self.scratch.path().join(format!("r{n}.db"));
        let list = self.scratch.path().join(format!("r{n}.hide"));
        let mut text = Vec::new();
        for p in hidden {
            text.extend_from_slice(p);
            text.push(b'\n');
        }
        std::fs::write(&list, text).context("the list of entries to hide")?;
        let (args, bound) = self.args.get(scenario).cloned().unwrap_or_default();
        let mut c = crate::replay::replay_command(
            &self.exe,
            &db,
            self.image,
            scenario,
            &args,
            self.scenarios_dir,
        );
        c.arg("--hide").arg(&list);
        if let Some(b) = bound {
            c.arg("--step-timeout-max")
                .arg(format!("{}ms", b.as_millis()));
        }
        let (status, err) = run_bounded(c, bound, &self.stop)?;
        let _ = std::fs::remove_file(&list);
        let mut o = Outcome {
            passed: status.success(),
            scenario: scenario.to_string(),
            ..Outcome::default()
        };
        if o.passed {
            let _ = std::fs::remove_file(&db);
            return Ok((o, None));
        }
        // "  FAIL step: message" as trace reports it
        match err
            .lines()
            .find_map(|l| l.trim_start().strip_prefix("FAIL "))
        {
            Some(f) => {
                let (step, msg) = f.split_once(": ").unwrap_or((f, ""));
                o.step = Some(step.to_string());
                o.message = msg.trim().to_string();
            }
            None => {
                o.message = err
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("the replay failed")
                    .trim()
                    .to_string()
            }
        }
        Ok((o, Some(db)))
    }

    /// Replay `scenarios` in turn with `hidden` hidden, up to the first that
    /// fails.
    fn replay_all<'s>(
        &self,
        scenarios: impl IntoIterator<Item = &'s String>,
        hidden: &BTreeSet<Vec<u8>>,
    ) -> Result<(Outcome, Option<PathBuf>)> {
        let mut last = Outcome {
            passed: true,
            ..Outcome::default()
        };
        for s in scenarios {
            let (o, db) = self.replay(s, hidden)?;
            if !o.passed {
                return Ok((o, db));
            }
            last = o;
        }
        Ok((last, None))
    }
}

/// Whether SIGINT or SIGTERM came: then the replays running are
/// interrupted (their cleanup runs), no other starts, and prove ends with
/// an error, its scratch directory removed.
fn stopped(stop: &std::sync::atomic::AtomicBool) -> Result<()> {
    if stop.load(std::sync::atomic::Ordering::SeqCst) {
        anyhow::bail!(
            "interrupted: nothing was stored (the replays that ran were stopped and cleaned up)"
        );
    }
    Ok(())
}

/// Run a replay; past `deadline` it is interrupted (SIGINT: the step ends,
/// the cleanup runs, the run is stored as interrupted), and killed if it
/// does not end within 30 s more. Its exit status and standard error.
fn run_bounded(
    mut c: Command,
    deadline: Option<std::time::Duration>,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<(std::process::ExitStatus, String)> {
    use std::io::Read;
    c.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().context("running a replay")?;
    let mut pipe = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(p) = pipe.as_mut() {
            let _ = p.read_to_end(&mut s);
        }
        s
    });
    let started = Instant::now();
    let mut interrupted: Option<Instant> = None;
    let status = loop {
        if let Some(st) = child.try_wait().context("waiting for a replay")? {
            break st;
        }
        let late = deadline.is_some_and(|d| started.elapsed() > d);
        match interrupted {
            None if late || stop.load(std::sync::atomic::Ordering::SeqCst) => {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(child.id() as i32),
                    nix::sys::signal::Signal::SIGINT,
                );
                interrupted = Some(Instant::now());
            }
            Some(t) if t.elapsed() > std::time::Duration::from_secs(30) => {
                let _ = child.kill();
            }
            _ => {}
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let err = String::from_utf8_lossy(&reader.join().unwrap_or_default()).into_owned();
    Ok((status, err))
}

/// The hidden entries a failed replay met: each name it looked for in vain
/// whose path (or a directory or symlink on its way, as the source has
/// them) is hidden, and each hidden entry of a directory it listed.
fn met(graph: &mut Graph<'_>, db: &Path, hidden: &BTreeSet<Vec<u8>>) -> Result<BTreeSet<Vec<u8>>> {
    let mut out = BTreeSet::new();
    let Ok(rd) = Db::open_read(db) else {
        return Ok(out);
    };
    let Some(run) = rd.find_run(None, None)? else {
        return Ok(out);
    };
    let (names, _) = rd.names(run.id)?;
    let mut seen = BTreeSet::new();
    for n in names.iter().filter(|n| n.result != "ok") {
        if !seen.insert(n.path.clone()) {
            continue;
        }
        // the literal path and each directory above it
        let mut p = n.path.as_slice();
        loop {
            if hidden.contains(p) {
                out.insert(p.to_vec());
            }
            if p == b"/" || p.is_empty() {
                break;
            }
            p = bytes::parent(p);
        }
        // then as the source resolves it, hop by hop
        if let Some(h) = crate::replay::first_on_the_way(graph, &n.path, |p| hidden.contains(p))? {
            out.insert(h);
        }
    }
    for a in rd.accesses(run.id)? {
        if a.kind == "opendir" {
            for h in hidden {
                if bytes::parent(h) == a.path.as_slice() {
                    out.insert(h.clone());
                }
            }
        }
    }
    Ok(out)
}

/// A loader proof waiting for the object it serves: (that object, the
/// edge's kind, the rule).
type LoaderWay = (Vec<u8>, String, String);

/// For each kept entry, the kept objects whose load (or link) reaches it,
/// and how: the interpreter, `DT_NEEDED` objects and symlinks walked of the
/// load of each program that is run and each library that is loaded, the
/// interpreter line of each script that is run, and where each symlink
/// leads. Read from the graph's edges, as the closure follows them.
fn loader_ways(graph: &mut Graph<'_>, c: &Closure) -> Result<BTreeMap<Vec<u8>, Vec<LoaderWay>>> {
    let mut out: BTreeMap<Vec<u8>, Vec<LoaderWay>> = BTreeMap::new();
    for (o, e) in c.listed() {
        let f = &e.file;
        let mut edges = Vec::new();
        if f.kind == "symlink" || e.run {
            for ed in graph.free_edges(f.id)?.iter() {
                let keep = match ed.kind.as_str() {
                    "symlink" | "walks" => true,
                    "interp" | "shebang" => e.run,
                    _ => false,
                };
                if keep {
                    edges.push(ed.clone());
                }
            }
        }
        if f.elf && (e.run || e.loaded) {
            edges.extend(graph.load_edges(f.id)?.iter().cloned());
        }
        for ed in edges {
            if ed.dst == *o || !c.entries.contains_key(&ed.dst) {
                continue;
            }
            let name = ed
                .name
                .as_deref()
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .unwrap_or_default();
            let of_load = if ed.src == *o {
                String::new()
            } else {
                format!(" in the load of {}", show(o))
            };
            let how = match ed.kind.as_str() {
                "needed" => format!(
                    "DT_NEEDED {name:?} of {}{of_load}{}",
                    show(&ed.src),
                    ed.rule
                        .as_deref()
                        .map(|r| format!(" (found by {r})"))
                        .unwrap_or_default()
                ),
                "interp" => format!("the interpreter of {}", show(o)),
                "shebang" => format!("the interpreter line of {}", show(o)),
                "symlink" => format!("where the symlink {} leads", show(o)),
                _ => format!("a symlink on the way of the load of {}", show(o)),
            };
            out.entry(ed.dst.clone())
                .or_default()
                .push((o.clone(), ed.kind.clone(), how));
        }
    }
    Ok(out)
}

pub(crate) fn run(db_path: &Path, a: &Args) -> Result<i32> {
    let started = Instant::now();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    let profile = Profile::load(&a.profile)?;
    let image = std::fs::canonicalize(&a.root)
        .with_context(|| format!("the image {}", a.root.display()))?;
    if !image.is_dir() {
        anyhow::bail!(
            "the image {} is not a directory (kaudit assemble --out DIR)",
            image.display()
        );
    }
    let mut db = Db::open(db_path, false)?;
    let sel = runs::for_profile(&db, &profile)?;
    let c: Closure = {
        let mut graph = Graph::new(&db);
        closure::compute_with(&mut graph, &sel.runs, Some(&profile), true)?
    };
    // the image must hold its allowlist: a proof is about that image
    let missing: Vec<&Vec<u8>> = c
        .listed()
        .map(|(p, _)| p)
        .filter(|p| std::fs::symlink_metadata(image.join(bytes_path(&p[1..]))).is_err())
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "the image {} lacks {} entries of the allowlist of profile {} (first: {}): assemble it from that allowlist first",
            image.display(),
            missing.len(),
            profile.name,
            show(missing[0])
        );
    }
    for s in &profile.scenarios {
        crate::shared::load_scenario(s, a.scenarios.as_deref())?;
    }
    let scenario_of: HashMap<i64, String> = c.runs.iter().map(|r| (r.id, r.name.clone())).collect();

    // classify
    let ways = {
        let mut graph = Graph::new(&db);
        loader_ways(&mut graph, &c)?
    };
    let mut rows: BTreeMap<Vec<u8>, ProofRow> = BTreeMap::new();
    let mut waiting: BTreeMap<Vec<u8>, Vec<LoaderWay>> = BTreeMap::new();
    let mut candidates: Vec<Vec<u8>> = Vec::new();
    let mut dirs: Vec<Vec<u8>> = Vec::new();
    for (path, e) in c.listed() {
        if e.file.kind == "dir" {
            dirs.push(path.clone());
            continue;
        }
        if let Some(Reason::Include { glob, reason, line }) = e
            .reasons
            .iter()
            .find(|r| matches!(r, Reason::Include { .. }))
        {
            rows.insert(
                path.clone(),
                row(
                    path,
                    "include",
                    None,
                    None,
                    format!("include {glob:?} (line {line}): {reason}"),
                ),
            );
            continue;
        }
        match ways.get(path) {
            // a program the workload runs is tested by replay itself (the
            // loader's proofs start from it), unless it is an interpreter
            Some(w) if !e.run || w.iter().any(|(_, k, _)| k == "interp") => {
                waiting.insert(path.clone(), w.clone());
            }
            _ => candidates.push(path.clone()),
        }
    }
    let relevant = |p: &[u8]| -> BTreeSet<String> {
        let mut s: BTreeSet<String> = c
            .per_run
            .iter()
            .filter(|(_, set)| set.contains(p))
            .filter_map(|(id, _)| scenario_of.get(id).cloned())
            .collect();
        if s.is_empty() {
            s = profile.scenarios.iter().cloned().collect();
        }
        s
    };

    // the replays: as traced, each step capped
    let exe = std::env::current_exe().context("finding kaudit itself")?;
    let mut rp = Replayer {
        exe,
        image: &image,
        scenarios_dir: a.scenarios.as_deref(),
        args: BTreeMap::new(),
        scratch: tempfile::tempdir().context("a scratch directory for the replays")?,
        count: std::sync::atomic::AtomicU64::new(0),
        stop: stop.clone(),
    };
    crate::replay::check_peers(Some(&db), Some(&c), &profile.scenarios, &a.peers)?;
    for s in &profile.scenarios {
        let args = crate::replay::traced_args(Some(&db), Some(&c), s, &a.peers);
        rp.args.insert(s.clone(), (args, None));
    }
    // baseline: every scenario passes with nothing hidden
    let t0 = Instant::now();
    let none = BTreeSet::new();
    for s in &profile.scenarios {
        let t = Instant::now();
        let (o, _) = rp.replay(s, &none)?;
        stopped(&stop)?;
        if !o.passed {
            anyhow::bail!(
                "scenario {s} fails inside {} with nothing hidden ({}: {}): kaudit verify says why; a proof needs an image that passes",
                image.display(),
                o.step.as_deref().unwrap_or("?"),
                o.message
            );
        }
        let secs = t.elapsed().as_secs_f64();
        if let Some(e) = rp.args.get_mut(s) {
            e.1 = Some(std::time::Duration::from_secs_f64((secs * 3.0).max(10.0)));
        }
        crate::say::detail(format_args!("prove: baseline {s}: passed in {secs:.1} s"));
    }
    let baseline = t0.elapsed().as_secs_f64();
    crate::say::note(format_args!(
        "prove: {} entries: {} include(s), {} with a loader way, {} to test by replay; baseline replays {baseline:.1} s",
        c.listed().count(),
        rows.len(),
        waiting.len(),
        candidates.len()
    ));

    let mut removed: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut tested: BTreeSet<Vec<u8>> = BTreeSet::new();
    let jobs = match a.jobs {
        Some(j) => j as usize,
        None => std::thread::available_parallelism().map_or(2, |n| n.get() + 1),
    };
    let mut graph = Graph::new(&db);
    let mut round = |cands: Vec<Vec<u8>>,
                     removed: &mut BTreeSet<Vec<u8>>,
                     rows: &mut BTreeMap<Vec<u8>, ProofRow>,
                     graph: &mut Graph<'_>|
     -> Result<()> {
        // groups by the scenarios that used them
        let mut by_sig: BTreeMap<BTreeSet<String>, Vec<Vec<u8>>> = BTreeMap::new();
        for p in cands {
            tested.insert(p.clone());
            by_sig.entry(relevant(&p)).or_default().push(p);
        }
        let mut queue: Vec<(BTreeSet<String>, Vec<Vec<u8>>)> = by_sig.into_iter().collect();
        while !queue.is_empty() {
            stopped(&stop)?;
            let wave: Vec<_> = queue.drain(..queue.len().min(jobs)).collect();
            let snapshot = removed.clone();
            let hiddens: Vec<BTreeSet<Vec<u8>>> = wave
                .iter()
                .map(|(_, group)| snapshot.iter().chain(group).cloned().collect())
                .collect();
            let results: Vec<Result<(Outcome, Option<PathBuf>)>> = std::thread::scope(|sc| {
                let hs: Vec<_> = wave
                    .iter()
                    .zip(&hiddens)
                    .map(|((sig, _), hidden)| {
                        let rp = &rp;
                        sc.spawn(move || rp.replay_all(sig, hidden))
                    })
                    .collect();
                hs.into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err(anyhow::anyhow!("a replay thread failed")))
                    })
                    .collect()
            });
            stopped(&stop)?;
            for (((sig, group), hidden), r) in wave.into_iter().zip(&hiddens).zip(results) {
                let (o, rdb) = r?;
                let Some(rdb) = rdb else {
                    removed.extend(group);
                    continue;
                };
                let seen = met(graph, &rdb, hidden)?;
                let _ = std::fs::remove_file(&rdb);
                let in_group: Vec<Vec<u8>> = group
                    .iter()
                    .filter(|p| seen.contains(*p))
                    .cloned()
                    .collect();
                let proof = |p: &[u8], how: &str| {
                    row(
                        p,
                        "replay",
                        Some(o.scenario.clone()),
                        o.step.clone(),
                        format!(
                            "without it, step {} of {} fails: {}{how}",
                            o.step.as_deref().unwrap_or("?"),
                            o.scenario,
                            o.message
                        ),
                    )
                };
                match (in_group.len(), group.len()) {
                    // hidden alone, it fails: necessary
                    (_, 1) => {
                        let p = &group[0];
                        let how = if in_group.is_empty() {
                            " (its processes did not look for it by name: it is missed otherwise)"
                        } else {
                            ""
                        };
                        rows.insert(p.clone(), proof(p, how));
                    }
                    // the one hidden entry the replay met: hidden alone next
                    // (the proof is a replay without it alone), the rest
                    // tested again
                    (1, _) => {
                        let p = in_group[0].clone();
                        let rest: Vec<_> = group.into_iter().filter(|q| *q != p).collect();
                        queue.insert(0, (sig.clone(), vec![p]));
                        queue.push((sig, rest));
                    }
                    (0, _) => {
                        let (x, y) = group.split_at(group.len() / 2);
                        queue.push((sig.clone(), x.to_vec()));
                        queue.push((sig, y.to_vec()));
                    }
                    (_, _) => {
                        let rest: Vec<_> = group
                            .iter()
                            .filter(|q| !seen.contains(*q))
                            .cloned()
                            .collect();
                        let (x, y) = in_group.split_at(in_group.len() / 2);
                        queue.push((sig.clone(), x.to_vec()));
                        queue.push((sig.clone(), y.to_vec()));
                        if !rest.is_empty() {
                            queue.push((sig, rest));
                        }
                    }
                }
            }
            crate::say::note(format_args!(
                "prove: {} replay(s), {} necessary, {} not, {} group(s) to go",
                rp.count.load(std::sync::atomic::Ordering::SeqCst),
                rows.values().filter(|r| r.kind == "replay").count(),
                removed.len(),
                queue.len()
            ));
        }
        Ok(())
    };

    // loader proofs from what is shown necessary, as far as they reach
    let propagate = |rows: &mut BTreeMap<Vec<u8>, ProofRow>, removed: &BTreeSet<Vec<u8>>| loop {
        let found: Vec<(Vec<u8>, String)> = waiting
            .iter()
            .filter(|(p, _)| !rows.contains_key(*p) && !removed.contains(*p))
            .filter_map(|(p, ways)| {
                ways.iter()
                    .find(|(o, _, _)| rows.contains_key(o))
                    .map(|(_, _, how)| (p.clone(), how.clone()))
            })
            .collect();
        if found.is_empty() {
            break;
        }
        for (p, how) in found {
            rows.insert(p.clone(), row(&p, "loader", None, None, how));
        }
    };
    round(candidates, &mut removed, &mut rows, &mut graph)?;
    propagate(&mut rows, &removed);
    // what serves only objects shown unneeded is tested by replay in turn
    let left: Vec<Vec<u8>> = waiting
        .keys()
        .filter(|p| !rows.contains_key(*p) && !removed.contains(*p))
        .cloned()
        .collect();
    round(left, &mut removed, &mut rows, &mut graph)?;
    propagate(&mut rows, &removed);

    // every scenario with every unneeded entry hidden at once
    for _ in 0..5 {
        if removed.is_empty() {
            break;
        }
        let (o, rdb) = rp.replay_all(&profile.scenarios, &removed)?;
        stopped(&stop)?;
        let Some(rdb) = rdb else { break };
        let seen = met(&mut graph, &rdb, &removed)?;
        let _ = std::fs::remove_file(&rdb);
        if seen.is_empty() {
            anyhow::bail!(
                "with every entry not shown necessary hidden at once, scenario {} fails ({}: {}) without looking for any of them: the replays are not repeatable",
                o.scenario,
                o.step.as_deref().unwrap_or("?"),
                o.message
            );
        }
        for p in seen {
            removed.remove(&p);
            rows.insert(
                p.clone(),
                row(
                    &p,
                    "replay",
                    Some(o.scenario.clone()),
                    o.step.clone(),
                    format!(
                        "without it and the entries not shown necessary, step {} of {} fails: {}",
                        o.step.as_deref().unwrap_or("?"),
                        o.scenario,
                        o.message
                    ),
                ),
            );
        }
    }
    for p in &removed {
        let scen: Vec<String> = relevant(p).into_iter().collect();
        rows.insert(
            p.clone(),
            row(
                p,
                "unproven",
                None,
                None,
                format!("every replay of {} passed without it", scen.join(", ")),
            ),
        );
    }
    // directories: kept for what they hold, or for their own use
    dirs.sort_by(|x, y| y.len().cmp(&x.len()).then(x.cmp(y)));
    let mut holds: BTreeSet<Vec<u8>> = rows
        .iter()
        .filter(|(_, r)| r.kind != "unproven")
        .map(|(p, _)| bytes::parent(p).to_vec())
        .collect();
    for d in &dirs {
        let e = &c.entries[d];
        let own = e
            .reasons
            .iter()
            .any(|r| !matches!(r, Reason::Parent { .. }));
        let (kind, detail) = if holds.contains(d) {
            ("parent", "a directory holding necessary entries")
        } else if own {
            ("parent", "a directory the node uses itself")
        } else {
            (
                "unproven",
                "a directory whose entries were all shown unnecessary",
            )
        };
        let r = row(d, kind, None, None, detail.into());
        if r.kind != "unproven" {
            holds.insert(bytes::parent(d).to_vec());
        }
        rows.insert(d.clone(), r);
    }

    let replays = rp.count.load(std::sync::atomic::Ordering::SeqCst);
    let seconds = started.elapsed().as_secs_f64();
    let all: Vec<ProofRow> = rows.into_values().collect();
    drop(graph);
    db.store_proofs(
        &profile.name,
        &all,
        &ProofRun {
            image: image.as_os_str().as_encoded_bytes().to_vec(),
            made_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
            replays,
            tested: tested.len() as u64,
            seconds,
            baseline,
        },
    )?;
    let count = |k: &str| all.iter().filter(|r| r.kind == k).count();
    let unproven: Vec<&ProofRow> = all.iter().filter(|r| r.kind == "unproven").collect();
    let mut out = crate::printer::stdout();
    crate::printer::prove::write(
        &mut out,
        &profile.name,
        &image,
        &all,
        &unproven,
        replays,
        tested.len(),
        seconds,
        baseline,
        a.format,
    )?;
    std::io::Write::flush(&mut out)?;
    crate::say::note(format_args!(
        "prove {}: {} entries: {} loader, {} replay, {} include, {} directories, {} not shown necessary",
        profile.name,
        all.len(),
        count("loader"),
        count("replay"),
        count("include"),
        count("parent"),
        unproven.len()
    ));
    crate::say::note(format_args!(
        "prove: {replays} replays for {} entries tested by replay in {seconds:.1} s; one replay of every scenario: {baseline:.1} s ({:.1}x)",
        tested.len(),
        seconds / baseline.max(0.001)
    ));
    Ok(if unproven.is_empty() { 0 } else { 1 })
}

fn row(
    p: &[u8],
    kind: &str,
    scenario: Option<String>,
    step: Option<String>,
    detail: String,
) -> ProofRow {
    ProofRow {
        path: p.to_vec(),
        kind: kind.into(),
        scenario,
        step,
        detail,
    }
}

fn bytes_path(b: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(b))
}
