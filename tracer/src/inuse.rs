//! Files already in use when a trace starts: every process's executable,
//! file-backed memory mappings, open file descriptors and working directory.
//! fanotify only reports new opens, so without this a daemon started before
//! the trace would leave no trace of the libraries it runs on.

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;

use crate::procinfo::ProcCache;
use crate::record::{Access, AccessKind};

fn useful(p: &[u8]) -> bool {
    p.starts_with(b"/") && !p.starts_with(b"/proc/") && !p.starts_with(b"/sys/")
}

/// One access of kind [`AccessKind::InUseAtStart`] per (process, file),
/// de-duplicated by path (the first process listed wins). `own_pid` is skipped.
pub fn scan(own_pid: i32, procs: &mut ProcCache) -> Vec<Access> {
    let mut seen: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    let mut pids: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    for pid in pids {
        if pid == own_pid {
            continue;
        }
        let base = format!("/proc/{pid}");
        let mut paths: Vec<Vec<u8>> = Vec::new();
        for link in ["exe", "cwd", "root"] {
            if let Ok(p) = std::fs::read_link(format!("{base}/{link}")) {
                paths.push(p.as_os_str().as_bytes().to_vec());
            }
        }
        if let Ok(maps) = std::fs::read(format!("{base}/maps")) {
            for line in maps.split(|&b| b == b'\n') {
                // address perms offset dev inode   pathname
                let mut fields = 0;
                let mut i = 0;
                while i < line.len() && fields < 5 {
                    while i < line.len() && line[i] != b' ' {
                        i += 1;
                    }
                    while i < line.len() && line[i] == b' ' {
                        i += 1;
                    }
                    fields += 1;
                }
                if i < line.len() {
                    paths.push(line[i..].to_vec());
                }
            }
        }
        if let Ok(fds) = std::fs::read_dir(format!("{base}/fd")) {
            for fd in fds.flatten() {
                if let Ok(p) = std::fs::read_link(fd.path()) {
                    paths.push(p.as_os_str().as_bytes().to_vec());
                }
            }
        }
        let mut info = None;
        for p in paths {
            if !useful(&p) || !seen.insert(p.clone()) {
                continue;
            }
            let pi = info.get_or_insert_with(|| procs.get(pid)).clone();
            out.push(Access {
                path: p,
                kind: AccessKind::InUseAtStart,
                pid,
                comm: pi.comm.clone(),
                exe: pi.exe.clone(),
                parents: procs.parents(pid),
                step: None,
                count: 1,
                first_ms: 0,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_child_shows_its_executable_and_libraries() {
        let mut child = std::process::Command::new("/bin/sleep")
            .arg("5")
            .spawn()
            .unwrap();
        // let it finish its execve
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut procs = ProcCache::default();
        let found = scan(std::process::id() as i32, &mut procs);
        let _ = child.kill();
        let _ = child.wait();
        let sleep = std::fs::canonicalize("/bin/sleep").unwrap();
        let sleep = sleep.as_os_str().as_bytes();
        assert!(
            found.iter().any(|a| a.path == sleep),
            "sleep's executable not found"
        );
        assert!(found
            .iter()
            .any(|a| a.path.windows(9).any(|w| w == b"libc.so.6")));
    }
}
