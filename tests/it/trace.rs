//! The tracer on the real kernel: a program with known accesses, a daemon
//! left behind, a forced queue overflow, SIGINT in the middle of a run, and
//! accesses stored while a run goes on (final counts; a locked database).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{compile_fixture, kaudit, require_root};

fn args(list: &[&str], extra: &[&std::ffi::OsStr]) -> Vec<OsString> {
    let mut v: Vec<OsString> = list.iter().map(OsString::from).collect();
    v.extend(extra.iter().map(|s| s.to_os_string()));
    v
}

fn accessed(db: &Path, name: &str) -> Value {
    let out = kaudit(args(
        &["accessed", "--format", "json", "--scenario", name, "--db"],
        &[db.as_os_str()],
    ));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn runs(db: &Path) -> Vec<Value> {
    let out = kaudit(args(
        &["runs", "--format", "json", "--db"],
        &[db.as_os_str()],
    ));
    assert_eq!(out.status.code(), Some(0));
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// Every access (path, kind) under `dir`, with the process.
fn under(v: &Value, dir: &Path) -> Vec<(String, String, String)> {
    let d = format!("{}/", dir.display());
    let mut out: Vec<(String, String, String)> = v["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["path"].as_str().is_some_and(|p| p.starts_with(&d)))
        .filter(|a| a["kind"] != "in-use-at-start")
        .map(|a| {
            (
                a["path"].as_str().unwrap()[d.len()..].to_string(),
                a["kind"].as_str().unwrap().to_string(),
                a["comm"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn trace_records_exactly_what_a_program_opens_maps_dlopens_writes_and_runs() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("fx");
    std::fs::create_dir(&dir).unwrap();
    let bin = t.path().join("tracee");
    compile_fixture("tracee.c", &bin, &["-ldl"]);
    compile_fixture("plugin.c", &dir.join("libplugin.so"), &["-shared", "-fPIC"]);
    std::fs::write(dir.join("data.txt"), "data").unwrap();
    std::fs::write(dir.join("mapped.bin"), vec![b'M'; 8192]).unwrap();
    std::fs::write(dir.join("untouched.txt"), "never opened").unwrap();
    // sleeps 0.3 s: long enough to be attributed by name while it runs
    std::fs::copy("/bin/sleep", dir.join("helper")).unwrap();
    let db = t.path().join("t.db");

    let out = kaudit(args(
        &["trace", "--name", "fixture", "--db"],
        &[
            db.as_os_str(),
            "--".as_ref(),
            bin.as_os_str(),
            dir.as_os_str(),
        ],
    ));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = accessed(&db, "fixture");
    let got = under(&v, &dir);
    let want: Vec<(String, String, String)> = [
        ("data.txt", "open", "tracee"),
        ("helper", "exec", "tracee"),
        ("helper", "open", "tracee"),
        ("libplugin.so", "open", "tracee"),
        ("mapped.bin", "open", "tracee"),
        ("written.txt", "close-write", "tracee"),
        ("written.txt", "create", "tracee"),
        ("written.txt", "modify", "tracee"),
        ("written.txt", "open", "tracee"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    // the forked child runs helper: it may already be called helper when read
    let norm: Vec<(String, String, String)> = got
        .into_iter()
        .map(|(p, k, c)| (p, k, if c == "helper" { "tracee".into() } else { c }))
        .collect();
    assert_eq!(norm, want, "{v:#}");
    // the step (other processes on the node are traced too, so only the
    // fixture's own accesses are checked)
    let d = format!("{}/", dir.display());
    for a in v["accesses"].as_array().unwrap() {
        if a["path"].as_str().is_some_and(|p| p.starts_with(&d)) {
            assert_eq!(a["step"], "command", "{a}");
        }
    }
    let r = &runs(&db)[0];
    assert_eq!(r["status"], "passed");
    assert_eq!(r["complete"], true);
    // the program itself was executed, and found its libraries
    let exe = bin.to_string_lossy().into_owned();
    assert!(v["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["path"] == exe.as_str() && a["kind"] == "exec"));
    assert!(v["accesses"].as_array().unwrap().iter().any(|a| a["path"]
        .as_str()
        .is_some_and(|p| p.ends_with("/libc.so.6"))
        && a["kind"] == "open"));
}

fn running_with_arg(marker: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(c) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            if c.split(|b| *b == 0).any(|w| w == marker.as_bytes()) {
                out.push(pid);
            }
        }
    }
    out
}

#[test]
fn a_daemon_left_behind_is_recorded_then_killed() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("t.db");
    let marker = "4242.125";
    let out = kaudit(args(
        &["trace", "--name", "daemon", "--db"],
        &[
            db.as_os_str(),
            "--".as_ref(),
            "/bin/sh".as_ref(),
            "-c".as_ref(),
            format!("/bin/sleep {marker} & sleep 0.3; echo started").as_ref(),
        ],
    ));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("leftover"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        running_with_arg(marker).is_empty(),
        "the daemon is still running"
    );
    let v = accessed(&db, "daemon");
    let sleep = std::fs::canonicalize("/bin/sleep").unwrap();
    assert!(v["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["path"] == sleep.to_string_lossy().as_ref() && a["kind"] == "exec"));
}

#[test]
fn queue_overflow_is_reported_and_marks_the_run_incomplete() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let t = tempfile::tempdir().unwrap();
    let many = t.path().join("many");
    std::fs::create_dir(&many).unwrap();
    for i in 0..20_000 {
        std::fs::write(many.join(format!("f{i}")), "x").unwrap();
    }
    let db = t.path().join("t.db");
    let cmd = format!(
        "find {} -type f -exec cat {{}} + >/dev/null",
        many.display()
    );
    let base = [
        "trace",
        "--name",
        "overflow",
        "--test-bounded-queue",
        "--test-reader-delay-ms",
        // long enough for the whole workload to queue its events even on a
        // busy machine: the bounded queue (16384) must overflow
        "8000",
    ];
    let run = |extra: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(extra);
        a.extend_from_slice(&["--db"]);
        kaudit(args(
            &a,
            &[
                db.as_os_str(),
                "--".as_ref(),
                "/bin/sh".as_ref(),
                "-c".as_ref(),
                cmd.as_ref(),
            ],
        ))
    };
    let out = run(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("event-overflow"), "{err}");
    let out = run(&["--allow-loss"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rs = runs(&db);
    assert_eq!(rs.len(), 2);
    for r in rs {
        assert_eq!(r["complete"], false, "{r}");
        assert!(
            r["lost"].as_str().is_some_and(|l| l.contains("overflow")),
            "{r}"
        );
    }
    // the same workload with the normal (unlimited) queue loses nothing
    let out = kaudit(args(
        &[
            "trace",
            "--name",
            "nooverflow",
            "--test-reader-delay-ms",
            "3000",
            "--db",
        ],
        &[
            db.as_os_str(),
            "--".as_ref(),
            "/bin/sh".as_ref(),
            "-c".as_ref(),
            cmd.as_ref(),
        ],
    ));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = accessed(&db, "nooverflow");
    assert_eq!(
        under(&v, &many).iter().filter(|a| a.1 == "open").count(),
        20_000
    );
}

#[test]
fn sigint_mid_run_commits_an_interrupted_run() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let t = tempfile::tempdir().unwrap();
    let db: PathBuf = t.path().join("t.db");
    let child = Command::new(env!("CARGO_BIN_EXE_kaudit"))
        .args(["trace", "--name", "interrupted", "--db"])
        .arg(&db)
        .args(["--", "/bin/sleep", "30"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = &runs(&db)[0];
    assert_eq!(r["status"], "interrupted", "{r}");
    let v = accessed(&db, "interrupted");
    let sleep = std::fs::canonicalize("/bin/sleep").unwrap();
    assert!(
        v["accesses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["path"] == sleep.to_string_lossy().as_ref() && a["kind"] == "exec"),
        "{v:#}"
    );
}

/// Paths `strace -f -y` shows as successfully opened (the returned fd's path)
/// or executed, on files: `O_PATH` opens (no content access, not reported by
/// fanotify), pseudo filesystems (/proc, /sys, pipes, sockets) and device
/// nodes under /dev (this kernel reports no open events for them; an image
/// gets them from devtmpfs at boot, not from its files) left out.
fn strace_opened(log: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for line in log.lines() {
        let call = line.split_once(' ').map_or(line, |(_, c)| c).trim_start();
        if call.starts_with("execve(") {
            if line.contains(" = 0") {
                if let Some(p) = call.split('"').nth(1) {
                    if let Ok(c) = std::fs::canonicalize(p) {
                        out.insert(c.to_string_lossy().into_owned());
                    }
                }
            }
            continue;
        }
        if !(call.starts_with("openat(") || call.starts_with("open(")) || call.contains("O_PATH") {
            continue;
        }
        // ... = 3</resolved/path>
        let Some((_, ret)) = line.rsplit_once(" = ") else {
            continue;
        };
        let Some(start) = ret.find('<') else { continue };
        let Some(end) = ret.rfind('>') else { continue };
        let p = &ret[start + 1..end];
        if p.starts_with('/')
            && !p.starts_with("/proc/")
            && !p.starts_with("/sys/")
            && !p.starts_with("/dev/")
        {
            out.insert(p.to_string());
        }
    }
    out
}

#[test]
fn strace_is_the_oracle_every_file_it_sees_opened_or_executed_is_traced() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("t.db");
    let log = t.path().join("strace.log");
    let work = t.path().join("work");
    std::fs::create_dir(&work).unwrap();
    std::fs::write(work.join("in.txt"), "b\na\nc\n").unwrap();
    // a multi-process workload: pipes, subshells, programs found through PATH
    let script = format!(
        "cd {w} && sort in.txt | uniq -c > out.txt && cat out.txt | grep -c a >/dev/null; \
         ls -l /usr/share/doc | head -3 >/dev/null; tar -cf ar.tar in.txt out.txt && tar -tf ar.tar >/dev/null; \
         (date; uname -a; id) > info.txt; gzip -k info.txt; env | wc -l >/dev/null",
        w = work.display()
    );
    let out = kaudit(args(
        &["trace", "--name", "oracle", "--db"],
        &[
            db.as_os_str(),
            "--".as_ref(),
            "/usr/bin/strace".as_ref(),
            "-f".as_ref(),
            "-y".as_ref(),
            "-qq".as_ref(),
            "-e".as_ref(),
            "trace=open,openat,execve".as_ref(),
            "-o".as_ref(),
            log.as_os_str(),
            "/bin/sh".as_ref(),
            "-c".as_ref(),
            script.as_ref(),
        ],
    ));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = strace_opened(&std::fs::read_to_string(&log).unwrap());
    assert!(want.len() > 30, "strace saw too little: {want:?}");
    let v = accessed(&db, "oracle");
    let got: std::collections::BTreeSet<String> = v["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| matches!(a["kind"].as_str(), Some("open" | "opendir" | "exec")))
        .filter_map(|a| a["path"].as_str().map(str::to_string))
        .collect();
    let missing: Vec<&String> = want.difference(&got).collect();
    assert!(
        missing.is_empty(),
        "{} of {} files strace saw are missing: {missing:#?}",
        missing.len(),
        want.len()
    );
}

#[test]
fn a_scenario_runs_its_steps_daemon_and_cleanup_and_records_each_step() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("t.db");
    let work = t.path().join("w");
    std::fs::create_dir(&work).unwrap();
    std::fs::write(work.join("conf.txt"), "greeting=hello\n").unwrap();
    let sc = t.path().join("demo.toml");
    std::fs::write(
        &sc,
        format!(
            r#"
description = "a daemon, a step that reads its config, a cleanup"
[params]
DIR = {{ default = "{dir}" }}
WHO = {{ required = true, description = "who to greet" }}
[env]
GREETING_FILE = "${{DIR}}/conf.txt"
[[step]]
name = "daemon"
daemon = "/bin/sh -c 'touch ${{DIR}}/ready; exec /bin/sleep 4242.25'"
ready = {{ path = "${{DIR}}/ready" }}
timeout = "10s"
[[step]]
name = "greet"
run = "grep -q greeting= \"$GREETING_FILE\" && echo hello ${{WHO}}"
expect = {{ exit = 0, stdout_contains = "hello kubelet" }}
timeout = "10s"
[[cleanup]]
name = "tidy"
run = "rm -f ${{DIR}}/ready"
"#,
            dir = work.display()
        ),
    )
    .unwrap();
    let scp = sc.to_string_lossy().into_owned();

    // a missing required parameter: refused before anything runs
    let out = kaudit(args(
        &["trace", "--scenario", &scp, "--db"],
        &[db.as_os_str()],
    ));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WHO"));
    assert!(!db.exists() || runs(&db).is_empty(), "a run was recorded");

    let out = kaudit(args(
        &[
            "trace",
            "--scenario",
            &scp,
            "--param",
            "WHO=kubelet",
            "--db",
        ],
        &[db.as_os_str()],
    ));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("ok   greet"), "{err}");
    assert!(
        running_with_arg("4242.25").is_empty(),
        "the daemon is still running"
    );
    assert!(!work.join("ready").exists(), "cleanup did not run");
    let v = accessed(&db, "demo");
    let step_of = |path: &Path, kind: &str| -> Option<String> {
        v["accesses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["path"] == path.to_string_lossy().as_ref() && a["kind"] == kind)
            .map(|a| a["step"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(
        step_of(&work.join("conf.txt"), "open").as_deref(),
        Some("greet"),
        "{v:#}"
    );
    assert_eq!(
        step_of(&work.join("ready"), "create").as_deref(),
        Some("daemon")
    );
    assert_eq!(
        step_of(&work.join("ready"), "delete").as_deref(),
        Some("tidy")
    );
    assert_eq!(runs(&db)[0]["status"], "passed");

    // an unmet expectation fails the run, still cleans up, exit 1
    let out = kaudit(args(
        &["trace", "--scenario", &scp, "--param", "WHO=nobody", "--db"],
        &[db.as_os_str()],
    ));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("FAIL greet") && err.contains("hello kubelet"),
        "{err}"
    );
    assert!(
        running_with_arg("4242.25").is_empty(),
        "the daemon is still running"
    );
    assert_eq!(runs(&db)[1]["status"], "failed");
}

#[test]
fn trace_with_root_runs_inside_it_and_records_paths_inside_it() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let root = crate::support::FixtureRoot::glibc(crate::support::Layout::UsrMerged);
    root.install(Path::new("/bin/dash"), "/usr/bin/sh");
    root.install(&std::fs::canonicalize("/bin/cat").unwrap(), "/usr/bin/cat");
    root.write("/etc/greeting", "hello from inside\n");
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("t.db");
    let out = kaudit(args(
        &["trace", "--name", "inroot", "--root"],
        &[
            root.path().as_os_str(),
            "--db".as_ref(),
            db.as_os_str(),
            "--".as_ref(),
            "/bin/sh".as_ref(),
            "-c".as_ref(),
            "cat /etc/greeting".as_ref(),
        ],
    ));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from inside\n");
    let v = accessed(&db, "inroot");
    let all: Vec<(String, String)> = v["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["path"].as_str().unwrap_or("").to_string(),
                a["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for want in [
        ("/etc/greeting", "open"),
        ("/usr/bin/cat", "exec"),
        ("/usr/bin/sh", "exec"),
    ] {
        assert!(
            all.iter().any(|(p, k)| p == want.0 && k == want.1),
            "{want:?} missing: {all:#?}"
        );
    }
    let host = root.path().to_string_lossy().into_owned();
    assert!(
        all.iter().all(|(p, _)| !p.starts_with(&host)),
        "host paths recorded: {all:#?}"
    );
    // the host's mount table is untouched
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mi.contains(&host),
        "a mount of the root leaked to the host"
    );
}

/// A harness step runs here with the machine's tools, the root at
/// `$KAUDIT_ROOT`: neither what it reads in the root nor the node's own
/// programs it runs there are recorded, while the workload step's are.
#[test]
fn a_harness_steps_accesses_and_names_are_not_the_nodes() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let root = crate::support::FixtureRoot::glibc(crate::support::Layout::UsrMerged);
    root.install(Path::new("/bin/dash"), "/usr/bin/sh");
    root.install(&std::fs::canonicalize("/bin/cat").unwrap(), "/usr/bin/cat");
    root.install(
        &std::fs::canonicalize("/bin/true").unwrap(),
        "/usr/bin/true",
    );
    root.write("/etc/greeting", "hello from inside\n");
    root.write("/etc/harness-only", "read by the harness\n");
    root.write("/etc/checked", "checked by the harness\n");
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("scenarios");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("h.toml"),
        r#"description = "a workload between harness steps"
[[step]]
name = "prepare"
harness = true
run = "test -n \"$KAUDIT_ROOT\" && test \"$KAUDIT_ROOT\" != / && chroot \"$KAUDIT_ROOT\" /usr/bin/cat /etc/harness-only && chroot \"$KAUDIT_ROOT\" /usr/bin/true"
expect = { stdout_contains = "read by the harness" }
[[step]]
name = "work"
run = "cat /etc/greeting"
expect = { stdout_contains = "hello from inside" }
[[step]]
name = "check"
harness = true
run = "cat \"$KAUDIT_ROOT/etc/checked\""
"#,
    )
    .unwrap();
    let db = t.path().join("t.db");
    let out = kaudit(args(
        &["trace", "--scenario", "h", "--root"],
        &[
            root.path().as_os_str(),
            "--scenarios".as_ref(),
            dir.as_os_str(),
            "--db".as_ref(),
            db.as_os_str(),
        ],
    ));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = accessed(&db, "h");
    let all: Vec<(String, String, String)> = v["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["path"].as_str().unwrap_or("").to_string(),
                a["kind"].as_str().unwrap().to_string(),
                a["step"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        all.iter()
            .any(|(p, k, s)| p == "/etc/greeting" && k == "open" && s == "work"),
        "the workload's read is missing: {all:#?}"
    );
    for p in ["/etc/harness-only", "/etc/checked", "/usr/bin/true"] {
        assert!(
            !all.iter().any(|(q, _, _)| q == p),
            "{p} was recorded, though only a harness step used it: {all:#?}"
        );
    }
    // (what any process of the machine does in the root's /dev, a bind
    // mount of the machine's, is recorded whatever the step)
    assert!(
        all.iter()
            .filter(|(p, _, _)| p.starts_with("/etc") || p.starts_with("/usr"))
            .all(|(_, _, s)| s != "prepare" && s != "check"),
        "an access is attributed to a harness step: {all:#?}"
    );
    let text = crate::support::names_of(&db, "h").to_string();
    assert!(text.contains("/etc/greeting"), "{text}");
    assert!(
        !text.contains("harness-only") && !text.contains("/usr/bin/true"),
        "a harness step's names were recorded: {text}"
    );
}

/// A trace killed with SIGKILL keeps what it stored; the next trace clears
/// its control group and settles its run as `interrupted`.
#[test]
fn sigkill_mid_run_leaves_an_incomplete_run_with_what_was_flushed() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let t = tempfile::tempdir().unwrap();
    let db: PathBuf = t.path().join("t.db");
    let marker = "4343.5";
    let child = Command::new(env!("CARGO_BIN_EXE_kaudit"))
        .args(["trace", "--name", "killed", "--db"])
        .arg(&db)
        .args([
            "--",
            "/bin/sh",
            "-c",
            &format!("cat /etc/hostname >/dev/null; exec /bin/sleep {marker}"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // at least one batch is stored every 2 s
    std::thread::sleep(Duration::from_millis(4500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let killed_pid = child.id();
    let _ = child.wait_with_output();
    // the killed trace left its sleep in its group: the next trace clears it
    let left = running_with_arg(marker);
    let next = kaudit(args(
        &["trace", "--name", "next", "--no-names", "--db"],
        &[db.as_os_str(), "--".as_ref(), "/bin/true".as_ref()],
    ));
    let still = running_with_arg(marker);
    for pid in &still {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let err = String::from_utf8_lossy(&next.stderr);
    assert_eq!(left.len(), 1, "the killed trace's sleep: {left:?}");
    assert!(still.is_empty(), "{err}");
    assert!(
        err.contains(&format!(
            "removed kaudit-{killed_pid}, the group of an earlier trace that was killed (1 process(es) it left behind killed)"
        )),
        "{err}"
    );
    // and settles the killed run, saying so (it used to stay `running`)
    let all = runs(&db);
    let r = all.iter().find(|r| r["name"] == "killed").unwrap();
    assert_eq!(r["status"], "interrupted", "{r}");
    assert_eq!(r["complete"], false, "{r}");
    assert!(
        r["lost"].as_str().is_some_and(|l| l.contains(&format!(
            "kaudit (pid {killed_pid}) ended before it finished the run"
        ))),
        "{r}"
    );
    assert!(
        err.contains(&format!(
            "run {} \"killed\" was left running by a trace that was killed: settled as interrupted and incomplete",
            r["id"]
        )),
        "{err}"
    );
    let v = accessed(&db, "killed");
    assert!(
        v["accesses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["path"] == "/etc/hostname" && a["kind"] == "open"),
        "the accesses recorded before the kill were not stored: {v:#}"
    );
}

#[test]
fn processes_that_escaped_their_step_are_reaped_also_when_a_step_times_out() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("t.db");
    let sc = t.path().join("escape.toml");
    let (m1, m2) = ("4243.125", "4244.125");
    std::fs::write(
        &sc,
        format!(
            r#"description = "leaves a double-forked daemon in a session of its own, then times out"
[[step]]
name = "escape"
run = "setsid /bin/sh -c '/bin/sleep {m1} &' ; true"
[[step]]
name = "hang"
run = "/bin/sleep {m2}"
timeout = "1s"
"#
        ),
    )
    .unwrap();
    let out = kaudit(args(
        &["trace", "--scenario"],
        &[sc.as_os_str(), "--db".as_ref(), db.as_os_str()],
    ));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("FAIL hang"), "{err}");
    assert!(err.contains("leftover"), "{err}");
    assert!(
        running_with_arg(m1).is_empty(),
        "the escaped daemon is still running"
    );
    assert!(
        running_with_arg(m2).is_empty(),
        "the timed-out step is still running"
    );
}

/// Where the cgroup v2 hierarchy is mounted.
fn cgroup2_mount() -> PathBuf {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = info
        .lines()
        .find(|l| l.contains(" - cgroup2 "))
        .expect("these tests need a cgroup v2 hierarchy mounted");
    PathBuf::from(line.split(' ').nth(4).unwrap())
}

#[test]
fn every_process_a_run_starts_is_born_in_its_own_control_group_and_killed_at_the_end() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("t.db");
    let seen = t.path().join("cgroup");
    // another group, as a container runtime makes for its containers
    let other = cgroup2_mount().join(format!("kaudit-test-other-{}", std::process::id()));
    std::fs::create_dir(&other).unwrap();
    // removed also when the test fails (once its process is gone)
    struct Removed(PathBuf);
    impl Drop for Removed {
        fn drop(&mut self) {
            let procs = std::fs::read_to_string(self.0.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|p| p.parse::<i32>().ok()) {
                if pid > 0 {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(100));
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _removed = Removed(other.clone());
    // cgroup.kill at once; then process by process, as on kernels before 5.14
    for extra in [&[][..], &["--test-kill-one-by-one"][..]] {
        let script = format!(
            "cat /proc/self/cgroup > {seen}\n\
             (for i in $(seq 1 200); do /bin/sleep 4242.301 & done; wait) &\n\
             /bin/sh -c 'echo $$ > {other}/cgroup.procs; exec /bin/sleep 4242.302' &\n\
             sleep 0.5\n",
            seen = seen.display(),
            other = other.display()
        );
        let out = kaudit(args(
            &[
                &["trace", "--name", "contained", "--no-names"][..],
                extra,
                &["--db"],
            ]
            .concat(),
            &[
                db.as_os_str(),
                "--".as_ref(),
                "/bin/sh".as_ref(),
                "-c".as_ref(),
                script.as_ref(),
            ],
        ));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{err}");
        // the command ran in a group of the run's own
        let group = std::fs::read_to_string(&seen).unwrap();
        let group = group
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .unwrap()
            .to_string();
        let name = group.rsplit('/').next().unwrap();
        assert!(
            name.starts_with("kaudit-") && name[7..].parse::<u32>().is_ok(),
            "{group}"
        );
        // everything it left is gone: in the group, and moved out of it
        for marker in ["4242.301", "4242.302"] {
            assert!(
                running_with_arg(marker).is_empty(),
                "{marker} still running; {err}"
            );
        }
        let killed: usize = err
            .lines()
            .find_map(|l| l.strip_suffix(" leftover process(es) killed"))
            .and_then(|l| l.rsplit("; ").next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count of killed processes: {err}"));
        assert!(killed >= 202, "{killed} killed: {err}");
        assert_eq!(
            err.contains("killed process by process"),
            !extra.is_empty(),
            "{err}"
        );
        // and the group itself is removed; the other one is empty
        assert!(
            !cgroup2_mount().join(group.trim_start_matches('/')).exists(),
            "{group} left behind"
        );
        assert_eq!(
            std::fs::read_to_string(other.join("cgroup.procs")).unwrap(),
            "",
            "the process that moved to another group was killed"
        );
    }
}

#[test]
fn without_a_cgroup_v2_hierarchy_the_run_goes_on_and_its_leftovers_are_killed_through_the_process_tree(
) {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("t.db");
    // without the cgroup v2 hierarchy kaudit finds none, and says so
    let out = crate::support::kaudit_without_mounts(
        "cgroup2",
        &format!(
            "trace --name uncontained --no-names --db {} -- /bin/sh -c \
             '(for i in $(seq 1 50); do /bin/sleep 4242.401 & done; wait) & sleep 0.3'",
            db.display()
        ),
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(
            "no control group for the run (no cgroup v2 hierarchy is mounted): processes left behind are found through the process tree only"
        ),
        "{err}"
    );
    // the double-forked sleeps were found through the process tree (kaudit
    // is their subreaper) and killed
    assert!(running_with_arg("4242.401").is_empty(), "{err}");
    let killed: usize = err
        .lines()
        .find_map(|l| l.strip_suffix(" leftover process(es) killed"))
        .and_then(|l| l.rsplit("; ").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of killed processes: {err}"));
    assert!(killed >= 50, "{killed} killed: {err}");
    // and the host's hierarchy was not touched
    assert!(cgroup2_mount().join("cgroup.procs").exists());
}

/// A directory `files` in `dir` holding the files `early` and `late`.
fn early_and_late(dir: &Path) -> PathBuf {
    let files = dir.join("files");
    std::fs::create_dir(&files).unwrap();
    for f in ["early", "late"] {
        std::fs::write(files.join(f), f).unwrap();
    }
    files
}

/// The files of `dir` a run opened, by name, with their counts.
fn opens_in(v: &Value, dir: &Path) -> Vec<(String, u64)> {
    let d = format!("{}/", dir.display());
    v["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "open")
        .filter_map(|a| {
            let rest = a["path"].as_str()?.strip_prefix(&d)?;
            Some((rest.to_string(), a["count"].as_u64().unwrap()))
        })
        .collect()
}

#[test]
fn accesses_stored_while_the_run_goes_on_end_with_their_final_counts_and_later_ones_are_stored_too()
{
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let t = tempfile::tempdir().unwrap();
    let db: PathBuf = t.path().join("t.db");
    let dir = early_and_late(t.path());
    let d = dir.display();
    // `early` is opened before the first batch is stored (every 2 s) and
    // twice after it; `late` only after it. --all-events: exact counts.
    let script = format!(
        "cat {d}/early >/dev/null; sleep 2.6; cat {d}/early >/dev/null; cat {d}/early >/dev/null; cat {d}/late >/dev/null"
    );
    let out = kaudit(args(
        &[
            "trace",
            "--name",
            "counts",
            "--all-events",
            "--no-names",
            "--db",
        ],
        &[
            db.as_os_str(),
            "--".as_ref(),
            "/bin/sh".as_ref(),
            "-c".as_ref(),
            script.as_ref(),
        ],
    ));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("storing accesses"), "{err}");
    let v = accessed(&db, "counts");
    assert_eq!(
        opens_in(&v, &dir),
        vec![("early".to_string(), 3), ("late".to_string(), 1)],
        "{v:#}"
    );
}

#[test]
fn a_batch_the_locked_database_refused_is_stored_with_the_next_while_the_run_goes_on() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let t = tempfile::tempdir().unwrap();
    let db: PathBuf = t.path().join("t.db");
    let dir = early_and_late(t.path());
    let d = dir.display();
    let (started, locked) = (t.path().join("started"), t.path().join("locked"));
    // `early` is opened once the database is locked, so the batch that
    // holds it comes while the lock is held
    let script = format!(
        "touch {}; while [ ! -e {} ]; do sleep 0.05; done; cat {d}/early >/dev/null; sleep 14; cat {d}/late >/dev/null",
        started.display(),
        locked.display()
    );
    let child = Command::new(env!("CARGO_BIN_EXE_kaudit"))
        .args(["trace", "--name", "locked", "--no-names", "--db"])
        .arg(&db)
        .args(["--", "/bin/sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // once the command runs (kaudit's own writes before it are done),
    // another writer holds the database for 8 s: the next batch is tried
    // within 2 s and gives up after the tracer's busy timeout (5 s), and
    // the one after it (2 s later) stores it
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !started.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the command never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut other = rusqlite::Connection::open(&db).unwrap();
    let tx = other
        .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
        .unwrap();
    std::fs::write(&locked, "").unwrap();
    std::thread::sleep(Duration::from_millis(8000));
    tx.commit().unwrap();
    // the refused batch is tried again within 2 s of the last try, while
    // the command still sleeps: `early` is stored before the run ends
    std::thread::sleep(Duration::from_millis(3000));
    let mid = accessed(&db, "locked");
    let stored: Vec<String> = opens_in(&mid, &dir).into_iter().map(|(f, _)| f).collect();
    assert_eq!(stored, ["early"], "{mid:#}");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("storing accesses of run") && err.contains("tried again with the next batch"),
        "the first batch was expected to fail while the database was locked: {err}"
    );
    let v = accessed(&db, "locked");
    let stored: Vec<String> = opens_in(&v, &dir).into_iter().map(|(f, _)| f).collect();
    assert_eq!(stored, ["early", "late"], "{v:#}");
    let r = runs(&db);
    assert_eq!(r[0]["status"], "passed", "{r:?}");
    assert_eq!(r[0]["complete"], true, "{r:?}");
}

/// The graph stays locked past the busy timeout when a run ends: the run's
/// end (its accesses, names and status) used to be lost, the run left
/// `running` for good. It is kept in a file beside the graph, named in the
/// error, and the next kaudit that writes the graph stores it.
#[test]
fn a_run_that_ends_while_the_graph_is_locked_is_kept_beside_it_and_stored_later() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let t = tempfile::tempdir().unwrap();
    let db: PathBuf = t.path().join("t.db");
    let dir = early_and_late(t.path());
    let (started, locked) = (t.path().join("started"), t.path().join("locked"));
    let script = format!(
        "touch {}; while [ ! -e {} ]; do sleep 0.05; done; cat {}/early >/dev/null",
        started.display(),
        locked.display(),
        dir.display()
    );
    let child = Command::new(env!("CARGO_BIN_EXE_kaudit"))
        .args(["trace", "--name", "locked-end", "--no-names", "--db"])
        .arg(&db)
        .args(["--", "/bin/sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !started.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the command never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // another writer holds the graph from before the command's access
    // until kaudit has given up on it
    let mut other = rusqlite::Connection::open(&db).unwrap();
    let tx = other
        .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
        .unwrap();
    std::fs::write(&locked, "").unwrap();
    let out = child.wait_with_output().unwrap();
    tx.commit().unwrap();
    drop(other);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let kept = PathBuf::from(format!("{}.run-1.pending", db.display()));
    assert!(
        err.contains("run 1 could not be stored")
            && err.contains(&kept.display().to_string())
            && err.contains("stored by the next kaudit that writes the graph"),
        "{err}"
    );
    assert!(kept.exists(), "{err}");

    // the next trace stores it before its own run
    let out = kaudit(args(
        &["trace", "--name", "after", "--no-names", "--db"],
        &[db.as_os_str(), "--".as_ref(), "/bin/true".as_ref()],
    ));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("the end of run 1"), "{err}");
    assert!(!kept.exists());
    let v = accessed(&db, "locked-end");
    let stored: Vec<String> = opens_in(&v, &dir).into_iter().map(|(f, _)| f).collect();
    assert_eq!(stored, ["early"], "{v:#}");
    let r = runs(&db);
    let run = r.iter().find(|r| r["name"] == "locked-end").unwrap();
    assert_eq!(run["status"], "passed", "{r:?}");
    assert!(run["events"].as_i64().unwrap() > 0, "{r:?}");
}
