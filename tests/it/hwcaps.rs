//! CPU-dependent choices: a library with a copy in `glibc-hwcaps/x86-64-v2/`
//! is loaded from there on a CPU that supports the level. kaudit reproduces
//! the host loader with `--cpu host`, the baseline choice with
//! `--cpu baseline`, and reports the dependence either way.

use std::ffi::OsStr;
use std::process::Command;

use crate::support::{compare_with_oracle, kaudit, require_root, Build, FixtureRoot, Layout, APP};

const PLAIN: &str = "/opt/app/lib/liba.so.1";
const V2: &str = "/opt/app/lib/glibc-hwcaps/x86-64-v2/liba.so.1";

/// Whether this machine's glibc searches `x86-64-v2` (as `ld.so --help` says).
fn host_supports_v2() -> bool {
    let out = Command::new("/lib64/ld-linux-x86-64.so.2")
        .arg("--help")
        .output()
        .expect("ld.so --help");
    String::from_utf8_lossy(&out.stdout).lines().any(|l| {
        l.trim_start()
            .starts_with("x86-64-v2 (supported, searched)")
    })
}

#[test]
fn glibc_hwcaps_subdirectory_follows_the_cpu_and_is_reported() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::Split);
    let liba = root.build_into(Build::lib("liba.so.1"), PLAIN);
    root.install(&liba, V2);
    root.build_into(
        Build::exe()
            .calls("liba.so.1")
            .link(&liba)
            .rpath("/opt/app/lib"),
        APP,
    );
    root.ldconfig();

    let oracle = root.oracle(APP);
    let want = if host_supports_v2() { V2 } else { PLAIN };
    assert!(
        oracle
            .by_name
            .iter()
            .any(|(n, p)| n == "liba.so.1" && p.as_os_str() == want),
        "fixture check: the loader should load {want}\n{}",
        oracle.show()
    );
    // --cpu host (the default) reproduces this machine's loader exactly
    let deps = compare_with_oracle(&root, APP, &oracle);
    assert!(
        deps.finding_codes().contains(&"cpu-dependent"),
        "no cpu-dependent finding: {:#}",
        deps.0
    );

    // a CPU without any level takes the plain copy
    let out = kaudit([
        OsStr::new("deps"),
        OsStr::new("--root"),
        root.path().as_os_str(),
        OsStr::new("--cpu"),
        OsStr::new("baseline"),
        OsStr::new("--format"),
        OsStr::new("list"),
        OsStr::new(APP),
    ]);
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(list.lines().any(|l| l == PLAIN), "{list}");
    assert!(!list.contains("glibc-hwcaps"), "{list}");

    // the scan keeps the other CPU's choice as a cpu-alternative edge
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    let out = root.scan(&db);
    assert_eq!(out.status.code(), Some(0));
    let g = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let alternatives: Vec<Vec<u8>> = g
        .prepare(
            "SELECT d.path FROM edge e JOIN file d ON d.id = e.dst JOIN file s ON s.id = e.src
             WHERE e.kind = 'cpu-alternative' AND s.path = CAST(?1 AS BLOB)",
        )
        .unwrap()
        .query_map([APP], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let other = if want == V2 { PLAIN } else { V2 };
    assert!(
        alternatives.iter().any(|p| p == other.as_bytes()),
        "no cpu-alternative edge to {other}: {alternatives:?}"
    );
}
