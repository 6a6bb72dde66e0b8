//! A parallel walk of a root over directory descriptors.
//!
//! Each directory is opened relative to its parent's descriptor with
//! `O_NOFOLLOW`, each entry is `fstatat`-ed and each regular file opened
//! relative to its directory's descriptor, by a single name that is never `..`
//! and never followed if it is a symlink — so the walk cannot leave the root,
//! and the kernel resolves one path component per call instead of a whole path.
//! Directories are processed in parallel (rayon). Regular files are opened only
//! to read their first bytes (ELF header, `#!` line); FIFOs, sockets and device
//! nodes are never opened.
//!
//! An entry whose path inside the root would be longer than the kernel's
//! `PATH_MAX` is neither recorded nor entered: no program of the node can
//! name it whole, and a root nested deeper than that would otherwise make
//! the walk's paths (and the graph) grow with the square of its depth. Each
//! directory where that happens is reported once.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::bytes;
use crate::elf::{self, ElfInfo};
use crate::rootfs::{Kind, Meta, Root};
use crate::script::{self, Shebang};

/// What the first bytes of a regular file say.
#[derive(Debug, Clone)]
pub enum Head {
    /// Neither ELF nor `#!`.
    Plain,
    /// An ELF object.
    Elf(Arc<ElfInfo>),
    /// Starts like ELF but cannot be parsed.
    Malformed(String),
    /// Could not be opened or read.
    Unreadable(String),
    /// A `#!` script.
    Script(Shebang),
}

/// One walked entry.
#[derive(Debug, Clone)]
pub struct Walked {
    /// Path inside the root.
    pub path: Vec<u8>,
    /// `lstat` metadata.
    pub meta: Meta,
    /// Symlink target.
    pub target: Option<Vec<u8>>,
    /// For regular files: what their head says.
    pub head: Head,
}

/// A problem met while walking (an unreadable directory, another filesystem).
#[derive(Debug, Clone)]
pub enum WalkNote {
    /// Could not be read.
    Unreadable(Vec<u8>, String),
    /// A mount point of another filesystem, not entered.
    OtherFilesystem(Vec<u8>),
    /// A directory some of whose entries were left out (neither recorded nor
    /// entered): their paths would be longer than
    /// [`bytes::PATH_MAX_LEN`].
    PathTooLong {
        /// The directory (its own path fits).
        dir: Vec<u8>,
        /// How many of its entries were left out.
        skipped: usize,
        /// The name of the first entry left out.
        first: Vec<u8>,
    },
}

/// Walk options.
#[derive(Debug, Clone, Copy)]
pub struct WalkOptions {
    /// Enter other filesystems.
    pub cross_filesystems: bool,
    /// Enter `/proc`, `/sys`, `/dev`.
    pub special_dirs: bool,
}

const HEAD: usize = 256;

struct Shared<'a> {
    opts: WalkOptions,
    root_dev: u64,
    /// The mount id of the root directory (`None`: the kernel gives none).
    root_mnt: Option<u64>,
    out: Mutex<Vec<Walked>>,
    notes: Mutex<Vec<WalkNote>>,
    seen: AtomicUsize,
    progress: &'a (dyn Fn(usize) + Sync),
}

fn io_err(e: rustix::io::Errno) -> io::Error {
    io::Error::from(e)
}

/// Walk the whole root. The root directory itself is the first entry.
pub fn walk(
    root: &Root,
    opts: WalkOptions,
    progress: &(dyn Fn(usize) + Sync),
) -> io::Result<(Vec<Walked>, Vec<WalkNote>)> {
    let fd = rustix::fs::open(
        root.host_path(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err)?;
    let st = rustix::fs::fstat(&fd).map_err(io_err)?;
    let meta = Meta::from_stat(&st);
    let root_mnt = mount_id(fd.as_fd(), b"");
    let shared = Shared {
        opts,
        root_dev: meta.dev,
        root_mnt,
        out: Mutex::new(vec![Walked {
            path: b"/".to_vec(),
            meta,
            target: None,
            head: Head::Plain,
        }]),
        notes: Mutex::new(Vec::new()),
        seen: AtomicUsize::new(1),
        progress,
    };
    rayon::scope(|s| walk_dir(s, &shared, fd, b"/".to_vec(), 0));
    let out = shared.out.into_inner().unwrap_or_else(|e| e.into_inner());
    let notes = shared.notes.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok((out, notes))
}

fn walk_dir<'s>(
    s: &rayon::Scope<'s>,
    sh: &'s Shared<'s>,
    fd: OwnedFd,
    path: Vec<u8>,
    depth: usize,
) {
    let dir = match rustix::fs::Dir::read_from(&fd) {
        Ok(d) => d,
        Err(e) => {
            sh.notes.lock().expect("notes").push(WalkNote::Unreadable(
                path,
                format!("cannot read directory: {e}"),
            ));
            return;
        }
    };
    let mut local: Vec<Walked> = Vec::new();
    let mut too_long: Option<(usize, Vec<u8>)> = None;
    for ent in dir {
        let ent = match ent {
            Ok(e) => e,
            Err(e) => {
                sh.notes.lock().expect("notes").push(WalkNote::Unreadable(
                    path.clone(),
                    format!("cannot read directory: {e}"),
                ));
                break;
            }
        };
        let name = ent.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let child = bytes::join(&path, name);
        if child.len() > bytes::PATH_MAX_LEN {
            // no system call takes this path whole: not recorded, not entered
            match &mut too_long {
                Some((n, _)) => *n += 1,
                None => too_long = Some((1, name.to_vec())),
            }
            continue;
        }
        // For regular files and directories the descriptor we need anyway
        // gives the metadata (fstat), saving a stat per entry; anything else,
        // or a type the directory does not report, is stat-ed by name.
        let mut opened: Option<(OwnedFd, Meta)> = None;
        let d_type = ent.file_type();
        if d_type == FileType::RegularFile || d_type == FileType::Directory {
            let flags = if d_type == FileType::Directory {
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
            } else {
                OFlags::RDONLY
                    | OFlags::NOFOLLOW
                    | OFlags::NONBLOCK
                    | OFlags::NOCTTY
                    | OFlags::CLOEXEC
            };
            if let Ok(f) = rustix::fs::openat(&fd, name, flags, Mode::empty()) {
                if let Ok(st) = rustix::fs::fstat(&f) {
                    opened = Some((f, Meta::from_stat(&st)));
                }
            }
        }
        let (opened_fd, meta) = match opened {
            Some((f, m)) => (Some(f), m),
            None => match rustix::fs::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => (None, Meta::from_stat(&st)),
                Err(e) => {
                    sh.notes
                        .lock()
                        .expect("notes")
                        .push(WalkNote::Unreadable(child, format!("cannot stat: {e}")));
                    continue;
                }
            },
        };
        let mut target = None;
        let mut head = Head::Plain;
        match meta.kind {
            Kind::Symlink => {
                target = Some(match rustix::fs::readlinkat(&fd, name, Vec::new()) {
                    Ok(t) => t.into_bytes(),
                    Err(e) => {
                        sh.notes.lock().expect("notes").push(WalkNote::Unreadable(
                            child.clone(),
                            format!("cannot read link: {e}"),
                        ));
                        Vec::new()
                    }
                });
            }
            Kind::File if meta.size >= 4 => {
                head = match opened_fd {
                    Some(f) => read_head(File::from(f), meta.size),
                    None => open_and_read_head(fd.as_fd(), name, meta.size),
                };
            }
            Kind::Dir => {
                let special = depth == 0
                    && !sh.opts.special_dirs
                    && matches!(name, b"proc" | b"sys" | b"dev");
                // another mount: another device, or (a bind mount of the same
                // filesystem shares its device) another mount id
                let other_fs = !sh.opts.cross_filesystems
                    && (meta.dev != sh.root_dev
                        || sh.root_mnt.is_some_and(|root| {
                            let here = match &opened_fd {
                                Some(f) => mount_id(f.as_fd(), b""),
                                None => mount_id(fd.as_fd(), name),
                            };
                            here.is_some_and(|m| m != root)
                        }));
                if other_fs && !special {
                    sh.notes
                        .lock()
                        .expect("notes")
                        .push(WalkNote::OtherFilesystem(child.clone()));
                }
                if !special && !other_fs {
                    let sub = match opened_fd {
                        Some(f) => Ok(f),
                        None => rustix::fs::openat(
                            &fd,
                            name,
                            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                            Mode::empty(),
                        ),
                    };
                    match sub {
                        Ok(sub) => {
                            let p = child.clone();
                            s.spawn(move |s| walk_dir(s, sh, sub, p, depth + 1));
                        }
                        Err(e) => sh.notes.lock().expect("notes").push(WalkNote::Unreadable(
                            child.clone(),
                            format!("cannot open directory: {e}"),
                        )),
                    }
                }
            }
            _ => {}
        }
        local.push(Walked {
            path: child,
            meta,
            target,
            head,
        });
    }
    if let Some((skipped, first)) = too_long {
        sh.notes.lock().expect("notes").push(WalkNote::PathTooLong {
            dir: path,
            skipped,
            first,
        });
    }
    let n = sh.seen.fetch_add(local.len(), Ordering::Relaxed) + local.len();
    if n / 8192 != (n - local.len()) / 8192 {
        (sh.progress)(n);
    }
    sh.out.lock().expect("walk output").extend(local);
}

/// The id of the mount `name` in `dir` (or `dir` itself, for an empty name)
/// lies on, without following a final symlink: `statx` with `STATX_MNT_ID`.
fn mount_id(dir: std::os::fd::BorrowedFd<'_>, name: &[u8]) -> Option<u64> {
    let flags = if name.is_empty() {
        AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW
    } else {
        AtFlags::SYMLINK_NOFOLLOW
    };
    let st = rustix::fs::statx(dir, name, flags, rustix::fs::StatxFlags::MNT_ID).ok()?;
    (st.stx_mask & rustix::fs::StatxFlags::MNT_ID.bits() != 0).then_some(st.stx_mnt_id)
}

/// Open the regular file `name` in directory `dir` and read its first bytes.
fn open_and_read_head(dir: std::os::fd::BorrowedFd<'_>, name: &[u8], size: u64) -> Head {
    let fd = match rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) => return Head::Unreadable(format!("cannot open: {e}")),
    };
    // the entry may have been replaced since it was listed: never read a non-file
    match rustix::fs::fstat(&fd) {
        Ok(st) if Kind::from_mode(st.st_mode) == Kind::File => read_head(File::from(fd), size),
        Ok(_) => Head::Plain,
        Err(e) => Head::Unreadable(format!("cannot stat: {e}")),
    }
}

/// Read the first bytes of an open regular file (checked by `fstat`).
fn read_head(f: File, size: u64) -> Head {
    // only the first bytes are wanted: without this, a cold file's first read
    // pulls a whole readahead window (often 128 KiB) from the disk
    let _ = rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::Random);
    let mut buf = [0u8; HEAD];
    let want = (size as usize).min(HEAD);
    let mut got = 0;
    while got < want {
        match f.read_at(&mut buf[got..want], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Head::Unreadable(format!("cannot read: {e}")),
        }
    }
    let head = &buf[..got];
    if elf::is_elf(head) {
        // the header and program headers usually sit in the bytes already read
        let src = Prefetched { head, file: &f };
        return match elf::parse(&src, size) {
            Ok(Some(info)) => Head::Elf(Arc::new(info)),
            Ok(None) => Head::Plain,
            Err(elf::ElfError::Malformed(m)) => Head::Malformed(m),
            Err(e) => Head::Unreadable(e.to_string()),
        };
    }
    match script::parse(head) {
        Some(s) => Head::Script(s),
        None => Head::Plain,
    }
}

/// Serves reads from the bytes already read when it can.
struct Prefetched<'a> {
    head: &'a [u8],
    file: &'a File,
}

impl elf::ReadAt for Prefetched<'_> {
    fn read_exact_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        let end = off as usize + buf.len();
        if end <= self.head.len() {
            buf.copy_from_slice(&self.head[off as usize..end]);
            return Ok(());
        }
        FileExt::read_exact_at(self.file, buf, off)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paths of exactly 4095 bytes are walked; one byte more is left out,
    /// with a note on the directory that holds it.
    #[test]
    fn entries_beyond_path_max_are_left_out_with_a_note() {
        let t = tempfile::tempdir().unwrap();
        let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let file = |at: &OwnedFd, name: &str| {
            rustix::fs::openat(
                at,
                name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC,
                Mode::from_bits_truncate(0o644),
            )
            .unwrap();
        };
        let subdir = |at: &OwnedFd, name: &str| {
            rustix::fs::mkdirat(at, name, Mode::from_bits_truncate(0o755)).unwrap();
            rustix::fs::openat(at, name, dir_flags, Mode::empty()).unwrap()
        };
        // "/" and 15 names of 255 bytes: 3840 bytes, made one level at a
        // time (the host paths below are longer than PATH_MAX)
        let name = "n".repeat(255);
        let mut fd = rustix::fs::open(t.path(), dir_flags, Mode::empty()).unwrap();
        let mut inside = Vec::new();
        for _ in 0..15 {
            fd = subdir(&fd, &name);
            inside.extend_from_slice(b"/");
            inside.extend_from_slice(name.as_bytes());
        }
        assert_eq!(inside.len(), 3840);
        // with its slash, a name of 254 bytes fits in 4095; 255 do not
        file(&fd, &"f".repeat(254));
        let long = ["a".repeat(255), "b".repeat(255)];
        for l in &long {
            let sub = subdir(&fd, l);
            file(&sub, "x");
        }
        let root = Root::open(t.path()).unwrap();
        let opts = WalkOptions {
            cross_filesystems: false,
            special_dirs: false,
        };
        let (walked, notes) = walk(&root, opts, &|_| {}).unwrap();
        let longest = walked.iter().map(|w| w.path.len()).max().unwrap();
        assert_eq!(longest, 4095);
        assert_eq!(bytes::PATH_MAX_LEN, 4095);
        assert_eq!(
            walked.len(),
            1 + 15 + 1,
            "the root, 15 levels, the file that fits"
        );
        match notes.as_slice() {
            [WalkNote::PathTooLong {
                dir,
                skipped: 2,
                first,
            }] => {
                assert_eq!(dir, &inside);
                assert!(long.iter().any(|l| l.as_bytes() == first.as_slice()));
            }
            other => panic!("{other:?}"),
        }
    }
}
