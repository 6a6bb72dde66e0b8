//! `kaudit deps`: a load as a tree (each edge with its rule), a list (the
//! closure as the loader opens it) or JSON.

use std::io::{self, Write};

use anyhow::Result;
use kaudit_analyzer::bytes;
use kaudit_analyzer::findings::Finding;
use kaudit_analyzer::report::{json_path, DepsReport};

use super::Format;

/// Write the reports in `format` (tree, list or JSON: one object for one
/// path, an array for several).
pub(crate) fn write(out: &mut impl Write, reports: &[DepsReport], format: Format) -> Result<()> {
    match format {
        Format::List => {
            for r in reports {
                list(out, r)?;
            }
        }
        Format::Tree => {
            for r in reports {
                tree(out, r)?;
            }
        }
        _ => {
            let v = if reports.len() == 1 {
                json(&reports[0])
            } else {
                serde_json::Value::Array(reports.iter().map(json).collect())
            };
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
    }
    Ok(())
}

/// The closure, one path per line, as the loader opens each.
fn list(out: &mut impl Write, r: &DepsReport) -> io::Result<()> {
    for o in &r.objects {
        out.write_all(&o.path)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// A tree of `DT_NEEDED` edges with the rule that found each.
fn tree(out: &mut impl Write, r: &DepsReport) -> io::Result<()> {
    out.write_all(&r.path)?;
    writeln!(
        out,
        " [{}{}]",
        r.linkage,
        r.loader
            .map(|l| format!(
                ", {}",
                match l {
                    kaudit_analyzer::loader::Flavor::Glibc => "glibc",
                    kaudit_analyzer::loader::Flavor::Musl => "musl",
                }
            ))
            .unwrap_or_default()
    )?;
    for (link, target) in &r.symlinks {
        out.write_all(b"    symlink ")?;
        out.write_all(link)?;
        out.write_all(b" -> ")?;
        out.write_all(target)?;
        out.write_all(b"\n")?;
    }
    if r.file != r.path && !r.file.is_empty() {
        out.write_all(b"    file ")?;
        out.write_all(&r.file)?;
        out.write_all(b"\n")?;
    }
    if let Some(i) = &r.interpreter {
        if r.linkage == "dynamic" {
            out.write_all("├── ".as_bytes())?;
            out.write_all(i)?;
            writeln!(out, " [interpreter]")?;
        }
    }
    let mut expanded = std::collections::HashSet::new();
    expanded.insert(r.path.clone());
    tree_children(out, r, &r.path, "", &mut expanded)?;
    for f in &r.findings {
        writeln!(
            out,
            "{}: {}: {}",
            f.code,
            bytes::display(&f.path),
            f.message
        )?;
    }
    if let Some(f) = &r.fatal {
        writeln!(out, "load aborts: {f}")?;
    }
    Ok(())
}

fn tree_children(
    out: &mut impl Write,
    r: &DepsReport,
    from: &[u8],
    prefix: &str,
    expanded: &mut std::collections::HashSet<Vec<u8>>,
) -> io::Result<()> {
    let kids: Vec<_> = r.edges.iter().filter(|e| e.from == from).collect();
    for (i, e) in kids.iter().enumerate() {
        let last = i + 1 == kids.len();
        let (branch, cont) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        write!(out, "{prefix}{branch}")?;
        out.write_all(&e.name)?;
        match &e.to {
            Some(to) => {
                if e.rule == "already-loaded" {
                    write!(out, " [already loaded")?;
                    if let Some(m) = &e.matched {
                        write!(out, ", matched by {m}")?;
                    }
                    writeln!(out, "]")?;
                } else {
                    if to != &e.name {
                        out.write_all(b" => ")?;
                        out.write_all(to)?;
                    }
                    write!(out, " [{}", e.rule)?;
                    if let Some(v) = &e.via {
                        write!(out, " of {}", bytes::display(v))?;
                    }
                    writeln!(out, "]")?;
                }
                if e.rule != "already-loaded" && expanded.insert(to.clone()) {
                    tree_children(out, r, to, &format!("{prefix}{cont}"), expanded)?;
                }
            }
            None => writeln!(out, " => not found")?,
        }
    }
    Ok(())
}

/// The report as JSON (paths in the one shape, `json_path`).
fn json(r: &DepsReport) -> serde_json::Value {
    use serde_json::json;
    let p = |b: &[u8]| json_path(b);
    let opt = |b: &Option<Vec<u8>>| {
        b.as_deref()
            .map(json_path)
            .unwrap_or(serde_json::Value::Null)
    };
    let unresolved: Vec<_> = r
        .unresolved()
        .map(|e| json!({"name": p(&e.name), "needed_by": p(&e.from)}))
        .collect();
    json!({
        "path": p(&r.path),
        "file": p(&r.file),
        "loader": r.loader,
        "interpreter": opt(&r.interpreter),
        "linkage": r.linkage,
        "objects": r.objects.iter().map(|o| json!({
            "name": p(&o.name), "path": p(&o.path), "file": p(&o.file),
            "needed_by": p(&o.needed_by), "rule": o.rule, "via": opt(&o.via),
        })).collect::<Vec<_>>(),
        "edges": r.edges.iter().map(|e| {
            let mut v = json!({
                "from": p(&e.from), "name": p(&e.name), "to": opt(&e.to),
                "rule": e.rule, "via": opt(&e.via),
            });
            if let Some(m) = &e.matched { v["match"] = json!(m); }
            v
        }).collect::<Vec<_>>(),
        "unresolved": unresolved,
        "findings": r.findings.iter().map(finding).collect::<Vec<_>>(),
        "fatal": r.fatal,
        "symlinks": r.symlinks.iter().map(|(l, t)| json!({"link": p(l), "target": p(t)})).collect::<Vec<_>>(),
    })
}

/// A finding as JSON.
fn finding(f: &Finding) -> serde_json::Value {
    serde_json::json!({
        "code": f.code.as_str(),
        "severity": f.code.severity().as_str(),
        "path": json_path(&f.path),
        "message": f.message,
    })
}
