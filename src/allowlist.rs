//! `kaudit allowlist`: the minimal allowlist of a profile.

use std::io::Write;
use std::path::Path;
use std::path::PathBuf;

use anyhow::{bail, Result};
use kaudit_analyzer::report::json_path;
use kaudit_graph::{Db, StoredScan};
use kaudit_reports::closure::{self, Closure};
use kaudit_reports::graph::Graph;
use kaudit_reports::profile::{human, Profile};
use kaudit_reports::show;

use crate::printer::Format;
use crate::shared::{only_proven, open, owners, remember, select, write_atomically};

/// The minimal allowlist of a profile: every entry the image needs
///
/// Computes the closure of the profile (allowlists/NAME.toml): the roots
/// are what each scenario's latest passed run accessed (opened, executed,
/// listed, modified, in use at start), every name its processes asked for
/// with success (each symlink walked and what it reached) and the
/// profile's includes; from them the graph's edges are followed (the
/// loader closure of every ELF object, interpreters, shebangs, symlink
/// hops, directory symlinks walked, parent directories), minus the
/// excludes. A run that may have lost events or names is refused unless
/// the profile says allow_incomplete = true.
///
/// Output: one absolute path per line, sorted, directories included (the
/// root directory itself is the image, not a line) — for
/// `rsync -a --files-from=LIST ROOT/ DEST/`; with --relative, for
/// `tar -C ROOT --no-recursion -T LIST`. A summary (entries, bytes,
/// budget, each scenario's share) goes to stderr.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The profile (allowlists/NAME.toml)
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: PathBuf,
    /// Write the list to FILE (replaced atomically) instead of stdout
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// text: one path per line; json: every entry with type, size, mode,
    /// package and reason codes, and the summary
    #[arg(long, value_parser = Format::among(&[Format::Text, Format::Json]), default_value = "text")]
    pub(crate) format: Format,
    /// Paths relative to the root, for `tar -C ROOT --no-recursion -T`
    #[arg(long)]
    pub(crate) relative: bool,
    /// End each path with NUL instead of a newline (`rsync --from0`, `tar --null`)
    #[arg(long, short = '0')]
    pub(crate) null: bool,
    /// Leave out the entries the last `kaudit prove` of the profile did not
    /// show necessary (a 1-minimal image; an entry kept since that proof
    /// stays until it is proven)
    #[arg(long)]
    pub(crate) proven: bool,
}

fn kind_counts(c: &Closure) -> (usize, usize, usize, usize) {
    let (mut f, mut d, mut l, mut o) = (0, 0, 0, 0);
    for (_, e) in c.listed() {
        match e.file.kind.as_str() {
            "file" => f += 1,
            "dir" => d += 1,
            "symlink" => l += 1,
            _ => o += 1,
        }
    }
    (f, d, l, o)
}

/// `kaudit allowlist`.
pub(crate) fn run(db_path: &Path, a: &Args) -> Result<i32> {
    let (db, scan) = open(db_path)?;
    let profile = Profile::load(&a.profile)?;
    let sel = select(&db, Some(&profile))?;
    let mut graph = Graph::new(&db);
    let mut c = crate::say::timed("closure", || {
        closure::compute(&mut graph, &sel.runs, Some(&profile))
    })?;
    remember(&db, &sel, &profile, &c);
    if a.proven {
        let said = only_proven(&db, &profile, &mut c)?;
        crate::say::note(format_args!("{said}"));
    }
    let body = match a.format {
        Format::Text => {
            let sep = if a.null { b'\0' } else { b'\n' };
            let mut out = Vec::with_capacity(c.entries.len() * 48);
            // the root directory itself is the image, not an entry of it
            // (rsync would list its contents, `.` or `/` alike)
            for (p, _) in c.listed() {
                if !a.null && p.contains(&b'\n') {
                    bail!(
                        "{} contains a newline, which a line-per-path list cannot hold; use --null",
                        show(p)
                    );
                }
                if a.relative {
                    out.extend_from_slice(&p[1..]);
                } else {
                    out.extend_from_slice(p);
                }
                out.push(sep);
            }
            out
        }
        _ => {
            let mut v = serde_json::to_vec_pretty(&json(&db, &profile, &scan, &c))?;
            v.push(b'\n');
            v
        }
    };
    match &a.out {
        Some(path) => write_atomically(path, &body)?,
        None => {
            let mut out = crate::printer::stdout();
            out.write_all(&body)?;
            out.flush()?;
        }
    }
    if !crate::say::quiet() {
        eprint!("{}", summary(&profile, &scan, &c));
    }
    Ok(0)
}

fn summary(profile: &Profile, scan: &StoredScan, c: &Closure) -> String {
    let (f, d, l, o) = kind_counts(c);
    let bytes = c.bytes();
    let mut s = format!(
        "kaudit: profile {}: {} entries ({f} files, {d} directories, {l} symlinks{}), {} of {} in the root ({:.1}%)\n",
        profile.name,
        c.listed().count(),
        if o > 0 { format!(", {o} other") } else { String::new() },
        human(bytes),
        human(scan.bytes),
        if scan.bytes > 0 { bytes as f64 * 100.0 / scan.bytes as f64 } else { 0.0 },
    );
    if let Some(b) = profile.budget {
        let verdict = if bytes <= b {
            format!("within ({:.0}%)", bytes as f64 * 100.0 / b.max(1) as f64)
        } else {
            format!("OVER by {}", human(bytes - b))
        };
        s.push_str(&format!("kaudit:   budget {}: {verdict}\n", human(b)));
    }
    for r in &c.runs {
        let n = run_entries(c, r.id);
        s.push_str(&format!(
            "kaudit:   {} (run {}): {n} entries, {}\n",
            r.name,
            r.id,
            human(c.run_bytes(r.id))
        ));
    }
    let includes = c
        .entries
        .values()
        .filter(|e| e.reasons.iter().any(|r| r.code() == "include"))
        .count();
    if includes > 0 {
        s.push_str(&format!("kaudit:   includes: {includes} entries\n"));
    }
    let left = c.left_out();
    s.push_str(&format!(
        "kaudit:   left out: {} reached but excluded, {} reached but not in the root (pseudo files, files the runs created)\n",
        left.excluded, left.absent
    ));
    s
}

/// The entries kept from run `id`'s roots alone, counted as the allowlist
/// counts (the root directory is not an entry).
fn run_entries(c: &Closure, id: i64) -> usize {
    c.per_run
        .get(&id)
        .map_or(0, |x| x.iter().filter(|p| p.as_slice() != b"/").count())
}

fn json(db: &Db, profile: &Profile, scan: &StoredScan, c: &Closure) -> serde_json::Value {
    let entries: Vec<serde_json::Value> = c
        .listed()
        .map(|(p, e)| {
            let mut codes: Vec<&str> = e.reasons.iter().map(|r| r.code()).collect();
            codes.sort_unstable();
            codes.dedup();
            serde_json::json!({
                "path": json_path(p),
                "type": e.file.kind,
                "size": e.file.size,
                "mode": format!("{:o}", e.file.mode & 0o7777),
                "package": owners(db, p),
                "reasons": codes,
                "depth": e.depth,
            })
        })
        .collect();
    let (f, d, l, o) = kind_counts(c);
    serde_json::json!({
        "profile": profile.name,
        "root": json_path(&scan.root),
        "summary": {
            "entries": c.listed().count(),
            "files": f,
            "directories": d,
            "symlinks": l,
            "other": o,
            "bytes": c.bytes(),
            "root_bytes": scan.bytes,
            "budget": profile.budget,
            "runs": c.runs.iter().map(|r| serde_json::json!({
                "scenario": r.name,
                "run": r.id,
                "entries": run_entries(c, r.id),
                "bytes": c.run_bytes(r.id),
            })).collect::<Vec<_>>(),
            "excluded": c.left_out().excluded,
            "absent": c.left_out().absent,
        },
        "entries": entries,
    })
}
