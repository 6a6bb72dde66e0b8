//! Every shipped scenario file is valid: it parses, its parameters resolve
//! (required ones refuse to run without a value), each timeout is a
//! duration once the parameters are filled in, every step is named (the
//! name is the evidence `why` shows), and docs/scenarios.md lists it.

use std::collections::BTreeMap;
use std::path::Path;

use kaudit_tracer::scenario::{Scenario, ScenarioError};

#[test]
fn every_shipped_scenario_is_valid_named_and_documented() {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR"));
    let docs = std::fs::read_to_string(ws.join("docs/scenarios.md")).unwrap();
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(ws.join("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let (name, _, s) = Scenario::load(path.to_str().unwrap(), &[], &[]).unwrap();
        assert!(s.description.is_some(), "{name}: no description");
        assert!(!s.steps.is_empty(), "{name}: no steps");
        for st in s.steps.iter().chain(&s.cleanup) {
            assert!(st.name.is_some(), "{name}: a step without a name");
        }
        let required: Vec<&String> = s
            .params
            .iter()
            .filter(|(_, p)| p.required)
            .map(|(k, _)| k)
            .collect();
        if let Some(first) = required.first() {
            match s.resolve_params(&name, &BTreeMap::new()) {
                Err(ScenarioError::MissingParam(_, p, _)) => {
                    assert!(required.contains(&&p), "{name}: {p}");
                    assert!(s.params[*first].default.is_none());
                }
                other => panic!("{name}: ran without its required parameters: {other:?}"),
            }
        }
        let given: BTreeMap<String, String> = required
            .iter()
            .map(|k| (k.to_string(), "value".to_string()))
            .collect();
        s.resolve_params(&name, &given)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            docs.contains(&format!("| `{name}` |")),
            "{name} is not in the table of docs/scenarios.md"
        );
        seen.push(name);
    }
    seen.sort();
    for expected in [
        "boot",
        "cni-bridge",
        "containerd-run",
        "crio-run",
        "crun-run",
        "k3s-server",
        "kubeadm-init",
        "kubeadm-join",
        "kubelet",
        "podman-run",
        "runc-run",
    ] {
        assert!(seen.iter().any(|s| s == expected), "{expected} missing");
    }
}

/// The shipped scenarios are built into kaudit: found from any directory,
/// overridden by `--scenarios DIR` and `$KAUDIT_SCENARIOS`; a scenario that
/// is nowhere is a setup error (exit 2) naming where kaudit looked.
#[test]
fn shipped_scenarios_are_found_from_any_directory() {
    use crate::support::{code, kaudit_cmd, show};
    let ws = Path::new(env!("CARGO_MANIFEST_DIR"));
    let elsewhere = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: Option<&Path>| {
        let mut c = kaudit_cmd(args);
        c.current_dir(elsewhere.path())
            .env_remove("KAUDIT_SCENARIOS");
        if let Some(d) = env {
            c.env("KAUDIT_SCENARIOS", d);
        }
        c.output().unwrap()
    };
    let out = run(&["scenarios", "list"], None);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for entry in std::fs::read_dir(ws.join("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy();
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{name}\t"))
                && l.ends_with(&format!("\tbuiltin:{name}"))),
            "{name} is not listed as built in: {text}"
        );
    }
    let out = run(&["scenarios", "show", "runc-run"], None);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("runc-run (builtin:runc-run)"));

    // a directory of one's own comes first, by flag or by variable
    let mine = tempfile::tempdir().unwrap();
    std::fs::write(
        mine.path().join("runc-run.toml"),
        "description = \"my own runc-run\"\n[[step]]\nname = \"x\"\nrun = \"true\"\n",
    )
    .unwrap();
    let dir = mine.path().to_str().unwrap();
    for out in [
        run(&["scenarios", "--scenarios", dir, "list"], None),
        run(&["scenarios", "list"], Some(mine.path())),
    ] {
        assert_eq!(code(&out), 0, "{}", show(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("runc-run\tmy own runc-run\t"), "{text}");
        assert!(text.contains("crun-run\t"), "{text}");
    }

    // nowhere: exit 2 naming where kaudit looked, before any database is made
    let db = elsewhere.path().join("x.db");
    let out = run(
        &[
            "trace",
            "--scenario",
            "no-such-scenario",
            "--db",
            db.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code(&out), 2, "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no scenario no-such-scenario: looked in /etc/kaudit/scenarios, /usr/share/kaudit/scenarios, the ")
            && err.contains("scenarios built into kaudit")
            && err.contains("$KAUDIT_SCENARIOS"),
        "{err}"
    );
    assert!(!db.exists());
    let image = tempfile::tempdir().unwrap();
    let out = run(
        &[
            "verify",
            "--root",
            image.path().to_str().unwrap(),
            "--scenario",
            "no-such-scenario",
            "--db",
            db.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code(&out), 2, "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no scenario no-such-scenario"));
}
