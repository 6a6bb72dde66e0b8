//! Init-system evidence: systemd units (ExecStart and friends, their
//! drop-ins, Wants and the `.wants/` links that enable them) and OpenRC
//! scripts (`command=`, `depend()`, runlevel links) become `init` edges of
//! the graph, and `kaudit why` names the unit or script that starts a
//! program and what enables it. The edges are evidence, not needs: nothing
//! is kept through them.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use crate::support::{kaudit, show, sqlite};

fn write(root: &Path, path: &str, text: &str, mode: u32) {
    let p = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn link(root: &Path, path: &str, target: &str) {
    let p = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    symlink(target, p).unwrap();
}

#[test]
fn units_and_openrc_scripts_are_edges_that_why_names() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    // OpenRC: a service with its command, needs and runlevel
    write(&root, "/etc/init.d/containerd", "#!/sbin/openrc-run\ncommand=\"/usr/bin/containerd\"\ncommand_args=\"--config /etc/c.toml\"\ndepend() {\n\tneed net\n\tuse dns logger\n}\n", 0o755);
    write(
        &root,
        "/etc/init.d/net",
        "#!/sbin/openrc-run\ndepend() { need localmount; }\n",
        0o755,
    );
    // a sysvinit script in the same directory is not OpenRC's
    write(
        &root,
        "/etc/init.d/sysv",
        "#!/bin/sh\ncommand=/usr/bin/not-openrc\n",
        0o755,
    );
    write(&root, "/usr/bin/containerd", "x", 0o755);
    write(&root, "/usr/bin/not-openrc", "x", 0o755);
    link(
        &root,
        "/etc/runlevels/default/containerd",
        "/etc/init.d/containerd",
    );
    // systemd: a unit, kubeadm's drop-in overriding its ExecStart, enabled
    // by multi-user.target; a template instance; a masked unit
    write(&root, "/usr/bin/kubelet", "x", 0o755);
    write(&root, "/usr/sbin/agetty", "x", 0o755);
    write(&root, "/usr/lib/systemd/system/kubelet.service", "[Unit]\nWants=network-online.target\nAfter=network-online.target\n[Service]\nExecStart=/usr/bin/kubelet\n", 0o644);
    write(&root, "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", "[Service]\nExecStart=\nExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS \\\n  $KUBELET_EXTRA_ARGS\n", 0o644);
    write(
        &root,
        "/usr/lib/systemd/system/network-online.target",
        "[Unit]\n",
        0o644,
    );
    write(
        &root,
        "/usr/lib/systemd/system/multi-user.target",
        "[Unit]\nWants=getty@tty1.service\n",
        0o644,
    );
    write(
        &root,
        "/usr/lib/systemd/system/getty@.service",
        "[Service]\nExecStart=-agetty -o '-p -- \\\\u' %I\n",
        0o644,
    );
    link(
        &root,
        "/etc/systemd/system/multi-user.target.wants/kubelet.service",
        "/usr/lib/systemd/system/kubelet.service",
    );
    write(
        &root,
        "/usr/lib/systemd/system/masked.service",
        "[Service]\nExecStart=/usr/bin/containerd\n",
        0o644,
    );
    link(&root, "/etc/systemd/system/masked.service", "/dev/null");

    let db = t.path().join("g.db");
    let out = kaudit([
        "scan",
        "--root",
        root.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let edges = sqlite(
        &db,
        "SELECT CAST(s.path AS TEXT) || ' ' || e.rule || ' ' || CAST(d.path AS TEXT) FROM edge e \
         JOIN file s ON s.id = e.src JOIN file d ON d.id = e.dst WHERE e.kind = 'init' ORDER BY 1",
    );
    let edges: Vec<&str> = edges.lines().collect();
    assert_eq!(
        edges,
        [
            "/etc/init.d/containerd command /usr/bin/containerd",
            "/etc/init.d/containerd need /etc/init.d/net",
            "/etc/runlevels/default runlevel /etc/runlevels/default/containerd",
            "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf ExecStart /usr/bin/kubelet",
            "/usr/lib/systemd/system/getty@.service ExecStart /usr/sbin/agetty",
            "/usr/lib/systemd/system/kubelet.service After /usr/lib/systemd/system/network-online.target",
            "/usr/lib/systemd/system/kubelet.service ExecStart /usr/bin/kubelet",
            "/usr/lib/systemd/system/kubelet.service Wants /usr/lib/systemd/system/network-online.target",
            "/usr/lib/systemd/system/kubelet.service drop-in /etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
            "/usr/lib/systemd/system/multi-user.target Wants /usr/lib/systemd/system/getty@.service",
            "/usr/lib/systemd/system/multi-user.target wants-dir /etc/systemd/system/multi-user.target.wants/kubelet.service",
        ],
        "{edges:#?}"
    );

    // why names the script and the runlevel; the unit, its drop-in and
    // the target that enables it. Nothing is kept through them (no run).
    let why = |p: &str| kaudit(["why", p, "--db", db.to_str().unwrap()]);
    let out = why("/usr/bin/containerd");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("init system: command of /etc/init.d/containerd, enabled by runlevel default (/etc/runlevels/default/containerd)"),
        "{s}"
    );
    let out = why("/usr/bin/kubelet");
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("init system: ExecStart of /etc/systemd/system/kubelet.service.d/10-kubeadm.conf (a drop-in of /usr/lib/systemd/system/kubelet.service), enabled by multi-user.target.wants (/etc/systemd/system/multi-user.target.wants/kubelet.service)"),
        "{s}"
    );
    assert!(
        s.contains("init system: ExecStart of /usr/lib/systemd/system/kubelet.service, enabled by multi-user.target.wants"),
        "{s}"
    );
    let out = kaudit([
        "why",
        "--format",
        "json",
        "/usr/bin/kubelet",
        "--db",
        db.to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["init"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["init"][0]["enabled_by"][0]["rule"], "wants-dir", "{v}");
}
