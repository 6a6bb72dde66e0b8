//! Opening the database, writing scans, reading them back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kaudit_analyzer::findings::Finding;
use kaudit_analyzer::rootfs::{Entry, Index, Kind, Meta};
use kaudit_analyzer::scan::{Analysis, ScanResult};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::schema;

/// Database errors; each names the database file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The file is not a kaudit database (or is corrupt).
    #[error("{path} is not a usable kaudit database: {message}")]
    Corrupt {
        /// The database.
        path: PathBuf,
        /// What SQLite said.
        message: String,
    },
    /// Another process holds the database.
    #[error("{path} is locked by another process")]
    Locked {
        /// The database.
        path: PathBuf,
    },
    /// Another program's database: kaudit neither reads nor changes it.
    #[error("{path} is not a kaudit graph ({reason}); it was left untouched")]
    Foreign {
        /// The database.
        path: PathBuf,
        /// What gives it away.
        reason: String,
    },
    /// Written by an older kaudit and opened for reading only, so it cannot
    /// be brought up to date.
    #[error("{path} has schema version {found}, older than this kaudit's ({supported}); a command that writes the graph (`kaudit scan`, `kaudit trace`) upgrades it")]
    TooOld {
        /// The database.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// Ours.
        supported: i64,
    },
    /// Written by a newer kaudit.
    #[error("{path} has schema version {found}, newer than this kaudit understands ({supported})")]
    TooNew {
        /// The database.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// Ours.
        supported: i64,
    },
    /// The database has no scan yet.
    #[error("{path} holds no scan yet; run `kaudit scan --root DIR` first")]
    NoScan {
        /// The database.
        path: PathBuf,
    },
    /// Any other SQLite error.
    #[error("{path}: {source}")]
    Sqlite {
        /// The database.
        path: PathBuf,
        /// The error.
        source: rusqlite::Error,
    },
}

/// The open database.
#[derive(Debug)]
pub struct Db {
    conn: Connection,
    path: PathBuf,
    stored_pending: Vec<i64>,
}

/// Summary of the stored scan.
#[derive(Debug, Clone)]
pub struct StoredScan {
    /// The root's host path as scanned.
    pub root: Vec<u8>,
    /// CPU model.
    pub cpu: String,
    /// Entries.
    pub entries: u64,
    /// Bytes.
    pub bytes: u64,
    /// ELF files.
    pub elf: u64,
    /// Findings.
    pub findings: u64,
}

/// An in-memory view of the stored entries, usable for symlink resolution.
pub type DbView = Index;

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::DatabaseBusy || f.code == rusqlite::ErrorCode::DatabaseLocked
    )
}

fn is_corrupt(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::NotADatabase || f.code == rusqlite::ErrorCode::DatabaseCorrupt
    )
}

impl Db {
    pub(crate) fn err(&self, e: rusqlite::Error) -> DbError {
        classify(&self.path, e)
    }

    /// An SQLite error as SQLite words it ([`DbError::Sqlite`], not
    /// classified as a lock or corruption): what the reports' queries and
    /// the closure cache say.
    pub(crate) fn sqlite_err(&self, e: rusqlite::Error) -> DbError {
        DbError::Sqlite {
            path: self.path.clone(),
            source: e,
        }
    }

    /// Run `f` in one write transaction and commit it. Any SQLite error
    /// (a locked or corrupt database among them) is classified for this
    /// file, and nothing `f` wrote is kept when it fails.
    pub(crate) fn write<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, DbError> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| classify(&self.path, e))?;
        let out = f(&tx).map_err(|e| classify(&self.path, e))?;
        tx.commit().map_err(|e| classify(&self.path, e))?;
        Ok(out)
    }

    /// Open (creating when `create`) and migrate. A missing file without
    /// `create` is an error.
    pub fn open(path: &Path, create: bool) -> Result<Db, DbError> {
        let flags = if create {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
        } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if !create && !path.exists() {
            return Err(DbError::NoScan {
                path: path.to_path_buf(),
            });
        }
        // a graph on a read-only filesystem can only be read
        if !create && read_only_fs(path) {
            return Db::open_read(path);
        }
        let conn = Connection::open_with_flags(path, flags).map_err(|e| classify(path, e))?;
        let db = Db {
            conn,
            path: path.to_path_buf(),
            stored_pending: Vec::new(),
        };
        db.conn
            .busy_timeout(Duration::from_secs(5))
            .map_err(|e| db.err(e))?;
        // before anything is written: another program's file is refused
        db.check_kaudit()?;
        // 16 KiB pages (effective when the file is new): a scan writes
        // hundreds of thousands of rows, and larger pages cut B-tree and WAL work.
        // Temporary tables and statement journals stay in memory: nothing is
        // written beside the database but its own -wal and -shm.
        db.conn
            .execute_batch(
                "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
            )
            .map_err(|e| db.err(e))?;
        db.migrate()?;
        let mut db = db;
        // the ends of runs a locked graph could not take: stored now, or
        // by the next open that can
        db.stored_pending = db.store_pending_runs().unwrap_or_default();
        Ok(db)
    }

    /// Open an existing graph for reading only: nothing is written to the
    /// file (no migration, no change of journal mode), and a graph on a
    /// read-only filesystem can be read. A graph of an older schema is an
    /// error ([`DbError::TooOld`]); another program's database is refused
    /// ([`DbError::Foreign`]).
    pub fn open_read(path: &Path) -> Result<Db, DbError> {
        if !path.exists() {
            return Err(DbError::NoScan {
                path: path.to_path_buf(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        // In WAL mode a reader needs the -shm file, which nothing can create
        // on a read-only filesystem; there nobody can change the file either,
        // so it is opened as immutable (unless a -wal file is there to read).
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let uri = if read_only_fs(path) && !Path::new(&wal).exists() {
            format!("{}?immutable=1", file_uri(path))
        } else {
            file_uri(path)
        };
        let conn = Connection::open_with_flags(&uri, flags).map_err(|e| classify(path, e))?;
        let db = Db {
            conn,
            path: path.to_path_buf(),
            stored_pending: Vec::new(),
        };
        db.conn
            .busy_timeout(Duration::from_secs(5))
            .map_err(|e| db.err(e))?;
        db.conn
            .execute_batch("PRAGMA query_only = ON; PRAGMA temp_store = MEMORY;")
            .map_err(|e| db.err(e))?;
        db.check_kaudit()?;
        let current: i64 = db
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| db.err(e))?;
        let target = schema::version();
        if current > target {
            return Err(DbError::TooNew {
                path: db.path.clone(),
                found: current,
                supported: target,
            });
        }
        if current < target {
            return Err(DbError::TooOld {
                path: db.path.clone(),
                found: current,
                supported: target,
            });
        }
        Ok(db)
    }

    /// Whether the file is a kaudit graph (or empty): its application id is
    /// kaudit's, or it has none yet but holds kaudit's first tables (a graph
    /// from before the id was written), or it holds no table at all.
    fn check_kaudit(&self) -> Result<(), DbError> {
        let foreign = |reason: String| DbError::Foreign {
            path: self.path.clone(),
            reason,
        };
        let id: i64 = self
            .conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if id == schema::APPLICATION_ID {
            return Ok(());
        }
        if id != 0 {
            return Err(foreign(format!("its application id is {id:#x}")));
        }
        let mut st = self
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
            .map_err(|e| self.err(e))?;
        let tables: Vec<String> = st
            .query_map([], |r| r.get(0))
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if tables.is_empty() && version == 0 {
            return Ok(());
        }
        let ours = version >= 1
            && ["scan", "file", "elf", "edge", "finding"]
                .iter()
                .all(|t| tables.iter().any(|have| have == t));
        if ours {
            return Ok(());
        }
        let shown: Vec<&str> = tables.iter().take(5).map(String::as_str).collect();
        Err(foreign(if tables.is_empty() {
            format!("no tables, but user_version {version}")
        } else {
            format!(
                "it holds other tables: {}{}",
                shown.join(", "),
                if tables.len() > shown.len() {
                    ", …"
                } else {
                    ""
                }
            )
        }))
    }

    /// An in-memory database (tests).
    pub fn open_in_memory() -> Result<Db, DbError> {
        let conn = Connection::open_in_memory().map_err(|e| classify(Path::new(":memory:"), e))?;
        let db = Db {
            conn,
            path: PathBuf::from(":memory:"),
            stored_pending: Vec::new(),
        };
        db.conn
            .execute_batch("PRAGMA foreign_keys = ON;")
            .map_err(|e| db.err(e))?;
        db.migrate()?;
        Ok(db)
    }

    /// Begin one read transaction for a whole command: one lock and one
    /// snapshot of the graph instead of one per query, over a memory-mapped
    /// file with a large page cache. A later write ([`Db::store_closure`])
    /// ends it.
    pub fn begin_read_snapshot(&self) -> Result<(), DbError> {
        self.conn
            .execute_batch("PRAGMA mmap_size = 4294967296; PRAGMA cache_size = -262144; BEGIN;")
            .map_err(|e| self.sqlite_err(e))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn migrate(&self) -> Result<(), DbError> {
        let current: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let target = schema::version();
        if current > target {
            return Err(DbError::TooNew {
                path: self.path.clone(),
                found: current,
                supported: target,
            });
        }
        if current == target {
            return Ok(());
        }
        self.conn
            .execute_batch("BEGIN EXCLUSIVE")
            .map_err(|e| self.err(e))?;
        let run = || -> rusqlite::Result<()> {
            // re-read inside the lock: another process may have migrated
            let current: i64 = self
                .conn
                .query_row("PRAGMA user_version", [], |r| r.get(0))?;
            for (i, m) in schema::MIGRATIONS.iter().enumerate().skip(current as usize) {
                self.conn.execute_batch(m)?;
                self.conn
                    .execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
            }
            Ok(())
        };
        match run() {
            Ok(()) => self.conn.execute_batch("COMMIT").map_err(|e| self.err(e)),
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(self.err(e))
            }
        }
    }

    /// Replace all static-analysis data with `scan`, in one transaction.
    pub fn replace_scan(
        &mut self,
        root: &Path,
        scan: &ScanResult,
        started_at: i64,
    ) -> Result<(), DbError> {
        self.replace_scan_with(root, &scan.entries, started_at, || &scan.analysis)
            .map(|_| ())
    }

    /// Replace all static-analysis data in one transaction, storing the
    /// (sorted) `entries` while `analyze` runs on another thread; then store
    /// what it returns. The scan's finish time is taken at the end.
    pub fn replace_scan_with<A, F>(
        &mut self,
        root: &Path,
        entries: &[Entry],
        started_at: i64,
        analyze: F,
    ) -> Result<A, DbError>
    where
        A: std::borrow::Borrow<Analysis> + Send,
        F: FnOnce() -> A + Send,
    {
        let path = self.path.clone();
        // Foreign keys are enforced by construction here (every id inserted is
        // looked up from this transaction's own file rows). Turning the checks
        // off lets SQLite truncate the old tables instead of deleting row by
        // row; it cannot be changed inside a transaction, so it is done first.
        self.conn
            .execute_batch("PRAGMA foreign_keys = OFF; PRAGMA cache_size = -262144;")
            .map_err(|e| classify(&path, e))?;
        let conn = &mut self.conn;
        let p = &path;
        let result = (move || -> Result<A, DbError> {
            let tx = conn.transaction().map_err(|e| classify(p, e))?;
            let (files, analysis) = std::thread::scope(|s| {
                let worker = s.spawn(analyze);
                let files = write_files(&tx, entries);
                (files, worker.join())
            });
            let analysis = match analysis {
                Ok(a) => a,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            files.map_err(|e| classify(p, e))?;
            write_analysis(&tx, root, entries, analysis.borrow(), started_at)
                .map_err(|e| classify(p, e))?;
            tx.commit().map_err(|e| classify(p, e))?;
            Ok(analysis)
        })();
        let restore = self
            .conn
            .execute_batch("PRAGMA foreign_keys = ON;")
            .map_err(|e| classify(&path, e));
        let a = result?;
        restore?;
        Ok(a)
    }

    /// The stored scan, if any.
    pub fn scan_info(&self) -> Result<Option<StoredScan>, DbError> {
        self.conn
            .query_row(
                "SELECT root, cpu, entries, bytes, elf, findings FROM scan ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok(StoredScan {
                        root: r.get(0)?,
                        cpu: r.get(1)?,
                        entries: r.get::<_, i64>(2)? as u64,
                        bytes: r.get::<_, i64>(3)? as u64,
                        elf: r.get::<_, i64>(4)? as u64,
                        findings: r.get::<_, i64>(5)? as u64,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every stored entry, as an index for symlink resolution.
    pub fn index(&self) -> Result<DbView, DbError> {
        let mut entries = Vec::new();
        let mut st = self
            .conn
            .prepare("SELECT path, mode, size, uid, gid, dev, ino, nlink, mtime, rdev, link_target FROM file")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                let mode: u32 = r.get(1)?;
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    Meta {
                        kind: Kind::from_mode(mode),
                        mode,
                        size: r.get::<_, i64>(2)? as u64,
                        uid: r.get(3)?,
                        gid: r.get(4)?,
                        dev: r.get::<_, i64>(5)? as u64,
                        ino: r.get::<_, i64>(6)? as u64,
                        nlink: r.get::<_, i64>(7)? as u64,
                        mtime: r.get(8)?,
                        rdev: r.get::<_, i64>(9)? as u64,
                    },
                    r.get::<_, Option<Vec<u8>>>(10)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (p, m, t) = row.map_err(|e| self.err(e))?;
            entries.push(Entry {
                path: p,
                meta: m,
                target: t,
            });
        }
        Ok(Index::new(entries))
    }

    /// The runs whose ends, kept beside the graph ([`crate::pending`]), this
    /// open stored.
    pub fn stored_pending_runs(&self) -> &[i64] {
        &self.stored_pending
    }

    /// The connection, for the queries of this crate's modules.
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

/// Empty the static tables and store the entries, in path order: the n-th
/// entry gets rowid n + 1, so ids are the same for the same root.
fn write_files(tx: &rusqlite::Transaction<'_>, entries: &[Entry]) -> rusqlite::Result<()> {
    tx.execute_batch(
        "DELETE FROM edge WHERE origin = 'scan';
         DELETE FROM finding WHERE origin = 'scan';
         DELETE FROM script; DELETE FROM needed; DELETE FROM elf;
         DELETE FROM file; DELETE FROM scan; DELETE FROM owner; DELETE FROM package;
         DELETE FROM closure;",
    )?;
    let mut st = tx.prepare_cached(
        "INSERT INTO file (id, path, kind, size, mode, uid, gid, dev, ino, nlink, mtime, rdev, link_target)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    for (i, e) in entries.iter().enumerate() {
        let m = &e.meta;
        st.execute(params![
            i as i64 + 1,
            e.path,
            m.kind.as_str(),
            m.size as i64,
            m.mode,
            m.uid,
            m.gid,
            m.dev as i64,
            m.ino as i64,
            m.nlink as i64,
            m.mtime,
            m.rdev as i64,
            e.target,
        ])?;
    }
    Ok(())
}

/// Store objects, scripts, edges, findings and the scan row.
fn write_analysis(
    tx: &rusqlite::Transaction<'_>,
    root: &Path,
    entries: &[Entry],
    scan: &Analysis,
    started_at: i64,
) -> rusqlite::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let id_of = |p: &[u8]| -> Option<i64> {
        entries
            .binary_search_by(|e| e.path.as_slice().cmp(p))
            .ok()
            .map(|i| i as i64 + 1)
    };
    {
        let mut st = tx.prepare_cached(
            "INSERT INTO elf (file_id, class, machine, etype, linkage, interp, soname, rpath, runpath, flags_1, nodeflib)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        let mut nd =
            tx.prepare_cached("INSERT INTO needed (file_id, idx, name) VALUES (?1, ?2, ?3)")?;
        for (p, info) in &scan.elf {
            let Some(id) = id_of(p) else { continue };
            st.execute(params![
                id,
                if info.class64 { 64 } else { 32 },
                info.machine,
                info.etype,
                info.linkage().as_str(),
                info.interp,
                info.soname,
                info.rpath,
                info.runpath,
                info.flags_1 as i64,
                info.nodeflib(),
            ])?;
            for (i, n) in info.needed.iter().enumerate() {
                nd.execute(params![id, i as i64, n])?;
            }
        }
    }
    {
        let mut st = tx.prepare_cached(
            "INSERT INTO script (file_id, interpreter, argument) VALUES (?1, ?2, ?3)",
        )?;
        for (p, s) in &scan.scripts {
            let Some(id) = id_of(p) else { continue };
            st.execute(params![id, s.interpreter, s.argument])?;
        }
    }
    {
        let mut st = tx.prepare_cached(
            "INSERT INTO edge (src, dst, kind, context, seq, name, path, rule, via, file)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        for e in &scan.edges {
            let Some(src) = id_of(&e.src) else { continue };
            let dst = match &e.dst {
                Some(d) => match id_of(d) {
                    Some(id) => Some(id),
                    None => continue,
                },
                None => None,
            };
            let ctx = e.context.as_deref().and_then(id_of);
            let file = e.file.as_deref().and_then(id_of);
            st.execute(params![
                src,
                dst,
                e.kind.as_str(),
                ctx,
                e.seq,
                e.name,
                e.path,
                e.rule,
                e.via,
                file
            ])?;
        }
    }
    {
        let mut st = tx.prepare_cached(
            "INSERT INTO finding (code, severity, path, context, message) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for f in &scan.findings {
            st.execute(params![
                f.finding.code.as_str(),
                f.finding.code.severity().as_str(),
                f.finding.path,
                f.context,
                f.finding.message
            ])?;
        }
    }
    let distinct = {
        let mut v: Vec<&Finding> = scan.findings.iter().map(|f| &f.finding).collect();
        v.sort();
        v.dedup();
        v.len()
    };
    let finished_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    tx.execute(
        "INSERT INTO scan (root, cpu, entries, bytes, elf, loads, scripts, edges, findings, started_at, finished_at, tool_version, load_format)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 2)",
        params![
            root.as_os_str().as_bytes(),
            scan.cpu,
            scan.stats.entries as i64,
            scan.stats.bytes as i64,
            scan.stats.elf as i64,
            scan.stats.loads as i64,
            scan.stats.scripts as i64,
            scan.stats.edges as i64,
            distinct as i64,
            started_at,
            finished_at,
            env!("CARGO_PKG_VERSION"),
        ],
    )?;
    Ok(())
}

/// Whether `path` lies on a filesystem mounted read-only.
fn read_only_fs(path: &Path) -> bool {
    rustix::fs::statvfs(path)
        .is_ok_and(|s| s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY))
}

/// `path` as an SQLite `file:` URI (bytes other than unreserved ones and `/`
/// percent-encoded).
fn file_uri(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::from("file:");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn classify(path: &Path, e: rusqlite::Error) -> DbError {
    if is_busy(&e) {
        DbError::Locked {
            path: path.to_path_buf(),
        }
    } else if is_corrupt(&e) {
        DbError::Corrupt {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    } else {
        DbError::Sqlite {
            path: path.to_path_buf(),
            source: e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_twice() {
        let db = Db::open_in_memory().unwrap();
        db.migrate().unwrap();
        let v: i64 = db
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, schema::version());
        let id: i64 = db
            .conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .unwrap();
        assert_eq!(id, schema::APPLICATION_ID);
    }

    #[test]
    fn corrupt_file_is_named() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("bad.db");
        std::fs::write(&p, vec![0x5au8; 8192]).unwrap();
        let e = Db::open(&p, true).unwrap_err();
        assert!(matches!(e, DbError::Corrupt { .. }), "{e}");
        assert!(e.to_string().contains("bad.db"));
    }
}
