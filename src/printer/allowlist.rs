//! The allowlist: one path per line (or NUL-separated), JSON with every
//! entry and the summary, and the summary said on standard error.

use anyhow::{bail, Result};
use kaudit_analyzer::report::json_path;
use kaudit_graph::{Db, StoredScan};
use kaudit_reports::closure::Closure;
use kaudit_reports::profile::Profile;
use kaudit_reports::show;
use kaudit_reports::units::human;

use crate::shared::owners;

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

pub(crate) fn summary(profile: &Profile, scan: &StoredScan, c: &Closure) -> String {
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

fn json_value(db: &Db, profile: &Profile, scan: &StoredScan, c: &Closure) -> serde_json::Value {
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

/// The allowlist as lines: absolute paths (or relative to the root), each
/// ended by a newline (or a NUL). The root directory itself is the image,
/// not an entry of it (rsync would list its contents, `.` or `/` alike).
pub(crate) fn list(c: &Closure, relative: bool, null: bool) -> Result<Vec<u8>> {
    let sep = if null { b'\0' } else { b'\n' };
    let mut out = Vec::with_capacity(c.entries.len() * 48);
    for (p, _) in c.listed() {
        if !null && p.contains(&b'\n') {
            bail!(
                "{} contains a newline, which a line-per-path list cannot hold; use --null",
                show(p)
            );
        }
        if relative {
            out.extend_from_slice(&p[1..]);
        } else {
            out.extend_from_slice(p);
        }
        out.push(sep);
    }
    Ok(out)
}

/// The allowlist as JSON: the profile, the summary and every entry with its
/// type, size, mode, package, reason codes and depth.
pub(crate) fn json(db: &Db, profile: &Profile, scan: &StoredScan, c: &Closure) -> Result<Vec<u8>> {
    let mut v = serde_json::to_vec_pretty(&json_value(db, profile, scan, c))?;
    v.push(b'\n');
    Ok(v)
}
