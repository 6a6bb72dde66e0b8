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
//!
//! `join` makes names of the records, `bpf` loads and attaches the
//! program, `read` reads its ring buffer; `exec` is the fallback when the
//! program cannot run: exec names from `/proc`.

#[cfg(kaudit_bpf)]
mod bpf;
mod exec;
// without the program, only the exec fallback places names
#[cfg_attr(not(kaudit_bpf), allow(dead_code))]
mod join;
#[cfg(kaudit_bpf)]
mod read;
#[cfg(not(kaudit_bpf))]
mod without_bpf;

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[cfg(kaudit_bpf)]
use bpf::load;
pub use exec::ExecNames;
pub use join::ignore_root_device;
#[cfg(kaudit_bpf)]
use read::read_loop;
#[cfg(not(kaudit_bpf))]
use without_bpf::{load, read_loop};

/// The system calls recorded, by x86-64 number.
#[cfg_attr(not(kaudit_bpf), allow(dead_code))]
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
    /// What the capture has to say besides, lost nothing (a pin a killed
    /// trace left, removed): one line each, for standard error, without
    /// the program's name.
    pub notes: Vec<String>,
}

/// Why names cannot be captured here, and what the attempt had to say.
#[derive(Debug, Clone)]
pub struct Refused {
    /// Why (the run records its names as partial, for this reason).
    pub why: String,
    /// As [`NamesStatus::notes`].
    pub notes: Vec<String>,
}

impl From<String> for Refused {
    fn from(why: String) -> Refused {
        Refused {
            why,
            notes: Vec::new(),
        }
    }
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
    /// What there is to say besides comes back in [`NamesStatus::notes`]
    /// (or [`Refused::notes`]).
    pub fn start(
        root: &Path,
        via: NamesVia,
        harness_mnt_ns: Option<u64>,
        step: Arc<Mutex<Option<String>>>,
        started: Instant,
    ) -> Result<NameCapture, Refused> {
        // another root: the processes of the namespace kaudit was started
        // in (the host's) are left out in the kernel
        let skip_ns = if root == Path::new("/") {
            0
        } else {
            crate::rootns::started_in().unwrap_or_else(|| mnt_ns_inum("/proc/1/ns/mnt"))
        };
        let mut notes = Vec::new();
        let loaded =
            load(skip_ns, harness_mnt_ns.unwrap_or(0) as u32, via, &mut notes).map_err(|why| {
                Refused {
                    why,
                    notes: notes.clone(),
                }
            })?;
        let stop = Arc::new(AtomicBool::new(false));
        let sync_req = Arc::new(AtomicU64::new(0));
        let synced = Arc::new(AtomicU64::new(0));
        let (s2, r2, d2) = (stop.clone(), sync_req.clone(), synced.clone());
        let root_b = {
            let r = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
            r.as_os_str().as_bytes().to_vec()
        };
        let said = notes.clone();
        let handle = std::thread::Builder::new()
            .name("kaudit-names".into())
            .spawn(move || read_loop(loaded, notes, root_b, step, started, s2, r2, d2))
            .map_err(|e| Refused {
                why: format!("cannot start the name reader: {e}"),
                notes: said,
            })?;
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
                    notes: Vec::new(),
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

/// The target of a symbolic link (of `/proc`), as bytes.
pub(super) fn read_link(p: String) -> Option<Vec<u8>> {
    std::fs::read_link(p)
        .ok()
        .map(|p| p.as_os_str().as_bytes().to_vec())
}

/// The inode number of a mount namespace (`mnt:[N]`), 0 when unknown.
pub(super) fn mnt_ns_inum(link: &str) -> u32 {
    read_link(link.into())
        .and_then(|l| {
            let s = String::from_utf8_lossy(&l).into_owned();
            s.strip_prefix("mnt:[")?.strip_suffix(']')?.parse().ok()
        })
        .unwrap_or(0)
}
