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
//! Groups the workload made elsewhere — containerd's `default` group for
//! its containers in every hierarchy, systemd-nspawn's `payload` and
//! `supervisor`, the groups of a booted node's services — are removed at
//! the end too: the directories of every cgroup hierarchy are listed when
//! the trace starts, and every one that appeared since and is empty by the
//! end is removed, deepest first.
//!
//! Where no cgroup v2 hierarchy is mounted or it cannot be written, the
//! trace goes on without one and says so.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The group of a running trace.
#[derive(Debug)]
pub struct Containment {
    /// The group's directory.
    dir: PathBuf,
    /// The group kaudit came from.
    home: PathBuf,
    stale: Vec<(String, usize)>,
    /// Kill process by process even where `cgroup.kill` exists (test mode:
    /// the way kernels before 5.14 are served).
    one_by_one: bool,
    /// The group was killed and removed (by [`Containment::kill_rest`]).
    done: bool,
}

/// A trace that ends early (its command cannot start, an error) still
/// moves back out of its group, kills what is in it and removes it: no
/// `kaudit-PID` group is left behind by a kaudit that is not killed.
impl Drop for Containment {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.finish();
        }
    }
}

/// What was killed at the end.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Killed {
    /// Processes that were still in the group.
    pub processes: usize,
    /// They were killed one by one (no `cgroup.kill`: Linux before 5.14).
    pub one_by_one: bool,
    /// What went wrong, if anything (the group may be left behind).
    pub problem: Option<String>,
}

/// Where the cgroup v2 hierarchy is mounted.
fn cgroup2_mount() -> Option<PathBuf> {
    crate::fan::mounts()
        .into_iter()
        .find(|(_, fstype)| fstype == "cgroup2")
        .map(|(mp, _)| mp)
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
        let stale = clear_stale(&home);
        let dir = home.join(format!("kaudit-{}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        if let Err(e) = std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string()) {
            let _ = std::fs::remove_dir(&dir);
            return Err(format!("moving kaudit into {}: {e}", dir.display()));
        }
        Ok(Containment {
            dir,
            home,
            stale,
            one_by_one: false,
            done: false,
        })
    }

    /// Test mode: at the end, kill process by process as on kernels without
    /// `cgroup.kill`.
    pub fn kill_one_by_one(&mut self) {
        self.one_by_one = true;
    }

    /// Groups of earlier traces that were killed (`SIGKILL`, a crash) before
    /// they could remove their own, cleared when this one started: each
    /// group's name and how many processes were still in it (killed).
    pub fn stale(&self) -> &[(String, usize)] {
        &self.stale
    }

    /// The group's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Move this process back, kill everything left in the group, wait for
    /// it to empty and remove it. Killed processes that are this process's
    /// children (directly, or as their subreaper) are reaped.
    pub fn kill_rest(mut self) -> Killed {
        let out = self.finish();
        self.done = true;
        out
    }

    fn finish(&mut self) -> Killed {
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
        (out.processes, out.one_by_one) =
            kill_cgroup(&self.dir, Duration::from_secs(10), !self.one_by_one);
        if populated(&self.dir) {
            out.problem = Some(format!(
                "{} still holds processes 10 s after they were killed",
                self.dir.display()
            ));
        } else {
            // groups made below the run's own (a booted node's) first
            remove_below(&self.dir);
            if let Err(e) = std::fs::remove_dir(&self.dir) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    out.problem = Some(format!("removing {}: {e}", self.dir.display()));
                }
            }
        }
        out
    }
}

/// Kill what is in a group (`cgroup.kill` when `at_once` and the kernel has
/// it, else each process until none is left) and wait, up to `limit`, until
/// it is empty; returns the processes seen in it, and whether they were
/// killed one by one.
fn kill_cgroup(dir: &Path, limit: Duration, at_once: bool) -> (usize, bool) {
    let mut seen = std::collections::BTreeSet::new();
    seen.extend(procs(dir));
    let atomic = at_once && std::fs::write(dir.join("cgroup.kill"), "1").is_ok();
    let deadline = Instant::now() + limit;
    while populated(dir) && Instant::now() < deadline {
        for pid in procs(dir) {
            seen.insert(pid);
            if !atomic {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        reap_children();
        std::thread::sleep(Duration::from_millis(5));
    }
    reap_children();
    (seen.len(), !atomic)
}

/// The groups `kaudit-PID` in `home` whose kaudit is gone (no process PID
/// in that group): what they hold is left over from a killed trace, and is
/// killed; the groups are removed.
fn clear_stale(home: &Path) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(home) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("kaudit-")
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        // alive: still in its group, or a kaudit ending (it moves itself
        // out before it kills the group)
        let owner_alive = pid == std::process::id()
            || std::fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|c| {
                c.lines()
                    .any(|l| l.starts_with("0::") && l.ends_with(&name))
            })
            || std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim_end() == "kaudit");
        if owner_alive {
            continue;
        }
        let dir = e.path();
        let (killed, _) = kill_cgroup(&dir, Duration::from_secs(5), true);
        if std::fs::remove_dir(&dir).is_ok() {
            out.push((name, killed));
        }
    }
    out
}

/// The mount points of every cgroup hierarchy (v1 and v2).
fn hierarchies() -> Vec<PathBuf> {
    crate::fan::mounts()
        .into_iter()
        .filter(|(_, fstype)| fstype == "cgroup" || fstype == "cgroup2")
        .map(|(mp, _)| mp)
        .collect()
}

/// Every directory of every cgroup hierarchy.
fn cgroup_dirs() -> std::collections::BTreeSet<PathBuf> {
    let mut out = std::collections::BTreeSet::new();
    let mut todo = hierarchies();
    while let Some(d) = todo.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    todo.push(e.path());
                }
            }
        }
        out.insert(d);
    }
    out
}

/// Remove every group below `dir`, deepest first (those still holding a
/// process stay).
fn remove_below(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_below(&e.path());
            let _ = std::fs::remove_dir(e.path());
        }
    }
}

/// The directories of every cgroup hierarchy at one moment.
#[derive(Debug, Clone, Default)]
pub struct CgroupSnapshot(std::collections::BTreeSet<PathBuf>);

impl CgroupSnapshot {
    /// List them now.
    pub fn take() -> CgroupSnapshot {
        CgroupSnapshot(cgroup_dirs())
    }

    /// Remove the directories made since, deepest first, retrying for a
    /// moment while killed processes leave them; returns how many were
    /// removed, and those left because they still hold a process (not the
    /// run's: the run's processes were killed before).
    pub fn sweep(&self) -> (usize, Vec<PathBuf>) {
        let mut removed = 0;
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let new: Vec<PathBuf> = cgroup_dirs()
                .into_iter()
                .filter(|d| !self.0.contains(d))
                .collect();
            let mut left = Vec::new();
            // deepest first: sorted paths, in reverse
            for d in new.into_iter().rev() {
                match std::fs::remove_dir(&d) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(_) => left.push(d),
                }
            }
            if left.is_empty() || Instant::now() >= deadline {
                return (removed, left);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
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
