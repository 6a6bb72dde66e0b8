//! The root model: every path is interpreted inside an analysed root.
//!
//! Paths handed around are byte strings, absolute *inside* the root
//! (`/usr/lib/libc.so.6`). Symlinks are resolved here, component by component,
//! as a process chrooted into the root would see them: absolute targets start
//! again at the root, `..` stops at the root, and more than
//! [`MAX_SYMLINKS`] hops is a loop (`ELOOP`). Every hop — including directory
//! symlinks in a path's prefix such as `/lib -> usr/lib` — is recorded, because
//! an image without that symlink does not work.
//!
//! Confinement: files are only ever opened through `openat2(2)` with
//! `RESOLVE_IN_ROOT`, relative to a descriptor of the root, so the kernel itself
//! refuses to leave the root even if the tree changes under us. Metadata is read
//! with `fstatat(2)`/`readlinkat(2)` relative to directories opened the same way.
//! Non-regular files (FIFOs, devices, sockets) are never opened.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};

use crate::bytes;

/// Linux's limit on symlinks followed while resolving one path (`MAXSYMLINKS`).
pub const MAX_SYMLINKS: usize = 40;

/// What kind of directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Named pipe.
    Fifo,
    /// Character device.
    CharDevice,
    /// Block device.
    BlockDevice,
    /// Unix socket.
    Socket,
}

impl Kind {
    /// The stable name used in the graph and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink => "symlink",
            Kind::Fifo => "fifo",
            Kind::CharDevice => "char-device",
            Kind::BlockDevice => "block-device",
            Kind::Socket => "socket",
        }
    }

    /// From a `st_mode`.
    pub fn from_mode(mode: u32) -> Kind {
        match FileType::from_raw_mode(mode) {
            FileType::Directory => Kind::Dir,
            FileType::Symlink => Kind::Symlink,
            FileType::Fifo => Kind::Fifo,
            FileType::CharacterDevice => Kind::CharDevice,
            FileType::BlockDevice => Kind::BlockDevice,
            FileType::Socket => Kind::Socket,
            _ => Kind::File,
        }
    }
}

/// The metadata of one entry (from `lstat`, never following a symlink).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Entry kind.
    pub kind: Kind,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits and file type (`st_mode`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device of the filesystem holding the entry.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Hard link count.
    pub nlink: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Device number for device nodes.
    pub rdev: u64,
}

impl Meta {
    /// From a `struct stat`.
    pub fn from_stat(st: &rustix::fs::Stat) -> Meta {
        Meta {
            kind: Kind::from_mode(st.st_mode),
            size: st.st_size as u64,
            mode: st.st_mode,
            uid: st.st_uid,
            gid: st.st_gid,
            dev: st.st_dev,
            ino: st.st_ino,
            nlink: st.st_nlink,
            mtime: st.st_mtime,
            rdev: st.st_rdev,
        }
    }
}

/// Errors opening a root.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RootError {
    /// The root does not exist.
    #[error("root {path} does not exist")]
    Missing {
        /// The root as given.
        path: PathBuf,
    },
    /// The root is not a directory.
    #[error("root {path} is not a directory")]
    NotADirectory {
        /// The root as given.
        path: PathBuf,
    },
    /// Any other I/O error.
    #[error("cannot open root {path}: {source}")]
    Io {
        /// The root as given.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// An analysed root directory.
#[derive(Debug)]
pub struct Root {
    host: PathBuf,
    fd: OwnedFd,
    dirs: Mutex<HashMap<Vec<u8>, std::sync::Arc<OwnedFd>>>,
}

fn to_io(e: rustix::io::Errno) -> io::Error {
    io::Error::from(e)
}

fn rel(path: &[u8]) -> &[u8] {
    let r = path.strip_prefix(b"/").unwrap_or(path);
    if r.is_empty() {
        b"."
    } else {
        r
    }
}

impl Root {
    /// Open the directory at `path` as a root.
    pub fn open(path: &Path) -> Result<Root, RootError> {
        let host = match std::fs::canonicalize(path) {
            Ok(p) => p,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(RootError::Missing {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => {
                return Err(RootError::Io {
                    path: path.to_path_buf(),
                    source: e,
                })
            }
        };
        let md = std::fs::metadata(&host).map_err(|e| RootError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        if !md.is_dir() {
            return Err(RootError::NotADirectory {
                path: path.to_path_buf(),
            });
        }
        let fd = rustix::fs::open(
            &host,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| RootError::Io {
            path: path.to_path_buf(),
            source: to_io(e),
        })?;
        Ok(Root {
            host,
            fd,
            dirs: Mutex::new(HashMap::new()),
        })
    }

    /// The root's canonical location on the host.
    pub fn host_path(&self) -> &Path {
        &self.host
    }

    /// Where an inside path lives on the host (for messages and walking only;
    /// never used to open a file).
    pub fn host_path_of(&self, inner: &[u8]) -> PathBuf {
        use std::os::unix::ffi::OsStrExt;
        let r = rel(inner);
        if r == b"." {
            self.host.clone()
        } else {
            self.host.join(std::ffi::OsStr::from_bytes(r))
        }
    }

    fn openat2(&self, inner: &[u8], flags: OFlags) -> io::Result<OwnedFd> {
        rustix::fs::openat2(
            &self.fd,
            rel(inner),
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(to_io)
    }

    /// A descriptor of the directory `dir` (inside the root), cached.
    fn dir_fd(&self, dir: &[u8]) -> io::Result<std::sync::Arc<OwnedFd>> {
        if let Some(fd) = self.dirs.lock().expect("dir cache").get(dir) {
            return Ok(fd.clone());
        }
        let fd = std::sync::Arc::new(self.openat2(dir, OFlags::PATH | OFlags::DIRECTORY)?);
        let mut cache = self.dirs.lock().expect("dir cache");
        if cache.len() > 4096 {
            cache.clear();
        }
        cache.insert(dir.to_vec(), fd.clone());
        Ok(fd)
    }

    /// `lstat` of an entry inside the root (the last component is not followed).
    pub fn lstat(&self, inner: &[u8]) -> io::Result<Meta> {
        self.lstat_raw(inner).map(|st| Meta::from_stat(&st))
    }

    /// An entry's modification time in nanoseconds since the epoch (the
    /// last component is not followed).
    pub fn mtime_ns(&self, inner: &[u8]) -> io::Result<i128> {
        self.lstat_raw(inner)
            .map(|st| i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec))
    }

    fn lstat_raw(&self, inner: &[u8]) -> io::Result<rustix::fs::Stat> {
        if inner == b"/" {
            return rustix::fs::fstat(&self.fd).map_err(to_io);
        }
        let dir = self.dir_fd(bytes::parent(inner))?;
        rustix::fs::statat(&*dir, bytes::file_name(inner), AtFlags::SYMLINK_NOFOLLOW).map_err(to_io)
    }

    /// The target of a symlink inside the root, as stored (not resolved).
    pub fn readlink(&self, inner: &[u8]) -> io::Result<Vec<u8>> {
        let dir = self.dir_fd(bytes::parent(inner))?;
        rustix::fs::readlinkat(&*dir, bytes::file_name(inner), Vec::new())
            .map(|c| c.into_bytes())
            .map_err(to_io)
    }

    /// Open a regular file inside the root for reading. Refuses anything that is
    /// not a regular file (a FIFO would block, a device could have side effects),
    /// and never follows a symlink out of the root.
    pub fn open_file(&self, inner: &[u8]) -> io::Result<File> {
        let meta = self.lstat(inner)?;
        if meta.kind != Kind::File {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is a {}, not a regular file",
                    bytes::display(inner),
                    meta.kind.as_str()
                ),
            ));
        }
        self.open_known_file(inner)
    }

    /// Open a file the caller already knows to be a regular file (from a walk):
    /// one confined `openat2`, then `fstat` to make sure it still is one.
    pub fn open_known_file(&self, inner: &[u8]) -> io::Result<File> {
        let fd = self.openat2(
            inner,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY,
        )?;
        let st = rustix::fs::fstat(&fd).map_err(to_io)?;
        if Kind::from_mode(st.st_mode) != Kind::File {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", bytes::display(inner)),
            ));
        }
        Ok(File::from(fd))
    }

    /// Read a whole regular file inside the root (at most `limit` bytes).
    pub fn read_file(&self, inner: &[u8], limit: u64) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let f = self.open_file(inner)?;
        let mut out = Vec::new();
        f.take(limit).read_to_end(&mut out)?;
        Ok(out)
    }

    /// The names in a directory inside the root.
    pub fn list_dir(&self, inner: &[u8]) -> io::Result<Vec<Vec<u8>>> {
        let fd = self.openat2(inner, OFlags::RDONLY | OFlags::DIRECTORY)?;
        let dir = rustix::fs::Dir::read_from(&fd).map_err(to_io)?;
        let mut out = Vec::new();
        for ent in dir {
            let ent = ent.map_err(to_io)?;
            let name = ent.file_name().to_bytes();
            if name != b"." && name != b".." {
                out.push(name.to_vec());
            }
        }
        Ok(out)
    }
}

/// Read access to the entries of a root, by path inside the root. Implemented by
/// the live [`Root`] and by [`Index`] (a snapshot taken by a walk).
pub trait FsView: Sync {
    /// `lstat` of an entry whose parent path contains no symlink.
    fn lstat(&self, path: &[u8]) -> io::Result<Meta>;
    /// The stored target of a symlink.
    fn readlink(&self, path: &[u8]) -> io::Result<Vec<u8>>;
}

impl FsView for Root {
    fn lstat(&self, path: &[u8]) -> io::Result<Meta> {
        Root::lstat(self, path)
    }
    fn readlink(&self, path: &[u8]) -> io::Result<Vec<u8>> {
        Root::readlink(self, path)
    }
}

/// An error as a view reported it, kept to be reported again.
type KeptError = (Option<i32>, io::ErrorKind);

fn keep(e: &io::Error) -> KeptError {
    (e.raw_os_error(), e.kind())
}

fn again((raw, kind): KeptError) -> io::Error {
    match raw {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::from(kind),
    }
}

/// A view that asks another once per entry and remembers the answer: for
/// resolving many paths that share their directories (the names of a run),
/// where each path's walk would otherwise look at every directory again.
/// It is a snapshot: what changes in the root afterwards is not seen.
pub struct Memo<'a> {
    inner: &'a dyn FsView,
    lstat: Mutex<Answers<Meta>>,
    readlink: Mutex<Answers<Vec<u8>>>,
}

/// What a view answered, by path.
type Answers<T> = HashMap<Vec<u8>, Result<T, KeptError>>;

impl<'a> Memo<'a> {
    /// Remember what `inner` says.
    pub fn new(inner: &'a dyn FsView) -> Memo<'a> {
        Memo {
            inner,
            lstat: Mutex::new(HashMap::new()),
            readlink: Mutex::new(HashMap::new()),
        }
    }
}

/// The answer remembered for `path`, else `ask`'s, remembered.
fn remembered<T: Clone>(
    answers: &Mutex<Answers<T>>,
    path: &[u8],
    ask: impl FnOnce() -> io::Result<T>,
) -> io::Result<T> {
    if let Some(r) = answers.lock().expect("memo").get(path) {
        return r.clone().map_err(again);
    }
    let r = ask();
    answers
        .lock()
        .expect("memo")
        .insert(path.to_vec(), r.as_ref().map(T::clone).map_err(keep));
    r
}

impl FsView for Memo<'_> {
    fn lstat(&self, path: &[u8]) -> io::Result<Meta> {
        remembered(&self.lstat, path, || self.inner.lstat(path))
    }
    fn readlink(&self, path: &[u8]) -> io::Result<Vec<u8>> {
        remembered(&self.readlink, path, || self.inner.readlink(path))
    }
}

/// One entry of a root as a walk recorded it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Path inside the root.
    pub path: Vec<u8>,
    /// `lstat` metadata.
    pub meta: Meta,
    /// Symlink target as stored.
    pub target: Option<Vec<u8>>,
}

/// A snapshot of a root's entries, taken by a walk: sorted by path and
/// searched by bisection, so lookups cost no system call and no copy of the
/// walk is made.
#[derive(Debug, Default)]
pub struct Index {
    entries: Vec<Entry>,
}

impl Index {
    /// An index over `entries` (sorted here; paths must be unique).
    pub fn new(mut entries: Vec<Entry>) -> Index {
        entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        Index { entries }
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// The entries, sorted by path.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
    /// Give the entries back.
    pub fn into_entries(self) -> Vec<Entry> {
        self.entries
    }
    /// Lookup.
    pub fn entry(&self, path: &[u8]) -> Option<&Entry> {
        self.entries
            .binary_search_by(|e| e.path.as_slice().cmp(path))
            .ok()
            .map(|i| &self.entries[i])
    }
    /// Lookup of the metadata.
    pub fn get(&self, path: &[u8]) -> Option<&Meta> {
        self.entry(path).map(|e| &e.meta)
    }
}

impl FsView for Index {
    fn lstat(&self, path: &[u8]) -> io::Result<Meta> {
        self.get(path)
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
    fn readlink(&self, path: &[u8]) -> io::Result<Vec<u8>> {
        match self.entry(path) {
            Some(Entry {
                target: Some(t), ..
            }) => Ok(t.clone()),
            Some(_) => Err(io::Error::from_raw_os_error(
                rustix::io::Errno::INVAL.raw_os_error(),
            )),
            None => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    }
}

/// One symlink followed during a resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// Where the symlink is (canonical path inside the root).
    pub link: Vec<u8>,
    /// Its target as stored.
    pub target: Vec<u8>,
    /// Whether following it climbed above the root with `..` (clamped).
    pub escapes: bool,
}

/// Why a resolution failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// A component does not exist (`ENOENT`); `at` is the missing path.
    NotFound {
        /// The missing entry.
        at: Vec<u8>,
    },
    /// A non-directory was used as a directory (`ENOTDIR`).
    NotADirectory {
        /// The entry that is not a directory.
        at: Vec<u8>,
    },
    /// More than [`MAX_SYMLINKS`] symlinks (`ELOOP`).
    Loop {
        /// The symlink at which the limit was hit.
        at: Vec<u8>,
    },
    /// Another I/O error.
    Io {
        /// The entry.
        at: Vec<u8>,
        /// The error text.
        message: String,
    },
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::NotFound { at } => write!(f, "{} does not exist", bytes::display(at)),
            ResolveError::NotADirectory { at } => {
                write!(f, "{} is not a directory", bytes::display(at))
            }
            ResolveError::Loop { at } => write!(
                f,
                "too many levels of symbolic links at {}",
                bytes::display(at)
            ),
            ResolveError::Io { at, message } => write!(f, "{}: {message}", bytes::display(at)),
        }
    }
}

/// The result of resolving one path inside the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The entry the path names, its last component not followed (so a path
    /// naming a symlink gives the symlink). `None` when it does not exist.
    pub named: Option<Vec<u8>>,
    /// Symlinks walked, in order. The first `prefix_hops` of them were walked to
    /// reach `named` (directory symlinks in the path); the rest follow `named`.
    pub hops: Vec<Hop>,
    /// How many of `hops` lie in the path's prefix.
    pub prefix_hops: usize,
    /// A `..` of the path itself (before any symlink) tried to climb above the root.
    pub clamped: bool,
    /// The final entry after following every symlink, or why there is none.
    pub target: Result<(Vec<u8>, Meta), ResolveError>,
}

impl Resolution {
    /// The symlinks walked to reach the named entry (directory symlinks).
    pub fn prefix(&self) -> &[Hop] {
        &self.hops[..self.prefix_hops]
    }
    /// The final path when it exists.
    pub fn target_path(&self) -> Option<&[u8]> {
        self.target.as_ref().ok().map(|(p, _)| p.as_slice())
    }
    /// Whether any hop climbed above the root.
    pub fn escapes(&self) -> bool {
        self.hops.iter().any(|h| h.escapes)
    }
}

struct Pending {
    comp: Vec<u8>,
    /// This is the last component of the path as asked (not of a symlink target).
    original_last: bool,
}

/// Resolve `path` inside the root. A relative `path` is taken relative to
/// `base` (an absolute directory inside the root).
pub fn resolve(view: &dyn FsView, path: &[u8], base: &[u8]) -> Resolution {
    let mut stack: Vec<Pending> = Vec::new();
    let mut cur: Vec<u8> = if path.starts_with(b"/") {
        b"/".to_vec()
    } else {
        bytes::normalize(base)
    };
    push_components(&mut stack, path, true);
    let mut hops: Vec<Hop> = Vec::new();
    let mut named: Option<Vec<u8>> = None;
    let mut prefix_hops = 0;
    let mut named_done = false;
    let mut clamped = false;
    // when the original last component is "." or ".." the named entry is cur
    if !stack.iter().any(|p| p.original_last) {
        named = Some(cur.clone());
        named_done = true;
    }
    while let Some(p) = stack.pop() {
        let comp = p.comp;
        if comp == b".." {
            if cur == b"/" {
                match hops.last_mut() {
                    Some(h) => h.escapes = true,
                    None => clamped = true,
                }
            } else {
                cur = bytes::parent(&cur).to_vec();
            }
            if p.original_last && !named_done {
                named = Some(cur.clone());
                named_done = true;
                prefix_hops = hops.len();
            }
            continue;
        }
        let cand = bytes::join(&cur, &comp);
        let meta = match view.lstat(&cand) {
            Ok(m) => m,
            Err(e) => {
                let err = match e.kind() {
                    io::ErrorKind::NotFound => ResolveError::NotFound { at: cand },
                    _ if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => {
                        ResolveError::NotADirectory { at: cand }
                    }
                    _ => ResolveError::Io {
                        at: cand,
                        message: e.to_string(),
                    },
                };
                if !named_done {
                    prefix_hops = hops.len();
                }
                return Resolution {
                    named,
                    hops,
                    prefix_hops,
                    clamped,
                    target: Err(err),
                };
            }
        };
        if p.original_last && !named_done {
            named = Some(cand.clone());
            named_done = true;
            prefix_hops = hops.len();
        }
        match meta.kind {
            Kind::Symlink => {
                if hops.len() >= MAX_SYMLINKS {
                    if !named_done {
                        prefix_hops = hops.len();
                    }
                    return Resolution {
                        named,
                        hops,
                        prefix_hops,
                        clamped,
                        target: Err(ResolveError::Loop { at: cand }),
                    };
                }
                let target = match view.readlink(&cand) {
                    Ok(t) => t,
                    Err(e) => {
                        return Resolution {
                            named,
                            hops,
                            prefix_hops,
                            clamped,
                            target: Err(ResolveError::Io {
                                at: cand,
                                message: e.to_string(),
                            }),
                        }
                    }
                };
                if target.starts_with(b"/") {
                    cur = b"/".to_vec();
                }
                push_components(&mut stack, &target, false);
                hops.push(Hop {
                    link: cand,
                    target,
                    escapes: false,
                });
            }
            Kind::Dir => cur = cand,
            _ => {
                if !stack.is_empty() {
                    if !named_done {
                        prefix_hops = hops.len();
                    }
                    return Resolution {
                        named,
                        hops,
                        prefix_hops,
                        clamped,
                        target: Err(ResolveError::NotADirectory { at: cand }),
                    };
                }
                cur = cand;
            }
        }
    }
    if !named_done {
        prefix_hops = hops.len();
    }
    let target = match view.lstat(&cur) {
        Ok(m) => Ok((cur, m)),
        Err(e) => Err(ResolveError::Io {
            at: cur,
            message: e.to_string(),
        }),
    };
    Resolution {
        named,
        hops,
        prefix_hops,
        clamped,
        target,
    }
}

/// Push the components of `path` so that the first is popped first.
fn push_components(stack: &mut Vec<Pending>, path: &[u8], original: bool) {
    let comps: Vec<&[u8]> = path
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .collect();
    let n = comps.len();
    for (i, c) in comps.into_iter().enumerate().rev() {
        stack.push(Pending {
            comp: c.to_vec(),
            original_last: original && i + 1 == n,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn root() -> (tempfile::TempDir, Root) {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("usr/lib/x")).unwrap();
        std::fs::write(r.join("usr/lib/x/libc.so.6"), b"x").unwrap();
        symlink("usr/lib", r.join("lib")).unwrap();
        symlink("/lib/x/libc.so.6", r.join("usr/lib/libc-link")).unwrap();
        symlink("../../../../../../etc", r.join("usr/lib/escape")).unwrap();
        symlink("loop2", r.join("loop1")).unwrap();
        symlink("loop1", r.join("loop2")).unwrap();
        let root = Root::open(r).unwrap();
        (t, root)
    }

    #[test]
    fn directory_symlink_in_prefix_is_a_hop() {
        let (_t, r) = root();
        let res = resolve(&r, b"/lib/x/libc.so.6", b"/");
        assert_eq!(res.named.as_deref(), Some(&b"/usr/lib/x/libc.so.6"[..]));
        assert_eq!(res.prefix_hops, 1);
        assert_eq!(res.hops[0].link, b"/lib");
        assert_eq!(res.target_path(), Some(&b"/usr/lib/x/libc.so.6"[..]));
    }

    #[test]
    fn absolute_targets_are_rerooted_and_last_link_is_named() {
        let (_t, r) = root();
        let res = resolve(&r, b"/lib/libc-link", b"/");
        assert_eq!(res.named.as_deref(), Some(&b"/usr/lib/libc-link"[..]));
        assert_eq!(res.prefix_hops, 1);
        assert_eq!(res.hops.len(), 3); // /lib, libc-link, /lib again
        assert_eq!(res.target_path(), Some(&b"/usr/lib/x/libc.so.6"[..]));
    }

    #[test]
    fn dotdot_stops_at_root_and_is_flagged() {
        let (_t, r) = root();
        let res = resolve(&r, b"/usr/lib/escape", b"/");
        assert!(res.escapes());
        // /etc does not exist inside this root
        assert!(matches!(res.target, Err(ResolveError::NotFound { .. })));
    }

    #[test]
    fn a_memo_resolves_as_the_root_does_and_answers_from_what_it_saw() {
        let (t, r) = root();
        let memo = Memo::new(&r);
        for p in [
            &b"/lib/libc-link"[..],
            b"/lib/x/libc.so.6",
            b"/usr/lib/escape",
            b"/loop1",
            b"/missing/x",
        ] {
            let (a, b) = (resolve(&r, p, b"/"), resolve(&memo, p, b"/"));
            assert_eq!(a.hops, b.hops, "{}", String::from_utf8_lossy(p));
            assert_eq!(a.named, b.named);
            assert_eq!(format!("{:?}", a.target), format!("{:?}", b.target));
        }
        // a snapshot: a link removed afterwards is still walked, and an
        // entry that was missing stays missing
        std::fs::remove_file(t.path().join("lib")).unwrap();
        std::fs::write(t.path().join("missing"), b"").unwrap();
        let res = resolve(&memo, b"/lib/x/libc.so.6", b"/");
        assert_eq!(res.target_path(), Some(&b"/usr/lib/x/libc.so.6"[..]));
        assert_eq!(
            memo.lstat(b"/missing").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn loops_end_with_eloop() {
        let (_t, r) = root();
        let res = resolve(&r, b"/loop1", b"/");
        assert!(matches!(res.target, Err(ResolveError::Loop { .. })));
        assert_eq!(res.hops.len(), MAX_SYMLINKS);
    }

    #[test]
    fn missing_root_and_file_root_are_errors() {
        let t = tempfile::tempdir().unwrap();
        assert!(matches!(
            Root::open(&t.path().join("nope")),
            Err(RootError::Missing { .. })
        ));
        std::fs::write(t.path().join("f"), b"").unwrap();
        assert!(matches!(
            Root::open(&t.path().join("f")),
            Err(RootError::NotADirectory { .. })
        ));
    }
}
