//! Loads read back: the edges of an object's load as a main object, in the
//! loader's order, and what [`kaudit_analyzer::stored::deps`] needs to
//! report them.

use std::borrow::Cow;
use std::collections::HashMap;

use kaudit_analyzer::loads::{self, Interp, LoadEdge, Need};
use kaudit_analyzer::scan::EdgeKind;
pub use kaudit_analyzer::stored::LoadRow;
use kaudit_analyzer::stored::{StoredFinding, StoredLoad};
use rusqlite::{params, OptionalExtension};

use crate::store::{Db, DbError};

impl Db {
    /// What the stored scan holds about the file at `file` and its load as
    /// a main object: its linkage and interpreter, the loader the scan chose
    /// for it, the edges of its load ([`Db::load_edges`]) and the findings
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
        let edges = self.load_edges(id, &mut LoadCache::default())?;
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
            edges,
            findings,
        }))
    }

    /// The edges of the load of file `id` as a main object, in the loader's
    /// order: the default loader of a library first, then every `DT_NEEDED`
    /// edge (`needed`, with the `walks` and `cpu-alternative` edges that came
    /// with it). A load is stored as direct needs ([`kaudit_analyzer::loads`]);
    /// this replays it. `cache` keeps each object's own needs between loads.
    pub fn load_edges(&self, id: i64, cache: &mut LoadCache) -> Result<Vec<LoadRow>, DbError> {
        let format = match cache.format {
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
                cache.format = Some(f);
                f
            }
        };
        let mut st = self
            .connection()
            .prepare_cached(
                "SELECT e.seq, e.kind, s.path, d.path, e.name, e.path, e.rule, e.via, f.path
                 FROM edge e JOIN file s ON s.id = e.src LEFT JOIN file d ON d.id = e.dst
                 LEFT JOIN file f ON f.id = e.file
                 WHERE e.context = ?1 ORDER BY e.seq, e.id",
            )
            .map_err(|e| self.err(e))?;
        let rows: Vec<(u32, LoadRow, Option<Vec<u8>>)> = st
            .query_map(params![id], |r| {
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
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        if format < 2 {
            // written whole, load by load
            return Ok(rows.into_iter().map(|(_, e, _)| e).collect());
        }
        let main: Option<Vec<u8>> = self
            .connection()
            .query_row("SELECT path FROM file WHERE id = ?1", params![id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))?;
        let Some(main) = main else {
            return Ok(Vec::new());
        };
        // the default loader of a library, then each object's explicit needs
        let mut out: Vec<LoadRow> = Vec::new();
        let mut explicit_rows: HashMap<Vec<u8>, Vec<loads::StoredEdge>> = HashMap::new();
        for (seq, e, file) in rows {
            match EdgeKind::from_name(&e.kind) {
                Some(kind @ (EdgeKind::Needed | EdgeKind::Walks | EdgeKind::CpuAlternative)) => {
                    explicit_rows.entry(e.src.clone()).or_default().push((
                        seq,
                        load_edge(kind, e),
                        file,
                    ));
                }
                _ => out.push(e),
            }
        }
        let explicit: HashMap<Vec<u8>, Vec<(u32, Need)>> = explicit_rows
            .into_iter()
            .map(|(src, rows)| {
                let seqs: Vec<u32> = {
                    let mut v: Vec<u32> = rows.iter().map(|(s, _, _)| *s).collect();
                    v.dedup();
                    v
                };
                let needs = loads::needs_of(rows);
                (src, seqs.into_iter().zip(needs).collect())
            })
            .collect();
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
        let mut own = |x: &[u8]| -> Result<Option<Cow<'static, [Need]>>, DbError> {
            if let Some(o) = cache.own.get(x) {
                return Ok(o.as_ref().map(|o| Cow::Owned(o.to_vec())));
            }
            let mut st = self
                .connection()
                .prepare_cached(
                    "SELECT e.seq, e.kind, s.path, d.path, e.name, e.path, e.rule, e.via, f.path
                     FROM edge e JOIN file s ON s.id = e.src LEFT JOIN file d ON d.id = e.dst
                     LEFT JOIN file f ON f.id = e.file
                     WHERE e.context = (SELECT id FROM file WHERE path = ?1) AND e.src = e.context
                       AND e.kind IN ('needed', 'walks', 'cpu-alternative')
                     ORDER BY e.seq, e.id",
                )
                .map_err(|e| self.err(e))?;
            let rows: Vec<(u32, LoadEdge, Option<Vec<u8>>)> = st
                .query_map(params![x], |r| {
                    let kind: String = r.get(1)?;
                    let e = LoadRow {
                        kind,
                        src: r.get(2)?,
                        dst: r.get(3)?,
                        name: r.get(4)?,
                        path: r.get(5)?,
                        rule: r.get(6)?,
                        via: r.get(7)?,
                    };
                    let kind = EdgeKind::from_name(&e.kind).unwrap_or(EdgeKind::Needed);
                    Ok((r.get::<_, i64>(0)? as u32, load_edge(kind, e), r.get(8)?))
                })
                .map_err(|e| self.err(e))?
                .collect::<Result<_, _>>()
                .map_err(|e| self.err(e))?;
            let needs = (!rows.is_empty()).then(|| std::rc::Rc::new(loads::needs_of(rows)));
            cache.own.insert(x.to_vec(), needs.clone());
            Ok(needs.map(|o| Cow::Owned(o.to_vec())))
        };
        for (src, need) in loads::replay(&main, interp.as_ref(), &explicit, &mut own)? {
            for e in need.edges {
                out.push(LoadRow {
                    kind: e.kind.as_str().to_string(),
                    src: src.clone(),
                    dst: e.dst,
                    name: e.name,
                    path: e.path,
                    rule: e.rule,
                    via: e.via,
                });
            }
        }
        Ok(out)
    }
}

/// What [`Db::load_edges`] keeps between loads: the graph's format, and
/// each object's own needs as read.
#[derive(Debug, Default)]
pub struct LoadCache {
    format: Option<i64>,
    own: HashMap<Vec<u8>, Option<std::rc::Rc<Vec<Need>>>>,
}

fn load_edge(kind: EdgeKind, e: LoadRow) -> LoadEdge {
    LoadEdge {
        dst: e.dst,
        kind,
        name: e.name,
        path: e.path,
        rule: e.rule,
        via: e.via,
    }
}
