//! The dynamic loaders' library search, reproduced offline inside a root.
//!
//! [`Resolver::closure`] computes what a program (or a library loaded as the
//! main object) needs at load time, exactly as the root's own loader would —
//! glibc's `ld.so` ([`glibc`]) or musl's ([`musl`]) — without running anything.
//! Each loaded object and each `DT_NEEDED` edge records the rule that found it,
//! so a report can say *why* a library is there.
//!
//! The loader's configuration is read from the root: glibc's system directories
//! and version from the loader binary itself, `/etc/ld.so.cache` (or, failing
//! that, `ld.so.conf`), musl's `etc/ld-musl-ARCH.path`.

pub mod glibc;
pub mod musl;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;

use crate::bytes;
use crate::cpu::Cpu;
use crate::elf::{self, ElfInfo, Expect, Linkage};
use crate::findings::{Code, Finding};
use crate::ldcache::{self, LdCache};
use crate::ldconf;
use crate::rootfs::{self, FsView, Hop, Kind, Meta, Resolution, Root};

/// The rule by which a dependency was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// `PT_INTERP`: the program interpreter, loaded by the kernel.
    Interpreter,
    /// The name contains `/` and is opened as given.
    Direct,
    /// A directory of `DT_RPATH` (of the requesting object or one of its first loaders).
    Rpath,
    /// A directory of `LD_LIBRARY_PATH` (only when given explicitly).
    LdLibraryPath,
    /// A directory of the requesting object's own `DT_RUNPATH`.
    Runpath,
    /// An entry of the root's `/etc/ld.so.cache`.
    LdSoCache,
    /// The root has no usable cache; the directories of `ld.so.conf` (as
    /// `ldconfig` would put them in the cache).
    LdSoConf,
    /// A system (trusted) directory compiled into the loader.
    SystemDir,
    /// An object already loaded (by path, request name, `DT_SONAME` or inode).
    AlreadyLoaded,
    /// musl: a name reserved for the C library, served by the loader itself.
    MuslReserved,
    /// musl: a directory of `etc/ld-musl-ARCH.path`.
    MuslPathFile,
    /// musl: the built-in default path (no path file).
    MuslDefaultPath,
    /// Not found.
    NotFound,
}

impl Rule {
    /// The stable kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Interpreter => "interpreter",
            Rule::Direct => "direct",
            Rule::Rpath => "rpath",
            Rule::LdLibraryPath => "ld-library-path",
            Rule::Runpath => "runpath",
            Rule::LdSoCache => "ld-so-cache",
            Rule::LdSoConf => "ld-so-conf",
            Rule::SystemDir => "system-dir",
            Rule::AlreadyLoaded => "already-loaded",
            Rule::MuslReserved => "musl-reserved",
            Rule::MuslPathFile => "musl-path-file",
            Rule::MuslDefaultPath => "musl-default-path",
            Rule::NotFound => "not-found",
        }
    }
}

/// How an already-loaded object matched a request (glibc `_dl_map_object` step 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Match {
    /// The path it was opened as, or an earlier request string.
    Name,
    /// Its `DT_SONAME`.
    Soname,
    /// A search found a file with the same device and inode.
    Inode,
}

/// Which loader implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flavor {
    /// GNU C library `ld.so`.
    Glibc,
    /// musl `ld-musl-ARCH.so.1`.
    Musl,
}

/// One loaded object of a closure.
#[derive(Debug, Clone)]
pub struct Object {
    /// The request string that first loaded it (`libc.so.6`).
    pub name: Vec<u8>,
    /// The path as the loader opened it (`/lib/x86_64-linux-gnu/libc.so.6`).
    pub path: Vec<u8>,
    /// The entry `path` names, last component not followed (may be a symlink).
    pub named: Vec<u8>,
    /// The final file after every symlink.
    pub file: Vec<u8>,
    /// Index (into the closure's objects; 0 is the main object) of the object that first needed it.
    pub needed_by: Option<usize>,
    /// How it was found.
    pub rule: Rule,
    /// The object whose RPATH/RUNPATH supplied the directory, when relevant.
    pub via: Option<Vec<u8>>,
    /// The directory symlinks walked while opening `path` (before the named entry).
    pub hops: Vec<Hop>,
    /// Files a loader on another CPU would have chosen instead (glibc-hwcaps).
    pub alternatives: Vec<Vec<u8>>,
    pub(crate) info: Option<Arc<ElfInfo>>,
    pub(crate) dev_ino: (u64, u64),
    pub(crate) names: Vec<Vec<u8>>,
    pub(crate) soname_added: bool,
    pub(crate) origin: Option<Vec<u8>>,
    pub(crate) faked: bool,
    pub(crate) visible: bool,
}

impl Object {
    /// The object's ELF information, when it is one.
    pub fn info(&self) -> Option<&ElfInfo> {
        self.info.as_deref()
    }
}

/// One `DT_NEEDED` entry and what it resolved to.
#[derive(Debug, Clone)]
pub struct Edge {
    /// Index of the requesting object (0 = main).
    pub from: usize,
    /// The `DT_NEEDED` string as written.
    pub name: Vec<u8>,
    /// The loaded object, or `None` when not found.
    pub to: Option<usize>,
    /// How it was found.
    pub rule: Rule,
    /// The object whose search path supplied the directory, or the object matched.
    pub via: Option<Vec<u8>>,
    /// For [`Rule::AlreadyLoaded`], how it matched.
    pub matched: Option<Match>,
}

/// The load-time closure of one main object.
#[derive(Debug, Clone)]
pub struct Closure {
    /// The path asked for.
    pub path: Vec<u8>,
    /// How the main object is linked.
    pub linkage: Linkage,
    /// Which loader resolves it (None: not dynamic or no loader known).
    pub flavor: Option<Flavor>,
    /// `PT_INTERP` (or the default loader for a library loaded as main).
    pub interpreter: Option<Vec<u8>>,
    /// Objects; index 0 is the main object itself.
    pub objects: Vec<Object>,
    /// Indices into `objects` in load order (as the loader lists them).
    pub order: Vec<usize>,
    /// Every `DT_NEEDED` edge, in processing order.
    pub edges: Vec<Edge>,
    /// Problems met.
    pub findings: Vec<Finding>,
    /// A fatal loader error (glibc aborts the whole load), with the object that caused it.
    pub fatal: Option<String>,
    /// Every symlink walked to reach the main object from the path asked for.
    pub symlinks: Vec<Hop>,
}

impl Closure {
    /// The loaded objects other than the main one, in load order, as the loader
    /// lists them (glibc lists its own `ld.so` where it is first needed).
    pub fn loaded(&self) -> impl Iterator<Item = &Object> {
        self.order
            .iter()
            .skip(1)
            .map(|&i| &self.objects[i])
            .filter(|o| o.visible && (!o.faked || o.rule == Rule::Interpreter))
    }
}

/// A program whose `PT_INTERP` names nothing loadable: the kernel refuses to
/// start it (`execve` fails), so the load is fatal, with a
/// `missing-interpreter` finding. The caller lists the interpreter all the
/// same, as a placeholder object that matches no request.
pub(crate) fn missing_interpreter(c: &mut Closure, interp: &[u8], o: &Opened) {
    let why = match &o.probe {
        Probe::Missing(_) => "does not exist in the root".to_string(),
        Probe::Dir => "is a directory".to_string(),
        Probe::NotElf { .. } => "is not an ELF file".to_string(),
        Probe::Malformed(m) => format!("is malformed: {m}"),
        Probe::Unreadable(m) => format!("cannot be read: {m}"),
        Probe::Special(k) => format!("is a {}", k.as_str()),
        Probe::Elf(_) => "is not loadable".to_string(),
    };
    let message = format!("program interpreter {} {why}", bytes::display(interp));
    if c.fatal.is_none() {
        c.fatal = Some(format!("{message}: the kernel cannot start the program"));
    }
    c.findings.push(Finding::new(
        Code::MissingInterpreter,
        c.path.clone(),
        message,
    ));
}

/// What is at a path, for the loader's purposes.
#[derive(Debug, Clone)]
pub enum Probe {
    /// Nothing usable: the resolution failed.
    Missing(rootfs::ResolveError),
    /// A directory (glibc: "cannot read file data: Is a directory").
    Dir,
    /// A FIFO, socket or device: never opened; treated like an unreadable file.
    Special(Kind),
    /// A regular file that is not ELF (or too short to be).
    NotElf {
        /// Shorter than an ELF header.
        too_short: bool,
    },
    /// An ELF file that could not be parsed.
    Malformed(String),
    /// Could not be read.
    Unreadable(String),
    /// An ELF object.
    Elf(Arc<ElfInfo>),
}

/// Source of ELF information for files of the root, by canonical path.
pub trait Objects: Sync {
    /// Probe the regular file at canonical path `file` with metadata `meta`.
    fn probe(&self, file: &[u8], meta: &Meta) -> Probe;
}

/// Reads and caches ELF headers through the confined [`Root`].
#[derive(Debug)]
pub struct LiveObjects<'r> {
    root: &'r Root,
    cache: Mutex<HashMap<Vec<u8>, Probe>>,
}

impl<'r> LiveObjects<'r> {
    /// Over a root.
    pub fn new(root: &'r Root) -> Self {
        LiveObjects {
            root,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

/// Probe one regular file through the root (no caching).
pub fn probe_file(root: &Root, file: &[u8], meta: &Meta) -> Probe {
    match meta.kind {
        Kind::Dir => return Probe::Dir,
        Kind::File => {}
        k => return Probe::Special(k),
    }
    let f = match root.open_file(file) {
        Ok(f) => f,
        Err(e) => return Probe::Unreadable(e.to_string()),
    };
    match elf::parse(&f, meta.size) {
        Ok(Some(info)) => Probe::Elf(Arc::new(info)),
        Ok(None) => Probe::NotElf {
            too_short: meta.size < 64,
        },
        Err(elf::ElfError::Malformed(m)) => Probe::Malformed(m),
        Err(e) => Probe::Unreadable(e.to_string()),
    }
}

impl Objects for LiveObjects<'_> {
    fn probe(&self, file: &[u8], meta: &Meta) -> Probe {
        if let Some(p) = self.cache.lock().expect("probe cache").get(file) {
            return p.clone();
        }
        let p = probe_file(self.root, file, meta);
        self.cache
            .lock()
            .expect("probe cache")
            .insert(file.to_vec(), p.clone());
        p
    }
}

/// A path opened by the loader: the resolution and what is there.
#[derive(Debug, Clone)]
pub(crate) struct Opened {
    pub(crate) res: Resolution,
    pub(crate) probe: Probe,
    pub(crate) meta: Option<Meta>,
}

impl Opened {
    pub(crate) fn file(&self) -> Option<&[u8]> {
        self.res.target_path()
    }
    pub(crate) fn named(&self) -> Vec<u8> {
        self.res
            .named
            .clone()
            .or_else(|| self.file().map(<[u8]>::to_vec))
            .unwrap_or_default()
    }
}

/// Options of a resolution.
#[derive(Debug, Clone)]
pub struct Options {
    /// The CPU the loader runs on.
    pub cpu: Cpu,
    /// `LD_LIBRARY_PATH` (empty: unset, the offline default).
    pub ld_library_path: Option<Vec<u8>>,
    /// The working directory, for relative search path elements.
    pub cwd: Vec<u8>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cpu: Cpu::host(),
            ld_library_path: None,
            cwd: b"/".to_vec(),
        }
    }
}

/// The configuration of one glibc loader found in the root.
#[derive(Debug, Clone)]
pub struct GlibcConfig {
    /// The loader's path (`PT_INTERP`).
    pub interp: Vec<u8>,
    /// The objects it accepts.
    pub expect: Expect,
    /// System directories, with trailing `/`, in search order.
    pub system_dirs: Vec<Vec<u8>>,
    /// Whether `system_dirs` came from the loader binary (else a built-in table).
    pub system_dirs_from_binary: bool,
    /// glibc version `(major, minor)`, when found in the binary.
    pub version: Option<(u32, u32)>,
    /// `$LIB` expansion.
    pub lib: Vec<u8>,
    /// The loader's own `DT_SONAME`.
    pub soname: Option<Vec<u8>>,
    /// Subdirectories tried in each search directory, best first, ending with `""`.
    pub subdirs: Vec<Vec<u8>>,
    /// glibc-hwcaps subdirectories *not* active on the assumed CPU (for reporting).
    pub inactive_hwcaps: Vec<Vec<u8>>,
    /// ld.so.cache ABI flags for its objects.
    pub abi_flags: Option<i32>,
    /// Other ld.so.cache flags this loader accepts (generic ports also take 1).
    pub also_accepted: Vec<i32>,
    /// Legacy hwcap bits of cache entries this loader accepts (glibc ≤ 2.36:
    /// `tls` and the active hwcap names; none from 2.37 on).
    pub legacy_hwcap_mask: u64,
    /// Dev/inode of the loader file.
    pub dev_ino: (u64, u64),
    /// The loader file's canonical path, when present.
    pub file: Option<Vec<u8>>,
}

/// The configuration of one musl loader.
#[derive(Debug, Clone)]
pub struct MuslConfig {
    /// The loader's path (`PT_INTERP`).
    pub interp: Vec<u8>,
    /// The system path and where it came from.
    pub sys_path: Vec<Vec<u8>>,
    /// Whether it came from the path file (else the default).
    pub from_path_file: bool,
    /// Dev/inode of the loader file.
    pub dev_ino: (u64, u64),
    /// The loader file's canonical path, when present.
    pub file: Option<Vec<u8>>,
}

/// Where library names map to paths without a directory search.
#[derive(Debug)]
pub enum CacheSource {
    /// The root's parsed `/etc/ld.so.cache`.
    Cache(LdCache),
    /// Recomputed from `ld.so.conf` (no usable cache): name → (path, ABI flags).
    Conf(Vec<(Vec<u8>, Vec<u8>, Option<i32>)>),
}

/// The cache (or its ld.so.conf replacement), the findings about it, and an
/// include cycle that makes ld.so.conf unusable.
type LoadedCache = (Arc<CacheSource>, Vec<Finding>, Option<ldconf::IncludeCycle>);

/// Resolves closures inside one root. Cheap to share between threads.
pub struct Resolver<'a> {
    view: &'a dyn FsView,
    objects: &'a dyn Objects,
    root: &'a Root,
    options: Options,
    glibc: Mutex<HashMap<Vec<u8>, Arc<GlibcConfig>>>,
    musl: Mutex<HashMap<Vec<u8>, Arc<MuslConfig>>>,
    cache: OnceLock<LoadedCache>,
    /// Whether a load used the cache (its findings are reported then only).
    cache_used: std::sync::atomic::AtomicBool,
    setup_findings: Mutex<Vec<Finding>>,
}

impl std::fmt::Debug for Resolver<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").finish_non_exhaustive()
    }
}

/// The default loader path for objects of this machine and class, glibc first.
pub fn default_interpreters(machine: u16, class64: bool) -> &'static [&'static str] {
    use goblin::elf::header::*;
    match (machine, class64) {
        (EM_X86_64, true) => &["/lib64/ld-linux-x86-64.so.2", "/lib/ld-musl-x86_64.so.1"],
        (EM_X86_64, false) => &["/libx32/ld-linux-x32.so.2", "/lib/ld-musl-x32.so.1"],
        (EM_386, false) => &["/lib/ld-linux.so.2", "/lib/ld-musl-i386.so.1"],
        (EM_AARCH64, true) => &["/lib/ld-linux-aarch64.so.1", "/lib/ld-musl-aarch64.so.1"],
        (EM_ARM, false) => &[
            "/lib/ld-linux-armhf.so.3",
            "/lib/ld-linux.so.3",
            "/lib/ld-musl-armhf.so.1",
        ],
        (EM_RISCV, true) => &[
            "/lib/ld-linux-riscv64-lp64d.so.1",
            "/lib/ld-musl-riscv64.so.1",
        ],
        (EM_PPC64, true) => &["/lib64/ld64.so.2", "/lib/ld-musl-powerpc64le.so.1"],
        (EM_S390, true) => &["/lib/ld64.so.1", "/lib/ld-musl-s390x.so.1"],
        _ => &[],
    }
}

/// Upstream glibc's `slibdir:libdir` per machine, when the loader binary does not tell.
fn fallback_system_dirs(machine: u16, class64: bool) -> Vec<Vec<u8>> {
    use goblin::elf::header::*;
    let dirs: &[&str] = match (machine, class64) {
        (EM_X86_64, true) | (EM_PPC64, true) | (EM_S390, true) => &["/lib64/", "/usr/lib64/"],
        (EM_X86_64, false) => &["/libx32/", "/usr/libx32/"],
        _ => &["/lib/", "/usr/lib/"],
    };
    dirs.iter().map(|d| d.as_bytes().to_vec()).collect()
}

/// Find the system directories compiled into a glibc `ld.so`: consecutive
/// NUL-terminated strings, each an absolute path ending in `/`.
pub fn system_dirs_from_binary(data: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut best: Option<Vec<Vec<u8>>> = None;
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'/' && (i == 0 || data[i - 1] == 0) {
            // try to read a run starting here
            let mut run = Vec::new();
            let mut j = i;
            while j < data.len() && data[j] == b'/' {
                let Some(len) = memchr::memchr(0, &data[j..]) else {
                    break;
                };
                let s = &data[j..j + len];
                let plausible =
                    s.len() >= 2 && s.ends_with(b"/") && s.iter().all(|&b| b.is_ascii_graphic());
                if !plausible {
                    break;
                }
                run.push(s.to_vec());
                j += len + 1;
            }
            if run.len() >= 2 && best.as_ref().is_none_or(|b| run.len() > b.len()) {
                best = Some(run);
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    best
}

/// Why the kernel would refuse to execute the ELF file `file` (a canonical
/// path inside the root), from its first bytes read again: for a file too
/// malformed to keep as an [`ElfInfo`].
pub fn exec_refusal_of(root: &Root, file: &[u8]) -> Option<elf::ExecRefusal> {
    let f = root.open_file(file).ok()?;
    let size = f.metadata().ok()?.len();
    let mut head = [0u8; 64];
    let n = (size as usize).min(head.len());
    elf::ReadAt::read_exact_at(&f, &mut head[..n], 0).ok()?;
    elf::is_elf(&head[..n]).then(|| elf::exec_refusal(&head[..n], size))?
}

/// The glibc version a loader binary declares (`… release version 2.36`).
pub fn glibc_version_from_binary(data: &[u8]) -> Option<(u32, u32)> {
    let needle = b"release version ";
    let pos = memchr::memmem::find(data, needle)?;
    let rest = &data[pos + needle.len()..];
    let end = rest
        .iter()
        .position(|b| !(b.is_ascii_digit() || *b == b'.'))
        .unwrap_or(rest.len());
    let v = std::str::from_utf8(&rest[..end]).ok()?;
    let mut it = v.split('.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.trim_end_matches('.').parse().ok()?;
    Some((major, minor))
}

struct ConfFsAdapter<'r>(&'r Root);

impl ldconf::ConfFs for ConfFsAdapter<'_> {
    fn read_file(&self, path: &[u8]) -> std::io::Result<Vec<u8>> {
        let res = rootfs::resolve(self.0, path, b"/");
        match res.target {
            Ok((p, _)) => self.0.read_file(&p, 16 << 20),
            Err(e) => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                e.to_string(),
            )),
        }
    }
    fn list_dir(&self, path: &[u8]) -> std::io::Result<Vec<Vec<u8>>> {
        let res = rootfs::resolve(self.0, path, b"/");
        match res.target {
            Ok((p, _)) => self.0.list_dir(&p),
            Err(e) => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                e.to_string(),
            )),
        }
    }
    fn identity(&self, path: &[u8]) -> Vec<u8> {
        match rootfs::resolve(self.0, path, b"/").target {
            Ok((p, _)) => p,
            Err(_) => bytes::normalize(path),
        }
    }
}

impl<'a> Resolver<'a> {
    /// A resolver over a root. `view` answers `lstat`/`readlink` (the live root or
    /// a walk's index); `objects` answers ELF questions.
    pub fn new(
        root: &'a Root,
        view: &'a dyn FsView,
        objects: &'a dyn Objects,
        options: Options,
    ) -> Self {
        Resolver {
            view,
            objects,
            root,
            options,
            glibc: Mutex::new(HashMap::new()),
            musl: Mutex::new(HashMap::new()),
            cache: OnceLock::new(),
            cache_used: std::sync::atomic::AtomicBool::new(false),
            setup_findings: Mutex::new(Vec::new()),
        }
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Findings about the loaders' configuration (cache, ld.so.conf, system
    /// directories), each reported once.
    pub fn setup_findings(&self) -> Vec<Finding> {
        let mut out = self.setup_findings.lock().expect("findings").clone();
        if let Some((_, f, _)) = self.cache.get() {
            if self.cache_used.load(std::sync::atomic::Ordering::Relaxed) {
                out.extend(f.iter().cloned());
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Resolve a path and probe what is there.
    pub(crate) fn open(&self, path: &[u8]) -> Opened {
        let base = self.options.cwd.clone();
        let res = rootfs::resolve(self.view, path, &base);
        match &res.target {
            Ok((file, meta)) => {
                let probe = match meta.kind {
                    Kind::Dir => Probe::Dir,
                    Kind::File => self.objects.probe(file, meta),
                    k => Probe::Special(k),
                };
                let meta = Some(meta.clone());
                Opened { res, probe, meta }
            }
            Err(e) => Opened {
                probe: Probe::Missing(e.clone()),
                res,
                meta: None,
            },
        }
    }

    /// The ld.so.cache (or its ld.so.conf replacement) of the root.
    pub(crate) fn cache(&self) -> Arc<CacheSource> {
        self.cache_used
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.cache.get_or_init(|| self.load_cache()).0.clone()
    }

    /// Whether the root's loader configuration can be used at all: with no
    /// usable ld.so.cache, an include cycle in ld.so.conf is an error (no
    /// `ldconfig` could build a cache from it), not a finding.
    pub fn check_configuration(&self) -> Result<(), ldconf::IncludeCycle> {
        match &self.cache.get_or_init(|| self.load_cache()).2 {
            Some(cycle) => Err(cycle.clone()),
            None => Ok(()),
        }
    }

    fn load_cache(&self) -> LoadedCache {
        let mut findings = Vec::new();
        let res = rootfs::resolve(self.view, b"/etc/ld.so.cache", b"/");
        if let Ok((p, meta)) = &res.target {
            if meta.kind == Kind::File {
                match self.root.read_file(p, 256 << 20) {
                    Ok(bytes) => match LdCache::parse(&bytes) {
                        Ok(c) => return (Arc::new(CacheSource::Cache(c)), findings, None),
                        Err(e) => findings.push(Finding::new(
                            Code::CorruptLdSoCache,
                            p.clone(),
                            format!("cannot parse ld.so.cache: {e}; using ld.so.conf instead"),
                        )),
                    },
                    Err(e) => findings.push(Finding::new(
                        Code::Unreadable,
                        p.clone(),
                        format!("cannot read ld.so.cache: {e}"),
                    )),
                }
            }
        }
        if findings.is_empty() {
            findings.push(Finding::new(
                Code::NoLdSoCache,
                b"/etc/ld.so.cache".to_vec(),
                "no ld.so.cache in the root; libraries are looked up in the ld.so.conf directories as ldconfig would record them",
            ));
        }
        let conf = match ldconf::read_ld_so_conf(&ConfFsAdapter(self.root), b"/etc/ld.so.conf") {
            Ok(conf) => conf,
            Err(cycle) => {
                findings.push(Finding::new(
                    Code::LdSoConf,
                    cycle.back_to.clone(),
                    cycle.to_string(),
                ));
                let empty = self.recompute_cache(&[]);
                return (Arc::new(empty), findings, Some(cycle));
            }
        };
        for p in &conf.problems {
            findings.push(Finding::new(
                Code::LdSoConf,
                p.file.clone(),
                format!("line {}: {}", p.line, p.message),
            ));
        }
        (Arc::new(self.recompute_cache(&conf.dirs)), findings, None)
    }

    /// What ldconfig would put in the cache for these directories (plus the
    /// default loader's system directories, appended last).
    fn recompute_cache(&self, conf_dirs: &[Vec<u8>]) -> CacheSource {
        let mut dirs: Vec<Vec<u8>> = conf_dirs.to_vec();
        for interp in default_interpreters(goblin::elf::header::EM_X86_64, true)
            .iter()
            .take(1)
        {
            if let Some(cfg) = self.glibc_config_for(interp.as_bytes(), None) {
                for d in cfg.system_dirs.iter().take(2) {
                    dirs.push(d.clone());
                }
            }
        }
        let mut seen_dirs = std::collections::HashSet::new();
        let mut out: Vec<(Vec<u8>, Vec<u8>, Option<i32>)> = Vec::new();
        let mut seen_keys = std::collections::HashSet::new();
        for dir in dirs {
            let dir = bytes::normalize(&dir);
            let res = rootfs::resolve(self.view, &dir, b"/");
            let Ok((canon, meta)) = res.target else {
                continue;
            };
            if meta.kind != Kind::Dir || !seen_dirs.insert((meta.dev, meta.ino)) {
                continue;
            }
            let Ok(mut names) = self.root.list_dir(&canon) else {
                continue;
            };
            names.sort();
            for name in names {
                let libish = name.starts_with(b"lib")
                    && memchr::memmem::find(&name, b".so").is_some()
                    || name.starts_with(b"ld-") && memchr::memmem::find(&name, b".so").is_some()
                    || name.starts_with(b"ld.so.")
                    || name.starts_with(b"ld64.so.");
                if !libish {
                    continue;
                }
                let path = bytes::join(&dir, &name);
                let o = self.open(&path);
                let Probe::Elf(info) = &o.probe else { continue };
                if !info.is_loadable() {
                    continue;
                }
                let key = info.soname.clone().unwrap_or_else(|| name.clone());
                let flags = ldcache::abi_flags_for(info.machine, info.class64, info.flags);
                if !seen_keys.insert((key.clone(), flags)) {
                    continue;
                }
                let soname_path = bytes::join(&dir, &key);
                let value = if self.view.lstat(&soname_path).is_ok()
                    || rootfs::resolve(self.view, &soname_path, b"/")
                        .target
                        .is_ok()
                {
                    soname_path
                } else {
                    path
                };
                out.push((key, value, flags));
            }
        }
        CacheSource::Conf(out)
    }

    fn note(&self, f: Finding) {
        self.setup_findings.lock().expect("findings").push(f);
    }

    /// The glibc loader configuration for interpreter `interp`. `expect` is
    /// used when the loader file itself is missing.
    pub fn glibc_config_for(
        &self,
        interp: &[u8],
        expect: Option<Expect>,
    ) -> Option<Arc<GlibcConfig>> {
        if let Some(c) = self.glibc.lock().expect("configs").get(interp) {
            return Some(c.clone());
        }
        let o = self.open(interp);
        let (info, data) = match &o.probe {
            Probe::Elf(info) => {
                let data = o
                    .file()
                    .and_then(|f| self.root.read_file(f, 64 << 20).ok())
                    .unwrap_or_default();
                (Some(info.clone()), data)
            }
            _ => (None, Vec::new()),
        };
        let expect = match (&info, expect) {
            (Some(i), _) => Expect::of(i),
            (None, Some(e)) => e,
            (None, None) => return None,
        };
        let (system_dirs, from_binary) = match system_dirs_from_binary(&data) {
            Some(d) => (d, true),
            None => {
                self.note(Finding::new(
                    Code::SystemDirsGuessed,
                    interp.to_vec(),
                    "the loader's system directories were not found in its binary; using upstream glibc's defaults for this architecture",
                ));
                (fallback_system_dirs(expect.machine, expect.class64), false)
            }
        };
        let version = glibc_version_from_binary(&data);
        let lib = system_dirs
            .first()
            .map(|d| {
                d.trim_ascii_start()
                    .strip_prefix(b"/")
                    .unwrap_or(d)
                    .to_vec()
            })
            .map(|mut d| {
                while d.ends_with(b"/") {
                    d.pop();
                }
                d
            })
            .unwrap_or_else(|| b"lib".to_vec());
        let cpu = &self.options.cpu;
        let hwcaps_supported = version.is_none_or(|v| v >= (2, 33));
        let legacy_supported = version.is_some_and(|v| v <= (2, 36));
        let is_x86_64 = expect.machine == goblin::elf::header::EM_X86_64 && expect.class64;
        let mut subdirs = Vec::new();
        let mut inactive = Vec::new();
        if hwcaps_supported && is_x86_64 {
            for l in &cpu.hwcaps {
                subdirs.push([b"glibc-hwcaps/".as_slice(), l, b"/"].concat());
            }
            for l in crate::cpu::X86_64_LEVELS {
                if !cpu.hwcaps.iter().any(|a| a == l.as_bytes()) {
                    inactive.push([b"glibc-hwcaps/".as_slice(), l.as_bytes(), b"/"].concat());
                }
            }
        }
        if legacy_supported && is_x86_64 {
            subdirs.extend(cpu.legacy_subdirs());
        } else {
            subdirs.push(Vec::new());
        }
        let legacy_hwcap_mask = if legacy_supported && is_x86_64 {
            // sysdeps/x86: hwcap names "sse2", "x86_64", "avx512_1" are bits 0, 1, 2;
            // glibc sets x86_64, and avx512_1 on Intel CPUs with AVX-512 BW/DQ/VL
            let mut m = ldcache::HWCAP_TLS | 1 << 1;
            if cpu.legacy_hwcaps.iter().any(|h| h == b"avx512_1") {
                m |= 1 << 2;
            }
            m
        } else {
            0
        };
        let also_accepted = if is_x86_64 || expect.machine == goblin::elf::header::EM_X86_64 {
            Vec::new()
        } else {
            vec![ldcache::FLAG_ELF]
        };
        let cfg = Arc::new(GlibcConfig {
            also_accepted,
            legacy_hwcap_mask,
            interp: interp.to_vec(),
            expect,
            system_dirs,
            system_dirs_from_binary: from_binary,
            version,
            lib,
            soname: info.as_ref().and_then(|i| i.soname.clone()),
            subdirs,
            inactive_hwcaps: inactive,
            abi_flags: ldcache::abi_flags_for(
                expect.machine,
                expect.class64,
                info.as_ref().map_or(0, |i| i.flags),
            ),
            dev_ino: o.meta.as_ref().map_or((0, 0), |m| (m.dev, m.ino)),
            file: o.file().map(<[u8]>::to_vec),
        });
        self.glibc
            .lock()
            .expect("configs")
            .insert(interp.to_vec(), cfg.clone());
        Some(cfg)
    }

    /// The musl loader configuration for interpreter `interp`.
    pub fn musl_config_for(&self, interp: &[u8]) -> Arc<MuslConfig> {
        if let Some(c) = self.musl.lock().expect("configs").get(interp) {
            return c.clone();
        }
        let o = self.open(interp);
        // dirname(dirname(interp)) + "/etc/ld-musl-ARCH.path"
        let name = bytes::file_name(interp);
        let arch = name
            .strip_prefix(b"ld-musl-")
            .and_then(|r| r.strip_suffix(b".so.1"))
            .unwrap_or(b"x86_64");
        let prefix = if interp.starts_with(b"/") {
            let d = bytes::parent(bytes::parent(interp));
            if d == b"/" {
                Vec::new()
            } else {
                d.to_vec()
            }
        } else {
            Vec::new()
        };
        let path_file = [prefix.as_slice(), b"/etc/ld-musl-", arch, b".path"].concat();
        let pf = self.open(&path_file);
        let (sys_path, from_file) = match (&pf.probe, pf.file()) {
            (Probe::Missing(rootfs::ResolveError::NotFound { .. }), _) => (
                vec![
                    b"/lib".to_vec(),
                    b"/usr/local/lib".to_vec(),
                    b"/usr/lib".to_vec(),
                ],
                false,
            ),
            (_, Some(f)) => {
                let data = self.root.read_file(f, 1 << 20).unwrap_or_default();
                let dirs = data
                    .split(|b| *b == b':' || *b == b'\n')
                    .filter(|d| !d.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect();
                (dirs, true)
            }
            // exists but unreadable: musl uses an empty system path
            _ => (Vec::new(), true),
        };
        let cfg = Arc::new(MuslConfig {
            interp: interp.to_vec(),
            sys_path,
            from_path_file: from_file,
            dev_ino: o.meta.as_ref().map_or((0, 0), |m| (m.dev, m.ino)),
            file: o.file().map(<[u8]>::to_vec),
        });
        self.musl
            .lock()
            .expect("configs")
            .insert(interp.to_vec(), cfg.clone());
        cfg
    }

    /// The loader that would load `info` as the main object: its `PT_INTERP`,
    /// or for a library the root's default loader for its machine.
    pub fn loader_for(&self, info: &ElfInfo) -> Option<(Flavor, Vec<u8>)> {
        let interp = match &info.interp {
            Some(i) => i.clone(),
            None => {
                let cands = default_interpreters(info.machine, info.class64);
                let existing = cands.iter().find(|c| {
                    rootfs::resolve(self.view, c.as_bytes(), b"/")
                        .target
                        .is_ok()
                });
                existing.or(cands.first())?.as_bytes().to_vec()
            }
        };
        let flavor = if bytes::file_name(&interp).starts_with(b"ld-musl-") {
            Flavor::Musl
        } else {
            Flavor::Glibc
        };
        Some((flavor, interp))
    }

    /// The load-time closure of the object at `path` (inside the root).
    pub fn closure(&self, path: &[u8]) -> Closure {
        self.closure_with(path, false)
    }

    /// The first step of [`closure`](Self::closure) only: the main object's
    /// own `DT_NEEDED` entries resolved (and the objects they load), nothing
    /// those objects need in turn.
    pub fn direct_needs(&self, path: &[u8]) -> Closure {
        self.closure_with(path, true)
    }

    fn closure_with(&self, path: &[u8], direct: bool) -> Closure {
        let opened = self.open(path);
        let mut c = Closure {
            path: path.to_vec(),
            linkage: Linkage::NotLoadable,
            flavor: None,
            interpreter: None,
            objects: Vec::new(),
            order: vec![0],
            edges: Vec::new(),
            findings: Vec::new(),
            fatal: None,
            symlinks: opened.res.hops.clone(),
        };
        let file = opened.file().map(<[u8]>::to_vec);
        let info = match &opened.probe {
            Probe::Elf(i) => i.clone(),
            Probe::Malformed(m) if opened.meta.as_ref().is_some_and(|m| m.mode & 0o111 != 0) => {
                // an executable the kernel refuses is an answer, not an error
                if let Some(r) = file.as_deref().and_then(|f| exec_refusal_of(self.root, f)) {
                    let message =
                        format!("the kernel refuses to execute it (Exec format error): {r}");
                    c.linkage = Linkage::NotLoadable;
                    c.fatal = Some(message.clone());
                    c.findings
                        .push(Finding::new(Code::ExecFormatError, path.to_vec(), message));
                    c.findings
                        .push(Finding::new(Code::MalformedElf, path.to_vec(), m.clone()));
                    c.objects.push(Object {
                        name: path.to_vec(),
                        path: path.to_vec(),
                        named: opened.named(),
                        file: file.clone().unwrap_or_default(),
                        needed_by: None,
                        rule: Rule::Direct,
                        via: None,
                        hops: opened.res.prefix().to_vec(),
                        alternatives: Vec::new(),
                        info: None,
                        dev_ino: opened.meta.as_ref().map_or((0, 0), |m| (m.dev, m.ino)),
                        names: vec![path.to_vec()],
                        soname_added: false,
                        origin: None,
                        faked: false,
                        visible: true,
                    });
                    return c;
                }
                c.fatal = Some(m.clone());
                return c;
            }
            other => {
                c.fatal = Some(match other {
                    Probe::Missing(e) => e.to_string(),
                    Probe::Dir => format!("{} is a directory", bytes::display(path)),
                    Probe::NotElf { .. } => "not an ELF file".to_string(),
                    Probe::Malformed(m) => m.clone(),
                    Probe::Unreadable(m) => m.clone(),
                    Probe::Special(k) => format!("{} is a {}", bytes::display(path), k.as_str()),
                    Probe::Elf(_) => unreachable!(),
                });
                return c;
            }
        };
        c.linkage = info.linkage();
        let executable = opened.meta.as_ref().is_some_and(|m| m.mode & 0o111 != 0);
        let refusal = match (executable, info.exec_refusal) {
            // the kernel refuses to execute it: nothing is loaded
            (true, Some(r)) => Some((
                Code::ExecFormatError,
                format!("the kernel refuses to execute it (Exec format error): {r}"),
            )),
            // loaded as a library (dlopen): glibc's checks of the file
            (false, Some(_)) => match elf::verify_glibc(&info, Expect::of(&info)) {
                elf::Verdict::Fatal(m) => {
                    Some((Code::LoadError, format!("{}: {m}", bytes::display(path))))
                }
                _ => None,
            },
            _ => None,
        };
        if let Some((code, message)) = refusal {
            c.linkage = Linkage::NotLoadable;
            c.fatal = Some(message.clone());
            c.findings.push(Finding::new(code, path.to_vec(), message));
        }
        let main = Object {
            name: path.to_vec(),
            path: path.to_vec(),
            named: opened.named(),
            file: file.clone().unwrap_or_default(),
            needed_by: None,
            rule: Rule::Direct,
            via: None,
            hops: opened.res.prefix().to_vec(),
            alternatives: Vec::new(),
            info: Some(info.clone()),
            dev_ino: opened.meta.as_ref().map_or((0, 0), |m| (m.dev, m.ino)),
            names: vec![path.to_vec()],
            soname_added: false,
            // the executable's $ORIGIN is the directory of its realpath
            origin: file.as_deref().map(|f| bytes::parent(f).to_vec()),
            faked: false,
            visible: true,
        };
        c.objects.push(main);
        if c.linkage != Linkage::Dynamic || c.fatal.is_some() {
            return c;
        }
        let Some((flavor, interp)) = self.loader_for(&info) else {
            c.findings.push(Finding::new(
                Code::NoLoader,
                path.to_vec(),
                format!("no known loader for ELF machine {}", info.machine),
            ));
            return c;
        };
        c.flavor = Some(flavor);
        c.interpreter = Some(interp.clone());
        match flavor {
            Flavor::Glibc => glibc::closure(self, &mut c, &interp, &info, direct),
            Flavor::Musl => musl::closure(self, &mut c, &interp, direct),
        }
        c
    }
}

/// Expand glibc's dynamic string tokens in `s`. `None` when a known token has
/// no value (e.g. `$ORIGIN` with an unknown origin): the element is dropped.
pub(crate) fn expand_dst(
    s: &[u8],
    origin: Option<&[u8]>,
    platform: &[u8],
    lib: &[u8],
) -> Option<Vec<u8>> {
    if !s.contains(&b'$') {
        return Some(s.to_vec());
    }
    let mut out = Vec::with_capacity(s.len() + 32);
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'$' {
            out.push(s[i]);
            i += 1;
            continue;
        }
        let rest = &s[i + 1..];
        let tok = |name: &[u8]| -> usize {
            if let Some(r) = rest.strip_prefix(b"{") {
                if r.starts_with(name) && r.get(name.len()) == Some(&b'}') {
                    return name.len() + 2;
                }
                return 0;
            }
            if rest.starts_with(name) {
                let next = rest.get(name.len());
                if next.is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_')) {
                    return name.len();
                }
            }
            0
        };
        let (len, repl): (usize, Option<&[u8]>) = if let n @ 1.. = tok(b"ORIGIN") {
            (n, origin)
        } else if let n @ 1.. = tok(b"PLATFORM") {
            (n, Some(platform))
        } else if let n @ 1.. = tok(b"LIB") {
            (n, Some(lib))
        } else {
            (0, None)
        };
        if len == 0 {
            out.push(b'$');
            i += 1;
            continue;
        }
        out.extend_from_slice(repl?);
        i += 1 + len;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dst_tokens() {
        let e = |s: &[u8]| expand_dst(s, Some(b"/o"), b"x86_64", b"lib/x86_64-linux-gnu");
        assert_eq!(e(b"$ORIGIN/../lib").unwrap(), b"/o/../lib");
        assert_eq!(e(b"${ORIGIN}/x").unwrap(), b"/o/x");
        assert_eq!(e(b"/usr/$LIB").unwrap(), b"/usr/lib/x86_64-linux-gnu");
        assert_eq!(e(b"/$PLATFORM/").unwrap(), b"/x86_64/");
        assert_eq!(e(b"$ORIGINAL").unwrap(), b"$ORIGINAL");
        assert_eq!(e(b"$FOO/x").unwrap(), b"$FOO/x");
        assert!(expand_dst(b"$ORIGIN/x", None, b"", b"").is_none());
    }

    #[test]
    fn system_dirs_of_this_machines_loader() {
        let data = std::fs::read("/lib64/ld-linux-x86-64.so.2").unwrap();
        let dirs = system_dirs_from_binary(&data).unwrap();
        // ld.so --help lists the same directories (the oracle)
        let out = std::process::Command::new("/lib64/ld-linux-x86-64.so.2")
            .arg("--help")
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        let want: Vec<String> = help
            .lines()
            .filter(|l| l.contains("(system search path)"))
            .map(|l| format!("{}/", l.split_whitespace().next().unwrap()))
            .collect();
        let got: Vec<String> = dirs
            .iter()
            .map(|d| String::from_utf8_lossy(d).into_owned())
            .collect();
        assert_eq!(got, want);
        assert!(glibc_version_from_binary(&data).is_some());
    }
}
