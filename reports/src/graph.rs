//! Reading the scanned root and its edges out of the graph, on demand and
//! cached: a closure touches a few thousand of a root's hundred thousand
//! entries, so nothing is loaded wholesale.

use std::collections::HashMap;
use std::rc::Rc;

use kaudit_graph::{Db, DbError};
use rusqlite::{params, OptionalExtension};

/// An entry of the scanned root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    /// `file.id`.
    pub id: i64,
    /// Path inside the root.
    pub path: Vec<u8>,
    /// `file`, `dir`, `symlink`, …
    pub kind: String,
    /// `st_size`.
    pub size: u64,
    /// `st_mode`.
    pub mode: u32,
    /// Device and inode (hard links share them).
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// A symlink's target.
    pub link_target: Option<Vec<u8>>,
    /// An ELF object (it may have an interpreter and a load of its own).
    pub elf: bool,
    /// An ELF program: it names an interpreter (`PT_INTERP`).
    pub program: bool,
    /// An executable `#!` script.
    pub script: bool,
}

impl FileRow {
    /// Whether edges may start here without a load context (a symlink's
    /// hop, a program's interpreter, a script's shebang, their `walks`).
    pub fn may_have_free_edges(&self) -> bool {
        self.kind == "symlink" || self.elf || self.script
    }
}

/// An edge of the graph, with the paths of its ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeRow {
    /// `needed`, `interp`, `shebang`, `symlink`, `walks`.
    pub kind: String,
    /// The needing entry.
    pub src: Vec<u8>,
    /// The needed entry.
    pub dst: Vec<u8>,
    /// What was asked for (`DT_NEEDED` string, interpreter, link target…).
    pub name: Option<Vec<u8>>,
    /// The path opened or followed.
    pub opened: Option<Vec<u8>>,
    /// How it was found.
    pub rule: Option<String>,
    /// The object that supplied the directory, or was reused.
    pub via: Option<Vec<u8>>,
}

/// Cached access to the scan's part of the graph.
pub struct Graph<'a> {
    db: &'a Db,
    files: HashMap<Vec<u8>, Option<Rc<FileRow>>>,
    free: HashMap<i64, Rc<Vec<EdgeRow>>>,
    loads: HashMap<i64, Rc<Vec<EdgeRow>>>,
    load_cache: kaudit_graph::LoadCache,
    /// Queries run (for the benchmark and tests).
    pub queries: u64,
}

const FILE_COLS: &str = "f.id, f.path, f.kind, f.size, f.mode, f.dev, f.ino, f.link_target,
     EXISTS (SELECT 1 FROM elf e WHERE e.file_id = f.id),
     EXISTS (SELECT 1 FROM script s WHERE s.file_id = f.id),
     EXISTS (SELECT 1 FROM elf e WHERE e.file_id = f.id AND e.interp IS NOT NULL)";

fn file_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FileRow> {
    Ok(FileRow {
        id: r.get(0)?,
        path: r.get(1)?,
        kind: r.get(2)?,
        size: r.get::<_, i64>(3)?.max(0) as u64,
        mode: r.get::<_, i64>(4)? as u32,
        dev: r.get::<_, i64>(5)? as u64,
        ino: r.get::<_, i64>(6)? as u64,
        link_target: r.get(7)?,
        elf: r.get(8)?,
        script: r.get(9)?,
        program: r.get(10)?,
    })
}

impl<'a> Graph<'a> {
    /// A reader over `db`.
    pub fn new(db: &'a Db) -> Graph<'a> {
        Graph {
            db,
            files: HashMap::new(),
            free: HashMap::new(),
            loads: HashMap::new(),
            load_cache: kaudit_graph::LoadCache::default(),
            queries: 0,
        }
    }

    /// The database.
    pub fn db(&self) -> &'a Db {
        self.db
    }

    fn err(&self, e: rusqlite::Error) -> DbError {
        DbError::Sqlite {
            path: self.db.path().to_path_buf(),
            source: e,
        }
    }

    /// The entry at `path`, if the scanned root has one.
    pub fn file(&mut self, path: &[u8]) -> Result<Option<Rc<FileRow>>, DbError> {
        if let Some(f) = self.files.get(path) {
            return Ok(f.clone());
        }
        self.queries += 1;
        let c = self.db.connection();
        let mut st = c
            .prepare_cached(&format!("SELECT {FILE_COLS} FROM file f WHERE f.path = ?1"))
            .map_err(|e| self.err(e))?;
        let row = st
            .query_row(params![path], file_row)
            .optional()
            .map_err(|e| self.err(e))?
            .map(Rc::new);
        self.files.insert(path.to_vec(), row.clone());
        Ok(row)
    }

    /// Edges that hold whenever `id` is needed: `symlink`, a program's
    /// `interp`, `shebang`, and their `walks` (never `init` edges: the init
    /// system's configuration is evidence, not a need).
    pub fn free_edges(&mut self, id: i64) -> Result<Rc<Vec<EdgeRow>>, DbError> {
        if let Some(e) = self.free.get(&id) {
            return Ok(e.clone());
        }
        self.queries += 1;
        let rows = self.edges(
            "SELECT e.kind, s.path, d.path, e.name, e.path, e.rule, e.via
             FROM edge e JOIN file s ON s.id = e.src JOIN file d ON d.id = e.dst
             WHERE e.src = ?1 AND e.context IS NULL AND e.kind <> 'init'
             ORDER BY e.id",
            id,
        )?;
        let rows = Rc::new(rows);
        self.free.insert(id, rows.clone());
        Ok(rows)
    }

    /// The edges of the load of `id` as a main object (`needed`, `walks`,
    /// and the default loader), in the loader's order.
    pub fn load_edges(&mut self, id: i64) -> Result<Rc<Vec<EdgeRow>>, DbError> {
        if let Some(e) = self.loads.get(&id) {
            return Ok(e.clone());
        }
        self.queries += 1;
        let rows: Vec<EdgeRow> = self
            .db
            .load_edges(id, &mut self.load_cache)?
            .into_iter()
            .filter(|e| matches!(e.kind.as_str(), "needed" | "walks" | "interp"))
            .filter_map(|e| {
                Some(EdgeRow {
                    kind: e.kind,
                    src: e.src,
                    dst: e.dst?,
                    name: e.name,
                    opened: e.path,
                    rule: e.rule,
                    via: e.via.filter(|v| !v.is_empty()),
                })
            })
            .collect();
        let rows = Rc::new(rows);
        self.loads.insert(id, rows.clone());
        Ok(rows)
    }

    fn edges(&self, sql: &str, id: i64) -> Result<Vec<EdgeRow>, DbError> {
        let c = self.db.connection();
        let mut st = c.prepare_cached(sql).map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![id], |r| {
                let via: Option<Vec<u8>> = r.get(6)?;
                Ok(EdgeRow {
                    kind: r.get(0)?,
                    src: r.get(1)?,
                    dst: r.get(2)?,
                    name: r.get(3)?,
                    opened: r.get(4)?,
                    rule: r.get(5)?,
                    via: via.filter(|v| !v.is_empty()),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The entry `path` names in the root: its directories resolved
    /// through the root's symlinks (`/lib/x86_64-linux-gnu/libc.so.6` is
    /// `/usr/lib/x86_64-linux-gnu/libc.so.6` in a usrmerged root), its last
    /// component not followed. `None` when a directory on the way is
    /// missing or the links loop.
    pub fn canonical(&mut self, path: &[u8]) -> Result<Option<Vec<u8>>, DbError> {
        let mut pending: Vec<Vec<u8>> = path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .rev()
            .map(<[u8]>::to_vec)
            .collect();
        let mut cur: Vec<u8> = b"/".to_vec();
        let mut hops = 0;
        while let Some(c) = pending.pop() {
            if c == b".." {
                cur = crate::parent(&cur).unwrap_or(b"/").to_vec();
                continue;
            }
            let next = kaudit_analyzer::bytes::join(&cur, &c);
            let last = pending.is_empty();
            let Some(f) = self.file(&next)? else {
                return Ok(if last { Some(next) } else { None });
            };
            match (&f.link_target, last) {
                (Some(t), false) if f.kind == "symlink" => {
                    hops += 1;
                    if hops > 40 {
                        return Ok(None);
                    }
                    if t.starts_with(b"/") {
                        cur = b"/".to_vec();
                    }
                    pending.extend(
                        t.split(|&b| b == b'/')
                            .filter(|c| !c.is_empty() && *c != b".")
                            .rev()
                            .map(<[u8]>::to_vec),
                    );
                }
                _ => cur = next,
            }
        }
        Ok(Some(cur))
    }

    /// `path` is a symlink that leads, through any further symlinks, to a
    /// directory of the root (`/bin -> usr/bin` on a usrmerged root): shared
    /// like a directory by the packages that list it.
    pub fn is_dir_link(&mut self, path: &[u8]) -> Result<bool, DbError> {
        let mut cur = path.to_vec();
        for _ in 0..40 {
            let Some(f) = self.file(&cur)? else {
                return Ok(false);
            };
            let (Some(t), "symlink") = (&f.link_target, f.kind.as_str()) else {
                return Ok(f.kind == "dir" && cur != path);
            };
            let target = if t.starts_with(b"/") {
                t.clone()
            } else {
                kaudit_analyzer::bytes::join(crate::parent(&cur).unwrap_or(b"/"), t)
            };
            match self.canonical(&target)? {
                Some(next) => cur = next,
                None => return Ok(false),
            }
        }
        Ok(false)
    }

    /// Every path of the scanned root (for includes).
    pub fn all_paths(&mut self) -> Result<Vec<Vec<u8>>, DbError> {
        self.queries += 1;
        let c = self.db.connection();
        let mut st = c
            .prepare("SELECT path FROM file ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Symlinks of the root whose target is `target` exactly as stored, or
    /// that a `symlink` edge leads from to `path` (for `why` on a link).
    pub fn links_to(&mut self, path: &[u8]) -> Result<Vec<Vec<u8>>, DbError> {
        self.queries += 1;
        let c = self.db.connection();
        let mut st = c
            .prepare_cached(
                "SELECT s.path FROM edge e JOIN file s ON s.id = e.src JOIN file d ON d.id = e.dst
                 WHERE d.path = ?1 AND e.kind = 'symlink' ORDER BY s.path",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![path], |r| r.get::<_, Vec<u8>>(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}
