//! A real node: a Debian 12 root with containerd, runc and crun, built with
//! mmdebstrap (`examples/build-node-root.sh`, cached in target/node-root).
//! The shipped scenarios run inside it with `kaudit trace --root` and must
//! pass and record what containerd and runc really use.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{kaudit, require_root};

fn node_root() -> PathBuf {
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

fn trace_scenario(root: &Path, db: &Path, name: &str) -> Value {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"));
    let out = kaudit([
        "trace".as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
        "--scenario".as_ref(),
        file.as_os_str(),
        "--db".as_ref(),
        db.as_os_str(),
    ]);
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
    let root = node_root();
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("node.db");

    let v = trace_scenario(&root, &db, "containerd-run");
    for (path, kind) in [
        ("/usr/bin/containerd", "exec"),
        ("/usr/bin/containerd-shim-runc-v2", "exec"),
        ("/usr/sbin/runc", "exec"),
        ("/etc/containerd/config.toml", "open"),
    ] {
        assert!(
            has(&v, |p, k| p == path && k == kind),
            "{path} ({kind}) not recorded"
        );
    }
    assert!(
        has(&v, |p, k| p.contains("/libseccomp.so") && k == "open"),
        "libseccomp not recorded"
    );
    // every path is inside the root
    let host = root.to_string_lossy().into_owned();
    assert!(!has(&v, |p, _| p.starts_with(&host)));

    let v = trace_scenario(&root, &db, "runc-run");
    assert!(has(&v, |p, k| p == "/usr/sbin/runc" && k == "exec"));
    assert!(has(&v, |p, k| p.contains("/libseccomp.so") && k == "open"));
    assert!(has(&v, |p, k| p == "/opt/busybox/bin/busybox" && k == "exec"));

    let v = trace_scenario(&root, &db, "crun-run");
    assert!(has(&v, |p, k| p == "/usr/bin/crun" && k == "exec"));
    assert!(has(&v, |p, k| p.contains("/libseccomp.so") && k == "open"));
    assert!(has(&v, |p, k| p == "/opt/busybox/bin/busybox" && k == "exec"));
}

#[test]
fn podman_run_and_cni_bridge_pass_inside_a_real_node_root() {
    if !require_root() {
        return;
    }
    let root = node_root();
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("node.db");

    let v = trace_scenario(&root, &db, "podman-run");
    for (path, kind) in [
        ("/usr/bin/podman", "exec"),
        ("/usr/bin/conmon", "exec"),
        ("/usr/bin/crun", "exec"),
        ("/opt/busybox/bin/busybox", "exec"),
    ] {
        assert!(
            has(&v, |p, k| p == path && k == kind),
            "{path} ({kind}) not recorded"
        );
    }
    for path in [
        "/usr/share/containers/containers.conf",
        "/usr/share/containers/seccomp.json",
    ] {
        assert!(has(&v, |p, k| p == path && k == "open"), "{path}");
    }

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
    assert!(has(&v, |p, _| p.contains("/xtables/libxt_")));
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&netns.stdout).contains("kaudit-cni"),
        "the scenario's network namespaces outlived it"
    );
}
