//! Traced runs and their accesses.

use rusqlite::{params, OptionalExtension};

use crate::store::{Db, DbError};

/// A run as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunRow {
    /// Id.
    pub id: i64,
    /// Scenario name (or the ad-hoc name).
    pub name: String,
    /// `ad-hoc` or `scenario`.
    pub kind: String,
    /// The command (ad-hoc runs).
    pub command: Option<String>,
    /// Root traced.
    pub root: Vec<u8>,
    /// Host name.
    pub host: String,
    /// Kernel release.
    pub kernel: String,
    /// Start, seconds since the epoch.
    pub started_at: i64,
    /// End.
    pub finished_at: Option<i64>,
    /// `running` (never finished: killed), `passed`, `failed`, `interrupted`.
    pub status: String,
    /// No event can have been lost.
    pub complete: bool,
    /// Events read.
    pub events: i64,
    /// Why events may be missing.
    pub lost: Option<String>,
    /// Names: `complete`, or `partial: why` (`None`: not recorded yet, or a
    /// run from before names existed).
    pub names: Option<String>,
}

/// One stored access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRow {
    /// Path.
    pub path: Vec<u8>,
    /// Kind name.
    pub kind: String,
    /// First process.
    pub pid: i64,
    /// Its command.
    pub comm: String,
    /// Its executable.
    pub exe: Option<Vec<u8>>,
    /// Its parents, nearest first.
    pub parents: String,
    /// Step.
    pub step: Option<String>,
    /// Events counted.
    pub count: i64,
    /// Milliseconds after the start.
    pub first_ms: i64,
}

/// A symlink a name walked: (where the link is, its stored target).
type Hop = (Vec<u8>, Vec<u8>);

/// One stored name: a path a program asked for, and the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRow {
    /// The absolute path asked for, inside the run's root.
    pub path: Vec<u8>,
    /// The system call.
    pub call: String,
    /// `ok` or the error's name.
    pub result: String,
    /// The last component was not followed.
    pub nofollow: bool,
    /// `asked` (the name was found), `probed-absent` (`ENOENT`: an optional
    /// file, not needed) or `failed` (another error).
    pub evidence: String,
    /// What the name reached in the root when the run was stored (the final
    /// target, or the entry itself when the last component is not followed).
    pub resolved: Option<Vec<u8>>,
    /// The symlinks it walked, in order: (link, stored target).
    pub hops: Vec<(Vec<u8>, Vec<u8>)>,
    /// First process that asked.
    pub pid: i64,
    /// Its command.
    pub comm: String,
    /// Step.
    pub step: Option<String>,
    /// Times asked.
    pub count: i64,
    /// Milliseconds after the start.
    pub first_ms: i64,
}

/// A name a run asked for without success ([`Db::names_for`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameProbe {
    /// The run.
    pub run: i64,
    /// Its scenario (run name).
    pub scenario: String,
    /// The system call.
    pub call: String,
    /// The error's name.
    pub result: String,
    /// `probed-absent` or `failed`.
    pub evidence: String,
    /// First process that asked.
    pub pid: i64,
    /// Its command.
    pub comm: String,
    /// Step.
    pub step: Option<String>,
    /// The path asked for.
    pub path: Vec<u8>,
}

/// A new run, before it has finished.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    /// Name.
    pub name: &'a str,
    /// `ad-hoc` or `scenario`.
    pub kind: &'a str,
    /// Command line, for ad-hoc runs.
    pub command: Option<&'a str>,
    /// Parameters (JSON).
    pub params: Option<&'a str>,
    /// Root traced (host path).
    pub root: &'a [u8],
    /// Host name.
    pub host: &'a str,
    /// Kernel release.
    pub kernel: &'a str,
    /// Start time.
    pub started_at: i64,
    /// What is watched (text).
    pub marks: &'a str,
}

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: r.get(2)?,
        command: r.get(3)?,
        root: r.get(4)?,
        host: r.get(5)?,
        kernel: r.get(6)?,
        started_at: r.get(7)?,
        finished_at: r.get(8)?,
        status: r.get(9)?,
        complete: r.get(10)?,
        events: r.get(11)?,
        lost: r.get(12)?,
        names: r.get(13)?,
    })
}

const RUN_COLS: &str =
    "id, name, kind, command, root, host, kernel, started_at, finished_at, status, complete, events, lost, names";

impl Db {
    /// The parameters a scenario run was given, as stored (`{"file": …,
    /// "params": {NAME: VALUE}}`); `None` for an ad-hoc run.
    pub fn run_params(&self, id: i64) -> Result<Option<String>, DbError> {
        let c = self.connection();
        c.query_row("SELECT params FROM run WHERE id = ?1", [id], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Record that a run starts (status `running`, incomplete): a run killed
    /// before it finishes stays visible as such.
    pub fn begin_run(&mut self, run: &NewRun<'_>) -> Result<i64, DbError> {
        let c = self.connection();
        c.execute(
            "INSERT INTO run (name, kind, command, params, root, host, kernel, started_at, status, complete, marks, pid)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'running', 0, ?9, ?10)",
            params![
                run.name,
                run.kind,
                run.command,
                run.params,
                run.root,
                run.host,
                run.kernel,
                run.started_at,
                run.marks,
                std::process::id()
            ],
        )
        .map_err(|e| self.err(e))?;
        Ok(c.last_insert_rowid())
    }

    /// Settle the runs of this host left `running` by a tracer that is gone
    /// (killed before it could finish them): each becomes `interrupted` and
    /// incomplete, its `lost` saying why, its events the accesses stored.
    /// A run whose tracer (its `pid`, a `kaudit` process) is still alive is
    /// left alone, as is one from before the tracer's pid was recorded.
    /// Returns the settled runs' ids and names.
    pub fn settle_abandoned_runs(
        &mut self,
        host: &str,
        now: i64,
    ) -> Result<Vec<(i64, String)>, DbError> {
        let tracing = |pid: u32| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim_end() == "kaudit")
        };
        self.write(|tx| {
            let candidates: Vec<(i64, String, u32)> = {
                let mut st = tx.prepare(
                    "SELECT id, name, pid FROM run WHERE status = 'running' AND host = ?1 AND pid IS NOT NULL ORDER BY id",
                )?;
                let rows = st.query_map([host], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let mut settled = Vec::new();
            for (id, name, pid) in candidates {
                if pid == std::process::id() || tracing(pid) {
                    continue;
                }
                tx.execute(
                    "UPDATE run SET status = 'interrupted', complete = 0, finished_at = ?2,
                     events = (SELECT COALESCE(SUM(count), 0) FROM access WHERE run = ?1),
                     lost = ?3 WHERE id = ?1",
                    params![
                        id,
                        now,
                        format!(
                            "kaudit (pid {pid}) ended before it finished the run (killed): what it \
                             stored until then is kept, anything after is missing"
                        )
                    ],
                )?;
                settled.push((id, name));
            }
            Ok(settled)
        })
    }

    /// Store a batch of accesses of run `id` (one transaction). An access
    /// already stored for the run (a batch tried again) keeps its first
    /// process and takes the batch's count.
    pub fn add_accesses(&mut self, id: i64, accesses: &[AccessRow]) -> Result<(), DbError> {
        self.write(|tx| add_accesses(tx, id, accesses))
    }

    /// Set the counts of accesses of run `id` stored already, as
    /// (path, kind, count), in one transaction.
    pub fn set_access_counts(
        &mut self,
        id: i64,
        counts: &[(&[u8], &str, i64)],
    ) -> Result<(), DbError> {
        if counts.is_empty() {
            return Ok(());
        }
        self.write(|tx| set_access_counts(tx, id, counts))
    }

    /// Store the names of run `id` (one transaction), and how complete they
    /// are (`names`: `complete`, or why they are partial).
    pub fn add_names(&mut self, id: i64, names: &[NameRow], status: &str) -> Result<(), DbError> {
        self.write(|tx| add_names(tx, id, names, status))
    }

    /// The names of run `id`, by path, call and result; and the run's names
    /// status (`None` for runs recorded before names existed).
    pub fn names(&self, id: i64) -> Result<(Vec<NameRow>, Option<String>), DbError> {
        let c = self.connection();
        let status: Option<String> = c
            .query_row("SELECT names FROM run WHERE id = ?1", params![id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))?
            .flatten();
        let mut st = c
            .prepare(
                "SELECT id, path, call, result, nofollow, evidence, resolved, pid, comm, step, count,
                        first_ms FROM name
                 WHERE run = ?1 ORDER BY path, call, result",
            )
            .map_err(|e| self.err(e))?;
        // every hop of the run in one query, by name then order
        let mut by_name: std::collections::HashMap<i64, Vec<Hop>> =
            std::collections::HashMap::new();
        {
            let mut hops = c
                .prepare(
                    "SELECT h.name, h.link, h.target FROM name_hop h JOIN name n ON n.id = h.name
                     WHERE n.run = ?1 ORDER BY h.name, h.seq",
                )
                .map_err(|e| self.err(e))?;
            let rows = hops
                .query_map(params![id], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                })
                .map_err(|e| self.err(e))?;
            for row in rows {
                let (name, link, target) = row.map_err(|e| self.err(e))?;
                by_name.entry(name).or_default().push((link, target));
            }
        }
        let rows = st
            .query_map(params![id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    NameRow {
                        path: r.get(1)?,
                        call: r.get(2)?,
                        result: r.get(3)?,
                        nofollow: r.get(4)?,
                        evidence: r.get(5)?,
                        resolved: r.get(6)?,
                        hops: Vec::new(),
                        pid: r.get(7)?,
                        comm: r.get(8)?,
                        step: r.get(9)?,
                        count: r.get(10)?,
                        first_ms: r.get(11)?,
                    },
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (name_id, mut n) = row.map_err(|e| self.err(e))?;
            n.hops = by_name.remove(&name_id).unwrap_or_default();
            out.push(n);
        }
        Ok((out, status))
    }

    /// Record what a run watches (known once tracing has started).
    pub fn set_run_marks(&mut self, id: i64, marks: &str) -> Result<(), DbError> {
        self.connection()
            .execute(
                "UPDATE run SET marks = ?2 WHERE id = ?1",
                params![id, marks],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Record how a run ended.
    pub fn finish_run(
        &mut self,
        id: i64,
        status: &str,
        complete: bool,
        events: u64,
        lost: &[String],
        finished_at: i64,
    ) -> Result<(), DbError> {
        let lost = if lost.is_empty() {
            None
        } else {
            Some(lost.join("\n"))
        };
        self.connection()
            .execute(
                "UPDATE run SET status = ?2, complete = ?3, events = ?4, lost = ?5, finished_at = ?6 WHERE id = ?1",
                params![id, status, complete, events as i64, lost, finished_at],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every run, oldest first.
    pub fn runs(&self) -> Result<Vec<RunRow>, DbError> {
        let c = self.connection();
        let mut st = c
            .prepare(&format!("SELECT {RUN_COLS} FROM run ORDER BY id"))
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], run_row).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// A run by id, or the latest run named `name` (`None`: the latest run).
    pub fn find_run(&self, id: Option<i64>, name: Option<&str>) -> Result<Option<RunRow>, DbError> {
        let c = self.connection();
        let r = match (id, name) {
            (Some(id), _) => c
                .query_row(
                    &format!("SELECT {RUN_COLS} FROM run WHERE id = ?1"),
                    params![id],
                    run_row,
                )
                .optional(),
            (None, Some(n)) => c
                .query_row(
                    &format!("SELECT {RUN_COLS} FROM run WHERE name = ?1 ORDER BY id DESC LIMIT 1"),
                    params![n],
                    run_row,
                )
                .optional(),
            (None, None) => c
                .query_row(
                    &format!("SELECT {RUN_COLS} FROM run ORDER BY id DESC LIMIT 1"),
                    [],
                    run_row,
                )
                .optional(),
        };
        r.map_err(|e| self.err(e))
    }

    /// The accesses of run `id`, by path then kind.
    pub fn accesses(&self, id: i64) -> Result<Vec<AccessRow>, DbError> {
        let c = self.connection();
        let mut st = c
            .prepare(
                "SELECT path, kind, pid, comm, exe, parents, step, count, first_ms FROM access
                 WHERE run = ?1 ORDER BY path, kind",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![id], |r| {
                Ok(AccessRow {
                    path: r.get(0)?,
                    kind: r.get(1)?,
                    pid: r.get(2)?,
                    comm: r.get(3)?,
                    exe: r.get(4)?,
                    parents: r.get(5)?,
                    step: r.get(6)?,
                    count: r.get(7)?,
                    first_ms: r.get(8)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// What run `id` watched, as stored when it started ([`NewRun::marks`]);
    /// `None` when nothing was stored. An error when there is no such run.
    pub fn run_marks(&self, id: i64) -> Result<Option<String>, DbError> {
        self.connection()
            .query_row("SELECT marks FROM run WHERE id = ?1", [id], |x| x.get(0))
            .map_err(|e| self.sqlite_err(e))
    }

    /// The names of `runs` that asked for `path` (as the name asked, or
    /// as what it reached) and did not find it (evidence `probed-absent`
    /// or `failed`), by run, then in the order they were first asked.
    pub fn names_for(&self, path: &[u8], runs: &[i64]) -> Result<Vec<NameProbe>, DbError> {
        let marks = vec!["?"; runs.len()].join(", ");
        let sql = format!(
            "SELECT n.run, r.name, n.call, n.result, n.evidence, n.pid, n.comm, n.step, CAST(n.path AS BLOB)
             FROM name n JOIN run r ON r.id = n.run
             WHERE (n.path = ? OR n.resolved = ?) AND n.evidence <> 'asked' AND n.run IN ({marks})
             ORDER BY n.run, n.first_ms"
        );
        let mut args: Vec<rusqlite::types::Value> =
            vec![path.to_vec().into(), path.to_vec().into()];
        args.extend(runs.iter().map(|&i| i.into()));
        let mut st = self
            .connection()
            .prepare(&sql)
            .map_err(|e| self.sqlite_err(e))?;
        let rows = st
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok(NameProbe {
                    run: r.get(0)?,
                    scenario: r.get(1)?,
                    call: r.get(2)?,
                    result: r.get(3)?,
                    evidence: r.get(4)?,
                    pid: r.get(5)?,
                    comm: r.get(6)?,
                    step: r.get(7)?,
                    path: r.get(8)?,
                })
            })
            .map_err(|e| self.sqlite_err(e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| self.sqlite_err(e))
    }
}

pub(crate) fn add_accesses(
    tx: &rusqlite::Transaction<'_>,
    id: i64,
    accesses: &[AccessRow],
) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO access (run, path, kind, pid, comm, exe, parents, step, count, first_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (run, path, kind) DO UPDATE SET count = excluded.count",
    )?;
    for a in accesses {
        st.execute(params![
            id, a.path, a.kind, a.pid, a.comm, a.exe, a.parents, a.step, a.count, a.first_ms
        ])?;
    }
    Ok(())
}

pub(crate) fn set_access_counts(
    tx: &rusqlite::Transaction<'_>,
    id: i64,
    counts: &[(&[u8], &str, i64)],
) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "UPDATE access SET count = ?4 WHERE run = ?1 AND path = ?2 AND kind = ?3",
    )?;
    for (p, kind, count) in counts {
        st.execute(params![id, p, kind, count])?;
    }
    Ok(())
}

pub(crate) fn add_names(
    tx: &rusqlite::Transaction<'_>,
    id: i64,
    names: &[NameRow],
    status: &str,
) -> rusqlite::Result<()> {
    // a plain insert first: a run's names are distinct, and a plain
    // insert needs no statement journal (an upsert copies pages into
    // one); a name stored already is updated instead
    let mut plain = tx.prepare_cached(
                "INSERT INTO name (run, path, call, result, nofollow, evidence, resolved, pid, comm, step, count, first_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
    let mut upsert = tx.prepare_cached(
                "INSERT INTO name (run, path, call, result, nofollow, evidence, resolved, pid, comm, step, count, first_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (run, path, call, result) DO UPDATE SET count = excluded.count
                 RETURNING id",
            )?;
    let mut hop = tx.prepare_cached(
        "INSERT OR REPLACE INTO name_hop (name, seq, link, target) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for n in names {
        let values = params![
            id, n.path, n.call, n.result, n.nofollow, n.evidence, n.resolved, n.pid, n.comm,
            n.step, n.count, n.first_ms
        ];
        let name_id: i64 = match plain.insert(values) {
            Ok(rowid) => rowid,
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                upsert.query_row(values, |r| r.get(0))?
            }
            Err(e) => return Err(e),
        };
        for (i, (link, target)) in n.hops.iter().enumerate() {
            hop.execute(params![name_id, i as i64, link, target])?;
        }
    }
    tx.execute(
        "UPDATE run SET names = ?2 WHERE id = ?1",
        params![id, status],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(path: &str, count: i64, hops: &[(&str, &str)]) -> NameRow {
        NameRow {
            path: path.as_bytes().to_vec(),
            call: "openat".into(),
            result: "ok".into(),
            nofollow: false,
            evidence: "asked".into(),
            resolved: Some(path.as_bytes().to_vec()),
            hops: hops
                .iter()
                .map(|(l, t)| (l.as_bytes().to_vec(), t.as_bytes().to_vec()))
                .collect(),
            pid: 1,
            comm: "sh".into(),
            step: None,
            count,
            first_ms: 0,
        }
    }

    #[test]
    fn names_are_inserted_and_a_name_stored_again_is_updated_with_its_hops_once() {
        let t = tempfile::tempdir().unwrap();
        let mut db = Db::open(&t.path().join("g.db"), true).unwrap();
        let id = db
            .begin_run(&NewRun {
                name: "n",
                kind: "ad-hoc",
                command: None,
                params: None,
                root: b"/",
                host: "h",
                kernel: "k",
                started_at: 0,
                marks: "",
            })
            .unwrap();
        let hop = [("/bin", "usr/bin")];
        db.add_names(
            id,
            &[name("/bin/sh", 1, &hop), name("/etc/hosts", 1, &[])],
            "complete",
        )
        .unwrap();
        // again (the upsert path): the count is updated, nothing doubled
        db.add_names(id, &[name("/bin/sh", 5, &hop)], "complete")
            .unwrap();
        let (names, status) = db.names(id).unwrap();
        assert_eq!(status.as_deref(), Some("complete"));
        assert_eq!(names.len(), 2);
        assert_eq!(names[0].path, b"/bin/sh");
        assert_eq!(names[0].count, 5);
        assert_eq!(names[0].hops, [(b"/bin".to_vec(), b"usr/bin".to_vec())]);
        assert_eq!(names[1].count, 1);
    }
}
