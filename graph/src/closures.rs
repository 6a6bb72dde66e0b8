//! Computed closures kept in the graph (tables `closure`, `closure_entry`,
//! `closure_dropped`), each under a key its reader chooses: the kept
//! entries with their reasons, and what was reached without being kept.
//! Reasons are stored as JSON.

use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, OptionalExtension};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::store::{Db, DbError};

/// What identifies the stored scan: when it ran and how many entries it
/// stored. A new scan has another stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanStamp {
    /// Start, seconds since the epoch.
    pub started_at: i64,
    /// End.
    pub finished_at: i64,
    /// Entries.
    pub entries: i64,
}

/// A kept entry of a closure, to store.
#[derive(Debug, Clone, Copy)]
pub struct ClosureRow<'a, R> {
    /// The entry.
    pub path: &'a [u8],
    /// Its distance from a root.
    pub depth: u32,
    /// Reasons counted beyond those kept.
    pub more: usize,
    /// Its reasons.
    pub reasons: &'a R,
}

/// An entry a closure reached without keeping it, to store.
#[derive(Debug, Clone, Copy)]
pub struct DroppedRow<'a, D> {
    /// The entry.
    pub path: &'a [u8],
    /// The profile line that excluded it (`None`: absent from the root).
    pub excluded_by: Option<usize>,
    /// What reached it.
    pub reason: &'a D,
}

/// A stored entry a closure reached without keeping it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDropped<D> {
    /// The profile line that excluded it (`None`: absent from the root).
    pub excluded_by: Option<usize>,
    /// What reached it.
    pub reason: D,
}

impl Db {
    /// The stamp of the stored scan (the latest), if there is one.
    pub fn scan_stamp(&self) -> Result<Option<ScanStamp>, DbError> {
        self.connection()
            .query_row(
                "SELECT started_at, finished_at, entries FROM scan ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok(ScanStamp {
                        started_at: r.get(0)?,
                        finished_at: r.get(1)?,
                        entries: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.sqlite_err(e))
    }

    /// Whether a closure is stored under `key`.
    pub fn closure_stored(&self, key: &str) -> Result<bool, DbError> {
        self.connection()
            .query_row("SELECT 1 FROM closure WHERE key = ?1", [key], |_| Ok(()))
            .optional()
            .map(|o| o.is_some())
            .map_err(|e| self.sqlite_err(e))
    }

    /// Store a closure under `key` in one write transaction: its kept
    /// `entries` and its `dropped` ones, replacing what was stored under
    /// `key`; only the `keep` most recently stored closures are kept. An
    /// open read transaction ([`Db::begin_read_snapshot`]) is ended first.
    pub fn store_closure<R: Serialize, D: Serialize>(
        &self,
        key: &str,
        entries: &[ClosureRow<'_, R>],
        dropped: &[DroppedRow<'_, D>],
        keep: usize,
    ) -> Result<(), DbError> {
        let conn = self.connection();
        let err = |e| self.sqlite_err(e);
        if !conn.is_autocommit() {
            conn.execute_batch("COMMIT").map_err(err)?;
        }
        conn.execute_batch("BEGIN IMMEDIATE").map_err(err)?;
        let r = (|| -> rusqlite::Result<()> {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            conn.execute("DELETE FROM closure WHERE key = ?1", [key])?;
            conn.execute(
                "INSERT INTO closure (key, created_at, entries) VALUES (?1, ?2, ?3)",
                params![key, now, entries.len() as i64],
            )?;
            let mut e = conn.prepare(
                "INSERT INTO closure_entry (key, path, depth, more, reasons) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for row in entries {
                let reasons = serde_json::to_string(row.reasons)
                    .map_err(|x| rusqlite::Error::ToSqlConversionFailure(Box::new(x)))?;
                e.execute(params![key, row.path, row.depth, row.more as i64, reasons])?;
            }
            let mut d = conn.prepare(
                "INSERT INTO closure_dropped (key, path, excluded_by, reason) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for x in dropped {
                let reason = serde_json::to_string(x.reason)
                    .map_err(|x| rusqlite::Error::ToSqlConversionFailure(Box::new(x)))?;
                d.execute(params![
                    key,
                    x.path,
                    x.excluded_by.map(|l| l as i64),
                    reason
                ])?;
            }
            conn.execute(
                "DELETE FROM closure WHERE key NOT IN
                 (SELECT key FROM closure ORDER BY created_at DESC, rowid DESC LIMIT ?1)",
                [keep as i64],
            )?;
            Ok(())
        })();
        match r {
            Ok(()) => conn.execute_batch("COMMIT").map_err(err),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(err(e))
            }
        }
    }

    /// The reasons stored for `path` in the closure under `key`, and how
    /// many more were counted; `None` when that closure does not keep it.
    pub fn closure_reasons<R: DeserializeOwned>(
        &self,
        key: &str,
        path: &[u8],
    ) -> Result<Option<(R, usize)>, DbError> {
        let row: Option<(String, i64)> = self
            .connection()
            .prepare_cached("SELECT reasons, more FROM closure_entry WHERE key = ?1 AND path = ?2")
            .and_then(|mut st| {
                st.query_row(params![key, path], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(|e| self.sqlite_err(e))?;
        match row {
            None => Ok(None),
            Some((json, more)) => Ok(Some((self.read_back(&json)?, more.max(0) as usize))),
        }
    }

    /// What the closure under `key` reached at `path` without keeping it,
    /// in the order it was stored.
    pub fn closure_dropped<D: DeserializeOwned>(
        &self,
        key: &str,
        path: &[u8],
    ) -> Result<Vec<StoredDropped<D>>, DbError> {
        let mut st = self
            .connection()
            .prepare_cached(
                "SELECT excluded_by, reason FROM closure_dropped WHERE key = ?1 AND path = ?2 ORDER BY rowid",
            )
            .map_err(|e| self.sqlite_err(e))?;
        let rows = st
            .query_map(params![key, path], |r| {
                Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(|e| self.sqlite_err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (ex, json) = row.map_err(|e| self.sqlite_err(e))?;
            out.push(StoredDropped {
                excluded_by: ex.map(|l| l as usize),
                reason: self.read_back(&json)?,
            });
        }
        Ok(out)
    }

    fn read_back<T: DeserializeOwned>(&self, json: &str) -> Result<T, DbError> {
        serde_json::from_str(json).map_err(|e| DbError::Corrupt {
            path: self.path().to_path_buf(),
            message: format!("a stored closure does not read back: {e}"),
        })
    }
}
