//! Scenarios: named steps run under the tracer (`scenarios/NAME.toml`).
//!
//! ```toml
//! description = "containerd pulls nothing and runs a container"
//! [params]
//! ROOTFS = { default = "/opt/busybox" }
//! TOKEN = { required = true, description = "bootstrap token" }
//! [env]
//! PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
//! [[step]]
//! name = "containerd"
//! daemon = "containerd"                      # a background process (shell syntax)
//! ready = { socket = "/run/containerd/containerd.sock" }   # or path = …, or command = …
//! timeout = "30s"
//! [[step]]
//! name = "run"
//! run = "ctr run --rm --rootfs ${ROOTFS} c1 /bin/sh -c 'echo ok'"
//! expect = { exit = 0, stdout_contains = "ok" }
//! timeout = "60s"
//! [[step]]
//! name = "check"
//! harness = true                             # prepares, waits or checks: not recorded
//! run = "test -s $KAUDIT_ROOT/var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db"
//! [[cleanup]]
//! run = "ctr containers rm c1 || true"
//! ```
//!
//! `${NAME}` in any string is replaced by the parameter's value; a required
//! parameter without a value is an error before anything runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// A parameter declaration.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Param {
    /// Value when none is given.
    pub default: Option<String>,
    /// The run refuses to start without a value.
    #[serde(default)]
    pub required: bool,
    /// What it is.
    pub description: Option<String>,
}

/// When a daemon is ready.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Ready {
    /// A Unix socket exists at this path.
    pub socket: Option<String>,
    /// Anything exists at this path.
    pub path: Option<String>,
    /// This shell command succeeds.
    pub command: Option<String>,
}

/// What a step must produce.
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Exit status (default 0).
    pub exit: Option<i32>,
    /// Standard output contains this text.
    pub stdout_contains: Option<String>,
    /// Standard error contains this text.
    pub stderr_contains: Option<String>,
}

/// One step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Name (accesses are attributed to it).
    pub name: Option<String>,
    /// A command run to completion (`/bin/sh -c`).
    pub run: Option<String>,
    /// A background process, stopped at the end of the scenario (`/bin/sh -c`).
    pub daemon: Option<String>,
    /// When the daemon is ready.
    pub ready: Option<Ready>,
    /// Expectations of a `run` step.
    #[serde(default)]
    pub expect: Expect,
    /// How long the step may take (`500ms`, `30s`, `2m`); default 60 s.
    pub timeout: Option<String>,
    /// Extra environment of this step.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The peer node the step runs on (`kaudit trace --peer NAME=ROOT`),
    /// instead of the traced one: the harness of a scenario that needs a
    /// second node (a control plane to join).
    pub node: Option<String>,
    /// The step prepares, waits or checks (writes a bundle, waits for a
    /// port, checks a result): it runs here, with the machine's own tools,
    /// the node's root at `$KAUDIT_ROOT` (and a booted node's init at
    /// `$KAUDIT_NODE_PID`); what its processes do is not recorded, so the
    /// image need not hold its tools. A `run` step only.
    #[serde(default)]
    pub harness: bool,
    /// The step runs in this network namespace: a file inside the root, as
    /// `ip netns add` makes them under `/run/netns` (a stand-in for the
    /// node's own network, made by a harness step). kaudit enters it with
    /// the machine's `nsenter`, so the node need not hold a tool for it. A
    /// `run` step of a run that is not booted.
    pub netns: Option<String>,
}

/// A scenario file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// What it exercises.
    pub description: Option<String>,
    /// It runs on a booted node: inside a root (`--root`), the root's own
    /// init is booted first and the steps run inside the node.
    #[serde(default)]
    pub boot: bool,
    /// Kernel settings (`vm.overcommit_memory`, as sysctl(8) names them) a
    /// booted node's services need but cannot make from inside their
    /// container, whose `/proc/sys` is read-only: set on the machine while
    /// the run's nodes are up, put back after the run.
    #[serde(default)]
    pub host_sysctl: BTreeMap<String, String>,
    /// The peer nodes its steps run on (`node = "NAME"`), booted with
    /// `kaudit trace --peer NAME=ROOT`: a run without one is refused before
    /// anything starts.
    #[serde(default)]
    pub peers: Vec<String>,
    /// Parameters.
    #[serde(default)]
    pub params: BTreeMap<String, Param>,
    /// Environment of every step.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The steps, in order.
    #[serde(default, rename = "step")]
    pub steps: Vec<Step>,
    /// Run at the end, also after a failure (failures here are reported, not fatal).
    #[serde(default)]
    pub cleanup: Vec<Step>,
}

/// Scenario errors, each naming the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// Not found.
    #[error("no scenario {0}: looked in {1} (set $KAUDIT_SCENARIOS or --scenarios DIR for more)")]
    NotFound(String, String),
    /// Unreadable.
    #[error("cannot read {0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// Not valid.
    #[error("{0}: {1}")]
    Invalid(PathBuf, String),
    /// A required parameter has no value.
    #[error("scenario {0} needs parameter {1}{2} (give it with --param {1}=VALUE)")]
    MissingParam(String, String, String),
    /// A `${NAME}` that is not a declared parameter.
    #[error("scenario {0} uses ${{{1}}}, which is not a declared parameter")]
    UnknownParam(String, String),
    /// A `--param NAME=VALUE` the scenario does not declare (a misspelling
    /// would otherwise be ignored silently).
    #[error("scenario {0} has no parameter {1}; its parameters: {2}")]
    UndeclaredParam(String, String, String),
    /// A timeout made of parameters that is not a duration once they are
    /// filled in.
    #[error("scenario {0}: {1}: timeout {2:?} is not a duration like 500ms, 30s or 2m")]
    BadTimeout(String, String, String),
}

/// Parse a duration like `500ms`, `30s`, `2m`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

impl Scenario {
    /// Parse and check a scenario file's text.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let s: Scenario = toml::from_str(text)
            .map_err(|e| ScenarioError::Invalid(path.to_path_buf(), e.to_string()))?;
        for (i, st) in s.steps.iter().chain(&s.cleanup).enumerate() {
            let what = st.name.clone().unwrap_or_else(|| format!("step {}", i + 1));
            match (&st.run, &st.daemon) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => {
                    return Err(ScenarioError::Invalid(
                        path.to_path_buf(),
                        format!("{what}: give exactly one of `run` or `daemon`"),
                    ))
                }
            }
            if st.harness && st.daemon.is_some() {
                return Err(ScenarioError::Invalid(
                    path.to_path_buf(),
                    format!("{what}: a `daemon` step cannot be `harness` (what a node runs in the background is the node's)"),
                ));
            }
            if st.netns.is_some() && st.daemon.is_some() {
                return Err(ScenarioError::Invalid(
                    path.to_path_buf(),
                    format!("{what}: `netns` applies to a `run` step"),
                ));
            }
            if st.ready.is_some() && st.daemon.is_none() {
                return Err(ScenarioError::Invalid(
                    path.to_path_buf(),
                    format!("{what}: `ready` applies to a `daemon` step"),
                ));
            }
            if let Some(t) = &st.timeout {
                // one made of parameters is checked once they are known
                if !t.contains("${") && parse_duration(t).is_none() {
                    return Err(ScenarioError::Invalid(
                        path.to_path_buf(),
                        format!("{what}: timeout {t:?} is not a duration like 500ms, 30s or 2m"),
                    ));
                }
            }
        }
        for (k, v) in &s.host_sysctl {
            let name_ok = !k.is_empty()
                && k.split('.').all(|c| {
                    !c.is_empty()
                        && c.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                });
            if !name_ok || v.is_empty() || v.chars().any(|c| c.is_control()) {
                return Err(ScenarioError::Invalid(
                    path.to_path_buf(),
                    format!("host_sysctl {k:?} = {v:?}: a kernel setting's name (like vm.overcommit_memory) and a value on one line"),
                ));
            }
        }
        for st in s.steps.iter().chain(&s.cleanup) {
            if let Some(n) = &st.node {
                if !s.peers.contains(n) {
                    return Err(ScenarioError::Invalid(
                        path.to_path_buf(),
                        format!("a step runs on node {n:?}, which `peers` does not name"),
                    ));
                }
            }
        }
        Ok(s)
    }

    /// No step (or cleanup) runs longer than `max`, whatever its own
    /// timeout (with `params` filled in; 60 s when it has none).
    pub fn cap_timeouts(&mut self, params: &BTreeMap<String, String>, max: Duration) {
        for st in self.steps.iter_mut().chain(self.cleanup.iter_mut()) {
            let own = st
                .timeout
                .as_deref()
                .and_then(|t| parse_duration(&substitute(t, params)))
                .unwrap_or(Duration::from_secs(60));
            st.timeout = Some(format!("{}ms", own.min(max).as_millis()));
        }
    }

    /// The path below `/proc/sys` of a `host_sysctl` name.
    pub fn sysctl_path(name: &str) -> PathBuf {
        Path::new("/proc/sys").join(name.replace('.', "/"))
    }

    /// Load a scenario by file path, or by name from the scenario
    /// directories, then from `builtin` (name, text) — the scenarios shipped
    /// inside the program. A built-in scenario's path is `builtin:NAME`.
    pub fn load(
        name_or_path: &str,
        dirs: &[PathBuf],
        builtin: &[(&str, &str)],
    ) -> Result<(String, PathBuf, Scenario), ScenarioError> {
        let p = Path::new(name_or_path);
        let found = if p.is_file() {
            Some(p.to_path_buf())
        } else if name_or_path.contains('/') || name_or_path.ends_with(".toml") {
            // a path, not a name: never looked up elsewhere
            return Err(ScenarioError::Io(
                p.to_path_buf(),
                std::io::Error::from_raw_os_error(2),
            ));
        } else {
            dirs.iter()
                .map(|d| d.join(format!("{name_or_path}.toml")))
                .find(|c| c.is_file())
        };
        let (path, text) = match found {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| ScenarioError::Io(path.clone(), e))?;
                (path, text)
            }
            None => match builtin.iter().find(|(n, _)| *n == name_or_path) {
                Some((n, t)) => (PathBuf::from(format!("builtin:{n}")), t.to_string()),
                None => {
                    let mut looked: Vec<String> =
                        dirs.iter().map(|d| d.display().to_string()).collect();
                    looked.push(format!("the {} scenarios built into kaudit", builtin.len()));
                    return Err(ScenarioError::NotFound(
                        name_or_path.to_string(),
                        looked.join(", "),
                    ));
                }
            },
        };
        let s = Scenario::parse(&path, &text)?;
        let name = match path.to_str().and_then(|p| p.strip_prefix("builtin:")) {
            Some(n) => n.to_string(),
            None => path
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| name_or_path.to_string()),
        };
        Ok((name, path, s))
    }

    /// The parameter values: given ones, then defaults. Errors before
    /// anything runs when a required one is missing or a `${NAME}` is unknown.
    pub fn resolve_params(
        &self,
        name: &str,
        given: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, ScenarioError> {
        if let Some(k) = given.keys().find(|k| !self.params.contains_key(*k)) {
            let known: Vec<&str> = self.params.keys().map(String::as_str).collect();
            return Err(ScenarioError::UndeclaredParam(
                name.to_string(),
                k.clone(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                },
            ));
        }
        let mut out = BTreeMap::new();
        for (k, p) in &self.params {
            match given.get(k).or(p.default.as_ref()) {
                Some(v) => {
                    out.insert(k.clone(), v.clone());
                }
                None if p.required => {
                    return Err(ScenarioError::MissingParam(
                        name.to_string(),
                        k.clone(),
                        p.description
                            .as_ref()
                            .map(|d| format!(" ({d})"))
                            .unwrap_or_default(),
                    ))
                }
                None => {
                    out.insert(k.clone(), String::new());
                }
            }
        }
        // every ${NAME} used must be declared
        let mut texts: Vec<&str> = self.env.values().map(String::as_str).collect();
        for st in self.steps.iter().chain(&self.cleanup) {
            texts.extend(st.run.as_deref());
            texts.extend(st.daemon.as_deref());
            texts.extend(st.timeout.as_deref());
            texts.extend(st.env.values().map(String::as_str));
            if let Some(r) = &st.ready {
                texts.extend(r.socket.as_deref());
                texts.extend(r.path.as_deref());
                texts.extend(r.command.as_deref());
            }
            texts.extend(st.expect.stdout_contains.as_deref());
            texts.extend(st.expect.stderr_contains.as_deref());
        }
        for t in texts {
            for var in references(t) {
                if !out.contains_key(var) {
                    return Err(ScenarioError::UnknownParam(
                        name.to_string(),
                        var.to_string(),
                    ));
                }
            }
        }
        for (i, st) in self.steps.iter().chain(&self.cleanup).enumerate() {
            if let Some(t) = &st.timeout {
                let t = substitute(t, &out);
                if parse_duration(&t).is_none() {
                    let what = st.name.clone().unwrap_or_else(|| format!("step {}", i + 1));
                    return Err(ScenarioError::BadTimeout(name.to_string(), what, t));
                }
            }
        }
        Ok(out)
    }
}

/// The `${NAME}` references in a string. A shell expansion with an
/// operator (`${VAR##*.}`, `${VAR:-x}`) is the shell's, not a parameter.
fn references(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        match after.find('}') {
            Some(j) => {
                let name = &after[..j];
                let plain = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if plain {
                    out.push(name);
                }
                rest = &after[j + 1..];
            }
            None => break,
        }
    }
    out
}

/// Replace `${NAME}` by the parameter values.
pub fn substitute(s: &str, params: &BTreeMap<String, String>) -> String {
    let mut out = s.to_string();
    for (k, v) in params {
        out = out.replace(&format!("${{{k}}}"), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
description = "demo"
[params]
WHO = { default = "world" }
TOKEN = { required = true, description = "a token" }
[[step]]
name = "hello"
run = "echo hello ${WHO}"
expect = { exit = 0, stdout_contains = "hello world" }
timeout = "5s"
[[step]]
name = "d"
daemon = "sleep 100"
ready = { command = "true" }
[[cleanup]]
run = "true"
"#;

    #[test]
    fn parses_and_resolves_parameters() {
        let s = Scenario::parse(Path::new("x.toml"), EXAMPLE).unwrap();
        assert_eq!(s.steps.len(), 2);
        let e = s.resolve_params("x", &BTreeMap::new()).unwrap_err();
        assert!(e.to_string().contains("TOKEN"), "{e}");
        let mut given = BTreeMap::new();
        given.insert("TOKEN".to_string(), "t".to_string());
        let p = s.resolve_params("x", &given).unwrap();
        assert_eq!(substitute("echo hello ${WHO}", &p), "echo hello world");
    }

    #[test]
    fn bad_scenarios_are_refused_with_the_reason() {
        let e = Scenario::parse(
            Path::new("b.toml"),
            "[[step]]\nrun = \"a\"\ndaemon = \"b\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("exactly one"), "{e}");
        let e = Scenario::parse(
            Path::new("b.toml"),
            "[[step]]\nrun = \"a\"\ntimeout = \"soon\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("duration"), "{e}");
        let e =
            Scenario::parse(Path::new("b.toml"), "[[step]]\nrun = \"a\"\nbogus = 1\n").unwrap_err();
        assert!(e.to_string().contains("b.toml"), "{e}");
        let s = Scenario::parse(Path::new("c.toml"), "[[step]]\nrun = \"echo ${NOPE}\"\n").unwrap();
        assert!(s.resolve_params("c", &BTreeMap::new()).is_err());
        // a timeout made of a parameter is checked once the value is known
        let s = Scenario::parse(
            Path::new("d.toml"),
            "[params]\nT = { default = \"2m\" }\n[[step]]\nrun = \"a\"\ntimeout = \"${T}\"\n",
        )
        .unwrap();
        assert!(s.resolve_params("d", &BTreeMap::new()).is_ok());
        let given = BTreeMap::from([("T".to_string(), "soon".to_string())]);
        let e = s.resolve_params("d", &given).unwrap_err();
        assert!(e.to_string().contains("\"soon\" is not a duration"), "{e}");
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        // a step on a node the scenario does not declare
        let e = Scenario::parse(
            Path::new("e.toml"),
            "[[step]]\nnode = \"cp\"\nrun = \"a\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("`peers` does not name"), "{e}");
        assert!(Scenario::parse(
            Path::new("e.toml"),
            "peers = [\"cp\"]\n[[step]]\nnode = \"cp\"\nrun = \"a\"\n",
        )
        .is_ok());
        // kernel settings: names as sysctl(8) writes them, one-line values
        for bad in [
            "\"vm/../x\" = \"1\"",
            "\"vm..x\" = \"1\"",
            "\"\" = \"1\"",
            "\"vm.x\" = \"\"",
            "\"vm.x\" = \"1\\n2\"",
        ] {
            let text = format!("[host_sysctl]\n{bad}\n[[step]]\nrun = \"a\"\n");
            let e = Scenario::parse(Path::new("f.toml"), &text).unwrap_err();
            assert!(e.to_string().contains("host_sysctl"), "{bad}: {e}");
        }
        let s = Scenario::parse(
            Path::new("f.toml"),
            "[host_sysctl]\n\"vm.overcommit_memory\" = \"1\"\n[[step]]\nrun = \"a\"\n",
        )
        .unwrap();
        assert_eq!(
            Scenario::sysctl_path("vm.overcommit_memory"),
            Path::new("/proc/sys/vm/overcommit_memory")
        );
        assert_eq!(s.host_sysctl["vm.overcommit_memory"], "1");
        // shell expansions with an operator are the shell's
        let s = Scenario::parse(
            Path::new("g.toml"),
            "[[step]]\nrun = \"a=x.y; echo ${a##*.} ${b:-z}\"\n",
        )
        .unwrap();
        assert!(s.resolve_params("g", &BTreeMap::new()).is_ok());
    }
}
