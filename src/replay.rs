//! Replays of a profile's scenarios inside an image, shared by `kaudit
//! verify` and `kaudit prove`: the command line of a replay (the traced
//! run's parameters and peers again), the peers checked against the runs,
//! and the first entry on a path's way through the source root's symlinks
//! that a test picks out.

use std::collections::BTreeSet;
use std::process::Command;

use anyhow::Result;
use kaudit_analyzer::bytes;
use kaudit_graph::Db;
use kaudit_reports::closure::Closure;
use kaudit_reports::graph::Graph;

/// Follow `path` through the source graph — directories resolved, then the
/// entry and each symlink target in turn — and return the first entry the
/// source has for which `pick` holds.
pub(crate) fn first_on_the_way(
    graph: &mut Graph<'_>,
    path: &[u8],
    mut pick: impl FnMut(&[u8]) -> bool,
) -> Result<Option<Vec<u8>>> {
    let mut cur = match graph.canonical(path)? {
        Some(c) => c,
        None => return Ok(None),
    };
    for _ in 0..40 {
        let Some(f) = graph.file(&cur)? else {
            return Ok(None);
        };
        if pick(&cur) {
            return Ok(Some(cur));
        }
        match (&f.link_target, f.kind.as_str()) {
            (Some(t), "symlink") => {
                let next = if t.starts_with(b"/") {
                    t.clone()
                } else {
                    bytes::join(bytes::parent(&cur), t)
                };
                match graph.canonical(&next)? {
                    Some(c) => cur = c,
                    None => return Ok(None),
                }
            }
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// `kaudit --db DB trace --root IMAGE --scenario NAME ARGS…`: one replay
/// of a scenario inside an image (on an overlay: the image is never written).
pub(crate) fn replay_command(
    exe: &std::path::Path,
    db: &std::path::Path,
    image: &std::path::Path,
    scenario: &str,
    args: &[String],
    scenarios: Option<&std::path::Path>,
) -> Command {
    let mut c = Command::new(exe);
    c.arg("--db")
        .arg(db)
        .args(["trace", "--root"])
        .arg(image)
        .args(["--scenario", scenario])
        .args(args);
    if let Some(d) = scenarios {
        c.arg("--scenarios").arg(d);
    }
    c
}

/// Each `--peer NAME=ROOT` must name a peer of a run that is replayed: a
/// misspelt name would otherwise be ignored, and the peer booted from the
/// root it was traced with.
pub(crate) fn check_peers(
    db: Option<&Db>,
    closure: Option<&Closure>,
    scenarios: &[String],
    peers: &[String],
) -> Result<()> {
    if peers.is_empty() {
        return Ok(());
    }
    let known: BTreeSet<String> = scenarios
        .iter()
        .filter_map(|s| traced_params(db, closure, s))
        .filter_map(|v| {
            v["peers"]
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>())
        })
        .flatten()
        .collect();
    for p in peers {
        let Some((name, _)) = p.split_once('=') else {
            anyhow::bail!("--peer {p}: expected NAME=ROOT");
        };
        if !known.contains(name) {
            anyhow::bail!(
                "--peer {p}: no replayed run has a peer {name:?} ({})",
                if known.is_empty() {
                    "they have none".to_string()
                } else {
                    format!(
                        "theirs: {}",
                        known.into_iter().collect::<Vec<_>>().join(", ")
                    )
                }
            );
        }
    }
    Ok(())
}

/// The stored parameters (`run.params`: `params`, a booted run's
/// `hostname` and `peers`) of the run of `scenario` the profile's closure
/// was computed from; `None` without a profile or stored parameters.
fn traced_params(
    db: Option<&Db>,
    closure: Option<&Closure>,
    scenario: &str,
) -> Option<serde_json::Value> {
    let (db, c) = (db?, closure?);
    let run = c.runs.iter().find(|r| r.name == scenario)?;
    let text = db.run_params(run.id).ok()??;
    serde_json::from_str(&text).ok()
}

/// The `kaudit trace` arguments of the run of `scenario` the profile's
/// closure was computed from: its `--param NAME=VALUE`s, and a booted
/// run's `--hostname` and `--peer`s (none without a profile, or for a run
/// without stored parameters).
pub(crate) fn traced_args(
    db: Option<&Db>,
    closure: Option<&Closure>,
    scenario: &str,
    peers: &[String],
) -> Vec<String> {
    let Some(v) = traced_params(db, closure, scenario) else {
        return Vec::new();
    };
    let mut args: Vec<String> = v["params"]
        .as_object()
        .map(|m| {
            m.iter()
                .flat_map(|(k, v)| {
                    v.as_str()
                        .map(|v| ["--param".to_string(), format!("{k}={v}")])
                })
                .flatten()
                .collect()
        })
        .unwrap_or_default();
    // a booted run: its node's name and its peers, booted again beside the
    // image (a peer given to verify is booted from that root instead)
    if let Some(h) = v["hostname"].as_str() {
        args.extend(["--hostname".to_string(), h.to_string()]);
    }
    if let Some(m) = v["peers"].as_object() {
        for (n, r) in m {
            let given = peers
                .iter()
                .find(|p| p.split_once('=').map(|(g, _)| g) == Some(n.as_str()));
            match (given, r.as_str()) {
                (Some(g), _) => args.extend(["--peer".to_string(), g.clone()]),
                (None, Some(r)) => args.extend(["--peer".to_string(), format!("{n}={r}")]),
                (None, None) => {}
            }
        }
    }
    args
}
