//! Accesses: each (file, kind) once per run, with the first process and step.

use std::collections::HashMap;
use std::sync::Arc;

/// How a file was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccessKind {
    /// Opened (read or write).
    Open,
    /// A directory opened (listed).
    OpenDir,
    /// Opened for execution (`execve`, or the loader mapping a library with `PROT_EXEC` on some kernels).
    Exec,
    /// Written to.
    Modify,
    /// Closed after being opened for writing.
    CloseWrite,
    /// In use by a process already running when the trace started.
    InUseAtStart,
    /// Created (a file, directory, link or node appeared at this path).
    Create,
    /// Deleted.
    Delete,
    /// Renamed away from this path.
    MovedFrom,
    /// Renamed to this path.
    MovedTo,
}

impl AccessKind {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessKind::Open => "open",
            AccessKind::OpenDir => "opendir",
            AccessKind::Exec => "exec",
            AccessKind::Modify => "modify",
            AccessKind::CloseWrite => "close-write",
            AccessKind::InUseAtStart => "in-use-at-start",
            AccessKind::Create => "create",
            AccessKind::Delete => "delete",
            AccessKind::MovedFrom => "moved-from",
            AccessKind::MovedTo => "moved-to",
        }
    }

    /// Parse a stable name.
    pub fn from_name(s: &str) -> Option<AccessKind> {
        Some(match s {
            "open" => AccessKind::Open,
            "opendir" => AccessKind::OpenDir,
            "exec" => AccessKind::Exec,
            "modify" => AccessKind::Modify,
            "close-write" => AccessKind::CloseWrite,
            "in-use-at-start" => AccessKind::InUseAtStart,
            "create" => AccessKind::Create,
            "delete" => AccessKind::Delete,
            "moved-from" => AccessKind::MovedFrom,
            "moved-to" => AccessKind::MovedTo,
            _ => return None,
        })
    }
}

/// One recorded access: the first time this file was used this way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The file's path (on the host, or inside the traced root).
    pub path: Vec<u8>,
    /// How.
    pub kind: AccessKind,
    /// The first process.
    pub pid: i32,
    /// Its command (`exited` when it was gone before it could be read).
    pub comm: Arc<str>,
    /// Its executable.
    pub exe: Option<Arc<[u8]>>,
    /// Its parents, nearest first, as `comm[pid]`.
    pub parents: Arc<[String]>,
    /// The step running then.
    pub step: Option<Arc<str>>,
    /// How many events were seen (1 when later ones were suppressed in the kernel).
    pub count: u64,
    /// Milliseconds since the start of the run.
    pub first_ms: u64,
}

const NONE: usize = usize::MAX;
const KINDS: usize = 10;

fn slot(kind: AccessKind) -> usize {
    kind as usize
}

/// Aggregates events into accesses.
#[derive(Debug, Default)]
pub struct Recorder {
    /// path → index of its access of each kind (`NONE` when absent)
    map: HashMap<Vec<u8>, [usize; KINDS], foldhash::fast::RandomState>,
    accesses: Vec<Access>,
    events: u64,
}

impl Recorder {
    /// Record one event; returns true when it is the first of its (file, kind).
    pub fn record(&mut self, a: Access) -> bool {
        if self.bump(&a.path, a.kind) {
            return false;
        }
        self.insert(a);
        true
    }

    /// Record an access [`Recorder::bump`] just found new.
    pub(crate) fn insert(&mut self, a: Access) {
        self.events += 1;
        let idx = self.accesses.len();
        let k = slot(a.kind);
        match self.map.get_mut(a.path.as_slice()) {
            Some(slots) => slots[k] = idx,
            None => {
                let mut slots = [NONE; KINDS];
                slots[k] = idx;
                self.map.insert(a.path.clone(), slots);
            }
        }
        self.accesses.push(a);
    }

    /// Count one more event of an already recorded (path, kind); false when
    /// it is new (then call [`Recorder::record`]).
    pub fn bump(&mut self, path: &[u8], kind: AccessKind) -> bool {
        match self.map.get(path).map(|s| s[slot(kind)]) {
            Some(i) if i != NONE => {
                self.accesses[i].count += 1;
                self.events += 1;
                true
            }
            _ => false,
        }
    }

    /// Events seen.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The accesses recorded so far.
    pub fn accesses(&self) -> &[Access] {
        &self.accesses
    }

    /// Take the accesses.
    pub fn into_accesses(self) -> Vec<Access> {
        self.accesses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(path: &str, kind: AccessKind) -> Access {
        Access {
            path: path.as_bytes().to_vec(),
            kind,
            pid: 1,
            comm: "x".into(),
            exe: None,
            parents: Arc::from([]),
            step: None,
            count: 1,
            first_ms: 0,
        }
    }

    #[test]
    fn each_path_and_kind_once_with_a_count() {
        let mut r = Recorder::default();
        assert!(r.record(a("/f", AccessKind::Open)));
        assert!(!r.record(a("/f", AccessKind::Open)));
        assert!(r.record(a("/f", AccessKind::Exec)));
        assert!(r.bump(b"/f", AccessKind::Open));
        assert!(!r.bump(b"/g", AccessKind::Open));
        assert!(r.bump(b"/f", AccessKind::Exec));
        assert_eq!(r.events(), 5);
        let all = r.into_accesses();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].count, 3);
    }
}
