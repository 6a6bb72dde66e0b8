//! Tracing a boot: the shipped `boot` scenario waits for readiness while the
//! tracer watches every process on the node — also services that are not
//! the scenario's children, which it must record and must not stop — and
//! `kaudit trace` tells a service manager (systemd's notify protocol) once
//! its marks are in place. The shipped systemd unit passes
//! `systemd-analyze verify`.

use std::io::Read;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::require_root;

fn ws() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn boot_scenario_records_services_outside_its_tree_and_notifies_when_tracing() {
    if !require_root() {
        return;
    }
    let _turn = crate::support::tracing_turn();
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let db = dir.join("boot.db");
    let conf = dir.join("service.conf");
    std::fs::write(&conf, "setting = 1\n").unwrap();
    let ready = dir.join("ready");
    let notify = dir.join("notify");
    let sock = UnixDatagram::bind(&notify).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();

    let mut tracer = Command::new(env!("CARGO_BIN_EXE_kaudit"))
        .arg("trace")
        .arg("--scenario")
        .arg(ws().join("scenarios/boot.toml"))
        .arg("--param")
        .arg(format!("READY=test -e {}", ready.display()))
        .arg("--param")
        .arg("SETTLE=1")
        .arg("--db")
        .arg(&db)
        .env("NOTIFY_SOCKET", &notify)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // what a service manager waits for before starting the rest of the node
    let mut buf = [0u8; 256];
    // a blocking socket call with a timeout may return EINTR when the
    // process is stopped and continued (signal(7)): asked again
    let received = loop {
        match sock.recv(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => break r,
        }
    };
    let n = match received {
        Ok(n) => n,
        Err(e) => {
            let _ = tracer.kill();
            let _ = tracer.wait();
            let mut err = String::new();
            let _ = tracer.stderr.take().unwrap().read_to_string(&mut err);
            panic!("no READY=1 from kaudit trace ({e}): {err}");
        }
    };
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.lines().any(|l| l == "READY=1"), "{msg}");
    assert!(msg.contains(&format!("MAINPID={}", tracer.id())), "{msg}");
    // the scenario is still waiting for readiness
    assert!(tracer.try_wait().unwrap().is_none());

    // a "service" started by someone else (here: the test, as an init system
    // would): it reads its configuration, makes the node ready, and keeps
    // running after the recording ends
    let mut service = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "exec 3<{}; touch {}; exec sleep 120",
            conf.display(),
            ready.display()
        ))
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = tracer.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "the boot scenario never ended");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    tracer
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
    assert!(err.contains("ok   until-ready"), "{err}");
    assert!(err.contains("ok   settle"), "{err}");

    // the service is not the scenario's: it was not stopped
    assert!(
        service.try_wait().unwrap().is_none(),
        "a service outside the scenario was killed"
    );
    let service_pid = service.id();
    service.kill().unwrap();
    service.wait().unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_kaudit"))
        .args(["accessed", "--format", "json", "--scenario", "boot", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let conf_s = conf.to_string_lossy().into_owned();
    let a = v["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["path"] == conf_s.as_str() && a["kind"] == "open")
        .unwrap_or_else(|| panic!("{conf_s} not recorded"));
    // the service's own process (the shell that became sleep)
    assert_eq!(a["pid"], service_pid);
    assert_eq!(a["step"], "until-ready");
}

#[test]
fn the_shipped_systemd_unit_verifies() {
    let unit = std::fs::read_to_string(ws().join("dist/systemd/kaudit-boot.service")).unwrap();
    assert!(unit.contains("Type=notify"));
    assert!(unit.contains("--scenario boot"));
    // systemd-analyze checks that ExecStart is executable: point it at the
    // binary under test
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("kaudit-boot.service");
    std::fs::write(
        &path,
        unit.replace("/usr/bin/kaudit", env!("CARGO_BIN_EXE_kaudit")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian's systemd package)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        !err.contains("kaudit-boot.service"),
        "systemd-analyze complained about the unit: {err}"
    );
}
