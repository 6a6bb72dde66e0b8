//! Harness processes: what a scenario's harness steps start (`harness =
//! true`: they prepare, wait or check) is not the node's doing, and neither
//! its file accesses nor the names it asks for are recorded.
//!
//! A harness step runs in a process group of its own, registered here while
//! it runs; an event of a process in a registered group is left out. An
//! event whose process is already gone (its group can no longer be read) is
//! left out while a harness step runs, and kept otherwise. One trace runs
//! per process, so the registry is the process's own.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static GROUPS: Mutex<Option<HashSet<i32>>> = Mutex::new(None);
static RUNNING: AtomicBool = AtomicBool::new(false);

/// A harness step's process group starts (its leader's pid).
pub fn begin(pgid: i32) {
    GROUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashSet::new)
        .insert(pgid);
    RUNNING.store(true, Ordering::SeqCst);
}

/// The harness step of group `pgid` is over (its events were read).
pub fn end(pgid: i32) {
    let mut g = GROUPS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(set) = g.as_mut() {
        set.remove(&pgid);
        if set.is_empty() {
            *g = None;
            RUNNING.store(false, Ordering::SeqCst);
        }
    }
}

/// Whether process `pid` belongs to a running harness step.
pub fn is_harness(pid: i32) -> bool {
    if !RUNNING.load(Ordering::Relaxed) {
        return false;
    }
    let g = GROUPS.lock().unwrap_or_else(|e| e.into_inner());
    let Some(set) = g.as_ref() else {
        return false;
    };
    match pgid_of(pid) {
        Some(p) => set.contains(&p),
        // gone before it could be read: while a harness step runs, most
        // likely one of its short-lived commands
        None => true,
    }
}

/// The process group of `pid`, from `/proc/PID/stat` (the field after the
/// state, which follows the command in parentheses).
fn pgid_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    fields.next()?; // state
    fields.next()?; // ppid
    fields.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_group_is_read_and_registered() {
        let me = std::process::id() as i32;
        let own = pgid_of(me).expect("own process group");
        assert_eq!(own, nix::unistd::getpgrp().as_raw());
        assert!(!is_harness(me));
        begin(own);
        assert!(is_harness(me));
        // a process that does not exist, while a harness step runs
        assert!(is_harness(i32::MAX));
        end(own);
        assert!(!is_harness(me));
        assert!(!is_harness(i32::MAX));
    }
}
