//! Scan a whole root: every entry, every ELF object, every script, and the
//! edges between them, each with the evidence of how it was found.
//!
//! The walk stays on the root's filesystem and skips `/proc`, `/sys` and `/dev`
//! unless asked. Regular files are opened (confined, never following a symlink)
//! only to read their first bytes; FIFOs, sockets and devices are never opened.
//! Every loadable dynamic ELF object is then resolved as the main object of its
//! own load (a program, or a library that may be `dlopen`ed), against an
//! in-memory index of the walk, so resolution costs no system call.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::Arc;

use rayon::prelude::*;

use crate::bytes;
use crate::elf::{ElfInfo, Linkage};
use crate::findings::{Code, Finding};
use crate::loader::{Closure, Objects, Options, Probe, Resolver, Rule};
use crate::loads::{Interp, Load, LoadEdge, Need};
use crate::rootfs::{self, Index, Kind, Meta, Resolution, Root};
use crate::script::{self, Shebang};
use crate::walk::Head;

/// What to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Descend into other filesystems mounted below the root.
    pub cross_filesystems: bool,
    /// Also walk `/proc`, `/sys` and `/dev` of the root.
    pub special_dirs: bool,
    /// Loader options (CPU model, LD_LIBRARY_PATH, cwd).
    pub loader: Options,
    /// The `PATH` used to resolve `#!/usr/bin/env NAME`.
    pub path_env: Vec<u8>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            cross_filesystems: false,
            special_dirs: false,
            loader: Options::default(),
            path_env: script::DEFAULT_PATH.to_vec(),
        }
    }
}

pub use crate::rootfs::Entry;

/// The kind of an edge of the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EdgeKind {
    /// `DT_NEEDED` resolved by the loader rules (`rule` says which).
    Needed,
    /// `PT_INTERP`: the program interpreter.
    Interp,
    /// A script's `#!` interpreter (or the program `env` runs).
    Shebang,
    /// A symlink to the entry its target names (one hop).
    Symlink,
    /// A directory symlink walked in a path's prefix while resolving `path`.
    Walks,
    /// A library another CPU would load instead (glibc-hwcaps).
    CpuAlternative,
    /// What the init system is configured to run or start (`rule` says
    /// how: `ExecStart`, `Wants`, `drop-in`, `wants-dir`, `command`, `need`,
    /// `runlevel`, …): evidence, not followed by the closure.
    Init,
}

impl EdgeKind {
    /// The kind of a stable name.
    pub fn from_name(name: &str) -> Option<EdgeKind> {
        [
            EdgeKind::Needed,
            EdgeKind::Interp,
            EdgeKind::Shebang,
            EdgeKind::Symlink,
            EdgeKind::Walks,
            EdgeKind::CpuAlternative,
            EdgeKind::Init,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Needed => "needed",
            EdgeKind::Interp => "interp",
            EdgeKind::Shebang => "shebang",
            EdgeKind::Symlink => "symlink",
            EdgeKind::Walks => "walks",
            EdgeKind::CpuAlternative => "cpu-alternative",
            EdgeKind::Init => "init",
        }
    }
}

/// One edge: `src` needs `dst`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EdgeRec {
    /// The object whose load this edge belongs to (`None`: always applies).
    pub context: Option<Vec<u8>>,
    /// Order within the context (load order).
    pub seq: u32,
    /// The needing entry.
    pub src: Vec<u8>,
    /// The needed entry (`None`: a `DT_NEEDED` that was not found).
    pub dst: Option<Vec<u8>>,
    /// Kind.
    pub kind: EdgeKind,
    /// The name asked for (`DT_NEEDED` string, shebang interpreter, symlink target).
    pub name: Option<Vec<u8>>,
    /// The path as opened.
    pub path: Option<Vec<u8>>,
    /// The search rule (`needed`), or a sub-kind (`env-path` for shebangs).
    pub rule: Option<String>,
    /// The object that supplied the search directory, or was matched.
    pub via: Option<Vec<u8>>,
    /// For `needed` and `interp` edges: the final file `dst` leads to, after
    /// every symlink (the object whose own needs follow in a load).
    pub file: Option<Vec<u8>>,
}

/// A finding tied, optionally, to the load it was met in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ScanFinding {
    /// The main object whose load met it.
    pub context: Option<Vec<u8>>,
    /// The finding.
    pub finding: Finding,
}

/// Counts for the summary line.
#[derive(Debug, Clone, Default)]
pub struct ScanStats {
    /// Entries recorded.
    pub entries: usize,
    /// Total bytes of regular files.
    pub bytes: u64,
    /// ELF files.
    pub elf: usize,
    /// Loads resolved (dynamic objects).
    pub loads: usize,
    /// Scripts with a shebang.
    pub scripts: usize,
    /// Edges.
    pub edges: usize,
}

/// What a scan derived from its walk: objects, scripts, edges, findings.
#[derive(Debug)]
pub struct Analysis {
    /// ELF objects by path.
    pub elf: BTreeMap<Vec<u8>, Arc<ElfInfo>>,
    /// Scripts by path.
    pub scripts: BTreeMap<Vec<u8>, Shebang>,
    /// Edges, sorted.
    pub edges: Vec<EdgeRec>,
    /// Findings, sorted and de-duplicated.
    pub findings: Vec<ScanFinding>,
    /// Counts.
    pub stats: ScanStats,
    /// The CPU model assumed.
    pub cpu: String,
}

/// Everything a scan found.
#[derive(Debug)]
pub struct ScanResult {
    /// Entries, sorted by path.
    pub entries: Vec<Entry>,
    /// What was derived from them.
    pub analysis: Analysis,
}

/// The first half of a scan: every entry of the root, sorted into an index,
/// with what the first bytes of each regular file said.
#[derive(Debug)]
pub struct Walk {
    /// The entries.
    pub index: Index,
    heads: Vec<(Vec<u8>, Head)>,
    findings: Vec<ScanFinding>,
}

/// Progress of a scan, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    /// Walking: entries seen so far.
    Walking(usize),
    /// Reading file headers: done of total.
    Reading(usize, usize),
    /// Resolving loads: done of total.
    Resolving(usize, usize),
}

/// Errors that stop a scan.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The root could not be walked at all.
    #[error("cannot walk {path}: {source}")]
    Walk {
        /// Host path.
        path: std::path::PathBuf,
        /// Error.
        source: io::Error,
    },
}

struct IndexObjects {
    probes: HashMap<Vec<u8>, Probe>,
}

impl Objects for IndexObjects {
    fn probe(&self, file: &[u8], meta: &Meta) -> Probe {
        match self.probes.get(file) {
            Some(p) => p.clone(),
            None => Probe::NotElf {
                too_short: meta.size < 64,
            },
        }
    }
}

/// Scan a root.
pub fn scan(
    root: &Root,
    opts: &ScanOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<ScanResult, ScanError> {
    let walk = walk_root(root, opts, progress)?;
    let analysis = analyze(root, &walk, opts, progress);
    Ok(ScanResult {
        entries: walk.index.into_entries(),
        analysis,
    })
}

/// Walk the root (the first half of [`scan`]).
pub fn walk_root(
    root: &Root,
    opts: &ScanOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Walk, ScanError> {
    let mut findings: Vec<ScanFinding> = Vec::new();
    let walk_opts = crate::walk::WalkOptions {
        cross_filesystems: opts.cross_filesystems,
        special_dirs: opts.special_dirs,
    };
    let (walked, notes) = crate::walk::walk(root, walk_opts, &|n| progress(Progress::Walking(n)))
        .map_err(|e| ScanError::Walk {
        path: root.host_path().to_path_buf(),
        source: e,
    })?;
    for n in notes {
        let f = match n {
            crate::walk::WalkNote::Unreadable(p, m) => Finding::new(Code::Unreadable, p, m),
            crate::walk::WalkNote::OtherFilesystem(p) => Finding::new(
                Code::OtherFilesystem,
                p,
                "another filesystem is mounted here; not descended into (use --cross-filesystems)",
            ),
            crate::walk::WalkNote::PathTooLong {
                dir,
                skipped,
                first,
            } => {
                let (entries, below, its) = if skipped == 1 {
                    ("entry", "it", "its path")
                } else {
                    ("entries", "them", "their paths")
                };
                let message = format!(
                    "{skipped} {entries} ({}{}) left out, with everything below {below}: \
                     {its} inside the root would be longer than {} bytes (PATH_MAX)",
                    bytes::display(&first),
                    if skipped > 1 { ", …" } else { "" },
                    bytes::PATH_MAX_LEN,
                );
                Finding::new(Code::PathTooLong, dir, message)
            }
        };
        findings.push(ScanFinding {
            context: None,
            finding: f,
        });
    }
    let mut heads: Vec<(Vec<u8>, Head)> = Vec::new();
    let mut entries: Vec<Entry> = Vec::with_capacity(walked.len());
    for w in walked {
        if matches!(
            w.meta.kind,
            Kind::Fifo | Kind::Socket | Kind::CharDevice | Kind::BlockDevice
        ) {
            findings.push(ScanFinding {
                context: None,
                finding: Finding::new(
                    Code::SpecialFile,
                    w.path.clone(),
                    format!("{} (recorded, never opened)", w.meta.kind.as_str()),
                ),
            });
        }
        if !bytes::is_utf8(&w.path) {
            findings.push(ScanFinding {
                context: None,
                finding: Finding::new(
                    Code::NonUtf8Name,
                    w.path.clone(),
                    "file name is not valid UTF-8; stored and printed as bytes",
                ),
            });
        }
        if !matches!(w.head, Head::Plain) {
            heads.push((w.path.clone(), w.head));
        }
        entries.push(Entry {
            path: w.path,
            meta: w.meta,
            target: w.target,
        });
    }

    Ok(Walk {
        index: Index::new(entries),
        heads,
        findings,
    })
}

/// Derive objects, scripts, edges and findings from a walk (the second half
/// of [`scan`]). It only reads the walk, so the entries can be stored meanwhile.
pub fn analyze(
    root: &Root,
    walk: &Walk,
    opts: &ScanOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Analysis {
    let index = &walk.index;
    let mut findings = walk.findings.clone();
    let heads = &walk.heads;
    let mut probes = HashMap::new();
    let mut elf_map = BTreeMap::new();
    let mut scripts = BTreeMap::new();
    for (path, head) in heads {
        match head {
            Head::Plain => {}
            Head::Elf(info) => {
                let executable = index.get(path).is_some_and(|m| m.mode & 0o111 != 0);
                if let (true, Some(r)) = (executable, info.exec_refusal) {
                    findings.push(ScanFinding {
                        context: None,
                        finding: Finding::new(
                            Code::ExecFormatError,
                            path.clone(),
                            format!("the kernel refuses to execute it (Exec format error): {r}"),
                        ),
                    });
                }
                probes.insert(path.clone(), Probe::Elf(info.clone()));
                elf_map.insert(path.clone(), info.clone());
            }
            Head::Malformed(m) => {
                findings.push(ScanFinding {
                    context: None,
                    finding: Finding::new(Code::MalformedElf, path.clone(), m.clone()),
                });
                let executable = index.get(path).is_some_and(|m| m.mode & 0o111 != 0);
                if let Some(r) = executable
                    .then(|| crate::loader::exec_refusal_of(root, path))
                    .flatten()
                {
                    findings.push(ScanFinding {
                        context: None,
                        finding: Finding::new(
                            Code::ExecFormatError,
                            path.clone(),
                            format!("the kernel refuses to execute it (Exec format error): {r}"),
                        ),
                    });
                }
                probes.insert(path.clone(), Probe::Malformed(m.clone()));
            }
            Head::Unreadable(m) => {
                findings.push(ScanFinding {
                    context: None,
                    finding: Finding::new(Code::Unreadable, path.clone(), m.clone()),
                });
                probes.insert(path.clone(), Probe::Unreadable(m.clone()));
            }
            Head::Script(s) => {
                // the kernel only runs a #! file that is executable
                if index.get(path).is_some_and(|m| m.mode & 0o111 != 0) {
                    scripts.insert(path.clone(), s.clone());
                }
            }
        }
    }
    let objects = IndexObjects { probes };
    let resolver = Resolver::new(root, index, &objects, opts.loader.clone());
    let mut edges: Vec<EdgeRec> = Vec::new();

    // symlinks: one hop each, plus the directory symlinks their targets walk
    for e in index.entries() {
        if let Some(target) = &e.target {
            link_edges(index, e, target, &mut edges, &mut findings);
        }
    }

    // program interpreters
    for (path, info) in &elf_map {
        if let Some(interp) = &info.interp {
            let res = rootfs::resolve(index, interp, b"/");
            if res.target.is_err() {
                findings.push(ScanFinding {
                    context: None,
                    finding: Finding::new(
                        Code::MissingInterpreter,
                        path.clone(),
                        format!(
                            "program interpreter {} does not exist in the root",
                            bytes::display(interp)
                        ),
                    ),
                });
            }
            push_resolved(
                &mut edges,
                None,
                0,
                path,
                &res,
                EdgeKind::Interp,
                interp,
                None,
                None,
            );
        }
    }

    // scripts
    for (path, sb) in &scripts {
        let base = bytes::parent(path).to_vec();
        let res = rootfs::resolve(index, &sb.interpreter, &base);
        if res.target.is_err() {
            findings.push(ScanFinding {
                context: None,
                finding: Finding::new(
                    Code::MissingShebangInterpreter,
                    path.clone(),
                    format!(
                        "interpreter {} does not exist in the root",
                        bytes::display(&sb.interpreter)
                    ),
                ),
            });
        }
        push_resolved(
            &mut edges,
            None,
            0,
            path,
            &res,
            EdgeKind::Shebang,
            &sb.interpreter,
            Some("shebang"),
            None,
        );
        if let Some(prog) = sb.env_program() {
            let mut found = false;
            for dir in opts
                .path_env
                .split(|b| *b == b':')
                .filter(|d| !d.is_empty())
            {
                let cand = bytes::join(dir, prog);
                let res = rootfs::resolve(index, &cand, b"/");
                let executable = matches!(&res.target, Ok((_, m)) if m.kind == Kind::File && m.mode & 0o111 != 0);
                if executable {
                    push_resolved(
                        &mut edges,
                        None,
                        0,
                        path,
                        &res,
                        EdgeKind::Shebang,
                        prog,
                        Some("env-path"),
                        Some(&cand),
                    );
                    found = true;
                    break;
                }
            }
            if !found {
                findings.push(ScanFinding {
                    context: None,
                    finding: Finding::new(
                        Code::MissingShebangInterpreter,
                        path.clone(),
                        format!(
                            "{} runs {}, which is not found through PATH {}",
                            bytes::display(&sb.interpreter),
                            bytes::display(prog),
                            bytes::display(&opts.path_env)
                        ),
                    ),
                });
            }
        }
    }

    // loads: every dynamic loadable object as a main object. Each object's
    // own needs first (the first step of its load); a load proved to be the
    // replay of its objects' own needs (`replayable`) is stored as that first
    // step, every other load is resolved in full and stored as its own needs
    // and what differs from the others' (`loads`)
    let mains: Vec<&Vec<u8>> = elf_map
        .iter()
        .filter(|(_, i)| i.is_loadable() && i.linkage() == Linkage::Dynamic)
        .map(|(p, _)| p)
        .collect();
    let total = mains.len();
    let steps: Vec<Option<FirstStep>> = mains
        .par_iter()
        .map(|main| first_step(&resolver, index, &elf_map, main))
        .collect();
    let mut own: HashMap<Vec<u8>, Vec<Need>> = HashMap::new();
    let mut facts: Vec<crate::replayable::Facts> = Vec::new();
    let mut stored: Vec<Option<(Vec<u8>, Stored)>> = Vec::with_capacity(total);
    for s in steps {
        match s {
            Some(s) => {
                own.insert(s.facts.file.clone(), s.own);
                stored.push(Some((s.facts.file.clone(), s.stored)));
                facts.push(s.facts);
            }
            None => stored.push(None),
        }
    }
    // LD_LIBRARY_PATH is searched in every load, before the objects' own paths
    let proved = if opts.loader.ld_library_path.is_some() {
        std::collections::HashSet::new()
    } else {
        crate::replayable::replayable(&facts)
    };
    drop(facts);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let per_load: Vec<Stored> = mains
        .par_iter()
        .zip(stored.into_par_iter())
        .map(|(main, first)| {
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if n % 256 == 0 {
                progress(Progress::Resolving(n, total));
            }
            let proven = first
                .filter(|(file, _)| proved.contains(file))
                .map(|(_, s)| s);
            match proven {
                Some(first) => {
                    // debug builds resolve every such load in full too, and
                    // check that it stores the same
                    #[cfg(debug_assertions)]
                    {
                        let full = load_edges(&resolver, index, &own, &elf_map, main);
                        debug_assert_eq!(
                            &full,
                            &first,
                            "the load of {} is not its first step",
                            bytes::display(main)
                        );
                    }
                    first
                }
                None => load_edges(&resolver, index, &own, &elf_map, main),
            }
        })
        .collect();
    drop(own);
    for (e, f) in per_load {
        edges.extend(e);
        findings.extend(f);
    }
    for f in resolver.setup_findings() {
        findings.push(ScanFinding {
            context: None,
            finding: f,
        });
    }
    drop(resolver);
    // what the init system is configured to start, and what enables it
    edges.extend(crate::initsys::edges(root, index));
    let entries = index.entries();
    edges.sort();
    edges.dedup();
    findings.sort();
    findings.dedup();
    let stats = ScanStats {
        entries: entries.len(),
        bytes: entries
            .iter()
            .filter(|e| e.meta.kind == Kind::File)
            .map(|e| e.meta.size)
            .sum(),
        elf: elf_map.len(),
        loads: total,
        scripts: scripts.len(),
        edges: edges.len(),
    };
    Analysis {
        elf: elf_map,
        scripts,
        edges,
        findings,
        stats,
        cpu: opts.loader.cpu.label.clone(),
    }
}

fn link_edges(
    index: &Index,
    e: &Entry,
    target: &[u8],
    edges: &mut Vec<EdgeRec>,
    findings: &mut Vec<ScanFinding>,
) {
    let base = bytes::parent(&e.path).to_vec();
    let res = rootfs::resolve(index, target, &base);
    let mut note = |code: Code, msg: String| {
        findings.push(ScanFinding {
            context: None,
            finding: Finding::new(code, e.path.clone(), msg),
        })
    };
    if res.clamped {
        note(
            Code::SymlinkEscapesRoot,
            format!(
                "target {} climbs above the root; resolved inside it as a chroot would",
                bytes::display(target)
            ),
        );
    }
    match &res.target {
        Err(rootfs::ResolveError::Loop { .. }) => note(
            Code::SymlinkLoop,
            format!(
                "target {}: too many levels of symbolic links",
                bytes::display(target)
            ),
        ),
        Err(rootfs::ResolveError::NotFound { at }) => note(
            Code::DanglingSymlink,
            format!(
                "target {} does not exist in the root ({} is missing)",
                bytes::display(target),
                bytes::display(at)
            ),
        ),
        Err(err) => note(
            Code::DanglingSymlink,
            format!("target {}: {err}", bytes::display(target)),
        ),
        Ok(_) => {}
    }
    push_resolved(
        edges,
        None,
        0,
        &e.path,
        &res,
        EdgeKind::Symlink,
        target,
        None,
        None,
    );
}

/// Record `src` → the entry `res` names, plus the directory symlinks walked.
#[allow(clippy::too_many_arguments)]
fn push_resolved(
    edges: &mut Vec<EdgeRec>,
    context: Option<&[u8]>,
    seq: u32,
    src: &[u8],
    res: &Resolution,
    kind: EdgeKind,
    name: &[u8],
    rule: Option<&str>,
    path: Option<&[u8]>,
) {
    let asked = path.unwrap_or(name);
    for hop in res.prefix() {
        edges.push(EdgeRec {
            context: context.map(<[u8]>::to_vec),
            seq,
            src: src.to_vec(),
            dst: Some(hop.link.clone()),
            kind: EdgeKind::Walks,
            name: Some(asked.to_vec()),
            path: Some(hop.target.clone()),
            rule: None,
            via: None,
            file: None,
        });
    }
    if let Some(named) = &res.named {
        if res.target.is_ok() || kind == EdgeKind::Symlink {
            edges.push(EdgeRec {
                context: context.map(<[u8]>::to_vec),
                seq,
                src: src.to_vec(),
                dst: Some(named.clone()),
                kind,
                name: Some(name.to_vec()),
                path: path.map(<[u8]>::to_vec),
                rule: rule.map(str::to_string),
                via: None,
                file: (kind == EdgeKind::Interp)
                    .then(|| res.target_path().map(<[u8]>::to_vec))
                    .flatten(),
            });
        }
    }
}

/// Each `DT_NEEDED` edge of a closure as a need: the index of the object
/// that asked, its place in the load (`seq`, from 1) and its edges.
fn load_needs(c: &Closure, index: &Index) -> Vec<(usize, u32, Need)> {
    let mut out = Vec::with_capacity(c.edges.len());
    for (i, e) in c.edges.iter().enumerate() {
        let seq = i as u32 + 1;
        let Some(to) = e.to else {
            out.push((
                e.from,
                seq,
                Need {
                    edges: vec![LoadEdge {
                        dst: None,
                        kind: EdgeKind::Needed,
                        name: Some(e.name.clone()),
                        path: None,
                        rule: Some(Rule::NotFound.as_str().to_string()),
                        via: None,
                    }],
                    file: None,
                },
            ));
            continue;
        };
        let obj = &c.objects[to];
        let mut edges = Vec::new();
        if e.rule != Rule::AlreadyLoaded {
            for hop in &obj.hops {
                if index.get(&hop.link).is_some() {
                    edges.push(LoadEdge {
                        dst: Some(hop.link.clone()),
                        kind: EdgeKind::Walks,
                        name: Some(obj.path.clone()),
                        path: Some(hop.target.clone()),
                        rule: None,
                        via: None,
                    });
                }
            }
            for alt in &obj.alternatives {
                edges.push(LoadEdge {
                    dst: Some(alt.clone()),
                    kind: EdgeKind::CpuAlternative,
                    name: Some(e.name.clone()),
                    path: Some(alt.clone()),
                    rule: Some(e.rule.as_str().to_string()),
                    via: None,
                });
            }
        }
        edges.push(LoadEdge {
            dst: Some(obj.named.clone()),
            kind: EdgeKind::Needed,
            name: Some(e.name.clone()),
            path: Some(obj.path.clone()),
            rule: Some(e.rule.as_str().to_string()),
            via: e.via.clone(),
        });
        // as stored: sorted, each edge once
        edges.sort();
        edges.dedup();
        out.push((
            e.from,
            seq,
            Need {
                edges,
                file: Some(obj.file.clone()),
            },
        ));
    }
    out
}

fn edge_rec(context: &[u8], seq: u32, src: &[u8], e: &LoadEdge, file: Option<&[u8]>) -> EdgeRec {
    EdgeRec {
        context: Some(context.to_vec()),
        seq,
        src: src.to_vec(),
        dst: e.dst.clone(),
        kind: e.kind,
        name: e.name.clone(),
        path: e.path.clone(),
        rule: e.rule.clone(),
        via: e.via.clone(),
        file: (e.kind == EdgeKind::Needed)
            .then(|| file.map(<[u8]>::to_vec))
            .flatten(),
    }
}

/// A load's edges and findings as stored.
type Stored = (Vec<EdgeRec>, Vec<ScanFinding>);

/// The first step of a load: its main object's own needs, the load stored
/// as that step alone, and the facts that tell whether that is the whole
/// load ([`crate::replayable`]).
struct FirstStep {
    own: Vec<Need>,
    stored: Stored,
    facts: crate::replayable::Facts,
}

/// Resolve the first step of the load of `main`. `None`: the main object
/// cannot be opened.
fn first_step(
    resolver: &Resolver<'_>,
    index: &Index,
    elf: &BTreeMap<Vec<u8>, Arc<ElfInfo>>,
    main: &[u8],
) -> Option<FirstStep> {
    let c = resolver.direct_needs(main);
    let main_file = c.objects.first()?.file.clone();
    let needs = load_needs(&c, index);
    let (loader_edge, _) = default_loader(&c, index, elf, main, &main_file);
    let mut edges: Vec<EdgeRec> = loader_edge.into_iter().collect();
    for (_, seq, n) in &needs {
        for e in &n.edges {
            edges.push(edge_rec(main, *seq, &main_file, e, n.file.as_deref()));
        }
    }
    let facts = first_step_facts(&c, main, &needs);
    let findings = in_load(c.findings, main);
    Some(FirstStep {
        own: needs.into_iter().map(|(_, _, n)| n).collect(),
        stored: (edges, findings),
        facts,
    })
}

/// What the first step `c` of the load of `main` says about its main
/// object: plain as a dependency when it reads the same in any load — no
/// finding, every need found and not through a search path that names the
/// object (`via`), no dynamic string token; plain as the main object when
/// no search path of it is inherited by the objects loaded after it
/// (glibc's `DT_RPATH`, musl's `DT_RPATH` and `DT_RUNPATH`) and no need
/// names a token.
fn first_step_facts(
    c: &Closure,
    main: &[u8],
    needs: &[(usize, u32, Need)],
) -> crate::replayable::Facts {
    let m = &c.objects[0];
    let info = m.info();
    let musl = c.flavor == Some(crate::loader::Flavor::Musl);
    let token = |s: &Option<Vec<u8>>| s.as_ref().is_some_and(|s| s.contains(&b'$'));
    let plain_main = c.linkage == Linkage::Dynamic
        && c.flavor.is_some()
        && info.is_some_and(|i| {
            i.rpath.is_none()
                && !(musl && i.runpath.is_some())
                && i.needed.iter().all(|n| !n.contains(&b'$'))
        });
    let plain_dependency = plain_main
        && c.fatal.is_none()
        && c.findings.is_empty()
        && info.is_some_and(|i| !token(&i.runpath))
        && c.edges.iter().all(|e| {
            e.to.is_some() && !matches!(e.rule, Rule::Rpath | Rule::Runpath | Rule::LdLibraryPath)
        });
    let loader = format!(
        "{:?} {:?} {:?}",
        c.flavor,
        c.interpreter.as_deref().map(bytes::display),
        info.map(crate::elf::Expect::of)
    )
    .into_bytes();
    let mut names = vec![main.to_vec(), m.path.clone()];
    names.extend(info.and_then(|i| i.soname.clone()));
    let interp = c
        .objects
        .iter()
        .filter(|o| o.rule == Rule::Interpreter && !o.faked)
        .flat_map(|o| {
            std::iter::once(o.path.clone())
                .chain(o.names.iter().cloned())
                .chain(o.info().and_then(|i| i.soname.clone()))
                .map(|n| (n, o.file.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let reached = c
        .edges
        .iter()
        .zip(needs)
        .filter_map(|(e, (_, _, n))| {
            let o = &c.objects[e.to?];
            let path = n.needed()?.path.clone()?;
            Some(crate::replayable::Reached {
                name: e.name.clone(),
                path,
                file: o.file.clone(),
                soname: o.info().and_then(|i| i.soname.clone()),
                has_needs: o.info().is_none_or(|i| !i.needed.is_empty()),
                dev_ino: o.dev_ino,
            })
        })
        .collect();
    crate::replayable::Facts {
        file: m.file.clone(),
        loader,
        plain_dependency,
        plain_main,
        names,
        interp,
        dev_ino: m.dev_ino,
        needs: reached,
    }
}

/// The program interpreter of the load `c` of `main` as the graph gives it
/// back: the entry `PT_INTERP` names, or, for a library loaded as the main
/// object, the default loader, with the edge that records which it is.
fn default_loader(
    c: &Closure,
    index: &Index,
    elf: &BTreeMap<Vec<u8>, Arc<ElfInfo>>,
    main: &[u8],
    main_file: &[u8],
) -> (Option<EdgeRec>, Option<Interp>) {
    let mut interp: Option<Interp> = None;
    if let Some(i) = elf.get(main).and_then(|i| i.interp.clone()) {
        let res = rootfs::resolve(index, &i, b"/");
        if let (Some(named), Ok((file, _))) = (&res.named, &res.target) {
            interp = Some(Interp {
                file: file.clone(),
                named: named.clone(),
                path: i.clone(),
            });
        }
    }
    // a library loaded as the main object: record which loader that would be
    if let (Some(ip), Some(rtld)) = (
        &c.interpreter,
        c.objects.iter().find(|o| o.rule == Rule::Interpreter),
    ) {
        let has_pt_interp = c.objects[0].info().is_some_and(|i| i.interp.is_some());
        if !has_pt_interp && !rtld.named.is_empty() {
            let edge = EdgeRec {
                context: Some(main.to_vec()),
                seq: 0,
                src: main_file.to_vec(),
                dst: Some(rtld.named.clone()),
                kind: EdgeKind::Interp,
                name: Some(ip.clone()),
                path: Some(ip.clone()),
                rule: Some("default-loader".into()),
                via: None,
                file: Some(rtld.file.clone()),
            };
            interp = Some(Interp {
                file: rtld.file.clone(),
                named: rtld.named.clone(),
                path: ip.clone(),
            });
            return (Some(edge), interp);
        }
    }
    (None, interp)
}

/// The load of `main`, resolved in full, as the edges to store: its own
/// needs, the default loader of a library, and the needs of each object
/// that the others' own needs do not give ([`crate::loads`]).
fn load_edges(
    resolver: &Resolver<'_>,
    index: &Index,
    own: &HashMap<Vec<u8>, Vec<Need>>,
    elf: &BTreeMap<Vec<u8>, Arc<ElfInfo>>,
    main: &[u8],
) -> Stored {
    let c = resolver.closure(main);
    let Some(main_file) = c.objects.first().map(|o| o.file.clone()) else {
        return (Vec::new(), Vec::new());
    };
    let (loader_edge, interp) = default_loader(&c, index, elf, main, &main_file);
    let mut edges: Vec<EdgeRec> = loader_edge.into_iter().collect();
    // the load as resolved, object by object, in the order the objects'
    // needs were processed
    let needs = load_needs(&c, index);
    let mut groups: HashMap<&[u8], Vec<usize>> = HashMap::new();
    let mut order: Vec<&[u8]> = Vec::new();
    for (i, (from, _, _)) in needs.iter().enumerate() {
        let src = c.objects[*from].file.as_slice();
        let g = groups.entry(src).or_default();
        if g.is_empty() {
            order.push(src);
        }
        g.push(i);
    }
    // replay the loader's walk over it: the objects whose needs in this
    // load are not their own needs are stored explicitly
    let mut explicit: Vec<&[u8]> = Vec::new();
    let mut processed: Vec<&[u8]> = Vec::new();
    let mut load = Load::new(&main_file, interp.as_ref());
    while let Some(x) = load.next_object() {
        let Some((&src, idxs)) = groups.get_key_value(x.as_slice()) else {
            // needs nothing here; its own needs must be none too
            if x != main_file && own.get(&x).is_some_and(|o| !o.is_empty()) {
                processed.push(b"");
            }
            continue;
        };
        let got: Vec<Need> = idxs.iter().map(|&i| needs[i].2.clone()).collect();
        let inherited = x != main_file
            && own
                .get(&x)
                .is_some_and(|o| load.adapt(o).as_ref() == Some(&got));
        if !inherited {
            explicit.push(src);
        }
        processed.push(src);
        load.take(&got);
    }
    // the replay reached every object in the loader's order; else every
    // object's needs are stored, each in its place
    if processed != order {
        explicit = order.clone();
    }
    let explicit: Vec<(&[u8], Vec<crate::loads::Placed>)> = explicit
        .into_iter()
        .map(|src| {
            let g = groups[src]
                .iter()
                .map(|&i| (needs[i].1, needs[i].2.clone()))
                .collect();
            (src, g)
        })
        .collect();
    #[cfg(debug_assertions)]
    {
        let map: HashMap<Vec<u8>, Vec<(u32, Need)>> = explicit
            .iter()
            .map(|(k, v)| (k.to_vec(), v.clone()))
            .collect();
        let mut lookup = |x: &[u8]| -> Result<Option<std::borrow::Cow<'_, [Need]>>, ()> {
            Ok(own.get(x).map(|o| std::borrow::Cow::Borrowed(o.as_slice())))
        };
        let wanted: Vec<(Vec<u8>, Need)> = needs
            .iter()
            .map(|(from, _, n)| (c.objects[*from].file.clone(), n.clone()))
            .collect();
        debug_assert_eq!(
            crate::loads::replay(&main_file, interp.as_ref(), &map, &mut lookup).as_ref(),
            Ok(&wanted),
            "the load of {} cannot be replayed",
            bytes::display(main)
        );
    }
    for (src, g) in &explicit {
        for (seq, n) in g {
            for e in &n.edges {
                edges.push(edge_rec(main, *seq, src, e, n.file.as_deref()));
            }
        }
    }
    let findings = in_load(c.findings, main);
    (edges, findings)
}

/// The findings met in the load of `main`, as the scan stores them.
fn in_load(findings: Vec<Finding>, main: &[u8]) -> Vec<ScanFinding> {
    findings
        .into_iter()
        .map(|f| ScanFinding {
            context: Some(main.to_vec()),
            finding: f,
        })
        .collect()
}
