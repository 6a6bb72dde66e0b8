//! Names: strace is the oracle. A shell script runs commands by name (a
//! PATH search: failed probes, then the hit), follows the `/etc/alternatives`
//! links of `awk`, reads `/etc/localtime`, changes directory and uses
//! relative names, and probes a missing file. Every path `strace -f` shows
//! passed to the calls kaudit captures, with its result, must be among the
//! names kaudit recorded: 0 missing. The chains of symlinks walked are
//! checked against the host's own links.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde_json::Value;

use crate::support::{kaudit, names_of, require_root};

/// The calls the name capture records.
const CALLS: &[&str] = &[
    "execve",
    "execveat",
    "open",
    "openat",
    "openat2",
    "stat",
    "lstat",
    "newfstatat",
    "statx",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
    "chdir",
];

/// Remove `.` components and doubled slashes, as kaudit does.
fn normalize(p: &str) -> String {
    let parts: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// The first quoted string of an argument list, unescaped for the simple
/// names of this workload.
fn first_quoted(args: &str) -> Option<(usize, String)> {
    let start = args.find('"')?;
    let end = start + 1 + args[start + 1..].find('"')?;
    Some((start, args[start + 1..end].to_string()))
}

/// (path, call, result) for every capture-relevant call in an `strace -f -y`
/// log, relative names made absolute by following each process's working
/// directory (inherited over fork/clone, changed by a successful chdir).
fn strace_names(log: &str, start_cwd: &str) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    let mut cwd: HashMap<String, String> = HashMap::new();
    let mut unfinished: HashMap<String, String> = HashMap::new();
    // a vfork child runs before its parent's call returns with its pid: a
    // process seen first inherits from the last one that started a fork
    let mut last_forker: Option<String> = None;
    for line in log.lines() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let pid = pid.to_string();
        let rest = rest.trim_start();
        if !cwd.contains_key(&pid) {
            let inherited = last_forker
                .as_ref()
                .and_then(|f| cwd.get(f).cloned())
                .unwrap_or_else(|| start_cwd.to_string());
            cwd.insert(pid.clone(), inherited);
        }
        // join "<unfinished ...>" with its "<... call resumed>"
        let full = if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            if ["clone(", "clone3(", "fork(", "vfork("]
                .iter()
                .any(|c| head.starts_with(c))
            {
                last_forker = Some(pid.clone());
            }
            unfinished.insert(pid.clone(), head.to_string());
            continue;
        } else if let Some((head, changed)) = rest.split_once(" <pid changed to ") {
            // an execve by a thread that is not the leader: it resumes
            // under the leader's pid
            let leader = changed.trim_end_matches(" ...>").to_string();
            unfinished.insert(leader, head.to_string());
            continue;
        } else if let Some(tail) = rest.strip_prefix("<... ") {
            let Some(head) = unfinished.remove(&pid) else {
                continue;
            };
            let Some((_, after)) = tail.split_once(" resumed>") else {
                continue;
            };
            format!("{head}{after}")
        } else {
            rest.to_string()
        };
        let Some(paren) = full.find('(') else {
            continue;
        };
        let call = full[..paren].to_string();
        // `) = RESULT`, strace padding short lines with spaces before the `=`
        let Some(eq) = full.rfind(" = ") else {
            continue;
        };
        let Some(args) = full[..eq].trim_end().strip_suffix(')') else {
            continue;
        };
        let Some(args) = args.get(paren + 1..) else {
            continue;
        };
        let ret = full[eq + 3..].trim();
        let ok = !ret.starts_with('-');
        let result = if ok {
            "ok".to_string()
        } else {
            ret.split_whitespace().nth(1).unwrap_or("?").to_string()
        };
        let here = cwd
            .get(&pid)
            .cloned()
            .unwrap_or_else(|| start_cwd.to_string());
        if matches!(call.as_str(), "clone" | "clone3" | "fork" | "vfork") && ok {
            let child = ret.split_whitespace().next().unwrap_or("").to_string();
            cwd.entry(child).or_insert_with(|| here.clone());
            continue;
        }
        // a 32-bit program's calls are recorded as the 64-bit call of the
        // same meaning
        let call = match call.as_str() {
            "stat64" | "oldstat" => "stat".to_string(),
            "lstat64" | "oldlstat" => "lstat".to_string(),
            "fstatat64" => "newfstatat".to_string(),
            _ => call,
        };
        if !CALLS.contains(&call.as_str()) {
            continue;
        }
        let Some((at, name)) = first_quoted(args) else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        let abs = if name.starts_with('/') {
            name.clone()
        } else if let Some(d) = args[..at]
            .rsplit_once('<')
            .and_then(|(_, d)| d.split_once('>'))
            .map(|(d, _)| d.to_string())
        {
            // -y: the directory descriptor's path (AT_FDCWD's too)
            format!("{d}/{name}")
        } else {
            format!("{here}/{name}")
        };
        let abs = normalize(&abs);
        if call == "chdir" && ok {
            cwd.insert(pid.clone(), abs.clone());
        }
        out.insert((abs, call, result));
    }
    out
}

/// Run `command` under `strace -f -y` (its log in `log`) inside `kaudit
/// trace --name NAME` (with `options`); the trace's output, and the (path,
/// call, result) names strace saw.
fn trace_under_strace(
    db: &Path,
    name: &str,
    options: &[&str],
    log: &Path,
    command: &[&std::ffi::OsStr],
) -> (std::process::Output, BTreeSet<(String, String, String)>) {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "trace".as_ref(),
        "--name".as_ref(),
        name.as_ref(),
        "--db".as_ref(),
        db.as_os_str(),
    ];
    args.extend(options.iter().map(std::ffi::OsStr::new));
    args.extend::<[&std::ffi::OsStr; 11]>([
        "--".as_ref(),
        "strace".as_ref(),
        "-f".as_ref(),
        "-qq".as_ref(),
        "-y".as_ref(),
        "-s".as_ref(),
        "4096".as_ref(),
        "-e".as_ref(),
        "trace=%file,%process".as_ref(),
        "-o".as_ref(),
        log.as_os_str(),
    ]);
    args.extend_from_slice(command);
    let out = kaudit(args);
    assert_eq!(out.status.code(), Some(0), "{}", crate::support::show(&out));
    let cwd = std::env::current_dir().unwrap();
    let want = strace_names(
        &std::fs::read_to_string(log).unwrap(),
        &cwd.to_string_lossy(),
    );
    (out, want)
}

/// The names of run `name`, checked against strace's: the run's names are
/// complete (or partial only for relative names of processes of the node
/// that were gone), and none that strace saw is missing.
fn assert_none_missing(db: &Path, name: &str, want: &BTreeSet<(String, String, String)>) -> Value {
    let v = names_of(db, name);
    let status = v["names"].as_str().unwrap();
    assert!(
        status == "complete"
            || (status.starts_with("partial: ")
                // (with examples after it: `…, e.g. kaudit[PID] openat2 …`)
                && status.contains(
                    " relative name(s) could not be placed (the process or its directory was gone)",
                )
                && !status.contains(';')),
        "{status}"
    );
    let got: BTreeSet<(String, String, String)> = v["asked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["path"].as_str().unwrap().to_string(),
                n["call"].as_str().unwrap().to_string(),
                n["result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let missing: Vec<_> = want.difference(&got).collect();
    assert!(
        missing.is_empty(),
        "{} of {} names strace saw are missing: {missing:#?}",
        missing.len(),
        want.len()
    );
    v
}

/// The name `path` asked for by `call` with success.
fn found<'a>(asked: &'a [Value], path: &str, call: &str) -> &'a Value {
    asked
        .iter()
        .find(|n| n["path"] == path && n["call"] == call && n["result"] == "ok")
        .unwrap_or_else(|| panic!("{path} ({call}) not recorded"))
}

#[test]
fn strace_is_the_oracle_every_name_asked_for_is_recorded_with_its_result() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    assert!(
        Path::new("/etc/alternatives/awk").exists(),
        "this test needs Debian's awk alternative"
    );
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let db = dir.join("names.db");
    let log = dir.join("strace.log");
    let script = dir.join("work.sh");
    std::fs::write(
        &script,
        "cd /usr/share\n\
         awk 'BEGIN { print 1 }' >/dev/null\n\
         date >/dev/null\n\
         ls zoneinfo >/dev/null\n\
         ls ./zoneinfo/Etc/UTC >/dev/null\n\
         readlink /etc/localtime >/dev/null\n\
         test -e /nonexistent/kaudit-probe || true\n\
         cat /etc/hostname >/dev/null\n\
         cd zoneinfo && cat Etc/UTC >/dev/null\n",
    )
    .unwrap();
    // the per-call tracepoints (the default here), and the raw ones
    for (name, options, through) in [
        (
            "names",
            &[][..],
            "kaudit: names seen through the per-call system call tracepoints\n",
        ),
        (
            "names-raw",
            &["--names-raw"][..],
            "kaudit: names seen through the raw system call tracepoints (asked for with --names-raw)\n",
        ),
    ] {
        let (out, want) = trace_under_strace(
            &db,
            name,
            options,
            &log,
            &["/bin/sh".as_ref(), script.as_os_str()],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(through), "{stderr}");
        assert!(want.len() > 50, "strace saw too little: {want:?}");
        // names of other processes on the node (other tests) may be partial;
        // nothing but unplaced relative names may make them so
        let v = assert_none_missing(&db, name, &want);
        let asked = v["asked"].as_array().unwrap();

        // the workload's interesting names are there, with their chains
        let awk = found(asked, "/usr/bin/awk", "execve");
        let links: Vec<(&str, &str)> = awk["symlinks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h["link"].as_str().unwrap(), h["target"].as_str().unwrap()))
            .collect();
        assert_eq!(
            links,
            [
                ("/usr/bin/awk", "/etc/alternatives/awk"),
                (
                    "/etc/alternatives/awk",
                    std::fs::read_link("/etc/alternatives/awk")
                        .unwrap()
                        .to_str()
                        .unwrap()
                ),
            ]
        );
        let lt = found(asked, "/etc/localtime", "openat");
        assert_eq!(
            lt["resolved"],
            std::fs::canonicalize("/etc/localtime")
                .unwrap()
                .to_str()
                .unwrap()
        );
        // relative names, placed in the working directory of the moment
        found(asked, "/usr/share/zoneinfo", "statx");
        found(asked, "/usr/share/zoneinfo/Etc/UTC", "openat");
        // a failed probe
        assert!(asked
            .iter()
            .any(|n| n["path"] == "/nonexistent/kaudit-probe" && n["result"] == "ENOENT"));
        // readlink does not follow the last link
        let rl = found(asked, "/etc/localtime", "readlink");
        assert_eq!(rl["nofollow"], true);
        assert_eq!(rl["resolved"], "/etc/localtime");
    }

    // names off: none stored, and the run says so
    let out = kaudit([
        "trace".as_ref(),
        "--no-names".as_ref(),
        "--name".as_ref(),
        "off".as_ref(),
        "--db".as_ref(),
        db.as_os_str(),
        "--".as_ref(),
        "/bin/true".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v = names_of(&db, "off");
    assert!(v["names"].as_str().unwrap().starts_with("partial"));
    assert!(v["asked"].as_array().unwrap().is_empty());
}

#[test]
fn when_the_kernel_refuses_bpf_exec_names_come_from_proc_and_the_run_says_partial() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("fallback.db");
    // the real kernel refuses bpf(2) to this process (seccomp)
    let nobpf = t.path().join("nobpf");
    crate::support::compile_fixture("nobpf.c", &nobpf, &[]);
    let out = std::process::Command::new(&nobpf)
        .arg(env!("CARGO_BIN_EXE_kaudit"))
        .args(["trace", "--name", "fallback", "--db"])
        .arg(&db)
        // awk stays a while: the fallback reads it from /proc once its exec
        // completed, which a loaded machine may take time to get to
        .args(["--", "/bin/sh", "-c", "awk 'BEGIN { system(\"sleep 4\") }'"])
        .env_remove("KAUDIT_DB")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("names are partial: the kernel refused"),
        "{err}"
    );
    let v = names_of(&db, "fallback");
    assert!(v["names"]
        .as_str()
        .unwrap()
        .contains("exec names only, from /proc"));
    let asked = v["asked"].as_array().unwrap();
    // awk was run by name: found through PATH, with its alternatives chain
    let awk = asked
        .iter()
        .find(|n| n["path"] == "/usr/bin/awk" && n["call"] == "execve")
        .unwrap_or_else(|| panic!("awk not found: {v:#}"));
    assert_eq!(awk["symlinks"][0]["link"], "/usr/bin/awk");
    assert_eq!(awk["symlinks"][1]["link"], "/etc/alternatives/awk");
    // no probes without the capture
    assert!(asked.iter().all(|n| n["result"] == "ok"));
}

#[test]
fn a_32_bit_programs_names_are_read_from_the_ia32_registers_strace_is_the_oracle() {
    if !require_root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let prog = t.path().join("ia32");
    crate::support::compile_fixture("ia32.c", &prog, &["-m32"]);
    let db = t.path().join("ia32.db");
    let log = t.path().join("strace.log");
    let _turn = crate::support::tracing_turn();
    // by default the raw tracepoints are attached when the first 32-bit
    // program starts, which is held (stopped) until then; with
    // --names-raw they serve every call from the start
    for (name, options) in [("ia32", &[][..]), ("ia32-raw", &["--names-raw"][..])] {
        let (out, want) = trace_under_strace(&db, name, options, &log, &[prog.as_os_str()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let strace = std::fs::read_to_string(&log).unwrap();
        if options.is_empty() {
            assert_held(&stderr, &strace);
        } else {
            assert!(
                stderr.contains("through the raw system call tracepoints"),
                "{stderr}"
            );
            assert!(!strace.contains("SIGSTOP"), "{strace}");
        }
        ia32_names_are_all_there(&db, name, &out, &want);
    }
}

#[test]
fn a_32_bit_program_executed_by_a_thread_that_is_not_the_leader_is_held_and_its_names_read() {
    if !require_root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let ia32 = t.path().join("ia32");
    crate::support::compile_fixture("ia32.c", &ia32, &["-m32"]);
    let launcher = t.path().join("thread_exec");
    crate::support::compile_fixture("thread_exec.c", &launcher, &["-pthread"]);
    let db = t.path().join("thread.db");
    let log = t.path().join("strace.log");
    let _turn = crate::support::tracing_turn();
    let (out, want) = trace_under_strace(
        &db,
        "thread-exec",
        &[],
        &log,
        &[launcher.as_os_str(), ia32.as_os_str()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let strace = std::fs::read_to_string(&log).unwrap();
    // the execve was called by the second thread: strace shows the leader
    // superseded by it
    assert!(strace.contains("superseded by execve"), "{strace}");
    assert_held(&stderr, &strace);
    // the execve by the thread is recorded as succeeded, and every name
    // strace saw, the 32-bit program's own among them, is recorded
    assert!(
        want.contains(&(
            ia32.to_string_lossy().into_owned(),
            "execve".to_string(),
            "ok".to_string()
        )),
        "{want:#?}"
    );
    ia32_names_are_all_there(&db, "thread-exec", &out, &want);
}

/// The run held the ia32 fixture, its first 32-bit program, until the raw
/// tracepoints were attached: strace saw the stop, and the run says so.
fn assert_held(stderr: &str, strace: &str) {
    assert!(
        stderr.contains(
            "per-call system call tracepoints; the raw ones for 32-bit programs from the first, ia32["
        ),
        "{stderr}"
    );
    assert!(strace.contains("--- stopped by SIGSTOP ---"), "{strace}");
}

/// The checks of one traced run of the ia32 fixture.
fn ia32_names_are_all_there(
    db: &Path,
    name: &str,
    out: &std::process::Output,
    want: &BTreeSet<(String, String, String)>,
) {
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ia32\n");
    // the program's own calls, each kind the fixture makes
    for (path, call, result) in [
        ("/etc/hostname", "openat", "ok"),
        ("/etc/hosts", "open", "ok"),
        ("/etc/group", "stat", "ok"),
        ("/etc/localtime", "lstat", "ok"),
        ("/etc/localtime", "readlink", "ok"),
        ("/nonexistent/kaudit-ia32-probe", "access", "ENOENT"),
        ("/usr/share", "chdir", "ok"),
        ("/usr/share/zoneinfo/Etc/UTC", "openat", "ok"),
        ("/usr/share/zoneinfo/Etc", "newfstatat", "ok"),
        ("/lib32/libc.so.6", "openat", "ok"),
        ("/bin/true", "execve", "ok"),
    ] {
        assert!(
            want.contains(&(path.to_string(), call.to_string(), result.to_string())),
            "strace did not see {path} ({call}): {want:#?}"
        );
    }
    let v = assert_none_missing(db, name, want);
    let asked = v["asked"].as_array().unwrap();
    // read with the right flags: lstat64 and the fstatat64 flag do not follow
    assert_eq!(found(asked, "/etc/localtime", "lstat")["nofollow"], true);
    assert_eq!(
        found(asked, "/etc/localtime", "lstat")["resolved"],
        "/etc/localtime"
    );
    assert_eq!(
        found(asked, "/usr/share/zoneinfo/Etc", "newfstatat")["nofollow"],
        true
    );
    assert_eq!(
        found(asked, "/etc/group", "stat")["comm"],
        "ia32",
        "the 32-bit program's own call"
    );
}

#[test]
fn a_pin_left_in_the_bpf_filesystem_by_a_killed_trace_is_removed_by_the_next() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    // as a trace killed between pinning an attachment and unpinning it
    // leaves one: kaudit-PID-N, PID gone (a map stands in for the link)
    let pin = Path::new("/sys/fs/bpf/kaudit-99999999-0");
    let _ = std::fs::remove_file(pin);
    let mut mk = std::process::Command::new("bpftool");
    mk.args(["map", "create"])
        .arg(pin)
        .args(["type", "array", "key", "4", "value", "4", "entries", "1"])
        .args(["name", "kaudit_stale"]);
    crate::support::run_ok(mk);
    assert!(pin.exists());
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("t.db");
    let out = kaudit([
        "trace".as_ref(),
        "--name".as_ref(),
        "after".as_ref(),
        "--db".as_ref(),
        db.as_os_str(),
        "--".as_ref(),
        "/bin/true".as_ref(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(
            "removed /sys/fs/bpf/kaudit-99999999-0, left attached by a trace that was killed"
        ),
        "{err}"
    );
    assert!(!pin.exists());
    // and the trace's own pins are gone when it ends
    let left: Vec<_> = std::fs::read_dir("/sys/fs/bpf")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("kaudit-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn without_tracefs_names_come_through_the_raw_tracepoints_and_the_run_says_why() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("t.db");
    // without tracefs the per-call tracepoints' ids cannot be read
    let out = crate::support::kaudit_without_mounts(
        "tracefs,debugfs",
        &format!(
            "trace --name no-tracefs --db {} -- /bin/sh -c 'cat /etc/hostname >/dev/null; test -e /nonexistent/kaudit-no-tracefs'",
            db.display()
        ),
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    // the command fails (its probe finds nothing): the run fails, names are stored
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "names seen through the raw system call tracepoints (tracefs with the syscalls events is not mounted)"
        ),
        "{err}"
    );
    let v = names_of(&db, "no-tracefs");
    let asked = v["asked"].as_array().unwrap();
    found(asked, "/etc/hostname", "openat");
    assert!(asked
        .iter()
        .any(|n| n["path"] == "/nonexistent/kaudit-no-tracefs" && n["result"] == "ENOENT"));
    // the host's tracefs is still there
    assert!(Path::new("/sys/kernel/tracing/events/syscalls").is_dir());
}

#[test]
fn when_the_kernel_refuses_a_per_call_attachment_names_come_through_the_raw_tracepoints_strace_is_the_oracle(
) {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("t.db");
    let log = t.path().join("strace.log");
    // a test mode names the last per-call tracepoint wrongly: the kernel
    // refuses it after the others were attached, and the capture loads
    // again on the raw tracepoints
    let (out, want) = trace_under_strace(
        &db,
        "refused",
        &["--test-refuse-per-call"],
        &log,
        &[
            "/bin/sh".as_ref(),
            "-c".as_ref(),
            "cat /etc/hostname >/dev/null; test -e /nonexistent/kaudit-refused || ls /usr/share/zoneinfo/Etc >/dev/null"
                .as_ref(),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("names seen through the raw system call tracepoints (attaching names_sys_exit to syscalls/sys_exit_kaudit_test_refused failed"),
        "{err}"
    );
    for (path, call, result) in [
        ("/etc/hostname", "openat", "ok"),
        ("/nonexistent/kaudit-refused", "newfstatat", "ENOENT"),
        ("/usr/share/zoneinfo/Etc", "openat", "ok"),
    ] {
        assert!(
            want.contains(&(path.to_string(), call.to_string(), result.to_string())),
            "strace did not see {path} ({call}): {want:#?}"
        );
    }
    assert_none_missing(&db, "refused", &want);
}

#[test]
fn without_a_bpf_filesystem_the_per_call_tracepoints_are_closed_at_the_end_and_names_are_complete()
{
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("t.db");
    // no BPF filesystem: the attachments cannot be pinned, so kaudit
    // closes them itself (and waits for the kernel)
    let out = crate::support::kaudit_without_mounts(
        "bpf",
        &format!(
            "trace --name no-bpffs --db {} -- /bin/cat /etc/hostname",
            db.display()
        ),
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("names seen through the per-call system call tracepoints\n"),
        "{err}"
    );
    // complete but for other processes of the node (other tests) whose
    // relative names could not be placed
    let want = BTreeSet::from([(
        "/etc/hostname".to_string(),
        "openat".to_string(),
        "ok".to_string(),
    )]);
    assert_none_missing(&db, "no-bpffs", &want);
}
