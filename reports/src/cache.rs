//! Computed closures, kept in the graph so that `why` reads a few rows
//! instead of computing the closure again.
//!
//! A closure is stored under a key made of the scan (its start, end and
//! size), the runs it starts from, the profile's text and the kaudit
//! version: a new scan empties the cache, a new run or an edited profile
//! gives a new key. The most recent few closures are kept.

use std::collections::HashMap;

use kaudit_graph::{ClosureRow, Db, DbError, DroppedRow, RunRow};

use crate::closure::{Closure, Dropped, Reason};
use crate::profile::Profile;

/// How many closures are kept.
const KEEP: usize = 8;

/// The cache entry of one closure.
pub struct Cache<'a> {
    db: &'a Db,
    key: String,
    memo: HashMap<Vec<u8>, Option<(Vec<Reason>, usize)>>,
}

impl<'a> Cache<'a> {
    /// The cache entry for the closure of `runs` under `profile`.
    pub fn new(
        db: &'a Db,
        runs: &[RunRow],
        profile: Option<&Profile>,
    ) -> Result<Cache<'a>, DbError> {
        let scan = db
            .scan_stamp()?
            .map(|s| (s.started_at, s.finished_at, s.entries));
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
        self.db.closure_stored(&self.key)
    }

    /// Store `c` (replacing an older copy; the oldest beyond the last few
    /// are dropped). Ends the connection's open transaction first.
    pub fn store(&self, c: &Closure) -> Result<(), DbError> {
        let entries: Vec<ClosureRow<'_, Vec<Reason>>> = c
            .entries
            .iter()
            .map(|(path, e)| ClosureRow {
                path,
                depth: e.depth,
                more: e.more,
                reasons: &e.reasons,
            })
            .collect();
        let dropped: Vec<DroppedRow<'_, Reason>> = c
            .dropped
            .iter()
            .map(|d| DroppedRow {
                path: &d.path,
                excluded_by: d.excluded_by,
                reason: &d.reason,
            })
            .collect();
        self.db.store_closure(&self.key, &entries, &dropped, KEEP)
    }

    /// The reasons that keep `path` (and how many more were counted), or
    /// `None` when the closure does not keep it.
    pub fn reasons(&mut self, path: &[u8]) -> Result<Option<(Vec<Reason>, usize)>, DbError> {
        if let Some(r) = self.memo.get(path) {
            return Ok(r.clone());
        }
        let r = self.db.closure_reasons(&self.key, path)?;
        self.memo.insert(path.to_vec(), r.clone());
        Ok(r)
    }

    /// What reached `path` without keeping it.
    pub fn dropped(&self, path: &[u8]) -> Result<Vec<Dropped>, DbError> {
        Ok(self
            .db
            .closure_dropped(&self.key, path)?
            .into_iter()
            .map(|d| Dropped {
                path: path.to_vec(),
                reason: d.reason,
                excluded_by: d.excluded_by,
            })
            .collect())
    }
}
