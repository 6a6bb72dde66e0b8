//! The reader: drains the ring buffer into the joiner until the run is
//! over, answers sync requests, lets held 32-bit programs go on once the
//! raw tracepoints see them, and says at the end what was lost.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::bpf::{dropped, Loaded};
use super::join::{parse, Hdr, Joiner, KIND_ENTER, KIND_EXEC32, KIND_EXIT};
use super::{Name, NamesStatus};

/// Read names until `stop`, then hand them back with what is missing and
/// `notes` (what loading said) with what the end adds.
#[allow(clippy::too_many_arguments)]
pub(super) fn read_loop(
    mut cap: Loaded,
    mut notes: Vec<String>,
    root: Vec<u8>,
    step: Arc<Mutex<Option<String>>>,
    started: Instant,
    stop: Arc<AtomicBool>,
    sync_req: Arc<AtomicU64>,
    synced: Arc<AtomicU64>,
) -> (Vec<Name>, NamesStatus) {
    let mut j = Joiner::new(root, started);
    j.prime();
    j.know_root();
    let mut problems: Vec<String> = Vec::new();
    let mut thirty_two: Option<String> = None;
    let mut detached = false;
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        if stopping && !detached {
            // the run is over: what is still queued is drained below
            cap.detach_per_call(&mut notes);
            detached = true;
        }
        let requested = sync_req.load(Ordering::SeqCst);
        let cur = step.lock().expect("step").clone();
        let mut n = 0usize;
        let mut held = Vec::new();
        while let Some(item) = cap.ring.next() {
            n += 1;
            if let Some((h, path)) = parse(&item) {
                match h.kind {
                    KIND_ENTER => j.enter(&h, path),
                    KIND_EXIT => j.exit(&h, cur.clone()),
                    KIND_EXEC32 => {
                        // its execve's exit was not seen (it returned in
                        // 32-bit mode, before the raw tracepoints were on):
                        // the program started, so the call succeeded
                        let exit = Hdr {
                            kind: KIND_EXIT,
                            val: 0,
                            ..h
                        };
                        if let Some(p) = j.pending.get(&h.tid) {
                            let nr = p.nr;
                            j.exit(&Hdr { nr, ..exit }, cur.clone());
                        }
                        held.push(h);
                    }
                    _ => {}
                }
            }
        }
        for h in held {
            thirty_two.get_or_insert_with(|| {
                let comm = String::from_utf8_lossy(&h.comm);
                format!("{}[{}]", comm.trim_end_matches('\0'), h.tgid)
            });
            if let Err(e) = cap.attach_raw() {
                problems.push(format!("the 32-bit programs' calls cannot be seen: {e}"));
            }
            if h.val == 0 {
                // held before its first instruction: it goes on now
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(h.tgid as i32),
                    nix::sys::signal::Signal::SIGCONT,
                );
            } else {
                problems.push(format!(
                    "32-bit program {}[{}] could not be held until its calls were seen (error {}): its first names may be missing",
                    String::from_utf8_lossy(&h.comm).trim_end_matches('\0'),
                    h.tgid,
                    h.val
                ));
            }
        }
        // the ring was emptied: every name before the request is read
        synced.store(requested, Ordering::SeqCst);
        if n == 0 {
            if stopping {
                break;
            }
            // aya's ring buffer offers no borrowed descriptor to poll on:
            // an idle reader looks again every 2 ms
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let source = if cap.per_call {
        match (&thirty_two, cap.raw_attached) {
            (Some(first), _) => format!("the per-call system call tracepoints; the raw ones for 32-bit programs from the first, {first}"),
            (None, true) => "the per-call system call tracepoints; the raw ones for 32-bit programs (one was running at the start)".to_string(),
            (None, false) => "the per-call system call tracepoints".to_string(),
        }
    } else {
        format!(
            "the raw system call tracepoints ({})",
            cap.why_raw
                .as_deref()
                .unwrap_or("per-call tracepoints not tried")
        )
    };
    let mut status = NamesStatus {
        active: true,
        problems,
        source: Some(source),
        notes,
    };
    let bpf = cap.bpf;
    let d = dropped(&bpf, 0);
    if d > 0 {
        status
            .problems
            .push(format!("{d} name record(s) did not fit in the ring buffer"));
    }
    let c = dropped(&bpf, 1);
    if c > 0 {
        status.problems.push(format!(
            "{c} system call(s) made through the x32 ABI were not read (x32 programs' names are not captured)"
        ));
    }
    if j.unresolved > 0 {
        status.problems.push(format!(
            "{} relative name(s) could not be placed (the process or its directory was gone), e.g. {}",
            j.unresolved,
            j.unresolved_examples.join(", ")
        ));
    }
    drop(bpf);
    (j.out, status)
}
