//! Reading the scanned root and its edges out of the graph, on demand and
//! cached: a closure touches a few thousand of a root's hundred thousand
//! entries, so nothing is loaded wholesale.

use std::collections::HashMap;
use std::rc::Rc;

use kaudit_analyzer::loads::Need;
use kaudit_analyzer::stored;
use kaudit_graph::{Db, DbError};
pub use kaudit_graph::{EdgeRow, FileRow};

/// Cached access to the scan's part of the graph.
pub struct Graph<'a> {
    db: &'a Db,
    files: HashMap<Vec<u8>, Option<Rc<FileRow>>>,
    free: HashMap<i64, Rc<Vec<EdgeRow>>>,
    loads: HashMap<i64, Rc<Vec<EdgeRow>>>,
    /// The graph's load format, once read.
    load_format: Option<i64>,
    /// Each object's own needs, as read (`None`: it needs nothing).
    own: HashMap<Vec<u8>, Option<Rc<Vec<Need>>>>,
    /// Queries run (for the benchmark and tests).
    pub queries: u64,
}

impl<'a> Graph<'a> {
    /// A reader over `db`.
    pub fn new(db: &'a Db) -> Graph<'a> {
        Graph {
            db,
            files: HashMap::new(),
            free: HashMap::new(),
            loads: HashMap::new(),
            load_format: None,
            own: HashMap::new(),
            queries: 0,
        }
    }

    /// The database.
    pub fn db(&self) -> &'a Db {
        self.db
    }

    /// The entry at `path`, if the scanned root has one.
    pub fn file(&mut self, path: &[u8]) -> Result<Option<Rc<FileRow>>, DbError> {
        if let Some(f) = self.files.get(path) {
            return Ok(f.clone());
        }
        self.queries += 1;
        let row = self.db.file_at(path)?.map(Rc::new);
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
        let rows: Vec<EdgeRow> = self
            .db
            .free_edges(id)?
            .into_iter()
            .map(|mut e| {
                e.via = e.via.filter(|v| !v.is_empty());
                e
            })
            .collect();
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
        let edges = match self.db.load_rows(id, &mut self.load_format)? {
            Some(s) => {
                let (db, own) = (self.db, &mut self.own);
                stored::load_edges(s, &mut |x: &[u8]| own_needs(db, own, x))?
            }
            None => Vec::new(),
        };
        let rows: Vec<EdgeRow> = edges
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
        self.db.all_paths()
    }

    /// Symlinks of the root whose target is `target` exactly as stored, or
    /// that a `symlink` edge leads from to `path` (for `why` on a link).
    pub fn links_to(&mut self, path: &[u8]) -> Result<Vec<Vec<u8>>, DbError> {
        self.queries += 1;
        let mut links = self.db.symlinks_to(path)?;
        links.sort();
        Ok(links)
    }
}

/// The own needs of the object at `x`, read once into `own`.
pub fn own_needs(
    db: &Db,
    own: &mut HashMap<Vec<u8>, Option<Rc<Vec<Need>>>>,
    x: &[u8],
) -> Result<Option<Rc<Vec<Need>>>, DbError> {
    if let Some(o) = own.get(x) {
        return Ok(o.clone());
    }
    let needs = stored::own_needs(db.own_rows(x)?).map(Rc::new);
    own.insert(x.to_vec(), needs.clone());
    Ok(needs)
}
