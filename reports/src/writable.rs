//! The read-only layout: from the writes seen in the runs, the directories
//! that must be writable in a read-only image, and whether what is written
//! there must persist.

use std::collections::{BTreeMap, BTreeSet};

use kaudit_graph::{Db, DbError, RunRow};
use serde::Serialize;

use crate::graph::Graph;
use kaudit_analyzer::bytes::at_or_below as under;

use crate::{parent, show};

/// Access kinds that write.
const WRITES: &[&str] = &[
    "modify",
    "close-write",
    "create",
    "delete",
    "moved-from",
    "moved-to",
];

/// Where the kernel's own filesystems are mounted on every node.
const KERNEL: &[&[u8]] = &[b"/proc", b"/sys", b"/dev"];

/// A directory that must be writable.
#[derive(Debug, Clone, Serialize)]
pub struct Writable {
    /// The directory, inside the root.
    pub path: String,
    /// `tmpfs` or `persistent`.
    pub class: &'static str,
    /// Why that class.
    pub why: String,
    /// The directory is in the scanned root (else it is created at run
    /// time, and `base` is the nearest directory above it that is).
    pub in_root: bool,
    /// The nearest directory of the scanned root at or above it.
    pub base: String,
    /// Writes seen below it, by kind.
    pub writes: BTreeMap<String, u64>,
    /// One example: a path written, and by whom.
    pub example: String,
}

struct Write {
    path: Vec<u8>,
    kind: String,
    comm: String,
    run: i64,
}

/// The mount points of filesystems of type `fstype` during run `r`,
/// inside its root (from the run's marks: `MOUNTPOINT (FSTYPE): how`).
fn mounts_of(r: &RunRow, marks: &str, fstype: &str) -> Vec<Vec<u8>> {
    marks
        .lines()
        .filter_map(|l| {
            let (mp, rest) = l.split_once(" (")?;
            rest.strip_prefix(fstype)?.starts_with(')').then_some(mp)
        })
        .filter_map(|mp| crate::within_root(&r.root, mp.as_bytes()))
        .collect()
}

/// The writable directories of `runs`: the top-most directories written
/// in (a file created, deleted, renamed, or modified there), each
/// `tmpfs` when it was on a tmpfs during the run or when nothing written
/// there outlived the run, else `persistent`.
pub fn writable(graph: &mut Graph<'_>, runs: &[RunRow]) -> Result<Vec<Writable>, DbError> {
    let db: &Db = graph.db();
    let mut writes = Vec::new();
    let mut tmpfs: Vec<Vec<u8>> = Vec::new();
    for r in runs {
        let marks = db.run_marks(r.id)?.unwrap_or_default();
        tmpfs.extend(mounts_of(r, &marks, "tmpfs"));
        let devs = mounts_of(r, &marks, "devtmpfs");
        for a in db.accesses(r.id)? {
            // writes to device nodes (/dev/null) and kernel interfaces
            // (/sys/fs/cgroup, /proc) need no writable directory of the image
            if devs.iter().any(|d| under(&a.path, d)) || KERNEL.iter().any(|k| under(&a.path, k)) {
                continue;
            }
            if WRITES.contains(&a.kind.as_str()) {
                writes.push(Write {
                    path: a.path,
                    kind: a.kind,
                    comm: a.comm,
                    run: r.id,
                });
            }
        }
    }
    tmpfs.sort();
    tmpfs.dedup();
    // the directory each write needs writable: the one holding the entry
    let mut dirs: BTreeSet<Vec<u8>> = BTreeSet::new();
    for w in &writes {
        if let Some(d) = parent(&w.path) {
            dirs.insert(d.to_vec());
        }
    }
    // the top-most ones
    let mut top: Vec<Vec<u8>> = Vec::new();
    for d in dirs {
        if !top.iter().any(|t| under(&d, t)) {
            top.push(d);
        }
    }
    let mut out = Vec::new();
    for d in top {
        let mine: Vec<&Write> = writes
            .iter()
            .filter(|w| parent(&w.path).is_some_and(|p| under(p, &d)))
            .collect();
        let mut kinds = BTreeMap::new();
        for w in &mine {
            *kinds.entry(w.kind.clone()).or_insert(0u64) += 1;
        }
        // the nearest directory the image has
        let mut base = d.clone();
        let in_root = graph.file(&d)?.is_some();
        while graph.file(&base)?.is_none() {
            match parent(&base) {
                Some(p) => base = p.to_vec(),
                None => break,
            }
        }
        let on_tmpfs = tmpfs.iter().find(|m| under(&d, m));
        // per (run, path): created in the run and gone again by its end
        let transient = mine.iter().all(|w| {
            let same: Vec<&&Write> = mine
                .iter()
                .filter(|x| x.run == w.run && x.path == w.path)
                .collect();
            let made = same
                .iter()
                .any(|x| x.kind == "create" || x.kind == "moved-to");
            let gone = same
                .iter()
                .any(|x| x.kind == "delete" || x.kind == "moved-from");
            made && gone
        });
        let (class, why) = if let Some(m) = on_tmpfs {
            ("tmpfs", format!("on a tmpfs ({}) during the run", show(m)))
        } else if transient {
            (
                "tmpfs",
                "everything written there was created and removed within the run".to_string(),
            )
        } else {
            (
                "persistent",
                "files written there outlive the run".to_string(),
            )
        };
        let ex = mine
            .iter()
            .find(|w| w.kind == "create" || w.kind == "close-write")
            .or(mine.first())
            .map(|w| format!("{} {} by {}", show(&w.path), w.kind, w.comm))
            .unwrap_or_default();
        out.push(Writable {
            path: show(&d),
            class,
            why,
            in_root,
            base: show(&base),
            writes: kinds,
            example: ex,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmpfs_marks_are_mapped_into_the_root() {
        let r = RunRow {
            id: 1,
            name: "x".into(),
            kind: "scenario".into(),
            root: b"/srv/node".to_vec(),
            status: "passed".into(),
            complete: true,
            ..RunRow::default()
        };
        let marks = "/srv/node (ext4): filesystem\n/srv/node/run (tmpfs): filesystem (file handles)\n/elsewhere (tmpfs): filesystem";
        assert_eq!(mounts_of(&r, marks, "tmpfs"), vec![b"/run".to_vec()]);
        assert!(mounts_of(&r, marks, "tmp").is_empty());
        assert!(under(b"/run/containerd/x", b"/run"));
        assert!(!under(b"/runx", b"/run"));
    }
}
