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
        let (name, _, s) = Scenario::load(path.to_str().unwrap(), &[]).unwrap();
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
