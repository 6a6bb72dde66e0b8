//! A fanotify group that reports file identifiers and names instead of
//! opening every file (`FAN_REPORT_DFID_NAME`).
//!
//! The kernel does not open a file per event for this group: each event names
//! its directory by file handle plus the entry's name. The tracer turns a
//! directory handle into a path once (`open_by_handle_at`, then the
//! descriptor's `/proc/self/fd` link) and caches it, so a workload opening
//! thousands of files in a few directories costs a few handle lookups. This
//! group also reports creations, deletions and renames, which an
//! fd-reporting group cannot.
//!
//! This module holds the tracer's `unsafe` code (besides one raw `getpid`
//! in `names.rs`): the call to
//! `open_by_handle_at(2)`, which the safe bindings do not wrap.
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::sys::fanotify::{EventFFlags, Fanotify, InitFlags, MarkFlags, MaskFlags};

use crate::fan::{ignore_mask, kinds_of, EventSink, RawEvent};
use crate::record::AccessKind;

const META_LEN: usize = 24;
/// An event's largest size: metadata, a directory file handle (at most
/// 128 bytes) and a name (at most 255 bytes), rounded up.
const MAX_EVENT_LEN: usize = 1024;
/// Directory descriptors kept for ignore marks (beyond that, no suppression).
const MAX_DIR_FDS: usize = 4096;
const INFO_DFID_NAME: u8 = 2;
const INFO_OLD_DFID_NAME: u8 = 10;
const INFO_NEW_DFID_NAME: u8 = 12;

/// The fd group's events, plus the entry events only this group reports.
fn mask(fstype: &str) -> MaskFlags {
    crate::fan::mask(fstype)
        | MaskFlags::FAN_CREATE
        | MaskFlags::FAN_DELETE
        | MaskFlags::FAN_MOVED_FROM
        | MaskFlags::FAN_MOVED_TO
}

/// A directory seen in events: its path, and a descriptor when kept.
type KnownDir = (Vec<u8>, Option<OwnedFd>);

/// The FID-reporting group.
#[derive(Debug)]
pub struct FidGroup {
    fan: Fanotify,
    /// One descriptor per marked filesystem, for `open_by_handle_at`, by fsid.
    mounts: Vec<([u8; 8], OwnedFd)>,
    /// directory handle (fsid + handle) → its path, and (for the first
    /// `MAX_DIR_FDS` directories) a descriptor to set ignore marks through
    dirs: HashMap<Vec<u8>, Option<KnownDir>>,
    dir_fds: usize,
    buf: Vec<u8>,
    /// `FAN_MARK_EVICTABLE` is accepted (Linux 5.19+): ignore marks then do
    /// not pin inodes in memory.
    evictable: bool,
    /// The last read took everything that was queued.
    drained: bool,
}

impl FidGroup {
    /// A new group (`FAN_REPORT_DFID_NAME`, kernel ≥ 5.9).
    pub fn new(bounded: bool) -> nix::Result<FidGroup> {
        let mut flags = InitFlags::FAN_CLASS_NOTIF
            | InitFlags::FAN_CLOEXEC
            | InitFlags::FAN_NONBLOCK
            | InitFlags::from_bits_retain(libc::FAN_REPORT_DFID_NAME);
        if !bounded {
            flags |= InitFlags::FAN_UNLIMITED_QUEUE;
        }
        let fan = Fanotify::init(flags, EventFFlags::O_RDONLY | EventFFlags::O_CLOEXEC)?;
        Ok(FidGroup {
            fan,
            mounts: Vec::new(),
            dirs: HashMap::new(),
            dir_fds: 0,
            buf: vec![0u8; 256 * 1024],
            evictable: true,
            drained: true,
        })
    }

    /// Mark the filesystem (of type `fstype`) mounted at `mp` (fails where
    /// the filesystem cannot report file handles).
    pub fn mark(&mut self, mp: &Path, fstype: &str) -> nix::Result<()> {
        self.fan.mark(
            MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_FILESYSTEM,
            mask(fstype),
            nix::fcntl::AT_FDCWD,
            Some(mp),
        )?;
        // open_by_handle_at refuses O_PATH descriptors as its mount_fd
        let fd = nix::fcntl::open(
            mp,
            nix::fcntl::OFlag::O_RDONLY
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )?;
        let fsid = fsid_of(&fd)?;
        self.mounts.push((fsid, fd));
        Ok(())
    }

    /// The group's descriptor, for `poll`.
    /// Whether the last read took everything that was queued then.
    pub fn drained(&self) -> bool {
        self.drained
    }

    /// The group's descriptor, to poll on.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fan.as_fd()
    }

    /// Read what is queued and hand each event to `sink`.
    pub fn read(&mut self, own_pid: i32, sink: &mut dyn EventSink) -> nix::Result<usize> {
        let n = match nix::unistd::read(self.fan.as_fd(), &mut self.buf) {
            Ok(n) => n,
            Err(nix::errno::Errno::EAGAIN) => {
                self.drained = true;
                return Ok(0);
            }
            Err(e) => return Err(e),
        };
        // a read that left room for another event took everything queued
        self.drained = n + MAX_EVENT_LEN <= self.buf.len();
        let buf = std::mem::take(&mut self.buf);
        let mut off = 0;
        let mut count = 0;
        while off + META_LEN <= n {
            let u32_at = |o: usize| u32::from_ne_bytes(buf[o..o + 4].try_into().unwrap_or([0; 4]));
            let event_len = u32_at(off) as usize;
            let meta_len = u16::from_ne_bytes([buf[off + 6], buf[off + 7]]) as usize;
            if event_len < META_LEN || off + event_len > n {
                break;
            }
            let m = u64::from_ne_bytes(buf[off + 8..off + 16].try_into().unwrap_or([0; 8]));
            let pid = i32::from_ne_bytes(buf[off + 20..off + 24].try_into().unwrap_or([0; 4]));
            count += 1;
            let mask = MaskFlags::from_bits_retain(m);
            if mask.contains(MaskFlags::FAN_Q_OVERFLOW) {
                sink.event(RawEvent::Overflow);
            } else if pid != own_pid {
                self.event(&buf[off + meta_len..off + event_len], mask, pid, sink);
            }
            off += event_len;
        }
        self.buf = buf;
        Ok(count)
    }

    fn event(&mut self, mut info: &[u8], mask: MaskFlags, pid: i32, sink: &mut dyn EventSink) {
        while info.len() >= 4 {
            let kind = info[0];
            let len = u16::from_ne_bytes([info[2], info[3]]) as usize;
            if len < 4 || len > info.len() {
                break;
            }
            let rec = &info[..len];
            info = &info[len..];
            if !matches!(
                kind,
                INFO_DFID_NAME | INFO_OLD_DFID_NAME | INFO_NEW_DFID_NAME
            ) {
                continue;
            }
            // header(4) fsid(8) handle_bytes(4) handle_type(4) f_handle[n] name\0
            if rec.len() < 20 {
                continue;
            }
            let hb = u32::from_ne_bytes(rec[12..16].try_into().unwrap_or([0; 4])) as usize;
            let h_end = 20 + hb;
            if h_end > rec.len() {
                continue;
            }
            let key = &rec[4..h_end];
            let handle = &rec[12..h_end];
            let name_raw = &rec[h_end..];
            let name = &name_raw[..name_raw
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(name_raw.len())];
            let dir_path = match self.dir_path(key, handle) {
                Ok(Some(p)) => p,
                // the directory was deleted before its handle could be named
                Ok(None) => {
                    sink.event(RawEvent::Unnamed { pid });
                    continue;
                }
                Err(()) => {
                    sink.event(RawEvent::NoFd { pid });
                    continue;
                }
            };
            let path = if name.is_empty() || name == b"." {
                dir_path
            } else {
                let mut p = dir_path;
                if !p.ends_with(b"/") {
                    p.push(b'/');
                }
                p.extend_from_slice(name);
                p
            };
            let kinds = match kind {
                INFO_OLD_DFID_NAME => vec![AccessKind::MovedFrom],
                INFO_NEW_DFID_NAME => vec![AccessKind::MovedTo],
                _ => kinds_of(mask),
            };
            if kinds.is_empty() {
                continue;
            }
            // the file's own events (not entry events in its directory) can be
            // ignored once they only repeat what is recorded
            let ignorable = ignore_mask(&kinds);
            if sink.event(RawEvent::File { pid, path, kinds }) && !ignorable.is_empty() {
                self.ignore(key, name, ignorable | (mask & MaskFlags::FAN_ONDIR));
            }
        }
    }

    /// Tell the kernel to stop reporting `what` for entry `name` of the
    /// directory `key` (`.` or empty: the directory itself).
    fn ignore(&mut self, key: &[u8], name: &[u8], what: MaskFlags) {
        let Some(Some((_, Some(dirfd)))) = self.dirs.get(key) else {
            return;
        };
        let name = std::ffi::OsStr::from_bytes(if name.is_empty() { &b"."[..] } else { name });
        let flags = MarkFlags::FAN_MARK_ADD
            | MarkFlags::FAN_MARK_IGNORED_MASK
            | MarkFlags::FAN_MARK_IGNORED_SURV_MODIFY
            | MarkFlags::FAN_MARK_DONT_FOLLOW;
        if self.evictable {
            let r = self.fan.mark(
                flags | MarkFlags::FAN_MARK_EVICTABLE,
                what,
                dirfd,
                Some(name),
            );
            if r == Err(nix::errno::Errno::EINVAL) {
                self.evictable = false;
            } else {
                return;
            }
        }
        let _ = self.fan.mark(flags, what, dirfd, Some(name));
    }

    /// The path of the directory a handle names, cached. `Ok(None)`: the
    /// directory no longer exists; `Err`: it could not be named otherwise.
    fn dir_path(&mut self, key: &[u8], handle: &[u8]) -> Result<Option<Vec<u8>>, ()> {
        if let Some(p) = self.dirs.get(key) {
            return Ok(p.as_ref().map(|(p, _)| p.clone()));
        }
        // the handle is only meaningful on its own filesystem: the event's fsid says which
        let Some((_, m)) = self.mounts.iter().find(|(f, _)| f[..] == key[..8]) else {
            return Err(());
        };
        let found = match open_by_handle(m.as_fd(), handle) {
            Ok(fd) => {
                let path = crate::fan::fd_path(fd.as_fd()).ok_or(())?;
                let keep = self.dir_fds < MAX_DIR_FDS;
                self.dir_fds += usize::from(keep);
                Some((path, keep.then_some(fd)))
            }
            Err(nix::errno::Errno::ESTALE | nix::errno::Errno::ENOENT) => None,
            Err(_) => return Err(()),
        };
        let path = found.as_ref().map(|(p, _)| p.clone());
        self.dirs.insert(key.to_vec(), found);
        Ok(path)
    }
}

/// The filesystem id (`statfs.f_fsid`) as fanotify reports it.
fn fsid_of(fd: &OwnedFd) -> nix::Result<[u8; 8]> {
    let id = nix::sys::statfs::fstatfs(fd)?.filesystem_id();
    // SAFETY: `fsid_t` is two plain C ints (8 bytes, no padding, no invalid
    // values); it is copied into bytes, not reinterpreted as anything else.
    Ok(unsafe { std::mem::transmute::<libc::fsid_t, [u8; 8]>(id) })
}

/// `open_by_handle_at(mount_fd, handle, O_PATH)`. `handle` is a
/// `struct file_handle` as the kernel wrote it: `handle_bytes`, `handle_type`,
/// then `handle_bytes` bytes.
fn open_by_handle(mount: BorrowedFd<'_>, handle: &[u8]) -> Result<OwnedFd, nix::errno::Errno> {
    if handle.len() < 8 {
        return Err(nix::errno::Errno::EINVAL);
    }
    // an aligned copy: struct file_handle starts with two 32-bit integers
    let mut words = vec![0u32; handle.len().div_ceil(4)];
    for (i, chunk) in handle.chunks(4).enumerate() {
        let mut w = [0u8; 4];
        w[..chunk.len()].copy_from_slice(chunk);
        words[i] = u32::from_ne_bytes(w);
    }
    // SAFETY: `words` holds a complete `struct file_handle` (its
    // `handle_bytes` field matches the bytes that follow, as the kernel
    // wrote them), is 4-byte aligned and outlives the call; the kernel only
    // reads it. The returned descriptor is new and owned by nobody else.
    let fd = unsafe {
        libc::open_by_handle_at(
            mount.as_raw_fd(),
            words.as_mut_ptr().cast::<libc::file_handle>(),
            libc::O_PATH | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(nix::errno::Errno::last());
    }
    // SAFETY: `fd` was just returned by the kernel and is not owned elsewhere.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
