//! Running a workload inside another root: a private mount namespace in
//! which the root is bind-mounted on itself (runc needs `/` to be a mount
//! point), `/proc`, `/sys` and `/dev` are recursively bind-mounted into it and
//! `/run` and `/tmp` are fresh tmpfs. Commands then enter it with `chroot`.
//! The mounts vanish with the namespace when kaudit exits; the host's mount
//! table is never changed.

use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

static STARTED_IN: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// The mount namespace (inode number) kaudit was started in, once it has
/// entered a private one for `--root`.
pub fn started_in() -> Option<u32> {
    STARTED_IN.get().copied()
}

/// Errors setting up the root.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RootError {
    /// Not a directory.
    #[error("root {0} is not a directory")]
    NotADirectory(PathBuf),
    /// A mount step failed.
    #[error("cannot prepare root {0}: {1}: {2}")]
    Mount(PathBuf, String, nix::Error),
    /// An entry to hide could not be hidden.
    #[error("cannot hide entries of root {0}: {1}")]
    Hide(PathBuf, String),
}

/// `root` as a canonical directory, once this process is in a private mount
/// namespace of its own (every mount below `/` made private in it).
fn private_namespace(root: &Path) -> Result<PathBuf, RootError> {
    let root =
        std::fs::canonicalize(root).map_err(|_| RootError::NotADirectory(root.to_path_buf()))?;
    if !root.is_dir() {
        return Err(RootError::NotADirectory(root));
    }
    let err = |what: &str, e| RootError::Mount(root.clone(), what.to_string(), e);
    // the namespace kaudit was started in: its processes are not the workload
    if let Ok(st) = std::fs::metadata("/proc/self/ns/mnt") {
        use std::os::unix::fs::MetadataExt;
        let _ = STARTED_IN.set(st.ino() as u32);
    }
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| err("unshare(CLONE_NEWNS)", e))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| err("making mounts private", e))?;
    Ok(root)
}

/// Enter a private mount namespace and prepare `root` in it. Call before any
/// other thread exists: the mount namespace is per thread. With `overlay`,
/// `root` is first covered by an overlay whose writable layer is a tmpfs:
/// the workload writes where it likes, and `root` itself is never written.
pub fn enter(root: &Path, overlay: bool, hide: &[Vec<u8>]) -> Result<PathBuf, RootError> {
    let root = private_namespace(root)?;
    let err = |what: &str, e| RootError::Mount(root.clone(), what.to_string(), e);
    if overlay {
        cover(&root, hide)?;
    }
    mount(
        Some(&root),
        &root,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| err("bind-mounting the root on itself", e))?;
    for d in ["proc", "sys", "dev"] {
        let target = root.join(d);
        let _ = std::fs::create_dir_all(&target);
        mount(
            Some(Path::new("/").join(d).as_path()),
            &target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| err(&format!("bind-mounting /{d}"), e))?;
    }
    for d in ["run", "tmp"] {
        let target = root.join(d);
        let _ = std::fs::create_dir_all(&target);
        mount(
            Some("tmpfs"),
            &target,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=0755"),
        )
        .map_err(|e| err(&format!("tmpfs on /{d}"), e))?;
    }
    Ok(root)
}

/// Enter a private mount namespace for booting `root` as a node (see
/// [`crate::boot`]): `root` is covered by an overlay whose writable layer is
/// a tmpfs, as for [`enter`], and bind-mounted on itself; `/proc`, `/sys`,
/// `/dev`, `/run` and `/tmp` of the node are the container's own, made by
/// `systemd-nspawn`. The host's `/run` is covered by a tmpfs in this
/// namespace, so that what the container manager keeps there for a running
/// container never reaches the host. Call before any other thread exists.
pub fn enter_boot(root: &Path, hide: &[Vec<u8>]) -> Result<PathBuf, RootError> {
    let root = private_namespace(root)?;
    let err = |what: &str, e| RootError::Mount(root.clone(), what.to_string(), e);
    cover(&root, hide)?;
    mount(
        Some(&root),
        &root,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| err("bind-mounting the root on itself", e))?;
    if !root.starts_with("/run") {
        mount(
            Some("tmpfs"),
            "/run",
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=0755"),
        )
        .map_err(|e| err("tmpfs on the host's /run in kaudit's namespace", e))?;
    }
    Ok(root)
}

/// Cover `root` with an overlay: `root` the read-only lower layer, a fresh
/// tmpfs the upper one. The tmpfs is mounted on a scratch directory that is
/// detached and removed again at once (the overlay keeps its layer alive),
/// so nothing is left on the host. Each of `hide` (an absolute path inside
/// `root`) gets a whiteout in the writable layer: the run does not see it.
fn cover(root: &Path, hide: &[Vec<u8>]) -> Result<(), RootError> {
    overlay_hiding(root, root, hide)
}

/// A path to hide: absolute, without empty, `.` or `..` components, and
/// not the root itself.
pub fn hideable(p: &[u8]) -> bool {
    p.starts_with(b"/")
        && p.len() > 1
        && p[1..]
            .split(|&b| b == b'/')
            .all(|c| !c.is_empty() && c != b"." && c != b"..")
}

/// Whiteouts for `hide` in the overlay's writable layer `upper`: each
/// path's parent directories, then a character device 0/0 in its place
/// (what overlayfs takes for a removed entry).
fn whiteouts(upper: &Path, hide: &[Vec<u8>]) -> Result<(), String> {
    use std::os::unix::ffi::OsStrExt;
    for p in hide {
        if !hideable(p) {
            return Err(format!(
                "cannot hide {:?}: an absolute path inside the root is needed",
                String::from_utf8_lossy(p)
            ));
        }
        let at = upper.join(std::ffi::OsStr::from_bytes(&p[1..]));
        if let Some(parent) = at.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("a whiteout's directory {}: {e}", parent.display()))?;
        }
        nix::sys::stat::mknod(
            &at,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            nix::sys::stat::makedev(0, 0),
        )
        .map_err(|e| format!("a whiteout for {}: {e}", at.display()))?;
    }
    Ok(())
}

/// Mount at `target` an overlay whose lower layer is `lower` (a peer node's
/// root, booted but not traced) and whose upper layer is a fresh tmpfs. In
/// kaudit's private mount namespace (see [`enter_boot`]).
pub fn overlay(lower: &Path, target: &Path) -> Result<(), RootError> {
    overlay_hiding(lower, target, &[])
}

fn overlay_hiding(lower: &Path, target: &Path, hide: &[Vec<u8>]) -> Result<(), RootError> {
    let root = lower;
    let err = |what: &str, e| RootError::Mount(root.to_path_buf(), what.to_string(), e);
    let text = root.to_string_lossy();
    if text.contains([',', ':', '\\']) || text != root.as_os_str().to_str().unwrap_or("") {
        return Err(err(
            "an overlay needs a path without ',', ':', '\\' or bytes that are not UTF-8",
            nix::Error::EINVAL,
        ));
    }
    let scratch = std::env::temp_dir().join(format!("kaudit-overlay-{}", std::process::id()));
    std::fs::create_dir(&scratch).map_err(|e| {
        err(
            "creating the overlay's scratch directory",
            nix::Error::from_raw(e.raw_os_error().unwrap_or(libc_eio())),
        )
    })?;
    let r = (|| {
        mount(
            Some("tmpfs"),
            &scratch,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=0700"),
        )
        .map_err(|e| err("tmpfs for the overlay", e))?;
        for d in ["upper", "work"] {
            std::fs::create_dir(scratch.join(d)).map_err(|e| {
                err(
                    "the overlay's layers",
                    nix::Error::from_raw(e.raw_os_error().unwrap_or(libc_eio())),
                )
            })?;
        }
        whiteouts(&scratch.join("upper"), hide)
            .map_err(|e| RootError::Hide(root.to_path_buf(), e))?;
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            root.display(),
            scratch.join("upper").display(),
            scratch.join("work").display()
        );
        // with an inode index and NFS export, the overlay's file handles
        // can be decoded: the file-handle group then watches it and names
        // every file through the overlay's own mount, also a file opened in
        // a container's mount namespace (an fd's link would name it from
        // that namespace's root, e.g. /bin/sh for /opt/busybox/bin/sh)
        let exported = format!("{opts},index=on,nfs_export=on");
        mount(
            Some("overlay"),
            target,
            Some("overlay"),
            MsFlags::empty(),
            Some(exported.as_str()),
        )
        .or_else(|_| {
            mount(
                Some("overlay"),
                target,
                Some("overlay"),
                MsFlags::empty(),
                Some(opts.as_str()),
            )
        })
        .map_err(|e| err("the overlay over the root", e))?;
        Ok(())
    })();
    let _ = nix::mount::umount2(&scratch, nix::mount::MntFlags::MNT_DETACH);
    let _ = std::fs::remove_dir(&scratch);
    r
}

fn libc_eio() -> i32 {
    nix::Error::EIO as i32
}
