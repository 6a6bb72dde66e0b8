//! A small graph built in memory through the public store API, for tests
//! that need no root filesystem and no privileges: a usrmerged root with a
//! dynamic program, its libraries, a script, a systemd unit, and traced runs.
//!
//! The root:
//!
//! ```text
//! /bin -> usr/bin                  /lib -> usr/lib
//! /usr/bin/app                     ELF program, PT_INTERP /lib/ld-linux-x86-64.so.2,
//!                                  DT_NEEDED liba.so.1
//! /usr/bin/sh                      a plain file (the script's interpreter)
//! /usr/bin/script                  #!/bin/sh
//! /usr/lib/ld-linux-x86-64.so.2    ELF library (the loader)
//! /usr/lib/liba.so.1 -> liba.so.1.0
//! /usr/lib/liba.so.1.0             ELF library, DT_NEEDED libb.so.2
//! /usr/lib/libb.so.2               ELF library
//! /usr/lib/unused.so               ELF library nothing needs
//! /etc/app.conf                    a file
//! /usr/lib/systemd/system/app.service           ExecStart=/bin/app
//! /usr/lib/systemd/system/multi-user.target
//! /etc/systemd/system/multi-user.target.wants/app.service -> /usr/lib/systemd/system/app.service
//! ```
//!
//! This file is shared by the tests of `kaudit-graph` and `kaudit-reports`.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use kaudit_analyzer::elf::ElfInfo;
use kaudit_analyzer::findings::{Code, Finding};
use kaudit_analyzer::rootfs::{Entry, Kind, Meta};
use kaudit_analyzer::scan::{Analysis, EdgeKind, EdgeRec, ScanFinding, ScanResult, ScanStats};
use kaudit_analyzer::script::Shebang as ShebangLine;
use kaudit_graph::{AccessRow, Db, NameRow, NewRun};

pub const APP: &[u8] = b"/usr/bin/app";
pub const SCRIPT: &[u8] = b"/usr/bin/script";
pub const SH: &[u8] = b"/usr/bin/sh";
pub const LD: &[u8] = b"/usr/lib/ld-linux-x86-64.so.2";
pub const LD_NAME: &[u8] = b"/lib/ld-linux-x86-64.so.2";
pub const LIBA: &[u8] = b"/usr/lib/liba.so.1";
pub const LIBA_FILE: &[u8] = b"/usr/lib/liba.so.1.0";
pub const LIBB: &[u8] = b"/usr/lib/libb.so.2";
pub const UNUSED: &[u8] = b"/usr/lib/unused.so";
pub const CONF: &[u8] = b"/etc/app.conf";
pub const UNIT: &[u8] = b"/usr/lib/systemd/system/app.service";
pub const TARGET: &[u8] = b"/usr/lib/systemd/system/multi-user.target";
pub const WANTS_LINK: &[u8] = b"/etc/systemd/system/multi-user.target.wants/app.service";

const DIR: u32 = 0o040755;
const FILE: u32 = 0o100644;
const EXEC: u32 = 0o100755;
const LINK: u32 = 0o120777;

fn entry(path: &[u8], mode: u32, size: u64, ino: u64, target: Option<&[u8]>) -> Entry {
    Entry {
        path: path.to_vec(),
        meta: Meta {
            kind: Kind::from_mode(mode),
            size,
            mode,
            uid: 0,
            gid: 0,
            dev: 1,
            ino,
            nlink: 1,
            mtime: 0,
            rdev: 0,
        },
        target: target.map(<[u8]>::to_vec),
    }
}

fn elf(interp: Option<&[u8]>, needed: &[&[u8]], etype: u16) -> Arc<ElfInfo> {
    Arc::new(ElfInfo {
        ident: [0; 16],
        class64: true,
        little: true,
        machine: 62,
        etype,
        version: 1,
        flags: 0,
        phentsize: 56,
        interp: interp.map(<[u8]>::to_vec),
        has_dynamic: true,
        needed: needed.iter().map(|n| n.to_vec()).collect(),
        soname: None,
        rpath: None,
        runpath: None,
        flags_1: 0,
        exec_refusal: None,
        program_headers_read: true,
    })
}

/// An edge with the fields a scan fills in.
#[allow(clippy::too_many_arguments)]
pub fn edge(
    kind: EdgeKind,
    src: &[u8],
    dst: Option<&[u8]>,
    context: Option<&[u8]>,
    seq: u32,
    name: Option<&[u8]>,
    path: Option<&[u8]>,
    rule: Option<&str>,
    file: Option<&[u8]>,
) -> EdgeRec {
    EdgeRec {
        context: context.map(<[u8]>::to_vec),
        seq,
        src: src.to_vec(),
        dst: dst.map(<[u8]>::to_vec),
        kind,
        name: name.map(<[u8]>::to_vec),
        path: path.map(<[u8]>::to_vec),
        rule: rule.map(str::to_string),
        via: None,
        file: file.map(<[u8]>::to_vec),
    }
}

/// The scan of the root above.
pub fn scan() -> ScanResult {
    let mut entries = vec![
        entry(b"/", DIR, 4096, 1, None),
        entry(b"/bin", LINK, 7, 2, Some(b"usr/bin")),
        entry(b"/etc", DIR, 4096, 3, None),
        entry(CONF, FILE, 100, 4, None),
        entry(b"/etc/systemd", DIR, 4096, 5, None),
        entry(b"/etc/systemd/system", DIR, 4096, 6, None),
        entry(
            b"/etc/systemd/system/multi-user.target.wants",
            DIR,
            4096,
            7,
            None,
        ),
        entry(WANTS_LINK, LINK, 35, 8, Some(UNIT)),
        entry(b"/lib", LINK, 7, 9, Some(b"usr/lib")),
        entry(b"/usr", DIR, 4096, 10, None),
        entry(b"/usr/bin", DIR, 4096, 11, None),
        entry(APP, EXEC, 5000, 12, None),
        entry(SCRIPT, EXEC, 20, 13, None),
        entry(SH, EXEC, 700, 14, None),
        entry(b"/usr/lib", DIR, 4096, 15, None),
        entry(LD, EXEC, 200, 16, None),
        entry(LIBA, LINK, 11, 17, Some(b"liba.so.1.0")),
        entry(LIBA_FILE, FILE, 3000, 18, None),
        entry(LIBB, FILE, 1000, 19, None),
        entry(b"/usr/lib/systemd", DIR, 4096, 20, None),
        entry(b"/usr/lib/systemd/system", DIR, 4096, 21, None),
        entry(UNIT, FILE, 50, 22, None),
        entry(TARGET, FILE, 40, 23, None),
        entry(UNUSED, FILE, 400, 24, None),
    ];
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let mut elfs = BTreeMap::new();
    elfs.insert(APP.to_vec(), elf(Some(LD_NAME), &[b"liba.so.1"], 3));
    elfs.insert(LD.to_vec(), elf(None, &[], 3));
    elfs.insert(LIBA_FILE.to_vec(), elf(None, &[b"libb.so.2"], 3));
    elfs.insert(LIBB.to_vec(), elf(None, &[], 3));
    elfs.insert(UNUSED.to_vec(), elf(None, &[], 3));
    let mut scripts = BTreeMap::new();
    scripts.insert(
        SCRIPT.to_vec(),
        ShebangLine {
            interpreter: b"/bin/sh".to_vec(),
            argument: None,
        },
    );
    use EdgeKind::*;
    let edges = vec![
        // symlink hops
        edge(
            Symlink,
            b"/bin",
            Some(b"/usr/bin"),
            None,
            0,
            Some(b"usr/bin"),
            None,
            None,
            None,
        ),
        edge(
            Symlink,
            b"/lib",
            Some(b"/usr/lib"),
            None,
            0,
            Some(b"usr/lib"),
            None,
            None,
            None,
        ),
        edge(
            Symlink,
            LIBA,
            Some(LIBA_FILE),
            None,
            0,
            Some(b"liba.so.1.0"),
            None,
            None,
            None,
        ),
        edge(
            Symlink,
            WANTS_LINK,
            Some(UNIT),
            None,
            0,
            Some(UNIT),
            None,
            None,
            None,
        ),
        // the program's interpreter, through /lib
        edge(
            Interp,
            APP,
            Some(LD),
            None,
            0,
            Some(LD_NAME),
            Some(LD_NAME),
            None,
            Some(LD),
        ),
        edge(
            Walks,
            APP,
            Some(b"/lib"),
            None,
            0,
            Some(LD_NAME),
            None,
            None,
            None,
        ),
        // the script's interpreter, through /bin
        edge(
            Shebang,
            SCRIPT,
            Some(SH),
            None,
            0,
            Some(b"/bin/sh"),
            Some(b"/bin/sh"),
            None,
            None,
        ),
        edge(
            Walks,
            SCRIPT,
            Some(b"/bin"),
            None,
            0,
            Some(b"/bin/sh"),
            None,
            None,
            None,
        ),
        // the load of the program: its own need
        edge(
            Needed,
            APP,
            Some(LIBA),
            Some(APP),
            0,
            Some(b"liba.so.1"),
            Some(LIBA),
            Some("default-dirs"),
            Some(LIBA_FILE),
        ),
        // the load of liba as a main object: its default loader, its need
        edge(
            Interp,
            LIBA_FILE,
            Some(LD),
            Some(LIBA_FILE),
            0,
            Some(LD_NAME),
            Some(LD_NAME),
            Some("default-loader"),
            Some(LD),
        ),
        edge(
            Needed,
            LIBA_FILE,
            Some(LIBB),
            Some(LIBA_FILE),
            1,
            Some(b"libb.so.2"),
            Some(LIBB),
            Some("default-dirs"),
            Some(LIBB),
        ),
        // the init system: a unit runs the program, a target's .wants/ enables it
        edge(
            Init,
            UNIT,
            Some(b"/bin"),
            None,
            0,
            Some(b"/bin/app"),
            None,
            Some("walks"),
            None,
        ),
        edge(
            Init,
            UNIT,
            Some(APP),
            None,
            0,
            Some(b"/bin/app"),
            None,
            Some("ExecStart"),
            None,
        ),
        edge(
            Init,
            TARGET,
            Some(WANTS_LINK),
            None,
            0,
            None,
            None,
            Some("wants-dir"),
            None,
        ),
    ];
    let findings = vec![
        ScanFinding {
            context: Some(APP.to_vec()),
            finding: Finding::new(Code::LoadError, APP, "a load error in the load of app"),
        },
        ScanFinding {
            context: None,
            finding: Finding::new(Code::MissingInterpreter, UNUSED, "not about app"),
        },
    ];
    let stats = ScanStats {
        entries: entries.len(),
        bytes: entries.iter().map(|e| e.meta.size).sum(),
        elf: elfs.len(),
        loads: 2,
        scripts: 1,
        edges: edges.len(),
    };
    ScanResult {
        entries,
        analysis: Analysis {
            elf: elfs,
            scripts,
            edges,
            findings,
            stats,
            cpu: "x86-64-v2".into(),
        },
    }
}

/// The root above, stored in an in-memory graph.
pub fn graph() -> Db {
    let mut db = Db::open_in_memory().expect("an in-memory graph");
    db.replace_scan(Path::new("/srv/root"), &scan(), 1_000)
        .expect("the scan is stored");
    db
}

/// An access of a run.
pub fn access(path: &[u8], kind: &str, comm: &str) -> AccessRow {
    AccessRow {
        path: path.to_vec(),
        kind: kind.into(),
        pid: 42,
        comm: comm.into(),
        exe: None,
        parents: String::new(),
        step: None,
        count: 1,
        first_ms: 0,
    }
}

/// A name a run asked for.
pub fn name(path: &[u8], evidence: &str, resolved: Option<&[u8]>, first_ms: i64) -> NameRow {
    NameRow {
        path: path.to_vec(),
        call: "openat".into(),
        result: if evidence == "asked" { "ok" } else { "ENOENT" }.into(),
        nofollow: false,
        evidence: evidence.into(),
        resolved: resolved.map(<[u8]>::to_vec),
        hops: Vec::new(),
        pid: 7,
        comm: "app".into(),
        step: None,
        count: 1,
        first_ms,
    }
}

/// Store a complete, passed run named `scenario` with `accesses` and
/// `names`; its id.
pub fn run(db: &mut Db, scenario: &str, accesses: &[AccessRow], names: &[NameRow]) -> i64 {
    let id = db
        .begin_run(&NewRun {
            name: scenario,
            kind: "scenario",
            command: None,
            params: None,
            root: b"/srv/root",
            host: "test",
            kernel: "6.1",
            started_at: 2_000,
            marks: "/ (tmpfs)",
        })
        .expect("a run begins");
    db.add_accesses(id, accesses).expect("accesses are stored");
    db.add_names(id, names, "complete")
        .expect("names are stored");
    db.finish_run(id, "passed", true, accesses.len() as u64, &[], 2_010)
        .expect("the run ends");
    id
}
