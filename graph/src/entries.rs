//! The scanned root's entries and edges, read one entry at a time: what the
//! closure and the reports ask of the graph.

use rusqlite::{params, OptionalExtension};

use crate::store::{Db, DbError};

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

/// An `init` edge: an entry of the init system's configuration (a unit
/// file, a drop-in, an init script, a `.wants/` link) that names another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitEdge {
    /// The entry that names it.
    pub from: Vec<u8>,
    /// The directive (`ExecStart`, `drop-in`, `wants-dir`, …).
    pub rule: String,
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

impl Db {
    /// The entry at `path`, if the scanned root has one.
    pub fn file_at(&self, path: &[u8]) -> Result<Option<FileRow>, DbError> {
        let mut st = self
            .connection()
            .prepare_cached(&format!("SELECT {FILE_COLS} FROM file f WHERE f.path = ?1"))
            .map_err(|e| self.sqlite_err(e))?;
        st.query_row(params![path], file_row)
            .optional()
            .map_err(|e| self.sqlite_err(e))
    }

    /// The edges from entry `id` that hold outside any load (`context`
    /// empty), but for `init` edges, in the order they were stored: a
    /// symlink's hop, a program's `interp`, a script's `shebang`, their
    /// `walks`. Edges to an entry the root lacks are not among them.
    pub fn free_edges(&self, id: i64) -> Result<Vec<EdgeRow>, DbError> {
        let mut st = self
            .connection()
            .prepare_cached(
                "SELECT e.kind, s.path, d.path, e.name, e.path, e.rule, e.via
                 FROM edge e JOIN file s ON s.id = e.src JOIN file d ON d.id = e.dst
                 WHERE e.src = ?1 AND e.context IS NULL AND e.kind <> 'init'
                 ORDER BY e.id",
            )
            .map_err(|e| self.sqlite_err(e))?;
        let rows = st
            .query_map(params![id], |r| {
                Ok(EdgeRow {
                    kind: r.get(0)?,
                    src: r.get(1)?,
                    dst: r.get(2)?,
                    name: r.get(3)?,
                    opened: r.get(4)?,
                    rule: r.get(5)?,
                    via: r.get(6)?,
                })
            })
            .map_err(|e| self.sqlite_err(e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| self.sqlite_err(e))
    }

    /// Every path of the scanned root, in path order.
    pub fn all_paths(&self) -> Result<Vec<Vec<u8>>, DbError> {
        let mut st = self
            .connection()
            .prepare("SELECT path FROM file ORDER BY id")
            .map_err(|e| self.sqlite_err(e))?;
        let rows = st
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .map_err(|e| self.sqlite_err(e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| self.sqlite_err(e))
    }

    /// The symlinks whose `symlink` edge (one hop) leads to `path`, in the
    /// order their edges were stored.
    pub fn symlinks_to(&self, path: &[u8]) -> Result<Vec<Vec<u8>>, DbError> {
        let mut st = self
            .connection()
            .prepare_cached(
                "SELECT s.path FROM edge e JOIN file s ON s.id = e.src JOIN file d ON d.id = e.dst
                 WHERE e.kind = 'symlink' AND d.path = ?1 ORDER BY e.id",
            )
            .map_err(|e| self.sqlite_err(e))?;
        let rows = st
            .query_map(params![path], |r| r.get::<_, Vec<u8>>(0))
            .map_err(|e| self.sqlite_err(e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| self.sqlite_err(e))
    }

    /// The `init` edges to `path` whose rule is one of `rules`, ordered by
    /// the entry they come from.
    pub fn init_edges_to(&self, path: &[u8], rules: &[&str]) -> Result<Vec<InitEdge>, DbError> {
        let marks: Vec<String> = (0..rules.len()).map(|i| format!("?{}", i + 2)).collect();
        let mut st = self
            .connection()
            .prepare_cached(&format!(
                "SELECT s.path, e.rule FROM edge e JOIN file s ON s.id = e.src JOIN file d ON d.id = e.dst
                 WHERE e.kind = 'init' AND d.path = ?1 AND e.rule IN ({}) ORDER BY s.path",
                marks.join(", ")
            ))
            .map_err(|e| self.sqlite_err(e))?;
        let mut args: Vec<rusqlite::types::Value> = vec![path.to_vec().into()];
        args.extend(rules.iter().map(|r| (*r).to_string().into()));
        let rows = st
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok(InitEdge {
                    from: r.get(0)?,
                    rule: r.get(1)?,
                })
            })
            .map_err(|e| self.sqlite_err(e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| self.sqlite_err(e))
    }
}
