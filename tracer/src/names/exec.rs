//! Exec names from `/proc`: the fallback when the BPF capture cannot run.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::join::{join, path_here_of, place};
use super::{read_link, Name};

/// The fallback when the BPF capture cannot run: exec names only, read from
/// `/proc` once the `execve` that fanotify reported has completed — argv[0],
/// found through the process's own `PATH` when it has no slash. It cannot
/// see failed probes, nor the names of files opened, so names stay partial.
#[derive(Debug, Default)]
pub struct ExecNames {
    root: Vec<u8>,
    pending: Vec<PendingExec>,
    out: Vec<Name>,
    seen: HashMap<Vec<u8>, usize>,
    /// Executions whose process was gone before it could be read.
    pub gone: u64,
    last_poll: Option<Instant>,
}

#[derive(Debug)]
struct PendingExec {
    pid: i32,
    exe: Vec<u8>,
    step: Option<String>,
    first_ms: u64,
    since: Instant,
}

impl ExecNames {
    /// For a trace of `root` (a path here).
    pub fn new(root: &Path) -> ExecNames {
        ExecNames {
            root: root.as_os_str().as_bytes().to_vec(),
            ..ExecNames::default()
        }
    }

    /// fanotify saw `pid` execute `exe` (a path here).
    pub fn exec(&mut self, pid: i32, exe: Vec<u8>, step: Option<String>, first_ms: u64) {
        self.pending.push(PendingExec {
            pid,
            exe,
            step,
            first_ms,
            since: Instant::now(),
        });
    }

    /// Read what can be read now: the executions that have completed.
    pub fn poll(&mut self) {
        if self
            .last_poll
            .is_some_and(|t| t.elapsed() < Duration::from_millis(5))
        {
            return;
        }
        self.last_poll = Some(Instant::now());
        let pending = std::mem::take(&mut self.pending);
        for p in pending {
            let waited = p.since.elapsed() >= Duration::from_secs(2);
            match read_link(format!("/proc/{}/exe", p.pid)) {
                Some(e) if e == p.exe => {
                    // done when the new program's arguments are in place
                    if !self.resolve(&p) && !waited {
                        self.pending.push(p);
                    }
                }
                // not (yet) this program: still in execve, or this was the
                // program's interpreter (ld.so is opened for execution too),
                // or the process ran something else since
                Some(_) if !waited => self.pending.push(p),
                Some(_) => {}
                None if !waited && Path::new(&format!("/proc/{}", p.pid)).exists() => {
                    self.pending.push(p)
                }
                None => self.gone += 1,
            }
        }
    }

    /// Record the name `p` was executed by; false when its arguments are not
    /// in place yet (the exec is still setting up the new program).
    fn resolve(&mut self, p: &PendingExec) -> bool {
        let Ok(cmdline) = std::fs::read(format!("/proc/{}/cmdline", p.pid)) else {
            return false;
        };
        if cmdline.is_empty() {
            return false;
        }
        let argv0 = cmdline
            .split(|&b| b == 0)
            .next()
            .unwrap_or_default()
            .to_vec();
        let proc_root = read_link(format!("/proc/{}/root", p.pid)).unwrap_or_else(|| b"/".to_vec());
        let under_root = |name: &[u8]| path_here_of(&proc_root, name);
        let host = if argv0.starts_with(b"/") {
            Some(under_root(&argv0))
        } else if argv0.contains(&b'/') {
            read_link(format!("/proc/{}/cwd", p.pid)).map(|c| join(&c, &argv0))
        } else if !argv0.is_empty() {
            let env = std::fs::read(format!("/proc/{}/environ", p.pid)).unwrap_or_default();
            let path = env
                .split(|&b| b == 0)
                .find_map(|kv| kv.strip_prefix(b"PATH="))
                .unwrap_or(b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
                .to_vec();
            path.split(|&b| b == b':')
                .filter(|d| d.starts_with(b"/"))
                .map(|d| under_root(&join(d, &argv0)))
                .find(|c| std::fs::symlink_metadata(std::ffi::OsStr::from_bytes(c)).is_ok())
        } else {
            None
        };
        // a name not found (argv[0] is the program's to choose): nothing
        let Some(host) = host else { return true };
        let Some(path) = place(&self.root, &host) else {
            return true;
        };
        if let Some(&i) = self.seen.get(&path) {
            self.out[i].count += 1;
            return true;
        }
        let comm = std::fs::read_to_string(format!("/proc/{}/comm", p.pid))
            .map(|c| c.trim_end().to_string())
            .unwrap_or_else(|_| "exited".into());
        self.seen.insert(path.clone(), self.out.len());
        self.out.push(Name {
            path,
            call: "execve".into(),
            result: "ok".into(),
            nofollow: false,
            pid: p.pid,
            comm,
            step: p.step.clone(),
            count: 1,
            first_ms: p.first_ms,
        });
        true
    }

    /// What was found, after a last look.
    pub fn finish(mut self) -> (Vec<Name>, u64) {
        self.last_poll = None;
        self.poll();
        let left = self
            .pending
            .iter()
            .filter(|p| read_link(format!("/proc/{}/exe", p.pid)).is_none())
            .count();
        (self.out, self.gone + left as u64)
    }
}
