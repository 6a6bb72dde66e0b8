//! `kaudit findings`: the findings of the graph, filtered.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::ValueEnum;
use kaudit_analyzer::findings::Code;
use kaudit_graph::{Db, DbError, FindingFilter};

use crate::printer::Format;

/// The findings of the graph: per-path problems the scan recorded
///
/// Each finding once: its severity, its stable code (docs/findings.md),
/// the path it is about and what is wrong; with how many loads met it
/// when more than one did. Errors first, then warnings, then info, each
/// by code and path. Filters narrow the list and combine; a repeated
/// --code or --severity takes any of the values given. The list goes to
/// stdout, the count by severity to stderr. Exit status 0, whatever is
/// found.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Only findings with this code (repeatable; e.g. unresolved-needed)
    #[arg(long, value_name = "CODE")]
    pub(crate) code: Vec<String>,
    /// Only findings of this severity (repeatable)
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub(crate) severity: Vec<SeverityArg>,
    /// Only findings about PREFIX or a path below it (/usr/lib holds
    /// /usr/lib/x, not /usr/lib64)
    #[arg(long, value_name = "PREFIX")]
    pub(crate) path: Option<PathBuf>,
    /// text: one finding a line; json: an array of objects
    #[arg(long, value_parser = Format::among(&[Format::Text, Format::Json]), default_value = "text")]
    pub(crate) format: Format,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub(crate) enum SeverityArg {
    Error,
    Warning,
    Info,
}

pub(crate) fn run(db_path: &Path, a: &Args) -> Result<i32> {
    for c in &a.code {
        if Code::from_name(c).is_none() {
            let known: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
            bail!(
                "unknown finding code {c}: expected one of {}",
                known.join(", ")
            );
        }
    }
    let db = Db::open(db_path, false)?;
    if db.scan_info()?.is_none() {
        return Err(DbError::NoScan {
            path: db_path.to_path_buf(),
        }
        .into());
    }
    let under = match &a.path {
        Some(p) => {
            let b = p.as_os_str().as_bytes();
            if !b.starts_with(b"/") {
                bail!(
                    "--path {}: give the path as it is inside the root, starting with /",
                    p.display()
                );
            }
            Some(b.to_vec())
        }
        None => None,
    };
    let filter = FindingFilter {
        codes: a.code.clone(),
        severities: a
            .severity
            .iter()
            .map(|s| {
                match s {
                    SeverityArg::Error => "error",
                    SeverityArg::Warning => "warning",
                    SeverityArg::Info => "info",
                }
                .to_string()
            })
            .collect(),
        under,
    };
    let rows = db.findings(&filter)?;
    let mut out = crate::printer::stdout();
    crate::printer::findings::write(&mut out, &rows, a.format)?;
    out.flush()?;
    crate::printer::findings::counts(&rows);
    Ok(0)
}
