//! Containment: every process a trace starts is in one control group of its
//! own, so that what is left at the end is killed at once — also processes
//! that double-forked, changed session, or keep forking while they are
//! killed one by one.
//!
//! At start kaudit makes a cgroup v2 group below its own (`kaudit-PID`) and
//! moves itself into it: everything it starts from then on is born there.
//! At the end it moves itself back to where it came from, kills the group
//! (`cgroup.kill`, or each process of `cgroup.procs` until none is left on
//! kernels before 5.14), waits until the group is empty and removes it.
//! Processes that moved themselves to other groups (a container runtime
//! puts containers into groups of their own) are not in it: the caller
//! also kills what is left of its own descendants (kaudit is their child
//! subreaper).
//!
//! Where no cgroup v2 hierarchy is mounted or it cannot be written, the
//! trace goes on without one and says so.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::fan::unescape;

/// The group of a running trace.
#[derive(Debug)]
pub struct Containment {
    /// The group's directory.
    dir: PathBuf,
    /// The group kaudit came from.
    home: PathBuf,
}

/// What was killed at the end.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Killed {
    /// Processes that were still in the group.
    pub processes: usize,
    /// What went wrong, if anything (the group may be left behind).
    pub problem: Option<String>,
}

/// Where the cgroup v2 hierarchy is mounted, from `/proc/self/mountinfo`.
fn cgroup2_mount() -> Option<PathBuf> {
    let text = std::fs::read("/proc/self/mountinfo").ok()?;
    for line in text.split(|&b| b == b'\n') {
        let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == b"-") else {
            continue;
        };
        if fields.get(sep + 1) == Some(&&b"cgroup2"[..]) {
            let mp = unescape(fields.get(4)?);
            return Some(PathBuf::from(
                <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(mp),
            ));
        }
    }
    None
}

/// This process's group in the cgroup v2 hierarchy (`0::/PATH`).
fn own_group() -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::to_string)
}

/// The processes of a group.
fn procs(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Whether a group still holds a process (`populated 1` in `cgroup.events`).
fn populated(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("cgroup.events"))
        .map(|t| t.lines().any(|l| l == "populated 1"))
        .unwrap_or(false)
}

impl Containment {
    /// Make the group and move this process into it.
    pub fn enter() -> Result<Containment, String> {
        let mnt = cgroup2_mount().ok_or("no cgroup v2 hierarchy is mounted")?;
        let own = own_group().ok_or("this process has no cgroup v2 group")?;
        let home = mnt.join(own.trim_start_matches('/'));
        let dir = home.join(format!("kaudit-{}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        if let Err(e) = std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string()) {
            let _ = std::fs::remove_dir(&dir);
            return Err(format!("moving kaudit into {}: {e}", dir.display()));
        }
        Ok(Containment { dir, home })
    }

    /// The group's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Move this process back, kill everything left in the group, wait for
    /// it to empty and remove it. Killed processes that are this process's
    /// children (directly, or as their subreaper) are reaped.
    pub fn kill_rest(self) -> Killed {
        let mut out = Killed::default();
        if let Err(e) = std::fs::write(
            self.home.join("cgroup.procs"),
            std::process::id().to_string(),
        ) {
            // still inside: killing the group would kill kaudit
            out.problem = Some(format!(
                "moving kaudit back to {} failed ({e}): {} is left as it is",
                self.home.display(),
                self.dir.display()
            ));
            return out;
        }
        let mut seen = std::collections::BTreeSet::new();
        seen.extend(procs(&self.dir));
        let atomic = std::fs::write(self.dir.join("cgroup.kill"), "1").is_ok();
        let deadline = Instant::now() + Duration::from_secs(10);
        while populated(&self.dir) && Instant::now() < deadline {
            for pid in procs(&self.dir) {
                seen.insert(pid);
                if !atomic {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
            reap_children();
            std::thread::sleep(Duration::from_millis(5));
        }
        reap_children();
        out.processes = seen.len();
        if populated(&self.dir) {
            out.problem = Some(format!(
                "{} still holds processes 10 s after they were killed",
                self.dir.display()
            ));
        } else if let Err(e) = std::fs::remove_dir(&self.dir) {
            out.problem = Some(format!("removing {}: {e}", self.dir.display()));
        }
        out
    }
}

/// Reap every exited child, without waiting for the others.
fn reap_children() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    while let Ok(st) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if st == WaitStatus::StillAlive {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hierarchy_and_own_group_are_found_when_mounted() {
        let mounted = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .contains(" - cgroup2 ");
        assert_eq!(cgroup2_mount().is_some(), mounted);
        if mounted {
            assert!(own_group().unwrap().starts_with('/'));
        }
    }
}
