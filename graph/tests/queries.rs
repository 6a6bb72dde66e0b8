//! The graph's typed queries on a small graph stored in memory: entries,
//! edges, loads read back, the init system's edges, runs' names and the
//! closure cache. No root filesystem and no privileges are needed.

mod support;

use kaudit_analyzer::stored;
use kaudit_graph::{ClosureRow, DroppedRow, InitEdge, StoredDropped};
use support::*;

/// An edge as (kind, from, to).
type Hop<'a> = (&'a str, &'a [u8], Option<&'a [u8]>);

fn strs(v: &[Vec<u8>]) -> Vec<String> {
    v.iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}

#[test]
fn an_entry_reads_back_with_what_it_is() {
    let db = graph();
    let app = db.file_at(APP).unwrap().expect("the program is stored");
    assert_eq!(app.kind, "file");
    assert_eq!((app.size, app.mode, app.ino), (5000, 0o100755, 12));
    assert!(app.elf && app.program && !app.script);
    assert!(app.may_have_free_edges());
    let lib = db.file_at(LIBB).unwrap().unwrap();
    assert!(lib.elf && !lib.program && !lib.script);
    let script = db.file_at(SCRIPT).unwrap().unwrap();
    assert!(!script.elf && script.script);
    let link = db.file_at(LIBA).unwrap().unwrap();
    assert_eq!(link.kind, "symlink");
    assert_eq!(link.link_target.as_deref(), Some(&b"liba.so.1.0"[..]));
    let conf = db.file_at(CONF).unwrap().unwrap();
    assert!(!conf.may_have_free_edges());
    assert_eq!(db.file_at(b"/usr/bin/missing").unwrap(), None);
}

#[test]
fn every_path_in_path_order() {
    let db = graph();
    let paths = db.all_paths().unwrap();
    let want: Vec<Vec<u8>> = scan().entries.into_iter().map(|e| e.path).collect();
    assert_eq!(paths, want);
    assert_eq!(paths.len(), 24);
    assert_eq!(paths[0], b"/");
}

#[test]
fn free_edges_are_those_outside_any_load_but_init() {
    let db = graph();
    let app = db.file_at(APP).unwrap().unwrap();
    let free = db.free_edges(app.id).unwrap();
    let kinds: Vec<(&str, &[u8])> = free
        .iter()
        .map(|e| (e.kind.as_str(), e.dst.as_slice()))
        .collect();
    assert_eq!(kinds, vec![("interp", LD), ("walks", &b"/lib"[..])]);
    assert_eq!(free[0].src, APP);
    assert_eq!(free[0].name.as_deref(), Some(LD_NAME));
    assert_eq!(free[0].opened.as_deref(), Some(LD_NAME));
    // a unit's edges are init edges only: none is free
    let unit = db.file_at(UNIT).unwrap().unwrap();
    assert!(db.free_edges(unit.id).unwrap().is_empty());
    // a load's edges are not free
    let liba = db.file_at(LIBA_FILE).unwrap().unwrap();
    assert!(db.free_edges(liba.id).unwrap().is_empty());
}

#[test]
fn symlinks_that_lead_to_an_entry() {
    let db = graph();
    assert_eq!(
        strs(&db.symlinks_to(LIBA_FILE).unwrap()),
        ["/usr/lib/liba.so.1"]
    );
    assert_eq!(
        strs(&db.symlinks_to(UNIT).unwrap()),
        ["/etc/systemd/system/multi-user.target.wants/app.service"]
    );
    assert!(db.symlinks_to(APP).unwrap().is_empty());
}

#[test]
fn init_edges_are_filtered_by_rule() {
    let db = graph();
    assert_eq!(
        db.init_edges_to(APP, &["ExecStart", "command"]).unwrap(),
        vec![InitEdge {
            from: UNIT.to_vec(),
            rule: "ExecStart".into()
        }]
    );
    assert!(db.init_edges_to(APP, &["ExecStop"]).unwrap().is_empty());
    assert!(db
        .init_edges_to(b"/bin", &["ExecStart"])
        .unwrap()
        .is_empty());
    assert_eq!(db.init_edges_to(b"/bin", &["walks"]).unwrap().len(), 1);
    assert_eq!(
        db.init_edges_to(WANTS_LINK, &["wants-dir", "requires-dir"])
            .unwrap(),
        vec![InitEdge {
            from: TARGET.to_vec(),
            rule: "wants-dir".into()
        }]
    );
}

#[test]
fn a_load_reads_back_in_the_loaders_order() {
    let db = graph();
    let load = db.stored_load(APP).unwrap().expect("the program is stored");
    assert_eq!(load.linkage.as_deref(), Some("dynamic"));
    assert_eq!(load.interp.as_deref(), Some(LD_NAME));
    // the rows stored, read back by the analyzer over each object's own needs
    let read = |rows: Option<stored::StoredRows>| {
        stored::load_edges(rows.expect("rows stored"), &mut |x: &[u8]| {
            db.own_rows(x)
                .map(|r| stored::own_needs(r).map(std::rc::Rc::new))
        })
        .unwrap()
    };
    let load_edges = read(load.rows.clone());
    let edges: Vec<Hop<'_>> = load_edges
        .iter()
        .map(|e| (e.kind.as_str(), e.src.as_slice(), e.dst.as_deref()))
        .collect();
    // the program's own need, then liba's own need replayed in this load
    assert_eq!(
        edges,
        vec![
            ("needed", APP, Some(LIBA)),
            ("needed", LIBA_FILE, Some(LIBB)),
        ]
    );
    // the finding of its load; not the one about another file
    assert_eq!(load.findings.len(), 1);
    assert_eq!(load.findings[0].code, "load-error");
    // a library: no PT_INTERP, the loader chosen for it
    let lib = db.stored_load(LIBA_FILE).unwrap().unwrap();
    assert_eq!(lib.interp, None);
    assert_eq!(lib.default_loader.as_deref(), Some(LD_NAME));
    let lib_edges = read(lib.rows.clone());
    assert_eq!(lib_edges.len(), 2);
    assert_eq!(lib_edges[0].kind, "interp");
    assert_eq!(lib_edges[1].dst.as_deref(), Some(LIBB));
    // not an ELF file: no linkage, no edges
    let conf = db.stored_load(CONF).unwrap().unwrap();
    assert_eq!(conf.linkage, None);
    assert!(read(conf.rows.clone()).is_empty());
    assert_eq!(db.stored_load(b"/nowhere").unwrap(), None);
}

#[test]
fn deps_from_the_graph_follow_symlinks_and_list_each_object_once() {
    let db = graph();
    let index = db.index().unwrap();
    let mut own = |x: &[u8]| {
        db.own_rows(x)
            .map(|r| stored::own_needs(r).map(std::rc::Rc::new))
    };
    let r = stored::deps(&index, b"/bin/app", |f| db.stored_load(f), &mut own)
        .unwrap()
        .expect("/bin/app reaches the program");
    assert_eq!(r.file, APP);
    assert_eq!(r.symlinks, vec![(b"/bin".to_vec(), b"usr/bin".to_vec())]);
    assert_eq!(r.linkage, "dynamic");
    assert_eq!(r.interpreter.as_deref(), Some(LD_NAME));
    let objects: Vec<(&[u8], &[u8], &str)> = r
        .objects
        .iter()
        .map(|o| (o.path.as_slice(), o.file.as_slice(), o.rule.as_str()))
        .collect();
    assert_eq!(
        objects,
        vec![
            (LIBA, LIBA_FILE, "default-dirs"),
            (LIBB, LIBB, "default-dirs"),
            (LD_NAME, LD, "interpreter"),
        ]
    );
    // liba's need is said from the path liba was opened as
    assert_eq!(r.edges[1].from, LIBA);
    assert_eq!(r.fatal.as_deref(), Some("a load error in the load of app"));
    assert_eq!(
        r.loader,
        Some(kaudit_analyzer::loader::Flavor::Glibc),
        "not a musl loader"
    );
    // a path that reaches nothing
    assert!(
        stored::deps(&index, b"/bin/none", |f| db.stored_load(f), &mut own)
            .unwrap()
            .is_none()
    );
}

#[test]
fn names_a_run_did_not_find() {
    let mut db = graph();
    let one = run(
        &mut db,
        "one",
        &[],
        &[
            name(b"/etc/app.d/x.conf", "probed-absent", None, 5),
            name(b"/etc/app.d/x.conf", "asked", None, 6),
            name(b"/lib/x.conf", "failed", Some(b"/etc/app.d/x.conf"), 3),
        ],
    );
    let two = run(
        &mut db,
        "two",
        &[],
        &[name(b"/etc/app.d/x.conf", "probed-absent", None, 1)],
    );
    let probes = db.names_for(b"/etc/app.d/x.conf", &[one]).unwrap();
    let got: Vec<(i64, &str, &[u8], &str)> = probes
        .iter()
        .map(|p| {
            (
                p.run,
                p.evidence.as_str(),
                p.path.as_slice(),
                p.scenario.as_str(),
            )
        })
        .collect();
    // by time first asked; the successful name is not among them
    assert_eq!(
        got,
        vec![
            (one, "failed", &b"/lib/x.conf"[..], "one"),
            (one, "probed-absent", &b"/etc/app.d/x.conf"[..], "one"),
        ]
    );
    assert_eq!(db.names_for(b"/etc/app.d/x.conf", &[two]).unwrap().len(), 1);
    assert_eq!(
        db.names_for(b"/etc/app.d/x.conf", &[one, two])
            .unwrap()
            .len(),
        3
    );
    assert!(db.names_for(b"/etc/app.d/x.conf", &[]).unwrap().is_empty());
    assert_eq!(db.run_marks(one).unwrap().as_deref(), Some("/ (tmpfs)"));
    assert!(db.run_marks(99).is_err(), "no such run");
}

#[test]
fn closures_are_stored_under_their_key_and_the_oldest_dropped() {
    let db = graph();
    let stamp = db.scan_stamp().unwrap().expect("a scan is stored");
    assert_eq!((stamp.started_at, stamp.entries), (1_000, 24));
    assert!(!db.closure_stored("k1").unwrap());
    let reasons = vec!["run 1".to_string(), "needed".to_string()];
    let excluded = "excluded".to_string();
    let entries = [ClosureRow {
        path: APP,
        depth: 0,
        more: 3,
        reasons: &reasons,
    }];
    let dropped = [
        DroppedRow {
            path: LIBB,
            excluded_by: Some(7),
            reason: &excluded,
        },
        DroppedRow {
            path: LIBB,
            excluded_by: None,
            reason: &excluded,
        },
    ];
    db.store_closure("k1", &entries, &dropped, 2).unwrap();
    assert!(db.closure_stored("k1").unwrap());
    assert_eq!(
        db.closure_reasons::<Vec<String>>("k1", APP).unwrap(),
        Some((reasons.clone(), 3))
    );
    assert_eq!(db.closure_reasons::<Vec<String>>("k1", LIBB).unwrap(), None);
    assert_eq!(
        db.closure_dropped::<String>("k1", LIBB).unwrap(),
        vec![
            StoredDropped {
                excluded_by: Some(7),
                reason: excluded.clone()
            },
            StoredDropped {
                excluded_by: None,
                reason: excluded.clone()
            },
        ]
    );
    // a stored closure read back as another type is a corrupt graph
    assert!(db.closure_reasons::<Vec<u64>>("k1", APP).is_err());
    // storing again replaces; beyond two closures the oldest goes
    db.store_closure("k1", &entries, &[] as &[DroppedRow<'_, String>], 2)
        .unwrap();
    assert!(db.closure_dropped::<String>("k1", LIBB).unwrap().is_empty());
    db.store_closure("k2", &entries, &dropped, 2).unwrap();
    db.store_closure("k3", &entries, &dropped, 2).unwrap();
    assert!(!db.closure_stored("k1").unwrap());
    assert!(db.closure_stored("k2").unwrap() && db.closure_stored("k3").unwrap());
    assert!(db.closure_dropped::<String>("k1", LIBB).unwrap().is_empty());
}
