//! Running a scenario's steps under a tracer.
//!
//! Each step runs in a process group of its own (`/bin/sh -c`), so a
//! timeout kills everything it started. Daemons run in the background until
//! the end of the scenario, and their readiness is awaited. A step whose
//! process exited is reaped only after the tracer has read its events.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::run::Tracer;
use crate::scenario::{parse_duration, substitute, Ready, Scenario, Step};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How one step went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepOutcome {
    /// Step name.
    pub name: String,
    /// Whether it met its expectations.
    pub ok: bool,
    /// What happened, for a human.
    pub message: String,
}

/// How a scenario went.
#[derive(Debug, Clone, Default)]
pub struct ScenarioOutcome {
    /// The steps run (a failed step ends the scenario).
    pub steps: Vec<StepOutcome>,
    /// The cleanup steps.
    pub cleanup: Vec<StepOutcome>,
    /// Every step passed.
    pub passed: bool,
    /// Stopped by a signal.
    pub interrupted: bool,
}

/// The name a step is recorded under (`step-N` when it has none).
pub fn step_name(st: &Step, i: usize) -> String {
    st.name.clone().unwrap_or_else(|| format!("step-{}", i + 1))
}

/// Where a scenario's commands run.
#[derive(Debug, Clone, Copy)]
pub enum Place<'a> {
    /// On this machine.
    Host,
    /// Inside a root, with the host's `chroot` (see [`crate::rootns`]).
    Chroot(&'a Path),
    /// Inside a booted node: the host's `nsenter` into the namespaces and
    /// root of its init (see [`crate::boot`]).
    Node(i32),
}

impl Place<'_> {
    /// The root directory of the place, as a path here.
    fn root(&self) -> Option<PathBuf> {
        match self {
            Place::Host => None,
            Place::Chroot(r) => Some(r.to_path_buf()),
            Place::Node(pid) => Some(PathBuf::from(format!("/proc/{pid}/root"))),
        }
    }
}

/// The peer nodes of a run (booted beside the traced one, not traced), by
/// name: where a step with `node = "NAME"` runs, and the environment every
/// step gets (`KAUDIT_NODE_ADDRESS`, `KAUDIT_PEER_<NAME>_ADDRESS`).
#[derive(Debug, Clone, Default)]
pub struct Nodes {
    /// name → the peer's init (process id here).
    pub peers: BTreeMap<String, i32>,
    /// The traced node's name: a step naming it runs there.
    pub traced: Option<String>,
    /// Environment of every step.
    pub env: BTreeMap<String, String>,
}

impl Nodes {
    /// Where `st` runs: on the peer it names, else at `default`.
    fn place_of<'a>(&self, st: &Step, default: Place<'a>) -> Result<Place<'a>, String> {
        match &st.node {
            None => Ok(default),
            Some(n) if self.traced.as_ref() == Some(n) => Ok(default),
            Some(n) => self
                .peers
                .get(n)
                .map(|&pid| Place::Node(pid))
                .ok_or_else(|| {
                    format!(
                    "the step runs on node {n:?}, which this run has not booted (--peer {n}=ROOT)"
                )
                }),
        }
    }
}

/// `PROGRAM ARGS…` at `place`: as it is here, through the host's `chroot`
/// inside a root, or through the host's `nsenter` into a booted node's init
/// (its namespaces and root).
pub fn command_at<S: AsRef<std::ffi::OsStr>>(place: Place<'_>, argv: &[S]) -> Command {
    let full = argv_at(place, argv);
    let mut c = Command::new(full.first().cloned().unwrap_or_default());
    c.args(full.iter().skip(1));
    c.stdin(Stdio::null());
    c
}

/// The whole command line of `PROGRAM ARGS…` at `place` (see
/// [`command_at`]).
fn argv_at<S: AsRef<std::ffi::OsStr>>(place: Place<'_>, argv: &[S]) -> Vec<std::ffi::OsString> {
    let mut out: Vec<std::ffi::OsString> = match place {
        Place::Chroot(r) => vec!["/usr/sbin/chroot".into(), r.as_os_str().to_owned()],
        Place::Node(pid) => [
            "nsenter",
            "-t",
            &pid.to_string(),
            "-m",
            "-u",
            "-i",
            "-n",
            "-p",
            "-r",
            "-w",
        ]
        .iter()
        .map(Into::into)
        .collect(),
        Place::Host => Vec::new(),
    };
    out.extend(argv.iter().map(|a| a.as_ref().to_owned()));
    out
}

/// `/bin/sh -c TEXT` at `place`, in a process group of its own.
fn command(text: &str, env: &BTreeMap<String, String>, place: Place<'_>) -> Command {
    let mut c = command_at(place, &["/bin/sh", "-c", text]);
    c.envs(env).process_group(0);
    c
}

/// Wait for `child` until `deadline` (or until `stop`), letting the tracer
/// catch up before the exited child is reaped, so its last events are
/// attributed while `/proc/PID` still names it. `None` on timeout or stop.
pub fn wait_synced(
    child: &mut Child,
    tracer: &Tracer,
    deadline: Instant,
    stop: &AtomicBool,
) -> Option<ExitStatus> {
    let pid = Pid::from_raw(child.id() as i32);
    loop {
        let exited = nix::sys::wait::waitid(
            nix::sys::wait::Id::Pid(pid),
            nix::sys::wait::WaitPidFlag::WEXITED
                | nix::sys::wait::WaitPidFlag::WNOWAIT
                | nix::sys::wait::WaitPidFlag::WNOHANG,
        );
        if matches!(exited, Ok(s) if s != nix::sys::wait::WaitStatus::StillAlive) {
            tracer.sync(Duration::from_secs(5));
        }
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if Instant::now() >= deadline || stop.load(Ordering::SeqCst) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A step's output pipe, read on a thread of its own into a shared buffer.
struct Captured {
    buf: std::sync::Arc<Mutex<Vec<u8>>>,
    done: std::thread::JoinHandle<()>,
}

impl Captured {
    fn start(pipe: Option<impl Read + Send + 'static>) -> Captured {
        let buf = std::sync::Arc::new(Mutex::new(Vec::new()));
        let b = buf.clone();
        let done = std::thread::spawn(move || {
            let Some(mut p) = pipe else { return };
            let mut chunk = [0u8; 8192];
            while let Ok(n) = p.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                b.lock()
                    .expect("output buffer")
                    .extend_from_slice(&chunk[..n]);
            }
        });
        Captured { buf, done }
    }

    /// What was read, once the pipe is closed or after a grace period.
    fn finish(self) -> Vec<u8> {
        let t = Instant::now();
        while !self.done.is_finished() && t.elapsed() < OUTPUT_GRACE {
            std::thread::sleep(Duration::from_millis(5));
        }
        let out = std::mem::take(&mut *self.buf.lock().expect("output buffer"));
        if self.done.is_finished() {
            let _ = self.done.join();
        }
        out
    }
}

/// How long a step's output is still read after the step's shell exited,
/// while something it left behind keeps the pipe open.
const OUTPUT_GRACE: Duration = Duration::from_millis(500);

fn kill_group(child: &mut Child) {
    let pg = Pid::from_raw(child.id() as i32);
    let _ = killpg(pg, Signal::SIGTERM);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = killpg(pg, Signal::SIGKILL);
    let _ = child.wait();
    // a step inside a booted node leaves its shell to this process when
    // nsenter is killed first
    crate::boot::reap_node_orphans();
}

/// A path of the scenario (inside the root) as seen from here.
fn host_path(place: Place<'_>, p: &str) -> PathBuf {
    match place.root() {
        Some(r) => r.join(p.trim_start_matches('/')),
        None => PathBuf::from(p),
    }
}

#[allow(clippy::too_many_arguments)]
fn run_step(
    st: &Step,
    name: &str,
    env: &BTreeMap<String, String>,
    params: &BTreeMap<String, String>,
    tracer: &Tracer,
    stop: &AtomicBool,
    place: Place<'_>,
) -> StepOutcome {
    let text = substitute(st.run.as_deref().unwrap_or_default(), params);
    let timeout = st
        .timeout
        .as_deref()
        .and_then(|t| parse_duration(&substitute(t, params)))
        .unwrap_or(DEFAULT_TIMEOUT);
    // a harness step: here, with the machine's tools, the node's root at
    // $KAUDIT_ROOT; its process group is left out of the record
    let mut harness_env;
    let (env, place) = if st.harness {
        harness_env = env.clone();
        harness_env.insert(
            "KAUDIT_ROOT".into(),
            place
                .root()
                .unwrap_or_else(|| PathBuf::from("/"))
                .to_string_lossy()
                .into_owned(),
        );
        if let Place::Node(pid) = place {
            harness_env.insert("KAUDIT_NODE_PID".into(), pid.to_string());
        }
        (&harness_env, Place::Host)
    } else {
        (env, place)
    };
    let mut c = match &st.netns {
        None => command(&text, env, place),
        Some(_) if matches!(place, Place::Node(_)) => {
            return StepOutcome {
                name: name.into(),
                ok: false,
                message: "`netns` applies to a run that is not booted (a booted node has a network of its own)".into(),
            }
        }
        Some(ns) => {
            // the machine's nsenter enters the namespace, then the step runs at its place
            let ns = host_path(place, &substitute(ns, params));
            let mut argv: Vec<std::ffi::OsString> =
                vec!["nsenter".into(), format!("--net={}", ns.display()).into()];
            argv.extend(argv_at(place, &["/bin/sh", "-c", text.as_str()]));
            let mut c = command_at(Place::Host, &argv);
            c.envs(env).process_group(0);
            c
        }
    };
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = match c.spawn() {
        Ok(ch) => {
            // its group is its own pid (it runs the machine's shell first,
            // outside the traced root, before it can touch anything there)
            if st.harness {
                crate::harness::begin(ch.id() as i32);
            }
            ch
        }
        Err(e) => {
            return StepOutcome {
                name: name.into(),
                ok: false,
                message: format!("cannot start: {e}"),
            }
        }
    };
    let out = Captured::start(child.stdout.take());
    let err = Captured::start(child.stderr.take());
    let began = Instant::now();
    let status = wait_synced(&mut child, tracer, began + timeout, stop);
    if status.is_none() {
        kill_group(&mut child);
    } else {
        // what the step left running in its group goes too
        let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
    }
    if st.harness {
        tracer.sync(Duration::from_secs(5));
        crate::harness::end(child.id() as i32);
    }
    // a process that left the group (setsid, double fork) may still hold
    // the pipes: what it wrote so far is taken, the rest is not waited for
    // (it is killed when the scenario's leftovers are reaped)
    let stdout = String::from_utf8_lossy(&out.finish()).into_owned();
    let stderr = String::from_utf8_lossy(&err.finish()).into_owned();
    let Some(status) = status else {
        let why = if stop.load(Ordering::SeqCst) {
            "interrupted"
        } else {
            "timed out"
        };
        return StepOutcome {
            name: name.into(),
            ok: false,
            message: format!("{why} after {:.1} s", began.elapsed().as_secs_f64()),
        };
    };
    let want = st.expect.exit.unwrap_or(0);
    let code = status.code();
    if code != Some(want) {
        let tail: String = stderr
            .lines()
            .rev()
            .take(3)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join(" | ");
        return StepOutcome {
            name: name.into(),
            ok: false,
            message: format!(
                "exit status {} (expected {want}){}",
                code.map_or("signal".into(), |c| c.to_string()),
                if tail.is_empty() {
                    String::new()
                } else {
                    format!(": {tail}")
                }
            ),
        };
    }
    if let Some(s) = &st.expect.stdout_contains {
        let s = substitute(s, params);
        if !stdout.contains(&s) {
            return StepOutcome {
                name: name.into(),
                ok: false,
                message: format!("standard output does not contain {s:?}"),
            };
        }
    }
    if let Some(s) = &st.expect.stderr_contains {
        let s = substitute(s, params);
        if !stderr.contains(&s) {
            return StepOutcome {
                name: name.into(),
                ok: false,
                message: format!("standard error does not contain {s:?}"),
            };
        }
    }
    StepOutcome {
        name: name.into(),
        ok: true,
        message: format!("exit status {}", code.unwrap_or(0)),
    }
}

fn is_ready(
    r: &Ready,
    env: &BTreeMap<String, String>,
    params: &BTreeMap<String, String>,
    place: Place<'_>,
) -> bool {
    if let Some(p) = &r.socket {
        let p = host_path(place, &substitute(p, params));
        if !std::fs::metadata(p).is_ok_and(|m| m.file_type().is_socket()) {
            return false;
        }
    }
    if let Some(p) = &r.path {
        if std::fs::symlink_metadata(host_path(place, &substitute(p, params))).is_err() {
            return false;
        }
    }
    if let Some(c) = &r.command {
        let mut cmd = command(&substitute(c, params), env, place);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let ok = cmd.spawn().ok().and_then(|mut ch| {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(st)) = ch.try_wait() {
                    return Some(st.success());
                }
                if Instant::now() > deadline {
                    kill_group(&mut ch);
                    return Some(false);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        if ok != Some(true) {
            return false;
        }
    }
    true
}

fn start_daemon(
    st: &Step,
    name: &str,
    env: &BTreeMap<String, String>,
    params: &BTreeMap<String, String>,
    stop: &AtomicBool,
    place: Place<'_>,
) -> (StepOutcome, Option<Child>) {
    let text = substitute(st.daemon.as_deref().unwrap_or_default(), params);
    let timeout = st
        .timeout
        .as_deref()
        .and_then(|t| parse_duration(&substitute(t, params)))
        .unwrap_or(DEFAULT_TIMEOUT);
    let mut c = command(&format!("exec {text}"), env, place);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = match c.spawn() {
        Ok(ch) => ch,
        Err(e) => {
            return (
                StepOutcome {
                    name: name.into(),
                    ok: false,
                    message: format!("cannot start: {e}"),
                },
                None,
            )
        }
    };
    let t = Instant::now();
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return (
                StepOutcome {
                    name: name.into(),
                    ok: false,
                    message: format!("daemon exited ({st}) before it was ready"),
                },
                None,
            );
        }
        if st
            .ready
            .as_ref()
            .is_none_or(|r| is_ready(r, env, params, place))
        {
            return (
                StepOutcome {
                    name: name.into(),
                    ok: true,
                    message: format!("ready after {:.2} s", t.elapsed().as_secs_f64()),
                },
                Some(child),
            );
        }
        if t.elapsed() > timeout || stop.load(Ordering::SeqCst) {
            kill_group(&mut child);
            return (
                StepOutcome {
                    name: name.into(),
                    ok: false,
                    message: format!("not ready after {:.1} s", timeout.as_secs_f64()),
                },
                None,
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Run `s` with `params` under `tracer`; `stop` interrupts it. Every
/// command runs at `place`: here, inside a root (`chroot`; see
/// [`crate::rootns`] for the mounts it needs) or inside a booted node. Daemons are stopped (SIGTERM, then SIGKILL after 5 s)
/// when the scenario ends.
pub fn run_scenario(
    s: &Scenario,
    params: &BTreeMap<String, String>,
    tracer: &Tracer,
    stop: &AtomicBool,
    place: Place<'_>,
    nodes: &Nodes,
) -> ScenarioOutcome {
    let mut env: BTreeMap<String, String> = std::env::vars().collect();
    env.extend(nodes.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    for (k, v) in &s.env {
        env.insert(k.clone(), substitute(v, params));
    }
    let mut out = ScenarioOutcome {
        passed: true,
        ..Default::default()
    };
    let mut daemons: Vec<Child> = Vec::new();
    for (i, st) in s.steps.iter().enumerate() {
        if stop.load(Ordering::SeqCst) {
            out.interrupted = true;
            out.passed = false;
            break;
        }
        let name = step_name(st, i);
        tracer.set_step(&name);
        let place = match nodes.place_of(st, place) {
            Ok(p) => p,
            Err(message) => {
                out.steps.push(StepOutcome {
                    name,
                    ok: false,
                    message,
                });
                out.passed = false;
                break;
            }
        };
        let mut step_env = env.clone();
        for (k, v) in &st.env {
            step_env.insert(k.clone(), substitute(v, params));
        }
        let outcome = if st.daemon.is_some() {
            let (o, d) = start_daemon(st, &name, &step_env, params, stop, place);
            daemons.extend(d);
            o
        } else {
            run_step(st, &name, &step_env, params, tracer, stop, place)
        };
        // what the step did before it ended is its own: read it before the
        // next step begins (a daemon's start-up goes on in the background)
        tracer.sync(Duration::from_secs(5));
        let ok = outcome.ok;
        out.steps.push(outcome);
        if !ok {
            out.passed = false;
            out.interrupted = stop.load(Ordering::SeqCst);
            break;
        }
    }
    for (i, st) in s.cleanup.iter().enumerate() {
        let name = st
            .name
            .clone()
            .unwrap_or_else(|| format!("cleanup-{}", i + 1));
        tracer.set_step(&name);
        let never = AtomicBool::new(false);
        let place = match nodes.place_of(st, place) {
            Ok(p) => p,
            Err(message) => {
                out.cleanup.push(StepOutcome {
                    name,
                    ok: false,
                    message,
                });
                continue;
            }
        };
        out.cleanup
            .push(run_step(st, &name, &env, params, tracer, &never, place));
        tracer.sync(Duration::from_secs(5));
    }
    tracer.set_step("stop-daemons");
    for mut d in daemons {
        kill_group(&mut d);
    }
    out
}
