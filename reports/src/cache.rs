//! Computed closures, kept in the graph so that `why` reads a few rows
//! instead of computing the closure again.
//!
//! A closure is stored under a key made of the scan (its start, end and
//! size), the runs it starts from, the profile's text and the kaudit
//! version: a new scan empties the cache, a new run or an edited profile
//! gives a new key. The most recent few closures are kept.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use kaudit_graph::{Db, DbError, RunRow};
use rusqlite::{params, OptionalExtension};

use crate::closure::{Closure, Dropped, Reason};
use crate::profile::Profile;

/// How many closures are kept.
const KEEP: i64 = 8;

/// The cache entry of one closure.
pub struct Cache<'a> {
    db: &'a Db,
    key: String,
    memo: HashMap<Vec<u8>, Option<(Vec<Reason>, usize)>>,
}

fn sql(db: &Db) -> impl Fn(rusqlite::Error) -> DbError + '_ {
    move |e| DbError::Sqlite {
        path: db.path().to_path_buf(),
        source: e,
    }
}

impl<'a> Cache<'a> {
    /// The cache entry for the closure of `runs` under `profile`.
    pub fn new(
        db: &'a Db,
        runs: &[RunRow],
        profile: Option<&Profile>,
    ) -> Result<Cache<'a>, DbError> {
        let scan: Option<(i64, i64, i64)> = db
            .connection()
            .query_row(
                "SELECT started_at, finished_at, entries FROM scan ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(sql(db))?;
        let ids: Vec<String> = runs.iter().map(|r| r.id.to_string()).collect();
        let key = format!(
            "{};scan {:?};runs {};profile {}",
            env!("CARGO_PKG_VERSION"),
            scan,
            ids.join(","),
            profile.map_or_else(|| "none".to_string(), |p| format!("{:016x}", p.digest))
        );
        Ok(Cache {
            db,
            key,
            memo: HashMap::new(),
        })
    }

    /// Whether this closure is stored.
    pub fn present(&self) -> Result<bool, DbError> {
        self.db
            .connection()
            .query_row("SELECT 1 FROM closure WHERE key = ?1", [&self.key], |_| {
                Ok(())
            })
            .optional()
            .map(|o| o.is_some())
            .map_err(sql(self.db))
    }

    /// Store `c` (replacing an older copy; the oldest beyond the last few
    /// are dropped). Ends the connection's open transaction first.
    pub fn store(&self, c: &Closure) -> Result<(), DbError> {
        let conn = self.db.connection();
        let err = sql(self.db);
        if !conn.is_autocommit() {
            conn.execute_batch("COMMIT").map_err(&err)?;
        }
        conn.execute_batch("BEGIN IMMEDIATE").map_err(&err)?;
        let r = (|| -> rusqlite::Result<()> {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            conn.execute("DELETE FROM closure WHERE key = ?1", [&self.key])?;
            conn.execute(
                "INSERT INTO closure (key, created_at, entries) VALUES (?1, ?2, ?3)",
                params![self.key, now, c.entries.len() as i64],
            )?;
            let mut e = conn.prepare(
                "INSERT INTO closure_entry (key, path, depth, more, reasons) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (path, entry) in &c.entries {
                let reasons = serde_json::to_string(&entry.reasons)
                    .map_err(|x| rusqlite::Error::ToSqlConversionFailure(Box::new(x)))?;
                e.execute(params![
                    self.key,
                    path,
                    entry.depth,
                    entry.more as i64,
                    reasons
                ])?;
            }
            let mut d = conn.prepare(
                "INSERT INTO closure_dropped (key, path, excluded_by, reason) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for x in &c.dropped {
                let reason = serde_json::to_string(&x.reason)
                    .map_err(|x| rusqlite::Error::ToSqlConversionFailure(Box::new(x)))?;
                d.execute(params![
                    self.key,
                    x.path,
                    x.excluded_by.map(|l| l as i64),
                    reason
                ])?;
            }
            conn.execute(
                "DELETE FROM closure WHERE key NOT IN
                 (SELECT key FROM closure ORDER BY created_at DESC, rowid DESC LIMIT ?1)",
                [KEEP],
            )?;
            Ok(())
        })();
        match r {
            Ok(()) => conn.execute_batch("COMMIT").map_err(&err),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(err(e))
            }
        }
    }

    /// The reasons that keep `path` (and how many more were counted), or
    /// `None` when the closure does not keep it.
    pub fn reasons(&mut self, path: &[u8]) -> Result<Option<(Vec<Reason>, usize)>, DbError> {
        if let Some(r) = self.memo.get(path) {
            return Ok(r.clone());
        }
        let row: Option<(String, i64)> = self
            .db
            .connection()
            .prepare_cached("SELECT reasons, more FROM closure_entry WHERE key = ?1 AND path = ?2")
            .and_then(|mut st| {
                st.query_row(params![self.key, path], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(sql(self.db))?;
        let r = match row {
            None => None,
            Some((json, more)) => Some((
                serde_json::from_str(&json).map_err(|e| DbError::Corrupt {
                    path: self.db.path().to_path_buf(),
                    message: format!("a stored closure does not read back: {e}"),
                })?,
                more.max(0) as usize,
            )),
        };
        self.memo.insert(path.to_vec(), r.clone());
        Ok(r)
    }

    /// What reached `path` without keeping it.
    pub fn dropped(&self, path: &[u8]) -> Result<Vec<Dropped>, DbError> {
        let conn = self.db.connection();
        let mut st = conn
            .prepare_cached(
                "SELECT excluded_by, reason FROM closure_dropped WHERE key = ?1 AND path = ?2 ORDER BY rowid",
            )
            .map_err(sql(self.db))?;
        let rows = st
            .query_map(params![self.key, path], |r| {
                Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(sql(self.db))?;
        let mut out = Vec::new();
        for row in rows {
            let (ex, json) = row.map_err(sql(self.db))?;
            let reason: Reason = serde_json::from_str(&json).map_err(|e| DbError::Corrupt {
                path: self.db.path().to_path_buf(),
                message: format!("a stored closure does not read back: {e}"),
            })?;
            out.push(Dropped {
                path: path.to_vec(),
                reason,
                excluded_by: ex.map(|l| l as usize),
            });
        }
        Ok(out)
    }
}
