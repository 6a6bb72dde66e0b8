//! The end of a run, kept beside the graph when the graph cannot take it.
//!
//! A trace stores what is left of its run at the end (accesses not stored
//! in batches yet, counts, names, how it ended) in one transaction. When
//! that fails — another process holds the graph past the busy timeout, say —
//! the same data is written to `FILE.run-ID.pending` beside the graph `FILE`,
//! and every later open of the graph for writing stores it (in one
//! transaction) and removes the file. The file is JSON: an object with
//! `format` (1), `run`, `status`, `complete`, `events`, `lost` (strings),
//! `finished_at`, `names_status`, `counts` (`[path, kind, count]`),
//! `accesses` and `names` (objects with the columns of the `access` and
//! `name` tables, `hops` as `[link, target]` pairs); every path is a string
//! of hexadecimal digits, two per byte.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::runs::{AccessRow, NameRow};
use crate::store::{Db, DbError};

/// What a run's end stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRun {
    /// The run.
    pub run: i64,
    /// `passed`, `failed`, `interrupted`.
    pub status: String,
    /// No event can have been lost.
    pub complete: bool,
    /// Events read.
    pub events: u64,
    /// Why events may be missing.
    pub lost: Vec<String>,
    /// When it ended.
    pub finished_at: i64,
    /// Accesses stored already whose count grew: (path, kind, count).
    pub counts: Vec<(Vec<u8>, String, i64)>,
    /// Accesses not stored yet.
    pub accesses: Vec<AccessRow>,
    /// Names.
    pub names: Vec<NameRow>,
    /// `complete`, or why the names are partial.
    pub names_status: String,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(v: &Value) -> Option<Vec<u8>> {
    let s = v.as_str()?;
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn opt_hex(v: &Value) -> Option<Option<Vec<u8>>> {
    if v.is_null() {
        Some(None)
    } else {
        unhex(v).map(Some)
    }
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

fn opt_text(v: &Value) -> Option<Option<String>> {
    if v.is_null() {
        Some(None)
    } else {
        text(v).map(Some)
    }
}

impl PendingRun {
    /// As JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "format": 1,
            "run": self.run,
            "status": self.status,
            "complete": self.complete,
            "events": self.events,
            "lost": self.lost,
            "finished_at": self.finished_at,
            "names_status": self.names_status,
            "counts": self.counts.iter().map(|(p, k, c)| json!([hex(p), k, c])).collect::<Vec<_>>(),
            "accesses": self.accesses.iter().map(|a| json!({
                "path": hex(&a.path), "kind": a.kind, "pid": a.pid, "comm": a.comm,
                "exe": a.exe.as_deref().map(hex), "parents": a.parents, "step": a.step,
                "count": a.count, "first_ms": a.first_ms,
            })).collect::<Vec<_>>(),
            "names": self.names.iter().map(|n| json!({
                "path": hex(&n.path), "call": n.call, "result": n.result, "nofollow": n.nofollow,
                "evidence": n.evidence, "resolved": n.resolved.as_deref().map(hex),
                "hops": n.hops.iter().map(|(l, t)| json!([hex(l), hex(t)])).collect::<Vec<_>>(),
                "pid": n.pid, "comm": n.comm, "step": n.step, "count": n.count,
                "first_ms": n.first_ms,
            })).collect::<Vec<_>>(),
        })
    }

    /// Read back what [`to_json`](Self::to_json) wrote; `None` when it is
    /// not that.
    pub fn from_json(v: &Value) -> Option<PendingRun> {
        if v.get("format")?.as_i64()? != 1 {
            return None;
        }
        let arr = |k: &str| v.get(k).and_then(Value::as_array);
        let counts = arr("counts")?
            .iter()
            .map(|c| {
                let c = c.as_array()?;
                Some((unhex(c.first()?)?, text(c.get(1)?)?, c.get(2)?.as_i64()?))
            })
            .collect::<Option<Vec<_>>>()?;
        let accesses = arr("accesses")?
            .iter()
            .map(|a| {
                Some(AccessRow {
                    path: unhex(a.get("path")?)?,
                    kind: text(a.get("kind")?)?,
                    pid: a.get("pid")?.as_i64()?,
                    comm: text(a.get("comm")?)?,
                    exe: opt_hex(a.get("exe")?)?,
                    parents: text(a.get("parents")?)?,
                    step: opt_text(a.get("step")?)?,
                    count: a.get("count")?.as_i64()?,
                    first_ms: a.get("first_ms")?.as_i64()?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let names = arr("names")?
            .iter()
            .map(|n| {
                Some(NameRow {
                    path: unhex(n.get("path")?)?,
                    call: text(n.get("call")?)?,
                    result: text(n.get("result")?)?,
                    nofollow: n.get("nofollow")?.as_bool()?,
                    evidence: text(n.get("evidence")?)?,
                    resolved: opt_hex(n.get("resolved")?)?,
                    hops: n
                        .get("hops")?
                        .as_array()?
                        .iter()
                        .map(|h| {
                            let h = h.as_array()?;
                            Some((unhex(h.first()?)?, unhex(h.get(1)?)?))
                        })
                        .collect::<Option<Vec<_>>>()?,
                    pid: n.get("pid")?.as_i64()?,
                    comm: text(n.get("comm")?)?,
                    step: opt_text(n.get("step")?)?,
                    count: n.get("count")?.as_i64()?,
                    first_ms: n.get("first_ms")?.as_i64()?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(PendingRun {
            run: v.get("run")?.as_i64()?,
            status: text(v.get("status")?)?,
            complete: v.get("complete")?.as_bool()?,
            events: v.get("events")?.as_u64()?,
            lost: arr("lost")?.iter().map(text).collect::<Option<Vec<_>>>()?,
            finished_at: v.get("finished_at")?.as_i64()?,
            counts,
            accesses,
            names,
            names_status: text(v.get("names_status")?)?,
        })
    }
}

/// `FILE.run-ID.pending` beside the graph `FILE`.
pub fn pending_path(db: &Path, run: i64) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(format!(".run-{run}.pending"));
    PathBuf::from(p)
}

/// The pending runs' files beside the graph `db`, by run.
fn pending_files(db: &Path) -> Vec<(i64, PathBuf)> {
    let (Some(dir), Some(name)) = (db.parent(), db.file_name()) else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.run-", name.to_string_lossy());
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(i64, PathBuf)> = rd
        .flatten()
        .filter_map(|e| {
            let n = e.file_name();
            let n = n.to_str()?;
            let id: i64 = n
                .strip_prefix(&prefix)?
                .strip_suffix(".pending")?
                .parse()
                .ok()?;
            Some((id, pending_path(db, id)))
        })
        .collect();
    out.sort();
    out
}

impl Db {
    /// Store the end of a run in one transaction: nothing of it is kept
    /// when it fails.
    pub fn store_run_end(&mut self, p: &PendingRun) -> Result<(), DbError> {
        let lost = (!p.lost.is_empty()).then(|| p.lost.join("\n"));
        self.write(|tx| {
            let counts: Vec<(&[u8], &str, i64)> = p
                .counts
                .iter()
                .map(|(a, b, c)| (a.as_slice(), b.as_str(), *c))
                .collect();
            crate::runs::set_access_counts(tx, p.run, &counts)?;
            crate::runs::add_accesses(tx, p.run, &p.accesses)?;
            crate::runs::add_names(tx, p.run, &p.names, &p.names_status)?;
            tx.execute(
                "UPDATE run SET status = ?2, complete = ?3, events = ?4, lost = ?5, finished_at = ?6 WHERE id = ?1",
                rusqlite::params![p.run, p.status, p.complete, p.events as i64, lost, p.finished_at],
            )?;
            Ok(())
        })
    }

    /// Store the ends of runs kept beside the graph ([`pending_path`]) and
    /// remove their files; the runs stored. A file that cannot be read is
    /// left where it is; a graph that cannot take it now is an error.
    pub fn store_pending_runs(&mut self) -> Result<Vec<i64>, DbError> {
        let mut stored = Vec::new();
        for (id, file) in pending_files(self.path()) {
            let Some(p) = std::fs::read(&file)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .and_then(|v| PendingRun::from_json(&v))
                .filter(|p| p.run == id)
            else {
                continue;
            };
            self.store_run_end(&p)?;
            // stored: the file has done its work
            let _ = std::fs::remove_file(&file);
            stored.push(id);
        }
        Ok(stored)
    }
}

/// Write `p` beside the graph `db` (through a temporary file renamed into
/// place); its path.
pub fn keep_beside(db: &Path, p: &PendingRun) -> std::io::Result<PathBuf> {
    let path = pending_path(db, p.run);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let text = serde_json::to_vec(&p.to_json()).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_run_reads_back_as_written() {
        let p = PendingRun {
            run: 7,
            status: "passed".into(),
            complete: true,
            events: 3,
            lost: vec!["x".into()],
            finished_at: 5,
            counts: vec![(b"/a\xff".to_vec(), "open".into(), 2)],
            accesses: vec![AccessRow {
                path: b"/b".to_vec(),
                kind: "exec".into(),
                pid: 1,
                comm: "sh".into(),
                exe: None,
                parents: "".into(),
                step: Some("s".into()),
                count: 1,
                first_ms: 0,
            }],
            names: vec![NameRow {
                path: b"/c".to_vec(),
                call: "openat".into(),
                result: "ok".into(),
                nofollow: false,
                evidence: "asked".into(),
                resolved: Some(b"/d".to_vec()),
                hops: vec![(b"/c".to_vec(), b"d".to_vec())],
                pid: 2,
                comm: "cat".into(),
                step: None,
                count: 1,
                first_ms: 4,
            }],
            names_status: "complete".into(),
        };
        assert_eq!(PendingRun::from_json(&p.to_json()), Some(p));
    }
}
