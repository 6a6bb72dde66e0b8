//! The root's installed packages and the entries each owns.

use kaudit_analyzer::findings::Finding;
use kaudit_analyzer::packages::Packages;
use rusqlite::params;

use crate::store::{Db, DbError};

/// A stored package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRow {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Version.
    pub version: Option<String>,
    /// Architecture.
    pub arch: Option<String>,
    /// `dpkg` or `portage`.
    pub db: String,
    /// Its slot (Gentoo).
    pub slot: Option<String>,
}

/// An entry a package owns, as the scan recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRow {
    /// Path inside the root.
    pub path: Vec<u8>,
    /// `file`, `dir`, `symlink`, …
    pub kind: String,
    /// Size.
    pub size: u64,
    /// What the package database says it is (`dir`, `obj`, `sym`, `fif`,
    /// `dev`); empty when the database lists paths only (dpkg).
    pub listed_kind: String,
}

impl Db {
    /// Replace the stored packages (after a scan, which empties them) and
    /// the findings about them (origin `packages`).
    pub fn replace_packages(&mut self, pk: &Packages, findings: &[Finding]) -> Result<(), DbError> {
        let path = self.path().to_path_buf();
        let err = |e| DbError::Sqlite {
            path: path.clone(),
            source: e,
        };
        let tx = self.connection_mut().transaction().map_err(err)?;
        tx.execute_batch(
            "DELETE FROM owner; DELETE FROM package; DELETE FROM finding WHERE origin = 'packages';",
        )
        .map_err(err)?;
        {
            let mut p = tx
                .prepare(
                    "INSERT INTO package (id, name, version, arch, db, size, slot) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(err)?;
            let mut o = tx
                .prepare(
                    "INSERT OR IGNORE INTO owner (path, package, listed, kind) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(err)?;
            for (i, pkg) in pk.packages.iter().enumerate() {
                let id = i as i64 + 1;
                p.execute(params![
                    id,
                    pkg.name,
                    pkg.version,
                    pkg.arch,
                    pkg.db,
                    pkg.size.map(|s| s as i64),
                    pkg.slot
                ])
                .map_err(err)?;
                for f in &pkg.files {
                    o.execute(params![f.path, id, f.listed, f.kind])
                        .map_err(err)?;
                }
            }
            let mut f = tx
                .prepare(
                    "INSERT INTO finding (code, severity, path, context, message, origin)
                     VALUES (?1, ?2, ?3, NULL, ?4, 'packages')",
                )
                .map_err(err)?;
            for x in findings {
                f.execute(params![
                    x.code.as_str(),
                    x.code.severity().as_str(),
                    x.path,
                    x.message
                ])
                .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Every stored package, by name.
    pub fn packages(&self) -> Result<Vec<PackageRow>, DbError> {
        let mut st = self
            .connection()
            .prepare(
                "SELECT id, name, version, arch, db, slot FROM package ORDER BY name, arch, id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(PackageRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    version: r.get(2)?,
                    arch: r.get(3)?,
                    db: r.get(4)?,
                    slot: r.get(5)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The entries package `id` owns that are in the scanned root, by path.
    pub fn package_files(&self, id: i64) -> Result<Vec<OwnedRow>, DbError> {
        let mut st = self
            .connection()
            .prepare_cached(
                "SELECT o.path, f.kind, f.size, o.kind FROM owner o JOIN file f ON f.path = o.path
                 WHERE o.package = ?1 ORDER BY o.path",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([id], |r| {
                Ok(OwnedRow {
                    path: r.get(0)?,
                    kind: r.get(1)?,
                    size: r.get::<_, i64>(2)?.max(0) as u64,
                    listed_kind: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The packages that own `path` (names; more than one for shared
    /// directories).
    pub fn owners(&self, path: &[u8]) -> Result<Vec<String>, DbError> {
        let mut st = self
            .connection()
            .prepare_cached(
                "SELECT p.name FROM owner o JOIN package p ON p.id = o.package
                 WHERE o.path = ?1 ORDER BY p.name",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([path], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}
