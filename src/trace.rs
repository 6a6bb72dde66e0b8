//! `kaudit trace`, `kaudit runs`, `kaudit accessed`.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use kaudit_graph::{AccessRow, Db, NameRow, NewRun};
use kaudit_tracer::runner::wait_synced;
use kaudit_tracer::{TraceOptions, Tracer};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cli::{AccessedArgs, AccessedFormat, Cli, RunsArgs, SummaryFormat, TraceArgs};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn access_row(x: &kaudit_tracer::Access) -> AccessRow {
    AccessRow {
        path: x.path.clone(),
        kind: x.kind.as_str().to_string(),
        pid: x.pid as i64,
        comm: x.comm.to_string(),
        exe: x.exe.as_deref().map(<[u8]>::to_vec),
        parents: x.parents.join(" < "),
        step: x.step.as_deref().map(str::to_string),
        count: x.count as i64,
        first_ms: x.first_ms as i64,
    }
}

/// Processes whose parent is this process (orphans of the traced command
/// are reparented to us: we are a child subreaper).
fn our_children() -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let ppid = kaudit_tracer::procinfo::ppid(pid);
        if ppid == Some(me) {
            out.push(pid);
        }
    }
    out
}

/// Kill and reap every process left behind by the command.
fn reap_leftovers() -> usize {
    let mut killed = 0;
    for _ in 0..50 {
        let kids = our_children();
        if kids.is_empty() {
            break;
        }
        for pid in kids {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
            killed += 1;
        }
    }
    killed
}

/// The scenarios shipped with kaudit, built into the binary: (name, text).
pub(crate) static BUILTIN_SCENARIOS: &[(&str, &str)] =
    include!(concat!(env!("OUT_DIR"), "/scenarios.rs"));

/// The scenario directories, in search order: `--scenarios DIR`, then
/// `$KAUDIT_SCENARIOS`, then the installed ones; the built-in scenarios come
/// after all of them.
pub(crate) fn scenario_dirs(given: Option<&std::path::Path>) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    if let Some(d) = given {
        v.push(d.to_path_buf());
    }
    if let Some(d) = std::env::var_os("KAUDIT_SCENARIOS").filter(|d| !d.is_empty()) {
        v.push(std::path::PathBuf::from(d));
    }
    v.push("/etc/kaudit/scenarios".into());
    v.push("/usr/share/kaudit/scenarios".into());
    v
}

/// Load a scenario by file or name from the directories and the built-in ones.
pub(crate) fn load_scenario(
    name_or_path: &str,
    given: Option<&std::path::Path>,
) -> Result<
    (
        String,
        std::path::PathBuf,
        kaudit_tracer::scenario::Scenario,
    ),
    kaudit_tracer::scenario::ScenarioError,
> {
    kaudit_tracer::scenario::Scenario::load(name_or_path, &scenario_dirs(given), BUILTIN_SCENARIOS)
}

/// The entries `--hide FILE` lists: one absolute path inside the root per
/// line (bytes, not necessarily UTF-8), each checked.
fn read_hide_list(f: &std::path::Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let text = std::fs::read(f).with_context(|| format!("--hide {}", f.display()))?;
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        if !kaudit_tracer::rootns::hideable(line) {
            anyhow::bail!(
                "--hide {}: {:?} is not an absolute path inside the root",
                f.display(),
                String::from_utf8_lossy(line)
            );
        }
        out.push(line.to_vec());
    }
    Ok(out)
}

/// `--peer NAME=ROOT` values: each name a hostname, each root a directory.
fn parse_peers(given: &[String]) -> anyhow::Result<Vec<(String, std::path::PathBuf)>> {
    let mut out: Vec<(String, std::path::PathBuf)> = Vec::new();
    for g in given {
        let (name, root) = g
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--peer {g}: expected NAME=ROOT"))?;
        if !kaudit_tracer::boot::valid_hostname(name) {
            anyhow::bail!("--peer {g}: NAME is a hostname: letters, digits and '-', at most 63");
        }
        if out.iter().any(|(n, _)| n == name) {
            anyhow::bail!("--peer {name} is given twice");
        }
        let root =
            std::fs::canonicalize(root).with_context(|| format!("--peer {g}: the root {root}"))?;
        if root.join("sbin/init").symlink_metadata().is_err() {
            anyhow::bail!("--peer {g}: {} has no /sbin/init to boot", root.display());
        }
        out.push((name.to_string(), root));
    }
    Ok(out)
}

/// A node name as part of an environment variable (`control-plane` →
/// `CONTROL_PLANE`).
fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Boot a peer node (not traced) on the run's network.
fn boot_peer(
    net: &mut kaudit_tracer::boot::Network,
    name: &str,
    root: &std::path::Path,
    a: &TraceArgs,
) -> Result<kaudit_tracer::boot::Node, kaudit_tracer::boot::BootError> {
    kaudit_tracer::boot::Node::boot(
        root,
        net,
        &kaudit_tracer::boot::NodeOptions {
            hostname: name.to_string(),
            nspawn_args: a.nspawn_arg.clone(),
            own_overlay: true,
        },
    )
}

/// This process's mount namespace (its inode number).
fn own_mnt_ns() -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/mnt").ok().map(|m| m.ino())
}

/// The run's network and a node booted on it.
fn boot_node(
    root: &std::path::Path,
    hostname: &str,
    a: &TraceArgs,
) -> Result<(kaudit_tracer::boot::Network, kaudit_tracer::boot::Node), kaudit_tracer::boot::BootError>
{
    use kaudit_tracer::boot::{Network, Node, NodeOptions, Subnet};
    let mut net = Network::new(Subnet::parse(
        a.subnet
            .as_deref()
            .unwrap_or(kaudit_tracer::boot::DEFAULT_SUBNET),
    )?)?;
    let node = Node::boot(
        root,
        &mut net,
        &NodeOptions {
            hostname: hostname.to_string(),
            nspawn_args: a.nspawn_arg.clone(),
            own_overlay: false,
        },
    )?;
    Ok((net, node))
}

fn parse_params(given: &[String]) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    given
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow::anyhow!("--param {p}: expected NAME=VALUE"))
        })
        .collect()
}

pub(crate) fn run(cli: &Cli, a: &TraceArgs) -> anyhow::Result<i32> {
    // everything that can be refused is refused before anything runs
    let scenario = match &a.scenario {
        Some(sc) => {
            let (name, path, mut s) = load_scenario(sc, a.scenarios.as_deref())?;
            let params = s.resolve_params(&name, &parse_params(&a.params)?)?;
            if let Some(max) = &a.step_timeout_max {
                let max = kaudit_tracer::scenario::parse_duration(max).ok_or_else(|| {
                    anyhow::anyhow!(
                        "--step-timeout-max {max}: not a duration like 500ms, 30s or 2m"
                    )
                })?;
                s.cap_timeouts(&params, max);
            }
            Some((name, path, s, params))
        }
        None => None,
    };
    // peer nodes: NAME=ROOT, each a directory, checked before anything runs
    let peer_roots = parse_peers(&a.peers)?;
    // a scenario that runs on a booted node boots the root it is given
    // (--boot itself requires --root)
    let boot = a.boot || (a.root.is_some() && scenario.as_ref().is_some_and(|(_, _, s, _)| s.boot));
    let boot_only = [
        ("--peer", !a.peers.is_empty()),
        ("--hostname", a.hostname.is_some()),
        ("--subnet", a.subnet.is_some()),
        ("--nspawn-arg", !a.nspawn_arg.is_empty()),
    ];
    if let Some((flag, _)) = boot_only.iter().find(|(_, given)| *given && !boot) {
        anyhow::bail!("{flag} is for a booted node: it needs --root with --boot (or a scenario with boot = true)");
    }
    let hostname = a
        .hostname
        .clone()
        .unwrap_or_else(|| kaudit_tracer::boot::DEFAULT_HOSTNAME.to_string());
    if let Some((name, _)) = peer_roots.iter().find(|(n, _)| *n == hostname) {
        anyhow::bail!("--peer {name}: the traced node has that name (--hostname)");
    }
    // the nodes the scenario's steps run on: booted beside the traced one, or the traced one
    if let Some((name, _, s, _)) = &scenario {
        for p in &s.peers {
            if !boot {
                anyhow::bail!("scenario {name} runs steps on node {p:?}: it needs a booted node (--root DIR) and --peer {p}=ROOT");
            }
            if *p != hostname && !peer_roots.iter().any(|(n, _)| n == p) {
                anyhow::bail!("scenario {name} runs steps on node {p:?}: boot it with --peer {p}=ROOT (or trace that node itself: --hostname {p})");
            }
        }
    }
    let mut db = Db::open(&cli.db, true)?;
    for r in db.stored_pending_runs() {
        eprintln!(
            "kaudit: the end of run {r}, kept beside the graph while it was locked, is stored"
        );
    }
    // before any thread exists: the mount namespace is per thread
    let hide = match &a.hide {
        Some(f) => read_hide_list(f)?,
        None => Vec::new(),
    };
    let root = match &a.root {
        Some(r) if boot => Some(kaudit_tracer::rootns::enter_boot(r, &hide)?),
        Some(r) => Some(kaudit_tracer::rootns::enter(r, true, &hide)?),
        None => None,
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, interrupted.clone())
            .context("installing signal handlers")?;
    }
    nix::sys::prctl::set_child_subreaper(true).context("becoming a child subreaper")?;
    // the control groups before the run: those the workload makes elsewhere
    // (containerd's for its containers) are removed at the end
    let cgroups_before = kaudit_tracer::contain::CgroupSnapshot::take();
    // every process started from now on is born in a group of the run's own
    let contained = match kaudit_tracer::contain::Containment::enter() {
        Ok(mut c) => {
            if a.test_kill_one_by_one {
                c.kill_one_by_one();
            }
            for (group, killed) in c.stale() {
                eprintln!("kaudit: removed {group}, the group of an earlier trace that was killed ({killed} process(es) it left behind killed)");
            }
            Some(c)
        }
        Err(e) => {
            eprintln!("kaudit: no control group for the run ({e}): processes left behind are found through the process tree only");
            None
        }
    };
    let opts = TraceOptions {
        all_events: a.all_events,
        bounded_queue: a.test_bounded_queue,
        reader_delay: Duration::from_millis(a.test_reader_delay_ms),
        file_handles: !a.fd_events,
        names: !a.no_names,
        names_via: if a.names_raw {
            kaudit_tracer::names::NamesVia::Raw
        } else if a.test_refuse_per_call {
            kaudit_tracer::names::NamesVia::TestRefusedAttach
        } else {
            kaudit_tracer::names::NamesVia::PerCall
        },
        root: root.clone().unwrap_or_else(|| "/".into()),
        harness_mnt_ns: boot.then(own_mnt_ns).flatten(),
        ..TraceOptions::default()
    };
    let command_text = a
        .command
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let (run_name, kind, params_json) = match &scenario {
        Some((name, path, _, params)) => (
            name.clone(),
            "scenario",
            Some({
                let mut j =
                    serde_json::json!({"file": path.display().to_string(), "params": params});
                // a booted run's nodes, as a replay boots them again
                if boot {
                    j["hostname"] = hostname.clone().into();
                    j["peers"] = peer_roots
                        .iter()
                        .map(|(n, r)| {
                            let r = std::fs::canonicalize(r).unwrap_or_else(|_| r.clone());
                            (n.clone(), serde_json::Value::from(r.display().to_string()))
                        })
                        .collect::<serde_json::Map<_, _>>()
                        .into();
                }
                j.to_string()
            }),
        ),
        None => (a.name.clone().unwrap_or_default(), "ad-hoc", None),
    };
    // the run exists before anything is traced: a killed tracer leaves it incomplete
    let id = db.begin_run(&NewRun {
        name: &run_name,
        kind,
        command: (kind == "ad-hoc").then_some(command_text.as_str()),
        params: params_json.as_deref(),
        root: opts.root.as_os_str().as_bytes(),
        host: &read_trimmed("/proc/sys/kernel/hostname"),
        kernel: &read_trimmed("/proc/sys/kernel/osrelease"),
        started_at: now(),
        marks: "",
    })?;
    for (old, name) in
        db.settle_abandoned_runs(&read_trimmed("/proc/sys/kernel/hostname"), now())?
    {
        eprintln!("kaudit: run {old} {name:?} was left running by a trace that was killed: settled as interrupted and incomplete");
    }
    // accesses are stored in batches while the workload runs (a second
    // connection, used on the tracer's reader thread)
    let mut batch_db = Db::open(&cli.db, true)?;
    let flush: kaudit_tracer::Flush = Box::new(move |batch: &[kaudit_tracer::Access]| {
        let rows: Vec<AccessRow> = batch.iter().map(access_row).collect();
        match batch_db.add_accesses(id, &rows) {
            Ok(()) => true,
            Err(e) => {
                eprintln!("kaudit: storing accesses of run {id} failed (tried again with the next batch, and at the end): {e}");
                false
            }
        }
    });
    let tracer = match Tracer::start_with_flush(opts.clone(), flush) {
        Ok(t) => t,
        Err(e) => {
            db.finish_run(id, "failed", false, 0, &[e.to_string()], now())?;
            return Err(e.into());
        }
    };
    let marks: Vec<String> = tracer
        .marks()
        .iter()
        .map(|m| format!("{} ({}): {}", m.mount_point.display(), m.fstype, m.how))
        .collect();
    db.set_run_marks(id, &marks.join("\n"))?;
    for m in &marks {
        crate::say::detail(format_args!("marked {m}"));
    }
    // what happens from now on belongs to the first step (a service started
    // as soon as kaudit reports ready, too)
    match &scenario {
        Some((_, _, s, _)) => {
            if let Some(first) = s.steps.first() {
                tracer.set_step(&kaudit_tracer::runner::step_name(first, 0));
            }
        }
        None => tracer.set_step("command"),
    }
    // the marks are in place: a service manager waiting for kaudit (systemd
    // Type=notify) may start the rest of the node now
    notify_ready();
    let started = Instant::now();
    let mut report: Vec<String> = Vec::new();
    // a booted node: the machine's kernel settings are saved first, then the
    // network and the node start under the tracer
    let sysctls = boot.then(kaudit_tracer::sysctl::Sysctls::take);
    // what the node's services need of the machine's settings (their own
    // /proc/sys is read-only), put back with the rest at the end
    if let (true, Some((_, _, s, _))) = (boot, &scenario) {
        for (k, v) in &s.host_sysctl {
            let path = kaudit_tracer::scenario::Scenario::sysctl_path(k);
            match std::fs::write(&path, v) {
                Ok(()) => report.push(format!("  kernel setting {k} set to {v} for the node")),
                Err(e) => report.push(format!("  FAIL setting kernel setting {k} to {v}: {e}")),
            }
        }
    }
    let mut booted: Option<(kaudit_tracer::boot::Network, kaudit_tracer::boot::Node)> = None;
    let mut peers: Vec<kaudit_tracer::boot::Node> = Vec::new();
    let mut nodes = kaudit_tracer::runner::Nodes::default();
    let mut boot_failed = None;
    if boot {
        let r = root.as_deref().expect("booting needs --root");
        match boot_node(r, &hostname, a) {
            Ok((mut net, node)) => {
                report.push(format!(
                    "  node {} booted on {} at {} (init is process {} here)",
                    node.name(),
                    net.subnet(),
                    node.address(),
                    node.leader()
                ));
                nodes
                    .env
                    .insert("KAUDIT_NODE_ADDRESS".into(), node.address().to_string());
                nodes
                    .env
                    .insert("KAUDIT_NODE_NAME".into(), node.name().to_string());
                nodes.traced = Some(node.name().to_string());
                for (name, peer_root) in &peer_roots {
                    match boot_peer(&mut net, name, peer_root, a) {
                        Ok(p) => {
                            report.push(format!(
                                "  peer {} booted from {} at {} (not traced)",
                                p.name(),
                                peer_root.display(),
                                p.address()
                            ));
                            nodes.peers.insert(name.clone(), p.leader());
                            nodes.env.insert(
                                format!("KAUDIT_PEER_{}_ADDRESS", env_name(name)),
                                p.address().to_string(),
                            );
                            peers.push(p);
                        }
                        Err(e) => {
                            boot_failed = Some(e.to_string());
                            break;
                        }
                    }
                }
                booted = Some((net, node));
            }
            Err(e) => boot_failed = Some(e.to_string()),
        }
    }
    let place = match (&booted, root.as_deref()) {
        (Some((_, node)), _) => kaudit_tracer::runner::Place::Node(node.leader()),
        (None, Some(r)) => kaudit_tracer::runner::Place::Chroot(r),
        (None, None) => kaudit_tracer::runner::Place::Host,
    };
    let exit_ok = match &scenario {
        _ if boot_failed.is_some() => {
            report.push(format!(
                "  FAIL boot: {}",
                boot_failed.as_deref().unwrap_or_default()
            ));
            false
        }
        Some((_, _, s, params)) => {
            let o = kaudit_tracer::runner::run_scenario(
                s,
                params,
                &tracer,
                &interrupted,
                place,
                &nodes,
            );
            for st in o.steps.iter().chain(&o.cleanup) {
                report.push(format!(
                    "  {} {}: {}",
                    if st.ok { "ok  " } else { "FAIL" },
                    st.name,
                    st.message
                ));
            }
            o.passed
        }
        None => {
            let mut cmd = kaudit_tracer::runner::command_at(place, &a.command);
            cmd.stdin(std::process::Stdio::inherit());
            match cmd.spawn() {
                Err(e) => {
                    let result = tracer.stop();
                    say_names_notes(&result);
                    db.finish_run(
                        id,
                        "failed",
                        result.complete(),
                        result.events,
                        &result.lost,
                        now(),
                    )?;
                    anyhow::bail!("cannot run {}: {e}", a.command[0].to_string_lossy());
                }
                Ok(mut child) => {
                    let pid = Pid::from_raw(child.id() as i32);
                    let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
                    let status = match wait_synced(&mut child, &tracer, far, &interrupted) {
                        Some(st) => st,
                        None => {
                            // interrupted: stop the command, then wait for it
                            let _ = kill(pid, Signal::SIGTERM);
                            let never = AtomicBool::new(false);
                            let soon = Instant::now() + Duration::from_secs(5);
                            match wait_synced(&mut child, &tracer, soon, &never) {
                                Some(st) => st,
                                None => {
                                    let _ = kill(pid, Signal::SIGKILL);
                                    child.wait()?
                                }
                            }
                        }
                    };
                    status.success()
                }
            }
        }
    };
    // a booted node powers off (its init stops its services), then its
    // network goes
    if let Some((net, node)) = booted.take() {
        for p in peers.drain(..) {
            report.push(format!("  {}", p.stop(Duration::from_secs(60))));
        }
        report.push(format!("  {}", node.stop(Duration::from_secs(60))));
        let log = net.stop();
        if a.verbose_boot {
            for l in log.lines() {
                report.push(format!("  dhcp: {l}"));
            }
        }
    }
    let mut leftovers = 0;
    if let Some(c) = contained {
        let k = c.kill_rest();
        leftovers += k.processes;
        if k.one_by_one && k.processes > 0 {
            eprintln!("kaudit: the run's control group was killed process by process (without cgroup.kill, which Linux has from 5.14)");
        }
        if let Some(p) = k.problem {
            eprintln!("kaudit: {p}");
        }
    }
    leftovers += reap_leftovers();
    let (groups_removed, groups_left) = cgroups_before.sweep();
    if let Some(before) = &sysctls {
        let (restored, failed) = before.restore();
        for (name, value) in restored {
            report.push(format!("  kernel setting {name} put back to {value}"));
        }
        for f in failed {
            report.push(format!("  FAIL putting back kernel setting {f}"));
        }
    }
    let result = tracer.stop();
    say_names_notes(&result);
    let was_interrupted = interrupted.load(Ordering::SeqCst);
    // what the reader's batches stored needs only its counts brought up to
    // date; the rest is stored now
    let stored = result.stored.len().min(result.accesses.len());
    let grown: Vec<(Vec<u8>, String, i64)> = result.accesses[..stored]
        .iter()
        .zip(&result.stored)
        .filter(|(a, &then)| a.count != then)
        .map(|(a, _)| (a.path.clone(), a.kind.as_str().to_string(), a.count as i64))
        .collect();
    let rows: Vec<AccessRow> = result.accesses[stored..].iter().map(access_row).collect();
    // each name walked in the root as it is now, with the analyzer's model:
    // the symlinks it went through become its evidence
    let walk_root = kaudit_analyzer::rootfs::Root::open(&opts.root).ok();
    // names share their directories: each entry is looked at once
    let memo = walk_root
        .as_ref()
        .map(|r| kaudit_analyzer::rootfs::Memo::new(r));
    let mut walked: std::collections::HashMap<(&[u8], bool), Walked> =
        std::collections::HashMap::new();
    let name_rows: Vec<NameRow> = result
        .names
        .iter()
        .map(|n| {
            let (hops, resolved) = walked
                .entry((n.path.as_slice(), n.nofollow))
                .or_insert_with(|| walk(memo.as_ref(), &n.path, n.nofollow))
                .clone();
            (n, hops, resolved)
        })
        .map(|(n, hops, resolved)| NameRow {
            path: n.path.clone(),
            call: n.call.clone(),
            result: n.result.clone(),
            nofollow: n.nofollow,
            evidence: match n.result.as_str() {
                "ok" => "asked",
                "ENOENT" => "probed-absent",
                _ => "failed",
            }
            .to_string(),
            resolved,
            hops,
            pid: i64::from(n.pid),
            comm: n.comm.clone(),
            step: n.step.clone(),
            count: n.count as i64,
            first_ms: n.first_ms as i64,
        })
        .collect();
    let names_status = if result.names_status.active && result.names_status.problems.is_empty() {
        "complete".to_string()
    } else {
        format!("partial: {}", result.names_status.problems.join("; "))
    };
    let run_status = if was_interrupted {
        "interrupted"
    } else if exit_ok {
        "passed"
    } else {
        "failed"
    };
    // the end of the run in one transaction; a graph that cannot take it
    // (another process holds it past the busy timeout) gets it later, from
    // a file beside it
    let end = kaudit_graph::PendingRun {
        run: id,
        status: run_status.to_string(),
        complete: result.complete(),
        events: result.events,
        lost: result.lost.clone(),
        finished_at: now(),
        counts: grown,
        accesses: rows,
        names: name_rows,
        names_status: names_status.clone(),
    };
    if let Err(e) = db.store_run_end(&end) {
        drop(db);
        return Err(match kaudit_graph::pending::keep_beside(&cli.db, &end) {
            Ok(kept) => anyhow::anyhow!(
                "run {id} could not be stored: {e}; its {} accesses and {} names are kept in {}, and stored by the next kaudit that writes the graph",
                end.accesses.len() + end.counts.len(),
                end.names.len(),
                kept.display()
            ),
            Err(k) => anyhow::anyhow!(
                "run {id} could not be stored: {e}; keeping it beside the graph failed too: {}: {k}",
                kaudit_graph::pending::pending_path(&cli.db, id).display()
            ),
        });
    }
    let files: std::collections::BTreeSet<&[u8]> =
        result.accesses.iter().map(|x| x.path.as_slice()).collect();
    let mut err = crate::say::summaries();
    writeln!(
        err,
        "kaudit: run {id} {:?} {run_status}: {} files, {} accesses, {} events in {:.2} s{}",
        run_name,
        files.len(),
        result.accesses.len(),
        result.events,
        started.elapsed().as_secs_f64(),
        if leftovers > 0 {
            format!("; {leftovers} leftover process(es) killed")
        } else {
            String::new()
        }
    )?;
    if result.names_status.active {
        let absent = result.names.iter().filter(|n| n.result == "ENOENT").count();
        writeln!(
            err,
            "kaudit: {} names asked for ({absent} not found)",
            result.names.len()
        )?;
    }
    if let Some(source) = &result.names_status.source {
        writeln!(err, "kaudit: names seen through {source}")?;
    }
    if names_status != "complete" {
        writeln!(err, "kaudit: names are {names_status}")?;
    }
    if result.unnamed > 0 {
        writeln!(
            err,
            "kaudit: {} event(s) in directories deleted before they could be named (temporary files; not part of an image)",
            result.unnamed
        )?;
    }
    if groups_removed > 0 {
        writeln!(
            err,
            "kaudit: {groups_removed} control group(s) the workload made removed"
        )?;
    }
    for g in &groups_left {
        writeln!(
            err,
            "kaudit: control group {} made during the run still holds processes: left as it is",
            g.display()
        )?;
    }
    drop(err);
    let mut err = std::io::stderr().lock();
    for line in &report {
        // a failed step is said even with -q
        if !crate::say::quiet() || line.contains("FAIL") {
            writeln!(err, "{line}")?;
        }
    }
    for l in &result.lost {
        writeln!(
            err,
            "{}: {l}",
            kaudit_analyzer::findings::Code::EventOverflow
        )?;
    }
    if !result.complete() && !a.allow_loss {
        writeln!(
            err,
            "kaudit: run {id} is incomplete (use --allow-loss to accept it)"
        )?;
        return Ok(1);
    }
    Ok(if run_status == "passed" { 0 } else { 1 })
}

/// What the name capture had to say besides its names (a pin a killed
/// trace left, removed), on standard error whatever `-q` says.
fn say_names_notes(result: &kaudit_tracer::TraceResult) {
    for note in &result.names_status.notes {
        eprintln!("kaudit: {note}");
    }
}

pub(crate) fn runs(cli: &Cli, a: &RunsArgs) -> anyhow::Result<i32> {
    let db = Db::open_read(&cli.db)?;
    let runs = db.runs()?;
    let mut out = std::io::stdout().lock();
    match a.format {
        SummaryFormat::Text => {
            for r in &runs {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{} events\tnames {}",
                    r.id,
                    r.name,
                    r.status,
                    if r.complete { "complete" } else { "incomplete" },
                    r.command.as_deref().unwrap_or(&r.kind),
                    r.events,
                    match r.names.as_deref() {
                        Some("complete") => "complete",
                        Some(_) => "partial",
                        None => "none",
                    }
                )?;
            }
        }
        SummaryFormat::Json => {
            let v: Vec<_> = runs
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "id": r.id, "name": r.name, "kind": r.kind, "command": r.command,
                        "root": String::from_utf8_lossy(&r.root), "host": r.host, "kernel": r.kernel,
                        "started_at": r.started_at, "finished_at": r.finished_at,
                        "status": r.status, "complete": r.complete, "events": r.events, "lost": r.lost,
                        "names": r.names,
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
    }
    Ok(0)
}

pub(crate) fn accessed(cli: &Cli, a: &AccessedArgs) -> anyhow::Result<i32> {
    let db = Db::open_read(&cli.db)?;
    let Some(run) = db.find_run(a.run, a.scenario.as_deref())? else {
        anyhow::bail!("no such run in {}", cli.db.display());
    };
    if a.names {
        return names(&db, &run, a.format);
    }
    let rows = db.accesses(run.id)?;
    let mut out = std::io::stdout().lock();
    match a.format {
        AccessedFormat::List => {
            let mut last: Option<&[u8]> = None;
            for r in &rows {
                if last != Some(r.path.as_slice()) {
                    out.write_all(&r.path)?;
                    out.write_all(b"\n")?;
                    last = Some(&r.path);
                }
            }
        }
        AccessedFormat::Json => {
            let p = kaudit_analyzer::report::json_path;
            let v = serde_json::json!({
                "run": run.id, "name": run.name, "status": run.status, "complete": run.complete,
                "accesses": rows.iter().map(|r| serde_json::json!({
                    "path": p(&r.path), "kind": r.kind, "pid": r.pid, "comm": r.comm,
                    "exe": r.exe.as_deref().map(p), "parents": r.parents, "step": r.step,
                    "count": r.count, "first_ms": r.first_ms,
                })).collect::<Vec<_>>(),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
    }
    Ok(0)
}

/// `kaudit accessed --names`: each name with its call and result, and the
/// symlinks it walks in the run's root (resolved now, with the analyzer's
/// root model, when the root is still there).
fn names(db: &Db, run: &kaudit_graph::RunRow, format: AccessedFormat) -> anyhow::Result<i32> {
    let (rows, status) = db.names(run.id)?;
    let mut out = std::io::stdout().lock();
    let p = kaudit_analyzer::report::json_path;
    match format {
        AccessedFormat::List => {
            if let Some(s) = status.as_deref().filter(|s| *s != "complete") {
                eprintln!("kaudit: names of run {} are {s}", run.id);
            }
            for n in &rows {
                write!(out, "{:<8} {:<11} ", n.result, n.call)?;
                out.write_all(&n.path)?;
                for (link, target) in &n.hops {
                    out.write_all(b"  [")?;
                    out.write_all(link)?;
                    out.write_all(b" -> ")?;
                    out.write_all(target)?;
                    out.write_all(b"]")?;
                }
                if let Some(t) = n
                    .resolved
                    .as_ref()
                    .filter(|t| **t != n.path || !n.hops.is_empty())
                {
                    out.write_all(b"  => ")?;
                    out.write_all(t)?;
                }
                out.write_all(b"\n")?;
            }
        }
        AccessedFormat::Json => {
            let v = serde_json::json!({
                "run": run.id, "name": run.name, "names": status,
                "asked": rows.iter().map(|n| serde_json::json!({
                    "path": p(&n.path), "call": n.call, "result": n.result,
                    "evidence": n.evidence, "nofollow": n.nofollow, "pid": n.pid,
                    "comm": n.comm, "step": n.step, "count": n.count, "first_ms": n.first_ms,
                    "symlinks": n.hops.iter().map(|(l, t)| serde_json::json!({
                        "link": p(l), "target": p(t)})).collect::<Vec<_>>(),
                    "resolved": n.resolved.as_deref().map(p),
                })).collect::<Vec<_>>(),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
    }
    Ok(0)
}

/// The symlinks a name walks in the root, (link, stored target) in order,
/// and what it reaches.
type Walked = (Vec<(Vec<u8>, Vec<u8>)>, Option<Vec<u8>>);

/// Walk `path` in `root` (the analyzer's model: re-rooted absolute targets,
/// every hop, `..` clamped); with `nofollow` the last component is not
/// followed. Nothing when the root cannot be opened.
fn walk(root: Option<&kaudit_analyzer::rootfs::Memo<'_>>, path: &[u8], nofollow: bool) -> Walked {
    let Some(r) = root else {
        return (Vec::new(), None);
    };
    let res = kaudit_analyzer::rootfs::resolve(r, path, b"/");
    let hops = if nofollow {
        res.prefix()
    } else {
        &res.hops[..]
    };
    let target = if nofollow {
        res.named.clone()
    } else {
        res.target_path().map(<[u8]>::to_vec)
    };
    (
        hops.iter()
            .map(|h| (h.link.clone(), h.target.clone()))
            .collect(),
        target,
    )
}

pub(crate) fn scenarios(a: &crate::cli::ScenariosArgs) -> anyhow::Result<i32> {
    use kaudit_tracer::scenario::Scenario;
    let mut out = std::io::stdout().lock();
    match &a.what {
        crate::cli::ScenariosCommand::List => {
            // (name, description, where): the first of each name wins, as
            // in a lookup
            let mut found: std::collections::BTreeMap<String, (String, String)> =
                std::collections::BTreeMap::new();
            for d in scenario_dirs(a.scenarios.as_deref()) {
                let Ok(rd) = std::fs::read_dir(&d) else {
                    continue;
                };
                for f in rd.flatten().map(|e| e.path()) {
                    if f.extension().is_none_or(|e| e != "toml") {
                        continue;
                    }
                    let name = f
                        .file_stem()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    if found.contains_key(&name) {
                        continue;
                    }
                    let desc = std::fs::read_to_string(&f)
                        .ok()
                        .and_then(|t| Scenario::parse(&f, &t).ok())
                        .and_then(|s| s.description)
                        .unwrap_or_default();
                    found.insert(name, (desc, f.display().to_string()));
                }
            }
            for (name, text) in BUILTIN_SCENARIOS {
                if found.contains_key(*name) {
                    continue;
                }
                let place = format!("builtin:{name}");
                let desc = Scenario::parse(std::path::Path::new(&place), text)
                    .ok()
                    .and_then(|s| s.description)
                    .unwrap_or_default();
                found.insert(name.to_string(), (desc, place));
            }
            for (name, (desc, place)) in &found {
                writeln!(out, "{name}\t{desc}\t{place}")?;
            }
        }
        crate::cli::ScenariosCommand::Show { scenario } => {
            let (name, path, s) = load_scenario(scenario, a.scenarios.as_deref())?;
            writeln!(out, "{name} ({})", path.display())?;
            if let Some(d) = &s.description {
                writeln!(out, "  {d}")?;
            }
            for (k, p) in &s.params {
                writeln!(
                    out,
                    "  param {k}{}{}",
                    if p.required {
                        " (required)".to_string()
                    } else {
                        p.default
                            .as_ref()
                            .map(|d| format!(" = {d:?}"))
                            .unwrap_or_default()
                    },
                    p.description
                        .as_ref()
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                )?;
            }
            for (i, st) in s.steps.iter().enumerate() {
                let name = st.name.clone().unwrap_or_else(|| format!("step-{}", i + 1));
                match (&st.run, &st.daemon) {
                    (Some(r), _) => writeln!(out, "  step {name}: run {r}")?,
                    (_, Some(d)) => writeln!(out, "  step {name}: daemon {d}")?,
                    _ => {}
                }
            }
            for st in &s.cleanup {
                if let Some(r) = &st.run {
                    writeln!(out, "  cleanup: {r}")?;
                }
            }
        }
    }
    Ok(0)
}

/// Tell a service manager that tracing has started: `READY=1` on the
/// datagram socket named by `$NOTIFY_SOCKET` (systemd's `sd_notify`
/// protocol; a leading `@` names an abstract socket). Without the variable
/// nothing is sent; a failure is reported, not fatal.
fn notify_ready() {
    let Some(addr) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let send = || -> std::io::Result<()> {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::{SocketAddr, UnixDatagram};
        let a = addr.as_bytes();
        let to = match a.strip_prefix(b"@") {
            Some(name) => SocketAddr::from_abstract_name(name)?,
            None => SocketAddr::from_pathname(std::path::Path::new(&addr))?,
        };
        let sock = UnixDatagram::unbound()?;
        sock.send_to_addr(
            format!("READY=1\nSTATUS=tracing\nMAINPID={}", std::process::id()).as_bytes(),
            &to,
        )?;
        Ok(())
    };
    if let Err(e) = send() {
        eprintln!(
            "kaudit: telling the service manager that tracing started failed ({}): {e}",
            addr.to_string_lossy()
        );
    }
}
