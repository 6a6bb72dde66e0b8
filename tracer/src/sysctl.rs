//! The machine's kernel settings (`/proc/sys`), saved before a run and put
//! back after it: a booted node's services (kubelet among them) change
//! host-wide ones, and nothing a run changed may outlive it.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Settings that change by themselves, never compared or restored.
const VOLATILE: &[&str] = &[
    "kernel/ns_last_pid",
    "kernel/random",
    "kernel/tainted",
    "kernel/hung_task_detect_count",
    "fs/binfmt_misc",
    "vm/drop_caches",
    "vm/compact_memory",
    "net/ipv4/route/flush",
    "net/ipv6/route/flush",
    "net/ipv4/neigh",
    "net/ipv6/neigh",
    "net/ipv6/conf",
    "net/ipv4/conf",
];

/// The writable settings and their values at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sysctls(BTreeMap<PathBuf, Vec<u8>>);

fn walk(dir: &Path, base: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let path = e.path();
        let rel = path.strip_prefix(base).unwrap_or(&path);
        if VOLATILE.iter().any(|v| rel.starts_with(v)) {
            continue;
        }
        let Ok(t) = e.file_type() else { continue };
        if t.is_dir() {
            walk(&path, base, out);
        } else if let Ok(m) = e.metadata() {
            let mode = m.permissions().mode();
            // readable and writable by root
            if mode & 0o200 != 0 && mode & 0o444 != 0 {
                if let Ok(v) = std::fs::read(&path) {
                    out.insert(rel.to_path_buf(), v);
                }
            }
        }
    }
}

impl Sysctls {
    /// Read every writable setting now.
    pub fn take() -> Sysctls {
        let base = Path::new("/proc/sys");
        let mut out = BTreeMap::new();
        walk(base, base, &mut out);
        Sysctls(out)
    }

    /// The settings whose value differs now: (name as in `sysctl`, then, now).
    pub fn changed(&self) -> Vec<(String, String, String)> {
        let now = Sysctls::take();
        self.0
            .iter()
            .filter_map(|(k, v)| {
                let n = now.0.get(k)?;
                (n != v).then(|| {
                    (
                        k.to_string_lossy().replace('/', "."),
                        String::from_utf8_lossy(v).trim().to_string(),
                        String::from_utf8_lossy(n).trim().to_string(),
                    )
                })
            })
            .collect()
    }

    /// Put back every setting that changed; returns what was restored
    /// (name, value put back) and what could not be.
    pub fn restore(&self) -> (Vec<(String, String)>, Vec<String>) {
        let mut done = Vec::new();
        let mut failed = Vec::new();
        for (name, then, _) in self.changed() {
            let path = Path::new("/proc/sys").join(name.replace('.', "/"));
            match std::fs::write(&path, then.as_bytes()) {
                Ok(()) => done.push((name, then)),
                Err(e) => failed.push(format!("{name}: {e}")),
            }
        }
        (done, failed)
    }
}
