//! Running a workload inside another root: a private mount namespace in
//! which the root is bind-mounted on itself (runc needs `/` to be a mount
//! point), `/proc`, `/sys` and `/dev` are recursively bind-mounted into it and
//! `/run` and `/tmp` are fresh tmpfs. Commands then enter it with `chroot`.
//! The mounts vanish with the namespace when kaudit exits; the host's mount
//! table is never changed.

use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

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
}

/// Enter a private mount namespace and prepare `root` in it. Call before any
/// other thread exists: the mount namespace is per thread.
pub fn enter(root: &Path) -> Result<PathBuf, RootError> {
    let root =
        std::fs::canonicalize(root).map_err(|_| RootError::NotADirectory(root.to_path_buf()))?;
    if !root.is_dir() {
        return Err(RootError::NotADirectory(root));
    }
    let err = |what: &str, e| RootError::Mount(root.clone(), what.to_string(), e);
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| err("unshare(CLONE_NEWNS)", e))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| err("making mounts private", e))?;
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
