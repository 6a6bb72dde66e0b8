//! Accesses: each (file, kind) once per run, with the first process and step.

use std::collections::HashMap;

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
    pub comm: String,
    /// Its executable.
    pub exe: Option<Vec<u8>>,
    /// Its parents, nearest first, as `comm[pid]`.
    pub parents: Vec<String>,
    /// The step running then.
    pub step: Option<String>,
    /// How many events were seen (1 when later ones were suppressed in the kernel).
    pub count: u64,
    /// Milliseconds since the start of the run.
    pub first_ms: u64,
}

/// Aggregates events into accesses.
#[derive(Debug, Default)]
pub struct Recorder {
    map: HashMap<(Vec<u8>, AccessKind), usize>,
    accesses: Vec<Access>,
    events: u64,
}

impl Recorder {
    /// Record one event; returns true when it is the first of its (file, kind).
    pub fn record(&mut self, a: Access) -> bool {
        self.events += 1;
        let key = (a.path.clone(), a.kind);
        match self.map.get(&key) {
            Some(&i) => {
                self.accesses[i].count += 1;
                false
            }
            None => {
                self.map.insert(key, self.accesses.len());
                self.accesses.push(a);
                true
            }
        }
    }

    /// Whether (path, kind) is already recorded.
    pub fn seen(&self, path: &[u8], kind: AccessKind) -> bool {
        self.map.contains_key(&(path.to_vec(), kind))
    }

    /// Events seen.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Accesses recorded since the last call (for batched storage).
    pub fn accesses(&self) -> &[Access] {
        &self.accesses
    }

    /// Take the accesses.
    pub fn into_accesses(self) -> Vec<Access> {
        self.accesses
    }
}
