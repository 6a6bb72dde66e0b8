//! A load stored as direct needs, and read back in the loader's order.
//!
//! Every object that is the main object of a load has its *own* needs: the
//! edges its `DT_NEEDED` entries give when it is loaded first. A load of
//! another main object `M` that reaches it mostly repeats them: the same
//! names, found the same way, or the same objects found already loaded. So a
//! load is stored as `M`'s own needs plus, for each object whose needs in
//! `M`'s load are *not* its own needs as [`Load::adapt`] reads them in `M`'s
//! context (another object's `DT_RPATH` took part, a name matched another
//! loaded object, …), those needs in full. [`Load`] replays the loader's
//! breadth-first walk over that: each object's needs once, in the order the
//! objects were first reached, so the stored edges grow with the direct
//! needs that exist, not with every closure multiplied out. The scan stores
//! a load that [`crate::replayable`] proves to be that replay as its main
//! object's own needs, without resolving it; it resolves every other load in
//! full and checks it against the replay when it stores it (a debug build
//! resolves and checks every load), so reading a load back gives exactly
//! what the loader resolved.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};

use crate::scan::EdgeKind;

/// The rule of a need answered by an object loaded earlier.
pub const ALREADY_LOADED: &str = "already-loaded";

/// One edge of a need, without its load or order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LoadEdge {
    /// The entry reached (`None`: not found).
    pub dst: Option<Vec<u8>>,
    /// `needed`, `walks` or `cpu-alternative`.
    pub kind: EdgeKind,
    /// The name asked for.
    pub name: Option<Vec<u8>>,
    /// The path as opened.
    pub path: Option<Vec<u8>>,
    /// The rule.
    pub rule: Option<String>,
    /// The object whose search path was used, or that was reused.
    pub via: Option<Vec<u8>>,
}

/// What one `DT_NEEDED` entry of one object gave in one load: its edges (the
/// directory symlinks walked, the CPU alternatives and the `needed` edge,
/// sorted as stored) and the file its `needed` edge reached after every
/// symlink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// The edges, sorted.
    pub edges: Vec<LoadEdge>,
    /// The final file reached, when found.
    pub file: Option<Vec<u8>>,
}

impl Need {
    /// The `needed` edge.
    pub fn needed(&self) -> Option<&LoadEdge> {
        self.edges.iter().find(|e| e.kind == EdgeKind::Needed)
    }
}

/// The loader's walk over a load being replayed: what is loaded (each file
/// with the entry it was named as and the path it was opened as) and which
/// objects' needs are yet to be walked.
#[derive(Debug)]
pub struct Load {
    loaded: HashMap<Vec<u8>, (Vec<u8>, Vec<u8>)>,
    queued: HashSet<Vec<u8>>,
    queue: VecDeque<Vec<u8>>,
}

/// The program interpreter of a load, when the root has it: its final file,
/// the entry it names and the path it is loaded as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interp {
    /// Final file.
    pub file: Vec<u8>,
    /// The entry `path` names.
    pub named: Vec<u8>,
    /// `PT_INTERP` (or the default loader's path).
    pub path: Vec<u8>,
}

impl Load {
    /// The load of `main` (a file), with its interpreter loaded beside it.
    /// musl's loader never has needs of its own; glibc's are followed where
    /// it is first needed.
    pub fn new(main: &[u8], interp: Option<&Interp>) -> Load {
        let mut l = Load {
            loaded: HashMap::new(),
            queued: HashSet::new(),
            queue: VecDeque::new(),
        };
        l.loaded
            .insert(main.to_vec(), (main.to_vec(), main.to_vec()));
        l.queued.insert(main.to_vec());
        l.queue.push_back(main.to_vec());
        if let Some(i) = interp {
            l.loaded
                .entry(i.file.clone())
                .or_insert_with(|| (i.named.clone(), i.path.clone()));
            if crate::bytes::file_name(&i.path).starts_with(b"ld-musl-") {
                l.queued.insert(i.file.clone());
            }
        }
        l
    }

    /// The next object whose needs the loader processes.
    pub fn next_object(&mut self) -> Option<Vec<u8>> {
        self.queue.pop_front()
    }

    /// An object's own needs as they read in this load: a need whose file
    /// is loaded already (earlier in this load, or earlier among these
    /// needs) is answered by it. `None` when the own needs cannot be read
    /// here (one reused an object this load does not have).
    pub fn adapt(&self, own: &[Need]) -> Option<Vec<Need>> {
        let mut more: HashMap<&[u8], (&[u8], &[u8])> = HashMap::new();
        let mut out = Vec::with_capacity(own.len());
        for n in own {
            let (Some(file), Some(e)) = (&n.file, n.needed()) else {
                out.push(n.clone());
                continue;
            };
            let known = self
                .loaded
                .get(file)
                .map(|(a, b)| (a.as_slice(), b.as_slice()))
                .or_else(|| more.get(file.as_slice()).copied());
            let fixed = e.rule.as_deref().is_some_and(|r| r.starts_with("musl-"));
            match known {
                Some((named, path)) if !fixed => out.push(Need {
                    edges: vec![LoadEdge {
                        dst: Some(named.to_vec()),
                        kind: EdgeKind::Needed,
                        name: e.name.clone(),
                        path: Some(path.to_vec()),
                        rule: Some(ALREADY_LOADED.to_string()),
                        via: Some(path.to_vec()),
                    }],
                    file: Some(file.clone()),
                }),
                _ if e.rule.as_deref() == Some(ALREADY_LOADED) => return None,
                _ => {
                    if let (Some(d), Some(p)) = (&e.dst, &e.path) {
                        more.entry(file.as_slice()).or_insert((d, p));
                    }
                    out.push(n.clone());
                }
            }
        }
        Some(out)
    }

    /// Record that an object's needs were `needs`: what they load is
    /// loaded, and each object reached for the first time is queued.
    pub fn take(&mut self, needs: &[Need]) {
        for n in needs {
            let (Some(file), Some(e)) = (&n.file, n.needed()) else {
                continue;
            };
            if !self.loaded.contains_key(file) {
                if let (Some(d), Some(p)) = (&e.dst, &e.path) {
                    self.loaded.insert(file.clone(), (d.clone(), p.clone()));
                }
            }
            if self.queued.insert(file.clone()) {
                self.queue.push_back(file.clone());
            }
        }
    }
}

/// A need with its place (`seq`) in a load.
pub type Placed = (u32, Need);

/// An object's own needs, looked up by its file (`None`: it needs nothing).
pub type OwnNeeds<'f, 'a, E> = &'f mut dyn FnMut(&[u8]) -> Result<Option<Cow<'a, [Need]>>, E>;

/// A need's edge as read back: its place, the edge, the final file.
pub type StoredEdge = (u32, LoadEdge, Option<Vec<u8>>);

/// Replay the load of `main`: each object's needs in the order the loader
/// processes them, with the object that asked. An object in `explicit` has
/// the needs stored there (with their place in the load); any other object
/// has its own needs (`own`, `None`: it needs nothing) as they read in this
/// load ([`Load::adapt`]). Explicit needs the walk does not reach come last,
/// and a load whose needs are all explicit is in the stored order.
pub fn replay<'a, E>(
    main: &[u8],
    interp: Option<&Interp>,
    explicit: &HashMap<Vec<u8>, Vec<Placed>>,
    own: OwnNeeds<'_, 'a, E>,
) -> Result<Vec<(Vec<u8>, Need)>, E> {
    let mut load = Load::new(main, interp);
    let mut out: Vec<(Option<u32>, Vec<u8>, Need)> = Vec::new();
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    while let Some(x) = load.next_object() {
        let needs: Vec<(Option<u32>, Need)> = match explicit.get(&x) {
            Some(g) => g.iter().map(|(s, n)| (Some(*s), n.clone())).collect(),
            None => match own(&x)? {
                Some(o) => load
                    .adapt(&o)
                    .unwrap_or_else(|| o.to_vec())
                    .into_iter()
                    .map(|n| (None, n))
                    .collect(),
                None => Vec::new(),
            },
        };
        let plain: Vec<Need> = needs.iter().map(|(_, n)| n.clone()).collect();
        load.take(&plain);
        out.extend(needs.into_iter().map(|(s, n)| (s, x.clone(), n)));
        seen.insert(x);
    }
    let mut rest: Vec<(&Vec<u8>, &Vec<Placed>)> = explicit
        .iter()
        .filter(|(k, _)| !seen.contains(*k))
        .collect();
    rest.sort_by_key(|(_, g)| g.first().map(|(s, _)| *s));
    for (x, g) in rest {
        out.extend(g.iter().map(|(s, n)| (Some(*s), x.clone(), n.clone())));
    }
    if out.iter().all(|(s, _, _)| s.is_some()) {
        out.sort_by_key(|(s, _, _)| *s);
    }
    Ok(out.into_iter().map(|(_, x, n)| (x, n)).collect())
}

/// Group a load's edges of one object, in order, into needs: consecutive
/// edges with the same `seq` are one need.
pub fn needs_of<I>(edges: I) -> Vec<Need>
where
    I: IntoIterator<Item = StoredEdge>,
{
    let mut out: Vec<Need> = Vec::new();
    let mut last: Option<u32> = None;
    for (seq, e, file) in edges {
        if last != Some(seq) || out.is_empty() {
            out.push(Need {
                edges: Vec::new(),
                file: None,
            });
            last = Some(seq);
        }
        let n = out.last_mut().expect("pushed above");
        if e.kind == EdgeKind::Needed {
            n.file = file;
        }
        n.edges.push(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(name: &str, file: &str, rule: &str) -> Need {
        Need {
            edges: vec![LoadEdge {
                dst: Some(file.as_bytes().to_vec()),
                kind: EdgeKind::Needed,
                name: Some(name.as_bytes().to_vec()),
                path: Some(file.as_bytes().to_vec()),
                rule: Some(rule.into()),
                via: None,
            }],
            file: Some(file.as_bytes().to_vec()),
        }
    }

    #[test]
    fn a_need_loaded_earlier_is_already_loaded_and_objects_are_queued_once() {
        let mut l = Load::new(b"/m", None);
        assert_eq!(l.next_object().as_deref(), Some(&b"/m"[..]));
        let own_m = vec![need("a", "/a", "system-dir"), need("b", "/b", "system-dir")];
        let got = l.adapt(&own_m).unwrap();
        assert_eq!(got, own_m);
        l.take(&got);
        assert_eq!(l.next_object().as_deref(), Some(&b"/a"[..]));
        // a's own needs: b (found by search when a is loaded alone)
        let got = l.adapt(&[need("b", "/b", "system-dir")]).unwrap();
        assert_eq!(
            got[0].needed().unwrap().rule.as_deref(),
            Some(ALREADY_LOADED)
        );
        assert_eq!(got[0].needed().unwrap().via.as_deref(), Some(&b"/b"[..]));
        l.take(&got);
        assert_eq!(l.next_object().as_deref(), Some(&b"/b"[..]));
        assert_eq!(l.next_object(), None);
    }

    #[test]
    fn an_own_reuse_this_load_lacks_cannot_be_read() {
        let l = Load::new(b"/m", None);
        assert_eq!(l.adapt(&[need("x", "/x", ALREADY_LOADED)]), None);
    }
}
