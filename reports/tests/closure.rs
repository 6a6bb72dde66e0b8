//! The closure, `why` and the closure cache on a small graph stored in
//! memory: what a run keeps, through which chain, and the same answers read
//! back from a stored closure. No root filesystem and no privileges are
//! needed.

#[path = "../../graph/tests/support/mod.rs"]
mod support;

use std::path::Path;

use kaudit_graph::{Db, RunRow};
use kaudit_reports::cache::Cache;
use kaudit_reports::closure::{self, Closure, Reason};
use kaudit_reports::graph::Graph;
use kaudit_reports::profile::Profile;
use kaudit_reports::why;
use support::*;

/// A reason's edge as (kind, from, load).
type Hop<'a> = (&'a str, &'a [u8], Option<&'a [u8]>);

fn paths<'a>(it: impl Iterator<Item = &'a Vec<u8>>) -> Vec<String> {
    it.map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}

/// The graph with one run that executed the program, and what it selects.
fn executed() -> (Db, Vec<RunRow>) {
    let mut db = graph();
    run(&mut db, "exec", &[access(APP, "exec", "app")], &[]);
    let runs = db.runs().unwrap();
    (db, runs)
}

fn compute(db: &Db, runs: &[RunRow], profile: Option<&Profile>) -> Closure {
    let mut g = Graph::new(db);
    closure::compute(&mut g, runs, profile).unwrap()
}

const LOADED: &[&str] = &[
    "/",
    "/lib",
    "/usr",
    "/usr/bin",
    "/usr/bin/app",
    "/usr/lib",
    "/usr/lib/ld-linux-x86-64.so.2",
    "/usr/lib/liba.so.1",
    "/usr/lib/liba.so.1.0",
    "/usr/lib/libb.so.2",
];

#[test]
fn an_executed_program_keeps_its_interpreter_its_load_and_their_directories() {
    let (db, runs) = executed();
    let c = compute(&db, &runs, None);
    assert_eq!(paths(c.entries.keys()), LOADED);
    assert!(c.dropped.is_empty());
    let app = &c.entries[APP];
    assert_eq!(app.depth, 0);
    assert!(matches!(
        &app.reasons[0],
        Reason::Accessed { kind, comm, .. } if kind == "exec" && comm == "app"
    ));
    // libb is needed in the program's load before liba.so.1.0 is kept: the
    // hop comes from the program; liba.so.1.0 is reached through its link
    // (not loaded by it), so its own load adds nothing
    let libb = &c.entries[LIBB];
    let froms: Vec<Hop<'_>> = libb
        .reasons
        .iter()
        .map(|r| match r {
            Reason::Edge {
                kind, from, load, ..
            } => (kind.as_str(), from.as_slice(), load.as_deref()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(froms, vec![("needed", APP, None)]);
    assert!(
        c.entries[b"/usr/bin".as_slice()].reasons[0]
            == Reason::Parent {
                child: APP.to_vec()
            }
    );
    // bytes of the regular files kept (hard links once)
    assert_eq!(c.bytes(), 5000 + 200 + 3000 + 1000);
}

#[test]
fn a_program_only_read_needs_neither_interpreter_nor_libraries() {
    let mut db = graph();
    run(&mut db, "read", &[access(APP, "open", "cat")], &[]);
    let runs = db.runs().unwrap();
    let c = compute(&db, &runs, None);
    assert_eq!(
        paths(c.entries.keys()),
        ["/", "/usr", "/usr/bin", "/usr/bin/app"]
    );
}

#[test]
fn a_script_run_keeps_its_interpreter_through_the_directory_link() {
    let mut db = graph();
    run(&mut db, "script", &[access(SCRIPT, "exec", "script")], &[]);
    let runs = db.runs().unwrap();
    let c = compute(&db, &runs, None);
    assert_eq!(
        paths(c.entries.keys()),
        [
            "/",
            "/bin",
            "/usr",
            "/usr/bin",
            "/usr/bin/script",
            "/usr/bin/sh"
        ]
    );
    assert!(matches!(
        &c.entries[SH].reasons[0],
        Reason::Edge { kind, from, .. } if kind == "shebang" && from == SCRIPT
    ));
}

/// A profile of the `exec` run that excludes libb.
fn without_libb() -> Profile {
    Profile::parse(
        Path::new("p.toml"),
        "description = \"test\"\nscenarios = [\"exec\"]\n\n[[exclude]]\nglob = \"/usr/lib/libb.so.2\"\nreason = \"not wanted\"\n",
    )
    .unwrap()
}

#[test]
fn an_excluded_library_is_dropped_with_its_rule() {
    let (db, runs) = executed();
    let profile = without_libb();
    let c = compute(&db, &runs, Some(&profile));
    assert!(!c.entries.contains_key(LIBB));
    assert_eq!(c.entries.len(), LOADED.len() - 1);
    assert_eq!(c.dropped.len(), 1);
    assert_eq!(c.dropped[0].path, LIBB);
    assert_eq!(c.dropped[0].excluded_by, Some(4));
    assert_eq!(c.left_out().excluded, 1);
}

#[test]
fn what_is_kept_only_through_the_program() {
    let (db, runs) = executed();
    let c = compute(&db, &runs, None);
    let mut g = Graph::new(&db);
    // liba.so.1.0 is reached only through its link; libb also from the
    // program's load
    let only = closure::kept_only_through(&mut g, &c, None, LIBA).unwrap();
    assert_eq!(paths(only.iter()), ["/usr/lib/liba.so.1.0"]);
    let only = closure::kept_only_through(&mut g, &c, None, LIBA_FILE).unwrap();
    assert!(only.is_empty());
    // the program is the only root
    let only = closure::kept_only_through(&mut g, &c, None, APP).unwrap();
    let rest: Vec<&str> = LOADED
        .iter()
        .copied()
        .filter(|p| p.as_bytes() != APP)
        .collect();
    assert_eq!(paths(only.iter()), rest);
}

#[test]
fn why_a_library_is_kept_is_the_chain_from_the_run() {
    let (db, runs) = executed();
    let c = compute(&db, &runs, None);
    let hops = why::chain(&mut &c, LIBA_FILE)
        .unwrap()
        .expect("liba is kept");
    let chain: Vec<&[u8]> = hops.iter().map(|h| h.path.as_slice()).collect();
    assert_eq!(chain, vec![APP, LIBA, LIBA_FILE]);
    let words: Vec<String> = hops.iter().map(|h| why::describe(&h.reason)).collect();
    assert_eq!(
        words,
        [
            "executed by app[42] in exec (run 1)",
            "needed: DT_NEEDED \"liba.so.1\" of /usr/bin/app, opened as /usr/lib/liba.so.1 (rule default-dirs)",
            "symlink: /usr/lib/liba.so.1 -> liba.so.1.0",
        ]
    );
    // every chain: the symlink's one reason, leading back to the program,
    // whose reason is the run's (a root)
    let t = why::every_chain(&mut &c, LIBA_FILE).unwrap();
    assert_eq!(t.more, 0);
    assert_eq!(t.branches.len(), 1);
    assert_eq!(t.branches[0].from.as_deref(), Some(LIBA));
    let below = t.branches[0].below.as_ref().expect("the symlink is kept");
    assert_eq!(below.branches[0].from.as_deref(), Some(APP));
    let root = below.branches[0]
        .below
        .as_ref()
        .expect("the program is kept");
    assert!(root
        .branches
        .iter()
        .all(|b| b.from.is_none() && b.below.is_none()));
    assert!(why::every_chain(&mut &c, UNUSED)
        .unwrap()
        .branches
        .is_empty());
    let hops = why::chain(&mut &c, LIBB).unwrap().expect("libb is kept");
    let chain: Vec<&[u8]> = hops.iter().map(|h| h.path.as_slice()).collect();
    assert_eq!(chain, vec![APP, LIBB]);
    assert!(why::chain(&mut &c, UNUSED).unwrap().is_none());
}

#[test]
fn facts_about_an_entry_that_is_not_kept() {
    let mut db = graph();
    let id = run(
        &mut db,
        "probe",
        &[access(APP, "exec", "app")],
        &[
            name(b"/lib/unused.so", "failed", Some(UNUSED), 4),
            name(UNUSED, "asked", Some(UNUSED), 9),
        ],
    );
    let runs = db.runs().unwrap();
    let c = compute(&db, &runs, None);
    // the successful name keeps it; a closure of the run without names does not
    assert!(c.entries.contains_key(UNUSED));
    let mut g = Graph::new(&db);
    let empty = Closure::default();
    let f = why::facts(&mut g, &mut &empty, &[], &runs, None, UNUSED).unwrap();
    assert_eq!(f.present.as_deref(), Some("file"));
    assert_eq!(f.size, Some(400));
    assert_eq!(
        f.probes,
        vec![format!(
            "failed: app[7] asked for /lib/unused.so (openat: ENOENT) in probe (run {id})"
        )]
    );
    assert!(f.links.is_empty());
    let f = why::facts(&mut g, &mut &empty, &[], &runs, None, LIBA_FILE).unwrap();
    assert!(f.probes.is_empty());
    assert_eq!(
        f.links,
        vec!["/usr/lib/liba.so.1 (not kept: nothing asked for it)".to_string()]
    );
    let f = why::facts(&mut g, &mut &c, &[], &runs, None, LIBA_FILE).unwrap();
    assert_eq!(f.links, vec!["/usr/lib/liba.so.1 (kept)".to_string()]);
    let f = why::facts(&mut g, &mut &c, &[], &runs, None, b"/usr/lib/gone.so").unwrap();
    assert_eq!(f.present, None);
}

#[test]
fn the_init_system_starts_the_program_from_an_enabled_unit() {
    let db = graph();
    let facts = why::init_facts(&db, APP).unwrap();
    assert_eq!(
        facts,
        vec![why::InitFact {
            rule: "ExecStart".into(),
            unit: UNIT.to_vec(),
            dropin_of: None,
            enabled_by: vec![why::Enabler {
                link: WANTS_LINK.to_vec(),
                rule: "wants-dir".into(),
                of: TARGET.to_vec(),
            }],
        }]
    );
    assert!(why::init_facts(&db, LIBB).unwrap().is_empty());
}

#[test]
fn a_stored_closure_answers_as_the_computed_one() {
    let (db, runs) = executed();
    let profile = without_libb();
    let c = compute(&db, &runs, Some(&profile));
    let mut cache = Cache::new(&db, &runs, Some(&profile)).unwrap();
    assert!(!cache.present().unwrap());
    cache.store(&c).unwrap();
    assert!(cache.present().unwrap());
    for (path, e) in &c.entries {
        assert_eq!(
            cache.reasons(path).unwrap(),
            Some((e.reasons.clone(), e.more)),
            "{}",
            String::from_utf8_lossy(path)
        );
    }
    assert_eq!(cache.reasons(LIBB).unwrap(), None);
    let dropped = cache.dropped(LIBB).unwrap();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].path, LIBB);
    assert_eq!(dropped[0].excluded_by, c.dropped[0].excluded_by);
    assert_eq!(dropped[0].reason, c.dropped[0].reason);
    // the same chain from the stored closure
    let from_cache = why::chain(&mut cache, LIBA_FILE).unwrap().unwrap();
    let computed = why::chain(&mut &c, LIBA_FILE).unwrap().unwrap();
    assert_eq!(
        from_cache.iter().map(|h| &h.path).collect::<Vec<_>>(),
        computed.iter().map(|h| &h.path).collect::<Vec<_>>()
    );
    // another profile, or no profile, is another closure
    assert!(!Cache::new(&db, &runs, None).unwrap().present().unwrap());
}

#[test]
fn a_new_run_is_another_closure_and_old_closures_are_dropped() {
    let (mut db, runs) = executed();
    let c = compute(&db, &runs, None);
    Cache::new(&db, &runs, None).unwrap().store(&c).unwrap();
    run(&mut db, "exec", &[access(SCRIPT, "exec", "script")], &[]);
    let later = db.runs().unwrap();
    assert!(!Cache::new(&db, &later, None).unwrap().present().unwrap());
    assert!(Cache::new(&db, &runs, None).unwrap().present().unwrap());
    // eight closures are kept: the first stored goes with the ninth
    for id in 100..108 {
        let fake = [RunRow {
            id,
            ..RunRow::default()
        }];
        Cache::new(&db, &fake, None).unwrap().store(&c).unwrap();
    }
    assert!(!Cache::new(&db, &runs, None).unwrap().present().unwrap());
    let last = [RunRow {
        id: 107,
        ..RunRow::default()
    }];
    assert!(Cache::new(&db, &last, None).unwrap().present().unwrap());
}
