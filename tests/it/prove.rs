//! `kaudit prove` on a fixture root where some kept entries are not needed:
//! a configuration file whose values are the program's defaults, and a
//! symlink a PATH search probes first though the program is found further
//! on; a locale file only a harness step reads is not kept at all. prove
//! names exactly the two, `allowlist --proven` drops exactly them, and the
//! proven image still passes its scenario.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::Path;

use serde_json::Value;

use crate::support::{kaudit, require_root, show, FixtureRoot, Layout};

fn k(db: &Path, args: &[&OsStr]) -> std::process::Output {
    let mut v: Vec<&OsStr> = vec!["--db".as_ref(), db.as_os_str()];
    v.extend_from_slice(args);
    kaudit(v)
}

fn non_dirs(list: &[u8], root: &Path) -> BTreeSet<String> {
    String::from_utf8_lossy(list)
        .lines()
        .filter(|p| {
            !std::fs::symlink_metadata(root.join(&p[1..]))
                .map(|m| m.is_dir())
                .unwrap_or(false)
        })
        .map(str::to_string)
        .collect()
}

/// A fixture root with a shell and what `build` adds, one scenario (`name`,
/// its TOML) in a scenarios directory, and a profile, scanned and traced
/// (with `params`) into a graph: where every proof here starts.
struct Proving {
    root: FixtureRoot,
    t: tempfile::TempDir,
    db: std::path::PathBuf,
    scenarios: std::path::PathBuf,
    profile: std::path::PathBuf,
}

fn proving(
    build: impl FnOnce(&FixtureRoot),
    scenario: (&str, &str),
    profile: &str,
    params: &[&str],
) -> Proving {
    let root = FixtureRoot::glibc(Layout::UsrMerged);
    root.install(Path::new("/bin/dash"), "/usr/bin/sh");
    build(&root);
    let t = tempfile::tempdir().unwrap();
    let scenarios = t.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    std::fs::write(scenarios.join(format!("{}.toml", scenario.0)), scenario.1).unwrap();
    let profile_file = t.path().join("p.toml");
    std::fs::write(&profile_file, profile).unwrap();
    let db = t.path().join("g.db");
    let out = k(
        &db,
        &["scan".as_ref(), "--root".as_ref(), root.path().as_os_str()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let mut args: Vec<&OsStr> = vec![
        "trace".as_ref(),
        "--root".as_ref(),
        root.path().as_os_str(),
        "--scenario".as_ref(),
        scenario.0.as_ref(),
        "--scenarios".as_ref(),
        scenarios.as_os_str(),
    ];
    for p in params {
        args.extend(["--param".as_ref(), p.as_ref()] as [&OsStr; 2]);
    }
    let out = k(&db, &args);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    Proving {
        root,
        t,
        db,
        scenarios,
        profile: profile_file,
    }
}

#[test]
fn prove_names_exactly_the_entries_not_needed_and_proven_drops_exactly_them() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let p = proving(
        |root| {
            // the program: its data is needed, its configuration only
            // restates the defaults
            root.write_exec(
                "/usr/bin/app",
                "#!/bin/sh\n[ -r /etc/app.conf ] && . /etc/app.conf\nread -r data < /usr/share/app/data || exit 3\necho \"${GREETING:-hello} $data\"\n",
            );
            root.write("/etc/app.conf", "GREETING=hello\n");
            root.write("/usr/share/app/data", "world\n");
            // a PATH probe: found first, but the program is also where the
            // search goes on
            root.mkdir("/usr/local/bin");
            root.symlink("/usr/bin/app", "/usr/local/bin/app");
            root.write("/usr/lib/locale/C.utf8/LC_CTYPE", "locale data\n");
        },
        (
            "greet",
            r#"description = "the program greets"
[env]
PATH = "/usr/local/bin:/usr/bin"
[[step]]
name = "prepare"
harness = true
run = "cat \"$KAUDIT_ROOT/usr/lib/locale/C.utf8/LC_CTYPE\" > /dev/null 2>&1 || true"
[[step]]
name = "greet"
run = "app"
expect = { stdout_contains = "hello world" }
"#,
        ),
        "description = \"a greeter\"\nscenarios = [\"greet\"]\n",
        &[],
    );
    let (root, t, db, profile) = (&p.root, &p.t, &p.db, &p.profile);
    let sdir = p.scenarios.as_os_str();
    let list = t.path().join("full.list");
    let out = k(
        db,
        &[
            "allowlist".as_ref(),
            "--profile".as_ref(),
            profile.as_os_str(),
            "--out".as_ref(),
            list.as_os_str(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let full = non_dirs(&std::fs::read(&list).unwrap(), root.path());
    for want in [
        "/etc/app.conf",
        "/usr/local/bin/app",
        "/usr/bin/app",
        "/usr/share/app/data",
    ] {
        assert!(full.contains(want), "{want} not kept: {full:?}");
    }
    // what only the harness read is not the node's
    assert!(
        !full.iter().any(|p| p.contains("locale")),
        "a file only a harness step read is kept: {full:?}"
    );
    let image = t.path().join("image");
    let out = k(
        db,
        &[
            "assemble".as_ref(),
            "--allowlist".as_ref(),
            list.as_os_str(),
            "--from".as_ref(),
            root.path().as_os_str(),
            "--out".as_ref(),
            image.as_os_str(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    let out = k(
        db,
        &[
            "prove".as_ref(),
            "--profile".as_ref(),
            profile.as_os_str(),
            "--root".as_ref(),
            image.as_os_str(),
            "--scenarios".as_ref(),
            sdir,
            "--format".as_ref(),
            "json".as_ref(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let entries = v["entries"].as_array().unwrap();
    let of = |kind: &str| -> BTreeSet<String> {
        entries
            .iter()
            .filter(|e| e["proof"] == kind)
            .map(|e| e["path"].as_str().unwrap().to_string())
            .filter(|p| full.contains(p))
            .collect()
    };
    assert_eq!(
        of("unproven"),
        ["/etc/app.conf", "/usr/local/bin/app"]
            .into_iter()
            .map(String::from)
            .collect::<BTreeSet<_>>(),
        "{}",
        show(&out)
    );
    // the rest is shown necessary: by a replay, or by the loader
    let replay = of("replay");
    for p in ["/usr/bin/app", "/usr/share/app/data", "/usr/bin/sh"] {
        assert!(
            replay.contains(p),
            "{p} has no replay proof: {}",
            show(&out)
        );
    }
    let data = entries
        .iter()
        .find(|e| e["path"] == "/usr/share/app/data")
        .unwrap();
    assert_eq!(data["step"], "greet", "{data}");
    assert!(
        data["detail"]
            .as_str()
            .unwrap()
            .contains("without it, step greet of greet fails"),
        "{data}"
    );
    let loader = of("loader");
    assert!(
        loader.iter().any(|p| p.contains("libc.so.6")),
        "libc has no loader proof: {loader:?}: {}",
        show(&out)
    );
    assert_eq!(
        of("unproven").len() + replay.len() + loader.len(),
        full.len(),
        "every kept file has one proof: {}",
        show(&out)
    );
    // the image was never written
    assert!(image.join("etc/app.conf").exists());

    // why says it
    let out = k(
        db,
        &[
            "why".as_ref(),
            "--profile".as_ref(),
            profile.as_os_str(),
            "/usr/share/app/data".as_ref(),
        ],
    );
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("necessary (replay proof): without it, step greet of greet fails"),
        "{s}"
    );
    let out = k(
        db,
        &[
            "why".as_ref(),
            "--profile".as_ref(),
            profile.as_os_str(),
            "/etc/app.conf".as_ref(),
        ],
    );
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("not shown necessary: every replay of greet passed without it"),
        "{s}"
    );

    // the 1-minimal list: exactly the two left out, and its image passes
    let proven = t.path().join("proven.list");
    let out = k(
        db,
        &[
            "allowlist".as_ref(),
            "--profile".as_ref(),
            profile.as_os_str(),
            "--proven".as_ref(),
            "--out".as_ref(),
            proven.as_os_str(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let small = non_dirs(&std::fs::read(&proven).unwrap(), root.path());
    let gone: BTreeSet<String> = full.difference(&small).cloned().collect();
    assert_eq!(
        gone,
        ["/etc/app.conf", "/usr/local/bin/app"]
            .into_iter()
            .map(String::from)
            .collect::<BTreeSet<_>>()
    );
    let image2 = t.path().join("image2");
    let out = k(
        db,
        &[
            "assemble".as_ref(),
            "--allowlist".as_ref(),
            proven.as_os_str(),
            "--from".as_ref(),
            root.path().as_os_str(),
            "--out".as_ref(),
            image2.as_os_str(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = k(
        db,
        &[
            "verify".as_ref(),
            "--root".as_ref(),
            image2.as_os_str(),
            "--scenario".as_ref(),
            "greet".as_ref(),
            "--scenarios".as_ref(),
            sdir,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

/// Without a proof, `allowlist --proven` is an error that says what to run.
#[test]
fn proven_without_a_proof_says_to_prove_first() {
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("g.db");
    let profile = t.path().join("p.toml");
    std::fs::write(
        &profile,
        "description = \"x\"\n[[include]]\nglob = \"/x\"\nreason = \"a test\"\n",
    )
    .unwrap();
    let out = k(
        &db,
        &["scan".as_ref(), "--root".as_ref(), t.path().as_os_str()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = k(
        &db,
        &[
            "allowlist".as_ref(),
            "--profile".as_ref(),
            profile.as_os_str(),
            "--proven".as_ref(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has no proofs"),
        "{}",
        show(&out)
    );
}

/// SIGINT ends a proof: the replay running is interrupted, nothing is
/// stored, no process and no scratch file is left.
#[test]
fn an_interrupted_proof_stores_nothing_and_leaves_nothing() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    // traced waiting 0 s; the replays are made to wait 30 s below
    let p = proving(
        |root| root.write("/etc/data", "x\n"),
        (
            "slow",
            r#"description = "reads, then waits"
[params]
WAIT = { default = "0" }
[[step]]
name = "read"
run = "read -r x < /etc/data"
[[step]]
name = "wait"
harness = true
run = "sleep ${WAIT}"
"#,
        ),
        "description = \"slow\"\nscenarios = [\"slow\"]\nallow_incomplete = true\n",
        &["WAIT=0"],
    );
    let (root, t, db, profile) = (&p.root, &p.t, &p.db, &p.profile);
    let sdir = p.scenarios.as_os_str();
    // the stored parameters are the ones replayed: make them 30 s
    let conn = std::process::Command::new("sqlite3")
        .arg(db)
        .arg("UPDATE run SET params = replace(params, '\"WAIT\":\"0\"', '\"WAIT\":\"30\"')")
        .output()
        .unwrap();
    assert!(conn.status.success(), "{conn:?}");
    let scratch = t.path().join("tmp");
    std::fs::create_dir(&scratch).unwrap();
    let mut cmd = crate::support::kaudit_cmd([
        "--db".as_ref(),
        db.as_os_str(),
        "prove".as_ref(),
        "--profile".as_ref(),
        profile.as_os_str(),
        "--root".as_ref(),
        root.path().as_os_str(),
        "--scenarios".as_ref(),
        sdir,
    ] as [&OsStr; 9]);
    cmd.env("TMPDIR", &scratch)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let t0 = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(20),
        "{}",
        show(&out)
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("interrupted"),
        "{}",
        show(&out)
    );
    let left: Vec<_> = std::fs::read_dir(&scratch).unwrap().collect();
    assert!(left.is_empty(), "left in the scratch directory: {left:?}");
    let procs = std::process::Command::new("pgrep")
        .args(["-f", &root.path().to_string_lossy()])
        .output()
        .unwrap();
    assert!(procs.stdout.is_empty(), "processes left: {procs:?}");
    let proofs = std::process::Command::new("sqlite3")
        .arg(db)
        .arg("SELECT count(*) FROM proof")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&proofs.stdout).trim(), "0");
}

/// A `--peer NAME=ROOT` that no replayed run had is refused before any
/// replay, by verify and by prove alike (it would be ignored otherwise).
#[test]
fn a_peer_no_replayed_run_had_is_refused() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let p = proving(
        |_| {},
        (
            "noop",
            "description = \"nothing\"\n[[step]]\nrun = \"true\"\n",
        ),
        "description = \"x\"\nscenarios = [\"noop\"]\nallow_incomplete = true\n",
        &[],
    );
    let (root, db, profile) = (&p.root, &p.db, &p.profile);
    let sdir = p.scenarios.as_os_str();
    for cmd in ["verify", "prove"] {
        let out = k(
            db,
            &[
                cmd.as_ref(),
                "--profile".as_ref(),
                profile.as_os_str(),
                "--root".as_ref(),
                root.path().as_os_str(),
                "--scenarios".as_ref(),
                sdir,
                "--peer".as_ref(),
                "contrl-plane=/".as_ref(),
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{cmd}: {}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains("no replayed run has a peer \"contrl-plane\" (they have none)"),
            "{cmd}: {}",
            show(&out)
        );
    }
}
