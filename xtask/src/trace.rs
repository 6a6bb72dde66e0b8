//! `cargo xtask bench-trace`: a file-open-heavy workload untraced, under
//! `kaudit trace`, fatrace and `strace -f` (and again with the workload and the
//! tracer on separate CPUs), an open storm, and the name capture's BPF cost.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::{build_release, median, rounds_arg, workspace};

/// The workload's own wall time, measured inside it (so tracer start-up and
/// storage are not counted; kaudit's whole invocation is reported too).
/// What the file-open-heavy workload reads (those this machine has).
pub(crate) fn workload_dirs() -> Vec<&'static str> {
    ["/usr/share/doc", "/usr/share/perl"]
        .into_iter()
        .filter(|d| Path::new(d).exists())
        .collect()
}

/// The workload as a shell script: its wall time (ns) goes to `out`, and
/// the CPU time of its processes (tar's and cat's user and system time, to
/// the microsecond, from this program's `cpu-of`) to `out` + `.cpu`.
pub(crate) fn workload_script(out: &Path) -> String {
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
pub(crate) fn cpu_of(args: &[String]) -> Result<()> {
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
pub(crate) fn read_cpu(out: &Path) -> Result<f64> {
    let mut p = out.as_os_str().to_owned();
    p.push(".cpu");
    let text = std::fs::read_to_string(&p)?;
    text.trim()
        .parse()
        .with_context(|| format!("cpu-of wrote {text:?}"))
}

pub(crate) fn read_ns(p: &Path) -> Result<f64> {
    let s = std::fs::read_to_string(p)?;
    Ok(s.trim().parse::<f64>()? / 1e9)
}

/// The workload's CPU time (its own processes, kernel time included), per
/// way of running it.
#[derive(Default)]
pub(crate) struct WorkloadCpu {
    untraced: Vec<f64>,
    names: Vec<f64>,
    nonames: Vec<f64>,
    fatrace: Vec<f64>,
}

pub(crate) fn bench_trace(args: &[String]) -> Result<()> {
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
pub(crate) fn kaudit_on_cpu1(kaudit: &Path, names: bool, db: &Path) -> Command {
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
pub(crate) fn under_fatrace<T>(
    prefix: &[&str],
    log: &Path,
    work: impl FnOnce() -> Result<T>,
) -> Result<T> {
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
pub(crate) fn ignored_open(kaudit: &Path, tmp: &Path) -> Result<(f64, f64)> {
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
pub(crate) fn open_loop(args: &[String]) -> Result<()> {
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
pub(crate) fn open_storm(args: &[String]) -> Result<()> {
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
pub(crate) fn bpf_rounds(
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
pub(crate) fn bpf_stats(args: &[String]) -> Result<()> {
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
