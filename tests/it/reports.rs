//! The closure and its reports on a fixture root: a script run with
//! `kaudit trace --root` reaches a program through a chain of alternatives
//! symlinks, the program loads a library through a SONAME link, the library
//! loads another; the profile includes a tool never run and excludes
//! documentation the script reads. The allowlist must hold exactly what a
//! chain of evidence reaches.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{code, kaudit, require_root, run_ok, show, Build, FixtureRoot, Layout};

pub(crate) const LIBDIR: &str = "/usr/lib/x86_64-linux-gnu";

const SCRIPT: &str = "#!/bin/sh
/usr/bin/tool
cat /etc/greeting
cat /usr/share/doc/app/README >/dev/null
cat /usr/bin/copied /usr/share/scripts/kept.sh >/dev/null
test -e /etc/optional.conf || true
echo 1 > /var/lib/state/data
echo x > /var/cache/t/scratch
rm /var/cache/t/scratch
";

const PROFILE: &str = r#"description = "the fixture node"
scenarios = ["fixture-run"]
budget = "64 MiB"

[[include]]
glob = "/opt/tools/bin/*"
reason = "kept for debugging by hand"

[[exclude]]
glob = "/usr/share/doc/**"
reason = "documentation is never needed on a node"
"#;

pub(crate) struct Traced {
    pub(crate) root: FixtureRoot,
    _dir: tempfile::TempDir,
    pub(crate) db: PathBuf,
    pub(crate) profile: PathBuf,
}

impl Traced {
    pub(crate) fn run<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(
        &self,
        args: I,
    ) -> std::process::Output {
        // --db first: a trace's command comes after `--`
        let mut all: Vec<std::ffi::OsString> = vec!["--db".into(), self.db.clone().into()];
        all.extend(args.into_iter().map(|a| a.as_ref().into()));
        kaudit(all)
    }

    pub(crate) fn why(&self, path: &str, extra: &[&str]) -> std::process::Output {
        let mut a = vec!["why", path, "--profile", self.profile.to_str().unwrap()];
        a.extend_from_slice(extra);
        self.run(a)
    }
}

/// The fixture node, built, scanned and traced while holding the tracing turn.
pub(crate) fn fixture() -> Traced {
    let _turn = crate::support::tracing_turn();
    let root = FixtureRoot::glibc(Layout::UsrMerged);
    root.install(Path::new("/bin/dash"), "/usr/bin/dash");
    root.symlink("dash", "/usr/bin/sh");
    for tool in ["cat", "rm"] {
        root.install(
            &std::fs::canonicalize(format!("/bin/{tool}")).unwrap(),
            format!("/usr/bin/{tool}"),
        );
    }
    let libb = root.build_into(Build::lib("libb.so.1"), format!("{LIBDIR}/libb.so.1"));
    let liba = root.build(Build::lib("liba.so.1").calls("libb.so.1").link(&libb));
    root.install(&liba, format!("{LIBDIR}/liba.so.1.0"));
    root.symlink("liba.so.1.0", format!("{LIBDIR}/liba.so.1"));
    root.build_into(Build::exe().calls("liba.so.1").link(&liba), "/usr/bin/app");
    // a link nothing asks for, and files nothing needs
    root.symlink("app", "/usr/bin/app-alias");
    root.build_into(
        Build::lib("libunused.so.1"),
        format!("{LIBDIR}/libunused.so.1"),
    );
    root.write("/etc/unused", "x\n");
    // the alternatives chain the script runs
    root.symlink("/usr/bin/app", "/etc/alternatives/tool");
    root.symlink("/etc/alternatives/tool", "/usr/bin/tool");
    // included, never run: kept with its own libraries
    let libh = root.build_into(
        Build::lib("libhelper.so.1"),
        format!("{LIBDIR}/libhelper.so.1"),
    );
    root.build_into(
        Build::exe().calls("libhelper.so.1").link(&libh),
        "/opt/tools/bin/helper",
    );
    // read as data, never run: kept, but not their libraries or interpreter
    let libd = root.build_into(Build::lib("libdata.so.1"), format!("{LIBDIR}/libdata.so.1"));
    root.build_into(
        Build::exe().calls("libdata.so.1").link(&libd),
        "/usr/bin/copied",
    );
    root.install(Path::new("/bin/dash"), "/usr/bin/never-run");
    root.write_exec("/usr/share/scripts/kept.sh", "#!/usr/bin/never-run\necho\n");
    root.write("/etc/greeting", "hello\n");
    root.write("/usr/share/doc/app/README", "docs\n");
    for d in [
        "/var/lib/state",
        "/var/cache/t",
        "/tmp",
        "/run",
        "/proc",
        "/sys",
        "/dev",
    ] {
        root.mkdir(d);
    }
    root.write_exec("/usr/local/bin/run.sh", SCRIPT);

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    let out = root.scan(&db);
    assert_eq!(code(&out), 0, "{}", show(&out));
    root.kaudit_trace(&db, "fixture-run", &[], &["/usr/local/bin/run.sh"]);
    let profile = dir.path().join("fixture-node.toml");
    std::fs::write(&profile, PROFILE).unwrap();
    Traced {
        root,
        _dir: dir,
        db,
        profile,
    }
}

pub(crate) fn lines(out: &[u8]) -> BTreeSet<String> {
    String::from_utf8_lossy(out)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The allowlist of the fixture: what the script and its programs use, the
/// loader closure of each, every symlink asked for, the include and its
/// closure, the directories written in, and the parents of all of them.
const EXPECTED: &[&str] = &[
    "/bin",
    // the mount point of /dev/null, which the script writes to
    "/dev",
    "/etc",
    "/etc/alternatives",
    "/etc/alternatives/tool",
    "/etc/greeting",
    "/lib",
    "/lib64",
    "/opt",
    "/opt/tools",
    "/opt/tools/bin",
    "/opt/tools/bin/helper",
    "/usr",
    "/usr/bin",
    "/usr/bin/app",
    "/usr/bin/cat",
    "/usr/bin/copied",
    "/usr/bin/dash",
    "/usr/bin/rm",
    "/usr/bin/sh",
    "/usr/bin/tool",
    "/usr/lib",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
    "/usr/lib/x86_64-linux-gnu/liba.so.1",
    "/usr/lib/x86_64-linux-gnu/liba.so.1.0",
    "/usr/lib/x86_64-linux-gnu/libb.so.1",
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/usr/lib/x86_64-linux-gnu/libhelper.so.1",
    "/usr/lib64",
    "/usr/lib64/ld-linux-x86-64.so.2",
    "/usr/local",
    "/usr/local/bin",
    "/usr/local/bin/run.sh",
    "/usr/share",
    "/usr/share/scripts",
    "/usr/share/scripts/kept.sh",
    "/var",
    "/var/cache",
    "/var/cache/t",
    "/var/lib",
    "/var/lib/state",
];

#[test]
fn the_allowlist_holds_exactly_what_a_chain_of_evidence_reaches_and_why_explains_each() {
    if !require_root() {
        return;
    }
    let t = fixture();
    let p = t.profile.to_str().unwrap();

    // the allowlist, exactly
    let out = t.run(["allowlist", "--profile", p]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let got = lines(&out.stdout);
    let want: BTreeSet<String> = EXPECTED.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        got.difference(&want).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "kept without being expected"
    );
    assert_eq!(
        want.difference(&got).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "expected but not kept"
    );
    // sorted, one per line, deterministic
    let again = t.run(["allowlist", "--profile", p]);
    assert_eq!(out.stdout, again.stdout);
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<&str> = text.lines().collect();
    let mut sorted = v.clone();
    sorted.sort();
    assert_eq!(v, sorted);
    let summary = String::from_utf8_lossy(&out.stderr);
    // the summary counts the lines of the list (the root directory is the
    // image, not a line of it)
    assert!(
        summary.contains(&format!("profile fixture-node: {} entries", EXPECTED.len())),
        "{summary}"
    );
    assert!(summary.contains("budget 64.0 MiB: within"), "{summary}");
    assert!(summary.contains("fixture-run (run 1)"), "{summary}");

    // every kept entry has a chain
    for path in EXPECTED.iter().chain(&["/"]) {
        let out = t.why(path, &[]);
        assert_eq!(code(&out), 0, "why {path}: {}", show(&out));
    }

    // the library loaded through another library: --all shows the loader's chain
    let out = t.why(&format!("{LIBDIR}/libb.so.1"), &["--all"]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains(&format!(
            "needed: DT_NEEDED \"libb.so.1\" of {LIBDIR}/liba.so.1.0"
        )),
        "{s}"
    );
    assert!(
        s.contains("symlink: /usr/bin/tool -> /etc/alternatives/tool"),
        "{s}"
    );

    // snapshots of the human output (process ids and sizes vary; a process
    // gone before its event was read is named "exited", without parents)
    insta::with_settings!({filters => vec![
        (r"\[\d+\]", "[PID]"),
        (r"(opened|executed|listed) by [^\[ ]+\[PID\]", "$1 by PROCESS[PID]"),
        (r"; exe [^;()\n]*", ""),
        (r"; parents [^()\n]*\]", ""),
        (r"\d+(\.\d+)? (B|KiB|MiB|GiB)", "SIZE"),
        (r"\(\d+(\.\d+)?%\)", "(PCT)"),
        (r"within \(\d+%\)", "within (PCT)"),
        // what a run touched outside the root depends on the machine
        (r"\d+ reached but not in the root", "N reached but not in the root"),
    ]}, {
        insta::assert_snapshot!("why_libb", String::from_utf8_lossy(&t.why(&format!("{LIBDIR}/libb.so.1"), &[]).stdout));
        insta::assert_snapshot!("why_libb_all", s.to_string());
        insta::assert_snapshot!("why_not_kept", String::from_utf8_lossy(&t.why("/usr/share/doc/app/README", &[]).stdout));
        insta::assert_snapshot!("allowlist_summary", summary.to_string());
    });

    // the included helper's library: the chain starts at the include
    let out = t.why(&format!("{LIBDIR}/libhelper.so.1"), &[]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.starts_with("/opt/tools/bin/helper\n"), "{s}");
    assert!(
        s.contains("include /opt/tools/bin/* (profile line 5): kept for debugging by hand"),
        "{s}"
    );
    assert!(
        s.contains("needed: DT_NEEDED \"libhelper.so.1\" of /opt/tools/bin/helper"),
        "{s}"
    );

    // a symlink kept because a process asked for it
    let out = t.why("/etc/alternatives/tool", &["--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kept"], true);
    assert_eq!(v["chain"][0]["reason"]["code"], "asked");
    assert_eq!(v["chain"][0]["reason"]["name"], "/usr/bin/tool");

    // not kept: exit 1 and the nearest facts
    let out = t.why("/usr/bin/app-alias", &[]);
    assert_eq!(code(&out), 1, "{}", show(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("present in the root: symlink"), "{s}");
    for data_only in [&format!("{LIBDIR}/libdata.so.1"), "/usr/bin/never-run"] {
        let out = t.why(data_only, &[]);
        assert_eq!(code(&out), 1, "{data_only}: {}", show(&out));
    }
    let out = t.why("/etc/unused", &[]);
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stdout).contains("present in the root: file, 2 B"));
    let out = t.why("/usr/share/doc/app/README", &[]);
    assert_eq!(code(&out), 1);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("excluded by the profile, line 9: /usr/share/doc/** (documentation is never needed on a node)"),
        "{s}"
    );
    assert!(s.contains("reached, but excluded: "), "{s}");
    assert!(
        s.contains("asked for /usr/share/doc/app/README (openat)"),
        "{s}"
    );
    let out = t.why("/etc/optional.conf", &[]);
    assert_eq!(code(&out), 1);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("not in the scanned root"), "{s}");
    assert!(s.contains("probed-absent: run.sh["), "{s}");
    assert!(s.contains("asked for /etc/optional.conf"), "{s}");

    // what breaks without the included helper: its library, kept only through it
    let out = t.run(["rdeps", "/opt/tools/bin/helper", "--profile", p]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("entries kept only through it: 4"), "{s}");
    assert!(!s.contains("scenarios that need it"), "{s}");
    assert!(s.contains("    /opt/tools/bin\n"), "{s}");
    assert!(s.contains(&format!("    {LIBDIR}/libhelper.so.1\n")), "{s}");

    // the writable directories
    let out = t.run(["writable", "--profile", p, "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let w: Value = serde_json::from_slice(&out.stdout).unwrap();
    let class = |dir: &str| {
        w.as_array()
            .unwrap()
            .iter()
            .find(|x| x["path"] == dir)
            .map(|x| x["class"].as_str().unwrap().to_string())
    };
    assert_eq!(
        class("/var/lib/state").as_deref(),
        Some("persistent"),
        "{w:#}"
    );
    assert_eq!(class("/var/cache/t").as_deref(), Some("tmpfs"), "{w:#}");

    // json: type, size and reason codes for every entry
    let out = t.run(["allowlist", "--profile", p, "--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "/etc/alternatives/tool")
        .unwrap();
    assert_eq!(e["type"], "symlink");
    assert!(e["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "asked"));
    assert_eq!(v["summary"]["entries"], EXPECTED.len());

    // the justification pages: rendered as mdBook would, links that lead
    // somewhere, well-formed pictures, byte-identical when written again
    let pages = t.db.with_file_name("pages");
    let again = t.db.with_file_name("pages-again");
    for dir in [&pages, &again] {
        let out = t.run(["docs", "--profile", p, "--out", dir.to_str().unwrap()]);
        assert_eq!(code(&out), 0, "{}", show(&out));
    }
    let html = render_pages(&pages);
    assert!(
        html.contains("<h1>Image of profile fixture-node</h1>"),
        "{html}"
    );
    assert!(html.contains("<table>"), "{html}");
    assert!(html.contains("<img src=\"size.svg\""), "{html}");
    assert!(html.contains("<img src=\"graph.svg\""), "{html}");
    let tree = |d: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        let mut v: Vec<(PathBuf, Vec<u8>)> = walkdir::WalkDir::new(d)
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                (
                    e.path().strip_prefix(d).unwrap().to_path_buf(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(tree(&pages), tree(&again), "two runs wrote different pages");
    let index = std::fs::read_to_string(pages.join("index.md")).unwrap();
    // the fixture root has no package database: everything kept is (no package)
    assert!(
        index.contains("[(no package)](packages/no-package.md)"),
        "{index}"
    );
    assert!(index.contains("`/var/lib/state`"), "{index}");
    let graph = std::fs::read_to_string(pages.join("graph.svg")).unwrap();
    for node in [
        "/usr/bin/app",
        "/usr/lib/x86_64-linux-gnu/liba.so.1.0",
        "/usr/lib/x86_64-linux-gnu/libb.so.1",
    ] {
        assert!(
            graph.contains(&format!("<title>{node}")),
            "{node} not in the graph"
        );
    }
    // an arrow for each direct need, symlinks followed, full paths in the tooltips
    for arrow in [
        format!("<title>/usr/bin/app → {LIBDIR}/liba.so.1.0 (needed)</title>"),
        format!("<title>{LIBDIR}/liba.so.1.0 → {LIBDIR}/libb.so.1 (needed)</title>"),
    ] {
        assert!(graph.contains(&arrow), "{arrow} not in\n{graph}");
    }
    assert!(
        graph.contains(&format!(">liba.so.1.0: {LIBDIR}/liba.so.1.0</text>")),
        "no legend in\n{graph}"
    );
    // book.toml: mdbook build DIR works as it is
    let book = std::fs::read_to_string(pages.join("book.toml")).unwrap();
    assert!(book.starts_with("# Written by `kaudit docs`"), "{book}");
    assert!(
        book.contains("title = \"Image of profile fixture-node\""),
        "{book}"
    );
    if let Some(mdbook) = crate::support::mdbook() {
        let html = t.db.with_file_name("book");
        let mut build = Command::new(mdbook);
        build.arg("build").arg(&pages).arg("--dest-dir").arg(&html);
        run_ok(build);
        for f in [
            "index.html",
            "writable.html",
            "packages/no-package.html",
            "graph.svg",
            "size.svg",
        ] {
            assert!(html.join(f).is_file(), "mdbook wrote no {f}");
        }
        let index = std::fs::read_to_string(html.join("index.html")).unwrap();
        assert!(index.contains("<img src=\"graph.svg\""), "{index}");
    }
    // -q: nothing on stderr; -v: the runs read, timing, the files written
    let dir = pages.to_str().unwrap();
    let out = t.run(["-q", "docs", "--profile", p, "--out", dir]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(out.stderr.is_empty(), "{}", show(&out));
    let out = t.run(["docs", "--profile", p, "--out", dir]);
    let normal = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        normal.contains("page(s) and pictures written to"),
        "{normal}"
    );
    let out = t.run(["docs", "--profile", p, "--out", dir, "-v"]);
    let verbose = String::from_utf8_lossy(&out.stderr);
    for want in [
        "page(s) and pictures written to",
        "kaudit: reading run ",
        "\"fixture-run\" (passed)",
        "kaudit: closure: ",
        "/book.toml\n",
    ] {
        assert!(verbose.contains(want), "{want} not in\n{verbose}");
        assert!(
            !normal.contains(want) || want.starts_with("page"),
            "{want} in\n{normal}"
        );
    }
    let out = t.run(["-q", "allowlist", "--profile", p]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(out.stderr.is_empty(), "{}", show(&out));
    assert!(!out.stdout.is_empty());
    let page = std::fs::read_to_string(pages.join("packages/no-package.md")).unwrap();
    assert!(page.contains("libhelper.so.1"), "{page}");
    let writable_md = std::fs::read_to_string(pages.join("writable.md")).unwrap();
    insta::with_settings!({filters => vec![(r"(?m)^(- Example: .*) by .*$", "$1 by PROCESS")]}, {
        insta::assert_snapshot!("docs_writable", writable_md);
    });

    // usable as-is: rsync --files-from and tar -T
    let list = t.db.with_file_name("list");
    let out = t.run(["allowlist", "--profile", p, "--out", list.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let dest = t.db.with_file_name("copy");
    let mut rsync = Command::new("rsync");
    rsync
        .arg("-a")
        .arg(format!("--files-from={}", list.display()))
        .arg(format!("{}/", t.root.path().display()))
        .arg(format!("{}/", dest.display()));
    run_ok(rsync);
    let copied: BTreeSet<String> = walkdir::WalkDir::new(&dest)
        .into_iter()
        .map(|e| {
            let p = e.unwrap().path().strip_prefix(&dest).unwrap().to_path_buf();
            format!("/{}", p.display())
        })
        .map(|s| s.trim_end_matches('/').to_string())
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(copied, want, "rsync --files-from copied something else");

    let rel = t.db.with_file_name("list.rel");
    let out = t.run([
        "allowlist",
        "--profile",
        p,
        "--relative",
        "--out",
        rel.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let tarball = t.db.with_file_name("image.tar");
    let mut tar = Command::new("tar");
    tar.arg("-C")
        .arg(t.root.path())
        .arg("--no-recursion")
        .arg("-cf")
        .arg(&tarball)
        .arg("-T")
        .arg(&rel);
    run_ok(tar);
    let mut list_tar = Command::new("tar");
    list_tar.arg("-tf").arg(&tarball);
    let listed: BTreeSet<String> = lines(&run_ok(list_tar).stdout)
        .into_iter()
        .map(|s| format!("/{}", s.trim_end_matches('/')))
        .collect();
    assert_eq!(listed, want, "tar -T archived something else");
}

/// Render every Markdown page of `dir` the way mdBook does (pulldown-cmark,
/// tables on), check that every relative link and image leads to a file
/// written there and every SVG is well-formed XML; the rendered index.
fn render_pages(dir: &Path) -> String {
    use pulldown_cmark::{Event, Options, Parser, Tag};
    let mut index_html = String::new();
    for e in walkdir::WalkDir::new(dir) {
        let e = e.unwrap();
        let p = e.path();
        match p.extension().and_then(|x| x.to_str()) {
            Some("md") => {
                let text = std::fs::read_to_string(p).unwrap();
                let events: Vec<Event<'_>> =
                    Parser::new_ext(&text, Options::ENABLE_TABLES).collect();
                for ev in &events {
                    let dest = match ev {
                        Event::Start(Tag::Link { dest_url, .. }) => dest_url,
                        Event::Start(Tag::Image { dest_url, .. }) => dest_url,
                        _ => continue,
                    };
                    if dest.contains("://") || dest.starts_with('#') {
                        continue;
                    }
                    let target = p.parent().unwrap().join(dest.split('#').next().unwrap());
                    assert!(
                        target.exists(),
                        "{}: link to {dest} leads nowhere",
                        p.display()
                    );
                }
                let mut html = String::new();
                pulldown_cmark::html::push_html(&mut html, events.into_iter());
                if p.file_name() == Some(OsStr::new("index.md")) {
                    index_html = html;
                }
            }
            Some("svg") => {
                let text = std::fs::read_to_string(p).unwrap();
                let doc = roxmltree::Document::parse(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                assert_eq!(doc.root_element().tag_name().name(), "svg");
            }
            _ => {}
        }
    }
    index_html
}

#[test]
fn profiles_are_checked_and_incomplete_runs_refused() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::UsrMerged);
    root.install(Path::new("/bin/dash"), "/usr/bin/dash");
    root.symlink("dash", "/usr/bin/sh");
    for d in ["/tmp", "/run", "/proc", "/sys", "/dev"] {
        root.mkdir(d);
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    assert_eq!(code(&root.scan(&db)), 0);
    {
        let _turn = crate::support::tracing_turn();
        root.kaudit_trace(&db, "nonames", &["--no-names"], &["/bin/sh", "-c", "true"]);
    }
    let profile = dir.path().join("p.toml");
    let allow = |text: &str| {
        std::fs::write(&profile, text).unwrap();
        kaudit([
            "allowlist".as_ref(),
            "--profile".as_ref(),
            profile.as_os_str(),
            "--db".as_ref(),
            db.as_os_str(),
        ])
    };
    // a rule without a reason: an error naming the line
    let out = allow("scenarios = [\"nonames\"]\n\n[[exclude]]\nglob = \"/usr/share/**\"\n");
    assert_eq!(code(&out), 2, "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("p.toml:3: [[exclude]] \"/usr/share/**\" has no reason"),
        "{err}"
    );
    // a scenario never traced
    let out = allow("scenarios = [\"never\"]\n");
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("scenario never: no passed run"));
    // a run without names is incomplete: refused, unless allowed
    let out = allow("scenarios = [\"nonames\"]\n");
    assert_eq!(code(&out), 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("scenario nonames: the latest passed run (run 1) is incomplete: names partial: name capture was turned off (--no-names)"), "{err}");
    let out = allow("scenarios = [\"nonames\"]\nallow_incomplete = true\n");
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("accepted (allow_incomplete)"));
    assert!(lines(&out.stdout).contains("/usr/bin/dash"));
}

#[test]
fn the_check_gate_fails_past_the_budget_and_on_added_removed_and_changed_entries() {
    if !require_root() {
        return;
    }
    let t = fixture();
    let p = t.profile.to_str().unwrap();
    let base = t.db.with_file_name("fixture-node.txt");
    let b = base.to_str().unwrap();
    let check = |extra: &[&str]| {
        let mut a = vec!["check", "--profile", p, "--baseline", b];
        a.extend_from_slice(extra);
        t.run(a)
    };
    let filters = vec![
        (r"\[\d+\]", "[PID]"),
        (
            r"(opened|executed|listed) by [^\[ ]+\[PID\]",
            "$1 by PROCESS[PID]",
        ),
        (r"; exe [^;()\n]*", ""),
        (r"; parents [^()\n]*\]", ""),
        (r"\d+(\.\d+)? (B|KiB|MiB|GiB)", "SIZE"),
        (r"\+?-?\d+(\.\d+)?%", "PCT"),
    ];

    // the baseline, written deliberately; an unchanged image passes
    assert_eq!(code(&check(&["--update-baseline"])), 0);
    let out = check(&[]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let md = check(&["--format", "markdown"]);
    insta::with_settings!({filters => filters.clone()}, {
        insta::assert_snapshot!("check_unchanged_text", String::from_utf8_lossy(&out.stdout));
        insta::assert_snapshot!("check_unchanged_markdown", String::from_utf8_lossy(&md.stdout));
    });

    // (a) past the budget: fails, and the JUnit report says so in the form CI systems read
    let out = check(&["--budget", "10KiB"]);
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL over-budget: the image holds"));
    let junit = t.db.with_file_name("check.xml");
    assert_eq!(
        code(&check(&[
            "--budget",
            "10KiB",
            "--format",
            "junit",
            "--out",
            junit.to_str().unwrap()
        ])),
        1
    );
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas/junit.xsd");
    let mut lint = Command::new("xmllint");
    lint.arg("--noout").arg("--schema").arg(&schema).arg(&junit);
    run_ok(lint);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<failure type=\"over-budget\""), "{xml}");

    // (b) a new scenario step opens a file: added, with the chain that keeps it
    t.root.write_exec(
        "/usr/local/bin/run.sh",
        SCRIPT.replace(
            "cat /etc/greeting\n",
            "cat /etc/greeting\ncat /etc/unused\n",
        ),
    );
    let retrace = || {
        let _turn = crate::support::tracing_turn();
        t.root
            .kaudit_trace(&t.db, "fixture-run", &[], &["/usr/local/bin/run.sh"]);
    };
    retrace();
    let out = check(&[]);
    assert_eq!(code(&out), 1, "{}", show(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("FAIL added: file /etc/unused added"), "{s}");
    assert!(s.contains("opened by "), "{s}");
    let md = check(&["--format", "markdown"]);
    insta::with_settings!({filters => filters.clone()}, {
        insta::assert_snapshot!("check_added_text", s.to_string());
        insta::assert_snapshot!("check_added_markdown", String::from_utf8_lossy(&md.stdout));
    });
    let v: serde_json::Value =
        serde_json::from_slice(&check(&["--format", "json"]).stdout).unwrap();
    assert_eq!(v["findings"][0]["code"], "added");
    assert_eq!(v["findings"][0]["path"], "/etc/unused");

    // (c) a step no longer reads a file: removed
    t.root.write_exec(
        "/usr/local/bin/run.sh",
        SCRIPT.replace("cat /etc/greeting\n", ""),
    );
    retrace();
    let out = check(&[]);
    assert_eq!(code(&out), 1, "{}", show(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("FAIL removed: file /etc/greeting removed"),
        "{s}"
    );
    assert!(!s.contains("added"), "{s}");

    // (d) a symlink's target changes (the same file, reached another way)
    t.root.write_exec("/usr/local/bin/run.sh", SCRIPT);
    retrace();
    let out = check(&[]);
    assert_eq!(code(&out), 0, "back to the baseline: {}", show(&out));
    std::fs::remove_file(t.root.host("/etc/alternatives/tool")).unwrap();
    t.root
        .symlink("../../usr/bin/app", "/etc/alternatives/tool");
    assert_eq!(code(&t.root.scan(&t.db)), 0);
    let out = check(&[]);
    assert_eq!(code(&out), 1, "{}", show(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("FAIL target-changed: symlink /etc/alternatives/tool pointed to /usr/bin/app, points to ../../usr/bin/app"),
        "{s}"
    );
}
