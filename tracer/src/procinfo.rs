//! Process attribution: pid → command, executable, parent chain.
//!
//! Read from `/proc/PID` when a pid is first seen, so short-lived processes
//! are caught while they exist; a process already gone is reported as
//! `exited`, never guessed.

use std::collections::HashMap;
use std::sync::Arc;

/// What is known about one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    /// Process id (thread group id).
    pub pid: i32,
    /// `comm`, or `exited` when the process was gone before it could be read.
    pub comm: Arc<str>,
    /// The executable (`/proc/PID/exe`), when readable.
    pub exe: Option<Arc<[u8]>>,
    /// Parent pid.
    pub ppid: Option<i32>,
    /// Whether the process had exited when first seen.
    pub exited: bool,
}

/// Reads and caches [`ProcInfo`] by pid, and each pid's parent chain as
/// first described.
#[derive(Debug, Default)]
pub struct ProcCache {
    map: HashMap<i32, Arc<ProcInfo>>,
    chains: HashMap<i32, Arc<[String]>>,
}

/// The parent of process `pid` (from `/proc/PID/stat`), when it exists.
pub fn ppid(pid: i32) -> Option<i32> {
    let s = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid …; comm may hold spaces and parentheses
    let end = s.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&s[end + 1..]).ok()?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Read one process from `/proc`.
pub fn read(pid: i32) -> ProcInfo {
    use std::os::unix::ffi::OsStrExt;
    let base = format!("/proc/{pid}");
    let comm = std::fs::read(format!("{base}/comm"))
        .ok()
        .map(|c| Arc::from(String::from_utf8_lossy(&c).trim_end()));
    let exe = std::fs::read_link(format!("{base}/exe"))
        .ok()
        .map(|p| Arc::from(p.as_os_str().as_bytes()));
    let ppid = ppid(pid);
    match comm {
        Some(comm) => ProcInfo {
            pid,
            comm,
            exe,
            ppid,
            exited: false,
        },
        None => ProcInfo {
            pid,
            comm: "exited".into(),
            exe: None,
            ppid: None,
            exited: true,
        },
    }
}

impl ProcCache {
    /// The process `pid`, read now if not cached, with its ancestors.
    pub fn get(&mut self, pid: i32) -> Arc<ProcInfo> {
        if let Some(p) = self.map.get(&pid) {
            return p.clone();
        }
        let info = Arc::new(read(pid));
        self.map.insert(pid, info.clone());
        // capture the parent chain while it exists
        let mut next = info.ppid;
        let mut depth = 0;
        while let Some(pp) = next {
            if pp <= 0 || depth > 64 || self.map.contains_key(&pp) {
                break;
            }
            let p = Arc::new(read(pp));
            next = p.ppid;
            self.map.insert(pp, p);
            depth += 1;
        }
        info
    }

    /// Forget a pid (e.g. after it exited and its number may be reused).
    pub fn forget(&mut self, pid: i32) {
        self.map.remove(&pid);
        self.chains.remove(&pid);
    }

    /// The parent chain of `pid`, nearest first, as `comm[pid]` strings:
    /// described once per pid (until it is forgotten), then shared.
    pub fn parents(&mut self, pid: i32) -> Arc<[String]> {
        if let Some(c) = self.chains.get(&pid) {
            return c.clone();
        }
        let c: Arc<[String]> = self.describe_parents(pid).into();
        self.chains.insert(pid, c.clone());
        c
    }

    fn describe_parents(&self, pid: i32) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = self.map.get(&pid).and_then(|p| p.ppid);
        while let Some(pp) = cur {
            if pp <= 0 || out.len() > 64 {
                break;
            }
            match self.map.get(&pp) {
                Some(p) => {
                    out.push(format!("{}[{}]", p.comm, pp));
                    cur = p.ppid;
                }
                None => {
                    out.push(format!("?[{pp}]"));
                    break;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_its_parents() {
        let me = std::process::id() as i32;
        let mut c = ProcCache::default();
        let p = c.get(me);
        assert!(!p.exited);
        assert!(p.exe.is_some());
        assert!(!c.parents(me).is_empty());
        // a pid that cannot exist
        let gone = read(i32::MAX);
        assert!(gone.exited);
        assert_eq!(&*gone.comm, "exited");
    }
}
