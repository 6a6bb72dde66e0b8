//! Output: every command renders through here (text, list, JSON), writing
//! paths as raw bytes so non-UTF-8 names come out exactly as stored.

use std::io::{self, Write};

use kaudit_analyzer::bytes;
use kaudit_analyzer::report::DepsReport;

/// Whether an error is a closed stdout (e.g. piped into `head`).
pub(crate) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// The closure, one path per line, as the loader opens each.
pub(crate) fn deps_list(out: &mut impl Write, r: &DepsReport) -> io::Result<()> {
    for o in &r.objects {
        out.write_all(&o.path)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// A tree of `DT_NEEDED` edges with the rule that found each.
pub(crate) fn deps_tree(out: &mut impl Write, r: &DepsReport) -> io::Result<()> {
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
