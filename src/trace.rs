//! `kaudit trace`, `kaudit runs`, `kaudit accessed`.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use kaudit_graph::{AccessRow, Db, NameRow, NewRun};
use kaudit_tracer::runner::wait_synced;
use kaudit_tracer::{TraceOptions, Tracer};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::shared::load_scenario;

/// Run a scenario or a command under fanotify and record every file the node uses meanwhile
///
/// `kaudit trace --scenario NAME` runs the steps of scenarios/NAME.toml;
/// `kaudit trace --name NAME -- COMMAND...` is an ad-hoc one-step scenario,
/// recorded under NAME. Recorded: every file any process on the node opens, executes,
/// lists or writes while COMMAND runs — also daemons outside COMMAND's
/// process tree — plus files already in use when tracing starts. Each
/// (file, kind) is stored once with the first process and a count. Also
/// recorded (BPF, unless --no-names): every path any process asks for in
/// exec, open, stat, access, readlink and chdir calls, with the result
/// and the symlinks it walks in the root (kaudit accessed --names); where
/// the kernel refuses BPF, exec names only, and the run says names are
/// partial. The first 32-bit program of a run is stopped for a moment
/// (SIGSTOP, then SIGCONT) while the capture of 32-bit calls is
/// attached. Every process COMMAND starts is born in a cgroup v2 group of
/// the run's own (kaudit-PID, below kaudit's group), which is killed and
/// removed at the end; what left that group is killed through the
/// process tree (kaudit is their child subreaper). When
/// $NOTIFY_SOCKET is set, READY=1 is sent once tracing has started. A lost event (queue
/// overflow, read error) marks the run incomplete, prints the finding
/// event-overflow and exits 1 unless --allow-loss. SIGINT/SIGTERM stop the
/// command and commit what was recorded as an interrupted run. Needs root.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["scenario", "name"])))]
pub(crate) struct Args {
    /// A scenario: a file, or NAME for NAME.toml in --scenarios DIR,
    /// $KAUDIT_SCENARIOS, /etc/kaudit/scenarios or /usr/share/kaudit/scenarios,
    /// else one of the scenarios built into kaudit
    #[arg(long, value_name = "NAME|FILE", conflicts_with = "command")]
    pub(crate) scenario: Option<String>,
    /// A directory of scenario files, searched first
    #[arg(long, value_name = "DIR")]
    pub(crate) scenarios: Option<PathBuf>,
    /// Run inside DIR: a private mount namespace, DIR covered by an overlay
    /// whose writable layer is a tmpfs (DIR itself is never written: what
    /// the run creates is recorded as created and vanishes with it), /proc
    /// /sys /dev bind-mounted into it, tmpfs on /run and /tmp, chroot;
    /// accesses are recorded as paths inside DIR
    #[arg(long, value_name = "DIR")]
    pub(crate) root: Option<std::path::PathBuf>,
    /// Accepted for compatibility: --root always runs on an overlay
    #[arg(long, requires = "root", hide = true)]
    pub(crate) overlay: bool,
    /// With --root: boot DIR's own init (/sbin/init) as PID 1 of a container
    /// of its own (systemd-nspawn: PID, mount, UTS, IPC and network
    /// namespaces, pivot_root into the overlay of DIR), on a network of the
    /// run's own (a bridge and a DHCP server, dnsmasq, in a namespace of
    /// their own); the whole boot is recorded, the steps run inside the node
    /// (nsenter), and the node is powered off at the end. The machine's
    /// kernel settings are put back afterwards
    #[arg(long, requires = "root")]
    pub(crate) boot: bool,
    /// Booted: the node's hostname [default: node]
    #[arg(long, value_name = "NAME")]
    pub(crate) hostname: Option<String>,
    /// Booted: the run's network, a /24 (the bridge is .1, node N gets .10+N,
    /// DHCP hands out .10-.250) [default: 10.77.0.0/24]
    #[arg(long, value_name = "CIDR")]
    pub(crate) subnet: Option<String>,
    /// Booted: boot ROOT too, as node NAME on the run's network, not traced,
    /// on an overlay of its own (repeatable). Steps with `node = "NAME"` run
    /// on it; every step gets its address as $KAUDIT_PEER_<NAME>_ADDRESS (and
    /// the traced node's as $KAUDIT_NODE_ADDRESS, its name as $KAUDIT_NODE_NAME)
    #[arg(long = "peer", value_name = "NAME=ROOT")]
    pub(crate) peers: Vec<String>,
    /// Booted: one more systemd-nspawn argument (repeatable)
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub(crate) nspawn_arg: Vec<String>,
    /// With --boot: show what the DHCP server logged
    #[arg(long, requires = "boot", hide = true)]
    pub(crate) verbose_boot: bool,
    /// A scenario parameter (repeatable)
    #[arg(long = "param", value_name = "NAME=VALUE", requires = "scenario")]
    pub(crate) params: Vec<String>,
    /// The name an ad-hoc run (-- COMMAND...) is recorded under
    #[arg(long, value_name = "NAME", requires = "command", value_parser = run_name)]
    pub(crate) name: Option<String>,
    /// Count every event (no kernel-side suppression of files already recorded)
    #[arg(long)]
    pub(crate) all_events: bool,
    /// Exit 0 even if events were lost (the run is still marked incomplete)
    #[arg(long)]
    pub(crate) allow_loss: bool,
    /// Do not record the names programs ask for (the BPF name capture: every
    /// path passed to exec, open, stat, access, readlink and chdir calls,
    /// with the result)
    #[arg(long)]
    pub(crate) no_names: bool,
    /// Capture names through the raw system call tracepoints only. Every
    /// system call of every process then pays for the capture; by default
    /// the per-call tracepoints serve 64-bit programs and the raw ones are
    /// attached only once a 32-bit program runs
    #[arg(long, conflicts_with = "no_names")]
    pub(crate) names_raw: bool,
    /// Report events with open file descriptors only (no file-handle group)
    #[arg(long, hide = true)]
    pub(crate) fd_events: bool,
    /// Test mode: keep the kernel's bounded event queue
    #[arg(long, hide = true)]
    pub(crate) test_bounded_queue: bool,
    /// Test mode: kill the run's control group process by process at the
    /// end, as on kernels without `cgroup.kill`
    #[arg(long, hide = true)]
    pub(crate) test_kill_one_by_one: bool,
    /// Test mode: the kernel refuses one of the per-call tracepoints'
    /// attachments (a wrong event name), so names come through the raw ones
    #[arg(long, hide = true, conflicts_with = "names_raw")]
    pub(crate) test_refuse_per_call: bool,
    /// Test mode: wait this many milliseconds before reading events
    #[arg(long, hide = true, default_value_t = 0)]
    pub(crate) test_reader_delay_ms: u64,
    /// With --root: hide the entries FILE lists (absolute paths inside the
    /// root, one per line) from the run, with whiteouts in the overlay's
    /// writable layer (kaudit prove: the root itself is never written)
    #[arg(long, value_name = "FILE", requires = "root", hide = true)]
    pub(crate) hide: Option<PathBuf>,
    /// No step runs longer than this (`30s`), whatever its own timeout
    /// (kaudit prove: a replay that hangs without a file fails in time)
    #[arg(long, value_name = "DURATION", requires = "scenario", hide = true)]
    pub(crate) step_timeout_max: Option<String>,
    /// The command and its arguments (with --name)
    #[arg(last = true, value_name = "COMMAND")]
    pub(crate) command: Vec<std::ffi::OsString>,
}
/// A run name: not empty, and no control characters (a tab or a newline
/// would forge columns or rows in `kaudit runs`).
fn run_name(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("a run name cannot be empty".into());
    }
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(format!(
            "a run name cannot hold control characters ({:?} found)",
            c
        ));
    }
    Ok(s.to_string())
}

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
    a: &Args,
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
    a: &Args,
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

pub(crate) fn run(db_path: &Path, a: &Args) -> anyhow::Result<i32> {
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
    let mut db = Db::open(db_path, true)?;
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
    let mut batch_db = Db::open(db_path, true)?;
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
        return Err(match kaudit_graph::pending::keep_beside(db_path, &end) {
            Ok(kept) => anyhow::anyhow!(
                "run {id} could not be stored: {e}; its {} accesses and {} names are kept in {}, and stored by the next kaudit that writes the graph",
                end.accesses.len() + end.counts.len(),
                end.names.len(),
                kept.display()
            ),
            Err(k) => anyhow::anyhow!(
                "run {id} could not be stored: {e}; keeping it beside the graph failed too: {}: {k}",
                kaudit_graph::pending::pending_path(db_path, id).display()
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
