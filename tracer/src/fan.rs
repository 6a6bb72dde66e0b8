//! The fanotify group.
//!
//! Binding: `nix::sys::fanotify` (safe wrappers over `fanotify_init`,
//! `fanotify_mark` and the event reader, which reports `FAN_Q_OVERFLOW` and
//! events without a file descriptor as they are). fanotify-rs 0.3 was not
//! used: its high-level reader panics on non-UTF-8 paths and drops
//! `FAN_Q_OVERFLOW` / `FAN_NOFD` events, i.e. it loses events silently.
//!
//! Marks: one `FAN_MARK_FILESYSTEM` mark per filesystem mounted at or below
//! the traced root (pseudo filesystems such as proc and sysfs excluded), so
//! every process on the node is seen — also daemons outside the traced
//! process tree. Where a filesystem mark is refused, a mount mark is used
//! and reported.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sys::fanotify::{EventFFlags, Fanotify, InitFlags, MarkFlags, MaskFlags};

use crate::fid::FidGroup;
use crate::record::AccessKind;

/// Filesystem types that hold no files an image could contain.
const PSEUDO: &[&str] = &[
    "proc",
    "sysfs",
    "cgroup",
    "cgroup2",
    "devpts",
    "mqueue",
    "bpf",
    "tracefs",
    "debugfs",
    "securityfs",
    "pstore",
    "configfs",
    "fusectl",
    "hugetlbfs",
    "autofs",
    "binfmt_misc",
    "efivarfs",
    "nsfs",
    "rpc_pipefs",
    "selinuxfs",
    "ramfs",
];

/// How a filesystem is watched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkReport {
    /// Mount point.
    pub mount_point: PathBuf,
    /// Filesystem type.
    pub fstype: String,
    /// `filesystem`, `mount` (fallback), or `failed: …`.
    pub how: String,
}

/// One event read from the group.
#[derive(Debug)]
pub enum RawEvent {
    /// The kernel queue overflowed: events were lost.
    Overflow,
    /// A file event.
    File {
        /// The process (thread group id).
        pid: i32,
        /// The file's path on the host (`" (deleted)"` suffix kept).
        path: Vec<u8>,
        /// The kinds of access in this event.
        kinds: Vec<AccessKind>,
    },
    /// An event without a file descriptor other than overflow.
    NoFd {
        /// The process.
        pid: i32,
    },
    /// A file event in a directory deleted before it could be named (the
    /// file-handle group): nothing an image could contain.
    Unnamed {
        /// The process.
        pid: i32,
    },
}

/// The groups and their marks: a FID-reporting group where the filesystem
/// allows it, an fd-reporting group for the others.
#[derive(Debug)]
pub struct Group {
    fan: Fanotify,
    /// `FAN_MARK_EVICTABLE` is accepted (Linux 5.19+): ignore marks then do
    /// not pin inodes in memory.
    evictable: bool,
    /// The last read of the fd group took everything that was queued.
    drained: bool,
    fid: Option<FidGroup>,
    /// What was marked.
    pub marks: Vec<MarkReport>,
}

/// The events watched on a filesystem of type `fstype`.
pub(crate) fn mask(fstype: &str) -> MaskFlags {
    let m = MaskFlags::FAN_OPEN
        | MaskFlags::FAN_OPEN_EXEC
        | MaskFlags::FAN_CLOSE_WRITE
        | MaskFlags::FAN_ONDIR;
    if watch_each_write(fstype) {
        m | MaskFlags::FAN_MODIFY
    } else {
        m
    }
}

/// Whether every `write` on a filesystem of this type is reported
/// (`FAN_MODIFY`). Not on `devtmpfs`, the one kernel filesystem that is
/// marked (the others are [`PSEUDO`], not marked at all): its device nodes
/// are never part of an image nor where its writable paths are, and every
/// write to a terminal or `/dev/null` would otherwise pay for the kernel's
/// walk of the marks. A write there is still seen when the file is closed
/// (`FAN_CLOSE_WRITE`).
fn watch_each_write(fstype: &str) -> bool {
    fstype != "devtmpfs"
}

/// A field of `/proc/*/mountinfo`, which escapes space, tab, newline and
/// backslash as `\ooo`.
pub(crate) fn unescape(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Every mount point of this process's mount namespace and its filesystem
/// type, from `/proc/self/mountinfo`.
pub(crate) fn mounts() -> Vec<(PathBuf, String)> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in info.lines() {
        let mut parts = line.split(" - ");
        let (Some(left), Some(right)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some(mp) = left.split(' ').nth(4) else {
            continue;
        };
        let fstype = right.split(' ').next().unwrap_or("").to_string();
        let mp = unescape(mp.as_bytes());
        out.push((PathBuf::from(std::ffi::OsStr::from_bytes(&mp)), fstype));
    }
    out
}

/// Mount points (and filesystem types) at or below `root`, pseudo
/// filesystems left out.
pub fn mounts_below(root: &Path) -> Vec<(PathBuf, String)> {
    let root_b = root.as_os_str().as_bytes();
    mounts()
        .into_iter()
        .filter(|(mp, fstype)| {
            let mp = mp.as_os_str().as_bytes();
            let under = root_b == b"/"
                || mp == root_b
                || (mp.starts_with(root_b) && mp.get(root_b.len()) == Some(&b'/'));
            under && !PSEUDO.contains(&fstype.as_str())
        })
        .collect()
}

impl Group {
    /// A new group. `bounded` keeps the kernel's default queue limit (for
    /// tests that force an overflow); otherwise the queue is unlimited.
    /// `file_handles` adds the FID-reporting group, used for every
    /// filesystem that supports it.
    pub fn new(bounded: bool, file_handles: bool) -> nix::Result<Group> {
        let mut flags =
            InitFlags::FAN_CLASS_NOTIF | InitFlags::FAN_CLOEXEC | InitFlags::FAN_NONBLOCK;
        if !bounded {
            flags |= InitFlags::FAN_UNLIMITED_QUEUE;
        }
        let fan = Fanotify::init(
            flags,
            EventFFlags::O_RDONLY | EventFFlags::O_LARGEFILE | EventFFlags::O_CLOEXEC,
        )?;
        // kernels before 5.9 have no FAN_REPORT_DFID_NAME: everything goes
        // through the fd-reporting group then
        let fid = if file_handles {
            FidGroup::new(bounded).ok()
        } else {
            None
        };
        Ok(Group {
            fan,
            evictable: true,
            drained: true,
            fid,
            marks: Vec::new(),
        })
    }

    /// Mark every filesystem mounted at or below `root`.
    pub fn mark_filesystems(&mut self, root: &Path) {
        let mut seen_devs = Vec::new();
        for (mp, fstype) in mounts_below(root) {
            let dev = std::fs::metadata(&mp)
                .map(|m| std::os::unix::fs::MetadataExt::dev(&m))
                .ok();
            let how = if dev.is_some_and(|d| seen_devs.contains(&d)) {
                // the filesystem is already marked through another mount of it
                "filesystem".to_string()
            } else if self
                .fid
                .as_mut()
                .is_some_and(|f| f.mark(&mp, &fstype).is_ok())
            {
                seen_devs.extend(dev);
                "filesystem (file handles)".to_string()
            } else {
                match self.fan.mark(
                    MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_FILESYSTEM,
                    mask(&fstype),
                    nix::fcntl::AT_FDCWD,
                    Some(mp.as_path()),
                ) {
                    Ok(()) => {
                        seen_devs.extend(dev);
                        "filesystem".to_string()
                    }
                    Err(e1) => match self.fan.mark(
                        MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_MOUNT,
                        mask(&fstype),
                        nix::fcntl::AT_FDCWD,
                        Some(mp.as_path()),
                    ) {
                        Ok(()) => format!("mount (filesystem mark refused: {e1})"),
                        Err(e2) => format!("failed: {e2}"),
                    },
                }
            };
            self.marks.push(MarkReport {
                mount_point: mp,
                fstype,
                how,
            });
        }
    }

    /// The groups' descriptors, for `poll`.
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        let mut v = vec![self.fan.as_fd()];
        if let Some(f) = &self.fid {
            v.push(f.fd());
        }
        v
    }

    /// Whether the last [`Group::read`] took everything queued in both
    /// groups at the time: every event before it has been handed over.
    pub fn drained(&self) -> bool {
        self.drained && self.fid.as_ref().is_none_or(FidGroup::drained)
    }

    /// Read what is queued (non-blocking) and hand each event to `sink`;
    /// returns how many events were read (0 when nothing was queued).
    pub fn read(&mut self, own_pid: i32, sink: &mut dyn EventSink) -> nix::Result<usize> {
        let from_fid = match &mut self.fid {
            Some(f) => f.read(own_pid, sink)?,
            None => 0,
        };
        let events = match self.fan.read_events() {
            Ok(e) => e,
            Err(nix::errno::Errno::EAGAIN) => {
                self.drained = true;
                return Ok(from_fid);
            }
            Err(e) => return Err(e),
        };
        let n = events.len();
        // the reader's 4096-byte buffer holds 170 events without extra
        // information: fewer means the queue was emptied
        self.drained = n < 160;
        for ev in events {
            let m = ev.mask();
            if m.contains(MaskFlags::FAN_Q_OVERFLOW) {
                sink.event(RawEvent::Overflow);
                continue;
            }
            let pid = ev.pid();
            let Some(fd) = ev.fd() else {
                sink.event(RawEvent::NoFd { pid });
                continue;
            };
            if pid == own_pid {
                continue;
            }
            let path = fd_path(fd).unwrap_or_default();
            let kinds = kinds_of(m);
            let im = ignore_mask(&kinds);
            // kernel-side suppression: once the sink has every kind of this
            // event for this file, the kernel is told to stop reporting them
            // for this inode. One mark costs less than one more event (an
            // fd opened, named and closed), so it is set at first sight.
            // Evictable marks do not keep inodes in memory; an evicted inode
            // is simply reported again.
            if sink.event(RawEvent::File { pid, path, kinds }) && !im.is_empty() {
                let flags = MarkFlags::FAN_MARK_ADD
                    | MarkFlags::FAN_MARK_IGNORED_MASK
                    | MarkFlags::FAN_MARK_IGNORED_SURV_MODIFY;
                let mask = im | (m & MaskFlags::FAN_ONDIR);
                if self.evictable {
                    let r = self.fan.mark(
                        flags | MarkFlags::FAN_MARK_EVICTABLE,
                        mask,
                        fd,
                        None::<&Path>,
                    );
                    if r == Err(nix::errno::Errno::EINVAL) {
                        self.evictable = false;
                    }
                }
                if !self.evictable {
                    let _ = self.fan.mark(flags, mask, fd, None::<&Path>);
                }
            }
        }
        Ok(n + from_fid)
    }
}

/// The path of one of this process's descriptors (its `/proc/self/fd`
/// link), read through a descriptor of `/proc/self/fd` kept open, so that
/// only the descriptor's own entry is looked up each time.
pub(crate) fn fd_path(fd: BorrowedFd<'_>) -> Option<Vec<u8>> {
    use rustix::fs::{Mode, OFlags};
    static FDS: std::sync::OnceLock<Option<std::os::fd::OwnedFd>> = std::sync::OnceLock::new();
    let dir = FDS.get_or_init(|| {
        rustix::fs::open(
            "/proc/self/fd",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()
    });
    match dir {
        Some(d) => rustix::fs::readlinkat(d, fd.as_raw_fd().to_string(), Vec::new())
            .ok()
            .map(std::ffi::CString::into_bytes),
        None => std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .ok()
            .map(|p| p.as_os_str().as_bytes().to_vec()),
    }
}

/// The access kinds of an event's mask (a file event carries several when
/// the kernel merged them).
pub(crate) fn kinds_of(m: MaskFlags) -> Vec<AccessKind> {
    let dir = m.contains(MaskFlags::FAN_ONDIR);
    let mut kinds = Vec::with_capacity(2);
    let table = [
        (MaskFlags::FAN_OPEN_EXEC, AccessKind::Exec),
        (
            MaskFlags::FAN_OPEN,
            if dir {
                AccessKind::OpenDir
            } else {
                AccessKind::Open
            },
        ),
        (MaskFlags::FAN_MODIFY, AccessKind::Modify),
        (MaskFlags::FAN_CLOSE_WRITE, AccessKind::CloseWrite),
        (MaskFlags::FAN_CREATE, AccessKind::Create),
        (MaskFlags::FAN_DELETE, AccessKind::Delete),
        (MaskFlags::FAN_MOVED_FROM, AccessKind::MovedFrom),
        (MaskFlags::FAN_MOVED_TO, AccessKind::MovedTo),
    ];
    for (bit, kind) in table {
        if m.contains(bit) {
            kinds.push(kind);
        }
    }
    kinds
}

/// The events of a file that may be ignored once they only repeat what is
/// recorded (entry events in a directory never are).
pub(crate) fn ignore_mask(kinds: &[AccessKind]) -> MaskFlags {
    kinds
        .iter()
        .map(|k| match k {
            AccessKind::Exec => MaskFlags::FAN_OPEN_EXEC,
            AccessKind::Open | AccessKind::OpenDir => MaskFlags::FAN_OPEN,
            AccessKind::Modify => MaskFlags::FAN_MODIFY,
            AccessKind::CloseWrite => MaskFlags::FAN_CLOSE_WRITE,
            _ => MaskFlags::empty(),
        })
        .fold(MaskFlags::empty(), |a, b| a | b)
}

/// Receives events as they are read.
pub trait EventSink {
    /// Handle one event. Return true to have the kernel stop reporting this
    /// event's kinds for this file (it repeats what is already recorded).
    fn event(&mut self, ev: RawEvent) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape(b"/a\\040b"), b"/a b");
        assert_eq!(unescape(b"/plain"), b"/plain");
    }

    #[test]
    fn the_root_filesystem_is_listed() {
        let m = mounts_below(Path::new("/"));
        assert!(m.iter().any(|(p, _)| p == Path::new("/")), "{m:?}");
        assert!(!m.iter().any(|(_, t)| t == "proc"));
    }
}
