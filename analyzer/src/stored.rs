//! The `deps` report of an object as a stored scan resolved it.
//!
//! A scan stores each load as edges; reading one back gives the rows of
//! [`StoredLoad`]. [`deps`] turns them into the same [`DepsReport`] a live
//! resolution gives: the path asked for resolved through the root's
//! symlinks, each object listed once under the path it was opened as, the
//! interpreter placed where its loader places it (musl lists its loader
//! first), and the findings that abort the load made fatal.

use std::borrow::Cow;
use std::collections::HashMap;
use std::rc::Rc;

use crate::bytes;
use crate::findings::{Code, Finding};
use crate::loader::Flavor;
use crate::loads::{self, Interp, LoadEdge, Need};
use crate::report::{DepsReport, ReportEdge, ReportObject};
use crate::rootfs::{self, FsView};
use crate::scan::EdgeKind;

/// One edge of a stored load, in the loader's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadRow {
    /// `needed`, `walks`, `cpu-alternative`, `interp` (a library's default loader).
    pub kind: String,
    /// The needing file.
    pub src: Vec<u8>,
    /// The needed entry (`None`: not found).
    pub dst: Option<Vec<u8>>,
    /// The name asked for.
    pub name: Option<Vec<u8>>,
    /// The path as opened.
    pub path: Option<Vec<u8>>,
    /// The rule.
    pub rule: Option<String>,
    /// The object whose search path was used, or that was reused.
    pub via: Option<Vec<u8>>,
}

/// A stored finding: its code's name, the path it is about, its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFinding {
    /// The code's name (`load-error`, …).
    pub code: String,
    /// The path it is about.
    pub path: Vec<u8>,
    /// The message.
    pub message: String,
}

/// What a stored scan holds about one file and its load as a main object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredLoad {
    /// Its linkage (`dynamic`, `static`, …); `None`: not an ELF object.
    pub linkage: Option<String>,
    /// Its `PT_INTERP` (a program).
    pub interp: Option<Vec<u8>>,
    /// The loader the scan chose for it when it is loaded as a main object
    /// (the name of the `interp` edge of its own load: a library's default
    /// loader).
    pub default_loader: Option<Vec<u8>>,
    /// The rows stored under its load (`None`: none).
    pub rows: Option<StoredRows>,
    /// The findings met in its load, and those about the file itself
    /// outside any load, in the order they were stored.
    pub findings: Vec<StoredFinding>,
}

/// A row stored under a load: its place in the load, the edge, the final
/// file the edge reached.
pub type Row = (u32, LoadRow, Option<Vec<u8>>);

/// A load as the graph stores it: the rows stored under its main object,
/// in place order, with what reading them back needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredRows {
    /// The graph's load format: 1, each load written whole; 2, as direct
    /// needs ([`crate::loads`]).
    pub format: i64,
    /// The main object.
    pub main: Vec<u8>,
    /// The rows stored under the load.
    pub rows: Vec<Row>,
    /// The interpreter loaded beside the main object.
    pub interp: Option<Interp>,
}

/// An object's own needs, from the rows stored under its own load as a main
/// object (its own needs' rows only); `None`: it needs nothing.
pub fn own_needs(rows: Vec<Row>) -> Option<Vec<Need>> {
    (!rows.is_empty()).then(|| {
        loads::needs_of(
            rows.into_iter()
                .map(|(seq, e, file)| {
                    let kind = EdgeKind::from_name(&e.kind).unwrap_or(EdgeKind::Needed);
                    (seq, load_edge(kind, e), file)
                })
                .collect::<Vec<_>>(),
        )
    })
}

/// What [`load_edges`] asks of each object not stored explicitly: its own
/// needs (`None`: it needs nothing).
pub type OwnOf<'f, E> = &'f mut dyn FnMut(&[u8]) -> Result<Option<Rc<Vec<Need>>>, E>;

/// The edges of a stored load in the loader's order: the default loader of
/// a library first, then every `DT_NEEDED` edge (`needed`, with the `walks`
/// and `cpu-alternative` edges that came with it). A load of format 2 is
/// replayed ([`loads::replay`]) over the needs stored under it and every
/// other object's own needs (`own`).
pub fn load_edges<E>(s: StoredRows, own: OwnOf<'_, E>) -> Result<Vec<LoadRow>, E> {
    if s.format < 2 {
        // written whole, load by load
        return Ok(s.rows.into_iter().map(|(_, e, _)| e).collect());
    }
    let mut out: Vec<LoadRow> = Vec::new();
    let mut explicit_rows: HashMap<Vec<u8>, Vec<loads::StoredEdge>> = HashMap::new();
    for (seq, e, file) in s.rows {
        match EdgeKind::from_name(&e.kind) {
            Some(kind @ (EdgeKind::Needed | EdgeKind::Walks | EdgeKind::CpuAlternative)) => {
                explicit_rows.entry(e.src.clone()).or_default().push((
                    seq,
                    load_edge(kind, e),
                    file,
                ));
            }
            _ => out.push(e),
        }
    }
    let explicit: HashMap<Vec<u8>, Vec<loads::Placed>> = explicit_rows
        .into_iter()
        .map(|(src, rows)| {
            let seqs: Vec<u32> = {
                let mut v: Vec<u32> = rows.iter().map(|(s, _, _)| *s).collect();
                v.dedup();
                v
            };
            let needs = loads::needs_of(rows);
            (src, seqs.into_iter().zip(needs).collect())
        })
        .collect();
    let mut own = |x: &[u8]| -> Result<Option<Cow<'static, [Need]>>, E> {
        Ok(own(x)?.map(|o| Cow::Owned(o.to_vec())))
    };
    for (src, need) in loads::replay(&s.main, s.interp.as_ref(), &explicit, &mut own)? {
        for e in need.edges {
            out.push(LoadRow {
                kind: e.kind.as_str().to_string(),
                src: src.clone(),
                dst: e.dst,
                name: e.name,
                path: e.path,
                rule: e.rule,
                via: e.via,
            });
        }
    }
    Ok(out)
}

fn load_edge(kind: EdgeKind, e: LoadRow) -> LoadEdge {
    LoadEdge {
        dst: e.dst,
        kind,
        name: e.name,
        path: e.path,
        rule: e.rule,
        via: e.via,
    }
}

/// Whether an interpreter is musl's loader, by its file name.
pub fn is_musl_loader(interp: &[u8]) -> bool {
    bytes::file_name(interp).starts_with(b"ld-musl-")
}

/// The load-time needs of `path`, as the stored scan resolved them.
/// `path` is resolved through the symlinks of `index` (the stored entries);
/// `load_of` reads what is stored about the file it reaches (`None`: the
/// scan did not store it). `Ok(None)` when `path` reaches no entry.
pub fn deps<E>(
    index: &dyn FsView,
    path: &[u8],
    load_of: impl FnOnce(&[u8]) -> Result<Option<StoredLoad>, E>,
    own: OwnOf<'_, E>,
) -> Result<Option<DepsReport>, E> {
    let res = rootfs::resolve(index, path, b"/");
    let symlinks: Vec<(Vec<u8>, Vec<u8>)> = res
        .hops
        .iter()
        .map(|h| (h.link.clone(), h.target.clone()))
        .collect();
    let Ok((file, _)) = res.target else {
        return Ok(None);
    };
    let final_of = |p: &[u8]| -> Vec<u8> {
        rootfs::resolve(index, p, b"/")
            .target
            .map(|(f, _)| f)
            .unwrap_or_else(|_| p.to_vec())
    };
    let Some(stored) = load_of(&file)? else {
        return Ok(None);
    };
    let is_program = stored.interp.is_some();
    // a library: the loader the scan chose for it
    let interp = stored.interp.or(stored.default_loader);
    let mut report = DepsReport {
        path: path.to_vec(),
        file: file.clone(),
        loader: None,
        interpreter: interp.clone(),
        linkage: stored.linkage.unwrap_or_else(|| "not-elf".into()),
        objects: Vec::new(),
        edges: Vec::new(),
        findings: Vec::new(),
        fatal: None,
        symlinks,
    };
    let edges = match stored.rows {
        Some(r) => load_edges(r, own)?,
        None => Vec::new(),
    };
    let rows = edges
        .into_iter()
        .filter(|e| e.kind == "needed")
        .map(|e| (e.src, e.dst, e.name, e.path, e.rule, e.via));
    // canonical file → path as opened
    let mut opened: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    opened.insert(file.clone(), path.to_vec());
    let interp_file = interp.as_deref().map(final_of);
    let mut interp_listed = false;
    for (src, dst, name, as_opened, rule, via) in rows {
        let rule = rule.unwrap_or_default();
        let from = opened.get(&src).cloned().unwrap_or_else(|| src.clone());
        let name = name.unwrap_or_default();
        let to = match (&dst, &as_opened) {
            (Some(d), Some(p)) => {
                let f = final_of(d);
                let first = !opened.contains_key(&f);
                if rule != "already-loaded" && first {
                    opened.insert(f.clone(), p.clone());
                    report.objects.push(ReportObject {
                        name: name.clone(),
                        path: p.clone(),
                        file: f.clone(),
                        needed_by: from.clone(),
                        rule: rule.clone(),
                        via: via.clone(),
                    });
                } else if Some(&f) == interp_file.as_ref() && !interp_listed {
                    interp_listed = true;
                    let ip = interp.clone().unwrap_or_default();
                    opened.insert(f.clone(), ip.clone());
                    report.objects.push(ReportObject {
                        name: ip.clone(),
                        path: ip,
                        file: f.clone(),
                        needed_by: path.to_vec(),
                        rule: "interpreter".into(),
                        via: None,
                    });
                }
                Some(opened.get(&f).cloned().unwrap_or_else(|| p.clone()))
            }
            _ => None,
        };
        report.edges.push(ReportEdge {
            from,
            name,
            to,
            rule,
            via,
            matched: None,
        });
    }
    if let (Some(ip), Some(f)) = (&interp, &interp_file) {
        if !interp_listed && is_program && report.linkage == "dynamic" {
            report.objects.push(ReportObject {
                name: ip.clone(),
                path: ip.clone(),
                file: f.clone(),
                needed_by: path.to_vec(),
                rule: "interpreter".into(),
                via: None,
            });
        }
    }
    // an entry that is not an ELF file needs nothing: an empty closure
    // with linkage not-elf (status 0), as documented
    let musl = interp.as_deref().is_some_and(is_musl_loader);
    if musl {
        // musl lists its loader first
        if let Some(pos) = report.objects.iter().position(|o| o.rule == "interpreter") {
            let o = report.objects.remove(pos);
            report.objects.insert(0, o);
        }
    }
    if report.linkage == "dynamic" {
        report.loader = Some(if musl { Flavor::Musl } else { Flavor::Glibc });
    }
    for f in stored.findings {
        if let Some(code) = Code::from_name(&f.code) {
            // a load error aborts the load; a program whose interpreter
            // is missing cannot even be started
            let aborts = code == Code::LoadError
                || code == Code::ExecFormatError
                || (code == Code::MissingInterpreter && is_program && report.linkage == "dynamic");
            if aborts && report.fatal.is_none() {
                report.fatal = Some(f.message.clone());
                if code == Code::ExecFormatError && report.linkage == "not-elf" {
                    // too malformed to keep as ELF, but refused as one
                    report.linkage = "not-loadable".into();
                }
            }
            report.findings.push(Finding::new(code, f.path, f.message));
        }
    }
    Ok(Some(report))
}
