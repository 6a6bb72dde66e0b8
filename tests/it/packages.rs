//! Packages: attribution checked against `dpkg -S` on this machine's own
//! root, and a Gentoo root — `/var/db/pkg` in Portage's formats, with
//! `NEEDED.ELF.2` lines taken from real compiled objects — for attribution,
//! the per-package report, and `INSTALL_MASK` lines that, applied to the
//! packages' `CONTENTS`, leave exactly what the allowlist keeps.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use crate::support::{
    code, kaudit, require_root, run_ok, show, sqlite, Build, FixtureRoot, Layout,
};

/// `dpkg -S` for each path: the packages that list it, the path itself or,
/// on a usrmerged root, its alias under `/bin`, `/sbin` or `/lib*`.
fn dpkg_owners(paths: &[String]) -> BTreeMap<String, BTreeSet<String>> {
    let query = |ps: &[String]| -> BTreeMap<String, BTreeSet<String>> {
        // dpkg -S takes a pattern once a name holds `*`, `?`, `[` or `\`
        // (systemd's `system-systemd\x2dcryptsetup.slice`): escaped, each
        // stands for itself
        let escaped = ps.iter().map(|p| {
            p.chars().fold(String::new(), |mut s, c| {
                if matches!(c, '*' | '?' | '[' | '\\') {
                    s.push('\\');
                }
                s.push(c);
                s
            })
        });
        let out = Command::new("dpkg-query")
            .arg("-S")
            .args(escaped)
            .output()
            .unwrap();
        let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if line.starts_with("diversion by ") {
                continue;
            }
            let Some((pkgs, path)) = line.split_once(": ") else {
                continue;
            };
            let set = m.entry(path.to_string()).or_default();
            for p in pkgs.split(", ") {
                set.insert(p.split(':').next().unwrap().to_string());
            }
        }
        m
    };
    let mut found = query(paths);
    // /usr/bin/ls is listed as /bin/ls
    let alias = |p: &str| -> Option<String> {
        [
            "/usr/bin/",
            "/usr/sbin/",
            "/usr/lib/",
            "/usr/lib64/",
            "/usr/lib32/",
            "/usr/libx32/",
        ]
        .iter()
        .any(|pre| p.starts_with(pre))
        .then(|| p[4..].to_string())
    };
    let missing: Vec<(String, String)> = paths
        .iter()
        .filter(|p| !found.contains_key(*p))
        .filter_map(|p| alias(p).map(|a| (p.clone(), a)))
        .collect();
    let again = query(&missing.iter().map(|(_, a)| a.clone()).collect::<Vec<_>>());
    for (p, a) in missing {
        if let Some(s) = again.get(&a) {
            found.insert(p, s.clone());
        }
    }
    found
}

#[test]
fn owner_agrees_with_dpkg_on_a_large_sample_of_this_machines_usr() {
    if !require_root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("host.db");
    // walking the whole machine touches the roots other tests trace: not
    // while they do
    let out = {
        let _turn = crate::support::tracing_turn();
        kaudit([
            "scan".as_ref(),
            "--root".as_ref(),
            "/".as_ref(),
            "--db".as_ref(),
            db.as_os_str(),
        ])
    };
    assert_eq!(code(&out), 0, "{}", show(&out));
    // every 23rd file or symlink under /usr, every one whose name holds a
    // glob character or ` (` (read back from `kaudit owner`'s lines), and
    // every diverted path
    let sample: Vec<String> = sqlite(
        &db,
        "SELECT CAST(path AS TEXT) FROM file WHERE kind IN ('file', 'symlink')
           AND path >= CAST('/usr/' AS BLOB) AND path < CAST('/usr0' AS BLOB)
           AND (id % 23 = 0 OR CAST(path AS TEXT) GLOB '*[[*?\\]*' OR CAST(path AS TEXT) GLOB '* (*')
           AND CAST(path AS TEXT) NOT LIKE '%\n%' ORDER BY path",
    )
    .lines()
    .map(str::to_string)
    .chain(
        std::fs::read_to_string("/var/lib/dpkg/diversions")
            .unwrap_or_default()
            .lines()
            .enumerate()
            .filter(|(i, l)| i % 3 < 2 && Path::new(l).exists())
            .map(|(_, l)| l.to_string()),
    )
    .collect::<BTreeSet<_>>()
    .into_iter()
    .collect();
    assert!(sample.len() > 1000, "only {} paths sampled", sample.len());
    let mut oracle = dpkg_owners(&sample);
    // dpkg -S reports every package that lists a path; with a diversion, the
    // file at the original path is the diverting package's (or, for a local
    // diversion, nobody's), and the diverted packages' file is at the new name
    let div = std::fs::read_to_string("/var/lib/dpkg/diversions").unwrap_or_default();
    let div: Vec<&str> = div.lines().collect();
    for t in div.chunks(3) {
        let [from, to, by] = t else { continue };
        let listers = dpkg_owners(&[from.to_string()])
            .remove(*from)
            .unwrap_or_default();
        if sample.iter().any(|p| p == from) {
            oracle.insert(
                from.to_string(),
                listers.iter().filter(|p| p == by).cloned().collect(),
            );
        }
        if sample.iter().any(|p| p == to) {
            let mut o: BTreeSet<String> = listers.iter().filter(|p| p != by).cloned().collect();
            o.extend(
                dpkg_owners(&[to.to_string()])
                    .remove(*to)
                    .unwrap_or_default(),
            );
            oracle.insert(to.to_string(), o);
        }
    }
    let mut args: Vec<std::ffi::OsString> = vec!["owner".into(), "--db".into(), db.clone().into()];
    args.extend(sample.iter().map(Into::into));
    let out = kaudit(args);
    let mut mismatches = Vec::new();
    // one line per path, in the order given: `OWNERS: PATH` or `PATH: no
    // package`, PATH followed by ` (CANONICAL)` when it went through a
    // directory link. Names may hold `: ` and ` (` themselves (`script
    // (dev).tmpl`), so each line is read against the path it is for.
    for (line, path) in String::from_utf8_lossy(&out.stdout).lines().zip(&sample) {
        let got: BTreeSet<String> =
            if line.starts_with(path.as_str()) && line.ends_with(": no package") {
                BTreeSet::new()
            } else {
                let (pk, shown) = line.split_once(": ").unwrap();
                assert!(
                    shown.starts_with(path.as_str()),
                    "{line:?} is not for {path:?}"
                );
                pk.split(", ").map(str::to_string).collect()
            };
        let want = oracle.get(path).cloned().unwrap_or_default();
        if got != want {
            mismatches.push((path.clone(), got, want));
        }
    }
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        sample.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {} paths attributed differently from dpkg -S: {:#?}",
        mismatches.len(),
        sample.len(),
        &mismatches[..mismatches.len().min(20)]
    );
}

/// A glob as `INSTALL_MASK` matches it (`*`, `?`, `[...]`).
fn fnmatch(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => fnmatch(&p[1..], s) || (!s.is_empty() && fnmatch(p, &s[1..])),
        (Some(b'?'), Some(_)) => fnmatch(&p[1..], &s[1..]),
        (Some(b'['), Some(&c)) => {
            // a set: up to the first `]` after its first member
            let Some(end) = p.get(2..).and_then(|r| r.iter().position(|&b| b == b']')) else {
                return false;
            };
            let end = end + 2;
            p[1..end].contains(&c) && fnmatch(&p[end + 1..], &s[1..])
        }
        (Some(a), Some(b)) if a == b => fnmatch(&p[1..], &s[1..]),
        _ => false,
    }
}

/// Portage's `INSTALL_MASK` on one package's `CONTENTS`: what is left.
/// Patterns match the path or the file name; a matching directory drops
/// everything below it; `-PATTERN` un-masks; the last match wins; a pattern
/// matching a symlink itself does not drop it.
fn apply_install_mask(mask: &str, contents: &[(String, String)]) -> BTreeSet<String> {
    let pats: Vec<(bool, &str)> = mask
        .split_whitespace()
        .map(|p| match p.strip_prefix('-') {
            Some(q) => (false, q),
            None => (true, p),
        })
        .collect();
    let masked = |path: &str| -> Option<bool> {
        let name = path.rsplit('/').next().unwrap_or(path);
        pats.iter()
            .filter(|(_, p)| {
                fnmatch(p.as_bytes(), path.as_bytes()) || fnmatch(p.as_bytes(), name.as_bytes())
            })
            .map(|(m, _)| *m)
            .next_back()
    };
    contents
        .iter()
        .filter(|(kind, path)| {
            // a masked directory above drops it, whatever it is
            let mut dir = path.as_str();
            while let Some(i) = dir.rfind('/') {
                dir = &dir[..i];
                if !dir.is_empty() && masked(dir) == Some(true) {
                    return false;
                }
            }
            kind == "sym" || masked(path) != Some(true)
        })
        .map(|(_, p)| p.clone())
        .collect()
}

const LIB: &str = "/usr/lib/x86_64-linux-gnu";

#[test]
fn a_gentoo_root_is_attributed_reported_and_masked_exactly() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::UsrMerged);
    root.install(Path::new("/bin/dash"), "/usr/bin/dash");
    root.symlink("dash", "/usr/bin/sh");
    let liba = root.build(Build::lib("liba.so.1"));
    root.install(&liba, format!("{LIB}/liba.so.1.0"));
    root.symlink("liba.so.1.0", format!("{LIB}/liba.so.1"));
    root.symlink("liba.so.1", format!("{LIB}/liba.so"));
    root.write(format!("{LIB}/liba.a"), "!<arch>\n");
    root.write("/usr/include/a.h", "int a_value(void);\n");
    root.write("/usr/share/doc/libfix-1.0/README", "docs\n");
    let app = root.build_into(Build::exe().calls("liba.so.1").link(&liba), "/usr/bin/app");
    root.write(
        "/usr/share/app/my data.txt",
        "data with a space in its name\n",
    );
    root.write("/usr/share/man/man1/app.1", ".TH APP 1\n");
    let unused = root.build_into(Build::exe(), "/usr/bin/unused");
    root.build_into(Build::exe(), "/usr/bin/app1");
    root.write_exec(
        "/usr/local/bin/run.sh",
        "#!/bin/sh\n/usr/bin/app\ncat '/usr/share/app/my data.txt'\n",
    );
    for d in ["/tmp", "/run", "/proc", "/sys", "/dev"] {
        root.mkdir(d);
    }
    root.install(&std::fs::canonicalize("/bin/cat").unwrap(), "/usr/bin/cat");

    // the packages, as Portage records them; NEEDED.ELF.2 from the objects themselves
    let needed_of = |f: &Path| -> String {
        let mut c = Command::new("scanelf");
        c.args(["-qBF", "%n#F"]).arg(f);
        String::from_utf8_lossy(&run_ok(c).stdout)
            .trim()
            .to_string()
    };
    let obj = |p: &str| format!("obj {p} d41d8cd98f00b204e9800998ecf8427e 1700000000");
    let sym = |p: &str, t: &str| format!("sym {p} -> {t} 1700000000");
    let dir = |p: &str| format!("dir {p}");
    let packages: Vec<(&str, &str, &str, Vec<String>, String)> = vec![
        (
            "sys-libs",
            "libfix",
            "libfix-1.0-r2",
            vec![
                dir("/usr"),
                dir(LIB),
                obj(&format!("{LIB}/liba.so.1.0")),
                sym(&format!("{LIB}/liba.so.1"), "liba.so.1.0"),
                sym(&format!("{LIB}/liba.so"), "liba.so.1"),
                obj(&format!("{LIB}/liba.a")),
                dir("/usr/include"),
                obj("/usr/include/a.h"),
                dir("/usr/share"),
                dir("/usr/share/doc"),
                dir("/usr/share/doc/libfix-1.0"),
                obj("/usr/share/doc/libfix-1.0/README"),
            ],
            format!(
                "X86_64;{LIB}/liba.so.1.0;liba.so.1;;{};x86_64\n",
                needed_of(&root.host(format!("{LIB}/liba.so.1.0")))
            ),
        ),
        (
            "app-misc",
            "app",
            "app-2.1",
            vec![
                dir("/usr"),
                dir("/usr/bin"),
                obj("/usr/bin/app"),
                dir("/usr/share"),
                dir("/usr/share/app"),
                obj("/usr/share/app/my data.txt"),
                dir("/usr/share/man"),
                dir("/usr/share/man/man1"),
                obj("/usr/share/man/man1/app.1"),
            ],
            format!("X86_64;/usr/bin/app;;;{};x86_64\n", needed_of(&app)),
        ),
        (
            // an older slot of the same package, nothing uses it
            "app-misc",
            "app",
            "app-1.0",
            vec![dir("/usr/bin"), obj("/usr/bin/app1")],
            String::new(),
        ),
        (
            "app-misc",
            "unused",
            "unused-0.1",
            vec![dir("/usr/bin"), obj("/usr/bin/unused")],
            // wrong on purpose: the file needs libc only
            format!(
                "X86_64;/usr/bin/unused;;;libgone.so.1,{};x86_64\n",
                needed_of(&unused)
            ),
        ),
        (
            "app-shells",
            "dash",
            "dash-0.5.12",
            vec![
                dir("/usr/bin"),
                obj("/usr/bin/dash"),
                sym("/usr/bin/sh", "dash"),
            ],
            String::new(),
        ),
    ];
    for (cat, _, pf, contents, needed) in &packages {
        let d = format!("/var/db/pkg/{cat}/{pf}");
        root.write(format!("{d}/CONTENTS"), contents.join("\n") + "\n");
        if *pf != "app-2.1" {
            root.write(format!("{d}/SIZE"), "1234\n");
        }
        if !needed.is_empty() {
            root.write(format!("{d}/NEEDED.ELF.2"), needed);
        }
    }
    root.write("/var/db/pkg/app-misc/app-1.0/SLOT", "1\n");
    root.write("/var/db/pkg/sys-libs/libfix-1.0-r2/SLOT", "0/1.0\n");
    // Portage's consolidated metadata file: app-2.1's SLOT and SIZE are in
    // it only, stamped with its directory's time; libfix's is stale (its
    // directory changed after the stamp), so its own SLOT file says
    let stamp = |pf: &str, body: &str, stamp_ns: u64, dir_ns: u64| {
        let d = format!("/var/db/pkg/{pf}");
        root.write(
            format!("{d}/metadata"),
            format!("#format=1\n#dir_mtime={stamp_ns}\n{body}"),
        );
        std::fs::File::open(root.host(&d))
            .unwrap()
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_nanos(dir_ns))
            .unwrap();
    };
    stamp(
        "app-misc/app-2.1",
        "SLOT=2\nSIZE=5678\nrepository=gentoo\n",
        1_700_000_000_123_456_789,
        1_700_000_000_123_456_789,
    );
    stamp(
        "sys-libs/libfix-1.0-r2",
        "SLOT=9\nSIZE=1\n",
        1_700_000_000_000_000_000,
        1_700_000_001_000_000_000,
    );

    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("g.db");
    assert_eq!(code(&root.scan(&db)), 0);
    {
        let _turn = crate::support::tracing_turn();
        root.kaudit_trace(&db, "gentoo-run", &[], &["/usr/local/bin/run.sh"]);
    }
    let profile = t.path().join("gentoo-node.toml");
    std::fs::write(&profile, "scenarios = [\"gentoo-run\"]\n").unwrap();
    let k = |args: &[&str]| {
        let mut a: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        a.extend(["--db".into(), db.clone().into()]);
        kaudit(a)
    };
    let p = profile.to_str().unwrap();

    // attribution
    let out = k(&[
        "owner",
        "/usr/bin/app",
        "/lib/x86_64-linux-gnu/liba.so.1",
        "/usr/share/app/my data.txt",
        "/usr/local/bin/run.sh",
    ]);
    assert_eq!(code(&out), 1, "run.sh has no package: {}", show(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "app-misc/app: /usr/bin/app\nsys-libs/libfix: /lib/x86_64-linux-gnu/liba.so.1 ({LIB}/liba.so.1)\napp-misc/app: /usr/share/app/my data.txt\n/usr/local/bin/run.sh: no package\n"
        )
    );
    // findings: the wrong NEEDED.ELF.2, and the file no package owns
    let findings = sqlite(&db, "SELECT code || ' ' || CAST(path AS TEXT) FROM finding WHERE origin = 'packages' ORDER BY 1");
    assert!(
        findings.contains("needed-mismatch /usr/bin/unused"),
        "{findings}"
    );
    assert!(
        !findings.contains("needed-mismatch /usr/bin/app"),
        "{findings}"
    );
    assert!(
        !findings.contains(&format!("needed-mismatch {LIB}/liba.so.1.0")),
        "{findings}"
    );
    assert!(
        findings.contains("unowned-file /usr/local/bin/run.sh"),
        "{findings}"
    );
    // why shows the package of every hop
    let out = k(&["why", &format!("{LIB}/liba.so.1.0"), "--profile", p]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("[sys-libs/libfix]"),
        "{}",
        show(&out)
    );

    // the per-package report
    let out = k(&["packages", "--profile", p, "--format", "json", "--all"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // a package by its atom: CATEGORY/PN, and :SLOT unless the slot is 0
    let row = |atom: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|r| {
                let slot = r["slot"].as_str().filter(|s| *s != "0");
                let name = r["package"].as_str().unwrap();
                match slot {
                    Some(s) => format!("{name}:{s}") == atom,
                    None => name == atom,
                }
            })
            .cloned()
            .unwrap_or_else(|| panic!("{atom}: {v:#}"))
    };
    let counts = |name: &str| {
        let r = row(name);
        (
            r["kept_files"].as_u64().unwrap(),
            r["dropped_files"].as_u64().unwrap(),
        )
    };
    assert_eq!(
        counts("sys-libs/libfix"),
        (2, 4),
        "liba.so.1.0 and liba.so.1 kept; liba.so, liba.a, a.h, README dropped"
    );
    assert_eq!(counts("app-misc/app:2"), (2, 1));
    assert_eq!(
        counts("app-misc/app:1"),
        (0, 1),
        "the other slot: its own row"
    );
    assert_eq!(counts("app-misc/unused"), (0, 1));
    assert_eq!(counts("app-shells/dash"), (2, 0));
    assert_eq!(row("sys-libs/libfix")["version"], "1.0-r2");
    // SLOT and SIZE from the metadata file when its stamp holds, from their
    // own files when it is stale
    assert_eq!(
        sqlite(
            &db,
            "SELECT name || '-' || version || ' ' || ifnull(slot, '-') || ' ' || ifnull(size, '-') FROM package ORDER BY 1"
        ),
        "app-misc/app-1.0 1 1234\napp-misc/app-2.1 2 5678\napp-misc/unused-0.1 - 1234\napp-shells/dash-0.5.12 - 1234\nsys-libs/libfix-1.0-r2 0 1234\n"
    );

    // INSTALL_MASK: applied to CONTENTS, exactly the allowlist's files remain
    let list = t.path().join("list");
    assert_eq!(
        code(&k(&[
            "allowlist",
            "--profile",
            p,
            "--out",
            list.to_str().unwrap()
        ])),
        0
    );
    let allow: BTreeSet<String> = std::fs::read_to_string(&list)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let feeds = t.path().join("portage");
    let out = k(&[
        "install-mask",
        "--profile",
        p,
        "--out",
        feeds.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let package_env = std::fs::read_to_string(feeds.join("package.env")).unwrap();
    for (cat, pn, pf, contents, _) in &packages {
        let slot = match *pf {
            "app-2.1" => "2",
            "app-1.0" => "1",
            _ => "",
        };
        let atom = match slot {
            "" => format!("{cat}/{pn}"),
            s => format!("{cat}/{pn}:{s}"),
        };
        let file = atom.replace(['/', ':'], "-");
        let conf = feeds.join(format!("env/kaudit/{file}.conf"));
        let mask = std::fs::read_to_string(&conf)
            .ok()
            .and_then(|c| {
                c.lines().find_map(|l| {
                    l.strip_prefix("INSTALL_MASK=\"")
                        .map(|m| m.trim_end_matches('"').to_string())
                })
            })
            .unwrap_or_default();
        if !mask.is_empty() {
            assert!(
                package_env.contains(&format!("{atom} kaudit/{file}.conf")),
                "{package_env}"
            );
        }
        let entries: Vec<(String, String)> = contents
            .iter()
            .map(|l| {
                let (kind, rest) = l.split_once(' ').unwrap();
                let path = match kind {
                    "obj" => rest.rsplitn(3, ' ').last().unwrap(),
                    "sym" => rest.split(" -> ").next().unwrap(),
                    _ => rest,
                };
                (kind.to_string(), path.to_string())
            })
            .collect();
        let left = apply_install_mask(&mask, &entries);
        let left_files: BTreeSet<&String> = entries
            .iter()
            .filter(|(k, p)| k == "obj" && left.contains(p))
            .map(|(_, p)| p)
            .collect();
        let kept_files: BTreeSet<&String> = entries
            .iter()
            .filter(|(k, p)| k == "obj" && allow.contains(p))
            .map(|(_, p)| p)
            .collect();
        assert_eq!(left_files, kept_files, "{atom}: INSTALL_MASK=\"{mask}\"");
    }
    let world = std::fs::read_to_string(feeds.join("world")).unwrap();
    assert_eq!(world, "app-misc/app:2\napp-shells/dash\nsys-libs/libfix\n");
    // the patterns of the library: whole directories where nothing is kept
    let conf = std::fs::read_to_string(feeds.join("env/kaudit/sys-libs-libfix.conf")).unwrap();
    assert!(
        conf.contains(&format!(
            "INSTALL_MASK=\"/usr/include {LIB}/liba.a /usr/share/doc\""
        )),
        "{conf}"
    );
    assert!(
        conf.contains(&format!(
            "dropped symlink(s) stay (INSTALL_MASK leaves symlinks): {LIB}/liba.so"
        )),
        "{conf}"
    );
    let conf = std::fs::read_to_string(feeds.join("env/kaudit/app-misc-app-2.conf")).unwrap();
    assert!(conf.contains("INSTALL_MASK=\"/usr/share/man\""), "{conf}");
}
