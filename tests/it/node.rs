//! A real node: a Debian 12 root with containerd, runc and crun, built with
//! mmdebstrap (`examples/build-node-root.sh`, cached in target/node-root).
//! The shipped scenarios run inside it with `kaudit trace --root` and must
//! pass and record what containerd and runc really use.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{kaudit, names_of, require_root};

pub(crate) fn node_root() -> PathBuf {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = ws.join("target/node-root");
    let st = Command::new("bash")
        .arg(ws.join("examples/build-node-root.sh"))
        .arg(&root)
        .status()
        .expect("run build-node-root.sh");
    assert!(st.success(), "building the node root failed");
    root
}

/// Runs the shipped scenario `name` (by name, from a directory that holds
/// no scenarios: the ones built into kaudit) inside `root`, and returns what
/// it accessed.
fn trace_scenario(root: &Path, db: &Path, name: &str) -> Value {
    trace_scenario_with(root, db, name, &[])
}

/// The same with `--param NAME=VALUE` for each of `params`.
fn trace_scenario_with(root: &Path, db: &Path, name: &str, params: &[&str]) -> Value {
    let elsewhere = tempfile::tempdir().unwrap();
    let mut cmd = crate::support::kaudit_cmd([
        "trace".as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
        "--scenario".as_ref(),
        std::ffi::OsStr::new(name),
        "--db".as_ref(),
        db.as_os_str(),
    ]);
    for p in params {
        cmd.args(["--param", p]);
    }
    cmd.current_dir(elsewhere.path());
    let out = crate::support::run_with_timeout(cmd, std::time::Duration::from_secs(300));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{name}: {err}");
    let out = kaudit([
        "accessed".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        "--scenario".as_ref(),
        std::ffi::OsStr::new(name),
        "--db".as_ref(),
        db.as_os_str(),
    ]);
    serde_json::from_slice(&out.stdout).expect("json")
}

/// Every entry below `dir` with its size and modification time (what a
/// trace or a replay must never change).
pub(crate) fn listing(dir: &Path) -> Vec<(std::path::PathBuf, u64, i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .map(|e| {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            (e.path().to_path_buf(), m.size(), m.mtime(), m.mtime_nsec())
        })
        .collect()
}

/// Every directory of every cgroup hierarchy.
pub(crate) fn cgroup_dirs() -> std::collections::BTreeSet<std::path::PathBuf> {
    walkdir::WalkDir::new("/sys/fs/cgroup")
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_dir())
        .map(|e| e.into_path())
        .collect()
}

/// The first difference between two listings, for a message.
fn first_change(
    a: &[(std::path::PathBuf, u64, i64, i64)],
    b: &[(std::path::PathBuf, u64, i64, i64)],
) -> String {
    let sa: std::collections::BTreeSet<_> = a.iter().collect();
    let sb: std::collections::BTreeSet<_> = b.iter().collect();
    let gone: Vec<_> = sa.difference(&sb).take(5).collect();
    let new: Vec<_> = sb.difference(&sa).take(5).collect();
    format!("before only: {gone:?}; after only: {new:?}")
}

/// The symlinks (link, target) walked by a successful `call` of `path`.
fn chain(v: &Value, path: &str, call: &str) -> Vec<(String, String)> {
    let n = v["asked"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["path"] == path && n["call"] == call && n["result"] == "ok")
        .unwrap_or_else(|| panic!("{path} ({call}) was not asked for"));
    n["symlinks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["link"].as_str().unwrap().to_string(),
                h["target"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Every (path, kind) is among the accesses.
fn assert_recorded(v: &Value, list: &[(&str, &str)]) {
    for (path, kind) in list {
        assert!(
            has(v, |p, k| p == *path && k == *kind),
            "{path} ({kind}) not recorded"
        );
    }
}

fn has(v: &Value, pred: impl Fn(&str, &str) -> bool) -> bool {
    v["accesses"].as_array().unwrap().iter().any(|a| {
        pred(
            a["path"].as_str().unwrap_or(""),
            a["kind"].as_str().unwrap_or(""),
        )
    })
}

#[test]
fn containerd_run_and_runc_run_pass_inside_a_real_node_root() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let root = node_root();
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("node.db");
    // the analysed root is never written: a listing of it (path, size,
    // mtime) is the same after every trace
    let before = listing(&root);
    let cgroups_before = cgroup_dirs();

    // the node boots (the shipped profile's first scenario): its own systemd,
    // until it is running with an address from the run's DHCP server
    let v = trace_scenario_with(
        &root,
        &db,
        "boot",
        &[
            "SETTLE=1",
            "TIMEOUT=2m",
            "READY=systemctl is-system-running --quiet && ip -4 -o addr show host0 | grep -q inet",
        ],
    );
    assert_recorded(
        &v,
        &[
            ("/usr/lib/systemd/systemd", "exec"),
            ("/usr/lib/systemd/systemd-networkd", "exec"),
            ("/usr/bin/containerd", "exec"),
        ],
    );

    let v = trace_scenario(&root, &db, "containerd-run");
    assert_recorded(
        &v,
        &[
            ("/usr/bin/containerd", "exec"),
            ("/usr/bin/containerd-shim-runc-v2", "exec"),
            ("/usr/sbin/runc", "exec"),
            ("/etc/containerd/config.toml", "open"),
        ],
    );
    assert!(
        has(&v, |p, k| p.contains("/libseccomp.so") && k == "open"),
        "libseccomp not recorded"
    );
    // every path is inside the root
    let host = root.to_string_lossy().into_owned();
    assert!(!has(&v, |p, _| p.starts_with(&host)));

    // the names asked for, with the symlinks they walk: the steps' /bin/sh
    // (usrmerge, then dash), libraries through /lib -> usr/lib, and the
    // container's /bin/sh, asked for in the container's own root
    let n = names_of(&db, "containerd-run");
    assert_eq!(
        chain(&n, "/bin/sh", "execve"),
        pairs(&[("/bin", "usr/bin"), ("/usr/bin/sh", "dash")])
    );
    assert!(n["asked"].as_array().unwrap().iter().any(|x| {
        x["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("/lib/x86_64-linux-gnu/libseccomp.so"))
            && x["symlinks"][0]["link"] == "/lib"
            && x["symlinks"][0]["target"] == "usr/lib"
    }));
    assert_eq!(
        chain(&n, "/opt/busybox/bin/sh", "execve"),
        pairs(&[("/opt/busybox/bin/sh", "busybox")])
    );
    assert!(!n["asked"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["path"].as_str().unwrap_or("").starts_with(&host)));

    let v = trace_scenario(&root, &db, "runc-run");
    assert!(has(&v, |p, k| p == "/usr/sbin/runc" && k == "exec"));
    assert!(has(&v, |p, k| p.contains("/libseccomp.so") && k == "open"));
    // the container's files as the node's paths, not as the container sees them
    assert!(has(&v, |p, k| p == "/opt/busybox/bin/busybox" && k == "exec"));
    assert!(
        !has(&v, |p, _| p == "/bin/busybox"),
        "a container path was recorded as the node's"
    );
    // the bundle is the harness's: its tools are not the node's needs
    assert!(
        !has(&v, |p, _| ["/usr/bin/sed", "/usr/bin/rm", "/usr/bin/mkdir"]
            .contains(&p)),
        "the harness step's tools were recorded"
    );

    let v = trace_scenario(&root, &db, "crun-run");
    assert!(has(&v, |p, k| p == "/usr/bin/crun" && k == "exec"));
    assert!(has(&v, |p, k| p.contains("/libseccomp.so") && k == "open"));
    assert!(has(&v, |p, k| p == "/opt/busybox/bin/busybox" && k == "exec"));

    // The pod network: bridge with host-local IPAM and masquerading through
    // iptables (nft), then portmap, all in namespaces of the scenario's own.
    let v = trace_scenario(&root, &db, "cni-bridge");
    for plugin in ["bridge", "host-local", "portmap"] {
        let path = format!("/usr/lib/cni/{plugin}");
        assert!(
            has(&v, |p, k| p == path && k == "exec"),
            "{path} not recorded"
        );
    }
    assert!(has(&v, |p, k| p.ends_with("/xtables-nft-multi") && k == "exec"));
    // the plugin runs iptables by name: every hop of the alternatives chain
    let n = names_of(&db, "cni-bridge");
    assert_eq!(
        chain(&n, "/usr/sbin/iptables", "execve"),
        pairs(&[
            ("/usr/sbin/iptables", "/etc/alternatives/iptables"),
            ("/etc/alternatives/iptables", "/usr/sbin/iptables-nft"),
            ("/usr/sbin/iptables-nft", "xtables-nft-multi"),
        ])
    );
    assert!(has(&v, |p, _| p.contains("/xtables/libxt_")));
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&netns.stdout).contains("kaudit-cni"),
        "the scenario's network namespaces outlived it"
    );
    // no control group is left behind (containerd makes `default` in every
    // hierarchy for its containers)
    let made: Vec<_> = cgroup_dirs()
        .difference(&cgroups_before)
        .filter(|d| d.to_string_lossy().contains("kaudit-containerd-run") || d.ends_with("default"))
        .cloned()
        .collect();
    assert!(made.is_empty(), "control groups left behind: {made:?}");
    let after = listing(&root);
    assert!(
        before == after,
        "a trace wrote into the analysed root: {}",
        first_change(&before, &after)
    );

    allowlist_of_the_containerd_node(&root, &db);
}

#[test]
fn podman_run_passes_inside_a_real_node_root() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let root = node_root();
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("node.db");

    let v = trace_scenario(&root, &db, "podman-run");
    assert_recorded(
        &v,
        &[
            ("/usr/bin/podman", "exec"),
            ("/usr/bin/conmon", "exec"),
            ("/usr/bin/crun", "exec"),
            ("/opt/busybox/bin/busybox", "exec"),
        ],
    );
    for path in [
        "/usr/share/containers/containers.conf",
        "/usr/share/containers/seccomp.json",
    ] {
        assert!(has(&v, |p, k| p == path && k == "open"), "{path}");
    }
}

/// The shipped profile `allowlists/containerd-node.toml` over the four
/// traced scenarios: what was traced, the loader closure of every program
/// run (as the root's own glibc loader lists it), every symlink hop asked
/// for, and nothing no chain reaches.
fn allowlist_of_the_containerd_node(root: &Path, db: &Path) {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR"));
    let profile = ws.join("allowlists/containerd-node.toml");
    let out = kaudit([
        "scan".as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
        "--db".as_ref(),
        db.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", crate::support::show(&out));
    let k = |args: &[&str]| {
        let mut a: Vec<std::ffi::OsString> = args.iter().map(|s| s.into()).collect();
        a.extend(["--profile".into(), profile.clone().into_os_string()]);
        a.extend(["--db".into(), db.as_os_str().to_owned()]);
        kaudit(a)
    };
    let out = k(&["allowlist"]);
    assert_eq!(out.status.code(), Some(0), "{}", crate::support::show(&out));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    let list: std::collections::BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    for want in [
        "/usr/bin/containerd",
        "/usr/bin/containerd-shim-runc-v2",
        "/usr/sbin/runc",
        "/usr/bin/crun",
        "/etc/containerd/config.toml",
        "/usr/lib/x86_64-linux-gnu/libseccomp.so.2",
        "/usr/lib/x86_64-linux-gnu/libseccomp.so.2.5.4",
        // the usrmerge directory links and the steps' /bin/sh
        "/bin",
        "/lib",
        "/lib64",
        "/usr/bin/sh",
        "/usr/bin/dash",
        // the container's /bin/sh
        "/opt/busybox/bin/sh",
        "/opt/busybox/bin/busybox",
        // every hop of the iptables chain
        "/usr/sbin/iptables",
        "/etc/alternatives/iptables",
        "/usr/sbin/iptables-nft",
        "/usr/sbin/xtables-nft-multi",
        "/usr/lib/cni/bridge",
        "/etc/passwd",
    ] {
        assert!(list.contains(want), "{want} is not in the allowlist");
    }
    for unwanted in [
        "/usr/bin/perl",
        "/usr/share/doc/runc/copyright",
        "/usr/bin/podman",
    ] {
        assert!(!list.contains(unwanted), "{unwanted} is in the allowlist");
        let out = k(&["why", unwanted]);
        assert_eq!(out.status.code(), Some(1), "{}", crate::support::show(&out));
    }
    // the loader closure of each program run, as the root's own loader lists it
    for prog in [
        "/usr/sbin/runc",
        "/usr/bin/crun",
        "/usr/sbin/xtables-nft-multi",
        "/usr/lib/cni/bridge",
    ] {
        let out = Command::new("chroot")
            .arg(root)
            .args(["/lib64/ld-linux-x86-64.so.2", "--list", prog])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.lines() {
            let path = match line.split_once(" => ") {
                Some((_, rest)) => rest.split(" (").next().unwrap_or(""),
                None => line.trim().split(" (").next().unwrap_or(""),
            };
            if !path.starts_with('/') {
                continue;
            }
            let out = k(&["why", path]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{prog} loads {path}, which is not kept: {}",
                crate::support::show(&out)
            );
        }
    }
    // the chain through a runtime (runc and crun both load it) and the step
    // that executed it; every chain shows the one through runc
    let out = k(&["why", "/usr/lib/x86_64-linux-gnu/libseccomp.so.2.5.4"]);
    assert_eq!(out.status.code(), Some(0));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("/usr/sbin/runc  [runc]\n    executed by ")
            || s.contains("/usr/bin/crun  [crun]\n    executed by "),
        "{s}"
    );
    assert!(s.contains("in step \""), "{s}");
    assert!(
        s.contains("symlink: /usr/lib/x86_64-linux-gnu/libseccomp.so.2 -> libseccomp.so.2.5.4"),
        "{s}"
    );
    let out = k(&[
        "why",
        "--all",
        "/usr/lib/x86_64-linux-gnu/libseccomp.so.2.5.4",
    ]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("needed: DT_NEEDED \"libseccomp.so.2\" of /usr/sbin/runc"),
        "{s}"
    );
    assert!(s.contains("executed by "), "{s}");
    // the justification pages: a per-package table in the index, the
    // runtime's page with the reason for each kept file
    let pages = db.with_file_name("pages");
    let out = k(&["docs", "--out", pages.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", crate::support::show(&out));
    let index = std::fs::read_to_string(pages.join("index.md")).unwrap();
    assert!(index.contains("| [runc](packages/runc.md) |"), "{index}");
    assert!(
        index.contains("| [libseccomp2](packages/libseccomp2.md) |"),
        "{index}"
    );
    let page = std::fs::read_to_string(pages.join("packages/libseccomp2.md")).unwrap();
    assert!(
        page.contains("`/usr/lib/x86_64-linux-gnu/libseccomp.so.2.5.4`"),
        "{page}"
    );
    // the dependency picture draws each program's own needs: runc -> libc,
    // not one line from somewhere converging on libc
    let graph = std::fs::read_to_string(pages.join("graph.svg")).unwrap();
    for arrow in [
        "<title>/usr/sbin/runc → /usr/lib/x86_64-linux-gnu/libc.so.6 (needed)</title>",
        "<title>/usr/sbin/runc → /usr/lib/x86_64-linux-gnu/libseccomp.so.2.5.4 (needed)</title>",
        "<title>/usr/bin/crun → /usr/lib/x86_64-linux-gnu/libc.so.6 (needed)</title>",
        "<title>/usr/sbin/runc → /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 (interp)</title>",
    ] {
        assert!(graph.contains(arrow), "{arrow} not in graph.svg");
    }
    assert!(graph.contains(">runc: /usr/sbin/runc</text>"), "no legend");
    // the usrmerge links (/bin, /lib, /sbin, listed by many packages as
    // directories) are no package's kept file: bash, tar, libtinfo6... keep
    // nothing, rather than "1 kept file, 0 B" (a package whose kept file is a
    // symlink to a file, systemd-sysv's /sbin/init, keeps 1 file of 0 B)
    for nothing in ["bash", "tar", "libtinfo6"] {
        assert!(
            !pages.join(format!("packages/{nothing}.md")).exists(),
            "{nothing} has a page"
        );
    }
    let out = k(&["packages", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", crate::support::show(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["package"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"runc"), "{names:?}");
    for nothing in ["bash", "tar", "libtinfo6"] {
        assert!(
            !names.contains(&nothing),
            "{nothing} keeps files: {names:?}"
        );
    }

    // the image: assembled from the allowlist, it holds it, every load and
    // link resolves, and every scenario replays inside it
    let list = db.with_file_name("image.list");
    let out = k(&["allowlist", "--out", list.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", crate::support::show(&out));
    let image = db.with_file_name("image");
    let out = kaudit([
        "assemble".as_ref(),
        "--allowlist".as_ref(),
        list.as_os_str(),
        "--from".as_ref(),
        root.as_os_str(),
        "--out".as_ref(),
        image.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", crate::support::show(&out));
    // from a directory without scenarios: verify finds the built-in ones
    let elsewhere = tempfile::tempdir().unwrap();
    let verify = |extra: &[&str]| {
        let mut a = vec!["verify", "--root", image.to_str().unwrap()];
        a.extend_from_slice(extra);
        a.extend(["--profile", profile.to_str().unwrap()]);
        a.extend(["--db", db.to_str().unwrap()]);
        let mut cmd = crate::support::kaudit_cmd(a);
        cmd.current_dir(elsewhere.path());
        crate::support::run_with_timeout(cmd, std::time::Duration::from_secs(300))
    };
    let tree = || listing(&image);
    let before = tree();
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", crate::support::show(&out));
    // no problem: nothing on stdout; the verdict on stderr
    assert!(out.stdout.is_empty(), "{}", crate::support::show(&out));
    let s = String::from_utf8_lossy(&out.stderr);
    assert!(s.contains("and 5 replay(s) passed"), "{s}");
    // the replays ran on an overlay: the image is exactly as assembled
    assert!(before == tree(), "a replay wrote into the image");
    // one allowlisted file removed: verify fails, naming it and its chain
    std::fs::remove_file(image.join("usr/lib/x86_64-linux-gnu/libseccomp.so.2.5.4")).unwrap();
    let out = verify(&["--scenario", "runc-run"]);
    assert_eq!(out.status.code(), Some(1), "{}", crate::support::show(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("missing-entry: /usr/lib/x86_64-linux-gnu/libseccomp.so.2.5.4 is in the allowlist of profile containerd-node but not in the image"),
        "{s}"
    );
    assert!(
        s.contains("needed: DT_NEEDED \"libseccomp.so.2\" of /usr/"),
        "{s}"
    );
    assert!(s.contains("unresolved-needed: /usr/sbin/runc"), "{s}");
    assert!(
        s.contains("replay-failed: scenario runc-run failed inside the image"),
        "{s}"
    );
    assert!(
        s.contains("on its way, /usr/lib/x86_64-linux-gnu/libseccomp.so.2.5.4, which the source has and the image lacks"),
        "{s}"
    );
    // the replays never wrote into the image
    assert!(!image
        .join("var/lib/containerd/io.containerd.runtime.v2.task/default/kaudit-containerd-run")
        .exists());

    // the iptables chain: the link a plugin asked for
    let out = k(&["why", "/etc/alternatives/iptables"]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("asked for /usr/sbin/iptables (execve)"), "{s}");
}
