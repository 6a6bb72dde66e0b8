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
