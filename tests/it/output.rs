//! What every command writes where: data on standard output, summaries,
//! progress and notes on standard error; a closed standard output is not an
//! error and never changes an answer's exit status; the figures the commands
//! give of one image agree; JSON carries what the text says; the findings of
//! the graph are listed with filters.

use std::ffi::OsString;
use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::reports::{fixture, lines, Traced, LIBDIR};
use crate::support::{
    code, kaudit, kaudit_cmd, require_root, run_with_closed_stdout, show, Build, FixtureRoot,
    Layout,
};

/// The fixture, its profile accepting a run whose names are partial: a trace
/// watches the whole node, and a name another process on the machine asked
/// for (a build, another test) may not be placed. What these tests check —
/// where output goes, exit statuses, counts — does not depend on it.
fn tolerant(t: Traced) -> Traced {
    let text = std::fs::read_to_string(&t.profile).unwrap();
    std::fs::write(&t.profile, format!("allow_incomplete = true\n{text}")).unwrap();
    t
}

/// `kaudit --db DB ARGS` with standard output closed.
fn closed(t: &Traced, args: &[&str]) -> Output {
    let mut all: Vec<OsString> = vec!["--db".into(), t.db.clone().into()];
    all.extend(args.iter().map(OsString::from));
    run_with_closed_stdout(kaudit_cmd(all))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The first number after `before` in `text`.
fn number_after(text: &str, before: &str) -> usize {
    let at = text
        .find(before)
        .unwrap_or_else(|| panic!("no {before:?} in:\n{text}"))
        + before.len();
    text[at..]
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no number after {before:?} in:\n{text}"))
}

/// The number just before `after` in `text`.
fn number_before(text: &str, after: &str) -> usize {
    let at = text
        .find(after)
        .unwrap_or_else(|| panic!("no {after:?} in:\n{text}"));
    let digits: String = text[..at]
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .chars()
        .rev()
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no number before {after:?} in:\n{text}"))
}

/// Every command that writes, run twice: with its output read, then with
/// standard output a pipe nobody reads (`| head` done reading). A closed
/// output is no error (no panic, no exit 2) and the exit status is the
/// answer's either way: 0 for a report, 1 for a `no` (a failed gate, a
/// failed verification, a path not kept, a path without a package).
#[test]
fn every_command_keeps_its_exit_status_when_stdout_is_closed() {
    if !require_root() {
        return;
    }
    let t = tolerant(fixture());
    // a trace watches the whole node, and what these commands read in this
    // root (a scan lists every directory) would be another test's run
    let _turn = crate::support::tracing_turn();
    let p = t.profile.to_str().unwrap();
    let root = t.root.path().to_str().unwrap();
    // a finding to list: a symlink to nothing
    t.root.symlink("/nowhere", "/opt/dangling");
    assert_eq!(code(&t.root.scan(&t.db)), 0);
    let scratch = t.db.with_file_name("out");
    std::fs::create_dir(&scratch).unwrap();
    let at = |name: &str| scratch.join(name).to_str().unwrap().to_string();
    let list = at("list");
    let base = at("baseline.txt");
    let image = at("image");
    let broken = at("broken");
    let pages = at("pages");
    let mask = at("mask");
    assert_eq!(
        code(&t.run(["allowlist", "--profile", p, "--out", &list])),
        0
    );
    assert_eq!(
        code(&t.run([
            "check",
            "--profile",
            p,
            "--baseline",
            &base,
            "--update-baseline"
        ])),
        0
    );
    for dir in [&image, &broken] {
        let out = t.run([
            "assemble",
            "--allowlist",
            &list,
            "--from",
            root,
            "--out",
            dir,
        ]);
        assert_eq!(code(&out), 0, "{}", show(&out));
    }
    std::fs::remove_file(Path::new(&broken).join("usr/bin/cat")).unwrap();
    let libb = format!("{LIBDIR}/libb.so.1");

    // (arguments, exit status, whether standard output carries data)
    let cases: Vec<(Vec<&str>, i32, bool)> = vec![
        (vec!["--help"], 0, true),
        (vec!["--version"], 0, true),
        (vec!["findings", "--help"], 0, true),
        (vec!["scan", "--root", root, "--format", "json"], 0, true),
        (vec!["deps", "/usr/bin/app"], 0, true),
        (vec!["deps", "--format", "list", "/usr/bin/app"], 0, true),
        (
            vec!["deps", "--root", root, "--format", "json", "/usr/bin/app"],
            0,
            true,
        ),
        (vec!["runs"], 0, true),
        (vec!["runs", "--format", "json"], 0, true),
        (vec!["accessed", "--format", "json"], 0, true),
        (vec!["accessed", "--names", "--format", "json"], 0, true),
        (vec!["accessed", "--scenario", "fixture-run"], 0, true),
        (
            vec!["accessed", "--scenario", "fixture-run", "--names"],
            0,
            true,
        ),
        (vec!["scenarios", "list"], 0, true),
        (vec!["scenarios", "show", "containerd-run"], 0, true),
        (vec!["allowlist", "--profile", p], 0, true),
        (
            vec!["allowlist", "--profile", p, "--format", "json"],
            0,
            true,
        ),
        (vec!["why", &libb, "--profile", p], 0, true),
        (vec!["why", &libb, "--profile", p, "--all"], 0, true),
        (
            vec!["why", &libb, "--profile", p, "--format", "json"],
            0,
            true,
        ),
        (vec!["why", "/etc/unused", "--profile", p], 1, true),
        (
            vec!["why", "/etc/unused", "--profile", p, "--format", "json"],
            1,
            true,
        ),
        (
            vec![
                "rdeps",
                "/opt/tools/bin/helper",
                "--profile",
                p,
                "--format",
                "json",
            ],
            0,
            true,
        ),
        (
            vec!["rdeps", "/opt/tools/bin/helper", "--profile", p],
            0,
            true,
        ),
        (vec!["rdeps", "/etc/unused", "--profile", p], 1, true),
        (vec!["writable", "--profile", p], 0, true),
        (vec!["writable", "--format", "json"], 0, true),
        (vec!["docs", "--profile", p, "--out", &pages], 0, false),
        (
            vec![
                "assemble",
                "--force",
                "--allowlist",
                &list,
                "--from",
                root,
                "--out",
                &image,
            ],
            0,
            false,
        ),
        (
            vec!["verify", "--root", &image, "--profile", p, "--no-replay"],
            0,
            false,
        ),
        (
            vec!["verify", "--root", &broken, "--profile", p, "--no-replay"],
            1,
            true,
        ),
        (vec!["owner", "/usr/bin/app"], 1, true),
        (vec!["packages", "--profile", p], 0, true),
        (
            vec!["packages", "--profile", p, "--format", "json"],
            0,
            true,
        ),
        (vec!["install-mask", "--profile", p], 0, true),
        (
            vec!["install-mask", "--profile", p, "--out", &mask],
            0,
            false,
        ),
        (vec!["check", "--profile", p, "--baseline", &base], 0, true),
        (
            vec![
                "check",
                "--profile",
                p,
                "--baseline",
                &base,
                "--budget",
                "10KiB",
            ],
            1,
            true,
        ),
        (
            vec![
                "check",
                "--profile",
                p,
                "--baseline",
                &base,
                "--budget",
                "10KiB",
                "--format",
                "json",
            ],
            1,
            true,
        ),
        (
            vec![
                "check",
                "--profile",
                p,
                "--baseline",
                &base,
                "--budget",
                "10KiB",
                "--format",
                "junit",
            ],
            1,
            true,
        ),
        (vec!["findings"], 0, true),
        (vec!["findings", "--format", "json"], 0, true),
    ];
    for (args, want, data) in &cases {
        let open = t.run(args);
        assert_eq!(code(&open), *want, "kaudit {args:?}: {}", show(&open));
        // with data, the closed output below is written to, not skipped
        assert_eq!(
            !open.stdout.is_empty(),
            *data,
            "kaudit {args:?} wrote {} byte(s) to stdout: {}",
            open.stdout.len(),
            show(&open)
        );
        let out = closed(&t, args);
        assert!(
            !stderr(&out).contains("panicked"),
            "kaudit {args:?} panicked on a closed stdout: {}",
            show(&out)
        );
        assert_eq!(
            code(&out),
            *want,
            "kaudit {args:?} with a closed stdout: {}",
            show(&out)
        );
    }
    // a scan's and a trace's summaries are on standard error: nothing is written
    // to a closed output, and the scan is stored
    let out = closed(&t, &["scan", "--root", root]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(stderr(&out).contains("kaudit: scanned "), "{}", show(&out));
    let out = closed(
        &t,
        &[
            "trace",
            "--root",
            root,
            "--name",
            "closed",
            "--",
            "/usr/bin/dash",
            "-c",
            "true",
        ],
    );
    assert_eq!(code(&out), 0, "{}", show(&out));
}

/// Data on standard output, the run's summary on standard error, for every
/// command that has both.
#[test]
fn summaries_go_to_stderr_and_data_to_stdout() {
    if !require_root() {
        return;
    }
    let t = tolerant(fixture());
    // a trace watches the whole node, and what these commands read in this
    // root (a scan lists every directory) would be another test's run
    let _turn = crate::support::tracing_turn();
    let p = t.profile.to_str().unwrap();
    let root = t.root.path().to_str().unwrap();

    let out = t.run(["scan", "--root", root]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(out.stdout.is_empty(), "{}", show(&out));
    assert!(
        stderr(&out).starts_with("kaudit: scanned "),
        "{}",
        show(&out)
    );
    let out = t.run(["scan", "--root", root, "--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("the summary asked for as JSON");
    assert!(v["findings_by_severity"].is_object(), "{v:#}");

    let list = t.db.with_file_name("list");
    let list = list.to_str().unwrap();
    let out = t.run(["allowlist", "--profile", p, "--out", list]);
    assert!(out.stdout.is_empty(), "{}", show(&out));
    assert!(
        stderr(&out).contains("kaudit: profile fixture-node: "),
        "{}",
        show(&out)
    );

    let image = t.db.with_file_name("image");
    let image = image.to_str().unwrap();
    let out = t.run([
        "assemble",
        "--allowlist",
        list,
        "--from",
        root,
        "--out",
        image,
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(out.stdout.is_empty(), "{}", show(&out));
    assert!(
        stderr(&out).starts_with("kaudit: assembled "),
        "{}",
        show(&out)
    );

    // verify: progress and verdict on stderr, the problems (its answer) on stdout
    let out = t.run(["verify", "--root", image, "--profile", p, "--no-replay"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(out.stdout.is_empty(), "{}", show(&out));
    assert!(stderr(&out).contains("kaudit: verified "), "{}", show(&out));
    std::fs::remove_file(Path::new(image).join("etc/greeting")).unwrap();
    let out = t.run(["verify", "--root", image, "--profile", p, "--no-replay"]);
    assert_eq!(code(&out), 1, "{}", show(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.starts_with("missing-entry: /etc/greeting is in the allowlist"),
        "{s}"
    );
    assert!(!s.contains("verify failed"), "{s}");
    assert!(stderr(&out).contains("kaudit: verify failed: 1 problem(s)"));

    // deps: the tree and JSON hold an unresolved library; a list, only paths,
    // has it said on stderr
    std::fs::remove_file(t.root.host(format!("{LIBDIR}/libb.so.1"))).unwrap();
    let deps = |format: &str| t.run(["deps", "--root", root, "--format", format, "/usr/bin/app"]);
    let tree = deps("tree");
    assert_eq!(code(&tree), 1, "{}", show(&tree));
    assert!(String::from_utf8_lossy(&tree.stdout).contains("libb.so.1 => not found"));
    assert!(tree.stderr.is_empty(), "{}", show(&tree));
    let json = deps("json");
    assert_eq!(code(&json), 1, "{}", show(&json));
    assert!(json.stderr.is_empty(), "{}", show(&json));
    let list = deps("list");
    assert_eq!(code(&list), 1, "{}", show(&list));
    // the answer is the same when nobody reads it
    for format in ["tree", "list", "json"] {
        let out = closed(
            &t,
            &["deps", "--root", root, "--format", format, "/usr/bin/app"],
        );
        assert_eq!(code(&out), 1, "deps --format {format}: {}", show(&out));
    }
    // (named as the loader opens it: /lib is /usr/lib on this root)
    let err = stderr(&list);
    assert!(
        err.starts_with("kaudit: unresolved-needed: ")
            && err.contains("/liba.so.1 needs libb.so.1"),
        "{}",
        show(&list)
    );
}

/// The allowlist's summary, its list, its JSON, the pages, assemble, verify
/// and check count the same entries (the root directory is the image, not an
/// entry), and say the same of what was left out.
#[test]
fn every_command_counts_the_same_entries() {
    if !require_root() {
        return;
    }
    let t = tolerant(fixture());
    // a trace watches the whole node, and what these commands read in this
    // root (a scan lists every directory) would be another test's run
    let _turn = crate::support::tracing_turn();
    let p = t.profile.to_str().unwrap();
    let root = t.root.path().to_str().unwrap();
    let list = t.db.with_file_name("list");
    let list = list.to_str().unwrap();

    let out = t.run(["allowlist", "--profile", p, "--out", list]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let summary = stderr(&out);
    let lines = lines(&std::fs::read(list).unwrap()).len();
    assert!(lines > 10, "{lines}");
    let n = number_after(&summary, "profile fixture-node: ");
    assert_eq!(n, lines, "{summary}");
    let dirs = number_after(&summary, "files, ");
    let absent = number_after(&summary, "reached but excluded, ");
    let excluded = number_after(&summary, "left out: ");

    let out = t.run(["allowlist", "--profile", p, "--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["entries"], lines);
    assert_eq!(v["entries"].as_array().unwrap().len(), lines);
    assert_eq!(v["summary"]["directories"], dirs);
    assert_eq!(v["summary"]["absent"], absent);
    assert_eq!(v["summary"]["excluded"], excluded);

    let pages = t.db.with_file_name("pages");
    let out = t.run(["docs", "--profile", p, "--out", pages.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(
        number_before(&stderr(&out), " kept entries"),
        lines,
        "{}",
        show(&out)
    );
    let index = std::fs::read_to_string(pages.join("index.md")).unwrap();
    assert_eq!(number_after(&index, "| Kept entries | "), lines, "{index}");
    assert_eq!(number_after(&index, "| … of type dir | "), dirs, "{index}");
    assert!(
        index.contains(&format!(
            "- {excluded} path(s) reached by a chain but excluded"
        )),
        "{index}"
    );
    assert!(
        index.contains(&format!(
            "- {absent} path(s) reached but not in the scanned root"
        )),
        "{index}"
    );

    let image = t.db.with_file_name("image");
    let image = image.to_str().unwrap();
    let out = t.run([
        "assemble",
        "--allowlist",
        list,
        "--from",
        root,
        "--out",
        image,
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(
        number_before(&stderr(&out), " entries ("),
        lines,
        "{}",
        show(&out)
    );

    let out = t.run(["verify", "--root", image, "--profile", p, "--no-replay"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        stderr(&out).contains(&format!("allowlist: {lines} of {lines} entries present")),
        "{}",
        show(&out)
    );

    let base = t.db.with_file_name("base.txt");
    let base = base.to_str().unwrap();
    let out = t.run([
        "check",
        "--profile",
        p,
        "--baseline",
        base,
        "--update-baseline",
    ]);
    assert!(
        stderr(&out).contains(&format!("written: {lines} entries")),
        "{}",
        show(&out)
    );
    let baseline = std::fs::read_to_string(base).unwrap();
    assert_eq!(
        baseline.lines().filter(|l| !l.starts_with('#')).count(),
        lines
    );
    let out = t.run(["check", "--profile", p, "--baseline", base]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(&format!("entries: {lines} (baseline {lines})")),
        "{}",
        show(&out)
    );
}

/// `why --format json` carries the reasons the text counts; `check`'s JSON
/// gives the growth allowed as a plain object.
#[test]
fn json_carries_what_the_text_says() {
    if !require_root() {
        return;
    }
    let t = tolerant(fixture());
    // a trace watches the whole node, and what these commands read in this
    // root (a scan lists every directory) would be another test's run
    let _turn = crate::support::tracing_turn();
    let p = t.profile.to_str().unwrap();
    // libc: needed by every program the script ran
    let libc = format!("{LIBDIR}/libc.so.6");
    let text = t.why(&libc, &[]);
    assert_eq!(code(&text), 0, "{}", show(&text));
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    let more = number_before(&text, " more reason(s)");
    assert!(more >= 2, "{text}");
    let v: Value = serde_json::from_slice(&t.why(&libc, &["--format", "json"]).stdout).unwrap();
    assert_eq!(v["more_reasons"], more, "{v:#}");
    assert_eq!(v["reasons_total"], more + 1, "{v:#}");
    let reasons = v["reasons"].as_array().expect("the reasons, listed");
    assert!(reasons.len() > 1, "{v:#}");
    assert!(
        reasons
            .iter()
            .any(|r| r["code"] == "edge" && r["kind"] == "needed"),
        "{v:#}"
    );

    let base = t.db.with_file_name("base.txt");
    let b = base.to_str().unwrap();
    let check = |extra: &[&str]| {
        let mut a = vec!["check", "--profile", p, "--baseline", b, "--format", "json"];
        a.extend_from_slice(extra);
        let out = t.run(a);
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", show(&out)))
    };
    assert_eq!(
        code(&t.run([
            "check",
            "--profile",
            p,
            "--baseline",
            b,
            "--update-baseline"
        ])),
        0
    );
    assert_eq!(
        check(&[])["rules"]["max_growth"],
        serde_json::json!({"percent": 5.0})
    );
    assert_eq!(
        check(&["--max-growth", "2MiB"])["rules"]["max_growth"],
        serde_json::json!({"bytes": 2097152})
    );
}

/// `kaudit findings`: every finding of the graph once, errors first, narrowed
/// by code, severity and path; the scan's summary counts them by severity.
#[test]
fn findings_are_listed_with_filters() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::UsrMerged);
    // an error met in two loads: a library that needs one the root lacks
    let gone = root.build(Build::lib("libgone.so.1"));
    let lib = root.build_into(
        Build::lib("libneeds.so.1")
            .calls("libgone.so.1")
            .link(&gone),
        "/usr/lib/libneeds.so.1",
    );
    root.build_into(
        Build::exe()
            .calls("libneeds.so.1")
            .link(&lib)
            .runpath("/usr/lib"),
        "/usr/bin/needy",
    );
    // a warning and an info, in two directories
    root.symlink("loop-b", "/opt/a/loop-a");
    root.symlink("loop-a", "/opt/a/loop-b");
    root.symlink("/nowhere", "/opt/ab/dangling");
    root.symlink("/nowhere", "/srv/dangling");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    // (a scan lists every directory: not while another test traces)
    let _turn = crate::support::tracing_turn();
    let out = root.scan(&db);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let summary = stderr(&out);
    assert!(
        summary.contains("`kaudit findings` lists them"),
        "{summary}"
    );
    let errors = number_after(&summary, "findings (");
    assert!(errors >= 1, "{summary}");

    let findings = |args: &[&str]| {
        let mut a = vec!["--db", db.to_str().unwrap(), "findings"];
        a.extend_from_slice(args);
        let out = kaudit(a);
        assert_eq!(code(&out), 0, "{}", show(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let all = findings(&[]);
    let rows: Vec<&str> = all.lines().collect();
    assert_eq!(
        rows.iter().filter(|l| l.starts_with("error ")).count(),
        errors,
        "{all}"
    );
    // errors first, then warnings, then info
    let rank = |l: &str| match l.split_whitespace().next() {
        Some("error") => 0,
        Some("warning") => 1,
        _ => 2,
    };
    assert!(rows.windows(2).all(|w| rank(w[0]) <= rank(w[1])), "{all}");
    assert!(
        all.contains("error   unresolved-needed /usr/lib/libneeds.so.1: "),
        "{all}"
    );
    assert!(all.contains("warning symlink-loop /opt/a/loop-a"), "{all}");
    assert!(
        all.contains("info    dangling-symlink /srv/dangling"),
        "{all}"
    );

    let only = findings(&["--code", "dangling-symlink"]);
    assert_eq!(only.lines().count(), 2, "{only}");
    assert!(
        only.lines().all(|l| l.contains(" dangling-symlink ")),
        "{only}"
    );
    let two = findings(&["--code", "dangling-symlink", "--code", "symlink-loop"]);
    assert_eq!(two.lines().count(), 4, "{two}");
    let warnings = findings(&["--severity", "warning"]);
    assert!(!warnings.is_empty());
    assert!(
        warnings.lines().all(|l| l.starts_with("warning ")),
        "{warnings}"
    );
    // a prefix is a directory: /opt/a holds /opt/a/loop-a, not /opt/ab
    let under = findings(&["--path", "/opt/a"]);
    assert_eq!(under.lines().count(), 2, "{under}");
    assert!(!under.contains("/opt/ab"), "{under}");
    let under = findings(&["--path", "/opt/a/", "--severity", "info"]);
    assert!(under.is_empty(), "{under}");

    // JSON: the same findings, with the loads that met each
    let out = kaudit(["--db", db.to_str().unwrap(), "findings", "--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let v = v.as_array().unwrap();
    assert_eq!(v.len(), rows.len());
    let needs = v
        .iter()
        .find(|f| f["code"] == "unresolved-needed" && f["path"] == "/usr/lib/libneeds.so.1")
        .unwrap_or_else(|| panic!("{v:#?}"));
    assert_eq!(needs["severity"], "error");
    // met in the load of the library itself and of the program
    assert_eq!(needs["loads"], 2, "{needs:#}");
    assert_eq!(needs["origin"], "scan");

    // an unknown code is a usage error naming the codes
    let out = kaudit([
        "--db",
        db.to_str().unwrap(),
        "findings",
        "--code",
        "no-such-code",
    ]);
    assert_eq!(code(&out), 2, "{}", show(&out));
    assert!(stderr(&out)
        .contains("unknown finding code no-such-code: expected one of unresolved-needed"));
}

/// An error says each cause once, naming the path.
#[test]
fn an_error_says_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let db = dir.path().join("g.db");
    let out = kaudit(["--db".as_ref(), db.as_os_str(), "findings".as_ref()]);
    assert_eq!(code(&out), 2, "{}", show(&out));
    let out = kaudit([
        "assemble".as_ref(),
        "--allowlist".as_ref(),
        missing.as_os_str(),
        "--from".as_ref(),
        dir.path().join("no-root").as_os_str(),
        "--out".as_ref(),
        dir.path().join("img").as_os_str(),
    ]);
    assert_eq!(code(&out), 2, "{}", show(&out));
    let list = dir.path().join("list");
    std::fs::write(&list, "/etc/hostname\n").unwrap();
    let from = dir.path().join("no-root");
    let out = kaudit([
        "assemble".as_ref(),
        "--allowlist".as_ref(),
        list.as_os_str(),
        "--from".as_ref(),
        from.as_os_str(),
        "--out".as_ref(),
        dir.path().join("img").as_os_str(),
    ]);
    assert_eq!(code(&out), 2, "{}", show(&out));
    let err = stderr(&out);
    assert!(err.contains(&*from.to_string_lossy()), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    // a profile that cannot be read, after a graph that holds a scan
    let _turn = crate::support::tracing_turn();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    let out = kaudit([
        "scan".as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
        "--db".as_ref(),
        db.as_os_str(),
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    for cmd in ["allowlist", "docs", "packages", "check"] {
        let mut args: Vec<OsString> = vec![
            "--db".into(),
            db.clone().into(),
            cmd.into(),
            "--profile".into(),
            missing.clone().into(),
        ];
        match cmd {
            "docs" => args.extend(["--out".into(), dir.path().join("pages").into()]),
            "check" => args.extend(["--baseline".into(), dir.path().join("b.txt").into()]),
            _ => {}
        }
        let out = kaudit(&args);
        assert_eq!(code(&out), 2, "{cmd}: {}", show(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("cannot read profile {}", missing.display())),
            "{cmd}: {err}"
        );
        assert_eq!(
            err.matches("No such file or directory").count(),
            1,
            "{cmd}: {err}"
        );
    }
}
