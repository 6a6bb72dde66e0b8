//! Booted nodes (`kaudit trace --root DIR --boot`): the example node root's
//! own systemd runs as PID 1 of a container (systemd-nspawn) on a network of
//! the run's own, with a DHCP server (dnsmasq) that its DHCP client
//! (systemd-networkd) gets an address from. The whole boot is recorded; the
//! root is never written; and after a passed, a failed, a timed-out and an
//! interrupted run nothing is left on the machine: no process, mount,
//! network link, control group or changed kernel setting.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{kaudit, kaudit_cmd, require_root, run_with_timeout, show};

/// What a run could leave on the machine: processes, mounts, network links,
/// control groups, kernel settings.
#[derive(Debug, PartialEq, Eq)]
struct Machine {
    mounts: BTreeSet<String>,
    links: BTreeSet<String>,
    cgroups: BTreeSet<PathBuf>,
    sysctls: Vec<(String, String, String)>,
}

fn machine(sysctls: &kaudit_tracer::sysctl::Sysctls) -> Machine {
    // mount points and sources of the machine's mount namespace (this
    // test's: the same as the machine's)
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            format!("{} {}", f[4], l.split(" - ").nth(1).unwrap_or(""))
        })
        .collect();
    let out = Command::new("ip").args(["-o", "link"]).output().unwrap();
    let links = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        .collect();
    // other traces on the machine (kaudit-PID of another run) come and go
    let cgroups = crate::node::cgroup_dirs()
        .into_iter()
        .filter(|d| !d.to_string_lossy().contains("/kaudit-"))
        .collect();
    Machine {
        mounts,
        links,
        cgroups,
        sysctls: sysctls.changed(),
    }
}

/// Processes of a run booted as `hostname` that are still there.
fn leftover_processes(hostname: &str, kaudit_pid: u32) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let ppid = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .and_then(|(_, r)| r.split_whitespace().nth(1).map(str::to_string))
            })
            .unwrap_or_default();
        if cmd.contains(&format!("--hostname={hostname}"))
            || (kaudit_pid != 0 && ppid == kaudit_pid.to_string())
        {
            out.push(format!("{pid} {cmd}"));
        }
        // the node's own processes: their UTS namespace (not the machine's)
        // has the node's name
        let uts_of = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/uts")).ok();
        if uts_of(&pid.to_string()) == uts_of("self") {
            continue;
        }
        if let Ok(uts) = Command::new("nsenter")
            .args(["-t", &pid.to_string(), "-u", "hostname"])
            .output()
        {
            if String::from_utf8_lossy(&uts.stdout).trim() == hostname {
                out.push(format!("{pid} {cmd} (in the node)"));
            }
        }
    }
    out
}

fn boot_args<'a>(
    root: &'a Path,
    db: &'a Path,
    hostname: &'a str,
    subnet: &'a str,
) -> Vec<std::ffi::OsString> {
    vec![
        "trace".into(),
        "--root".into(),
        root.as_os_str().to_owned(),
        "--boot".into(),
        "--hostname".into(),
        hostname.into(),
        "--subnet".into(),
        subnet.into(),
        "--db".into(),
        db.as_os_str().to_owned(),
    ]
}

fn has(v: &Value, path: &str, kind: &str) -> bool {
    v["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["path"] == path && a["kind"] == kind)
}

#[test]
fn a_booted_node_is_traced_from_pid_1_and_leaves_nothing_behind() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let root = crate::node::node_root();
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("boot.db");
    let settings = kaudit_tracer::sysctl::Sysctls::take();
    let listing_before = crate::node::listing(&root);
    let before = machine(&settings);
    let hostname = format!("kt{}", std::process::id());
    // nothing of a run is left: no process, and the machine as it was
    let nothing_left = |what: &str, kaudit_pid: u32| {
        let left = leftover_processes(&hostname, kaudit_pid);
        assert!(
            left.is_empty(),
            "a {what} boot run left processes: {left:?}"
        );
        assert_eq!(
            before,
            machine(&settings),
            "a {what} boot run left something behind"
        );
    };

    // passed: systemd reaches `running`, the DHCP client got an address
    // from the run's dnsmasq, containerd runs as a service
    let mut args = boot_args(&root, &db, &hostname, "10.78.0.0/24");
    args.extend([
        "--scenario".into(),
        "boot".into(),
        "--param".into(),
        "SETTLE=1".into(),
        "--param".into(),
        "TIMEOUT=120s".into(),
        "--param".into(),
        "READY=systemctl is-system-running --quiet && ip -4 -o addr show host0 | grep -q 'inet 10.78.0.' && systemctl is-active --quiet containerd".into(),
    ]);
    let out = run_with_timeout(kaudit_cmd(&args), Duration::from_secs(300));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("node {hostname} powered off")),
        "{err}"
    );
    assert!(!err.contains("names are partial"), "{err}");
    let acc = kaudit([
        "accessed",
        "--format",
        "json",
        "--scenario",
        "boot",
        "--db",
        db.to_str().unwrap(),
    ]);
    let v: Value = serde_json::from_slice(&acc.stdout).unwrap();
    for (path, kind) in [
        ("/usr/lib/systemd/systemd", "exec"),
        ("/usr/lib/systemd/systemd-journald", "exec"),
        ("/usr/lib/systemd/systemd-networkd", "exec"),
        ("/usr/bin/containerd", "exec"),
        ("/usr/lib/systemd/system/containerd.service", "open"),
    ] {
        assert!(has(&v, path, kind), "{path} ({kind}) not recorded");
    }
    // nothing of the harness: the container manager and the DHCP server run
    // on the machine, not in the node
    // (nspawn's last act, in the node, is to execute /sbin/init, as a kernel
    // would: the symlink to systemd is part of the boot)
    for a in v["accesses"].as_array().unwrap() {
        assert!(
            a["comm"] != "dnsmasq"
                && (a["comm"] != "systemd-nspawn" || a["path"] == "/usr/lib/systemd/systemd"),
            "the harness was recorded: {a}"
        );
    }
    let names = crate::support::names_of(&db, "boot");
    assert!(
        names["asked"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["path"] == "/sbin/init" && n["call"] == "execve"),
        "init's execve was not seen"
    );
    nothing_left("passed", 0);
    // why names the unit of the DHCP client and of containerd, and what
    // enables each, beside what the boot trace saw
    let out = kaudit([
        "scan",
        "--root",
        root.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    for (prog, unit) in [
        (
            "/usr/lib/systemd/systemd-networkd",
            "systemd-networkd.service",
        ),
        ("/usr/bin/containerd", "containerd.service"),
    ] {
        let out = kaudit(["why", prog, "--db", db.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(s.contains("executed by "), "{s}");
        assert!(
            s.contains(&format!(
                "init system: ExecStart of /usr/lib/systemd/system/{unit}, enabled by multi-user.target.wants (/etc/systemd/system/multi-user.target.wants/{unit})"
            )),
            "{s}"
        );
    }

    // failed: a command that fails inside the node
    let mut args = boot_args(&root, &db, &hostname, "10.78.0.0/24");
    args.extend([
        "--name".into(),
        "fails".into(),
        "--".into(),
        "/bin/sh".into(),
        "-c".into(),
        "test \"$(hostname)\" = nothing".into(),
    ]);
    let out = run_with_timeout(kaudit_cmd(&args), Duration::from_secs(300));
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    nothing_left("failed", 0);

    // timed out: readiness never comes
    let mut args = boot_args(&root, &db, &hostname, "10.78.0.0/24");
    args.extend([
        "--scenario".into(),
        "boot".into(),
        "--param".into(),
        "READY=false".into(),
        "--param".into(),
        "TIMEOUT=3s".into(),
    ]);
    let out = run_with_timeout(kaudit_cmd(&args), Duration::from_secs(300));
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("FAIL until-ready"),
        "{}",
        show(&out)
    );
    nothing_left("timed-out", 0);

    // interrupted: SIGINT once the node runs
    let mut args = boot_args(&root, &db, &hostname, "10.78.0.0/24");
    args.extend([
        "--scenario".into(),
        "boot".into(),
        "--param".into(),
        "READY=false".into(),
        "--param".into(),
        "TIMEOUT=150s".into(),
    ]);
    let mut child = kaudit_cmd(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while leftover_processes(&hostname, pid)
        .iter()
        .all(|p| !p.contains("(in the node)"))
    {
        assert!(Instant::now() < deadline, "the node did not come up");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(1));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "an interrupted boot run did not end"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    nothing_left("interrupted", pid);
    let runs = kaudit(["runs", "--db", db.to_str().unwrap()]);
    let runs = String::from_utf8_lossy(&runs.stdout);
    assert_eq!(
        runs.lines()
            .filter(|l| l.contains("\tboot\tinterrupted\t"))
            .count(),
        1,
        "{runs}"
    );

    // none of the four wrote into the root
    let listing_after = crate::node::listing(&root);
    assert!(
        listing_before == listing_after,
        "a boot run wrote into the root"
    );
}

/// The image of a profile whose scenarios include `boot` boots in `kaudit
/// verify` (the replay boots the image itself); without its DHCP client it
/// does not, and verify names the client and the failed units.
#[test]
fn the_image_boots_in_verify_and_not_without_its_dhcp_client() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let root = crate::node::node_root();
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("g.db");
    let d = db.to_str().unwrap();
    let out = kaudit(["scan", "--root", root.to_str().unwrap(), "--db", d]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    // the boot scenario marks itself as one for a booted node: no --boot
    let out = run_with_timeout(
        kaudit_cmd([
            "trace",
            "--root",
            root.to_str().unwrap(),
            "--scenario",
            "boot",
            "--db",
            d,
            "--param",
            "SETTLE=1",
            "--param",
            "TIMEOUT=2m",
            "--param",
            "READY=systemctl is-system-running --quiet && ip -4 -o addr show host0 | grep -q inet",
        ]),
        Duration::from_secs(300),
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let profile = t.path().join("booted.toml");
    std::fs::write(
        &profile,
        "description = \"a node that boots\"\nscenarios = [\"boot\"]\n\n[[exclude]]\nglob = \"/usr/share/doc/**\"\nreason = \"documentation\"\n\n[[exclude]]\nglob = \"/var/log/README\"\nreason = \"a link into the documentation\"\n",
    )
    .unwrap();
    let p = profile.to_str().unwrap();
    let list = t.path().join("list");
    let out = kaudit([
        "allowlist",
        "--profile",
        p,
        "--db",
        d,
        "--out",
        list.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let image = t.path().join("image");
    let out = kaudit([
        "assemble",
        "--allowlist",
        list.to_str().unwrap(),
        "--from",
        root.to_str().unwrap(),
        "--out",
        image.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let verify = || {
        run_with_timeout(
            kaudit_cmd([
                "verify",
                "--root",
                image.to_str().unwrap(),
                "--profile",
                p,
                "--db",
                d,
            ]),
            Duration::from_secs(300),
        )
    };
    let out = verify();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("replay boot: passed"),
        "{}",
        show(&out)
    );
    // without the DHCP client the node ends degraded: the replay fails at
    // once, naming the failed units and the file looked for in vain
    std::fs::remove_file(image.join("usr/lib/systemd/systemd-networkd")).unwrap();
    let out = verify();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("replay-failed: scenario boot failed inside the image"),
        "{s}"
    );
    assert!(s.contains("failed units: systemd-networkd.service"), "{s}");
    assert!(
        s.contains("looked for /lib/systemd/systemd-networkd (openat): on its way, /usr/lib/systemd/systemd-networkd, which the source has and the image lacks"),
        "{s}"
    );
}

/// Two nodes on one run's network: a peer booted beside the traced node
/// (`--peer NAME=ROOT`, from the same root, on an overlay of its own, not
/// traced) gets its own fixed address; a step runs on it (`node = "cp"`),
/// and the traced node reaches it by the address kaudit hands every step.
/// A step naming the traced node runs there. The traced node makes control
/// groups and sets its own network namespace's settings, as on a machine;
/// the machine's setting the scenario asks for (`host_sysctl`) is seen in
/// the node and put back after. Nothing of the peer is recorded, and nothing
/// of either is left. A run without the declared peer is refused first.
#[test]
fn a_peer_node_boots_beside_the_traced_one_and_they_reach_each_other() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let root = crate::node::node_root();
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("two.db");
    let scenario = t.path().join("two-nodes.toml");
    let hostname = format!("kp{}", std::process::id());
    let overcommit = std::fs::read_to_string("/proc/sys/vm/overcommit_memory").unwrap();
    let asked = if overcommit.trim() == "1" { "2" } else { "1" };
    let forwarding = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    std::fs::write(
        &scenario,
        format!(r#"description = "two nodes reach each other"
boot = true
peers = ["cp", "{hostname}"]

[host_sysctl]
"vm.overcommit_memory" = "{asked}"

[[step]]
name = "like-a-machine"
node = "{hostname}"
run = "mkdir /sys/fs/cgroup/pids/made-here && rmdir /sys/fs/cgroup/pids/made-here && echo 1 >/proc/sys/net/ipv4/ip_forward && echo overcommit $(cat /proc/sys/vm/overcommit_memory) && ! (echo 0 >/proc/sys/kernel/panic) 2>/dev/null"
expect = {{ stdout_contains = "overcommit {asked}" }}

[[step]]
name = "peer-up"
node = "cp"
run = "until ip -4 -o addr show host0 | grep -q inet; do sleep 0.2; done; hostname; touch /root/peer-marker"
expect = {{ stdout_contains = "cp" }}
timeout = "60s"

[[step]]
name = "reach"
run = "until ip -4 -o addr show host0 | grep -q inet; do sleep 0.2; done; cat /etc/issue.net; busybox ping -c 1 -W 2 $KAUDIT_PEER_CP_ADDRESS"
expect = {{ stdout_contains = "1 packets received" }}
timeout = "60s"
"#),
    )
    .unwrap();
    let mut args: Vec<String> = [
        "trace",
        "--root",
        root.to_str().unwrap(),
        "--scenario",
        scenario.to_str().unwrap(),
        "--hostname",
        &hostname,
        "--db",
        db.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    // without its peer, nothing runs
    let refused = kaudit_cmd(&args).output().unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", show(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--peer cp=ROOT"),
        "{}",
        show(&refused)
    );
    assert!(!db.exists(), "a refused run touched the graph");
    args.extend([
        "--subnet".into(),
        "10.79.0.0/24".into(),
        "--peer".into(),
        format!("cp={}", root.display()),
    ]);
    let out = run_with_timeout(kaudit_cmd(&args), Duration::from_secs(300));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at 10.79.0.11"), "{err}");
    assert!(err.contains("peer cp booted from"), "{err}");
    assert!(err.contains("at 10.79.0.12 (not traced)"), "{err}");
    assert!(err.contains("node cp powered off"), "{err}");
    // the peer's processes are not the workload: its names are left out,
    // and the traced node's are complete
    assert!(!err.contains("names are partial"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(
        &kaudit([
            "accessed",
            "--format",
            "json",
            "--scenario",
            "two-nodes",
            "--db",
            db.to_str().unwrap(),
        ])
        .stdout,
    )
    .unwrap();
    let accesses = v["accesses"].as_array().unwrap();
    let recorded = |path: &str| accesses.iter().any(|a| a["path"] == path);
    // the traced node's step is recorded; what the peer did is not (its
    // files are on an overlay of its own, which is not watched)
    assert!(
        recorded("/etc/issue.net"),
        "the traced node's step was not recorded"
    );
    assert!(
        !recorded("/root/peer-marker"),
        "the peer's step was recorded"
    );
    for name in [hostname.as_str(), "cp"] {
        let left = leftover_processes(name, 0);
        assert!(left.is_empty(), "processes of {name} left behind: {left:?}");
    }
    assert!(
        err.contains(&format!(
            "kernel setting vm.overcommit_memory set to {asked} for the node"
        )),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/vm/overcommit_memory").unwrap(),
        overcommit,
        "the machine's setting was not put back"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        forwarding,
        "the node's network setting reached the machine"
    );
}
