//! Hostile input and faults: configurations that would make a naive reader
//! loop, files the kernel or the loader would refuse, foreign databases and
//! malformed arguments. Each test builds its hostile input itself; each is
//! an error or a finding, never a hang, a crash or a clean answer.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::time::Duration;

use std::process::Command;

use crate::support::{
    code, compile_fixture, host_tool, kaudit_cmd, require_root, run_with_timeout, show, Build,
    FixtureRoot, Layout, Toolchain, APP, MUSL_INTERP,
};

/// Generous bound for commands that must not hang: a hang fails the test.
const NO_HANG: Duration = Duration::from_secs(120);

/// `kaudit ARGS` bounded by [`NO_HANG`].
fn kaudit_bounded<I, S>(args: I) -> std::process::Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_with_timeout(kaudit_cmd(args), NO_HANG)
}

/// A glibc root (no ld.so.cache) whose /usr/bin/app needs liba.so.1 from
/// `libdir`.
fn root_with_app_in(libdir: &str) -> FixtureRoot {
    let root = FixtureRoot::glibc(Layout::Split);
    let liba = root.build_into(Build::lib("liba.so.1"), format!("{libdir}/liba.so.1"));
    root.build_into(Build::exe().calls("liba.so.1").link(&liba), APP);
    root
}

fn deps_json_bounded(root: &FixtureRoot, path: &str) -> std::process::Output {
    kaudit_bounded([
        OsStr::new("deps"),
        OsStr::new("--root"),
        root.path().as_os_str(),
        OsStr::new("--format"),
        OsStr::new("json"),
        OsStr::new(path),
    ])
}

fn scan_bounded(root: &FixtureRoot, db: &Path) -> std::process::Output {
    kaudit_bounded([
        OsStr::new("scan"),
        OsStr::new("--root"),
        root.path().as_os_str(),
        OsStr::new("--db"),
        db.as_os_str(),
    ])
}

/// `include ./ld.so.conf` and `include ../etc/ld.so.conf` name the file
/// being read under other names: a cycle no `ldconfig` finishes. With no
/// ld.so.cache to use instead, `deps` and `scan` stop at once with exit 2
/// naming the cycle (they used to recurse, doubling the work at every
/// level, until memory ran out), and `scan` leaves no graph behind.
#[test]
fn ld_so_conf_include_cycle_is_an_error_naming_it() {
    if !require_root() {
        return;
    }
    let root = root_with_app_in("/opt/lib");
    root.ld_so_conf("/opt/lib\ninclude ./ld.so.conf\ninclude ../etc/ld.so.conf\n");

    let out = deps_json_bounded(&root, APP);
    assert_eq!(code(&out), 2, "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("include cycle in ld.so.conf: /etc/ld.so.conf:2 includes /etc/./ld.so.conf"),
        "{}",
        show(&out)
    );

    let db = root.scratch("cycle.db");
    let out = scan_bounded(&root, &db);
    assert_eq!(code(&out), 2, "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("include cycle in ld.so.conf"),
        "{}",
        show(&out)
    );
    assert!(!db.exists(), "scan wrote a graph for an unusable root");

    // a cycle through a symlink is the same file under another name
    root.ld_so_conf("/opt/lib\ninclude ld.so.conf.d/*.conf\n");
    root.symlink("../ld.so.conf", "/etc/ld.so.conf.d/loop.conf");
    let out = deps_json_bounded(&root, APP);
    assert_eq!(code(&out), 2, "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "include cycle in ld.so.conf: /etc/ld.so.conf:2 includes /etc/ld.so.conf.d/loop.conf"
        ),
        "{}",
        show(&out)
    );
}

/// 30 files each including the next twice (no cycle): re-reading every
/// include would read the last file 2^29 times. Each file is read once, so
/// `deps` answers (bounded in time), and the library is found through the
/// directory the last file lists.
#[test]
fn ld_so_conf_doubling_include_chain_is_read_once_per_file() {
    if !require_root() {
        return;
    }
    const N: usize = 30;
    let root = root_with_app_in(&format!("/opt/lib{}", N - 1));
    root.ld_so_conf("include conf/c0.conf\n");
    for i in 0..N {
        let text = if i + 1 < N {
            format!(
                "/opt/lib{i}\ninclude c{n}.conf\ninclude ../conf/c{n}.conf\n",
                n = i + 1
            )
        } else {
            format!("/opt/lib{i}\n")
        };
        root.write(format!("/etc/conf/c{i}.conf"), text);
    }
    let out = deps_json_bounded(&root, APP);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let deps: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let edge = deps["edges"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["name"] == "liba.so.1"))
        .unwrap_or_else(|| panic!("no edge to liba.so.1: {deps:#}"));
    assert_eq!(
        edge["to"],
        format!("/opt/lib{}/liba.so.1", N - 1),
        "{edge:#}"
    );
    assert_eq!(edge["rule"], "ld-so-conf", "{edge:#}");
    let _ = fs::metadata(root.host("/etc/conf/c0.conf")).expect("chain written");
}

/// What the kernel says when asked to start `path` inside `root`: `None`
/// when `execve` succeeded (whatever the program then did), else the error
/// `chroot` reports for it ("No such file or directory", "Exec format
/// error"). The program runs with an empty environment.
fn kernel_refuses(root: &FixtureRoot, path: &str) -> Option<String> {
    let mut cmd = Command::new(host_tool("chroot"));
    cmd.env_clear().arg(root.path()).arg(path);
    let out = run_with_timeout(cmd, NO_HANG);
    let err = String::from_utf8_lossy(&out.stderr);
    let refused = err
        .lines()
        .find_map(|l| {
            l.split_once("chroot: failed to run command ")
                .map(|(_, rest)| rest)
        })
        .map(|rest| rest.rsplit(": ").next().unwrap_or(rest).to_owned());
    if refused.is_some() {
        assert!(
            matches!(code(&out), 126 | 127),
            "chroot reported an exec failure with status {}",
            show(&out)
        );
    }
    refused
}

/// `deps --format list`, `--format json` and the default tree of `path` in
/// `root`: the exit status must be 1 with the interpreter listed, a
/// `missing-interpreter` finding and `fatal` saying the program cannot start.
fn assert_missing_interpreter_is_fatal(root: &FixtureRoot, path: &str, interp: &str) {
    let out = root.deps_list(path);
    assert_eq!(code(&out), 1, "deps --format list\n{}", show(&out));
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.lines().any(|l| l == interp),
        "the interpreter is not listed\n{}",
        show(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the kernel cannot start the program"),
        "{}",
        show(&out)
    );

    let out = deps_json_bounded(root, path);
    assert_eq!(code(&out), 1, "deps --format json\n{}", show(&out));
    let deps: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let fatal = deps["fatal"]
        .as_str()
        .unwrap_or_else(|| panic!("no fatal: {deps:#}"));
    assert!(fatal.contains(interp), "{fatal}");
    assert!(
        deps["findings"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["code"] == "missing-interpreter")),
        "{deps:#}"
    );
    assert!(
        deps["objects"].as_array().is_some_and(|o| o
            .iter()
            .any(|o| o["path"] == interp && o["rule"] == "interpreter")),
        "{deps:#}"
    );

    let db = root.scratch("missing-interp.db");
    let _ = fs::remove_file(&db);
    let out = scan_bounded(root, &db);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let out = kaudit_bounded([
        OsStr::new("deps"),
        OsStr::new("--db"),
        db.as_os_str(),
        OsStr::new("--format"),
        OsStr::new("list"),
        OsStr::new(path),
    ]);
    assert_eq!(code(&out), 1, "deps --db\n{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l == interp),
        "deps --db does not list the interpreter\n{}",
        show(&out)
    );
}

/// A musl program in a root without the musl loader, and a glibc program
/// whose PT_INTERP names a loader that does not exist: the kernel refuses
/// to start either (`execve` fails with ENOENT, the shell's 127). `deps`
/// lists the interpreter, reports `missing-interpreter`, and exits 1 with
/// `fatal` set (it used to exit 0 with nothing wrong but a finding).
#[test]
fn missing_interpreter_is_fatal() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::musl();
    root.build_into(Build::exe().toolchain(Toolchain::Musl), APP);
    fs::remove_file(root.host(MUSL_INTERP)).expect("remove the musl loader");
    assert_eq!(
        kernel_refuses(&root, APP).as_deref(),
        Some("No such file or directory"),
        "fixture check: the kernel should refuse the musl program"
    );
    assert_missing_interpreter_is_fatal(&root, APP, MUSL_INTERP);

    let root = FixtureRoot::glibc(Layout::Split);
    root.build_into(
        Build::exe().ldflag("-Wl,--dynamic-linker=/lib/ld-missing.so.2"),
        APP,
    );
    assert_eq!(
        kernel_refuses(&root, APP).as_deref(),
        Some("No such file or directory"),
        "fixture check: the kernel should refuse the program"
    );
    assert_missing_interpreter_is_fatal(&root, APP, "/lib/ld-missing.so.2");
}

/// Deterministic pseudo-random numbers (xorshift64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Header fields of a 64-bit ELF file: name, offset, width in bytes.
const HEADER_FIELDS: &[(&str, usize, usize)] = &[
    ("EI_CLASS", 4, 1),
    ("EI_DATA", 5, 1),
    ("EI_VERSION", 6, 1),
    ("EI_OSABI", 7, 1),
    ("EI_ABIVERSION", 8, 1),
    ("e_type", 16, 2),
    ("e_machine", 18, 2),
    ("e_version", 20, 4),
    ("e_phoff", 32, 8),
    ("e_shoff", 40, 8),
    ("e_flags", 48, 4),
    ("e_ehsize", 52, 2),
    ("e_phentsize", 54, 2),
    ("e_phnum", 56, 2),
    ("e_shnum", 60, 2),
];

fn set_field(bytes: &mut [u8], offset: usize, width: usize, value: u64) {
    bytes[offset..offset + width].copy_from_slice(&value.to_le_bytes()[..width]);
}

/// The kernel is the oracle: copies of a real dynamic program with header
/// fields mutated (every field through its boundary values, then random
/// values and random pairs of fields) are executed in a chroot, and kaudit's
/// verdict must agree with the kernel's. `execve` failing with ENOEXEC
/// ("Exec format error") must be an `exec-format-error` finding with the load
/// fatal, and kaudit must not claim it for any file the kernel executes.
/// (Such files used to be `[static]` or `[not-loadable]` with exit 0.)
#[test]
fn corrupt_elf_headers_agree_with_the_kernel() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::Split);
    root.build_into(Build::exe(), APP);
    let good = fs::read(root.host(APP)).expect("read the program");
    let helper = root.scratch("exec_errno");
    compile_fixture("exec_errno.c", &helper, &[]);

    let mut mutants: Vec<(String, Vec<u8>)> = Vec::new();
    let mut rng = Rng(0x6b61_7564_6974);
    for &(name, offset, width) in HEADER_FIELDS {
        let max = if width == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * width)) - 1
        };
        let original = {
            let mut b = [0u8; 8];
            b[..width].copy_from_slice(&good[offset..offset + width]);
            u64::from_le_bytes(b)
        };
        let mut values = vec![
            0,
            1,
            2,
            3,
            original.wrapping_add(1),
            original.wrapping_sub(1),
            max,
        ];
        values.extend([32, 52, 55, 56, 57, 64, 1170, 1171, 4096, 65535].map(|v| v & max));
        values.extend((0..6).map(|_| rng.next() & max));
        values.sort_unstable();
        values.dedup();
        for v in values.into_iter().filter(|&v| v != original) {
            let mut bytes = good.clone();
            set_field(&mut bytes, offset, width, v);
            mutants.push((format!("{name}={v:#x}"), bytes));
        }
    }
    for _ in 0..60 {
        let mut bytes = good.clone();
        let mut what = Vec::new();
        for _ in 0..2 {
            let (name, offset, width) = HEADER_FIELDS[rng.next() as usize % HEADER_FIELDS.len()];
            let max = if width == 8 {
                u64::MAX
            } else {
                (1u64 << (8 * width)) - 1
            };
            // small values hit the checks more often than uniform ones
            let v = if rng.next() % 2 == 0 {
                rng.next() % 128
            } else {
                rng.next()
            } & max;
            set_field(&mut bytes, offset, width, v);
            what.push(format!("{name}={v:#x}"));
        }
        if bytes != good {
            mutants.push((what.join(","), bytes));
        }
    }
    let paths: Vec<String> = (0..mutants.len())
        .map(|i| format!("/usr/bin/m{i}"))
        .collect();
    for (path, (_, bytes)) in paths.iter().zip(&mutants) {
        root.write_exec(path, bytes);
    }

    // the kernel's verdicts
    let mut cmd = Command::new(&helper);
    cmd.env_clear().arg(root.path()).args(&paths);
    let out = run_with_timeout(cmd, NO_HANG * 4);
    assert_eq!(code(&out), 0, "exec_errno failed\n{}", show(&out));
    let kernel: std::collections::HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(p, v)| (p.to_owned(), v.to_owned()))
        .collect();

    // kaudit's, all in one call
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("deps"),
        OsStr::new("--root"),
        root.path().as_os_str(),
        OsStr::new("--format"),
        OsStr::new("json"),
    ];
    args.extend(paths.iter().map(OsStr::new));
    let out = kaudit_bounded(&args);
    assert!(matches!(code(&out), 0 | 1), "deps failed\n{}", show(&out));
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let reports = reports.as_array().expect("one report per path");

    let mut disagreements = Vec::new();
    let (mut refused, mut other_errors, mut ran) = (0, 0, 0);
    for ((path, (what, _)), report) in paths.iter().zip(&mutants).zip(reports) {
        let verdict = kernel.get(path).map(String::as_str).unwrap_or("missing");
        let claims = report["findings"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["code"] == "exec-format-error"));
        let fatal = !report["fatal"].is_null();
        match verdict {
            "8" => refused += 1,
            "ok" => ran += 1,
            _ => other_errors += 1,
        }
        let agrees = match verdict {
            "8" => claims && fatal,
            _ => !claims,
        };
        if !agrees {
            disagreements.push(format!(
                "{what}: kernel {verdict}, kaudit linkage {} fatal {}",
                report["linkage"], report["fatal"]
            ));
        }
    }
    println!(
        "{} mutants: the kernel refused {refused} (ENOEXEC), failed {other_errors} otherwise, \
         executed {ran}",
        mutants.len()
    );
    assert!(
        refused > 20 && ran > 20,
        "the mutants should exercise both verdicts"
    );
    assert!(
        disagreements.is_empty(),
        "kaudit disagrees with the kernel on {} of {} mutants:\n{}",
        disagreements.len(),
        mutants.len(),
        disagreements.join("\n")
    );

    // one refused file alone: exit 1, the finding and the reason
    let index = mutants
        .iter()
        .position(|(what, _)| what == "e_phentsize=0x0")
        .expect("the e_phentsize=0 mutant");
    let out = deps_json_bounded(&root, &paths[index]);
    assert_eq!(code(&out), 1, "{}", show(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["linkage"], "not-loadable", "{report:#}");
    assert!(
        report["fatal"]
            .as_str()
            .is_some_and(|f| f.contains("Exec format error") && f.contains("e_phentsize 0")),
        "{report:#}"
    );
}

/// The bytes of a file and of its `-wal` and `-shm` companions (`None` when
/// absent), to show a command left them alone.
fn file_state(path: &Path) -> Vec<Option<Vec<u8>>> {
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|suffix| {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            fs::read(Path::new(&p)).ok()
        })
        .collect()
}

/// Another program's SQLite file given as `--db`: read commands, `scan` and
/// `trace` refuse it with exit 2 naming it, and it is left byte for byte as
/// it was (it used to gain kaudit's tables and WAL mode). A kaudit graph is
/// not modified by a read command either.
#[test]
fn foreign_database_is_refused_and_left_untouched() {
    if !require_root() {
        return;
    }
    let root = root_with_app_in("/usr/lib/x86_64-linux-gnu");
    let foreign = root.scratch("some-other-app.db");
    crate::support::sqlite(
        &foreign,
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('mine');",
    );
    let tagged = root.scratch("tagged.db");
    crate::support::sqlite(&tagged, "PRAGMA application_id = 42;");
    for db in [&foreign, &tagged] {
        let before = file_state(db);
        for args in [
            vec![OsStr::new("runs")],
            vec![OsStr::new("accessed")],
            vec![OsStr::new("deps"), OsStr::new(APP)],
            vec![OsStr::new("owner"), OsStr::new(APP)],
            vec![
                OsStr::new("scan"),
                OsStr::new("--root"),
                root.path().as_os_str(),
            ],
            vec![
                OsStr::new("trace"),
                OsStr::new("--name"),
                OsStr::new("t"),
                OsStr::new("--"),
                OsStr::new("/bin/true"),
            ],
        ] {
            let mut full = args.clone();
            full.splice(1..1, [OsStr::new("--db"), db.as_os_str()]);
            let out = kaudit_bounded(&full);
            assert_eq!(code(&out), 2, "{full:?}\n{}", show(&out));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains(&*db.to_string_lossy()) && err.contains("is not a kaudit graph"),
                "{full:?}\n{}",
                show(&out)
            );
            assert!(
                file_state(db) == before,
                "{full:?} changed {}",
                db.display()
            );
        }
    }

    // a graph is not modified by reading it
    let graph = root.scratch("graph.db");
    let out = scan_bounded(&root, &graph);
    assert_eq!(code(&out), 0, "{}", show(&out));
    // (in WAL mode a reader may leave SQLite's empty -wal and -shm beside it)
    let before = fs::read(&graph).expect("read the graph");
    // (`owner` answers "no package": exit 1)
    for (args, status) in [
        (vec!["runs"], 0),
        (vec!["deps", APP], 0),
        (vec!["owner", APP], 1),
    ] {
        let mut full: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        full.extend([OsStr::new("--db"), graph.as_os_str()]);
        let out = kaudit_bounded(&full);
        assert_eq!(code(&out), status, "{full:?}\n{}", show(&out));
        assert!(
            fs::read(&graph).expect("read the graph") == before,
            "{full:?} changed the graph"
        );
    }
    // a graph written before kaudit marked its files is still kaudit's
    crate::support::sqlite(&graph, "PRAGMA application_id = 0;");
    let out = kaudit_bounded([OsStr::new("runs"), OsStr::new("--db"), graph.as_os_str()]);
    assert_eq!(code(&out), 0, "{}", show(&out));
}

/// A graph on a read-only mount can be read: `runs`, `deps` and the reports
/// (which then only skip storing their closure). It used to fail: the open
/// wanted to write (WAL mode, migration).
#[test]
fn graph_on_a_read_only_mount_can_be_read() {
    if !require_root() {
        return;
    }
    let root = root_with_app_in("/usr/lib/x86_64-linux-gnu");
    let dir = root.scratch("ro");
    fs::create_dir_all(&dir).expect("mkdir");
    let graph = dir.join("graph.db");
    let out = scan_bounded(&root, &graph);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let kaudit = env!("CARGO_BIN_EXE_kaudit");
    let script = format!(
        "set -e; mount --bind \"$1\" \"$1\"; mount -o remount,bind,ro \"$1\"; \
         if touch \"$1/probe\" 2>/dev/null; then echo 'not read-only' >&2; exit 9; fi; \
         {kaudit} runs --db \"$1/graph.db\"; \
         {kaudit} deps --format list --db \"$1/graph.db\" {APP}; \
         {kaudit} writable --db \"$1/graph.db\""
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "/bin/sh", "-c"])
        .arg(&script)
        .arg("sh")
        .arg(&dir)
        .env_remove("KAUDIT_DB");
    let out = run_with_timeout(cmd, NO_HANG);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("liba.so.1"),
        "{}",
        show(&out)
    );
}

/// Arguments and files that used to be taken as given: a misspelt
/// `--param`, an empty run name or one with a tab or a newline (which
/// forged a row in `kaudit runs`), a budget past 2^64 bytes, an allowlist
/// line with an empty last component. Each is refused with exit 2 naming
/// what is wrong, before anything runs.
#[test]
fn malformed_arguments_are_refused_before_anything_runs() {
    if !require_root() {
        return;
    }
    // a refusal comes before any tracing; without it these would trace
    let _turn = crate::support::tracing_turn();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("g.db");
    let scenario = dir.path().join("greet.toml");
    fs::write(
        &scenario,
        "description = \"greets\"\n\n[params]\nWHO = { default = \"world\" }\n\n\
         [[step]]\nname = \"greet\"\nrun = \"echo ${WHO}\"\n",
    )
    .expect("write the scenario");
    let refused = |args: &[&OsStr], needle: &str| {
        let mut full: Vec<&OsStr> = vec![OsStr::new("--db"), db.as_os_str()];
        full.extend_from_slice(args);
        let out = kaudit_bounded(&full);
        assert_eq!(code(&out), 2, "{args:?}\n{}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{args:?}: no `{needle}` in\n{}",
            show(&out)
        );
    };
    refused(
        &[
            OsStr::new("trace"),
            OsStr::new("--scenario"),
            scenario.as_os_str(),
            OsStr::new("--param"),
            OsStr::new("WHOO=me"),
        ],
        "has no parameter WHOO; its parameters: WHO",
    );
    for name in ["", "a\tb", "a\nb", "a\rb"] {
        refused(
            &[
                OsStr::new("trace"),
                OsStr::new("--name"),
                OsStr::new(name),
                OsStr::new("--"),
                OsStr::new("/bin/true"),
            ],
            "a run name cannot",
        );
    }
    assert!(!db.exists(), "a refused trace wrote a graph");

    let profile = dir.path().join("p.toml");
    let baseline = dir.path().join("baseline.txt");
    fs::write(&profile, "scenarios = [\"greet\"]\nbudget = \"64 MiB\"\n").expect("profile");
    refused(
        &[
            OsStr::new("check"),
            OsStr::new("--profile"),
            profile.as_os_str(),
            OsStr::new("--baseline"),
            baseline.as_os_str(),
            OsStr::new("--budget"),
            OsStr::new("99999999999999999999 GiB"),
        ],
        "--budget 99999999999999999999 GiB",
    );
    fs::write(
        &profile,
        "scenarios = [\"greet\"]\nbudget = \"99999999999999999999 GiB\"\n",
    )
    .expect("profile");
    refused(
        &[
            OsStr::new("check"),
            OsStr::new("--profile"),
            profile.as_os_str(),
            OsStr::new("--baseline"),
            baseline.as_os_str(),
        ],
        "budget: expected bytes or a size",
    );

    let root = FixtureRoot::empty();
    root.write("/etc/passwd", "root:x:0:0::/root:/bin/sh\n");
    let list = dir.path().join("allowlist.txt");
    fs::write(&list, "/etc\n/etc/passwd/\n").expect("allowlist");
    let out_dir = dir.path().join("image");
    refused(
        &[
            OsStr::new("assemble"),
            OsStr::new("--allowlist"),
            list.as_os_str(),
            OsStr::new("--from"),
            root.path().as_os_str(),
            OsStr::new("--out"),
            out_dir.as_os_str(),
        ],
        "/etc/passwd/",
    );
    assert!(!out_dir.exists(), "a refused allowlist was assembled");
}

/// A bind mount of the same filesystem inside the root shares its device
/// number: without `--cross-filesystems` the scan must still stop there
/// (an `other-filesystem` finding), as it does at any other mount point. It
/// used to walk into it, comparing only `st_dev`; mount ids tell them apart.
#[test]
fn same_filesystem_bind_mount_is_not_walked() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::empty();
    root.write("/srv/data/secret.txt", "not part of the root's own tree\n");
    root.mkdir("/mnt/bound");
    let kaudit = env!("CARGO_BIN_EXE_kaudit");
    let scan_with_bind = |db: &Path, extra: &str| {
        let script = format!(
            "set -e; mount --bind \"$1/srv/data\" \"$1/mnt/bound\"; \
             exec {kaudit} scan --root \"$1\" --db \"$2\" {extra}"
        );
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "/bin/sh", "-c"])
            .arg(&script)
            .arg("sh")
            .arg(root.path())
            .arg(db)
            .env_remove("KAUDIT_DB");
        let out = run_with_timeout(cmd, NO_HANG);
        assert_eq!(code(&out), 0, "{}", show(&out));
    };
    let files = |db: &Path| {
        crate::support::sqlite(db, "SELECT CAST(path AS TEXT) FROM file ORDER BY path;")
    };

    let db = root.scratch("bind.db");
    scan_with_bind(&db, "");
    let walked = files(&db);
    assert!(walked.lines().any(|l| l == "/mnt/bound"), "{walked}");
    assert!(
        !walked.lines().any(|l| l == "/mnt/bound/secret.txt"),
        "the bind mount was walked:\n{walked}"
    );
    let findings = crate::support::sqlite(
        &db,
        "SELECT code FROM finding WHERE path = CAST('/mnt/bound' AS BLOB);",
    );
    assert_eq!(findings.trim(), "other-filesystem", "{findings}");

    // the same mount is walked when asked to
    let db = root.scratch("cross.db");
    scan_with_bind(&db, "--cross-filesystems");
    let walked = files(&db);
    assert!(
        walked.lines().any(|l| l == "/mnt/bound/secret.txt"),
        "{walked}"
    );
}

/// `deps` from the graph of an entry that is not an ELF file answers an
/// empty closure with linkage `not-elf` and status 0, as documented (it
/// used to exit 2).
#[test]
fn deps_from_the_graph_of_a_non_elf_entry_is_an_empty_closure() {
    if !require_root() {
        return;
    }
    let root = root_with_app_in("/usr/lib/x86_64-linux-gnu");
    root.write("/etc/motd", "hello\n");
    let db = root.scratch("g.db");
    let out = scan_bounded(&root, &db);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let out = kaudit_bounded([
        OsStr::new("deps"),
        OsStr::new("--db"),
        db.as_os_str(),
        OsStr::new("--format"),
        OsStr::new("json"),
        OsStr::new("/etc/motd"),
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["linkage"], "not-elf", "{report:#}");
    assert!(report["fatal"].is_null(), "{report:#}");
    assert_eq!(report["objects"], serde_json::json!([]), "{report:#}");
}

/// A profile of many includes over a root of as many files: the work used
/// to be one glob match per rule and path (and one scan of the profile's
/// text per rule for its line number), 38 s for 1,000 rules over 100,000
/// entries. Rules are now matched all at once, so the allowlist of 30,000
/// rules over 30,000 files answers (bounded in time; the sizes and times
/// are printed), keeps every file, and names the first matching rule.
#[test]
fn profile_with_many_includes_is_linear() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::empty();
    const N: usize = 30_000;
    root.mkdir("/opt/f");
    for i in 0..N {
        fs::write(root.host(format!("/opt/f/f{i}")), "").expect("write");
    }
    let db = root.scratch("g.db");
    let out = scan_bounded(&root, &db);
    assert_eq!(code(&out), 0, "{}", show(&out));
    for n in [N / 10, N] {
        let mut text = String::from("[[include]]\nglob = \"/opt/f/f7\"\nreason = \"first\"\n\n");
        for i in 0..n {
            text.push_str(&format!(
                "[[include]]\nglob = \"/opt/f/f{i}\"\nreason = \"kept {i}\"\n\n"
            ));
        }
        text.push_str("[[include]]\nglob = \"/opt/f/*\"\nreason = \"every file\"\n");
        let profile = root.scratch(&format!("many-{n}.toml"));
        fs::write(&profile, text).expect("profile");
        let started = std::time::Instant::now();
        let out = kaudit_bounded([
            OsStr::new("allowlist"),
            OsStr::new("--profile"),
            profile.as_os_str(),
            OsStr::new("--db"),
            db.as_os_str(),
        ]);
        println!(
            "allowlist of {n} include rules over {N} files: {:.2} s",
            started.elapsed().as_secs_f64()
        );
        assert_eq!(code(&out), 0, "{}", show(&out));
        let kept = String::from_utf8_lossy(&out.stdout);
        let files = kept.lines().filter(|l| l.starts_with("/opt/f/f")).count();
        assert_eq!(files, N, "every file is kept by some rule");
    }
    // the first rule in profile order is the one named
    let profile = root.scratch(&format!("many-{N}.toml"));
    let out = kaudit_bounded([
        OsStr::new("why"),
        OsStr::new("/opt/f/f7"),
        OsStr::new("--profile"),
        profile.as_os_str(),
        OsStr::new("--db"),
        db.as_os_str(),
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let why = String::from_utf8_lossy(&out.stdout);
    assert!(
        why.contains("include /opt/f/f7 (profile line 1): first"),
        "{why}"
    );
}

/// The cgroup v2 directory of this test process's own group (where a
/// kaudit it starts makes `kaudit-PID`), when there is one.
fn own_cgroup_dir() -> Option<std::path::PathBuf> {
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    let group = own.lines().find_map(|l| l.strip_prefix("0::"))?.to_owned();
    let mounts = fs::read_to_string("/proc/self/mounts").ok()?;
    let mnt = mounts
        .lines()
        .find(|l| l.split(' ').nth(2) == Some("cgroup2"))?
        .split(' ')
        .nth(1)?
        .to_owned();
    Some(Path::new(&mnt).join(group.trim_start_matches('/')))
}

/// A trace whose command cannot start (no such file; a file that is not
/// executable) fails with exit 2 naming it, records the run as failed, and
/// leaves no `kaudit-PID` control group behind (it used to).
#[test]
fn a_command_that_cannot_start_leaves_no_control_group() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let home = own_cgroup_dir().expect("a cgroup v2 group (the tests need one)");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("g.db");
    let not_executable = dir.path().join("prog");
    fs::write(&not_executable, "#!/bin/sh\necho never\n").expect("write");
    for (name, prog) in [
        ("missing", Path::new("/nonexistent/prog")),
        ("not-executable", not_executable.as_path()),
    ] {
        let mut cmd = kaudit_cmd([
            OsStr::new("trace"),
            OsStr::new("--no-names"),
            OsStr::new("--name"),
            OsStr::new(name),
            OsStr::new("--db"),
            db.as_os_str(),
            OsStr::new("--"),
            prog.as_os_str(),
        ]);
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let child = cmd.spawn().expect("start kaudit");
        let pid = child.id();
        let out = child.wait_with_output().expect("wait for kaudit");
        assert_eq!(code(&out), 2, "{name}\n{}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(&*prog.to_string_lossy()),
            "{}",
            show(&out)
        );
        let group = home.join(format!("kaudit-{pid}"));
        assert!(
            !group.exists(),
            "{name}: {} was left behind",
            group.display()
        );
        let status = crate::support::sqlite(
            &db,
            &format!("SELECT status FROM run WHERE name = '{name}';"),
        );
        assert_eq!(status.trim(), "failed", "{name}");
    }
}

/// Libraries that need each other amplify a scan that stores every load in
/// full: each of `N` libraries needing all `N` made `N³` edges (8 million,
/// 1.3 GB of graph for `N` = 200), a chain of `C` libraries `C²/2` (2
/// million for 2,000). A load is stored as the direct needs that exist —
/// each object's own needs, and an object's needs again only in a load where
/// they differ (here: a program's `DT_RPATH` finds another `liby.so`) — and
/// `deps` from the graph still answers as `deps` on the root does.
#[test]
fn amplifying_library_graphs_store_direct_needs_only() {
    if !require_root() {
        return;
    }
    const N: usize = 40;
    const C: usize = 400;
    const LIBDIR: &str = "/usr/lib/x86_64-linux-gnu";
    let root = FixtureRoot::glibc(Layout::Split);
    let mut libs = crate::elfgen::fully_connected("full", N);
    libs.extend(crate::elfgen::chain("chain", C));
    for (name, o) in &libs {
        root.write(format!("{LIBDIR}/{name}"), o.bytes());
    }
    // a need that depends on the loading program: libx's liby.so is
    // /opt/lib/liby.so in libtop's load (its DT_RPATH), the system one alone
    let so = |soname: &str, needed: &[&str], rpath: Option<&str>| crate::elfgen::SharedObject {
        soname: Some(soname.into()),
        needed: needed.iter().map(|n| n.to_string()).collect(),
        rpath: rpath.map(str::to_string),
    };
    root.write(
        format!("{LIBDIR}/libtop.so"),
        so("libtop.so", &["libx.so"], Some("/opt/lib")).bytes(),
    );
    root.write(
        format!("{LIBDIR}/libx.so"),
        so("libx.so", &["liby.so"], None).bytes(),
    );
    root.write(
        format!("{LIBDIR}/liby.so"),
        so("liby.so", &[], None).bytes(),
    );
    root.write(
        "/opt/lib/liby.so",
        so("liby.so", &["libx.so"], None).bytes(),
    );

    let db = root.scratch("g.db");
    let out = scan_bounded(&root, &db);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let count = |sql: &str| -> usize {
        crate::support::sqlite(&db, sql)
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    };
    // N² needs of the fully connected set, C - 1 of the chain, each library's
    // default loader, and a few dozen more (libc, the loader, the links)
    let edges = count("SELECT COUNT(*) FROM edge");
    let direct = N * N + (C - 1) + 2 * (N + C);
    assert!(
        edges <= direct + 100,
        "{edges} edges stored for {direct} direct needs and loaders"
    );
    // libx's needs are stored again in the two loads where they differ:
    // libtop's (its DT_RPATH finds /opt/lib/liby.so) and /opt/lib/liby.so's
    // (whose SONAME answers libx's liby.so); no other object's anywhere
    let again = crate::support::sqlite(
        &db,
        "SELECT DISTINCT CAST(c.path AS TEXT) || ' ' || CAST(s.path AS TEXT)
         FROM edge e JOIN file s ON s.id = e.src JOIN file c ON c.id = e.context
         WHERE e.src <> e.context ORDER BY 1",
    );
    assert_eq!(
        again,
        format!("/opt/lib/liby.so {LIBDIR}/libx.so\n{LIBDIR}/libtop.so {LIBDIR}/libx.so\n"),
        "needs stored again outside their own load"
    );
    // the graph answers as the root does, for every library
    let mut paths: Vec<String> = libs
        .iter()
        .map(|(name, _)| format!("{LIBDIR}/{name}"))
        .collect();
    paths.extend(["libtop.so", "libx.so", "liby.so"].map(|n| format!("{LIBDIR}/{n}")));
    paths.push("/opt/lib/liby.so".into());
    let deps = |from: &str, at: &OsStr| deps_list(from, at, &paths);
    let live = deps("--root", root.path().as_os_str());
    let stored = deps("--db", db.as_os_str());
    assert!(
        String::from_utf8_lossy(&live).contains("/opt/lib/liby.so"),
        "libtop's load does not reach /opt/lib/liby.so"
    );
    assert!(live == stored, "deps --db differs from deps --root");
}

/// Where a load does differ from the replay of its objects' own needs, the
/// scan resolves it in full and stores, in that load, exactly the needs that
/// differ: libmid's libz.so found through libtop's inherited `DT_RPATH`
/// (/opt/r), and libx's liby.so answered by the SONAME of the main object
/// /opt/s/liby.so. The loads proved plain store their main object's own
/// needs alone, and `deps` from the graph answers as on the root.
#[test]
fn loads_that_differ_store_their_differing_needs_exactly() {
    if !require_root() {
        return;
    }
    const LIBDIR: &str = "/usr/lib/x86_64-linux-gnu";
    let root = FixtureRoot::glibc(Layout::Split);
    let so = |soname: &str, needed: &[&str], rpath: Option<&str>| crate::elfgen::SharedObject {
        soname: Some(soname.into()),
        needed: needed.iter().map(|n| n.to_string()).collect(),
        rpath: rpath.map(str::to_string),
    };
    let objects = [
        // an inherited DT_RPATH
        (
            format!("{LIBDIR}/libtop.so"),
            so("libtop.so", &["libmid.so"], Some("/opt/r")),
        ),
        (
            format!("{LIBDIR}/libmid.so"),
            so("libmid.so", &["libz.so"], None),
        ),
        (format!("{LIBDIR}/libz.so"), so("libz.so", &[], None)),
        ("/opt/r/libz.so".to_string(), so("libz-r.so", &[], None)),
        // a SONAME that answers a need
        (
            format!("{LIBDIR}/libx.so"),
            so("libx.so", &["liby.so"], None),
        ),
        (format!("{LIBDIR}/liby.so"), so("liby.so", &[], None)),
        (
            "/opt/s/liby.so".to_string(),
            so("liby.so", &["libx.so"], None),
        ),
    ];
    for (path, o) in &objects {
        root.write(path, o.bytes());
    }
    let db = root.scratch("g.db");
    let out = scan_bounded(&root, &db);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let rows = |context: &str| -> String {
        crate::support::sqlite(
            &db,
            &format!(
                "SELECT CAST(s.path AS TEXT), e.seq, CAST(e.name AS TEXT),
                        CAST(d.path AS TEXT), e.rule, CAST(e.via AS TEXT)
                 FROM edge e JOIN file s ON s.id = e.src JOIN file c ON c.id = e.context
                 LEFT JOIN file d ON d.id = e.dst
                 WHERE c.path = CAST('{context}' AS BLOB) AND e.kind = 'needed'
                 ORDER BY e.seq"
            ),
        )
    };
    let libdir = |n: &str| format!("{LIBDIR}/{n}");
    // libtop's load: its own need, and libmid's libz.so from /opt/r
    assert_eq!(
        rows(&libdir("libtop.so")),
        format!(
            "{top}|1|libmid.so|{mid}|ld-so-conf|\n{mid}|2|libz.so|/opt/r/libz.so|rpath|{top}\n",
            top = libdir("libtop.so"),
            mid = libdir("libmid.so"),
        ),
    );
    // /opt/s/liby.so's load: its own need, and libx's liby.so answered by it
    assert_eq!(
        rows("/opt/s/liby.so"),
        format!(
            "/opt/s/liby.so|1|libx.so|{x}|ld-so-conf|\n{x}|2|liby.so|/opt/s/liby.so|already-loaded|/opt/s/liby.so\n",
            x = libdir("libx.so"),
        ),
    );
    // the plain loads: the main object's own needs alone
    assert_eq!(
        rows(&libdir("libmid.so")),
        format!(
            "{mid}|1|libz.so|{z}|ld-so-conf|\n",
            mid = libdir("libmid.so"),
            z = libdir("libz.so")
        ),
    );
    assert_eq!(
        rows(&libdir("libx.so")),
        format!(
            "{x}|1|liby.so|{y}|ld-so-conf|\n",
            x = libdir("libx.so"),
            y = libdir("liby.so")
        ),
    );
    // the graph answers as the root does
    let paths: Vec<&str> = objects.iter().map(|(p, _)| p.as_str()).collect();
    let deps = |from: &str, at: &OsStr| deps_list(from, at, &paths);
    let live = deps("--root", root.path().as_os_str());
    let stored = deps("--db", db.as_os_str());
    assert!(
        live == stored,
        "deps --db differs from deps --root:\n{}\n{}",
        String::from_utf8_lossy(&live),
        String::from_utf8_lossy(&stored)
    );
}

/// A chain of directories `d` made one level at a time below `top` (each
/// `mkdirat` relative to the last level's descriptor: the deep paths are
/// longer than any system call takes), removed the same way when dropped
/// (a recursive removal would recurse once per level).
struct Nested {
    top: std::path::PathBuf,
}

impl Nested {
    fn new(top: std::path::PathBuf, levels: usize) -> Nested {
        use nix::fcntl::{openat, OFlag};
        use nix::sys::stat::{mkdirat, Mode};
        let dir = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        fs::create_dir_all(&top).expect("top of the nest");
        let nested = Nested { top };
        let mut fd = openat(nix::fcntl::AT_FDCWD, &nested.top, dir, Mode::empty()).expect("open");
        for _ in 0..levels {
            mkdirat(&fd, "d", Mode::from_bits_truncate(0o755)).expect("mkdirat");
            fd = openat(&fd, "d", dir, Mode::empty()).expect("openat");
        }
        nested
    }
}

impl Drop for Nested {
    fn drop(&mut self) {
        use nix::fcntl::{open, renameat, OFlag};
        use nix::sys::stat::Mode;
        use nix::unistd::{unlinkat, UnlinkatFlags};
        let Ok(fd) = open(
            &self.top,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY,
            Mode::empty(),
        ) else {
            return;
        };
        // move d/d up to x, remove the emptied d, rename x to d: one level
        // fewer each time
        while renameat(&fd, "d/d", &fd, "x").is_ok() {
            if unlinkat(&fd, "d", UnlinkatFlags::RemoveDir).is_err()
                || renameat(&fd, "x", &fd, "d").is_err()
            {
                return;
            }
        }
        let _ = unlinkat(&fd, "d", UnlinkatFlags::RemoveDir);
    }
}

/// 30,000 directories nested in one another: the deepest path is 60,000
/// bytes and the paths add up to 900 MB, which the graph stored, each in
/// `file.path` and its index (2 GB). No program can name an entry whose
/// path is longer than `PATH_MAX` (4095 bytes and the NUL), so the walk
/// neither records nor enters one: the graph keeps the 2,045 levels whose
/// paths fit, a `path-too-long` finding names the directory where the
/// limit was hit, and the graph's size is bounded by the entries kept.
/// `assemble` copies the longest path kept, and refuses a longer line.
#[test]
fn directories_nested_beyond_path_max_are_left_out_with_a_finding() {
    if !require_root() {
        return;
    }
    const LEVELS: usize = 30_000;
    const PATH_MAX_LEN: usize = 4095;
    let root = FixtureRoot::empty();
    // `/deep` (5 bytes) and 2 bytes a level: 2,045 levels fit exactly
    let nest = Nested::new(root.host("/deep"), LEVELS);
    let kept_levels = (PATH_MAX_LEN - "/deep".len()) / 2;
    let deepest = format!("/deep{}", "/d".repeat(kept_levels));
    assert_eq!(deepest.len(), PATH_MAX_LEN);

    let db = root.scratch("nested.db");
    let out = scan_bounded(&root, &db);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let stored = crate::support::sqlite(
        &db,
        "SELECT COUNT(*), MAX(length(path)) FROM file WHERE path >= CAST('/deep' AS BLOB);",
    );
    assert_eq!(
        stored.trim(),
        format!("{}|{PATH_MAX_LEN}", kept_levels + 1),
        "entries below /deep, and the longest path stored"
    );
    let findings = crate::support::sqlite(
        &db,
        "SELECT code, severity, length(path), path = (SELECT MAX(path) FROM file), message
         FROM finding;",
    );
    assert_eq!(
        findings.trim(),
        format!(
            "path-too-long|warning|{PATH_MAX_LEN}|1|1 entry (d) left out, with everything below it: \
             its path inside the root would be longer than 4095 bytes (PATH_MAX)"
        ),
        "one finding, at the deepest directory kept"
    );
    // the graph grows with the entries kept: their paths (at most 4095
    // bytes each) in the table and in its index, and room besides
    let size: u64 = ["", "-wal", "-shm"]
        .iter()
        .filter_map(|s| {
            let mut p = db.as_os_str().to_owned();
            p.push(s);
            fs::metadata(p).ok().map(|m| m.len())
        })
        .sum();
    let bound = (kept_levels as u64 + 1) * 2 * (PATH_MAX_LEN as u64 + 1) + (4 << 20);
    assert!(
        size < bound,
        "a graph of {size} bytes for {} entries (bound {bound})",
        kept_levels + 1
    );

    // the longest path kept is assembled; a longer allowlist line is refused
    let list = root.scratch("deep.list");
    fs::write(&list, format!("{deepest}\n")).expect("allowlist");
    let image = root.scratch("image");
    let out = kaudit_bounded([
        OsStr::new("assemble"),
        OsStr::new("--allowlist"),
        list.as_os_str(),
        OsStr::new("--from"),
        root.path().as_os_str(),
        OsStr::new("--out"),
        image.as_os_str(),
    ]);
    let image_nest = Nested {
        top: image.join("deep"),
    };
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("{} entries", kept_levels + 1)),
        "{}",
        show(&out)
    );
    drop(image_nest);
    fs::write(&list, format!("/etc\n{deepest}/d\n")).expect("allowlist");
    let refused = root.scratch("refused");
    let out = kaudit_bounded([
        OsStr::new("assemble"),
        OsStr::new("--allowlist"),
        list.as_os_str(),
        OsStr::new("--from"),
        root.path().as_os_str(),
        OsStr::new("--out"),
        refused.as_os_str(),
    ]);
    assert_eq!(code(&out), 2, "{}", show(&out));
    let why = format!(
        "allowlist line 2: {}…: 4097 bytes long: no system call takes a path longer than \
         4095 bytes (PATH_MAX)",
        &deepest[..64]
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&why),
        "{}",
        show(&out)
    );
    assert!(!refused.exists(), "a refused allowlist left an image");
    drop(nest);
}

/// `kaudit deps --format list` of `paths`, from a root (`--root`) or a graph
/// (`--db`): its standard output, the command having passed.
fn deps_list<S: AsRef<OsStr>>(from: &str, at: &OsStr, paths: &[S]) -> Vec<u8> {
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("deps"),
        OsStr::new("--format"),
        OsStr::new("list"),
        OsStr::new(from),
        at,
    ];
    args.extend(paths.iter().map(AsRef::as_ref));
    let out = kaudit_bounded(args);
    assert_eq!(code(&out), 0, "{}", show(&out));
    out.stdout
}
