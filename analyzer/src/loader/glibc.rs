//! glibc's `ld.so`: `_dl_map_object_deps` and `_dl_map_object`, offline.
//!
//! Breadth-first over `DT_NEEDED` in order, starting from the main object. For
//! each name: (0) an already-loaded object matching by path, earlier request
//! string, `DT_SONAME` (or, after a search, by device and inode) is reused;
//! (1) a name with `/` is opened as given; (2) otherwise the search order is the
//! `DT_RPATH` chain through the *first loaders* (only when the requesting object
//! has no `DT_RUNPATH`), `LD_LIBRARY_PATH`, the requesting object's own
//! `DT_RUNPATH`, `/etc/ld.so.cache`, then the system directories — the last two
//! skipped for system locations under `DF_1_NODEFLIB`. Candidates are checked as
//! `open_verify` does: another ELF class or machine is skipped, anything else
//! wrong aborts the whole load.

use std::collections::HashMap;
use std::sync::Arc;

use super::{
    CacheSource, Closure, Edge, GlibcConfig, Match, Object, Opened, Probe, Resolver, Rule,
};
use crate::bytes;
use crate::elf::{self, ElfInfo, Verdict};
use crate::findings::{Code, Finding};
use crate::ldcache;
use crate::rootfs::ResolveError;

enum Found {
    Yes {
        opened: Box<Opened>,
        path: Vec<u8>,
        rule: Rule,
        via: Option<Vec<u8>>,
        alternatives: Vec<Vec<u8>>,
    },
    No,
    Fatal(String),
}

/// What one candidate path gives.
enum Try {
    Use(Box<Opened>),
    Skip,
    /// An error other than "not found" or "permission denied" (e.g. `ELOOP`):
    /// `open_path` gives up on the rest of this search path list.
    Stop,
    Fatal(String),
}

fn try_candidate(r: &Resolver<'_>, cfg: &GlibcConfig, path: &[u8], c: &mut Closure) -> Try {
    let o = r.open(path);
    match &o.probe {
        Probe::Missing(ResolveError::Loop { at }) => {
            c.findings.push(Finding::new(
                Code::SymlinkLoop,
                path.to_vec(),
                format!(
                    "opening {} fails with too many levels of symbolic links (at {}); the loader stops searching this path list",
                    bytes::display(path),
                    bytes::display(at)
                ),
            ));
            Try::Stop
        }
        Probe::Missing(ResolveError::Io { .. }) => Try::Stop,
        Probe::Missing(_) | Probe::Unreadable(_) => Try::Skip,
        Probe::Dir => Try::Fatal(format!(
            "{}: cannot read file data: Is a directory",
            bytes::display(path)
        )),
        Probe::Special(k) => Try::Fatal(format!(
            "{}: cannot read file data: is a {}",
            bytes::display(path),
            k.as_str()
        )),
        Probe::NotElf { too_short: true } => {
            Try::Fatal(format!("{}: file too short", bytes::display(path)))
        }
        Probe::NotElf { too_short: false } => {
            Try::Fatal(format!("{}: invalid ELF header", bytes::display(path)))
        }
        Probe::Malformed(m) => Try::Fatal(format!("{}: {m}", bytes::display(path))),
        Probe::Elf(info) => match elf::verify_glibc(info, cfg.expect) {
            Verdict::Ok => Try::Use(Box::new(o)),
            Verdict::OtherClass | Verdict::OtherMachine => {
                c.findings.push(Finding::new(
                    Code::WrongClassSkipped,
                    path.to_vec(),
                    format!(
                        "skipped: {}-bit ELF for machine {} does not match the loader",
                        if info.class64 { 64 } else { 32 },
                        info.machine
                    ),
                ));
                Try::Skip
            }
            Verdict::Fatal(m) => Try::Fatal(format!("{}: {m}", bytes::display(path))),
        },
    }
}

/// What one load remembers so that each step costs the same however many
/// objects are loaded: the loader's own lists and flags, kept as indexes.
#[derive(Default)]
struct Memo {
    /// Each name an object answers to (the path it was opened as, the
    /// requests it satisfied, its `DT_SONAME`): the first such object.
    names: HashMap<Vec<u8>, usize>,
    /// Device and inode: the first object with them.
    inodes: HashMap<(u64, u64), usize>,
    /// Per object: the nearest object in its chain of first loaders, itself
    /// included, with a `DT_RPATH` that counts (no `DT_RUNPATH` beside it).
    rpath_up: Vec<Option<usize>>,
    /// Search directories decomposed once per object and list (0 `DT_RPATH`,
    /// 1 `DT_RUNPATH`, 2 `LD_LIBRARY_PATH`), as glibc keeps them.
    dirs: HashMap<(usize, u8), Arc<Vec<Vec<u8>>>>,
    /// Directories known not to exist: glibc marks them `nonexisting` and
    /// tries them no more.
    missing: HashMap<Vec<u8>, bool>,
}

impl Memo {
    /// Register `c.objects[idx]`, just pushed.
    fn add(&mut self, c: &Closure, idx: usize) {
        let o = &c.objects[idx];
        let has_rpath = o
            .info
            .as_ref()
            .is_some_and(|i| i.runpath.is_none() && i.rpath.is_some());
        let up = if has_rpath {
            Some(idx)
        } else {
            o.needed_by
                .and_then(|p| self.rpath_up.get(p).copied().flatten())
        };
        debug_assert_eq!(self.rpath_up.len(), idx);
        self.rpath_up.push(up);
        if o.faked {
            return;
        }
        let soname = o.info.as_ref().and_then(|i| i.soname.clone());
        for n in std::iter::once(&o.path)
            .chain(&o.names)
            .chain(soname.as_ref())
        {
            self.name(n, idx);
        }
        if o.dev_ino != (0, 0) {
            self.inodes.entry(o.dev_ino).or_insert(idx);
        }
    }

    /// `c.objects[idx]` answers to `name` too.
    fn name(&mut self, name: &[u8], idx: usize) {
        match self.names.get_mut(name) {
            Some(i) => *i = (*i).min(idx),
            None => {
                self.names.insert(name.to_vec(), idx);
            }
        }
    }

    /// Whether directory `dir` is missing from the root (a search there finds nothing).
    fn missing(&mut self, r: &Resolver<'_>, dir: &[u8]) -> bool {
        if let Some(&m) = self.missing.get(dir) {
            return m;
        }
        let m = matches!(
            r.open(dir).probe,
            Probe::Missing(ResolveError::NotFound { .. })
        );
        self.missing.insert(dir.to_vec(), m);
        m
    }
}

/// `decompose_rpath`/`fillin_rpath`: split, expand tokens, normalise trailing
/// slashes to exactly one, drop failed/empty expansions and duplicates.
fn search_dirs(
    list: &[u8],
    sep: &[u8],
    origin: Option<&[u8]>,
    cfg: &GlibcConfig,
    r: &Resolver<'_>,
    owner: &[u8],
    c: &mut Closure,
) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut seen: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
    if list.is_empty() {
        return out;
    }
    for el in list.split(|b| sep.contains(b)) {
        let mut d = if el.is_empty() {
            Vec::new()
        } else {
            match super::expand_dst(el, origin, &r.options().cpu.platform, &cfg.lib) {
                Some(d) if !d.is_empty() => d,
                _ => continue,
            }
        };
        if el.contains(&b'$') && memchr::memmem::find(el, b"PLATFORM").is_some() {
            c.findings.push(Finding::new(
                Code::CpuDependent,
                owner.to_vec(),
                format!(
                    "search path element {} depends on the CPU ($PLATFORM = {})",
                    bytes::display(el),
                    bytes::display(&r.options().cpu.platform)
                ),
            ));
        }
        while d.len() > 1 && d.ends_with(b"/") {
            d.pop();
        }
        if !d.is_empty() && !d.ends_with(b"/") {
            d.push(b'/');
        }
        if !d.starts_with(b"/") {
            c.findings.push(Finding::new(
                Code::CwdDependent,
                owner.to_vec(),
                format!(
                    "search path element {:?} is relative to the working directory (assumed {})",
                    bytes::display(el),
                    bytes::display(&r.options().cwd)
                ),
            ));
        }
        if seen.insert(d.clone()) {
            out.push(d);
        }
    }
    out
}

/// A usable file and the path it was opened as.
type Hit = (Box<Opened>, Vec<u8>);

/// `open_path`: each directory, each hwcaps subdirectory, first usable file.
fn open_path(
    r: &Resolver<'_>,
    cfg: &GlibcConfig,
    dirs: &[Vec<u8>],
    name: &[u8],
    c: &mut Closure,
    memo: &mut Memo,
    alternatives: &mut Vec<Vec<u8>>,
) -> Result<Option<Hit>, String> {
    for dir in dirs {
        if memo.missing(r, dir) {
            continue;
        }
        for sub in &cfg.inactive_hwcaps {
            let alt = [dir.as_slice(), sub, name].concat();
            let o = r.open(&alt);
            if let Probe::Elf(_) = o.probe {
                if let Some(f) = o.file() {
                    alternatives.push(f.to_vec());
                }
            }
        }
        for sub in &cfg.subdirs {
            let path = [dir.as_slice(), sub, name].concat();
            match try_candidate(r, cfg, &path, c) {
                Try::Use(o) => {
                    if !sub.is_empty() {
                        // a CPU without this level would take the plain directory
                        let plain = [dir.as_slice(), name].concat();
                        if let Some(f) = r.open(&plain).file() {
                            alternatives.push(f.to_vec());
                        }
                    }
                    return Ok(Some((o, path)));
                }
                Try::Skip => {}
                // glibc looks at the error of the last attempt in a directory
                Try::Stop if sub.is_empty() => return Ok(None),
                Try::Stop => {}
                Try::Fatal(m) => return Err(m),
            }
        }
    }
    Ok(None)
}

/// The first loaded object (not a placeholder) that answers to `name` by
/// path, an earlier request or `DT_SONAME` (a soname, once matched, is a
/// request name too).
fn find_loaded(c: &Closure, memo: &Memo, name: &[u8]) -> Option<(usize, Match)> {
    let &i = memo.names.get(name)?;
    let o = &c.objects[i];
    if o.path == name || o.names.iter().any(|n| n == name) {
        Some((i, Match::Name))
    } else {
        Some((i, Match::Soname))
    }
}

/// The search directories of object `owner`'s list `kind` (0 `DT_RPATH`,
/// 1 `DT_RUNPATH`, 2 `LD_LIBRARY_PATH`), decomposed once per load.
#[allow(clippy::too_many_arguments)]
fn dirs_of(
    r: &Resolver<'_>,
    cfg: &GlibcConfig,
    c: &mut Closure,
    memo: &mut Memo,
    owner: usize,
    kind: u8,
    list: &[u8],
    sep: &[u8],
) -> Arc<Vec<Vec<u8>>> {
    if let Some(d) = memo.dirs.get(&(owner, kind)) {
        return d.clone();
    }
    let origin = c.objects[owner].origin.clone();
    let path = c.objects[owner].path.clone();
    let d = Arc::new(search_dirs(list, sep, origin.as_deref(), cfg, r, &path, c));
    memo.dirs.insert((owner, kind), d.clone());
    d
}

fn search(
    r: &Resolver<'_>,
    cfg: &GlibcConfig,
    c: &mut Closure,
    memo: &mut Memo,
    loader: usize,
    name: &[u8],
) -> Found {
    let mut alternatives = Vec::new();
    if name.contains(&b'/') {
        return match try_candidate(r, cfg, name, c) {
            Try::Use(o) => Found::Yes {
                opened: o,
                path: name.to_vec(),
                rule: Rule::Direct,
                via: None,
                alternatives,
            },
            Try::Skip | Try::Stop => Found::No,
            Try::Fatal(m) => Found::Fatal(m),
        };
    }
    let linfo = c.objects[loader].info.clone();
    let loader_has_runpath = linfo.as_ref().is_some_and(|i| i.runpath.is_some());
    macro_rules! attempt {
        ($dirs:expr, $rule:expr, $via:expr) => {
            match open_path(r, cfg, &$dirs, name, c, memo, &mut alternatives) {
                Ok(Some((opened, path))) => {
                    return Found::Yes {
                        opened,
                        path,
                        rule: $rule,
                        via: $via,
                        alternatives,
                    }
                }
                Ok(None) => {}
                Err(m) => return Found::Fatal(m),
            }
        };
    }
    // 1. the DT_RPATH chain, only when the requesting object has no DT_RUNPATH
    if !loader_has_runpath {
        let mut did_main = false;
        // only the loaders with a DT_RPATH that counts (an object with both
        // tags has its RPATH ignored) are visited
        let mut cur = memo.rpath_up.get(loader).copied().flatten();
        while let Some(x) = cur {
            let obj = &c.objects[x];
            let owner = obj.path.clone();
            let next = obj
                .needed_by
                .and_then(|p| memo.rpath_up.get(p).copied().flatten());
            if let Some(rp) = obj.info.as_ref().and_then(|i| i.rpath.clone()) {
                let dirs = dirs_of(r, cfg, c, memo, x, 0, &rp, b":");
                if !dirs.is_empty() {
                    attempt!(dirs, Rule::Rpath, Some(owner.clone()));
                    did_main |= x == 0;
                }
            }
            cur = next;
        }
        if !did_main {
            let main = &c.objects[0];
            let owner = main.path.clone();
            if let Some(rp) = main
                .info
                .as_ref()
                .filter(|i| i.runpath.is_none())
                .and_then(|i| i.rpath.clone())
            {
                let dirs = dirs_of(r, cfg, c, memo, 0, 0, &rp, b":");
                if !dirs.is_empty() {
                    attempt!(dirs, Rule::Rpath, Some(owner.clone()));
                }
            }
        }
    }
    // 2. LD_LIBRARY_PATH, tokens relative to the main object
    if let Some(llp) = r.options().ld_library_path.clone() {
        let dirs = dirs_of(r, cfg, c, memo, 0, 2, &llp, b":;");
        attempt!(dirs, Rule::LdLibraryPath, None);
    }
    // 3. the requesting object's own DT_RUNPATH
    if let Some(rp) = linfo.as_ref().and_then(|i| i.runpath.clone()) {
        let owner = c.objects[loader].path.clone();
        let dirs = dirs_of(r, cfg, c, memo, loader, 1, &rp, b":");
        attempt!(dirs, Rule::Runpath, Some(owner.clone()));
    }
    let nodeflib = linfo.as_ref().is_some_and(|i| i.nodeflib());
    // 4. ld.so.cache
    let cache = r.cache();
    let hit: Option<(Vec<u8>, Rule, Vec<Vec<u8>>)> = match &*cache {
        CacheSource::Cache(cache) => cfg.abi_flags.and_then(|flags| {
            let active: Vec<&[u8]> = r
                .options()
                .cpu
                .hwcaps
                .iter()
                .map(|v| v.as_slice())
                .collect();
            let e = cache.search(
                name,
                &ldcache::CacheQuery {
                    default_id: flags,
                    also_accepted: &cfg.also_accepted,
                    active_hwcaps: &active,
                    legacy_hwcap_allowed: cfg.legacy_hwcap_mask,
                },
            )?;
            // entries another CPU would pick: glibc-hwcaps variants only
            let alts = cache
                .candidates(name, flags)
                .filter(|x| {
                    x.value != e.value && (x.hwcaps_subdir.is_some() || e.hwcaps_subdir.is_some())
                })
                .map(|x| x.value.clone())
                .collect();
            Some((e.value.clone(), Rule::LdSoCache, alts))
        }),
        CacheSource::Conf(entries) => entries
            .iter()
            .find(|(k, _, f)| k == name && (f.is_none() || *f == cfg.abi_flags))
            .map(|(_, v, _)| (v.clone(), Rule::LdSoConf, Vec::new())),
    };
    if let Some((path, rule, alts)) = hit {
        let rejected = nodeflib && cfg.system_dirs.iter().any(|d| path.starts_with(d));
        if !rejected {
            match try_candidate(r, cfg, &path, c) {
                Try::Use(opened) => {
                    let mut alternatives = alternatives;
                    for a in alts {
                        if let Some(f) = r.open(&a).file() {
                            alternatives.push(f.to_vec());
                        }
                    }
                    return Found::Yes {
                        opened,
                        path,
                        rule,
                        via: None,
                        alternatives,
                    };
                }
                Try::Skip | Try::Stop => {
                    let why = match r.open(&path).probe {
                        Probe::Missing(ResolveError::NotFound { .. }) => "the file does not exist",
                        _ => "the file is not usable by this loader",
                    };
                    c.findings.push(Finding::new(
                        Code::StaleCacheEntry,
                        path.clone(),
                        format!(
                            "ld.so.cache maps {} to {} but {why}; the search goes on",
                            bytes::display(name),
                            bytes::display(&path)
                        ),
                    ));
                }
                Try::Fatal(m) => return Found::Fatal(m),
            }
        }
    }
    // 5. the system directories
    if !nodeflib {
        let dirs = &cfg.system_dirs;
        attempt!(dirs, Rule::SystemDir, None);
    }
    Found::No
}

/// Fill `c` with the closure of its main object (already `c.objects[0]`).
/// With `direct`, only the main object's own needs are resolved.
pub(super) fn closure(
    r: &Resolver<'_>,
    c: &mut Closure,
    interp: &[u8],
    main: &ElfInfo,
    direct: bool,
) {
    let Some(cfg) = r.glibc_config_for(interp, Some(elf::Expect::of(main))) else {
        return;
    };
    // the loader itself is mapped first; it appears in the list where first needed
    let o = r.open(interp);
    match &o.probe {
        Probe::Elf(info) => {
            let mut names = vec![interp.to_vec()];
            if let Some(s) = &info.soname {
                names.push(s.clone());
            }
            c.objects.push(Object {
                name: interp.to_vec(),
                path: interp.to_vec(),
                named: o.named(),
                file: o.file().map(<[u8]>::to_vec).unwrap_or_default(),
                needed_by: Some(0),
                rule: Rule::Interpreter,
                via: None,
                hops: o.res.prefix().to_vec(),
                alternatives: Vec::new(),
                info: Some(info.clone()),
                dev_ino: o.meta.as_ref().map_or((0, 0), |m| (m.dev, m.ino)),
                names,
                soname_added: true,
                origin: Some(bytes::parent(interp).to_vec()),
                faked: false,
                visible: false,
            });
        }
        _ => {
            if main.interp.is_some() {
                super::missing_interpreter(c, interp, &o);
                c.objects.push(Object {
                    name: interp.to_vec(),
                    path: interp.to_vec(),
                    named: o.named(),
                    file: o.file().map(<[u8]>::to_vec).unwrap_or_default(),
                    needed_by: Some(0),
                    rule: Rule::Interpreter,
                    via: None,
                    hops: o.res.prefix().to_vec(),
                    alternatives: Vec::new(),
                    info: None,
                    dev_ino: (0, 0),
                    names: vec![interp.to_vec()],
                    soname_added: true,
                    origin: None,
                    faked: true,
                    visible: false,
                });
            }
        }
    }
    let mut memo = Memo::default();
    for i in 0..c.objects.len() {
        memo.add(c, i);
    }
    let mut order = vec![0usize];
    let mut qi = 0;
    while qi < order.len() && !(direct && qi > 0) {
        let l = order[qi];
        qi += 1;
        let Some(info) = c.objects[l].info.clone() else {
            continue;
        };
        for raw in &info.needed {
            let origin = c.objects[l].origin.clone();
            let Some(name) =
                super::expand_dst(raw, origin.as_deref(), &r.options().cpu.platform, &cfg.lib)
                    .filter(|n| !n.is_empty())
            else {
                c.edges.push(not_found(l, raw));
                c.findings.push(Finding::new(
                    Code::UnresolvedNeeded,
                    c.objects[l].path.clone(),
                    format!(
                        "{}: dynamic string token substitution failed",
                        bytes::display(raw)
                    ),
                ));
                continue;
            };
            if let Some((idx, how)) = find_loaded(c, &memo, &name) {
                if how == Match::Soname {
                    c.objects[idx].names.push(name.clone());
                    c.objects[idx].soname_added = true;
                }
                reuse(c, &mut order, l, raw, idx, how);
                continue;
            }
            match search(r, &cfg, c, &mut memo, l, &name) {
                Found::Yes {
                    opened,
                    path,
                    rule,
                    via,
                    mut alternatives,
                } => {
                    let dev_ino = opened.meta.as_ref().map_or((0, 0), |m| (m.dev, m.ino));
                    let same = (dev_ino != (0, 0))
                        .then(|| memo.inodes.get(&dev_ino).copied())
                        .flatten();
                    if let Some(idx) = same {
                        if !c.objects[idx].names.contains(&name) {
                            c.objects[idx].names.push(name.clone());
                            memo.name(&name, idx);
                        }
                        reuse(c, &mut order, l, raw, idx, Match::Inode);
                        continue;
                    }
                    alternatives.sort();
                    alternatives.dedup();
                    let file = opened.file().map(<[u8]>::to_vec).unwrap_or_default();
                    alternatives.retain(|a| *a != file);
                    if !alternatives.is_empty() {
                        c.findings.push(Finding::new(
                            Code::CpuDependent,
                            path.clone(),
                            format!(
                                "{} resolves to {} on this CPU model ({}); other CPUs load {}",
                                bytes::display(&name),
                                bytes::display(&path),
                                r.options().cpu.label,
                                alternatives
                                    .iter()
                                    .map(|a| bytes::display(a).into_owned())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ));
                    }
                    let abs = if path.starts_with(b"/") {
                        path.clone()
                    } else {
                        bytes::join(&r.options().cwd, &path)
                    };
                    let info = match &opened.probe {
                        Probe::Elf(i) => Some(Arc::clone(i)),
                        _ => None,
                    };
                    let idx = c.objects.len();
                    c.objects.push(Object {
                        name: name.clone(),
                        named: opened.named(),
                        file,
                        path: path.clone(),
                        needed_by: Some(l),
                        rule,
                        via: via.clone(),
                        hops: opened.res.prefix().to_vec(),
                        alternatives,
                        info,
                        dev_ino,
                        names: vec![name.clone()],
                        soname_added: false,
                        origin: Some(bytes::parent(&abs).to_vec()),
                        faked: false,
                        visible: true,
                    });
                    memo.add(c, idx);
                    order.push(idx);
                    c.edges.push(Edge {
                        from: l,
                        name: raw.clone(),
                        to: Some(idx),
                        rule,
                        via,
                        matched: None,
                    });
                }
                Found::No => {
                    c.edges.push(not_found(l, raw));
                    c.findings.push(Finding::new(
                        Code::UnresolvedNeeded,
                        c.objects[l].path.clone(),
                        format!(
                            "{} needs {}, which the loader does not find",
                            bytes::display(&c.objects[l].path),
                            bytes::display(raw)
                        ),
                    ));
                }
                Found::Fatal(m) => {
                    c.edges.push(not_found(l, raw));
                    c.findings.push(Finding::new(
                        Code::LoadError,
                        c.objects[l].path.clone(),
                        format!("loading {} aborts: {m}", bytes::display(raw)),
                    ));
                    if c.fatal.is_none() {
                        c.fatal = Some(m);
                    }
                }
            }
        }
    }
    // the kernel maps a program's interpreter even if no object names it
    if main.interp.is_none() {
        c.order = order;
        return;
    }
    if let Some(rtld) = c
        .objects
        .iter()
        .position(|o| o.rule == Rule::Interpreter && !o.visible)
    {
        c.objects[rtld].visible = true;
        order.push(rtld);
    }
    c.order = order;
}

/// A `DT_NEEDED` edge that resolved to nothing.
fn not_found(from: usize, raw: &[u8]) -> Edge {
    Edge {
        from,
        name: raw.to_vec(),
        to: None,
        rule: Rule::NotFound,
        via: None,
        matched: None,
    }
}

fn reuse(c: &mut Closure, order: &mut Vec<usize>, from: usize, raw: &[u8], idx: usize, how: Match) {
    if !c.objects[idx].visible {
        c.objects[idx].visible = true;
        order.push(idx);
    }
    let via = Some(c.objects[idx].path.clone());
    c.edges.push(Edge {
        from,
        name: raw.to_vec(),
        to: Some(idx),
        rule: Rule::AlreadyLoaded,
        via,
        matched: Some(how),
    });
}
