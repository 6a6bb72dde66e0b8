//! Proofs of necessity (`kaudit prove`): for each kept entry of a profile,
//! the evidence that the image breaks without it, or that none was found.

use rusqlite::{params, OptionalExtension};

use crate::store::{Db, DbError};

/// How a kept entry was shown necessary (or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofRow {
    /// The entry.
    pub path: Vec<u8>,
    /// `loader`, `replay`, `include`, `parent` (a directory holding a kept
    /// entry) or `unproven`.
    pub kind: String,
    /// The scenario whose replay failed without it (`replay`).
    pub scenario: Option<String>,
    /// Its first failing step (`replay`).
    pub step: Option<String>,
    /// What failed, the loader rule, the include's reason, or why no proof
    /// was found.
    pub detail: String,
}

/// How the last proof of a profile went.
#[derive(Debug, Clone, PartialEq)]
pub struct ProofRun {
    /// The image it replayed.
    pub image: Vec<u8>,
    /// When (seconds since the epoch).
    pub made_at: i64,
    /// Replays run.
    pub replays: u64,
    /// Entries tested by replay.
    pub tested: u64,
    /// Wall time of the proof.
    pub seconds: f64,
    /// Wall time of the baseline replays (one of every scenario, nothing
    /// hidden: what one verify replays).
    pub baseline: f64,
}

impl Db {
    /// Replace the proofs of `profile` with `rows`, in one transaction.
    pub fn store_proofs(
        &mut self,
        profile: &str,
        rows: &[ProofRow],
        run: &ProofRun,
    ) -> Result<(), DbError> {
        let path = self.path().to_path_buf();
        let err = |e| DbError::Sqlite {
            path: path.clone(),
            source: e,
        };
        let tx = self.connection_mut().transaction().map_err(err)?;
        tx.execute("DELETE FROM proof WHERE profile = ?1", params![profile])
            .map_err(err)?;
        {
            let mut ins = tx
                .prepare(
                    "INSERT INTO proof (profile, path, kind, scenario, step, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(err)?;
            for r in rows {
                ins.execute(params![
                    profile, r.path, r.kind, r.scenario, r.step, r.detail
                ])
                .map_err(err)?;
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO proof_run (profile, image, made_at, replays, tested, seconds, baseline)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                profile,
                run.image,
                run.made_at,
                run.replays as i64,
                run.tested as i64,
                run.seconds,
                run.baseline
            ],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// The proofs of `profile`, by path; `None` when it was never proven.
    pub fn proofs(&self, profile: &str) -> Result<Option<(ProofRun, Vec<ProofRow>)>, DbError> {
        let path = self.path().to_path_buf();
        let err = |e| DbError::Sqlite {
            path: path.clone(),
            source: e,
        };
        let c = self.connection();
        let run = c
            .query_row(
                "SELECT image, made_at, replays, tested, seconds, baseline FROM proof_run WHERE profile = ?1",
                params![profile],
                |r| {
                    Ok(ProofRun {
                        image: r.get(0)?,
                        made_at: r.get(1)?,
                        replays: r.get::<_, i64>(2)? as u64,
                        tested: r.get::<_, i64>(3)? as u64,
                        seconds: r.get(4)?,
                        baseline: r.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(err)?;
        let Some(run) = run else {
            return Ok(None);
        };
        let mut st = c
            .prepare(
                "SELECT path, kind, scenario, step, detail FROM proof WHERE profile = ?1 ORDER BY path",
            )
            .map_err(err)?;
        let rows = st
            .query_map(params![profile], proof_row)
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        Ok(Some((run, rows)))
    }

    /// The proof of one entry of `profile` (what `kaudit why` shows), read
    /// alone; `None` when the profile was never proven or the entry has none.
    pub fn proof_of(&self, profile: &str, path: &[u8]) -> Result<Option<ProofRow>, DbError> {
        self.connection()
            .query_row(
                "SELECT path, kind, scenario, step, detail FROM proof WHERE profile = ?1 AND path = ?2",
                params![profile, path],
                proof_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }
}

/// A `proof` row (path, kind, scenario, step, detail).
fn proof_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ProofRow> {
    Ok(ProofRow {
        path: r.get(0)?,
        kind: r.get(1)?,
        scenario: r.get(2)?,
        step: r.get(3)?,
        detail: r.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_are_replaced_per_profile_and_read_back() {
        let mut db = Db::open_in_memory().unwrap();
        assert!(db.proofs("p").unwrap().is_none());
        let run = ProofRun {
            image: b"/img".to_vec(),
            made_at: 1,
            replays: 3,
            tested: 2,
            seconds: 1.5,
            baseline: 0.5,
        };
        let row = |p: &[u8], k: &str| ProofRow {
            path: p.to_vec(),
            kind: k.into(),
            scenario: None,
            step: None,
            detail: String::new(),
        };
        db.store_proofs("p", &[row(b"/b", "replay"), row(b"/a", "unproven")], &run)
            .unwrap();
        db.store_proofs("q", &[row(b"/c", "loader")], &run).unwrap();
        db.store_proofs("p", &[row(b"/a", "include")], &run)
            .unwrap();
        let (r, rows) = db.proofs("p").unwrap().unwrap();
        assert_eq!(r, run);
        assert_eq!(rows, vec![row(b"/a", "include")]);
        assert_eq!(db.proofs("q").unwrap().unwrap().1.len(), 1);
        // one entry's proof, alone
        assert_eq!(
            db.proof_of("p", b"/a").unwrap(),
            Some(row(b"/a", "include"))
        );
        assert_eq!(db.proof_of("p", b"/b").unwrap(), None);
        assert_eq!(db.proof_of("r", b"/a").unwrap(), None);
    }
}
