//! Loads as stored: the rows under an object's load as a main object and
//! under its own needs, which the analyzer reads back in the loader's order
//! ([`kaudit_analyzer::stored::load_edges`]), and what
//! [`kaudit_analyzer::stored::deps`] needs to report a load.

use kaudit_analyzer::loads::Interp;
pub use kaudit_analyzer::stored::LoadRow;
use kaudit_analyzer::stored::{Row, StoredFinding, StoredLoad, StoredRows};
use rusqlite::{params, OptionalExtension};

use crate::store::{Db, DbError};

/// The columns and joins of an edge read as a [`Row`] (by [`row`]).
macro_rules! edge_rows {
    () => {
        "SELECT e.seq, e.kind, s.path, d.path, e.name, e.path, e.rule, e.via, f.path
         FROM edge e JOIN file s ON s.id = e.src LEFT JOIN file d ON d.id = e.dst
         LEFT JOIN file f ON f.id = e.file"
    };
}

impl Db {
    /// What the stored scan holds about the file at `file` and its load as
    /// a main object: its linkage and interpreter, the loader the scan chose
    /// for it, the rows of its load ([`Db::load_rows`]) and the findings
    /// met in that load or about the file itself. `Ok(None)` when the scan
    /// did not store the file.
    pub fn stored_load(&self, file: &[u8]) -> Result<Option<StoredLoad>, DbError> {
        let row: Option<(i64, Option<String>, Option<Vec<u8>>)> = self
            .connection()
            .query_row(
                "SELECT f.id, e.linkage, e.interp FROM file f LEFT JOIN elf e ON e.file_id = f.id WHERE f.path = ?1",
                params![file],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((id, linkage, interp)) = row else {
            return Ok(None);
        };
        let default_loader: Option<Vec<u8>> = self
            .connection()
            .query_row(
                "SELECT name FROM edge WHERE context = ?1 AND src = ?1 AND kind = 'interp' LIMIT 1",
                params![id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let rows = self.load_rows(id, &mut None)?;
        let mut st = self
            .connection()
            .prepare_cached(
                "SELECT code, path, message FROM finding WHERE context = ?1 OR (context IS NULL AND path = ?1) ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let findings = st
            .query_map(params![file], |r| {
                Ok(StoredFinding {
                    code: r.get(0)?,
                    path: r.get(1)?,
                    message: r.get(2)?,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        Ok(Some(StoredLoad {
            linkage,
            interp,
            default_loader,
            rows,
            findings,
        }))
    }

    /// The rows stored under the load of file `id` as a main object, with
    /// its interpreter and the graph's load format (read once into
    /// `format`); `None` when the scan did not store the file.
    /// [`kaudit_analyzer::stored::load_edges`] reads them back.
    pub fn load_rows(
        &self,
        id: i64,
        format: &mut Option<i64>,
    ) -> Result<Option<StoredRows>, DbError> {
        let f = match *format {
            Some(f) => f,
            None => {
                let f: i64 = self
                    .connection()
                    .query_row(
                        "SELECT load_format FROM scan ORDER BY id LIMIT 1",
                        [],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(|e| self.err(e))?
                    .unwrap_or(1);
                *format = Some(f);
                f
            }
        };
        let main: Option<Vec<u8>> = self
            .connection()
            .query_row("SELECT path FROM file WHERE id = ?1", params![id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))?;
        let Some(main) = main else {
            return Ok(None);
        };
        let mut st = self
            .connection()
            .prepare_cached(concat!(
                edge_rows!(),
                " WHERE e.context = ?1 ORDER BY e.seq, e.id"
            ))
            .map_err(|e| self.err(e))?;
        let rows: Vec<Row> = st
            .query_map(params![id], row)
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        // the interpreter loaded beside it
        let interp: Option<Interp> = self
            .connection()
            .prepare_cached(
                "SELECT e.name, d.path, f.path FROM edge e JOIN file d ON d.id = e.dst
                 JOIN file f ON f.id = e.file
                 WHERE e.src = ?1 AND e.kind = 'interp' AND (e.context IS NULL OR e.context = ?1)
                 ORDER BY e.id LIMIT 1",
            )
            .map_err(|e| self.err(e))?
            .query_row(params![id], |r| {
                Ok(Interp {
                    path: r.get::<_, Option<Vec<u8>>>(0)?.unwrap_or_default(),
                    named: r.get(1)?,
                    file: r.get(2)?,
                })
            })
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(Some(StoredRows {
            format: f,
            main,
            rows,
            interp,
        }))
    }

    /// The rows of the file at `path`'s own needs: those stored under its
    /// own load that it asked for itself, in place order
    /// ([`kaudit_analyzer::stored::own_needs`] reads them).
    pub fn own_rows(&self, path: &[u8]) -> Result<Vec<Row>, DbError> {
        let mut st = self
            .connection()
            .prepare_cached(concat!(
                edge_rows!(),
                " WHERE e.context = (SELECT id FROM file WHERE path = ?1) AND e.src = e.context
                   AND e.kind IN ('needed', 'walks', 'cpu-alternative')
                 ORDER BY e.seq, e.id"
            ))
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![path], row)
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }
}

/// A stored edge as a row: its place, the edge, the final file.
fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        r.get::<_, i64>(0)? as u32,
        LoadRow {
            kind: r.get(1)?,
            src: r.get(2)?,
            dst: r.get(3)?,
            name: r.get(4)?,
            path: r.get(5)?,
            rule: r.get(6)?,
            via: r.get(7)?,
        },
        r.get(8)?,
    ))
}
