//! A closure as a report: the plain data every output format renders, built
//! either from a live [`Closure`](crate::loader::Closure) or from the graph;
//! and the one JSON shape of a path.

use crate::bytes;
use crate::findings::Finding;
use crate::loader::{Closure, Flavor};

/// One loaded object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportObject {
    /// Request string that loaded it.
    pub name: Vec<u8>,
    /// Path as opened.
    pub path: Vec<u8>,
    /// Canonical file.
    pub file: Vec<u8>,
    /// Path (as opened) of the object that first needed it.
    pub needed_by: Vec<u8>,
    /// Rule.
    pub rule: String,
    /// Via.
    pub via: Option<Vec<u8>>,
}

/// One `DT_NEEDED` edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportEdge {
    /// Path (as opened) of the requesting object.
    pub from: Vec<u8>,
    /// The `DT_NEEDED` string.
    pub name: Vec<u8>,
    /// Path (as opened) of the object it resolved to.
    pub to: Option<Vec<u8>>,
    /// Rule.
    pub rule: String,
    /// Via.
    pub via: Option<Vec<u8>>,
    /// How an already-loaded object matched.
    pub matched: Option<String>,
}

/// The load-time needs of one path.
#[derive(Debug, Clone)]
pub struct DepsReport {
    /// The path asked for.
    pub path: Vec<u8>,
    /// Its canonical file.
    pub file: Vec<u8>,
    /// Which loader.
    pub loader: Option<Flavor>,
    /// The interpreter.
    pub interpreter: Option<Vec<u8>>,
    /// Linkage (`dynamic`, `static`, `static-pie`, `not-elf`, …).
    pub linkage: String,
    /// Loaded objects in load order (the main object excluded).
    pub objects: Vec<ReportObject>,
    /// Every `DT_NEEDED` edge.
    pub edges: Vec<ReportEdge>,
    /// Findings.
    pub findings: Vec<Finding>,
    /// A fatal loader error.
    pub fatal: Option<String>,
    /// The symlinks walked from the path asked for to the file: `(link, target as stored)`.
    pub symlinks: Vec<(Vec<u8>, Vec<u8>)>,
}

impl DepsReport {
    /// Names not found, with the requesting object.
    pub fn unresolved(&self) -> impl Iterator<Item = &ReportEdge> {
        self.edges.iter().filter(|e| e.to.is_none())
    }

    /// Whether every need resolved.
    pub fn complete(&self) -> bool {
        self.fatal.is_none() && self.edges.iter().all(|e| e.to.is_some())
    }
}

/// A path as JSON: a string, or for non-UTF-8 bytes an object with the lossy
/// text and the exact bytes in hex.
pub fn json_path(b: &[u8]) -> serde_json::Value {
    match std::str::from_utf8(b) {
        Ok(s) => serde_json::Value::String(s.to_string()),
        Err(_) => serde_json::json!({
            "lossy": bytes::display(b),
            "hex": b.iter().map(|x| format!("{x:02x}")).collect::<String>(),
        }),
    }
}

impl From<&Closure> for DepsReport {
    fn from(c: &Closure) -> Self {
        let path_of = |i: usize| c.objects[i].path.clone();
        let objects = c
            .loaded()
            .map(|o| ReportObject {
                name: o.name.clone(),
                path: o.path.clone(),
                file: o.file.clone(),
                needed_by: o.needed_by.map(path_of).unwrap_or_default(),
                rule: o.rule.as_str().to_string(),
                via: o.via.clone(),
            })
            .collect();
        let edges = c
            .edges
            .iter()
            .map(|e| ReportEdge {
                from: path_of(e.from),
                name: e.name.clone(),
                to: e.to.map(path_of),
                rule: e.rule.as_str().to_string(),
                via: e.via.clone(),
                matched: e.matched.map(|m| {
                    match m {
                        crate::loader::Match::Name => "name",
                        crate::loader::Match::Soname => "soname",
                        crate::loader::Match::Inode => "inode",
                    }
                    .to_string()
                }),
            })
            .collect();
        let mut findings = c.findings.clone();
        findings.sort();
        findings.dedup();
        DepsReport {
            path: c.path.clone(),
            file: c
                .objects
                .first()
                .map(|o| o.file.clone())
                .unwrap_or_default(),
            loader: c.flavor,
            interpreter: c.interpreter.clone(),
            linkage: if c.objects.is_empty() {
                "not-elf".into()
            } else {
                c.linkage.as_str().into()
            },
            objects,
            edges,
            findings,
            fatal: c.fatal.clone(),
            symlinks: c
                .symlinks
                .iter()
                .map(|h| (h.link.clone(), h.target.clone()))
                .collect(),
        }
    }
}
