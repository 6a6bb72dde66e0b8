//! Records into names: each system call's entry joined with its exit by
//! thread; relative names placed under the working directory or the
//! directory descriptor's path; every name mapped into the traced root
//! through the process's own root (in another mount namespace, through
//! the mount its root is on); the processes of peer nodes left out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use super::{read_link, Name, CALLS};
use crate::fan::unescape;
use crate::run::inside;

pub(super) const KIND_ENTER: u32 = 1;
pub(super) const KIND_EXIT: u32 = 2;
/// A 32-bit program started (`val`: 0 when it was held with SIGSTOP).
pub(super) const KIND_EXEC32: u32 = 3;
const HDR_LEN: usize = 96;
const AT_FDCWD: i64 = -100;
const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
const O_NOFOLLOW: u64 = 0o400000;

pub(super) struct Pending {
    pub(super) nr: u32,
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

pub(super) struct Joiner {
    root: Vec<u8>,
    /// the tracer's own mount namespace (`/proc/self/ns/mnt`), read once
    own_ns: Option<Vec<u8>>,
    pub(super) pending: HashMap<u32, Pending>,
    /// root directory (device, inode) → its path here
    roots: HashMap<(u64, u64), Vec<u8>>,
    /// working directory (device, inode) → its path here
    cwds: HashMap<(u64, u64), Vec<u8>>,
    /// directory opened by name (device, inode) → that name, here
    dirs: HashMap<(u64, u64), Vec<u8>>,
    /// (path, call, result) → index in `out`
    names: HashMap<(Vec<u8>, u32, i64), usize>,
    pub(super) out: Vec<Name>,
    started: Instant,
    pub(super) unresolved: u64,
    /// A few of them, for the run's report.
    pub(super) unresolved_examples: Vec<String>,
}

pub(super) fn call_name(nr: u32) -> Option<&'static str> {
    CALLS.iter().find(|(n, _)| *n == nr).map(|(_, s)| *s)
}

pub(super) fn errno_name(ret: i64) -> String {
    if ret >= 0 {
        return "ok".into();
    }
    let e = nix::errno::Errno::from_raw((-ret) as i32);
    format!("{e:?}")
}

/// `base/rel`, with `.` and `..` taken lexically (a name's own `..` hops are
/// the walker's business; this only places it).
pub(super) fn join(base: &[u8], rel: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    if !out.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(rel);
    out
}

impl Joiner {
    /// A joiner for a trace of `root` (a path here) started at `started`.
    pub(super) fn new(root: Vec<u8>, started: Instant) -> Joiner {
        Joiner {
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
        }
    }

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
    pub(super) fn know_root(&mut self) {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::MetadataExt;
        let path = std::path::Path::new(std::ffi::OsStr::from_bytes(&self.root));
        if let Ok(st) = std::fs::metadata(path) {
            self.roots
                .entry((st.dev(), st.ino()))
                .or_insert_with(|| self.root.clone());
        }
    }

    pub(super) fn prime(&mut self) {
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

    pub(super) fn enter(&mut self, h: &Hdr, path: &[u8]) {
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

    pub(super) fn exit(&mut self, h: &Hdr, step: Option<String>) {
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
pub(super) fn place(root: &[u8], host: &[u8]) -> Option<Vec<u8>> {
    let host = normalize(host);
    if root == b"/" {
        Some(host)
    } else {
        inside(root, &host)
    }
}

/// A path inside the traced root as a path here (the tracer's view).
pub(super) fn path_here_of(root: &[u8], inner: &[u8]) -> Vec<u8> {
    if root == b"/" {
        inner.to_vec()
    } else {
        join(root, inner.strip_prefix(b"/").unwrap_or(inner))
    }
}

/// Remove `.` components and doubled slashes (not `..`: its meaning depends
/// on symlinks, which the walker resolves).
pub(super) fn normalize(p: &[u8]) -> Vec<u8> {
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

pub(super) fn foreign_root_device(dev: u64) -> bool {
    ANY_FOREIGN_ROOT.load(Ordering::Relaxed)
        && FOREIGN_ROOT_DEVICES
            .lock()
            .map(|v| v.contains(&dev))
            .unwrap_or(false)
}

/// The root of a process in another mount namespace, as a path here: the
/// mount of its `/` is a directory `R` of a filesystem (same device) that is
/// mounted here at `M` with root `Q`: the path is `M + (R - Q)`.
pub(super) fn foreign_root(pid: u32, traced: &[u8]) -> Option<Vec<u8>> {
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
pub(super) struct Hdr {
    pub(super) kind: u32,
    pub(super) nr: u32,
    pub(super) tgid: u32,
    pub(super) tid: u32,
    pub(super) val: i64,
    pub(super) flags: u64,
    pub(super) comm: [u8; 16],
    /// (device as user space numbers it, inode) of the root directory
    pub(super) root: (u64, u64),
    /// and of the working directory
    pub(super) pwd: (u64, u64),
    /// and of the directory of the descriptor (entry) or opened (exit)
    pub(super) dir: (u64, u64),
    /// the exit of an open that opened a directory
    pub(super) opened_dir: bool,
}

/// A kernel-internal `dev_t` (12-bit major, 20-bit minor) as `stat` reports it.
pub(super) fn user_dev(kdev: u32) -> u64 {
    libc::makedev(kdev >> 20, kdev & 0xfffff)
}

pub(super) fn parse(rec: &[u8]) -> Option<(Hdr, &[u8])> {
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
