//! The closure: the entries an image needs, each with the evidence that
//! keeps it.
//!
//! Roots are what the runs accessed (opened, executed, listed, wrote to an
//! existing file, had in use at start), every name a process asked for with
//! success (each symlink it walked and what it reached), and the profile's
//! includes. From each kept entry the closure follows the graph's edges,
//! as far as the entry's use calls for them: every parent directory and, for
//! a symlink, its one hop and the directory symlinks walked on the way
//! (`walks`); for an entry that is run (executed, an interpreter, an
//! include), a program's `interp`, a script's `shebang` and its load as a
//! main object (`needed`, `walks`, the default loader); for a library that
//! is loaded (a `needed` edge, or a process opened it: `dlopen`, `mmap`),
//! its load. A program or a script only read as data needs neither its
//! interpreter nor its libraries. Excluded entries are neither kept nor followed. A
//! symlink is kept only when something asked for it: a process (a name), the
//! loader (a `needed` edge), an interpreter line, another kept symlink, or an
//! include.
//!
//! The search is breadth-first, so the first reason of every entry is the
//! last hop of a shortest chain from a root.

use std::collections::{HashMap, HashSet, VecDeque};

use kaudit_graph::{Db, DbError, RunRow};
use serde::{Deserialize, Serialize};

use crate::graph::{FileRow, Graph};
use crate::parent;
use crate::profile::Profile;

/// Access kinds that make a file a root (the others record writes that
/// create, delete or rename: the file itself need not be in the image).
const ROOT_KINDS: &[&str] = &[
    "open",
    "opendir",
    "exec",
    "modify",
    "close-write",
    "in-use-at-start",
];

/// At most this many reasons are kept per entry (libc is needed by every
/// program's load); the rest are counted.
const MAX_REASONS: usize = 64;

/// Why an entry is kept: one hop of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum Reason {
    /// A traced run accessed it (a root).
    Accessed {
        /// Run id.
        run: i64,
        /// Scenario (run name).
        scenario: String,
        /// Step.
        step: Option<String>,
        /// Access kind (`open`, `exec`, …).
        kind: String,
        /// First process.
        pid: i64,
        /// Its command.
        comm: String,
        /// Its executable.
        #[serde(with = "crate::pathser::opt_bytes")]
        exe: Option<Vec<u8>>,
        /// Its parents, nearest first.
        parents: String,
    },
    /// A process asked for a name that walked through it or reached it (a root).
    Asked {
        /// Run id.
        run: i64,
        /// Scenario.
        scenario: String,
        /// Step.
        step: Option<String>,
        /// The name asked for.
        #[serde(with = "crate::pathser::bytes")]
        name: Vec<u8>,
        /// The call.
        call: String,
        /// First process.
        pid: i64,
        /// Its command.
        comm: String,
        /// Which symlink of the name's walk this is (1-based), or `None`
        /// for what the name reached.
        hop: Option<usize>,
    },
    /// A run wrote in this directory: created, deleted or renamed an entry
    /// there, which needs the directory in the image (a root).
    WrittenIn {
        /// Run id.
        run: i64,
        /// Scenario.
        scenario: String,
        /// Step.
        step: Option<String>,
        /// `create`, `delete`, `moved-from`, `moved-to`.
        kind: String,
        /// The entry written.
        #[serde(with = "crate::pathser::bytes")]
        entry: Vec<u8>,
        /// First process.
        pid: i64,
        /// Its command.
        comm: String,
    },
    /// A run reached an entry below this directory that the scanned root
    /// does not have (a pseudo file under a mount point, a file made at run
    /// time): the directory must be in the image (a root).
    Beneath {
        /// Run id.
        run: i64,
        /// Scenario.
        scenario: String,
        /// The entry reached.
        #[serde(with = "crate::pathser::bytes")]
        entry: Vec<u8>,
        /// How: an access kind, or the call of a name.
        how: String,
    },
    /// An include of the profile (a root).
    Include {
        /// The glob.
        glob: String,
        /// Its reason.
        reason: String,
        /// Its line in the profile.
        line: usize,
    },
    /// An edge of the graph from a kept entry.
    Edge {
        /// `needed`, `interp`, `shebang`, `symlink` or `walks`.
        kind: String,
        /// The kept entry this hop comes from.
        #[serde(with = "crate::pathser::bytes")]
        from: Vec<u8>,
        /// What was asked for: the `DT_NEEDED` string, interpreter, link target…
        #[serde(with = "crate::pathser::opt_bytes")]
        name: Option<Vec<u8>>,
        /// The path opened (needed) or followed (env lookups).
        #[serde(with = "crate::pathser::opt_bytes")]
        opened: Option<Vec<u8>>,
        /// How it was found (the search rule of `needed` edges).
        rule: Option<String>,
        /// The object that supplied the directory, or was reused.
        #[serde(with = "crate::pathser::opt_bytes")]
        via: Option<Vec<u8>>,
        /// The main object whose load this is (`needed`, `walks`), when it is
        /// not `from` itself.
        #[serde(with = "crate::pathser::opt_bytes")]
        load: Option<Vec<u8>>,
    },
    /// A kept entry lies in this directory.
    Parent {
        /// The entry.
        #[serde(with = "crate::pathser::bytes")]
        child: Vec<u8>,
    },
}

impl Reason {
    /// The stable code of the reason (`accessed`, `asked`, `include`, the
    /// edge kind, `parent`).
    pub fn code(&self) -> &str {
        match self {
            Reason::Accessed { .. } => "accessed",
            Reason::Asked { .. } => "asked",
            Reason::WrittenIn { .. } => "written-in",
            Reason::Beneath { .. } => "beneath",
            Reason::Include { .. } => "include",
            Reason::Edge { kind, .. } => kind,
            Reason::Parent { .. } => "parent",
        }
    }

    /// The kept entry this hop comes from (`None` for a root).
    pub fn from(&self) -> Option<&[u8]> {
        match self {
            Reason::Edge { from, .. } => Some(from),
            Reason::Parent { child } => Some(child),
            _ => None,
        }
    }

    /// The scenario of a root reason.
    pub fn scenario(&self) -> Option<&str> {
        match self {
            Reason::Accessed { scenario, .. }
            | Reason::Asked { scenario, .. }
            | Reason::WrittenIn { scenario, .. }
            | Reason::Beneath { scenario, .. } => Some(scenario),
            _ => None,
        }
    }
}

/// A kept entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The entry in the scanned root.
    pub file: std::rc::Rc<FileRow>,
    /// Why it is kept; the first is the last hop of a shortest chain.
    pub reasons: Vec<Reason>,
    /// Reasons beyond [`MAX_REASONS`], counted only.
    pub more: usize,
    /// Hops from the nearest root (0: a root).
    pub depth: u32,
    /// It is run: executed, an interpreter, in use at start, or included.
    pub run: bool,
    /// It is loaded as a library (by the loader, or opened by a process).
    pub loaded: bool,
}

/// Something a root or an edge pointed at that is not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The path.
    pub path: Vec<u8>,
    /// Why it was reached.
    pub reason: Reason,
    /// The exclude rule's line, or `None` when the path is not in the
    /// scanned root (a pseudo file, a file the run created and removed…).
    pub excluded_by: Option<usize>,
}

/// The closure of a set of runs and a profile.
#[derive(Debug, Clone, Default)]
pub struct Closure {
    /// Kept entries by path (sorted).
    pub entries: std::collections::BTreeMap<Vec<u8>, Entry>,
    /// Paths reached but not kept: excluded, or absent from the scanned root.
    pub dropped: Vec<Dropped>,
    /// The runs it was computed from.
    pub runs: Vec<RunRow>,
    /// Per run id, the paths kept from that run's roots alone.
    pub per_run: HashMap<i64, HashSet<Vec<u8>>>,
    /// Where the search started (kept for [`kept_only_through`]).
    roots: Vec<Root>,
}

/// What a closure reached but does not keep, each path counted once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeftOut {
    /// Paths the profile excludes.
    pub excluded: usize,
    /// Paths the scanned root does not have (pseudo files, files a run
    /// created and removed).
    pub absent: usize,
}

impl Closure {
    /// The entries an allowlist lists: every kept entry but the root
    /// directory itself, which is the image and not a line of it. Every
    /// count of entries (allowlist, pages, assemble, verify, check) is the
    /// count of these.
    pub fn listed(&self) -> impl Iterator<Item = (&Vec<u8>, &Entry)> {
        self.entries.iter().filter(|(p, _)| p.as_slice() != b"/")
    }

    /// The paths reached but left out, each counted once however many
    /// chains reached it.
    pub fn left_out(&self) -> LeftOut {
        let mut excluded = HashSet::new();
        let mut absent = HashSet::new();
        for d in &self.dropped {
            match d.excluded_by {
                Some(_) => excluded.insert(d.path.as_slice()),
                None => absent.insert(d.path.as_slice()),
            };
        }
        LeftOut {
            excluded: excluded.len(),
            absent: absent.len(),
        }
    }

    /// Bytes of the regular files kept (hard links counted once).
    pub fn bytes(&self) -> u64 {
        bytes_of(self.entries.values().map(|e| &*e.file))
    }

    /// Bytes kept from run `id`'s roots alone (hard links counted once).
    pub fn run_bytes(&self, id: i64) -> u64 {
        match self.per_run.get(&id) {
            Some(set) => bytes_of(
                set.iter()
                    .filter_map(|p| self.entries.get(p))
                    .map(|e| &*e.file),
            ),
            None => 0,
        }
    }
}

fn bytes_of<'a>(files: impl Iterator<Item = &'a FileRow>) -> u64 {
    let mut seen = HashSet::new();
    files
        .filter(|f| f.kind == "file" && seen.insert((f.dev, f.ino)))
        .map(|f| f.size)
        .sum()
}

/// A root of the closure.
#[derive(Debug, Clone)]
struct Root {
    path: Vec<u8>,
    reason: Reason,
    run: Option<i64>,
}

/// A host path as seen inside the run's root (`--root` runs record
/// executables by their host path).
fn inside(root: &[u8], p: &[u8]) -> Vec<u8> {
    crate::within_root(root, p).unwrap_or_else(|| p.to_vec())
}

/// A parent chain (`comm[pid] < …`, nearest first) cut after the tracer:
/// what started kaudit is not evidence about the node.
fn up_to_tracer(parents: &str) -> String {
    let mut out = Vec::new();
    for p in parents.split(" < ") {
        out.push(p);
        if p.starts_with("kaudit[") {
            break;
        }
    }
    out.join(" < ")
}

/// The roots of the runs: accesses and names.
fn run_roots(db: &Db, run: &RunRow, out: &mut Vec<Root>) -> Result<(), DbError> {
    let accesses = db.accesses(run.id)?;
    // files the run created (or renamed into place) need not be in the image
    let created: HashSet<&[u8]> = accesses
        .iter()
        .filter(|a| a.kind == "create" || a.kind == "moved-to")
        .map(|a| a.path.as_slice())
        .collect();
    for a in &accesses {
        // every write needs its directory (a file written that the scan
        // did not see was made by an earlier run, and is made again)
        if matches!(
            a.kind.as_str(),
            "create" | "delete" | "moved-from" | "moved-to" | "modify" | "close-write"
        ) {
            if let Some(dir) = parent(&a.path) {
                out.push(Root {
                    path: dir.to_vec(),
                    reason: Reason::WrittenIn {
                        run: run.id,
                        scenario: run.name.clone(),
                        step: a.step.clone(),
                        kind: a.kind.clone(),
                        entry: a.path.clone(),
                        pid: a.pid,
                        comm: a.comm.clone(),
                    },
                    run: Some(run.id),
                });
            }
            if a.kind != "modify" && a.kind != "close-write" {
                continue;
            }
        }
        if !ROOT_KINDS.contains(&a.kind.as_str()) || created.contains(a.path.as_slice()) {
            continue;
        }
        out.push(Root {
            path: a.path.clone(),
            reason: Reason::Accessed {
                run: run.id,
                scenario: run.name.clone(),
                step: a.step.clone(),
                kind: a.kind.clone(),
                pid: a.pid,
                comm: a.comm.clone(),
                exe: a.exe.as_deref().map(|e| inside(&run.root, e)),
                parents: up_to_tracer(&a.parents),
            },
            run: Some(run.id),
        });
    }
    let (names, _) = db.names(run.id)?;
    for n in names.iter().filter(|n| n.evidence == "asked") {
        let reason = |hop| Reason::Asked {
            run: run.id,
            scenario: run.name.clone(),
            step: n.step.clone(),
            name: n.path.clone(),
            call: n.call.clone(),
            pid: n.pid,
            comm: n.comm.clone(),
            hop,
        };
        for (i, (link, _)) in n.hops.iter().enumerate() {
            out.push(Root {
                path: link.clone(),
                reason: reason(Some(i + 1)),
                run: Some(run.id),
            });
        }
        if let Some(r) = &n.resolved {
            out.push(Root {
                path: r.clone(),
                reason: reason(None),
                run: Some(run.id),
            });
        }
    }
    Ok(())
}

/// Compute the closure of `runs` (and the profile's includes and excludes).
pub fn compute(
    graph: &mut Graph<'_>,
    runs: &[RunRow],
    profile: Option<&Profile>,
) -> Result<Closure, DbError> {
    compute_with(graph, runs, profile, true)
}

/// [`compute`], with each run's share only when `shares` (`why` needs none).
pub fn compute_with(
    graph: &mut Graph<'_>,
    runs: &[RunRow],
    profile: Option<&Profile>,
    shares: bool,
) -> Result<Closure, DbError> {
    let roots = roots(graph, runs, profile)?;
    let mut closure = search(graph, &roots, profile, true, None)?;
    // each run's share: the same search from its roots alone (the graph's
    // answers are cached, so this costs no further queries)
    if shares {
        for r in runs {
            let mine: Vec<Root> = roots
                .iter()
                .filter(|x| x.run == Some(r.id))
                .cloned()
                .collect();
            let c = search(graph, &mine, profile, false, None)?;
            closure
                .per_run
                .insert(r.id, c.entries.into_keys().collect());
        }
    }
    closure.runs = runs.to_vec();
    closure.roots = roots;
    Ok(closure)
}

/// The entries that are kept only through `path`: the closure without it,
/// subtracted from `full`.
pub fn kept_only_through(
    graph: &mut Graph<'_>,
    full: &Closure,
    profile: Option<&Profile>,
    path: &[u8],
) -> Result<Vec<Vec<u8>>, DbError> {
    let without = search(graph, &full.roots, profile, false, Some(path))?;
    Ok(full
        .entries
        .keys()
        .filter(|p| p.as_slice() != path && !without.entries.contains_key(*p))
        .cloned()
        .collect())
}

/// `path` when the scanned root has it, else the nearest directory above it
/// that the root has.
fn nearest_in_root(graph: &mut Graph<'_>, path: &[u8]) -> Result<Vec<u8>, DbError> {
    let mut cur = path.to_vec();
    while graph.file(&cur)?.is_none() {
        match parent(&cur) {
            Some(p) => cur = p.to_vec(),
            None => break,
        }
    }
    Ok(cur)
}

fn roots(
    graph: &mut Graph<'_>,
    runs: &[RunRow],
    profile: Option<&Profile>,
) -> Result<Vec<Root>, DbError> {
    let db = graph.db();
    let mut roots = Vec::new();
    for r in runs {
        run_roots(db, r, &mut roots)?;
    }
    // a directory the run created itself is not in the root: the one it was
    // created in is needed (written in), up to the nearest the root has
    for r in roots.iter_mut() {
        if matches!(r.reason, Reason::WrittenIn { .. }) {
            r.path = nearest_in_root(graph, &r.path)?;
        }
    }
    // an entry a run reached that the scanned root lacks (under /proc,
    // /sys or /dev, or made at run time): the nearest directory above it
    // that the root has is needed, as a mount point or to make it in
    let mut beneath = Vec::new();
    for r in &roots {
        let (run, scenario, how) = match &r.reason {
            Reason::Accessed {
                run,
                scenario,
                kind,
                ..
            } => (*run, scenario, kind),
            Reason::Asked {
                run,
                scenario,
                call,
                ..
            } => (*run, scenario, call),
            _ => continue,
        };
        if graph.file(&r.path)?.is_some() {
            continue;
        }
        beneath.push(Root {
            path: nearest_in_root(graph, &r.path)?,
            reason: Reason::Beneath {
                run,
                scenario: scenario.clone(),
                entry: r.path.clone(),
                how: how.clone(),
            },
            run: r.run,
        });
    }
    // one reason per directory and run is enough
    beneath.sort_by(|a, b| (&a.path, a.run).cmp(&(&b.path, b.run)));
    beneath.dedup_by(|a, b| a.path == b.path && a.run == b.run);
    roots.extend(beneath);
    roots.sort_by(|a, b| a.path.cmp(&b.path));
    roots.dedup_by(|a, b| a.path == b.path && a.reason == b.reason);
    if let Some(p) = profile.filter(|p| !p.include.is_empty()) {
        for path in graph.all_paths()? {
            if let Some(rule) = p.included(&path) {
                roots.push(Root {
                    path,
                    reason: Reason::Include {
                        glob: rule.glob.clone(),
                        reason: rule.reason.clone(),
                        line: rule.line,
                    },
                    run: None,
                });
            }
        }
    }
    Ok(roots)
}

/// How a reason uses the entry it reaches: runs it (executed, an
/// interpreter, an include), loads it (a library the loader or a process
/// opened), or neither (read as data, a directory, a link walked).
fn use_of(r: &Reason) -> u8 {
    match r {
        Reason::Accessed { kind, .. } => match kind.as_str() {
            "exec" | "in-use-at-start" => RUN,
            "open" => LOAD,
            _ => 0,
        },
        Reason::Asked {
            call, hop: None, ..
        } => match call.as_str() {
            "execve" | "execveat" => RUN,
            c if c.starts_with("open") => LOAD,
            _ => 0,
        },
        Reason::Include { .. } => RUN,
        Reason::Edge { kind, .. } => match kind.as_str() {
            "interp" | "shebang" => RUN,
            "needed" => LOAD,
            _ => 0,
        },
        _ => 0,
    }
}

/// The entry is run (its interpreter, shebang and load are needed).
const RUN: u8 = 1;
/// The entry is loaded as a library (its own load is needed).
const LOAD: u8 = 2;
const DONE_BASE: u8 = 4;
const DONE_RUN: u8 = 8;
const DONE_LOAD: u8 = 16;

fn search(
    graph: &mut Graph<'_>,
    roots: &[Root],
    profile: Option<&Profile>,
    all_reasons: bool,
    skip: Option<&[u8]>,
) -> Result<Closure, DbError> {
    let mut c = Closure::default();
    let mut queue: VecDeque<Vec<u8>> = VecDeque::new();
    // per kept entry: how it is used (RUN, LOAD) and which of its edges
    // have been followed (DONE_*); a new use queues it again
    let mut state: HashMap<Vec<u8>, u8> = HashMap::new();
    let offer = |graph: &mut Graph<'_>,
                 c: &mut Closure,
                 state: &mut HashMap<Vec<u8>, u8>,
                 queue: &mut VecDeque<Vec<u8>>,
                 path: &[u8],
                 reason: Reason,
                 depth: u32|
     -> Result<(), DbError> {
        let uses = use_of(&reason);
        if let Some(e) = c.entries.get_mut(path) {
            let st = state.entry(path.to_vec()).or_default();
            if uses & !*st != 0 {
                *st |= uses;
                queue.push_back(path.to_vec());
            }
            if all_reasons {
                if e.reasons.len() < MAX_REASONS {
                    if !e.reasons.contains(&reason) {
                        e.reasons.push(reason);
                    }
                } else {
                    e.more += 1;
                }
            }
            return Ok(());
        }
        if skip == Some(path) {
            return Ok(());
        }
        if let Some(rule) = profile.and_then(|p| p.excluded(path)) {
            if all_reasons {
                c.dropped.push(Dropped {
                    path: path.to_vec(),
                    reason,
                    excluded_by: Some(rule.line),
                });
            }
            return Ok(());
        }
        let Some(file) = graph.file(path)? else {
            if all_reasons {
                c.dropped.push(Dropped {
                    path: path.to_vec(),
                    reason,
                    excluded_by: None,
                });
            }
            return Ok(());
        };
        c.entries.insert(
            path.to_vec(),
            Entry {
                file,
                reasons: vec![reason],
                more: 0,
                depth,
                run: false,
                loaded: false,
            },
        );
        state.insert(path.to_vec(), uses);
        queue.push_back(path.to_vec());
        Ok(())
    };
    for r in roots {
        offer(
            graph,
            &mut c,
            &mut state,
            &mut queue,
            &r.path,
            r.reason.clone(),
            0,
        )?;
    }
    while let Some(path) = queue.pop_front() {
        let (file, depth) = {
            let e = &c.entries[&path];
            (e.file.clone(), e.depth + 1)
        };
        let st = state.get(&path).copied().unwrap_or(0);
        let mut done = st;
        if st & DONE_BASE == 0 {
            done |= DONE_BASE;
            if let Some(dir) = parent(&path) {
                let reason = Reason::Parent {
                    child: path.clone(),
                };
                offer(graph, &mut c, &mut state, &mut queue, dir, reason, depth)?;
            }
        }
        // a symlink's hop (and the directory links on its way) whenever it
        // is kept; a program's interpreter or a script's shebang only when
        // it is run: a file read as data needs neither
        let free_now = if file.kind == "symlink" {
            st & DONE_BASE == 0
        } else {
            st & RUN != 0 && st & DONE_RUN == 0
        };
        if free_now && file.may_have_free_edges() {
            let free = graph.free_edges(file.id)?;
            for e in free.iter() {
                let reason = Reason::Edge {
                    kind: e.kind.clone(),
                    from: path.clone(),
                    name: e.name.clone(),
                    opened: e.opened.clone(),
                    rule: e.rule.clone(),
                    via: e.via.clone(),
                    load: None,
                };
                offer(graph, &mut c, &mut state, &mut queue, &e.dst, reason, depth)?;
            }
        }
        // the load of an ELF object: when it is run, or loaded as a library
        // (a program read as data, by a copy or a checksum, loads nothing)
        let load_now = file.kind == "file"
            && file.elf
            && st & DONE_LOAD == 0
            && (st & RUN != 0 || (st & LOAD != 0 && !file.program));
        if st & RUN != 0 {
            done |= DONE_RUN;
        }
        if load_now {
            done |= DONE_LOAD;
            let load = graph.load_edges(file.id)?;
            for e in load.iter() {
                // the hop comes from the requesting object when it is kept
                // (it is: it was loaded earlier in this load), else from the
                // main object
                let (from, load) = if e.src == path || !c.entries.contains_key(&e.src) {
                    (path.clone(), None)
                } else {
                    (e.src.clone(), Some(path.clone()))
                };
                let reason = Reason::Edge {
                    kind: e.kind.clone(),
                    from,
                    name: e.name.clone(),
                    opened: e.opened.clone(),
                    rule: e.rule.clone(),
                    via: e.via.clone(),
                    load,
                };
                offer(graph, &mut c, &mut state, &mut queue, &e.dst, reason, depth)?;
            }
        }
        let now = state.entry(path.clone()).or_default();
        *now |= done;
    }
    for (path, e) in c.entries.iter_mut() {
        let st = state.get(path).copied().unwrap_or(0);
        e.run = st & RUN != 0;
        e.loaded = st & LOAD != 0;
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_paths_are_shown_inside_the_root_and_parents_end_at_the_tracer() {
        assert_eq!(inside(b"/srv/node", b"/srv/node/usr/bin/x"), b"/usr/bin/x");
        assert_eq!(inside(b"/srv/node", b"/srv/nodes/x"), b"/srv/nodes/x");
        assert_eq!(inside(b"/", b"/usr/bin/x"), b"/usr/bin/x");
        assert_eq!(
            up_to_tracer("sh[3] < kaudit[2] < bash[1]"),
            "sh[3] < kaudit[2]"
        );
        assert_eq!(up_to_tracer("systemd[1]"), "systemd[1]");
    }
}
