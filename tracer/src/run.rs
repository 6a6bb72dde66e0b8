//! Starting, stepping and stopping a trace.
//!
//! [`Tracer::start`] creates the fanotify group, marks every filesystem of
//! the traced root, records what running processes already use, and reads
//! events on a thread of its own until [`Tracer::stop`], which drains what
//! is still queued. Events of the tracer's own process are not recorded.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::fan::{EventSink, Group, MarkReport, RawEvent};
use crate::names::{ExecNames, Name, NameCapture, NamesStatus, NamesVia, Refused};
use crate::procinfo::ProcCache;
use crate::record::{Access, AccessKind, Recorder};

/// Receives batches of new accesses while a trace runs, and says whether
/// it stored them. A batch that was not stored is handed again, with what
/// came since, at the next flush.
pub type Flush = Box<dyn FnMut(&[Access]) -> bool + Send>;

/// How often new accesses are handed to the flush callback.
pub const FLUSH_EVERY: Duration = Duration::from_secs(2);

/// How to trace.
#[derive(Debug, Clone)]
pub struct TraceOptions {
    /// The root whose filesystems are watched (`/` for the whole node).
    pub root: PathBuf,
    /// Keep every event's count exact (no kernel-side suppression of files
    /// already recorded). Costs more events.
    pub all_events: bool,
    /// Test mode: keep the kernel's bounded queue (so it can overflow).
    pub bounded_queue: bool,
    /// Test mode: wait this long before reading events.
    pub reader_delay: Duration,
    /// Record files in use by already running processes.
    pub in_use_at_start: bool,
    /// Use a FID-reporting group where the filesystem supports it (cheaper,
    /// and reports creations, deletions and renames); else fd events only.
    pub file_handles: bool,
    /// Record the names programs ask for (BPF, see [`crate::names`]).
    pub names: bool,
    /// Which system call tracepoints the name capture uses.
    pub names_via: NamesVia,
    /// A booted node: the processes of this mount namespace (its inode
    /// number), and every process of the host's PID namespace, are not the
    /// workload: the harness (the container manager, the DHCP server, the
    /// commands entering the node) runs there, while the node runs in
    /// namespaces of its own.
    pub harness_mnt_ns: Option<u64>,
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions {
            root: PathBuf::from("/"),
            all_events: false,
            bounded_queue: false,
            reader_delay: Duration::ZERO,
            in_use_at_start: true,
            file_handles: true,
            names: true,
            names_via: NamesVia::PerCall,
            harness_mnt_ns: None,
        }
    }
}

/// Errors that stop a trace from starting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// `fanotify_init` failed.
    #[error("cannot create a fanotify group: {0} (tracing needs root: CAP_SYS_ADMIN)")]
    Init(nix::Error),
    /// No filesystem could be marked.
    #[error("no filesystem under {0} could be watched")]
    NoMarks(PathBuf),
    /// The reader thread could not be started.
    #[error("cannot start the event reader: {0}")]
    Thread(std::io::Error),
}

/// What a trace recorded.
#[derive(Debug)]
pub struct TraceResult {
    /// Each (file, kind) once, in the order first seen.
    pub accesses: Vec<Access>,
    /// Events read.
    pub events: u64,
    /// Why events may be missing (queue overflow, read errors); empty when none.
    pub lost: Vec<String>,
    /// Events in directories deleted before they could be named (not lost:
    /// such files cannot be part of an image).
    pub unnamed: u64,
    /// What was watched.
    pub marks: Vec<MarkReport>,
    /// How long the trace ran.
    pub elapsed: Duration,
    /// The names asked for (empty when not captured).
    pub names: Vec<Name>,
    /// Whether names were captured, and what is missing.
    pub names_status: NamesStatus,
    /// The first `stored.len()` accesses were stored by the flush callback
    /// while the trace ran, each with the count it had then: only those
    /// whose count grew since need their count stored again.
    pub stored: Vec<u64>,
}

impl TraceResult {
    /// Whether no event can have been lost.
    pub fn complete(&self) -> bool {
        self.lost.is_empty()
    }
}

/// What the event reader hands back: the recorder, why events may be
/// missing, the unnamed events, the /proc exec names (when BPF could not
/// run), and the counts of the accesses stored while it ran.
type ReaderEnd = (Recorder, Vec<String>, u64, Option<ExecNames>, Vec<u64>);

/// A running trace.
#[derive(Debug)]
pub struct Tracer {
    stop: Arc<AtomicBool>,
    /// bumped by `sync`; the reader echoes it into `synced` once the queue is empty
    sync_req: Arc<std::sync::atomic::AtomicU64>,
    synced: Arc<std::sync::atomic::AtomicU64>,
    step: Arc<Mutex<Option<String>>>,
    /// written by `sync` and `stop`: the reader, waiting in `poll`, wakes at once
    wake: Arc<std::os::fd::OwnedFd>,
    handle: JoinHandle<ReaderEnd>,
    marks: Vec<MarkReport>,
    started: Instant,
    names: Result<NameCapture, Refused>,
}

impl Tracer {
    /// Start tracing.
    pub fn start(opts: TraceOptions) -> Result<Tracer, TraceError> {
        Tracer::start_with_flush(opts, Box::new(|_: &[Access]| false))
    }

    /// Start tracing; every [`FLUSH_EVERY`] the accesses recorded since the
    /// last stored batch are handed to `flush` (on the reader's thread), so
    /// a tracer that is killed leaves what it had recorded until then.
    /// Counts of accesses already handed over keep growing; [`Tracer::stop`]
    /// returns every access with its final count, and which were stored
    /// with what count ([`TraceResult::stored`]).
    pub fn start_with_flush(opts: TraceOptions, flush: Flush) -> Result<Tracer, TraceError> {
        let started = Instant::now();
        let mut group =
            Group::new(opts.bounded_queue, opts.file_handles).map_err(TraceError::Init)?;
        group.mark_filesystems(&opts.root);
        if !group.marks.iter().any(|m| !m.how.starts_with("failed")) {
            return Err(TraceError::NoMarks(opts.root.clone()));
        }
        let marks = group.marks.clone();
        let own_pid = std::process::id() as i32;
        let mut procs = ProcCache::default();
        let mut rec = Recorder::default();
        if opts.in_use_at_start {
            use std::os::unix::ffi::OsStrExt;
            let root_b = opts.root.as_os_str().as_bytes().to_vec();
            for mut a in crate::inuse::scan(own_pid, &mut procs) {
                if root_b != b"/" {
                    match inside(&root_b, &a.path) {
                        Some(p) => a.path = p,
                        None => continue,
                    }
                }
                rec.record(a);
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let step: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let names = if opts.names {
            NameCapture::start(
                &opts.root,
                opts.names_via,
                opts.harness_mnt_ns,
                step.clone(),
                started,
            )
        } else {
            Err(Refused::from(
                "name capture was turned off (--no-names)".to_string(),
            ))
        };
        let sync_req = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let synced = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (stop2, step2) = (stop.clone(), step.clone());
        let sync = (sync_req.clone(), synced.clone());
        let wake = Arc::new(
            rustix::event::eventfd(
                0,
                rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
            )
            .map_err(|e| TraceError::Thread(e.into()))?,
        );
        let wake2 = wake.clone();
        // the kernel refused the BPF capture: exec names from /proc instead
        let exec_fallback = opts.names && names.is_err();
        let handle = std::thread::Builder::new()
            .name("kaudit-fanotify".into())
            .spawn(move || {
                reader(
                    group,
                    rec,
                    procs,
                    opts,
                    own_pid,
                    stop2,
                    step2,
                    started,
                    sync,
                    &wake2,
                    flush,
                    exec_fallback,
                )
            })
            .map_err(TraceError::Thread)?;
        Ok(Tracer {
            stop,
            sync_req,
            synced,
            step,
            wake,
            handle,
            marks,
            started,
            names,
        })
    }

    /// What is watched.
    pub fn marks(&self) -> &[MarkReport] {
        &self.marks
    }

    /// Wait (up to `timeout`) until every event queued before this call has
    /// been read. Call it before reaping a process that exited, so its
    /// events are attributed while `/proc/PID` still exists.
    pub fn sync(&self, timeout: Duration) {
        let want = self.sync_req.fetch_add(1, Ordering::SeqCst) + 1;
        self.wake_reader();
        let t = Instant::now();
        while self.synced.load(Ordering::SeqCst) < want && t.elapsed() < timeout {
            std::thread::sleep(Duration::from_millis(1));
        }
        if let Ok(n) = &self.names {
            n.sync(timeout.saturating_sub(t.elapsed()));
        }
    }

    /// Attribute what follows to step `name`.
    pub fn set_step(&self, name: &str) {
        *self.step.lock().expect("step") = Some(name.to_string());
    }

    /// Wake the reader if it waits for events (it then sees a new sync
    /// request or the stop).
    fn wake_reader(&self) {
        let _ = rustix::io::write(&*self.wake, &1u64.to_ne_bytes());
    }

    /// Stop, drain the queue, and hand back what was recorded.
    pub fn stop(self) -> TraceResult {
        self.stop.store(true, Ordering::SeqCst);
        self.wake_reader();
        if let Ok(n) = &self.names {
            n.request_stop();
        }
        let (rec, lost, unnamed, exec_names, stored) = match self.handle.join() {
            Ok(r) => r,
            Err(_) => (
                Recorder::default(),
                vec!["the event reader failed; nothing was recorded".into()],
                0,
                None,
                Vec::new(),
            ),
        };
        let (names, names_status) = match (self.names, exec_names) {
            (Ok(n), _) => n.stop(),
            (Err(refused), Some(x)) => {
                let (names, gone) = x.finish();
                let mut problems = vec![
                    refused.why,
                    "exec names only, from /proc (argv[0] through PATH); no failed probes".into(),
                ];
                if gone > 0 {
                    problems.push(format!(
                        "{gone} execution(s) whose process was gone before it could be read"
                    ));
                }
                (
                    names,
                    NamesStatus {
                        active: false,
                        problems,
                        source: Some("/proc, at each execution fanotify reported".into()),
                        notes: refused.notes,
                    },
                )
            }
            (Err(refused), None) => (
                Vec::new(),
                NamesStatus {
                    active: false,
                    problems: vec![refused.why],
                    source: None,
                    notes: refused.notes,
                },
            ),
        };
        TraceResult {
            events: rec.events(),
            accesses: rec.into_accesses(),
            lost,
            unnamed,
            marks: self.marks,
            elapsed: self.started.elapsed(),
            names,
            names_status,
            stored,
        }
    }
}

struct Sink<'a> {
    /// the traced root (not `/`): paths are recorded inside it, others dropped
    prefix: Option<Vec<u8>>,
    rec: &'a mut Recorder,
    procs: &'a mut ProcCache,
    lost: Vec<String>,
    overflows: u64,
    unnamed: u64,
    step: Option<Arc<str>>,
    started: Instant,
    suppress: bool,
    /// exec names from /proc, when the BPF name capture cannot run
    exec_names: Option<ExecNames>,
    /// the harness's mount namespace, whose processes are not recorded
    harness_mnt_ns: Option<u64>,
}

/// Whether a process lives in the host's PID namespace only (not in a
/// booted node's: its `NSpid` has one number).
fn in_host_pid_ns(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .map(|l| l.split_whitespace().count() == 1)
        })
        .unwrap_or(false)
}

/// The mount namespace (inode number) of a process, if it is still there.
fn mnt_ns_of(pid: i32) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}/ns/mnt"))
        .ok()
        .map(|m| m.ino())
}

impl EventSink for Sink<'_> {
    fn event(&mut self, ev: RawEvent) -> bool {
        match ev {
            RawEvent::Overflow => {
                self.overflows += 1;
                false
            }
            RawEvent::Unnamed { .. } => {
                self.unnamed += 1;
                false
            }
            RawEvent::NoFd { pid } => {
                self.lost
                    .push(format!("an event of pid {pid} came without a file"));
                false
            }
            RawEvent::File { pid, path, kinds } => {
                if let Some(x) = &mut self.exec_names {
                    if kinds.contains(&AccessKind::Exec) {
                        let ms = self.started.elapsed().as_millis() as u64;
                        x.exec(
                            pid,
                            path.clone(),
                            self.step.as_deref().map(str::to_string),
                            ms,
                        );
                    }
                }
                let path = match &self.prefix {
                    None => path,
                    Some(p) => match inside(p, &path) {
                        Some(q) => q,
                        // outside the traced root: not recorded, and not reported again
                        None => return self.suppress,
                    },
                };
                // a harness step's processes (preparing, waiting, checking)
                if crate::harness::is_harness(pid) {
                    return false;
                }
                // the harness's own accesses (a booted node's container
                // manager reading the root's os-release) are not the node's;
                // never suppressed, so that the node's own are still seen
                if let Some(h) = self.harness_mnt_ns {
                    if mnt_ns_of(pid) == Some(h) || in_host_pid_ns(pid) {
                        return false;
                    }
                }
                let mut proc_info = None;
                for &kind in &kinds {
                    if self.rec.bump(&path, kind) {
                        continue;
                    }
                    let (info, parents) = proc_info
                        .get_or_insert_with(|| (self.procs.get(pid), self.procs.parents(pid)));
                    self.rec.insert(Access {
                        path: path.clone(),
                        kind,
                        pid,
                        comm: info.comm.clone(),
                        exe: info.exe.clone(),
                        parents: parents.clone(),
                        step: self.step.clone(),
                        count: 1,
                        first_ms: self.started.elapsed().as_millis() as u64,
                    });
                }
                // the process is in the middle of execve: what it does next
                // belongs to the new program, so read it again then
                if kinds.contains(&AccessKind::Exec) {
                    self.procs.forget(pid);
                }
                // suppressed at first sight: what is recorded is the first
                // access of each kind; later ones add nothing to the closure
                self.suppress
            }
        }
    }
}

/// `path` as seen inside `root`, or `None` when it is outside.
pub fn inside(root: &[u8], path: &[u8]) -> Option<Vec<u8>> {
    if path == root {
        return Some(b"/".to_vec());
    }
    let rest = path.strip_prefix(root)?;
    rest.starts_with(b"/").then(|| rest.to_vec())
}

#[allow(clippy::too_many_arguments)]
fn reader(
    mut group: Group,
    mut rec: Recorder,
    mut procs: ProcCache,
    opts: TraceOptions,
    own_pid: i32,
    stop: Arc<AtomicBool>,
    step: Arc<Mutex<Option<String>>>,
    started: Instant,
    sync: (
        Arc<std::sync::atomic::AtomicU64>,
        Arc<std::sync::atomic::AtomicU64>,
    ),
    wake: &std::os::fd::OwnedFd,
    mut flush: Flush,
    exec_fallback: bool,
) -> ReaderEnd {
    // the count of each access the flush callback stored, in order
    let mut stored: Vec<u64> = Vec::new();
    let mut last_flush = Instant::now();
    use std::os::unix::ffi::OsStrExt;
    let root_b = opts.root.as_os_str().as_bytes();
    let mut sink = Sink {
        prefix: (root_b != b"/").then(|| root_b.trim_ascii_end().to_vec()),
        rec: &mut rec,
        procs: &mut procs,
        lost: Vec::new(),
        overflows: 0,
        unnamed: 0,
        step: None,
        started,
        suppress: !opts.all_events,
        exec_names: exec_fallback.then(|| ExecNames::new(&opts.root)),
        harness_mnt_ns: opts.harness_mnt_ns,
    };
    if !opts.reader_delay.is_zero() {
        std::thread::sleep(opts.reader_delay);
    }
    loop {
        if last_flush.elapsed() >= FLUSH_EVERY {
            let all = sink.rec.accesses();
            if all.len() > stored.len() && flush(&all[stored.len()..]) {
                stored.extend(all[stored.len()..].iter().map(|a| a.count));
            }
            last_flush = Instant::now();
        }
        let stopping = stop.load(Ordering::SeqCst);
        let requested = sync.0.load(Ordering::SeqCst);
        {
            // shared by every access of the step: made once per change
            let cur = step.lock().expect("step");
            if sink.step.as_deref() != cur.as_deref() {
                sink.step = cur.as_deref().map(Arc::from);
            }
        }
        let read = group.read(own_pid, &mut sink);
        if let Some(x) = &mut sink.exec_names {
            x.poll();
        }
        match read {
            Ok(0) => {
                // the queue is empty: every event before the request is read
                sync.1.store(requested, Ordering::SeqCst);
                if stopping {
                    break;
                }
                // a sync request or the stop writes to `wake`, so a request
                // made after the checks above still ends the wait at once;
                // the timeout serves the /proc exec names, read as they come
                let mut fds: Vec<PollFd<'_>> = group
                    .fds()
                    .into_iter()
                    .chain([std::os::fd::AsFd::as_fd(wake)])
                    .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
                    .collect();
                let _ = nix::poll::poll(&mut fds, PollTimeout::from(50u16));
                let mut b = [0u8; 8];
                let _ = rustix::io::read(wake, &mut b);
            }
            Ok(_) => {
                // under a steady load the queue is seldom empty: a read that
                // emptied it is enough for a sync requested before it
                if group.drained() {
                    sync.1.store(requested, Ordering::SeqCst);
                }
            }
            Err(e) => {
                sink.lost
                    .push(format!("reading fanotify events failed: {e}"));
                if stopping {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    let exec_names = sink.exec_names.take();
    let (mut lost, overflows, unnamed) = (sink.lost, sink.overflows, sink.unnamed);
    if overflows > 0 {
        lost.insert(
            0,
            format!("the kernel's event queue overflowed {overflows} time(s): events were lost"),
        );
    }
    (rec, lost, unnamed, exec_names, stored)
}
