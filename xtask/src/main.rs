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

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

mod hostile;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bench") => bench(&args[1..]),
        Some("bench-trace") => bench_trace(&args[1..]),
        Some("bench-reports") => bench_reports(&args[1..]),
        Some("bench-boot") => bench_boot(&args[1..]),
        Some("bench-scan-hostile") => hostile::bench_scan_hostile(&args[1..]),
        // a command's peak memory (run by bench-scan-hostile)
        Some("peak-of") => hostile::peak_of(&args[1..]),
        // the traced side of the open storm (run by bench-trace)
        Some("open-storm") => open_storm(&args[1..]),
        // the name capture's programs, read while they are loaded (run by bench-trace)
        Some("bpf-stats") => bpf_stats(&args[1..]),
        // the workload's own CPU time (run by bench-trace)
        Some("cpu-of") => cpu_of(&args[1..]),
        // one file opened and closed again and again (run by bench-trace)
        Some("open-loop") => open_loop(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask bench [--root DIR] | cargo xtask bench-trace [--rounds N] | cargo xtask bench-reports [--rounds N] | cargo xtask bench-boot [--rounds N] | cargo xtask bench-scan-hostile [--n N] [--chain C] [--dirs D] [--cases LIST] [--kaudit PATH]"
            );
            std::process::exit(2)
        }
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Build kaudit in release mode; its path.
fn build_release() -> Result<PathBuf> {
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

fn bench(args: &[String]) -> Result<()> {
    let mut root = "/".to_string();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--root" => root = it.next().context("--root needs a value")?.clone(),
            other => bail!("unknown argument {other}"),
        }
    }
    let kaudit = build_release()?;
    let tmp = std::env::temp_dir().join(format!("kaudit-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let db = tmp.join("bench.db");

    // warm the cache once, then time
    let run_scan = || -> Result<f64> {
        let t = Instant::now();
        let out = Command::new(&kaudit)
            .args(["scan", "--root", &root, "--db"])
            .arg(&db)
            .output()?;
        let secs = t.elapsed().as_secs_f64();
        if !out.status.success() {
            bail!(
                "kaudit scan failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        print!("  {}", String::from_utf8_lossy(&out.stdout));
        Ok(secs)
    };
    println!("warm-up:");
    run_scan()?;
    println!("timed:");
    let t_scan = run_scan()?;

    let t = Instant::now();
    let out = Command::new("scanelf")
        .args(["-Rmn", "-q"])
        .arg(&root)
        .output();
    let t_scanelf = t.elapsed().as_secs_f64();
    let scanelf_ok = out.as_ref().map(|o| !o.stdout.is_empty()).unwrap_or(false);

    // the glibc objects kaudit resolved (ldd only knows the host's glibc loader)
    let conn = rusqlite::Connection::open(&db)?;
    let mut st = conn.prepare(
        "SELECT f.path FROM elf e JOIN file f ON f.id = e.file_id
         WHERE e.linkage = 'dynamic' AND e.etype IN (2, 3) AND e.machine = 62 AND e.class = 64
           AND (e.interp IS NULL OR CAST(e.interp AS TEXT) NOT LIKE '%ld-musl%') ORDER BY f.path",
    )?;
    let paths: Vec<Vec<u8>> = st
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let prefix = if root == "/" {
        String::new()
    } else {
        root.trim_end_matches('/').to_string()
    };
    let host = |p: &[u8]| -> PathBuf {
        let mut b = prefix.as_bytes().to_vec();
        b.extend_from_slice(p);
        PathBuf::from(std::ffi::OsStr::from_bytes(&b))
    };

    let t = Instant::now();
    let mut ldd_out = Vec::with_capacity(paths.len());
    for p in &paths {
        // inside another root, that root's own ldd and loader, chrooted
        let o = if root == "/" {
            Command::new("ldd").arg(host(p)).env_clear().output()?
        } else {
            Command::new("/usr/sbin/chroot")
                .arg(&root)
                .arg("/usr/bin/ldd")
                .arg(std::ffi::OsStr::from_bytes(p))
                .env_clear()
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .output()?
        };
        ldd_out.push(o);
    }
    let t_ldd = t.elapsed().as_secs_f64();

    // oracle comparison: paths on both sides canonicalised inside the root
    let canon = |p: &str| -> PathBuf {
        let h = host(p.as_bytes());
        std::fs::canonicalize(&h).unwrap_or(h)
    };
    let mut mismatches = 0usize;
    let mut compared = 0usize;
    {
        for (chunk_p, chunk_o) in paths.chunks(500).zip(ldd_out.chunks(500)) {
            let mut cmd = Command::new(&kaudit);
            cmd.args(["deps", "--format", "json", "--db"]).arg(&db);
            for p in chunk_p {
                cmd.arg(std::ffi::OsStr::from_bytes(p));
            }
            let out = cmd.output()?;
            let v: serde_json::Value = serde_json::from_slice(&out.stdout)
                .with_context(|| String::from_utf8_lossy(&out.stderr).into_owned())?;
            let arr = match v {
                serde_json::Value::Array(a) => a,
                o => vec![o],
            };
            for ((p, o), r) in chunk_p.iter().zip(chunk_o).zip(arr) {
                let text = String::from_utf8_lossy(&o.stdout);
                if text.contains("statically linked")
                    || !o.status.success() && text.trim().is_empty()
                {
                    continue;
                }
                compared += 1;
                let mut want: BTreeSet<PathBuf> = BTreeSet::new();
                let mut want_missing: BTreeSet<String> = BTreeSet::new();
                for line in text.lines().map(str::trim) {
                    if line.starts_with("linux-vdso") || line.is_empty() {
                        continue;
                    }
                    let (name, rest) = line.split_once(" => ").unwrap_or(("", line));
                    if rest.trim() == "not found" {
                        want_missing.insert(name.trim().to_string());
                        continue;
                    }
                    let path = rest.rsplit_once(" (").map_or(rest, |(p, _)| p).trim();
                    want.insert(canon(path));
                }
                let mut got: BTreeSet<PathBuf> = BTreeSet::new();
                for ob in r["objects"].as_array().into_iter().flatten() {
                    let path = ob["path"].as_str().unwrap_or_default();
                    got.insert(canon(path));
                }
                let got_missing: BTreeSet<String> = r["unresolved"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|u| u["name"].as_str().unwrap_or_default().to_string())
                    .collect();
                // the interpreter is compared by the tests (ldd's listing of it
                // differs from the loader's own for libraries); leave it out here
                if let Some(i) = r["interpreter"].as_str() {
                    let i = canon(i);
                    want.remove(&i);
                    got.remove(&i);
                }
                if want != got || want_missing != got_missing {
                    mismatches += 1;
                    if mismatches <= 20 {
                        println!(
                            "MISMATCH {}\n  ldd   : {:?} missing {:?}\n  kaudit: {:?} missing {:?}",
                            String::from_utf8_lossy(p),
                            want,
                            want_missing,
                            got,
                            got_missing
                        );
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);

    println!();
    println!("root {root}: {} dynamic x86-64 ELF objects", paths.len());
    println!("  kaudit scan (walk + parse + resolve every load + write graph): {t_scan:8.2} s");
    if scanelf_ok {
        println!("  scanelf -Rmn (NEEDED only, no resolution):                  {t_scanelf:8.2} s   kaudit is {:.1}x faster", t_scanelf / t_scan);
    } else {
        println!("  scanelf not available (apt-get install pax-utils)");
    }
    println!("  ldd loop over the same {} objects:                         {t_ldd:8.2} s   kaudit is {:.1}x faster", paths.len(), t_ldd / t_scan);
    println!("  oracle: {compared} closures compared with ldd, {mismatches} mismatches");
    if mismatches > 0 {
        bail!("{mismatches} closures differ from ldd");
    }
    Ok(())
}

/// The workload's own wall time, measured inside it (so tracer start-up and
/// storage are not counted; kaudit's whole invocation is reported too).
/// What the file-open-heavy workload reads (those this machine has).
fn workload_dirs() -> Vec<&'static str> {
    ["/usr/share/doc", "/usr/share/perl"]
        .into_iter()
        .filter(|d| Path::new(d).exists())
        .collect()
}

/// The workload as a shell script: its wall time (ns) goes to `out`, and
/// the CPU time of its processes (tar's and cat's user and system time, to
/// the microsecond, from this program's `cpu-of`) to `out` + `.cpu`.
fn workload_script(out: &Path) -> String {
    let dirs = workload_dirs();
    let me = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("xtask"));
    format!(
        "s=$(date +%s%N); {} cpu-of {}.cpu /bin/sh -c 'for i in 1 2 3; do tar -cf - {} 2>/dev/null | cat >/dev/null; done'; e=$(date +%s%N); echo $((e - s)) > {}",
        me.display(),
        out.display(),
        dirs.join(" "),
        out.display()
    )
}

/// `cpu-of OUT COMMAND…`: run COMMAND and write the CPU time (user +
/// system, seconds) of it and every descendant it waited for to OUT.
fn cpu_of(args: &[String]) -> Result<()> {
    let [out, cmd, rest @ ..] = args else {
        bail!("usage: cpu-of OUT COMMAND...");
    };
    let st = Command::new(cmd).args(rest).status()?;
    let ru = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)?;
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    std::fs::write(
        out,
        format!("{:.6}\n", secs(ru.user_time()) + secs(ru.system_time())),
    )?;
    if !st.success() {
        bail!("{cmd} failed: {st}");
    }
    Ok(())
}

/// What `cpu-of` wrote next to `out`, in seconds.
fn read_cpu(out: &Path) -> Result<f64> {
    let mut p = out.as_os_str().to_owned();
    p.push(".cpu");
    let text = std::fs::read_to_string(&p)?;
    text.trim()
        .parse()
        .with_context(|| format!("cpu-of wrote {text:?}"))
}

fn read_ns(p: &Path) -> Result<f64> {
    let s = std::fs::read_to_string(p)?;
    Ok(s.trim().parse::<f64>()? / 1e9)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// `[--rounds N]`, the only argument of the timing benchmarks.
fn rounds_arg(args: &[String], default: usize) -> Result<usize> {
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

/// The workload's CPU time (its own processes, kernel time included), per
/// way of running it.
#[derive(Default)]
struct WorkloadCpu {
    untraced: Vec<f64>,
    names: Vec<f64>,
    nonames: Vec<f64>,
    fatrace: Vec<f64>,
}

fn bench_trace(args: &[String]) -> Result<()> {
    let rounds = rounds_arg(args, 15)?;
    let kaudit = build_release()?;
    let tmp = std::env::temp_dir().join(format!("kaudit-bench-trace-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let t_file = tmp.join("elapsed");
    let script = workload_script(&t_file);
    let sh = |extra: &mut Command| -> Result<f64> {
        let st = extra.status()?;
        if !st.success() {
            bail!("workload failed: {st}");
        }
        read_ns(&t_file)
    };
    // warm the page cache
    sh(Command::new("/bin/sh").args(["-c", &script]))?;
    let mut untraced = Vec::new();
    let mut traced = Vec::new();
    let mut traced_total = Vec::new();
    let mut traced_nonames = Vec::new();
    let mut names_status = String::new();
    let mut fat = Vec::new();
    let mut st = Vec::new();
    let mut events = 0u64;
    let mut complete = true;
    let mut cpu = WorkloadCpu::default();
    let fatrace_ok = Command::new("fatrace").arg("--help").output().is_ok();
    let strace_ok = Command::new("strace").arg("-V").output().is_ok();
    for r in 0..rounds {
        untraced.push(sh(Command::new("/bin/sh").args(["-c", &script]))?);
        cpu.untraced.push(read_cpu(&t_file)?);

        let db = tmp.join(format!("trace-nonames-{r}.db"));
        let out = Command::new(&kaudit)
            .args(["trace", "--no-names", "--name", "bench", "--db"])
            .arg(&db)
            .args(["--", "/bin/sh", "-c", &script])
            .output()?;
        if !out.status.success() {
            bail!(
                "kaudit trace --no-names failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        traced_nonames.push(read_ns(&t_file)?);
        cpu.nonames.push(read_cpu(&t_file)?);

        let db = tmp.join(format!("trace-{r}.db"));
        let t = Instant::now();
        let out = Command::new(&kaudit)
            .args(["trace", "--name", "bench", "--db"])
            .arg(&db)
            .args(["--", "/bin/sh", "-c", &script])
            .output()?;
        traced_total.push(t.elapsed().as_secs_f64());
        if !out.status.success() {
            bail!(
                "kaudit trace failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        traced.push(read_ns(&t_file)?);
        cpu.names.push(read_cpu(&t_file)?);
        let runs = Command::new(&kaudit)
            .args(["runs", "--format", "json", "--db"])
            .arg(&db)
            .output()?;
        let v: serde_json::Value = serde_json::from_slice(&runs.stdout)?;
        events = v[0]["events"].as_u64().unwrap_or(0);
        names_status = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| l.contains("names"))
            .collect::<Vec<_>>()
            .join("; ");
        complete &= v[0]["complete"].as_bool().unwrap_or(false);

        if fatrace_ok {
            let log = tmp.join(format!("fatrace-{r}.log"));
            fat.push(under_fatrace(&[], &log, || {
                sh(Command::new("/bin/sh").args(["-c", &script]))
            })?);
            cpu.fatrace.push(read_cpu(&t_file)?);
        }
        // strace is ~50x: three rounds tell its ratio well enough
        if strace_ok && r < 3 {
            st.push(sh(Command::new("strace").args([
                "-f",
                "-qq",
                "-o",
                "/dev/null",
                "-e",
                "trace=%file,execve",
                "/bin/sh",
                "-c",
                &script,
            ]))?);
        }
    }
    let bpf = bpf_rounds(&kaudit, &tmp, &script, rounds.min(5))?;
    let pinned = pinned_rounds(&kaudit, &tmp, &script, &t_file, rounds, fatrace_ok)?;
    let ignored = match pinned {
        Some(_) => Some(ignored_open(&kaudit, &tmp.join("ignored-open"))?),
        None => None,
    };
    let _ = std::fs::remove_dir_all(&tmp);
    let storm = storm_rounds(&kaudit)?;
    let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let bests = (best(&untraced), best(&traced), best(&fat));
    let best_nonames = best(&traced_nonames);
    let base = median(untraced);
    println!("file-open-heavy workload (tar of /usr/share/doc and /usr/share/perl | cat, 3 times), median of {rounds} rounds (strace: {}):", rounds.min(3));
    println!("  untraced:                        {base:7.3} s   1.00x");
    let k = median(traced);
    println!(
        "  under kaudit trace (workload):   {k:7.3} s   {:.2}x   (names on)",
        k / base
    );
    let kn = median(traced_nonames);
    println!(
        "  kaudit trace --no-names:         {kn:7.3} s   {:.2}x   (fanotify only)",
        kn / base
    );
    let total = median(traced_total);
    println!(
        "  kaudit trace, whole invocation:  {total:7.3} s   {:.2}x   (start-up, in-use scan and storage included)",
        total / base
    );
    if fatrace_ok {
        let f = median(fat);
        println!(
            "  under fatrace:                   {f:7.3} s   {:.2}x",
            f / base
        );
    } else {
        println!("  fatrace not available (apt-get install fatrace)");
    }
    if strace_ok {
        let s = median(st);
        println!(
            "  under strace -f:                 {s:7.3} s   {:.2}x",
            s / base
        );
    }
    // the cost that lands on the workload's own processes (the events and
    // BPF programs run in their context), less sensitive than wall time to
    // what else the machine does
    let cu = median(cpu.untraced);
    let ratio = |v: Vec<f64>| {
        if v.is_empty() {
            f64::NAN
        } else {
            median(v) / cu
        }
    };
    println!(
        "  the workload's CPU time (tar and cat, user + system, median): untraced {cu:.2} s; kaudit {:.2}x (names on), {:.2}x (--no-names){}",
        ratio(cpu.names),
        ratio(cpu.nonames),
        if fatrace_ok { format!(", fatrace {:.2}x", ratio(cpu.fatrace)) } else { String::new() }
    );
    if fatrace_ok {
        println!(
            "  fastest round of each (less noise from the machine): kaudit {:.2}x (names on), {:.2}x (--no-names), fatrace {:.2}x",
            bests.1 / bests.0,
            best_nonames / bests.0,
            bests.2 / bests.0
        );
    } else {
        println!(
            "  fastest round of each (less noise from the machine): kaudit {:.2}x (names on), {:.2}x (--no-names)",
            bests.1 / bests.0,
            best_nonames / bests.0
        );
    }
    println!(
        "  kaudit read {events} events in the last round ({:.0} events/s during the workload); run {}",
        events as f64 / k,
        if complete { "complete in every round: no event lost" } else { "INCOMPLETE: events were lost" }
    );
    if !names_status.is_empty() {
        println!("  last round: {names_status}");
    }
    if let Some((ms, calls)) = bpf {
        println!(
            "  the name capture's BPF programs (kernel.bpf_stats_enabled, median of {} rounds): {ms:.1} ms of CPU over the {calls} system calls they ran for ({:.0} ns a call on average)",
            rounds.min(5),
            ms * 1e6 / calls as f64
        );
    }
    match pinned {
        Some(p) => {
            p.print(rounds);
            if let Some((untraced, traced)) = ignored {
                println!(
                    "  an open whose events kaudit ignores (one file opened and closed {IGNORED_OPENS} times, median of {IGNORED_ROUNDS} rounds): {:.0} ns untraced, {:+.0} ns under kaudit trace --no-names",
                    untraced * 1e9,
                    (traced - untraced) * 1e9
                );
            }
        }
        None => println!(
            "the workload and the tracers on CPUs of their own: not run (needs 2 CPUs and taskset)"
        ),
    }
    println!("open storm (distinct files, each opened once, under kaudit trace):");
    let mut best: Option<f64> = None;
    for s in &storm {
        let lossless = s.complete && s.recorded == s.opens;
        println!(
            "  {} thread(s): {} opens in {:.3} s = {:>9.0} opens/s; recorded {} of {}; {}",
            s.threads,
            s.opens,
            s.secs,
            s.opens as f64 / s.secs,
            s.recorded,
            s.opens,
            if lossless {
                "no event lost"
            } else {
                "EVENTS LOST"
            }
        );
        if lossless {
            let r = s.opens as f64 / s.secs;
            best = Some(best.map_or(r, |b: f64| b.max(r)));
        }
    }
    match best {
        Some(r) => println!("  highest open rate with no event lost: {r:.0} opens/s"),
        None => println!("  no storm round was free of loss"),
    }
    Ok(())
}

/// The same workload with a core of its own: tar and cat on CPU 0, each
/// tracer on CPU 1 (`taskset`; what a tracer starts is moved to CPU 0
/// too). Wall time and the workload's CPU time per way of running it.
#[derive(Default)]
struct Pinned {
    untraced: (Vec<f64>, Vec<f64>),
    nonames: (Vec<f64>, Vec<f64>),
    names: (Vec<f64>, Vec<f64>),
    fatrace: (Vec<f64>, Vec<f64>),
}

impl Pinned {
    fn print(self, rounds: usize) {
        println!("the workload on CPU 0, each tracer on CPU 1 (the tracer has a core to spare), median of {rounds} rounds:");
        let (w0, c0) = (median(self.untraced.0), median(self.untraced.1));
        println!(
            "  untraced:                        {w0:7.3} s   1.00x   (workload CPU {c0:.2} s)"
        );
        let row = |label: &str, (w, c): (Vec<f64>, Vec<f64>)| {
            if w.is_empty() {
                return;
            }
            let (w, c) = (median(w), median(c));
            println!(
                "  {label:<32} {w:7.3} s   {:.2}x   (workload CPU {:.2}x)",
                w / w0,
                c / c0
            );
        };
        row("kaudit trace --no-names:", self.nonames);
        row("kaudit trace (names on):", self.names);
        row("fatrace:", self.fatrace);
    }
}

/// Rounds of [`Pinned`], interleaved; `None` on a machine with one CPU or
/// without `taskset`.
fn pinned_rounds(
    kaudit: &Path,
    tmp: &Path,
    script: &str,
    t_file: &Path,
    rounds: usize,
    fatrace_ok: bool,
) -> Result<Option<Pinned>> {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    if cpus < 2 || Command::new("taskset").arg("-V").output().is_err() {
        return Ok(None);
    }
    let workload = |cmd: &mut Command| -> Result<(f64, f64)> {
        let out = cmd
            .args(["taskset", "-c", "0", "/bin/sh", "-c", script])
            .output()?;
        if !out.status.success() {
            bail!(
                "the pinned workload failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok((read_ns(t_file)?, read_cpu(t_file)?))
    };
    let push = |v: &mut (Vec<f64>, Vec<f64>), (w, c): (f64, f64)| {
        v.0.push(w);
        v.1.push(c);
    };
    let mut p = Pinned::default();
    for r in 0..rounds {
        push(&mut p.untraced, workload(&mut Command::new("env"))?);
        for (names, slot) in [(false, &mut p.nonames), (true, &mut p.names)] {
            let db = tmp.join(format!("pinned-{r}-{names}.db"));
            push(slot, workload(&mut kaudit_on_cpu1(kaudit, names, &db))?);
        }
        if fatrace_ok {
            let log = tmp.join(format!("fatrace-pinned-{r}.log"));
            let t = under_fatrace(&["taskset", "-c", "1"], &log, || {
                workload(&mut Command::new("env"))
            })?;
            push(&mut p.fatrace, t);
        }
    }
    Ok(Some(p))
}

/// `kaudit trace` (names on or not) into `db` on CPU 1, the command to
/// trace still to be appended.
fn kaudit_on_cpu1(kaudit: &Path, names: bool, db: &Path) -> Command {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "1"]).arg(kaudit).arg("trace");
    if !names {
        cmd.arg("--no-names");
    }
    cmd.args(["--name", "bench", "--db"]).arg(db).arg("--");
    cmd
}

/// Run `work` while fatrace (started through `prefix`, e.g. `taskset -c
/// 1`) writes to `log`; fatrace is stopped afterwards, also when `work`
/// fails.
fn under_fatrace<T>(prefix: &[&str], log: &Path, work: impl FnOnce() -> Result<T>) -> Result<T> {
    let mut cmd = Command::new(prefix.first().copied().unwrap_or("fatrace"));
    if !prefix.is_empty() {
        cmd.args(&prefix[1..]).arg("fatrace");
    }
    let mut f = cmd
        .arg("-o")
        .arg(log)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    std::thread::sleep(std::time::Duration::from_millis(500));
    // fatrace refuses an existing output file and exits at once: a round
    // must never time the workload without it
    if let Some(st) = f.try_wait()? {
        bail!("fatrace exited before the workload ran: {st}");
    }
    let out = work();
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(f.id().to_string())
        .status();
    let _ = f.wait();
    out
}

/// Opens of the ignored-open loop, and its rounds.
const IGNORED_OPENS: usize = 1_000_000;
const IGNORED_ROUNDS: usize = 5;

/// What an open costs when only its first event reaches kaudit: a loop
/// opening and closing one file, on CPU 0, untraced and under `kaudit trace
/// --no-names` on CPU 1 (interleaved rounds). Seconds per open, medians.
fn ignored_open(kaudit: &Path, tmp: &Path) -> Result<(f64, f64)> {
    std::fs::create_dir_all(tmp)?;
    let file = tmp.join("opened");
    std::fs::write(&file, "x")?;
    let out = tmp.join("per-open");
    let me = std::env::current_exe()?;
    let looped = |cmd: &mut Command| -> Result<f64> {
        let st = cmd
            .args(["taskset", "-c", "0"])
            .arg(&me)
            .arg("open-loop")
            .arg(&file)
            .arg(IGNORED_OPENS.to_string())
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()?;
        if !st.success() {
            bail!("the open loop failed: {st}");
        }
        Ok(read_ns(&out)? / IGNORED_OPENS as f64)
    };
    let (mut untraced, mut traced) = (Vec::new(), Vec::new());
    for r in 0..IGNORED_ROUNDS {
        untraced.push(looped(&mut Command::new("env"))?);
        let db = tmp.join(format!("open-loop-{r}.db"));
        traced.push(looped(&mut kaudit_on_cpu1(kaudit, false, &db))?);
    }
    Ok((median(untraced), median(traced)))
}

/// `open-loop FILE N OUT`: open and close FILE N times; the wall time in
/// nanoseconds goes to OUT.
fn open_loop(args: &[String]) -> Result<()> {
    let [file, n, out] = args else {
        bail!("usage: open-loop FILE N OUT");
    };
    let n: usize = n.parse()?;
    let t = Instant::now();
    for _ in 0..n {
        drop(std::fs::File::open(file)?);
    }
    std::fs::write(out, t.elapsed().as_nanos().to_string())?;
    Ok(())
}

/// Files per storm thread.
const STORM_FILES: usize = 20_000;

struct Storm {
    threads: usize,
    opens: u64,
    recorded: u64,
    secs: f64,
    complete: bool,
}

/// `open-storm DIR THREADS OUT`: THREADS threads each open every file of
/// DIR/tN once; the wall time in nanoseconds goes to OUT.
fn open_storm(args: &[String]) -> Result<()> {
    let [dir, threads, out] = args else {
        bail!("usage: open-storm DIR THREADS OUT");
    };
    let dir = PathBuf::from(dir);
    let threads: usize = threads.parse()?;
    let t = Instant::now();
    std::thread::scope(|s| {
        for n in 0..threads {
            let d = dir.join(format!("t{n}"));
            s.spawn(move || {
                for i in 0..STORM_FILES {
                    let _ = std::fs::File::open(d.join(format!("f{i}")));
                }
            });
        }
    });
    std::fs::write(out, t.elapsed().as_nanos().to_string())?;
    Ok(())
}

/// The CPU the name capture's programs take on the workload: each round
/// traces it with the kernel's BPF statistics on, and the workload's last
/// command (this program's `bpf-stats`) reads the programs' counters while
/// they are still loaded. The statistics cost a little themselves. `None`
/// when the statistics cannot be turned on.
fn bpf_rounds(
    kaudit: &Path,
    tmp: &Path,
    script: &str,
    rounds: usize,
) -> Result<Option<(f64, u64)>> {
    const KNOB: &str = "/proc/sys/kernel/bpf_stats_enabled";
    let Ok(before) = std::fs::read_to_string(KNOB) else {
        return Ok(None);
    };
    if std::fs::write(KNOB, "1").is_err() {
        return Ok(None);
    }
    let me = std::env::current_exe()?;
    let stats = tmp.join("bpf-stats");
    let mut runs = Vec::new();
    let result = (|| -> Result<()> {
        for r in 0..rounds {
            let db = tmp.join(format!("bpf-{r}.db"));
            let out = Command::new(kaudit)
                .args(["trace", "--name", "bench", "--db"])
                .arg(&db)
                .args(["--", "/bin/sh", "-c"])
                .arg(format!(
                    "{script}; {} bpf-stats {}",
                    me.display(),
                    stats.display()
                ))
                .output()?;
            if !out.status.success() {
                bail!(
                    "kaudit trace failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let text = std::fs::read_to_string(&stats)?;
            let mut f = text.split_whitespace().map(str::parse::<u64>);
            let (Some(Ok(ns)), Some(Ok(calls))) = (f.next(), f.next()) else {
                bail!("bpf-stats wrote {text:?}");
            };
            runs.push((ns, calls));
        }
        Ok(())
    })();
    let _ = std::fs::write(KNOB, before.trim());
    result?;
    runs.sort();
    let (ns, calls) = runs[runs.len() / 2];
    Ok(Some((ns as f64 / 1e6, calls)))
}

/// `bpf-stats FILE`: the loaded name-capture programs' run time in all
/// (ns) and the system calls their exit programs ran for (the per-call
/// tracepoints' exit program, plus the raw one when it is attached).
fn bpf_stats(args: &[String]) -> Result<()> {
    let file = args.first().context("bpf-stats FILE")?;
    let (mut ns, mut calls) = (0u128, 0u64);
    for p in aya::programs::loaded_programs().flatten() {
        let Some(name) = p.name_as_str() else {
            continue;
        };
        if !name.starts_with("names_") {
            continue;
        }
        ns += p.run_time().as_nanos();
        if name == "names_exit" || name == "names_sys_exit" {
            calls += p.run_count();
        }
    }
    std::fs::write(file, format!("{ns} {calls}\n"))?;
    Ok(())
}

fn storm_rounds(kaudit: &Path) -> Result<Vec<Storm>> {
    let dir = workspace().join("target/bench-storm");
    let _ = std::fs::remove_dir_all(&dir);
    let max_threads = 4;
    for n in 0..max_threads {
        let d = dir.join(format!("t{n}"));
        std::fs::create_dir_all(&d)?;
        for i in 0..STORM_FILES {
            std::fs::write(d.join(format!("f{i}")), b"x")?;
        }
    }
    let me = std::env::current_exe()?;
    let mut out = Vec::new();
    for threads in [1, 2, max_threads] {
        let db = dir.join(format!("storm-{threads}.db"));
        let t_file = dir.join("elapsed");
        let st = Command::new(kaudit)
            .args(["trace", "--name", "storm", "--db"])
            .arg(&db)
            .arg("--")
            .arg(&me)
            .arg("open-storm")
            .arg(&dir)
            .arg(threads.to_string())
            .arg(&t_file)
            .output()?;
        if !st.status.success() {
            bail!(
                "kaudit trace failed: {}",
                String::from_utf8_lossy(&st.stderr)
            );
        }
        let secs = read_ns(&t_file)?;
        let conn = rusqlite::Connection::open(&db)?;
        let pattern = format!("{}/t[0-9]*/f[0-9]*", dir.display());
        let recorded: u64 = conn.query_row(
            "SELECT count(*) FROM access WHERE kind = 'open' AND CAST(path AS TEXT) GLOB ?1",
            [pattern],
            |r| r.get(0),
        )?;
        let complete: bool = conn.query_row(
            "SELECT complete FROM run ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )?;
        out.push(Storm {
            threads,
            opens: (threads * STORM_FILES) as u64,
            recorded,
            secs,
            complete,
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(out)
}

fn bench_reports(args: &[String]) -> Result<()> {
    let rounds = rounds_arg(args, 11)?;
    let kaudit = build_release()?;
    let tmp = std::env::temp_dir().join(format!("kaudit-bench-reports-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let db = tmp.join("graph.db");
    let run = |args: &[&str]| -> Result<(f64, std::process::Output)> {
        let t = Instant::now();
        // --db before the arguments: a trace's command comes after `--`
        let out = Command::new(&kaudit)
            .arg("--db")
            .arg(&db)
            .args(args)
            .output()?;
        Ok((t.elapsed().as_secs_f64(), out))
    };
    let ok = |what: &str, out: &std::process::Output| -> Result<()> {
        if !out.status.success() {
            bail!("{what} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    };
    let (secs, out) = run(&["scan", "--root", "/"])?;
    ok("scan", &out)?;
    print!("graph: {}", String::from_utf8_lossy(&out.stdout));
    println!("  (scan {secs:.2} s)");
    let dirs = workload_dirs();
    let workload = format!(
        "tar -cf - {} 2>/dev/null | cat >/dev/null; ls -l /bin/sh /etc/localtime >/dev/null",
        dirs.join(" ")
    );
    let (_, out) = run(&[
        "trace",
        "--name",
        "bench-workload",
        "--",
        "/bin/sh",
        "-c",
        &workload,
    ])?;
    ok("trace", &out)?;
    let profile = tmp.join("bench.toml");
    std::fs::write(
        &profile,
        "scenarios = [\"bench-workload\"]\nallow_incomplete = true\nbudget = \"1 GiB\"\n\n[[include]]\nglob = \"/etc/passwd\"\nreason = \"names of users\"\n\n[[exclude]]\nglob = \"/usr/share/man/**\"\nreason = \"manual pages\"\n",
    )?;
    let p = profile.to_str().context("profile path")?;
    let list = tmp.join("allowlist.txt");
    let pages = tmp.join("pages");
    let (_, out) = run(&[
        "allowlist",
        "--profile",
        p,
        "--out",
        list.to_str().context("path")?,
    ])?;
    ok("allowlist", &out)?;
    print!("{}", String::from_utf8_lossy(&out.stderr));
    // what to ask about: a traced file, a library through the loader, a
    // symlink, and a file nothing needs
    let libc = [
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/lib/x86_64-linux-gnu/libc.so.6",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .unwrap_or("/usr/lib/x86_64-linux-gnu/libc.so.6");
    let traced = std::fs::read_to_string(&list)?
        .lines()
        .find(|l| l.starts_with("/usr/share/perl/") && l.ends_with(".pm"))
        .unwrap_or("/usr/bin/tar")
        .to_string();
    let asks = [
        ("a traced file", traced.as_str(), 0),
        ("a library through the loader", libc, 0),
        ("a symlink asked for", "/bin/sh", 0),
        ("a file not kept", "/usr/bin/gdb-add-index-kaudit-absent", 1),
    ];
    println!("timed, median of {rounds} rounds (goals: why <= 50 ms; allowlist + docs <= 2 s):");
    // the first question after a new trace or an edited profile computes the
    // closure and stores it (a new profile text each round: always cold)
    let mut cold = Vec::new();
    let profile_text = std::fs::read_to_string(&profile)?;
    let cold_profile = tmp.join("cold.toml");
    for r in 0..rounds {
        std::fs::write(&cold_profile, format!("# round {r}\n{profile_text}"))?;
        let (secs, out) = run(&[
            "why",
            "/bin/sh",
            "--profile",
            cold_profile.to_str().context("path")?,
        ])?;
        ok("why", &out)?;
        cold.push(secs);
    }
    let m = median(cold);
    println!(
        "  why, first question after a change (closure computed and stored): {:7.1} ms",
        m * 1e3
    );
    for (what, path, want) in asks {
        let mut t = Vec::new();
        for _ in 0..rounds {
            let (secs, out) = run(&["why", path, "--profile", p])?;
            if out.status.code() != Some(want) {
                bail!(
                    "why {path}: exit {:?}: {}",
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            t.push(secs);
        }
        let m = median(t);
        println!(
            "  why ({what}, {path}): {:7.1} ms   {:.2}x the goal",
            m * 1e3,
            m / 0.050
        );
    }
    let mut ta = Vec::new();
    let mut td = Vec::new();
    for _ in 0..rounds {
        let (s1, out) = run(&[
            "allowlist",
            "--profile",
            p,
            "--out",
            list.to_str().context("path")?,
        ])?;
        ok("allowlist", &out)?;
        let (s2, out) = run(&[
            "docs",
            "--profile",
            p,
            "--out",
            pages.to_str().context("path")?,
        ])?;
        ok("docs", &out)?;
        ta.push(s1);
        td.push(s2);
    }
    let (a, d) = (median(ta), median(td));
    println!("  allowlist:        {:7.1} ms", a * 1e3);
    println!("  docs:             {:7.1} ms", d * 1e3);
    println!(
        "  allowlist + docs: {:7.1} ms   {:.2}x the goal",
        (a + d) * 1e3,
        (a + d) / 2.0
    );
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// systemd's own "Startup finished in … (userspace)" line, in seconds.
fn userspace_seconds(text: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.contains("Startup finished in"))?;
    let part = line.split("Startup finished in ").nth(1)?;
    let part = part.split(" (userspace)").next()?;
    // "1.234s", "312ms", "1min 2.5s"
    let mut total = 0.0;
    for w in part.split_whitespace() {
        if let Some(v) = w.strip_suffix("ms") {
            total += v.parse::<f64>().ok()? / 1000.0;
        } else if let Some(v) = w.strip_suffix("min") {
            total += v.parse::<f64>().ok()? * 60.0;
        } else if let Some(v) = w.strip_suffix('s') {
            total += v.parse::<f64>().ok()?;
        }
    }
    Some(total)
}

/// The example node root booted to `running`, untraced (systemd-nspawn on an
/// overlay of the root, in a mount namespace of its own, as kaudit boots it)
/// and traced (`kaudit trace --root ROOT --boot`): the wall time from the
/// start to `running` seen from outside, and systemd's own userspace
/// start-up time, medians of N rounds, as ratios.
fn bench_boot(args: &[String]) -> Result<()> {
    let rounds = rounds_arg(args, 5)?;
    let ws = workspace();
    let kaudit = build_release()?;
    let root = ws.join("target/node-root");
    let st = Command::new("bash")
        .arg(ws.join("examples/build-node-root.sh"))
        .arg(&root)
        .status()?;
    if !st.success() {
        bail!("building the node root failed");
    }
    // what the node runs once it is up: wait for the end of the boot, then
    // systemd's own account of it
    let inside =
        "until systemd-analyze time > /run/kaudit-bench-boot 2>/dev/null; do sleep 0.01; done; cat /run/kaudit-bench-boot; echo up $(date +%s.%N)";
    let untraced_script = format!(
        r#"set -e
mount --make-rprivate /
s=$(mktemp -d)
mount -t tmpfs tmpfs "$s"
mkdir "$s/u" "$s/w" "$s/m"
mount -t overlay overlay -o "lowerdir={root},upperdir=$s/u,workdir=$s/w,index=on,nfs_export=on" "$s/m"
mount -t tmpfs tmpfs /run
echo bench > "$s/m/etc/hostname"
start=$(date +%s.%N)
systemd-nspawn --quiet --directory "$s/m" --register=no --keep-unit --settings=no --link-journal=no \
  --resolv-conf=off --timezone=off --console=passive --private-users=no --private-network \
  --machine=bench --hostname=bench --capability=CAP_SYSLOG,CAP_NET_ADMIN --bind=/dev/kmsg \
  --system-call-filter=@keyring /sbin/init >/dev/null 2>&1 &
nspawn=$!
until leader=$(pgrep -x -P "$nspawn" systemd) && [ -n "$leader" ]; do sleep 0.005; done
nsenter -t "$leader" -m -u -i -n -p -r -w /bin/sh -c '{inside}' > "$s/out"
cat "$s/out"
echo "start $start"
kill -TERM "$nspawn"; wait "$nspawn" || true
# nothing left: the groups systemd-nspawn made below this shell's own
# (--keep-unit), and the scratch directory
home_u=$(sed -n 's/^0:://p' /proc/self/cgroup)
home_s=$(sed -n 's/^[0-9]*:name=systemd://p' /proc/self/cgroup)
for h in "/sys/fs/cgroup/unified$home_u" "/sys/fs/cgroup/systemd$home_s" "/sys/fs/cgroup$home_u"; do
  for d in payload supervisor; do
    if [ -d "$h/$d" ]; then find "$h/$d" -depth -type d -exec rmdir {{}} + 2>/dev/null || true; fi
  done
done
umount -R "$s"
rmdir "$s"
"#,
        root = root.display(),
        inside = inside
    );
    let scratch = tempfile_dir()?;
    let mut untraced_wall = Vec::new();
    let mut untraced_user = Vec::new();
    let mut traced_wall = Vec::new();
    let mut traced_user = Vec::new();
    for i in 0..rounds {
        // untraced
        let out = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "bash", "-c"])
            .arg(&untraced_script)
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let num = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|w| w.trim().parse::<f64>().ok())
        };
        let wall = num("up ")
            .zip(num("start "))
            .map(|(up, start)| up - start)
            .with_context(|| {
                format!(
                    "untraced boot: {text}{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })?;
        untraced_wall.push(wall);
        untraced_user.push(userspace_seconds(&text).context("untraced boot: no start-up time")?);
        // traced
        let db = scratch.join(format!("boot-{i}.db"));
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs_f64();
        let out = Command::new(&kaudit)
            .args(["-q", "trace", "--boot", "--name", "bench-boot", "--db"])
            .arg(&db)
            .arg("--root")
            .arg(&root)
            .args(["--", "/bin/sh", "-c", inside])
            .output()?;
        // the command's end is when the node is up; kaudit then powers it off
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "traced boot failed: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let up = text
            .lines()
            .find_map(|l| l.strip_prefix("up "))
            .and_then(|w| w.trim().parse::<f64>().ok())
            .context("traced boot: no end time")?;
        let user = userspace_seconds(&text).context("traced boot: no start-up time")?;
        traced_user.push(user);
        traced_wall.push(up - start);
        let _ = std::fs::remove_file(&db);
    }
    let (uw, uu, tw, tu) = (
        median(untraced_wall),
        median(untraced_user),
        median(traced_wall),
        median(traced_user),
    );
    println!("booting the example node root to `running`, medians of {rounds} rounds:");
    println!(
        "  systemd's userspace start-up: untraced {uu:.3} s, traced {tu:.3} s: {:.2}x",
        tu / uu
    );
    println!(
        "  wall time from the start to running: untraced {uw:.2} s (systemd-nspawn), traced {tw:.2} s (kaudit trace --boot: the tracer's start and the run's network included): {:.2}x",
        tw / uw
    );
    Ok(())
}

/// A scratch directory below target/ for the benchmark's graphs.
fn tempfile_dir() -> Result<PathBuf> {
    let d = workspace().join("target/bench-boot");
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
