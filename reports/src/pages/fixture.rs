//! The site the pages' tests are written from: a small profile, its
//! closure, packages, writable directories and needs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use kaudit_graph::RunRow;

use super::{Need, PackageFiles, PkgFile, Site};
use crate::closure::{Closure, Dropped, Entry, Reason};
use crate::graph::FileRow;
use crate::profile::Profile;
use crate::writable::Writable;

pub(super) fn accessed(kind: &str) -> Reason {
    Reason::Accessed {
        run: 1,
        scenario: "boot".into(),
        step: None,
        kind: kind.into(),
        pid: 10,
        comm: "init".into(),
        exe: None,
        parents: String::new(),
    }
}

pub(super) fn edge(kind: &str, from: &str, name: &str) -> Reason {
    Reason::Edge {
        kind: kind.into(),
        from: from.as_bytes().to_vec(),
        name: Some(name.as_bytes().to_vec()),
        opened: None,
        rule: None,
        via: None,
        load: None,
    }
}

pub(super) fn parent_of(child: &str) -> Reason {
    Reason::Parent {
        child: child.as_bytes().to_vec(),
    }
}

pub(super) fn pkg(name: &str, version: Option<&str>, files: &[(&str, &str, u64)]) -> PackageFiles {
    PackageFiles {
        name: name.into(),
        version: version.map(str::to_string),
        files: files
            .iter()
            .map(|(p, k, s)| PkgFile {
                path: p.as_bytes().to_vec(),
                // "dir-symlink": a symlink to a directory
                kind: k.replace("dir-symlink", "symlink"),
                size: *s,
                dir_link: *k == "dir-symlink",
            })
            .collect(),
    }
}

/// Everything a [`Site`] borrows.
pub(super) struct Fixture {
    pub(super) profile: Profile,
    pub(super) closure: Closure,
    pub(super) writable: Vec<Writable>,
    pub(super) packages: Vec<PackageFiles>,
    pub(super) needs: Vec<Need>,
}

impl Fixture {
    pub(super) fn site(&self) -> Site<'_> {
        Site {
            profile: &self.profile,
            root: b"/srv/node",
            root_entries: 40,
            root_bytes: 100_000,
            closure: &self.closure,
            writable: &self.writable,
            packages: &self.packages,
            needs: &self.needs,
            proofs: None,
        }
    }
}

pub(super) fn fixture() -> Fixture {
    let profile = Profile::parse(
        Path::new("p.toml"),
        "description = \"A test node\"\nscenarios = [\"boot\"]\nbudget = \"1 MiB\"\n\n[[exclude]]\nglob = \"/usr/share/doc/**\"\nreason = \"documentation\"\n",
    )
    .unwrap();
    let include = Reason::Include {
        glob: "/etc/a|b".into(),
        reason: "read at boot".into(),
        line: 9,
    };
    let table: Vec<(&str, &str, u64, Vec<Reason>)> = vec![
        ("/", "dir", 0, vec![parent_of("/etc")]),
        ("/bin", "symlink", 7, vec![accessed("open")]),
        ("/etc", "dir", 0, vec![parent_of("/etc/a|b")]),
        ("/etc/a|b", "file", 10, vec![include]),
        ("/lib64", "dir", 0, vec![parent_of("/lib64/ld.so")]),
        (
            "/lib64/ld.so",
            "file",
            4000,
            vec![edge("interp", "/usr/bin/prog", "/lib64/ld.so")],
        ),
        ("/usr", "dir", 0, vec![parent_of("/usr/bin")]),
        ("/usr/bin", "dir", 0, vec![parent_of("/usr/bin/prog")]),
        ("/usr/bin/prog", "file", 1000, vec![accessed("exec")]),
        ("/usr/lib", "dir", 0, vec![parent_of("/usr/lib/libc.so.6")]),
        (
            "/usr/lib/a<b&c",
            "file",
            5,
            vec![edge("needed", "/usr/bin/prog", "a<b&c")],
        ),
        (
            "/usr/lib/libc.so.6",
            "file",
            3000,
            vec![
                edge("needed", "/usr/bin/prog", "libc.so.6"),
                edge("needed", "/usr/lib/libz.so.1.3", "libc.so.6"),
            ],
        ),
        (
            "/usr/lib/libz.so.1",
            "symlink",
            11,
            vec![edge("needed", "/usr/bin/prog", "libz.so.1")],
        ),
        (
            "/usr/lib/libz.so.1.3",
            "file",
            2000,
            vec![edge("symlink", "/usr/lib/libz.so.1", "libz.so.1.3")],
        ),
        ("/var", "dir", 0, vec![parent_of("/var/lib")]),
        ("/var/lib", "dir", 0, vec![parent_of("/var/lib/x")]),
        (
            "/var/lib/x",
            "dir",
            0,
            vec![Reason::WrittenIn {
                run: 1,
                scenario: "boot".into(),
                step: None,
                kind: "create".into(),
                entry: b"/var/lib/x/y".to_vec(),
                pid: 10,
                comm: "prog".into(),
            }],
        ),
    ];
    let mut closure = Closure::default();
    for (i, (path, kind, size, reasons)) in table.into_iter().enumerate() {
        let depth = u32::from(!reasons.iter().all(|r| r.from().is_none()));
        closure.entries.insert(
            path.as_bytes().to_vec(),
            Entry {
                file: Rc::new(FileRow {
                    id: i as i64 + 1,
                    path: path.as_bytes().to_vec(),
                    kind: kind.into(),
                    size,
                    mode: 0o644,
                    dev: 1,
                    ino: i as u64 + 1,
                    link_target: None,
                    elf: path == "/usr/bin/prog",
                    script: false,
                    program: path == "/usr/bin/prog",
                }),
                reasons,
                more: 0,
                depth,
                run: path == "/usr/bin/prog",
                loaded: false,
            },
        );
    }
    closure.dropped = vec![
        Dropped {
            path: b"/usr/share/doc/prog/README".to_vec(),
            reason: accessed("open"),
            excluded_by: Some(5),
        },
        Dropped {
            path: b"/proc/self/status".to_vec(),
            reason: accessed("open"),
            excluded_by: None,
        },
    ];
    closure.runs = vec![RunRow {
        id: 1,
        name: "boot".into(),
        kind: "scenario".into(),
        root: b"/srv/node".to_vec(),
        status: "passed".into(),
        complete: true,
        ..RunRow::default()
    }];
    let mine: HashSet<Vec<u8>> = ["/", "/usr", "/usr/bin", "/usr/bin/prog"]
        .iter()
        .map(|p| p.as_bytes().to_vec())
        .collect();
    closure.per_run = HashMap::from([(1, mine)]);
    let writable = vec![Writable {
        path: "/var/lib/x".into(),
        class: "persistent",
        why: "files written there outlive the run".into(),
        in_root: true,
        base: "/var/lib/x".into(),
        writes: BTreeMap::from([("create".to_string(), 2)]),
        example: "/var/lib/x/y create by prog".into(),
    }];
    let packages = vec![
        pkg(
            "prog",
            Some("1.0"),
            &[
                ("/usr/bin", "dir", 0),
                ("/usr/bin/prog", "file", 1000),
                ("/usr/share/doc/prog/README", "file", 500),
            ],
        ),
        pkg(
            "libz/ng",
            None,
            &[
                ("/usr/lib/libz.so.1", "symlink", 11),
                ("/usr/lib/libz.so.1.3", "file", 2000),
                ("/usr/lib/libz.a", "file", 7000),
            ],
        ),
        pkg("unused", Some("2"), &[("/opt/unused", "file", 100)]),
        // lists /bin, a symlink to /usr/bin on a usrmerged root
        pkg(
            "sharer",
            Some("3"),
            &[("/bin", "dir-symlink", 7), ("/opt/sharer", "file", 9)],
        ),
    ];
    let need = |from: &str, to: &str, kind: &str| Need {
        from: from.as_bytes().to_vec(),
        to: to.as_bytes().to_vec(),
        kind: kind.into(),
    };
    let needs = vec![
        need("/usr/bin/prog", "/lib64/ld.so", "interp"),
        need("/usr/bin/prog", "/usr/lib/a<b&c", "needed"),
        need("/usr/bin/prog", "/usr/lib/libc.so.6", "needed"),
        need("/usr/bin/prog", "/usr/lib/libz.so.1.3", "needed"),
        need("/usr/lib/libz.so.1.3", "/usr/lib/libc.so.6", "needed"),
    ];
    Fixture {
        profile,
        closure,
        writable,
        packages,
        needs,
    }
}

pub(super) fn read(dir: &Path, rel: &str) -> String {
    fs::read_to_string(dir.join(rel)).unwrap()
}

/// Every file below `dir`, relative, with its bytes.
pub(super) fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_path_buf();
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    out
}
