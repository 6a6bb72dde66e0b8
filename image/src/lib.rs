//! Build an image from an allowlist: copy exactly the listed entries of a
//! root into a directory, and from there into a tar archive, a squashfs or an
//! erofs image.
//!
//! Every entry keeps its type, mode, owner, timestamps and extended
//! attributes (file capabilities in `security.capability` included — set
//! after the owner, which clears them); symlinks are copied as symlinks, with
//! their targets as stored; hard links stay hard links, stored once; FIFOs,
//! sockets and device nodes are made again with their device numbers.
//!
//! Nothing outside the root is read and no symlink is followed: every path
//! of the list is opened beneath the root with `RESOLVE_NO_SYMLINKS`, so a
//! path through a symlink, or with `..`, is refused rather than resolved.
//! The output is built beside its final place and renamed into it; an
//! existing output is replaced only when asked.
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;

use rustix::fs::{
    AtFlags, FileType, Gid, Mode, OFlags, ResolveFlags, Stat, Timespec, Timestamps, Uid, XattrFlags,
};

/// Why an image could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    /// A line of the allowlist is not an absolute, normal path.
    #[error("allowlist line {line}: {path}: {why}")]
    BadLine {
        /// 1-based line (or entry) number.
        line: usize,
        /// The path as written.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// A path that cannot be taken from the root without leaving it or
    /// following a symlink.
    #[error("{path}: {why}")]
    Refused {
        /// The path inside the root.
        path: String,
        /// Why.
        why: String,
    },
    /// Reading the root failed.
    #[error("reading {path} in the root: {source}")]
    Source {
        /// The path inside the root.
        path: String,
        /// The error.
        source: io::Error,
    },
    /// Writing the image failed.
    #[error("writing {path} into the image: {source}")]
    Dest {
        /// The path inside the image.
        path: String,
        /// The error.
        source: io::Error,
    },
    /// The output exists.
    #[error("{0} exists; --force replaces it")]
    Exists(PathBuf),
    /// The output and the root overlap.
    #[error(
        "{out} is inside the root {root} (or the root inside it): the image would copy itself"
    )]
    Overlap {
        /// The output.
        out: PathBuf,
        /// The root.
        root: PathBuf,
    },
    /// The root is missing or not a directory.
    #[error("{path}: {source}")]
    Root {
        /// The root.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// An image tool failed or is missing.
    #[error("{tool}: {why}")]
    Tool {
        /// The program.
        tool: String,
        /// What happened.
        why: String,
    },
}

/// What kind of image to write, from the output's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A directory tree.
    Dir(PathBuf),
    /// A tar archive (GNU tar, extended attributes included).
    Tar(PathBuf),
    /// A squashfs image (`mksquashfs`).
    Squashfs(PathBuf),
    /// An erofs image (`mkfs.erofs`).
    Erofs(PathBuf),
}

impl Target {
    /// The target an output path names: `.tar`, `.squashfs` (or `.sqfs`),
    /// `.erofs`, else a directory.
    pub fn of(out: &Path) -> Target {
        match out.extension().and_then(OsStr::to_str) {
            Some("tar") => Target::Tar(out.to_path_buf()),
            Some("squashfs" | "sqfs") => Target::Squashfs(out.to_path_buf()),
            Some("erofs") => Target::Erofs(out.to_path_buf()),
            _ => Target::Dir(out.to_path_buf()),
        }
    }

    /// The output path.
    pub fn path(&self) -> &Path {
        match self {
            Target::Dir(p) | Target::Tar(p) | Target::Squashfs(p) | Target::Erofs(p) => p,
        }
    }

    /// `directory`, `tar`, `squashfs`, `erofs`.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Dir(_) => "directory",
            Target::Tar(_) => "tar",
            Target::Squashfs(_) => "squashfs",
            Target::Erofs(_) => "erofs",
        }
    }
}

/// What was copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Entries in the image (the root directory not counted).
    pub entries: usize,
    /// Regular files with their own content.
    pub files: usize,
    /// Further names of a file already copied (hard links).
    pub hardlinks: usize,
    /// Directories.
    pub dirs: usize,
    /// Symlinks.
    pub symlinks: usize,
    /// FIFOs, sockets and device nodes.
    pub special: usize,
    /// Directories the list did not name, made because an entry lies in them.
    pub implied_dirs: usize,
    /// Extended attributes copied.
    pub xattrs: usize,
    /// Bytes of regular files, hard links once.
    pub bytes: u64,
    /// Size of the archive or filesystem image written (not for a directory).
    pub image_bytes: Option<u64>,
}

/// The longest path a system call takes whole: the kernel's `PATH_MAX`
/// (4096) counts the terminating NUL. A scan records no longer path.
pub const PATH_MAX_LEN: usize = 4095;

/// Read an allowlist: one absolute path per line (or per NUL with `null`),
/// empty lines skipped. Each path must be absolute and normal: no `.` or
/// `..` component, no empty component (so no `//` and no trailing `/`), and
/// at most [`PATH_MAX_LEN`] bytes long.
pub fn read_list(text: &[u8], null: bool) -> Result<Vec<Vec<u8>>, AssembleError> {
    let sep = if null { b'\0' } else { b'\n' };
    let mut out = Vec::new();
    for (i, line) in text.split(|&b| b == sep).enumerate() {
        if line.is_empty() {
            continue;
        }
        let bad = |why: &str| AssembleError::BadLine {
            line: i + 1,
            path: String::from_utf8_lossy(line).into_owned(),
            why: why.to_string(),
        };
        if !line.starts_with(b"/") {
            return Err(bad("not an absolute path inside the root"));
        }
        if line.len() > PATH_MAX_LEN {
            // the path as written would fill the message: its start says which
            let start = &line[..line.len().min(64)];
            return Err(AssembleError::BadLine {
                line: i + 1,
                path: format!("{}…", String::from_utf8_lossy(start)),
                why: format!(
                    "{} bytes long: no system call takes a path longer than {PATH_MAX_LEN} \
                     bytes (PATH_MAX)",
                    line.len()
                ),
            });
        }
        if line == b"/" {
            continue;
        }
        let rest = &line[1..];
        for c in rest.split(|&b| b == b'/') {
            match c {
                b"" => return Err(bad("an empty path component")),
                b"." | b".." => {
                    return Err(bad(
                        "a `.` or `..` component: paths are taken as listed, never resolved",
                    ))
                }
                _ => {}
            }
        }
        let mut p = b"/".to_vec();
        p.extend_from_slice(rest);
        out.push(p);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn show(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

fn rel(p: &[u8]) -> &[u8] {
    let r = p.strip_prefix(b"/").unwrap_or(p);
    if r.is_empty() {
        b"."
    } else {
        r
    }
}

fn split(p: &[u8]) -> (&[u8], &[u8]) {
    match p.iter().rposition(|&b| b == b'/') {
        Some(0) => (b"/", &p[1..]),
        Some(i) => (&p[..i], &p[i + 1..]),
        None => (b"/", p),
    }
}

/// Directory descriptors beneath a root, opened without following any
/// symlink, cached by path.
struct Tree {
    root: Rc<OwnedFd>,
    dirs: HashMap<Vec<u8>, Rc<OwnedFd>>,
}

impl Tree {
    fn open(path: &Path) -> io::Result<Tree> {
        let root = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Tree {
            root: Rc::new(root),
            dirs: HashMap::new(),
        })
    }

    /// The directory `dir` (a path inside the tree), `ELOOP` when a
    /// component is a symlink.
    fn dir(&mut self, dir: &[u8]) -> io::Result<Rc<OwnedFd>> {
        if dir == b"/" {
            return Ok(self.root.clone());
        }
        if !self.dirs.contains_key(dir) {
            let fd = rustix::fs::openat2(
                &self.root,
                OsStr::from_bytes(rel(dir)),
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
            )?;
            if self.dirs.len() > 4096 {
                self.dirs.clear();
            }
            self.dirs.insert(dir.to_vec(), Rc::new(fd));
        }
        Ok(self.dirs[dir].clone())
    }
}

fn times(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: st.st_atime as _,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: Timespec {
            tv_sec: st.st_mtime as _,
            tv_nsec: st.st_mtime_nsec as _,
        },
    }
}

fn owner(st: &Stat) -> (Option<Uid>, Option<Gid>) {
    (
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )
}

/// Copy every extended attribute of `src` to `dst` (both open files or
/// directories); returns how many.
fn copy_xattrs(src: impl AsFd, dst: impl AsFd) -> io::Result<usize> {
    let size = match rustix::fs::flistxattr_query(&src) {
        Ok(n) => n,
        Err(rustix::io::Errno::NOTSUP) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let mut names = vec![0u8; size];
    let len = rustix::fs::flistxattr(&src, &mut names)?;
    names.truncate(len);
    let mut n = 0;
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = OsStr::from_bytes(name);
        let mut value = vec![0u8; rustix::fs::fgetxattr_query(&src, name)?];
        let len = rustix::fs::fgetxattr(&src, name, &mut value)?;
        value.truncate(len);
        rustix::fs::fsetxattr(&dst, name, &value, XattrFlags::empty())?;
        n += 1;
    }
    Ok(n)
}

/// Copy the listed entries of `from` into a new directory `dir`.
fn copy_tree(list: &[Vec<u8>], from: &Path, dir: &Path) -> Result<Report, AssembleError> {
    let mut src = Tree::open(from).map_err(|source| AssembleError::Root {
        path: from.to_path_buf(),
        source,
    })?;
    let mut dst = Tree::open(dir).map_err(|source| AssembleError::Dest {
        path: "/".into(),
        source,
    })?;
    let mut report = Report::default();
    let mut links: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    let mut made_dirs: Vec<(Vec<u8>, Stat)> = Vec::new();
    let mut present: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
    present.insert(b"/".to_vec());

    let refused = |path: &[u8], e: io::Error| -> AssembleError {
        if e.raw_os_error() == Some(libc_eloop()) || e.raw_os_error() == Some(libc_exdev()) {
            AssembleError::Refused {
                path: show(path),
                why: "the path passes through a symlink (or leaves the root); list the entry under its own path".into(),
            }
        } else {
            AssembleError::Source {
                path: show(path),
                source: e,
            }
        }
    };

    // each entry after its parent; an unlisted parent is made from the root's
    let mut todo: Vec<(Vec<u8>, bool)> = Vec::new();
    for p in list {
        let mut chain = Vec::new();
        let mut cur = split(p).0.to_vec();
        while !present.contains(&cur) {
            chain.push(cur.clone());
            present.insert(cur.clone());
            cur = split(&cur).0.to_vec();
        }
        for d in chain.into_iter().rev() {
            todo.push((d, true));
        }
        if present.insert(p.clone()) {
            todo.push((p.clone(), false));
        } else if let Some(t) = todo.iter_mut().find(|(q, _)| q == p) {
            // listed after being implied by an earlier entry
            t.1 = false;
        }
    }

    for (path, implied) in &todo {
        let (parent, name) = split(path);
        let name = OsStr::from_bytes(name);
        let sdir_rc = src.dir(parent).map_err(|e| refused(path, e))?;
        let sdir = sdir_rc.as_fd();
        let st = rustix::fs::statat(sdir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| {
            AssembleError::Source {
                path: show(path),
                source: e.into(),
            }
        })?;
        let ft = FileType::from_raw_mode(st.st_mode);
        if *implied && ft == FileType::Symlink {
            return Err(AssembleError::Refused {
                path: show(path),
                why:
                    "a listed path passes through a symlink here; list the entry under its own path"
                        .into(),
            });
        }
        if *implied && ft != FileType::Directory {
            return Err(AssembleError::Refused {
                path: show(path),
                why: "an entry is listed below it, but it is not a directory".into(),
            });
        }
        let ddir_rc = dst.dir(parent).map_err(|e| AssembleError::Dest {
            path: show(parent),
            source: e,
        })?;
        let ddir = ddir_rc.as_fd();
        let dest_err = |e: rustix::io::Errno| AssembleError::Dest {
            path: show(path),
            source: e.into(),
        };
        let perm = Mode::from_raw_mode(st.st_mode & 0o7777);
        let (uid, gid) = owner(&st);
        match ft {
            FileType::Directory => {
                rustix::fs::mkdirat(ddir, name, Mode::from_raw_mode(0o700)).map_err(dest_err)?;
                made_dirs.push((path.clone(), st));
                report.dirs += 1;
                report.implied_dirs += usize::from(*implied);
            }
            FileType::RegularFile => {
                let key = (st.st_dev, st.st_ino);
                if st.st_nlink > 1 {
                    if let Some(first) = links.get(&key) {
                        rustix::fs::linkat(
                            dst.root.as_fd(),
                            OsStr::from_bytes(rel(first)),
                            ddir,
                            name,
                            AtFlags::empty(),
                        )
                        .map_err(dest_err)?;
                        report.hardlinks += 1;
                        report.entries += 1;
                        continue;
                    }
                    links.insert(key, path.clone());
                }
                let s = rustix::fs::openat(
                    sdir,
                    name,
                    OFlags::RDONLY
                        | OFlags::NOFOLLOW
                        | OFlags::NOCTTY
                        | OFlags::NONBLOCK
                        | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| AssembleError::Source {
                    path: show(path),
                    source: e.into(),
                })?;
                let d = rustix::fs::openat(
                    ddir,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(dest_err)?;
                let mut sf = std::fs::File::from(s);
                let mut df = std::fs::File::from(d);
                io::copy(&mut sf, &mut df).map_err(|e| AssembleError::Dest {
                    path: show(path),
                    source: e,
                })?;
                // the owner first: chown clears set-id bits and file capabilities
                rustix::fs::fchown(&df, uid, gid).map_err(dest_err)?;
                rustix::fs::fchmod(&df, perm).map_err(dest_err)?;
                report.xattrs += copy_xattrs(&sf, &df).map_err(|e| AssembleError::Dest {
                    path: show(path),
                    source: e,
                })?;
                rustix::fs::futimens(&df, &times(&st)).map_err(dest_err)?;
                report.files += 1;
                report.bytes += st.st_size as u64;
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(sdir, name, Vec::new()).map_err(|e| {
                    AssembleError::Source {
                        path: show(path),
                        source: e.into(),
                    }
                })?;
                rustix::fs::symlinkat(target.as_c_str(), ddir, name).map_err(dest_err)?;
                rustix::fs::chownat(ddir, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(dest_err)?;
                rustix::fs::utimensat(ddir, name, &times(&st), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(dest_err)?;
                report.symlinks += 1;
            }
            FileType::Fifo
            | FileType::CharacterDevice
            | FileType::BlockDevice
            | FileType::Socket => {
                rustix::fs::mknodat(ddir, name, ft, perm, st.st_rdev as _).map_err(dest_err)?;
                rustix::fs::chownat(ddir, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(dest_err)?;
                rustix::fs::chmodat(ddir, name, perm, AtFlags::empty()).map_err(dest_err)?;
                rustix::fs::utimensat(ddir, name, &times(&st), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(dest_err)?;
                report.special += 1;
            }
            FileType::Unknown => {
                return Err(AssembleError::Refused {
                    path: show(path),
                    why: "an entry of unknown type".into(),
                })
            }
        }
        report.entries += 1;
    }
    // directories last, deepest first: their times would change as their
    // entries are made, and a read-only directory could not be filled
    made_dirs.sort_by(|a, b| b.0.cmp(&a.0));
    for (path, st) in made_dirs.iter().chain(root_stat(&mut src)?.iter()) {
        let (uid, gid) = owner(st);
        let dest_err = |e: io::Error| AssembleError::Dest {
            path: show(path),
            source: e,
        };
        let open_dir = |t: &mut Tree| -> io::Result<OwnedFd> {
            let (parent, name) = split(path);
            let dfd_rc = t.dir(parent)?;
            let dfd = dfd_rc.as_fd();
            let name: &OsStr = if path == b"/" {
                OsStr::new(".")
            } else {
                OsStr::from_bytes(name)
            };
            Ok(rustix::fs::openat(
                dfd,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?)
        };
        let s = open_dir(&mut src).map_err(|e| AssembleError::Source {
            path: show(path),
            source: e,
        })?;
        let d = open_dir(&mut dst).map_err(dest_err)?;
        rustix::fs::fchown(&d, uid, gid).map_err(|e| dest_err(e.into()))?;
        rustix::fs::fchmod(&d, Mode::from_raw_mode(st.st_mode & 0o7777))
            .map_err(|e| dest_err(e.into()))?;
        report.xattrs += copy_xattrs(&s, &d).map_err(dest_err)?;
        rustix::fs::futimens(&d, &times(st)).map_err(|e| dest_err(e.into()))?;
    }
    Ok(report)
}

fn root_stat(src: &mut Tree) -> Result<Vec<(Vec<u8>, Stat)>, AssembleError> {
    let st = rustix::fs::fstat(&src.root).map_err(|e| AssembleError::Source {
        path: "/".into(),
        source: e.into(),
    })?;
    Ok(vec![(b"/".to_vec(), st)])
}

fn libc_eloop() -> i32 {
    rustix::io::Errno::LOOP.raw_os_error()
}

fn libc_exdev() -> i32 {
    rustix::io::Errno::XDEV.raw_os_error()
}

/// Whether `a` is `b` or lies below it.
fn within(a: &Path, b: &Path) -> bool {
    a == b || a.starts_with(b)
}

/// Build the image of `list` (paths inside `from`) at `target`.
pub fn assemble(
    list: &[Vec<u8>],
    from: &Path,
    target: &Target,
    force: bool,
) -> Result<Report, AssembleError> {
    let root = std::fs::canonicalize(from).map_err(|source| AssembleError::Root {
        path: from.to_path_buf(),
        source,
    })?;
    if !root.is_dir() {
        return Err(AssembleError::Root {
            path: from.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "not a directory"),
        });
    }
    let out = target.path();
    let name = out.file_name().ok_or_else(|| AssembleError::Refused {
        path: out.display().to_string(),
        why: "the output needs a file name".into(),
    })?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let parent = std::fs::canonicalize(parent).map_err(|source| AssembleError::Dest {
        path: parent.display().to_string(),
        source,
    })?;
    let out_abs = parent.join(name);
    if within(&out_abs, &root) || within(&root, &out_abs) {
        return Err(AssembleError::Overlap {
            out: out.to_path_buf(),
            root,
        });
    }
    if out_abs.symlink_metadata().is_ok() && !force {
        return Err(AssembleError::Exists(out.to_path_buf()));
    }
    // built beside the output, moved into place at the end
    let staging = tempfile::Builder::new()
        .prefix(".kaudit-assemble-")
        .tempdir_in(&parent)
        .map_err(|source| AssembleError::Dest {
            path: parent.display().to_string(),
            source,
        })?;
    let tree = staging.path().join("image");
    std::fs::create_dir(&tree).map_err(|source| AssembleError::Dest {
        path: tree.display().to_string(),
        source,
    })?;
    let mut report = copy_tree(list, &root, &tree)?;
    let built = match target {
        Target::Dir(_) => tree.clone(),
        Target::Tar(_) => {
            let f = staging.path().join("image.tar");
            tool(
                Command::new("tar")
                    .args([
                        "--xattrs",
                        "--xattrs-include=*",
                        "--numeric-owner",
                        "--sort=name",
                        "-C",
                    ])
                    .arg(&tree)
                    .arg("-cf")
                    .arg(&f)
                    .arg("."),
                "tar",
            )?;
            f
        }
        Target::Squashfs(_) => {
            let f = staging.path().join("image.squashfs");
            tool(
                Command::new("mksquashfs").arg(&tree).arg(&f).args([
                    "-noappend",
                    "-no-progress",
                    "-quiet",
                ]),
                "mksquashfs",
            )?;
            f
        }
        Target::Erofs(_) => {
            let f = staging.path().join("image.erofs");
            tool(
                Command::new("mkfs.erofs")
                    .args(["--quiet", "--preserve-mtime", "-zlz4hc"])
                    .arg(&f)
                    .arg(&tree),
                "mkfs.erofs",
            )?;
            f
        }
    };
    if !matches!(target, Target::Dir(_)) {
        report.image_bytes = std::fs::metadata(&built).map(|m| m.len()).ok();
    }
    if out_abs.symlink_metadata().is_ok() {
        let r = if out_abs.is_dir() && !out_abs.is_symlink() {
            std::fs::remove_dir_all(&out_abs)
        } else {
            std::fs::remove_file(&out_abs)
        };
        r.map_err(|source| AssembleError::Dest {
            path: out_abs.display().to_string(),
            source,
        })?;
    }
    std::fs::rename(&built, &out_abs).map_err(|source| AssembleError::Dest {
        path: out_abs.display().to_string(),
        source,
    })?;
    Ok(report)
}

fn tool(cmd: &mut Command, name: &str) -> Result<(), AssembleError> {
    let out = cmd.output().map_err(|e| AssembleError::Tool {
        tool: name.into(),
        why: if e.kind() == io::ErrorKind::NotFound {
            format!("not installed ({name} comes with the distribution: apt-get install squashfs-tools erofs-utils tar)")
        } else {
            e.to_string()
        },
    })?;
    if !out.status.success() {
        return Err(AssembleError::Tool {
            tool: name.into(),
            why: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_absolute_normal_paths() {
        let l = read_list(b"/usr/bin/x\n\n/\n/usr\n/usr/bin/x\n/etc\n", false).unwrap();
        assert_eq!(
            l,
            vec![b"/etc".to_vec(), b"/usr".to_vec(), b"/usr/bin/x".to_vec()]
        );
        for bad in [
            &b"usr/bin\n"[..],
            b"/usr/../etc/passwd\n",
            b"/a//b\n",
            b"/./a\n",
            b"/etc/passwd/\n",
            b"/etc/\n",
        ] {
            assert!(
                read_list(bad, false).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let e = read_list(b"/ok\n/../etc/shadow\n", false)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("allowlist line 2: /../etc/shadow:"), "{e}");
        // PATH_MAX: 4095 bytes of path are taken, 4096 refused
        let fits = format!("/{}\n", "d".repeat(PATH_MAX_LEN - 1));
        assert_eq!(read_list(fits.as_bytes(), false).unwrap().len(), 1);
        let long = format!("/ok\n/{}\n", "d".repeat(PATH_MAX_LEN));
        let e = read_list(long.as_bytes(), false).unwrap_err().to_string();
        assert!(
            e.starts_with("allowlist line 2: /ddd")
                && e.ends_with(
                    "…: 4096 bytes long: no system call takes a path longer than 4095 bytes (PATH_MAX)"
                ),
            "{e}"
        );
        assert_eq!(
            read_list(b"/a b\0/c\nd\0", true).unwrap(),
            vec![b"/a b".to_vec(), b"/c\nd".to_vec()]
        );
    }

    #[test]
    fn targets_follow_the_name() {
        assert_eq!(Target::of(Path::new("x.tar")).kind(), "tar");
        assert_eq!(Target::of(Path::new("x.squashfs")).kind(), "squashfs");
        assert_eq!(Target::of(Path::new("x.erofs")).kind(), "erofs");
        assert_eq!(Target::of(Path::new("image")).kind(), "directory");
    }

    #[test]
    fn splits() {
        assert_eq!(split(b"/usr/bin"), (&b"/usr"[..], &b"bin"[..]));
        assert_eq!(split(b"/usr"), (&b"/"[..], &b"usr"[..]));
    }
}
