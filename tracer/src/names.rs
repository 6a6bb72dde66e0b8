//! Names: the paths programs *ask for*, with the result of each request.
//!
//! fanotify reports the file finally opened, never the name that reached
//! it, nor a name that was asked for and not found. This source records,
//! for every process on the node, the path argument and the result of the
//! path-taking system calls — `execve`/`execveat`, `open`/`openat`/
//! `openat2`, the `stat` family, `access`/`faccessat`/`faccessat2`,
//! `readlink`/`readlinkat`, `chdir`/`fchdir` — through a small BPF program
//! (`bpf/names.bpf.c`, built by `build.rs` with the distribution's clang),
//! loaded with aya. It runs on the per-call tracepoints of those calls
//! (`syscalls/sys_exit_NAME`, and `sys_enter_NAME` for exec and chdir),
//! which cost nothing to the other system calls; the raw `sys_enter` and
//! `sys_exit` tracepoints (BTF-typed), which every system call pays for,
//! are loaded only for 32-bit programs' calls (the first 32-bit program is
//! held with SIGSTOP until they are attached), or serve every call where
//! the per-call tracepoints cannot be used. The
//! kernel side filters the system calls and the tracer's own process,
//! suppresses repeats (a name is sent once per kind of result), and writes
//! variable-length records to one ring buffer; a record that does not fit
//! is counted, so a loss is never silent.
//!
//! User space pairs each entry with its exit by thread, makes relative
//! names absolute (the process's working directory, or the directory
//! descriptor's path), and maps them into the traced root through the
//! process's own root directory, so names asked inside a `chroot` or a
//! container's root are recorded as paths inside the traced root.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::fan::unescape;
use crate::run::inside;

/// The system calls recorded, by x86-64 number.
const CALLS: &[(u32, &str)] = &[
    (2, "open"),
    (4, "stat"),
    (6, "lstat"),
    (21, "access"),
    (59, "execve"),
    (80, "chdir"),
    (81, "fchdir"),
    (89, "readlink"),
    (257, "openat"),
    (262, "newfstatat"),
    (267, "readlinkat"),
    (269, "faccessat"),
    (322, "execveat"),
    (332, "statx"),
    (437, "openat2"),
    (439, "faccessat2"),
];

const KIND_ENTER: u32 = 1;
const KIND_EXIT: u32 = 2;
/// A 32-bit program started (`val`: 0 when it was held with SIGSTOP).
const KIND_EXEC32: u32 = 3;
const HDR_LEN: usize = 96;
const AT_FDCWD: i64 = -100;
const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
const O_NOFOLLOW: u64 = 0o400000;

/// One name asked for, once per run and (name, call, result), with the first
/// process that asked and how many times it was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// The absolute path asked for, inside the traced root (bytes).
    pub path: Vec<u8>,
    /// The system call (`openat`, `execve`, `newfstatat`, …).
    pub call: String,
    /// `ok`, or the error's name (`ENOENT`, `EACCES`, …).
    pub result: String,
    /// The last component is not followed (`lstat`, `O_NOFOLLOW`,
    /// `AT_SYMLINK_NOFOLLOW`, `readlink`).
    pub nofollow: bool,
    /// The first process that asked.
    pub pid: i32,
    /// Its command.
    pub comm: String,
    /// The scenario step running then.
    pub step: Option<String>,
    /// How many times it was asked.
    pub count: u64,
    /// Milliseconds after the start of the trace.
    pub first_ms: u64,
}

/// Why names are partial, if they are.
#[derive(Debug, Clone, Default)]
pub struct NamesStatus {
    /// The BPF source is running.
    pub active: bool,
    /// Why it is not, or what was lost.
    pub problems: Vec<String>,
    /// How the names were captured (which tracepoints), when they were.
    pub source: Option<String>,
}

struct Pending {
    nr: u32,
    comm: [u8; 16],
    dirfd: i64,
    flags: u64,
    path: Vec<u8>,
    /// The process's root, as a path here, when it could be named.
    root: Option<Vec<u8>>,
    /// Its working directory, likewise (relative names only).
    cwd: Option<Vec<u8>>,
    /// The directory of `dirfd`, likewise (relative names only).
    dir: Option<Vec<u8>>,
}

struct Joiner {
    root: Vec<u8>,
    /// the tracer's own mount namespace (`/proc/self/ns/mnt`), read once
    own_ns: Option<Vec<u8>>,
    pending: HashMap<u32, Pending>,
    /// root directory (device, inode) → its path here
    roots: HashMap<(u64, u64), Vec<u8>>,
    /// working directory (device, inode) → its path here
    cwds: HashMap<(u64, u64), Vec<u8>>,
    /// directory opened by name (device, inode) → that name, here
    dirs: HashMap<(u64, u64), Vec<u8>>,
    /// (path, call, result) → index in `out`
    names: HashMap<(Vec<u8>, u32, i64), usize>,
    out: Vec<Name>,
    started: Instant,
    unresolved: u64,
    /// A few of them, for the run's report.
    unresolved_examples: Vec<String>,
}

fn call_name(nr: u32) -> Option<&'static str> {
    CALLS.iter().find(|(n, _)| *n == nr).map(|(_, s)| *s)
}

fn errno_name(ret: i64) -> String {
    if ret >= 0 {
        return "ok".into();
    }
    let e = nix::errno::Errno::from_raw((-ret) as i32);
    format!("{e:?}")
}

fn read_link(p: String) -> Option<Vec<u8>> {
    std::fs::read_link(p)
        .ok()
        .map(|p| p.as_os_str().as_bytes().to_vec())
}

/// `base/rel`, with `.` and `..` taken lexically (a name's own `..` hops are
/// the walker's business; this only places it).
fn join(base: &[u8], rel: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    if !out.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(rel);
    out
}

impl Joiner {
    /// The process's root as a path in this mount namespace, by the address
    /// of its root directory: named once from a process that has it —
    /// `/proc/PID/root` when the process shares the tracer's mount
    /// namespace; for another one (a container), the root mount's source
    /// directory when it is a directory of a filesystem mounted here — so
    /// processes gone before their names are read still get placed.
    fn root_of(&mut self, pid: u32, key: (u64, u64)) -> Option<Vec<u8>> {
        if let Some(r) = self.roots.get(&key) {
            return Some(r.clone());
        }
        let same_ns = read_link(format!("/proc/{pid}/ns/mnt")) == self.own_ns;
        let r = if same_ns {
            read_link(format!("/proc/{pid}/root"))
        } else {
            foreign_root(pid, &self.root)
        }
        // gone already: a directory known by another role (a container's
        // init changes into its root directory, then makes it its root)
        .or_else(|| self.cwds.get(&key).or_else(|| self.dirs.get(&key)).cloned())?;
        if key.1 != 0 {
            self.roots.insert(key, r.clone());
        }
        Some(r)
    }

    /// The working directory, likewise (as seen from the process's root).
    fn cwd_of(&mut self, pid: u32, key: (u64, u64)) -> Option<Vec<u8>> {
        if let Some(c) = self.cwds.get(&key) {
            return Some(c.clone());
        }
        let c = read_link(format!("/proc/{pid}/cwd")).or_else(|| {
            self.roots
                .get(&key)
                .or_else(|| self.dirs.get(&key))
                .cloned()
        })?;
        if key.1 != 0 {
            self.cwds.insert(key, c.clone());
        }
        Some(c)
    }

    /// Name the working and root directories of every running process (in
    /// this mount namespace), so that a process that is gone before its
    /// names are read is still placed when it shared one of them.
    /// The traced root itself: the workload's processes chroot into it,
    /// and one that is gone before its names are read is placed by it.
    fn know_root(&mut self) {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::MetadataExt;
        let path = std::path::Path::new(std::ffi::OsStr::from_bytes(&self.root));
        if let Ok(st) = std::fs::metadata(path) {
            self.roots
                .entry((st.dev(), st.ino()))
                .or_insert_with(|| self.root.clone());
        }
    }

    fn prime(&mut self) {
        let Ok(rd) = std::fs::read_dir("/proc") else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if read_link(format!("/proc/{pid}/ns/mnt")) != self.own_ns {
                continue;
            }
            for (what, map) in [("cwd", &mut self.cwds), ("root", &mut self.roots)] {
                let link = format!("/proc/{pid}/{what}");
                let (Ok(st), Some(p)) = (std::fs::metadata(&link), read_link(link.clone())) else {
                    continue;
                };
                use std::os::unix::fs::MetadataExt;
                map.entry((st.dev(), st.ino())).or_insert(p);
            }
        }
    }

    fn enter(&mut self, h: &Hdr, path: &[u8]) {
        // a harness step's process: not the workload
        if crate::harness::is_harness(h.tgid as i32) {
            return;
        }
        // a peer node's process (its root on that node's own overlay): not
        // the workload
        if [h.root.0, h.pwd.0, h.dir.0]
            .iter()
            .any(|&d| d != 0 && foreign_root_device(d))
        {
            return;
        }
        // named now, while the process most likely still exists
        let relative = !path.is_empty() && !path.starts_with(b"/");
        // the process's root, also for a relative name: a process whose
        // root is outside the traced root is not the workload (a booted
        // node's container manager before it enters the node)
        let root = self.root_of(h.tgid, h.root);
        let cwd = if relative && h.val == AT_FDCWD {
            self.cwd_of(h.tgid, h.pwd)
        } else {
            None
        };
        // a directory descriptor: named by the open that made it, else by
        // /proc while the descriptor is there
        let dir = if relative && h.val >= 0 {
            self.dirs
                .get(&h.dir)
                .cloned()
                .or_else(|| read_link(format!("/proc/{}/fd/{}", h.tgid, h.val)))
        } else {
            None
        };
        self.pending.insert(
            h.tid,
            Pending {
                nr: h.nr,
                comm: h.comm,
                dirfd: h.val,
                flags: h.flags,
                path: path.to_vec(),
                root,
                cwd,
                dir,
            },
        );
    }

    fn exit(&mut self, h: &Hdr, step: Option<String>) {
        let Some(p) = self.pending.remove(&h.tid) else {
            return;
        };
        if p.nr != h.nr {
            return;
        }
        let Some(call) = call_name(p.nr) else { return };
        let pid = h.tgid;
        if (call == "chdir" || call == "fchdir") && h.val == 0 {
            // name the new working directory while the process is there,
            // else by the name it asked for
            let lexical = (call == "chdir" && p.path.starts_with(b"/"))
                .then(|| p.root.as_ref().map(|r| join(r, &p.path[1..])))
                .flatten()
                .or_else(|| p.cwd.as_ref().map(|c| join(c, &p.path)));
            let by_open = self.dirs.get(&h.pwd).cloned();
            if let Some(c) = by_open
                .or_else(|| read_link(format!("/proc/{pid}/cwd")))
                .or(lexical)
            {
                if h.pwd.1 != 0 {
                    self.cwds.insert(h.pwd, normalize(&c));
                }
            }
        }
        if call == "fchdir" {
            return;
        }
        // an empty name (AT_EMPTY_PATH: fstat on a descriptor) names nothing
        if p.path.is_empty() {
            return;
        }
        if p.root
            .as_ref()
            .is_some_and(|r| place(&self.root, r).is_none())
        {
            return;
        }
        // an absolute name is the process's own: under its root. A working
        // directory or a descriptor's path as read from /proc is already a
        // path here (for a process sharing the tracer's mount namespace)
        let host = if p.path.starts_with(b"/") {
            match &p.root {
                Some(r) if r != b"/" => Some(join(r, p.path.strip_prefix(b"/").unwrap_or(&p.path))),
                Some(_) => Some(p.path.clone()),
                None => None,
            }
        } else if p.dirfd == AT_FDCWD {
            p.cwd.as_ref().map(|c| join(c, &p.path))
        } else {
            p.dir.as_ref().map(|d| join(d, &p.path))
        };
        let Some(host) = host else {
            self.unresolved += 1;
            if self.unresolved_examples.len() < 3 {
                let comm = String::from_utf8_lossy(&p.comm);
                let comm = comm.trim_end_matches('\0');
                let at = if p.path.starts_with(b"/") {
                    "its root directory".to_string()
                } else if p.dirfd == AT_FDCWD {
                    "the working directory".to_string()
                } else {
                    format!("descriptor {}", p.dirfd)
                };
                self.unresolved_examples.push(format!(
                    "{comm}[{pid}] {call} \"{}\" in {at}",
                    String::from_utf8_lossy(&p.path)
                ));
            }
            return;
        };
        let Some(path) = place(&self.root, &host) else {
            return;
        };
        let nofollow = matches!(call, "lstat" | "readlink" | "readlinkat")
            || (matches!(call, "newfstatat" | "statx" | "faccessat2" | "execveat")
                && p.flags & AT_SYMLINK_NOFOLLOW != 0)
            || (matches!(call, "open" | "openat" | "openat2") && p.flags & O_NOFOLLOW != 0);
        if h.opened_dir && h.val >= 0 && h.dir.1 != 0 {
            self.dirs.insert(h.dir, path_here_of(&self.root, &path));
        }
        let result = if h.val >= 0 { 0 } else { h.val };
        let key = (path, p.nr, result);
        if let Some(&i) = self.names.get(&key) {
            self.out[i].count += 1;
            return;
        }
        let path = key.0.clone();
        self.names.insert(key, self.out.len());
        let comm_end = p.comm.iter().position(|&b| b == 0).unwrap_or(16);
        self.out.push(Name {
            path,
            call: call.to_string(),
            result: errno_name(h.val),
            nofollow,
            pid: pid as i32,
            comm: String::from_utf8_lossy(&p.comm[..comm_end]).into_owned(),
            step,
            count: 1,
            first_ms: self.started.elapsed().as_millis() as u64,
        });
    }
}

/// A path here, tidied, as a path inside the traced root `root`; `None`
/// when it is outside.
fn place(root: &[u8], host: &[u8]) -> Option<Vec<u8>> {
    let host = normalize(host);
    if root == b"/" {
        Some(host)
    } else {
        inside(root, &host)
    }
}

/// A path inside the traced root as a path here (the tracer's view).
fn path_here_of(root: &[u8], inner: &[u8]) -> Vec<u8> {
    if root == b"/" {
        inner.to_vec()
    } else {
        join(root, inner.strip_prefix(b"/").unwrap_or(inner))
    }
}

/// Remove `.` components and doubled slashes (not `..`: its meaning depends
/// on symlinks, which the walker resolves).
fn normalize(p: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(p.len());
    for c in p.split(|&b| b == b'/') {
        if c.is_empty() || c == b"." {
            continue;
        }
        out.push(b'/');
        out.extend_from_slice(c);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// Devices of root filesystems whose processes are not the workload: the
/// overlays of peer nodes a run boots beside the traced one (see
/// [`ignore_root_device`]).
static FOREIGN_ROOT_DEVICES: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// Whether any device was registered: a record is checked without the
/// lock in every run without peers.
static ANY_FOREIGN_ROOT: AtomicBool = AtomicBool::new(false);

/// Leave out, from now on, the names of every process whose root directory
/// is on device `dev` (as `st_dev` numbers it): a peer node's own overlay,
/// registered before the node starts.
pub fn ignore_root_device(dev: u64) {
    if let Ok(mut v) = FOREIGN_ROOT_DEVICES.lock() {
        if !v.contains(&dev) {
            v.push(dev);
        }
        ANY_FOREIGN_ROOT.store(true, Ordering::SeqCst);
    }
}

fn foreign_root_device(dev: u64) -> bool {
    ANY_FOREIGN_ROOT.load(Ordering::Relaxed)
        && FOREIGN_ROOT_DEVICES
            .lock()
            .map(|v| v.contains(&dev))
            .unwrap_or(false)
}

/// The root of a process in another mount namespace, as a path here: the
/// mount of its `/` is a directory `R` of a filesystem (same device) that is
/// mounted here at `M` with root `Q`: the path is `M + (R - Q)`.
fn foreign_root(pid: u32, traced: &[u8]) -> Option<Vec<u8>> {
    let theirs = std::fs::read(format!("/proc/{pid}/mountinfo")).ok()?;
    let (dev, root) = theirs.split(|&b| b == b'\n').find_map(|l| {
        let f: Vec<&[u8]> = l.split(|&b| b == b' ').collect();
        (f.len() > 4 && f[4] == b"/").then(|| (f[2].to_vec(), unescape(f[3])))
    })?;
    let ours = std::fs::read("/proc/self/mountinfo").ok()?;
    let mut best: Option<Vec<u8>> = None;
    for l in ours.split(|&b| b == b'\n') {
        let f: Vec<&[u8]> = l.split(|&b| b == b' ').collect();
        if f.len() <= 4 || f[2] != dev.as_slice() {
            continue;
        }
        let q = unescape(f[3]);
        let m = unescape(f[4]);
        let rest = if q == b"/" {
            Some(&root[..])
        } else {
            root.strip_prefix(q.as_slice())
                .filter(|r| r.is_empty() || r.starts_with(b"/"))
        };
        if let Some(rest) = rest {
            let cand = normalize(&join(&m, rest));
            // the same filesystem mounted here more than once (a booted
            // node's root is bound where its container manager wants it):
            // a place inside the traced root first, then the shortest
            let inside_traced = |p: &[u8]| place(traced, p).is_some();
            let better = match &best {
                None => true,
                Some(b) => match (inside_traced(&cand), inside_traced(b)) {
                    (true, false) => true,
                    (false, true) => false,
                    _ => cand.len() < b.len(),
                },
            };
            if better {
                best = Some(cand);
            }
        }
    }
    best
}

#[derive(Clone, Copy)]
struct Hdr {
    kind: u32,
    nr: u32,
    tgid: u32,
    tid: u32,
    val: i64,
    flags: u64,
    comm: [u8; 16],
    /// (device as user space numbers it, inode) of the root directory
    root: (u64, u64),
    /// and of the working directory
    pwd: (u64, u64),
    /// and of the directory of the descriptor (entry) or opened (exit)
    dir: (u64, u64),
    /// the exit of an open that opened a directory
    opened_dir: bool,
}

/// A kernel-internal `dev_t` (12-bit major, 20-bit minor) as `stat` reports it.
fn user_dev(kdev: u32) -> u64 {
    libc::makedev(kdev >> 20, kdev & 0xfffff)
}

fn parse(rec: &[u8]) -> Option<(Hdr, &[u8])> {
    if rec.len() < HDR_LEN {
        return None;
    }
    let u32at = |o: usize| u32::from_ne_bytes(rec[o..o + 4].try_into().unwrap_or([0; 4]));
    let u64at = |o: usize| u64::from_ne_bytes(rec[o..o + 8].try_into().unwrap_or([0; 8]));
    let len = u32at(32) as usize;
    let path = rec.get(HDR_LEN..HDR_LEN + len).unwrap_or(&[]);
    let path = &path[..path.iter().position(|&b| b == 0).unwrap_or(path.len())];
    Some((
        Hdr {
            kind: u32at(0),
            nr: u32at(4),
            tgid: u32at(8),
            tid: u32at(12),
            val: u64at(16) as i64,
            flags: u64at(24),
            comm: rec[36..52].try_into().unwrap_or([0; 16]),
            root: (user_dev(u32at(72)), u64at(56)),
            pwd: (user_dev(u32at(76)), u64at(64)),
            dir: (user_dev(u32at(88)), u64at(80)),
            opened_dir: u32at(92) != 0,
        },
        path,
    ))
}

/// Which system call tracepoints the name capture uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum NamesVia {
    /// The per-call tracepoints, and the raw ones only for 32-bit programs
    /// (or for everything where the per-call ones cannot be used).
    #[default]
    PerCall,
    /// The raw tracepoints for every call (`--names-raw`).
    Raw,
    /// Test mode: the per-call tracepoints, the last of which is named
    /// wrongly so that the kernel refuses its attachment and the capture
    /// falls back to the raw ones.
    TestRefusedAttach,
}

/// A running name capture.
#[derive(Debug)]
pub struct NameCapture {
    stop: Arc<AtomicBool>,
    sync_req: Arc<AtomicU64>,
    synced: Arc<AtomicU64>,
    handle: JoinHandle<(Vec<Name>, NamesStatus)>,
}

impl NameCapture {
    /// Load and attach the BPF program and start reading; `Err` says why
    /// names cannot be captured here (the run then records them as partial).
    pub fn start(
        root: &Path,
        via: NamesVia,
        harness_mnt_ns: Option<u64>,
        step: Arc<Mutex<Option<String>>>,
        started: Instant,
    ) -> Result<NameCapture, String> {
        // another root: the processes of the namespace kaudit was started
        // in (the host's) are left out in the kernel
        let skip_ns = if root == Path::new("/") {
            0
        } else {
            crate::rootns::started_in().unwrap_or_else(|| mnt_ns_inum("/proc/1/ns/mnt"))
        };
        let loaded = load(skip_ns, harness_mnt_ns.unwrap_or(0) as u32, via)?;
        let stop = Arc::new(AtomicBool::new(false));
        let sync_req = Arc::new(AtomicU64::new(0));
        let synced = Arc::new(AtomicU64::new(0));
        let (s2, r2, d2) = (stop.clone(), sync_req.clone(), synced.clone());
        let root_b = {
            let r = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
            r.as_os_str().as_bytes().to_vec()
        };
        let handle = std::thread::Builder::new()
            .name("kaudit-names".into())
            .spawn(move || read_loop(loaded, root_b, step, started, s2, r2, d2))
            .map_err(|e| format!("cannot start the name reader: {e}"))?;
        Ok(NameCapture {
            stop,
            sync_req,
            synced,
            handle,
        })
    }

    /// Wait (up to `timeout`) until every name recorded before this call is read.
    pub fn sync(&self, timeout: Duration) {
        let want = self.sync_req.fetch_add(1, Ordering::SeqCst) + 1;
        let t = Instant::now();
        while self.synced.load(Ordering::SeqCst) < want && t.elapsed() < timeout {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Stop, drain, and hand back the names.
    pub fn stop(self) -> (Vec<Name>, NamesStatus) {
        self.request_stop();
        self.handle.join().unwrap_or_else(|_| {
            (
                Vec::new(),
                NamesStatus {
                    active: false,
                    problems: vec!["the name reader failed".into()],
                    source: None,
                },
            )
        })
    }

    /// Tell the reader to drain and stop (and the tracepoints to be
    /// detached), without waiting.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

#[cfg(kaudit_bpf)]
type Ring = aya::maps::RingBuf<aya::maps::MapData>;

/// The inode number of a mount namespace (`mnt:[N]`), 0 when unknown.
fn mnt_ns_inum(link: &str) -> u32 {
    read_link(link.into())
        .and_then(|l| {
            let s = String::from_utf8_lossy(&l).into_owned();
            s.strip_prefix("mnt:[")?.strip_suffix(']')?.parse().ok()
        })
        .unwrap_or(0)
}

/// The loaded capture: its ring buffer, the BPF object, and how 64-bit
/// programs' calls are seen.
#[cfg(kaudit_bpf)]
struct Loaded {
    btf: aya::Btf,
    ring: Ring,
    bpf: aya::Ebpf,
    /// The per-call tracepoints serve 64-bit programs; the raw ones are
    /// attached when the first 32-bit program runs.
    per_call: bool,
    /// The raw tracepoints are attached.
    raw_attached: bool,
    /// Why the per-call tracepoints are not used, when they are not.
    why_raw: Option<String>,
    /// The per-call tracepoints' attachments, by program.
    per_call_links: Vec<(&'static str, aya::programs::trace_point::TracePointLinkId)>,
}

/// Where the BPF filesystem is mounted.
const BPFFS: &str = "/sys/fs/bpf";

/// Remove the pins a trace killed while letting go of its attachments left
/// in the BPF filesystem (`kaudit-PID-N` whose kaudit is gone): each keeps a
/// finished run's per-call tracepoints attached, and every system call of
/// the node on their slow path.
fn remove_stale_pins() {
    let Ok(rd) = std::fs::read_dir(BPFFS) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("kaudit-"))
            .and_then(|n| n.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|c| c.trim_end() == "kaudit");
        if !alive && std::fs::remove_file(e.path()).is_ok() {
            eprintln!(
                "kaudit: removed {}, left attached by a trace that was killed",
                e.path().display()
            );
        }
    }
}

/// The per-call tracepoints (`syscalls/sys_enter_NAME`, `sys_exit_NAME`)
/// the capture attaches to: the exit of every call recorded, and the entry
/// of the calls whose names are read at entry. The kernel names `stat` and
/// `lstat` `newstat` and `newlstat`.
fn per_call_tracepoints() -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    for &(nr, call) in CALLS {
        let k = match call {
            "stat" => "newstat",
            "lstat" => "newlstat",
            c => c,
        };
        if matches!(nr, 59 | 80 | 81 | 322) {
            v.push(("names_sys_enter", format!("sys_enter_{k}")));
        }
        v.push(("names_sys_exit", format!("sys_exit_{k}")));
    }
    v
}

/// Why the per-call tracepoints cannot serve this kernel, if they cannot:
/// they need tracefs (for their ids) and miss calls made through the x32
/// ABI, which the raw tracepoints see (and count).
fn per_call_unusable() -> Option<String> {
    let tracefs = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .into_iter()
        .find(|d| Path::new(d).join("events/syscalls").is_dir());
    let Some(tracefs) = tracefs else {
        return Some("tracefs with the syscalls events is not mounted".into());
    };
    for (_, tp) in per_call_tracepoints() {
        if !Path::new(tracefs)
            .join("events/syscalls")
            .join(&tp)
            .join("id")
            .exists()
        {
            return Some(format!("this kernel has no syscalls/{tp} tracepoint"));
        }
    }
    if x32_enabled() {
        return Some(
            "the kernel runs x32 programs, whose calls only the raw tracepoints see".into(),
        );
    }
    None
}

/// Whether the kernel runs x32 programs: `getpid` called through the x32
/// ABI, which fails with ENOSYS when it does not.
#[allow(unsafe_code)]
fn x32_enabled() -> bool {
    // SAFETY: getpid takes no arguments, reads and changes nothing; the
    // raw call is only how its x32 number can be made (no wrapper exists).
    let r = unsafe { libc::syscall(0x4000_0000 | libc::SYS_getpid) };
    r >= 0
}

#[cfg(kaudit_bpf)]
fn load(skip_ns: u32, skip_ns2: u32, via: NamesVia) -> Result<Loaded, String> {
    let unusable = if via == NamesVia::Raw {
        Some("asked for with --names-raw".to_string())
    } else {
        per_call_unusable()
    };
    // the per-call tracepoints where they can serve; else, or when the
    // kernel refuses them, the raw ones, saying why
    let why = match unusable {
        None => match load_as(skip_ns, skip_ns2, true, via == NamesVia::TestRefusedAttach) {
            Ok(l) => return Ok(l),
            Err(e) => e,
        },
        Some(why) => why,
    };
    let mut l = load_as(skip_ns, skip_ns2, false, false)?;
    l.why_raw = Some(why);
    Ok(l)
}

#[cfg(kaudit_bpf)]
fn load_as(
    skip_ns: u32,
    skip_ns2: u32,
    per_call: bool,
    refuse_last: bool,
) -> Result<Loaded, String> {
    use aya::programs::TracePoint;
    let own = std::process::id();
    // not when kaudit itself is still in the host's namespace
    let skip_ns = if skip_ns == mnt_ns_inum("/proc/self/ns/mnt") {
        0
    } else {
        skip_ns
    };
    // the repeat filter keeps an LRU list per CPU: room for each CPU's
    // share, within bounds (about 80 bytes an entry, allocated up front)
    let cpus = aya::util::nr_cpus().unwrap_or(2) as u32;
    let seen = (32768 * cpus).clamp(131_072, 524_288);
    let compat_only = u32::from(per_call);
    // parsed once (about 20 ms here): the loader's relocations and the
    // BTF-typed programs use the same
    let btf = aya::Btf::from_sys_fs().map_err(|e| {
        format!(
            "the kernel has no BTF (/sys/kernel/btf/vmlinux): {}",
            why(&e)
        )
    })?;
    let mut bpf = aya::EbpfLoader::new()
        .btf(Some(&btf))
        .set_max_entries("seen", seen)
        .set_global("own_tgid", &own, true)
        .set_global("skip_mnt_ns", &skip_ns, true)
        .set_global("skip_mnt_ns2", &skip_ns2, true)
        .set_global("nested_pid_ns_only", &u32::from(skip_ns2 != 0), true)
        .set_global("raw_compat_only", &compat_only, true)
        .load(aya::include_bytes_aligned!(concat!(
            env!("OUT_DIR"),
            "/names.bpf.o"
        )))
        .map_err(|e| format!("the kernel refused the BPF name capture: {}", why(&e)))?;
    // with the per-call tracepoints, the raw ones are loaded (verified:
    // the larger part of loading) only once a 32-bit program needs them
    let btf_progs: &[(&str, &str)] = if per_call {
        &[("names_exec32", "sched_process_exec")]
    } else {
        &[("names_enter", "sys_enter"), ("names_exit", "sys_exit")]
    };
    for &(prog, tp) in btf_progs {
        load_btf(&mut bpf, &btf, prog, tp)?;
    }
    let mut links = Vec::new();
    if per_call {
        remove_stale_pins();
        for prog in ["names_sys_enter", "names_sys_exit"] {
            program::<TracePoint>(&mut bpf, prog)?
                .load()
                .map_err(|e| format!("the kernel refused BPF program {prog}: {}", why(&e)))?;
        }
        // the 32-bit watch first: a 32-bit program started from now on is held
        attach_btf(&mut bpf, "names_exec32")?;
        let mut tps = per_call_tracepoints();
        if refuse_last {
            if let Some(last) = tps.last_mut() {
                last.1 = "sys_exit_kaudit_test_refused".into();
            }
        }
        for (prog, tp) in tps {
            let id = program::<TracePoint>(&mut bpf, prog)?
                .attach("syscalls", &tp)
                .map_err(|e| format!("attaching {prog} to syscalls/{tp} failed: {}", why(&e)))?;
            links.push((prog, id));
        }
    }
    let mut l = Loaded {
        btf,
        ring: aya::maps::RingBuf::try_from(
            bpf.take_map("names")
                .ok_or_else(|| "BPF map names missing".to_string())?,
        )
        .map_err(|e| format!("BPF ring buffer: {}", why(&e)))?,
        bpf,
        per_call,
        raw_attached: false,
        why_raw: None,
        per_call_links: links,
    };
    // every call through the raw tracepoints; or, with the per-call ones,
    // the 32-bit programs' calls when one is running already
    if !per_call || thirty_two_bit_running() {
        l.attach_raw()?;
    }
    Ok(l)
}

/// An error and its causes (aya's errors name a file, their source says
/// what went wrong with it).
#[cfg(kaudit_bpf)]
fn why(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Program `prog` of the object, as its kind `T`.
#[cfg(kaudit_bpf)]
fn program<'a, T>(bpf: &'a mut aya::Ebpf, prog: &str) -> Result<&'a mut T, String>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    bpf.program_mut(prog)
        .ok_or_else(|| format!("BPF program {prog} missing"))?
        .try_into()
        .map_err(|e| format!("BPF program {prog}: {}", why(&e)))
}

#[cfg(kaudit_bpf)]
fn load_btf(bpf: &mut aya::Ebpf, btf: &aya::Btf, prog: &str, tp: &str) -> Result<(), String> {
    program::<aya::programs::BtfTracePoint>(bpf, prog)?
        .load(tp, btf)
        .map_err(|e| format!("the kernel refused BPF program {prog}: {}", why(&e)))
}

#[cfg(kaudit_bpf)]
fn attach_btf(bpf: &mut aya::Ebpf, prog: &str) -> Result<(), String> {
    program::<aya::programs::BtfTracePoint>(bpf, prog)?
        .attach()
        .map_err(|e| format!("attaching {prog} failed: {}", why(&e)))?;
    Ok(())
}

#[cfg(kaudit_bpf)]
impl Loaded {
    /// Detach the per-call tracepoints without waiting for the kernel,
    /// which waits for a grace period at each (tens of milliseconds), one
    /// after the other. The programs are told the run is over (they return
    /// at once from then on); each attachment is pinned in the BPF
    /// filesystem and unpinned again, so that its last reference is the
    /// pin's, which the kernel lets go of on a worker of its own. An
    /// attachment that cannot be pinned (no BPF filesystem) is closed here,
    /// and the end of the run waits for the kernel.
    fn detach_per_call(&mut self) {
        if let Some(m) = self.bpf.map_mut("state") {
            if let Ok(mut a) = aya::maps::Array::<_, u32>::try_from(m) {
                let _ = a.set(1, 1, 0);
            }
        }
        for (i, (prog, id)) in std::mem::take(&mut self.per_call_links)
            .into_iter()
            .enumerate()
        {
            let p = program::<aya::programs::TracePoint>(&mut self.bpf, prog);
            let Some(link) = p.ok().and_then(|p| p.take_link(id).ok()) else {
                continue;
            };
            let Ok(fd_link) = aya::programs::links::FdLink::try_from(link) else {
                continue;
            };
            let pin = Path::new(BPFFS).join(format!("kaudit-{}-{i}", std::process::id()));
            // (a link that cannot be pinned is closed here, and waited for)
            if let Ok(pinned) = fd_link.pin(&pin) {
                // our descriptor is closed (the pin still holds the link),
                // then the pin goes
                drop(pinned);
                if let Err(e) = std::fs::remove_file(&pin).or_else(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        Ok(())
                    } else {
                        Err(e)
                    }
                }) {
                    eprintln!(
                        "kaudit: cannot remove {} ({e}): remove it to detach the name capture",
                        pin.display()
                    );
                }
            }
        }
    }

    /// Attach the raw tracepoints (once) and tell the kernel side that
    /// 32-bit programs need no holding any more.
    fn attach_raw(&mut self) -> Result<(), String> {
        if self.raw_attached {
            return Ok(());
        }
        if self.per_call {
            load_btf(&mut self.bpf, &self.btf, "names_enter", "sys_enter")?;
            load_btf(&mut self.bpf, &self.btf, "names_exit", "sys_exit")?;
        }
        attach_btf(&mut self.bpf, "names_enter")?;
        attach_btf(&mut self.bpf, "names_exit")?;
        self.raw_attached = true;
        let m = self
            .bpf
            .map_mut("state")
            .ok_or_else(|| "BPF map state missing".to_string())?;
        let mut a = aya::maps::Array::<_, u32>::try_from(m).map_err(|e| e.to_string())?;
        a.set(0, 1, 0).map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// Whether a 32-bit program is running now (its executable's ELF class):
/// its calls need the raw tracepoints from the start.
fn thirty_two_bit_running() -> bool {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return false;
    };
    rd.flatten().any(|e| {
        let name = e.file_name();
        if name.to_str().and_then(|n| n.parse::<u32>().ok()).is_none() {
            return false;
        }
        let mut head = [0u8; 5];
        std::fs::File::open(e.path().join("exe"))
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
            .is_ok_and(|()| head[..4] == *b"\x7fELF" && head[4] == 1)
    })
}

#[cfg(not(kaudit_bpf))]
struct Loaded;

#[cfg(not(kaudit_bpf))]
fn load(_skip_ns: u32, _skip_ns2: u32, _via: NamesVia) -> Result<Loaded, String> {
    Err("this kaudit was built without the BPF name capture (clang was missing)".into())
}

#[cfg(kaudit_bpf)]
/// Counter `i` of the `dropped` map: 0, records that did not fit in the
/// ring buffer; 1, calls made through the x32 ABI (not read). Calls made
/// in 32-bit mode (ia32) are read, as the 64-bit call of the same meaning.
fn dropped(bpf: &aya::Ebpf, i: u32) -> u64 {
    let Some(m) = bpf.map("dropped") else {
        return 0;
    };
    let Ok(a) = aya::maps::PerCpuArray::<_, u64>::try_from(m) else {
        return 0;
    };
    a.get(&i, 0).map(|v| v.iter().sum()).unwrap_or(0)
}

#[cfg(kaudit_bpf)]
#[allow(clippy::too_many_arguments)]
fn read_loop(
    mut cap: Loaded,
    root: Vec<u8>,
    step: Arc<Mutex<Option<String>>>,
    started: Instant,
    stop: Arc<AtomicBool>,
    sync_req: Arc<AtomicU64>,
    synced: Arc<AtomicU64>,
) -> (Vec<Name>, NamesStatus) {
    let mut j = Joiner {
        root,
        own_ns: read_link("/proc/self/ns/mnt".into()),
        pending: HashMap::new(),
        roots: HashMap::new(),
        cwds: HashMap::new(),
        dirs: HashMap::new(),
        names: HashMap::new(),
        out: Vec::new(),
        started,
        unresolved: 0,
        unresolved_examples: Vec::new(),
    };
    j.prime();
    j.know_root();
    let mut problems: Vec<String> = Vec::new();
    let mut thirty_two: Option<String> = None;
    let mut detached = false;
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        if stopping && !detached {
            // the run is over: what is still queued is drained below
            cap.detach_per_call();
            detached = true;
        }
        let requested = sync_req.load(Ordering::SeqCst);
        let cur = step.lock().expect("step").clone();
        let mut n = 0usize;
        let mut held = Vec::new();
        while let Some(item) = cap.ring.next() {
            n += 1;
            if let Some((h, path)) = parse(&item) {
                match h.kind {
                    KIND_ENTER => j.enter(&h, path),
                    KIND_EXIT => j.exit(&h, cur.clone()),
                    KIND_EXEC32 => {
                        // its execve's exit was not seen (it returned in
                        // 32-bit mode, before the raw tracepoints were on):
                        // the program started, so the call succeeded
                        let exit = Hdr {
                            kind: KIND_EXIT,
                            val: 0,
                            ..h
                        };
                        if let Some(p) = j.pending.get(&h.tid) {
                            let nr = p.nr;
                            j.exit(&Hdr { nr, ..exit }, cur.clone());
                        }
                        held.push(h);
                    }
                    _ => {}
                }
            }
        }
        for h in held {
            thirty_two.get_or_insert_with(|| {
                let comm = String::from_utf8_lossy(&h.comm);
                format!("{}[{}]", comm.trim_end_matches('\0'), h.tgid)
            });
            if let Err(e) = cap.attach_raw() {
                problems.push(format!("the 32-bit programs' calls cannot be seen: {e}"));
            }
            if h.val == 0 {
                // held before its first instruction: it goes on now
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(h.tgid as i32),
                    nix::sys::signal::Signal::SIGCONT,
                );
            } else {
                problems.push(format!(
                    "32-bit program {}[{}] could not be held until its calls were seen (error {}): its first names may be missing",
                    String::from_utf8_lossy(&h.comm).trim_end_matches('\0'),
                    h.tgid,
                    h.val
                ));
            }
        }
        // the ring was emptied: every name before the request is read
        synced.store(requested, Ordering::SeqCst);
        if n == 0 {
            if stopping {
                break;
            }
            // aya's ring buffer offers no borrowed descriptor to poll on:
            // an idle reader looks again every 2 ms
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let source = if cap.per_call {
        match (&thirty_two, cap.raw_attached) {
            (Some(first), _) => format!("the per-call system call tracepoints; the raw ones for 32-bit programs from the first, {first}"),
            (None, true) => "the per-call system call tracepoints; the raw ones for 32-bit programs (one was running at the start)".to_string(),
            (None, false) => "the per-call system call tracepoints".to_string(),
        }
    } else {
        format!(
            "the raw system call tracepoints ({})",
            cap.why_raw
                .as_deref()
                .unwrap_or("per-call tracepoints not tried")
        )
    };
    let mut status = NamesStatus {
        active: true,
        problems,
        source: Some(source),
    };
    let bpf = cap.bpf;
    let d = dropped(&bpf, 0);
    if d > 0 {
        status
            .problems
            .push(format!("{d} name record(s) did not fit in the ring buffer"));
    }
    let c = dropped(&bpf, 1);
    if c > 0 {
        status.problems.push(format!(
            "{c} system call(s) made through the x32 ABI were not read (x32 programs' names are not captured)"
        ));
    }
    if j.unresolved > 0 {
        status.problems.push(format!(
            "{} relative name(s) could not be placed (the process or its directory was gone), e.g. {}",
            j.unresolved,
            j.unresolved_examples.join(", ")
        ));
    }
    drop(bpf);
    (j.out, status)
}

#[cfg(not(kaudit_bpf))]
#[allow(clippy::too_many_arguments)]
fn read_loop(
    _cap: Loaded,
    _root: Vec<u8>,
    _step: Arc<Mutex<Option<String>>>,
    _started: Instant,
    _stop: Arc<AtomicBool>,
    _sync_req: Arc<AtomicU64>,
    _synced: Arc<AtomicU64>,
) -> (Vec<Name>, NamesStatus) {
    (Vec::new(), NamesStatus::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_placed_and_normalised() {
        assert_eq!(normalize(b"/a//b/./c/"), b"/a/b/c");
        assert_eq!(normalize(b"/a/../b"), b"/a/../b");
        assert_eq!(join(b"/", b"x"), b"/x");
        assert_eq!(join(b"/a", b"x"), b"/a/x");
        assert_eq!(errno_name(0), "ok");
        assert_eq!(errno_name(-2), "ENOENT");
        assert_eq!(call_name(257), Some("openat"));
    }
}

/// The fallback when the BPF capture cannot run: exec names only, read from
/// `/proc` once the `execve` that fanotify reported has completed — argv[0],
/// found through the process's own `PATH` when it has no slash. It cannot
/// see failed probes, nor the names of files opened, so names stay partial.
#[derive(Debug, Default)]
pub struct ExecNames {
    root: Vec<u8>,
    pending: Vec<PendingExec>,
    out: Vec<Name>,
    seen: HashMap<Vec<u8>, usize>,
    /// Executions whose process was gone before it could be read.
    pub gone: u64,
    last_poll: Option<Instant>,
}

#[derive(Debug)]
struct PendingExec {
    pid: i32,
    exe: Vec<u8>,
    step: Option<String>,
    first_ms: u64,
    since: Instant,
}

impl ExecNames {
    /// For a trace of `root` (a path here).
    pub fn new(root: &Path) -> ExecNames {
        ExecNames {
            root: root.as_os_str().as_bytes().to_vec(),
            ..ExecNames::default()
        }
    }

    /// fanotify saw `pid` execute `exe` (a path here).
    pub fn exec(&mut self, pid: i32, exe: Vec<u8>, step: Option<String>, first_ms: u64) {
        self.pending.push(PendingExec {
            pid,
            exe,
            step,
            first_ms,
            since: Instant::now(),
        });
    }

    /// Read what can be read now: the executions that have completed.
    pub fn poll(&mut self) {
        if self
            .last_poll
            .is_some_and(|t| t.elapsed() < Duration::from_millis(5))
        {
            return;
        }
        self.last_poll = Some(Instant::now());
        let pending = std::mem::take(&mut self.pending);
        for p in pending {
            let waited = p.since.elapsed() >= Duration::from_secs(2);
            match read_link(format!("/proc/{}/exe", p.pid)) {
                Some(e) if e == p.exe => {
                    // done when the new program's arguments are in place
                    if !self.resolve(&p) && !waited {
                        self.pending.push(p);
                    }
                }
                // not (yet) this program: still in execve, or this was the
                // program's interpreter (ld.so is opened for execution too),
                // or the process ran something else since
                Some(_) if !waited => self.pending.push(p),
                Some(_) => {}
                None if !waited && Path::new(&format!("/proc/{}", p.pid)).exists() => {
                    self.pending.push(p)
                }
                None => self.gone += 1,
            }
        }
    }

    /// Record the name `p` was executed by; false when its arguments are not
    /// in place yet (the exec is still setting up the new program).
    fn resolve(&mut self, p: &PendingExec) -> bool {
        let Ok(cmdline) = std::fs::read(format!("/proc/{}/cmdline", p.pid)) else {
            return false;
        };
        if cmdline.is_empty() {
            return false;
        }
        let argv0 = cmdline
            .split(|&b| b == 0)
            .next()
            .unwrap_or_default()
            .to_vec();
        let proc_root = read_link(format!("/proc/{}/root", p.pid)).unwrap_or_else(|| b"/".to_vec());
        let under_root = |name: &[u8]| path_here_of(&proc_root, name);
        let host = if argv0.starts_with(b"/") {
            Some(under_root(&argv0))
        } else if argv0.contains(&b'/') {
            read_link(format!("/proc/{}/cwd", p.pid)).map(|c| join(&c, &argv0))
        } else if !argv0.is_empty() {
            let env = std::fs::read(format!("/proc/{}/environ", p.pid)).unwrap_or_default();
            let path = env
                .split(|&b| b == 0)
                .find_map(|kv| kv.strip_prefix(b"PATH="))
                .unwrap_or(b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
                .to_vec();
            path.split(|&b| b == b':')
                .filter(|d| d.starts_with(b"/"))
                .map(|d| under_root(&join(d, &argv0)))
                .find(|c| std::fs::symlink_metadata(std::ffi::OsStr::from_bytes(c)).is_ok())
        } else {
            None
        };
        // a name not found (argv[0] is the program's to choose): nothing
        let Some(host) = host else { return true };
        let Some(path) = place(&self.root, &host) else {
            return true;
        };
        if let Some(&i) = self.seen.get(&path) {
            self.out[i].count += 1;
            return true;
        }
        let comm = std::fs::read_to_string(format!("/proc/{}/comm", p.pid))
            .map(|c| c.trim_end().to_string())
            .unwrap_or_else(|_| "exited".into());
        self.seen.insert(path.clone(), self.out.len());
        self.out.push(Name {
            path,
            call: "execve".into(),
            result: "ok".into(),
            nofollow: false,
            pid: p.pid,
            comm,
            step: p.step.clone(),
            count: 1,
            first_ms: p.first_ms,
        });
        true
    }

    /// What was found, after a last look.
    pub fn finish(mut self) -> (Vec<Name>, u64) {
        self.last_poll = None;
        self.poll();
        let left = self
            .pending
            .iter()
            .filter(|p| read_link(format!("/proc/{}/exe", p.pid)).is_none())
            .count();
        (self.out, self.gone + left as u64)
    }
}
