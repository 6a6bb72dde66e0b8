//! Project automation, run as `cargo xtask COMMAND`.
//!
//! `cargo xtask bench [--root DIR]` builds kaudit in release mode and, in one
//! run, on a warm cache, times:
//! - `kaudit scan --root DIR` (walk, parse every ELF, resolve every load, write the graph);
//! - `scanelf -Rmn DIR` (pax-utils: lists DT_NEEDED, resolves nothing);
//! - an `ldd` loop over every dynamic ELF object kaudit found;
//!
//! and prints the ratios. The `ldd` outputs double as the oracle: every
//! object's closure is compared with what kaudit stored, and mismatches are
//! counted and printed.
//!
//! `cargo xtask bench-trace` (as root) times a file-open-heavy workload — tar
//! of `/usr/share/doc` and `/usr/share/perl` piped to `cat`, three times —
//! untraced, under `kaudit trace` (names on, and `--no-names`), under
//! `fatrace` and under `strace -f`, and
//! prints each as a ratio to untraced (median of the rounds), with the event
//! rate kaudit sustained and whether any event was lost, and the CPU the
//! name capture's BPF programs took on the workload (the kernel's BPF
//! statistics, read while they are loaded). The same rounds run again with
//! the workload on CPU 0 and each tracer on CPU 1, so the tracer's own
//! work does not compete with the workload for a core, and a loop opening
//! one file a million times times what an open costs when kaudit ignores
//! its events (only the first reaches it). It then runs an
//! open storm — 1, 2 and 4 threads opening distinct files as fast as they
//! can, under `kaudit trace` — and reports the highest open rate at which
//! every open was recorded.
//!
//! `cargo xtask bench-scan-hostile` scans roots built to amplify (N
//! libraries each needing all N, a chain of libraries, a 4,000-entry
//! `DT_RPATH`, deeply nested directories) and prints the time, peak memory,
//! edges and graph size of each, against glibc's loader listing the top
//! library (see `hostile.rs`).
//!
//! `cargo xtask bench-reports` (as root) scans this machine's whole root,
//! traces one pass of the same workload into it, and times what a user waits
//! for: `kaudit why` on a traced file, a library reached through the loader,
//! a symlink and a file that is not kept, and `kaudit allowlist` plus
//! `kaudit docs` of a profile over the trace (goals: 50 ms and 2 s).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

mod boot;
mod hostile;
mod reports;
mod scan;
mod trace;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bench") => scan::bench(&args[1..]),
        Some("bench-trace") => trace::bench_trace(&args[1..]),
        Some("bench-reports") => reports::bench_reports(&args[1..]),
        Some("bench-boot") => boot::bench_boot(&args[1..]),
        Some("bench-scan-hostile") => hostile::bench_scan_hostile(&args[1..]),
        // a command's peak memory (run by bench-scan-hostile)
        Some("peak-of") => hostile::peak_of(&args[1..]),
        // the traced side of the open storm (run by bench-trace)
        Some("open-storm") => trace::open_storm(&args[1..]),
        // the name capture's programs, read while they are loaded (run by bench-trace)
        Some("bpf-stats") => trace::bpf_stats(&args[1..]),
        // the workload's own CPU time (run by bench-trace)
        Some("cpu-of") => trace::cpu_of(&args[1..]),
        // one file opened and closed again and again (run by bench-trace)
        Some("open-loop") => trace::open_loop(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask bench [--root DIR] | cargo xtask bench-trace [--rounds N] | cargo xtask bench-reports [--rounds N] | cargo xtask bench-boot [--rounds N] | cargo xtask bench-scan-hostile [--n N] [--chain C] [--dirs D] [--cases LIST] [--kaudit PATH]"
            );
            std::process::exit(2)
        }
    }
}

pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Build kaudit in release mode; its path.
pub(crate) fn build_release() -> Result<PathBuf> {
    let ws = workspace();
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "-p", "kaudit"])
        .current_dir(&ws)
        .status()?;
    if !status.success() {
        bail!("cargo build failed");
    }
    Ok(ws.join("target/release/kaudit"))
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// `[--rounds N]`, the only argument of the timing benchmarks.
pub(crate) fn rounds_arg(args: &[String], default: usize) -> Result<usize> {
    let mut rounds = default;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rounds" => rounds = it.next().context("--rounds needs a value")?.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(rounds)
}

/// A scratch directory below target/ for the benchmark's graphs.
pub(crate) fn tempfile_dir() -> Result<PathBuf> {
    let d = workspace().join("target/bench-boot");
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
