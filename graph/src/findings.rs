//! The findings stored in the graph, read back with filters.

use rusqlite::types::Value;

use crate::store::{Db, DbError};

/// One finding: a code, the path it is about and its message, with the
/// number of loads it was met in (an unresolved library is met in the load
/// of every program that needs it, and stored once per load).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingRow {
    /// The stable kebab-case code.
    pub code: String,
    /// `error`, `warning` or `info`.
    pub severity: String,
    /// The path it is about, inside the root.
    pub path: Vec<u8>,
    /// A sentence.
    pub message: String,
    /// Where it comes from: `scan` (the walk and the loads) or `packages`
    /// (the package databases).
    pub origin: String,
    /// The loads it was met in (0 when it is about the path alone).
    pub loads: u64,
}

/// Which findings to read; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    /// Only these codes (none: any).
    pub codes: Vec<String>,
    /// Only these severities (none: any).
    pub severities: Vec<String>,
    /// Only paths at or below this one (`/usr/lib` holds `/usr/lib` and
    /// `/usr/lib/x`, not `/usr/lib64`).
    pub under: Option<Vec<u8>>,
}

impl Db {
    /// The stored findings that pass `filter`, each once, by severity (errors
    /// first), code and path.
    pub fn findings(&self, filter: &FindingFilter) -> Result<Vec<FindingRow>, DbError> {
        let mut sql = String::from(
            "SELECT code, severity, path, message, origin, COUNT(context) FROM finding WHERE 1",
        );
        let mut args: Vec<Value> = Vec::new();
        let mut any_of = |column: &str, values: &[String], sql: &mut String| {
            if values.is_empty() {
                return;
            }
            let marks: Vec<String> = values
                .iter()
                .map(|v| {
                    args.push(Value::Text(v.clone()));
                    format!("?{}", args.len())
                })
                .collect();
            sql.push_str(&format!(" AND {column} IN ({})", marks.join(", ")));
        };
        any_of("code", &filter.codes, &mut sql);
        any_of("severity", &filter.severities, &mut sql);
        if let Some(under) = &filter.under {
            let mut dir = under.clone();
            while dir.len() > 1 && dir.ends_with(b"/") {
                dir.pop();
            }
            if dir != b"/" {
                // the path itself, or below it: compared as bytes, no LIKE
                // patterns (a path may hold % and _)
                let mut below = dir.clone();
                below.push(b'/');
                args.push(Value::Blob(dir));
                let n = args.len();
                args.push(Value::Blob(below.clone()));
                sql.push_str(&format!(
                    " AND (path = ?{n} OR substr(path, 1, {}) = ?{})",
                    below.len(),
                    n + 1
                ));
            }
        }
        sql.push_str(
            " GROUP BY code, severity, path, message, origin
              ORDER BY CASE severity WHEN 'error' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, code, path, message",
        );
        let mut st = self.connection().prepare(&sql).map_err(|e| self.err(e))?;
        let rows = st
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok(FindingRow {
                    code: r.get(0)?,
                    severity: r.get(1)?,
                    path: r.get(2)?,
                    message: r.get(3)?,
                    origin: r.get(4)?,
                    loads: r.get::<_, i64>(5)? as u64,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// code, severity, path, context, origin
    type Row<'a> = (&'a str, &'a str, &'a [u8], Option<&'a [u8]>, &'a str);

    fn db() -> Db {
        let db = Db::open_in_memory().unwrap();
        let rows: &[Row<'_>] = &[
            (
                "unresolved-needed",
                "error",
                b"/usr/lib/a_b.so",
                Some(b"/usr/bin/x"),
                "scan",
            ),
            (
                "unresolved-needed",
                "error",
                b"/usr/lib/a_b.so",
                Some(b"/usr/bin/y"),
                "scan",
            ),
            ("dangling-symlink", "info", b"/usr/lib64/l", None, "scan"),
            ("dangling-symlink", "info", b"/usr/libx/l", None, "scan"),
            ("unowned-file", "info", b"/usr/lib", None, "packages"),
            ("symlink-loop", "warning", b"/opt/\xff", None, "scan"),
        ];
        for (code, sev, path, context, origin) in rows {
            db.connection()
                .execute(
                    "INSERT INTO finding (code, severity, path, context, message, origin) VALUES (?1, ?2, ?3, ?4, 'm', ?5)",
                    rusqlite::params![code, sev, path, context, origin],
                )
                .unwrap();
        }
        db
    }

    fn paths(rows: &[FindingRow]) -> Vec<&[u8]> {
        rows.iter().map(|r| r.path.as_slice()).collect()
    }

    #[test]
    fn each_finding_once_with_its_loads_errors_first() {
        let rows = db().findings(&FindingFilter::default()).unwrap();
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[0].code, "unresolved-needed");
        assert_eq!(rows[0].loads, 2);
        assert_eq!(rows[1].severity, "warning");
        assert_eq!(rows[1].path, b"/opt/\xff");
        assert!(rows[2..].iter().all(|r| r.severity == "info"));
    }

    #[test]
    fn a_path_prefix_is_a_directory_and_no_pattern() {
        let db = db();
        let under = |p: &[u8]| {
            let f = FindingFilter {
                under: Some(p.to_vec()),
                ..FindingFilter::default()
            };
            db.findings(&f).unwrap()
        };
        // /usr/lib holds itself and what is below, not /usr/lib64 or /usr/libx
        assert_eq!(
            paths(&under(b"/usr/lib/")),
            vec![b"/usr/lib/a_b.so".as_slice(), b"/usr/lib".as_slice()]
        );
        // `_` is a byte, not a LIKE wildcard
        assert!(under(b"/usr/lib/aXb.so").is_empty());
        assert_eq!(under(b"/").len(), 5);
    }

    #[test]
    fn codes_and_severities_take_any_of_their_values() {
        let db = db();
        let f = FindingFilter {
            codes: vec!["dangling-symlink".into(), "symlink-loop".into()],
            severities: vec!["info".into()],
            under: None,
        };
        assert_eq!(
            paths(&db.findings(&f).unwrap()),
            vec![b"/usr/lib64/l".as_slice(), b"/usr/libx/l".as_slice()]
        );
    }
}
