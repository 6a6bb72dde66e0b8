//! `cargo xtask bench-scan-hostile`: scans of roots built to amplify, timed
//! against glibc's own loader listing the top object of each.
//!
//! - `N` libraries each needing all `N` (`--n`, 200): `N²` direct needs;
//! - a chain of `C` libraries, each needing the next (`--chain`, 2,000);
//! - one library with a `DT_RPATH` of 4,000 missing directories and 1,000
//!   `DT_NEEDED` found in a system directory (`kaudit deps --root` too);
//! - `D` nested directories (`--dirs`, 30,000), and how many of them the
//!   graph keeps (paths up to `PATH_MAX`).
//!
//! For each: the scan's wall time, peak memory, the edges it stored and the
//! graph's size on disk, and the scan's time per stored edge; and the
//! loader's time (`ld.so --list`, the host's glibc loader on the top
//! library) with the ratio. `--kaudit PATH` times
//! that binary instead of a release build of this tree (an older kaudit,
//! for a before and after).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

#[path = "../../tests/it/elfgen.rs"]
#[allow(dead_code, unreachable_pub)]
mod elfgen;

use elfgen::SharedObject;

const HOST_LDSO: &str = "/lib64/ld-linux-x86-64.so.2";
const LIBDIR: &str = "usr/lib/x86_64-linux-gnu";

/// A root with the host's glibc loader and libc in Debian's places.
fn glibc_root(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir.join(LIBDIR))?;
    std::fs::create_dir_all(dir.join("lib64"))?;
    std::fs::create_dir_all(dir.join("etc"))?;
    let ldso = std::fs::canonicalize(HOST_LDSO)?;
    std::fs::copy(&ldso, dir.join(LIBDIR).join("ld-linux-x86-64.so.2"))?;
    std::fs::copy(
        "/lib/x86_64-linux-gnu/libc.so.6",
        dir.join(LIBDIR).join("libc.so.6"),
    )?;
    std::os::unix::fs::symlink(
        "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        dir.join("lib64/ld-linux-x86-64.so.2"),
    )?;
    std::fs::write(dir.join("etc/ld.so.conf"), "")?;
    Ok(())
}

fn write_libs(dir: &Path, libs: &[(String, SharedObject)]) -> Result<()> {
    for (name, o) in libs {
        std::fs::write(dir.join(LIBDIR).join(name), o.bytes())?;
    }
    Ok(())
}

/// Wall seconds and peak resident kilobytes of `cmd` (run through `xtask
/// peak-of`, so the peak is this command's alone).
fn measure(cmd: &[&std::ffi::OsStr]) -> Result<(f64, u64, std::process::Output)> {
    let me = std::env::current_exe()?;
    let t = Instant::now();
    let out = Command::new(me).arg("peak-of").args(cmd).output()?;
    let secs = t.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&out.stderr);
    let peak = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("peak-of: maxrss-kb "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok((secs, peak, out))
}

/// `peak-of COMMAND...`: run it, say its peak memory on standard error, exit
/// with its status.
pub(crate) fn peak_of(args: &[String]) -> Result<()> {
    let [cmd, rest @ ..] = args else {
        bail!("usage: peak-of COMMAND...");
    };
    let out = Command::new(cmd).args(rest).output()?;
    let ru = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)?;
    use std::io::Write;
    std::io::stdout().write_all(&out.stdout)?;
    std::io::stderr().write_all(&out.stderr)?;
    eprintln!("peak-of: maxrss-kb {}", ru.max_rss());
    std::process::exit(out.status.code().unwrap_or(2))
}

fn file_size(p: &Path) -> u64 {
    let mut total = 0;
    for suffix in ["", "-wal"] {
        let mut q = p.as_os_str().to_owned();
        q.push(suffix);
        total += std::fs::metadata(&q).map(|m| m.len()).unwrap_or(0);
    }
    total
}

/// The entries the nested case stored, its longest path, and its
/// `path-too-long` findings.
fn nested_stored(db: &Path) -> Result<(i64, i64, i64)> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let (entries, longest) = c.query_row(
        "SELECT COUNT(*), COALESCE(MAX(length(path)), 0) FROM file",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let findings = c.query_row(
        "SELECT COUNT(*) FROM finding WHERE code = 'path-too-long'",
        [],
        |r| r.get(0),
    )?;
    Ok((entries, longest, findings))
}

fn scan_edges(db: &Path) -> Result<i64> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    Ok(c.query_row("SELECT COUNT(*) FROM edge", [], |r| r.get(0))?)
}

/// Time the loader listing `top` with `libdir` as its library path.
fn loader_time(libdir: &Path, top: &Path) -> Result<f64> {
    let t = Instant::now();
    let out = Command::new(HOST_LDSO)
        .arg("--library-path")
        .arg(libdir)
        .arg("--list")
        .arg(top)
        .output()?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "{HOST_LDSO} --list {} failed: {}",
            top.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(secs)
}

struct Case {
    what: String,
    root: PathBuf,
    top: Option<String>,
}

fn scan_case(kaudit: &Path, tmp: &Path, case: &Case) -> Result<()> {
    let db = tmp.join("hostile.db");
    for suffix in ["", "-wal", "-shm"] {
        let mut q = db.as_os_str().to_owned();
        q.push(suffix);
        let _ = std::fs::remove_file(&q);
    }
    let (secs, peak, out) = measure(&[
        kaudit.as_os_str(),
        "-q".as_ref(),
        "scan".as_ref(),
        "--root".as_ref(),
        case.root.as_os_str(),
        "--db".as_ref(),
        db.as_os_str(),
    ])?;
    if !out.status.success() {
        println!(
            "{}: kaudit scan failed ({}): {}",
            case.what,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return Ok(());
    }
    let edges = scan_edges(&db)?;
    let size = file_size(&db);
    print!(
        "{}: scan {secs:.2} s, peak {:.0} MB, {edges} edges, graph {:.1} MB",
        case.what,
        peak as f64 / 1024.0,
        size as f64 / 1e6
    );
    if let Some(top) = &case.top {
        let libdir = case.root.join(LIBDIR);
        let t = loader_time(&libdir, &libdir.join(top))?;
        println!(
            "; ld.so --list {top}: {t:.3} s; scan/loader {:.1}x",
            secs / t
        );
    } else {
        println!();
    }
    if edges > 0 {
        println!(
            "  per stored edge: {:.1} µs of scan",
            secs * 1e6 / edges as f64
        );
    }
    Ok(())
}

pub(crate) fn bench_scan_hostile(args: &[String]) -> Result<()> {
    let (mut n, mut chain, mut dirs) = (200usize, 2000usize, 30_000usize);
    let mut kaudit: Option<PathBuf> = None;
    let mut cases: Vec<String> = ["full", "chain", "rpath", "nested"]
        .map(String::from)
        .to_vec();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || -> Result<usize> {
            it.next()
                .with_context(|| format!("{a} needs a value"))?
                .parse()
                .with_context(|| format!("{a} needs a number"))
        };
        match a.as_str() {
            "--n" => n = val()?,
            "--chain" => chain = val()?,
            "--dirs" => dirs = val()?,
            "--cases" => {
                cases = it
                    .next()
                    .context("--cases needs a list")?
                    .split(',')
                    .map(String::from)
                    .collect()
            }
            "--kaudit" => kaudit = Some(it.next().context("--kaudit needs a path")?.into()),
            other => bail!("unknown argument {other}"),
        }
    }
    let kaudit = match kaudit {
        Some(k) => k,
        None => crate::build_release()?,
    };
    let tmp = std::env::temp_dir().join(format!("kaudit-bench-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let result = run(&kaudit, &tmp, n, chain, dirs, &cases);
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

fn run(
    kaudit: &Path,
    tmp: &Path,
    n: usize,
    chain: usize,
    dirs: usize,
    cases: &[String],
) -> Result<()> {
    let want = |c: &str| cases.iter().any(|x| x == c);
    if want("full") {
        full(kaudit, tmp, n)?;
    }
    if want("chain") {
        chained(kaudit, tmp, chain)?;
    }
    if want("rpath") {
        long_rpath(kaudit, tmp)?;
    }
    if want("nested") {
        nested(kaudit, tmp, dirs)?;
    }
    Ok(())
}

fn full(kaudit: &Path, tmp: &Path, n: usize) -> Result<()> {
    // N libraries each needing all N
    let root = tmp.join("full");
    glibc_root(&root)?;
    write_libs(&root, &elfgen::fully_connected("h", n))?;
    scan_case(
        kaudit,
        tmp,
        &Case {
            what: format!(
                "{n} libraries each needing all {n} ({} direct needs)",
                n * n
            ),
            root: root.clone(),
            top: Some(elfgen::lib_name("h", 0)),
        },
    )?;
    std::fs::remove_dir_all(&root)?;
    Ok(())
}

fn chained(kaudit: &Path, tmp: &Path, chain: usize) -> Result<()> {
    // a chain
    let root = tmp.join("chain");
    glibc_root(&root)?;
    write_libs(&root, &elfgen::chain("h", chain))?;
    scan_case(
        kaudit,
        tmp,
        &Case {
            what: format!("a chain of {chain} libraries"),
            root: root.clone(),
            top: Some(elfgen::lib_name("h", 0)),
        },
    )?;
    std::fs::remove_dir_all(&root)?;
    Ok(())
}

fn long_rpath(kaudit: &Path, tmp: &Path) -> Result<()> {
    // one library with a 4,000-entry DT_RPATH and 1,000 DT_NEEDED
    let root = tmp.join("rpath");
    glibc_root(&root)?;
    let mut libs: Vec<(String, SharedObject)> = (1..=1000)
        .map(|i| {
            (
                elfgen::lib_name("h", i),
                SharedObject {
                    soname: Some(elfgen::lib_name("h", i)),
                    ..SharedObject::default()
                },
            )
        })
        .collect();
    let rpath: Vec<String> = (0..4000).map(|i| format!("/opt/missing{i}")).collect();
    libs.push((
        elfgen::lib_name("h", 0),
        SharedObject {
            soname: Some(elfgen::lib_name("h", 0)),
            needed: (1..=1000).map(|i| elfgen::lib_name("h", i)).collect(),
            rpath: Some(rpath.join(":")),
        },
    ));
    write_libs(&root, &libs)?;
    let case = Case {
        what: "one library with a 4000-entry DT_RPATH and 1000 DT_NEEDED".into(),
        root: root.clone(),
        top: Some(elfgen::lib_name("h", 0)),
    };
    scan_case(kaudit, tmp, &case)?;
    let top = format!("/{LIBDIR}/{}", elfgen::lib_name("h", 0));
    let (secs, _, out) = measure(&[
        kaudit.as_os_str(),
        "deps".as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
        "--format".as_ref(),
        "list".as_ref(),
        top.as_ref(),
    ])?;
    let libdir = root.join(LIBDIR);
    let t = loader_time(&libdir, &libdir.join(elfgen::lib_name("h", 0)))?;
    println!(
        "  kaudit deps --root on it: {secs:.2} s ({} lines, {}); ld.so --list: {t:.3} s; deps/loader {:.0}x",
        out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count(),
        out.status,
        secs / t
    );
    std::fs::remove_dir_all(&root)?;
    Ok(())
}

fn nested(kaudit: &Path, tmp: &Path, dirs: usize) -> Result<()> {
    // nested directories, deeper than PATH_MAX: made one level at a time
    let root = tmp.join("nested");
    std::fs::create_dir_all(&root)?;
    let back = std::env::current_dir()?;
    std::env::set_current_dir(&root)?;
    for _ in 0..dirs {
        std::fs::create_dir("d")?;
        std::env::set_current_dir("d")?;
    }
    std::env::set_current_dir(&back)?;
    let longest = 2 * dirs;
    scan_case(
        kaudit,
        tmp,
        &Case {
            what: format!(
                "{dirs} nested directories (the deepest path {longest} bytes, {} bytes of paths in all)",
                dirs * (longest + 2) / 2
            ),
            root: root.clone(),
            top: None,
        },
    )?;
    if let Ok((entries, longest, findings)) = nested_stored(&tmp.join("hostile.db")) {
        println!(
            "  stored: {entries} entries, the longest path {longest} bytes; {findings} path-too-long finding(s)"
        );
    }
    let status = Command::new("rm").arg("-rf").arg(&root).status()?;
    if !status.success() {
        bail!("rm -rf {} failed", root.display());
    }
    Ok(())
}
