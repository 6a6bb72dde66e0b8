//! The graph written by `kaudit scan`: scanning the same root twice gives
//! identical content, and `kaudit deps` read from the graph agrees with
//! `kaudit deps` resolved live on the root.

use std::ffi::OsString;
use std::path::Path;

use crate::support::{kaudit, require_root, Build, FixtureRoot, Layout, APP};

const TABLES: &[&str] = &[
    "SELECT path, kind, size, mode, uid, gid, nlink, link_target FROM file ORDER BY id",
    "SELECT file_id, class, machine, etype, linkage, interp, soname, rpath, runpath, flags_1 FROM elf ORDER BY file_id",
    "SELECT file_id, idx, name FROM needed ORDER BY file_id, idx",
    "SELECT file_id, interpreter, argument FROM script ORDER BY file_id",
    "SELECT src, dst, kind, context, seq, name, path, rule, via FROM edge ORDER BY id",
    "SELECT code, severity, path, context, message FROM finding ORDER BY id",
];

fn dump(db: &Path) -> Vec<String> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open db");
    let mut out = Vec::new();
    for q in TABLES {
        let mut st = conn.prepare(q).expect("prepare");
        let n = st.column_count();
        let rows = st
            .query_map([], |r| {
                let mut line = String::new();
                for i in 0..n {
                    let v: rusqlite::types::Value = r.get(i)?;
                    line.push_str(&format!("{v:?}|"));
                }
                Ok(line)
            })
            .expect("query");
        for row in rows {
            out.push(row.expect("row"));
        }
        out.push(format!("-- end of {q}"));
    }
    out
}

fn args(a: &[&str], p: &Path, b: &[&str], q: &Path, c: &[&str]) -> Vec<OsString> {
    let mut v: Vec<OsString> = a.iter().map(OsString::from).collect();
    v.push(p.into());
    v.extend(b.iter().map(OsString::from));
    v.push(q.into());
    v.extend(c.iter().map(OsString::from));
    v
}

fn usr_merged_root() -> FixtureRoot {
    let root = FixtureRoot::glibc(Layout::UsrMerged);
    let liba = root.build_into(
        Build::lib("liba.so.1"),
        "/usr/lib/x86_64-linux-gnu/liba.so.1",
    );
    root.build_into(Build::exe().calls("liba.so.1").link(&liba), APP);
    root.write_exec("/usr/bin/script", "#!/bin/sh\nexec app\n");
    root.symlink("app", "/usr/bin/app-link");
    root.ldconfig();
    root
}

#[test]
fn scanning_the_same_root_twice_gives_identical_content() {
    if !require_root() {
        return;
    }
    let root = usr_merged_root();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    for db in [&a, &b, &a] {
        let out = kaudit(args(&["scan", "--root"], root.path(), &["--db"], db, &[]));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (da, db) = (dump(&a), dump(&b));
    assert!(da.len() > 20, "suspiciously small graph: {da:#?}");
    assert_eq!(da, db, "two scans of one root differ");
}

#[test]
fn deps_from_the_graph_equals_deps_on_the_root() {
    if !require_root() {
        return;
    }
    let root = usr_merged_root();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    let out = kaudit(args(&["scan", "--root"], root.path(), &["--db"], &db, &[]));
    assert_eq!(out.status.code(), Some(0));
    for path in [
        APP,
        "/usr/bin/app-link",
        "/bin/app",
        "/usr/lib/x86_64-linux-gnu/liba.so.1",
    ] {
        let live = kaudit(args(
            &["deps", "--format", "list", "--root"],
            root.path(),
            &[],
            Path::new(path),
            &[],
        ));
        let stored = kaudit(args(
            &["deps", "--format", "list", "--db"],
            &db,
            &[],
            Path::new(path),
            &[],
        ));
        assert_eq!(live.status.code(), stored.status.code(), "{path}");
        assert!(!live.stdout.is_empty(), "{path}: empty closure");
        assert_eq!(
            String::from_utf8_lossy(&live.stdout),
            String::from_utf8_lossy(&stored.stdout),
            "{path}: graph and live resolution differ"
        );
    }
}

#[test]
fn deps_names_every_symlink_walked_to_the_program() {
    if !require_root() {
        return;
    }
    let root = usr_merged_root();
    // an alternatives-style chain, as /usr/sbin/iptables on Debian
    root.symlink("/usr/bin/app-link", "/etc/alternatives/app");
    root.symlink("/etc/alternatives/app", "/usr/bin/app-alt");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    assert_eq!(
        kaudit(args(&["scan", "--root"], root.path(), &["--db"], &db, &[]))
            .status
            .code(),
        Some(0)
    );
    let want = [
        ("/bin", "usr/bin"),
        ("/usr/bin/app-alt", "/etc/alternatives/app"),
        ("/etc/alternatives/app", "/usr/bin/app-link"),
        ("/usr/bin/app-link", "app"),
    ];
    for source in [
        args(
            &["deps", "--format", "json", "--root"],
            root.path(),
            &[],
            Path::new("/bin/app-alt"),
            &[],
        ),
        args(
            &["deps", "--format", "json", "--db"],
            &db,
            &[],
            Path::new("/bin/app-alt"),
            &[],
        ),
    ] {
        let out = kaudit(source);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let got: Vec<(String, String)> = v["symlinks"]
            .as_array()
            .expect("symlinks")
            .iter()
            .map(|h| {
                (
                    h["link"].as_str().unwrap().to_string(),
                    h["target"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want, "{v:#}");
        assert_eq!(v["file"], APP);
    }
}
