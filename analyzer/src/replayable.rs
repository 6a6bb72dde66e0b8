//! Which loads are proved, for a whole root at once, to be the replay of
//! their objects' own needs, so that a scan stores them without resolving
//! them in full.
//!
//! A load of `M` is stored as `M`'s own needs plus the needs of every other
//! object whose needs differ in that load ([`crate::loads`]). An object's
//! needs can differ only when something in the load changes what a name
//! gives: a `DT_RPATH` inherited down the chain of first loaders (or any
//! search path musl inherits), `LD_LIBRARY_PATH`, a dynamic string token
//! whose value depends on the path an object was opened as, a `via` that
//! names that path, another loader or class, or a name that an object loaded
//! earlier answers (by the path it was opened as, a request or its
//! `DT_SONAME`, or musl's name it was found under) while a search would find
//! another file. [`replayable`] rules these out from the facts of each
//! object's first step ([`Facts`]), in time proportional to the direct needs:
//!
//! - an object is *plain as a dependency* when its first step reads the
//!   same in any other load (the scan decides: no search path, token or
//!   `via` of its own that another load would read differently, no finding,
//!   every need found), and *plain as the main object* when its first step
//!   changes nothing of what the other objects of its load find (no
//!   inherited search path, no token in a need);
//! - every name anything may be loaded under or answer to (a main object's
//!   path, a `DT_SONAME`, a request, a path opened, the interpreter's names)
//!   names one file among the objects of one loader, and no two files share
//!   a device and inode;
//! - an object reached by a need is loaded by the same loader with the same
//!   expectations, or needs nothing.
//!
//! A main object plain as the main object, whose needs meet the last two
//! rules, and from which every other object reachable through own needs is
//! plain as a dependency and meets them too, has a load in which every other
//! object's needs are its own needs as [`crate::loads::Load::adapt`] reads
//! them; its load is stored as its first step. Every other load is resolved
//! in full.

use std::collections::{HashMap, HashSet, VecDeque};

/// A name as one loader reads it: the loader's key and the name.
type LoaderName<'a> = (&'a [u8], &'a [u8]);

/// One need of an object's first step that reached a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reached {
    /// The name asked for.
    pub name: Vec<u8>,
    /// The path the file was opened as (or was loaded as, when reused).
    pub path: Vec<u8>,
    /// The final file.
    pub file: Vec<u8>,
    /// The file's `DT_SONAME`.
    pub soname: Option<Vec<u8>>,
    /// Whether the file has `DT_NEEDED` entries.
    pub has_needs: bool,
    /// Device and inode of the file (`(0, 0)`: unknown).
    pub dev_ino: (u64, u64),
}

/// What an object's first step (its own needs, resolved with it as the main
/// object) says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The object's final file.
    pub file: Vec<u8>,
    /// The loader that loads it as the main object, with what that loader
    /// expects of objects: equal keys, equal searches.
    pub loader: Vec<u8>,
    /// Its first step reads the same in any load that reaches it.
    pub plain_dependency: bool,
    /// Its first step, as the main object, changes nothing of what the
    /// other objects of its load find.
    pub plain_main: bool,
    /// The names it answers to in any load: the path it is scanned as, its
    /// `DT_SONAME`.
    pub names: Vec<Vec<u8>>,
    /// The interpreter loaded beside it: each name it answers to, with its file.
    pub interp: Vec<(Vec<u8>, Vec<u8>)>,
    /// Device and inode of the file (`(0, 0)`: unknown).
    pub dev_ino: (u64, u64),
    /// Its needs that reached a file.
    pub needs: Vec<Reached>,
}

/// The final files of the main objects (of `facts`) whose loads are proved
/// to be the replay of their objects' own needs.
pub fn replayable(facts: &[Facts]) -> HashSet<Vec<u8>> {
    let mains: HashMap<&[u8], &Facts> = facts.iter().map(|f| (f.file.as_slice(), f)).collect();
    // each name, for one loader (a load has one), → the one file it names,
    // each device and inode → the one file it is (None: more than one)
    let mut names: HashMap<LoaderName<'_>, Option<&[u8]>> = HashMap::new();
    let mut inodes: HashMap<(u64, u64), Option<&[u8]>> = HashMap::new();
    for f in facts {
        let l = f.loader.as_slice();
        for n in &f.names {
            one(&mut names, (l, n.as_slice()), &f.file);
        }
        for (n, file) in &f.interp {
            one(&mut names, (l, n.as_slice()), file);
        }
        if f.dev_ino != (0, 0) {
            one(&mut inodes, f.dev_ino, &f.file);
        }
        for r in &f.needs {
            one(&mut names, (l, r.name.as_slice()), &r.file);
            one(&mut names, (l, r.path.as_slice()), &r.file);
            if let Some(s) = &r.soname {
                one(&mut names, (l, s.as_slice()), &r.file);
            }
            if r.dev_ino != (0, 0) {
                one(&mut inodes, r.dev_ino, &r.file);
            }
        }
    }
    // the files whose needs may differ in a load that reaches them (`bad`),
    // and the main objects whose own loads are in doubt (`unproved`)
    let mut bad: HashSet<&[u8]> = HashSet::new();
    let mut unproved: HashSet<&[u8]> = HashSet::new();
    for f in facts {
        if !f.plain_dependency {
            bad.insert(&f.file);
        }
        if !f.plain_main {
            unproved.insert(&f.file);
        }
        if inodes.get(&f.dev_ino).is_some_and(Option::is_none) {
            bad.insert(&f.file);
            unproved.insert(&f.file);
        }
        for r in &f.needs {
            let shared = inodes.get(&r.dev_ino).is_some_and(Option::is_none);
            let ambiguous = names
                .get(&(f.loader.as_slice(), r.name.as_slice()))
                .is_some_and(Option::is_none);
            let foreign = match mains.get(r.file.as_slice()) {
                Some(m) => m.loader != f.loader,
                None => r.has_needs,
            };
            if shared || ambiguous || foreign {
                bad.insert(&f.file);
                unproved.insert(&f.file);
            }
        }
    }
    // every main object that reaches one of them through own needs (one
    // that reaches only itself again does not walk its needs twice; it is
    // left out all the same, which costs time, never exactness)
    let mut loaders: HashMap<&[u8], Vec<&[u8]>> = HashMap::new();
    for f in facts {
        for r in &f.needs {
            loaders.entry(&r.file).or_default().push(&f.file);
        }
    }
    let mut queue: VecDeque<&[u8]> = bad.iter().copied().collect();
    let mut reaching: HashSet<&[u8]> = HashSet::new();
    while let Some(x) = queue.pop_front() {
        for &l in loaders.get(x).map(Vec::as_slice).unwrap_or_default() {
            if reaching.insert(l) {
                queue.push_back(l);
            }
        }
    }
    facts
        .iter()
        .map(|f| f.file.as_slice())
        .filter(|f| !unproved.contains(f) && !reaching.contains(f))
        .map(<[u8]>::to_vec)
        .collect()
}

/// Record that `key` names `file`: `None` once it names two.
fn one<'a, K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, Option<&'a [u8]>>,
    key: K,
    file: &'a [u8],
) {
    map.entry(key)
        .and_modify(|v| {
            if *v != Some(file) {
                *v = None;
            }
        })
        .or_insert(Some(file));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lib(file: &str, needs: &[&str]) -> Facts {
        Facts {
            file: file.into(),
            loader: b"glibc".to_vec(),
            plain_dependency: true,
            plain_main: true,
            names: vec![file.into(), base(file).into()],
            interp: vec![(b"/lib64/ld.so".to_vec(), b"/lib/ld.so".to_vec())],
            dev_ino: (1, ino(file)),
            needs: needs
                .iter()
                .map(|n| Reached {
                    name: base(n).into(),
                    path: n.as_bytes().to_vec(),
                    file: n.as_bytes().to_vec(),
                    soname: Some(base(n).into()),
                    has_needs: true,
                    dev_ino: (1, ino(n)),
                })
                .collect(),
        }
    }

    fn base(p: &str) -> &[u8] {
        p.rsplit('/').next().unwrap().as_bytes()
    }

    fn ino(p: &str) -> u64 {
        p.bytes().map(u64::from).fold(7, |h, b| h * 31 + b)
    }

    fn proved(facts: &[Facts]) -> Vec<String> {
        let mut v: Vec<String> = replayable(facts)
            .into_iter()
            .map(|f| String::from_utf8(f).unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn plain_objects_with_one_file_per_name_are_proved() {
        let facts = [
            lib("/l/a", &["/l/b", "/l/c"]),
            lib("/l/b", &["/l/c"]),
            lib("/l/c", &[]),
        ];
        assert_eq!(proved(&facts), ["/l/a", "/l/b", "/l/c"]);
    }

    #[test]
    fn an_object_that_is_not_plain_leaves_out_every_load_reaching_it() {
        let mut facts = vec![
            lib("/l/a", &["/l/b"]),
            lib("/l/b", &["/l/c"]),
            lib("/l/c", &[]),
            lib("/l/d", &["/l/c"]),
        ];
        // b's DT_RUNPATH gives a need whose via is the path b is opened as
        facts[1].plain_dependency = false;
        assert_eq!(proved(&facts), ["/l/b", "/l/c", "/l/d"]);
        // b's DT_RPATH is inherited by what it loads
        facts[1].plain_main = false;
        assert_eq!(proved(&facts), ["/l/c", "/l/d"]);
    }

    #[test]
    fn a_soname_of_two_files_leaves_out_the_loads_that_ask_for_it() {
        let mut facts = vec![
            lib("/l/x", &["/l/y"]),
            lib("/l/y", &[]),
            lib("/opt/y", &["/l/x"]),
            lib("/l/top", &["/l/x"]),
        ];
        // /opt/y answers to y's SONAME too
        facts[2].names.push(b"y".to_vec());
        assert_eq!(proved(&facts), ["/l/y"]);
    }

    #[test]
    fn a_soname_of_another_loader_counts_for_its_loads_only() {
        let mut facts = vec![lib("/l/x", &["/l/y"]), lib("/l/y", &[]), lib("/l32/y", &[])];
        facts[2].loader = b"glibc32".to_vec();
        facts[2].names.push(b"y".to_vec());
        assert_eq!(proved(&facts), ["/l/x", "/l/y", "/l32/y"]);
    }

    #[test]
    fn another_loader_or_a_shared_inode_leaves_the_loads_out() {
        let mut facts = vec![lib("/l/a", &["/l/b"]), lib("/l/b", &[]), lib("/l/c", &[])];
        facts[1].loader = b"musl".to_vec();
        assert_eq!(proved(&facts), ["/l/b", "/l/c"]);
        let mut facts = vec![lib("/l/a", &["/l/b"]), lib("/l/b", &[]), lib("/l/c", &[])];
        facts[2].dev_ino = facts[1].dev_ino;
        assert_eq!(proved(&facts), Vec::<String>::new());
    }

    #[test]
    fn a_file_reached_that_is_no_main_object_counts_only_when_it_needs() {
        let mut facts = vec![lib("/l/a", &["/l/s"])];
        facts[0].needs[0].has_needs = false;
        assert_eq!(proved(&facts), ["/l/a"]);
        facts[0].needs[0].has_needs = true;
        assert_eq!(proved(&facts), Vec::<String>::new());
    }
}
