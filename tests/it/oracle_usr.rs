//! glibc is the oracle: for every ELF executable and shared library under this
//! machine's `/usr`, `kaudit deps --root / --format json` must list the same
//! objects the system's own loader reports (`LD_TRACE_LOADED_OBJECTS=1 ld.so FILE`, as `ldd` runs it; vDSO dropped), both
//! sides canonicalised, and the same unresolved names. Any mismatch is printed
//! with both sides.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use kaudit_analyzer::elf;
use kaudit_analyzer::loader::default_interpreters;

struct Candidate {
    path: PathBuf,
    loader: PathBuf,
    /// A program with PT_INTERP (not a library loaded as the main object).
    program: bool,
}

/// Every loadable, dynamically linked ELF object under `dir` whose loader is
/// on this machine.
fn candidates(dir: &Path) -> Vec<Candidate> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir).follow_links(false) {
        let Ok(e) = e else { continue };
        if !e.file_type().is_file() {
            continue;
        }
        let Ok(f) = std::fs::File::open(e.path()) else {
            continue;
        };
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        let Ok(Some(info)) = elf::parse(&f, size) else {
            continue;
        };
        if !info.is_loadable() || info.linkage() != elf::Linkage::Dynamic {
            continue;
        }
        let loader = match &info.interp {
            Some(i) => PathBuf::from(String::from_utf8_lossy(i).into_owned()),
            None => match default_interpreters(info.machine, info.class64).first() {
                Some(l) => PathBuf::from(l),
                None => continue,
            },
        };
        // musl and foreign loaders are covered by the fixture roots
        if !loader.exists() || loader.to_string_lossy().contains("musl") {
            continue;
        }
        out.push(Candidate {
            path: e.path().to_path_buf(),
            loader,
            program: info.interp.is_some(),
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Side {
    files: BTreeSet<PathBuf>,
    unresolved: BTreeSet<String>,
    error: bool,
}

fn canon(p: &str) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| PathBuf::from(p))
}

fn oracle(c: &Candidate) -> Option<Side> {
    // trace mode as ldd uses it: a missing library prints "not found" instead
    // of aborting the listing (which `ld.so --list` does)
    let out = Command::new(&c.loader)
        .arg(&c.path)
        .env_clear()
        .env("LD_TRACE_LOADED_OBJECTS", "1")
        .output()
        .ok()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stdout.contains("statically linked") || stderr.contains("not a dynamic executable") {
        let mut side = Side::default();
        if c.program {
            side.files.insert(canon(&c.loader.to_string_lossy()));
        }
        return Some(side);
    }
    let mut side = Side::default();
    if !out.status.success() && stdout.trim().is_empty() {
        // the loader cannot run here (e.g. an x32 loader without kernel support)
        if stderr.contains("cannot execute") || stderr.contains("Exec format error") {
            return None;
        }
        side.error = true;
        return Some(side);
    }
    if stderr.contains("error while loading") {
        side.error = true;
    }
    for line in stdout.lines() {
        let line = line.trim();
        if line.starts_with("linux-vdso.so") || line.starts_with("linux-gate.so") || line.is_empty()
        {
            continue;
        }
        if let Some((name, rest)) = line.split_once(" => ") {
            if rest.trim() == "not found" {
                side.unresolved.insert(name.trim().to_string());
                continue;
            }
            let path = rest.rsplit_once(" (").map_or(rest, |(p, _)| p);
            side.files.insert(canon(path.trim()));
        } else {
            let path = line.rsplit_once(" (").map_or(line, |(p, _)| p);
            side.files.insert(canon(path.trim()));
        }
    }
    // the kernel maps the interpreter of a program even when no object names it
    if c.program {
        side.files.insert(canon(&c.loader.to_string_lossy()));
    }
    Some(side)
}

fn ours(batch: &[&Candidate]) -> Vec<Side> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kaudit"));
    cmd.args(["deps", "--root", "/", "--format", "json"]);
    for c in batch {
        cmd.arg(&c.path);
    }
    let out = cmd.output().expect("run kaudit");
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "kaudit deps failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let arr = match v {
        serde_json::Value::Array(a) => a,
        other => vec![other],
    };
    arr.iter()
        .zip(batch)
        .map(|(r, c)| {
            let mut side = Side::default();
            for o in r["objects"].as_array().into_iter().flatten() {
                side.files
                    .insert(canon(o["path"].as_str().unwrap_or_default()));
            }
            for u in r["unresolved"].as_array().into_iter().flatten() {
                side.unresolved
                    .insert(u["name"].as_str().unwrap_or_default().to_string());
            }
            side.error = !r["fatal"].is_null();
            if c.program {
                side.files.insert(canon(&c.loader.to_string_lossy()));
            }
            side
        })
        .collect()
}

#[test]
fn deps_of_every_elf_under_usr_matches_glibc_ld_so() {
    let all = candidates(Path::new("/usr"));
    assert!(all.len() > 200, "only {} ELF objects under /usr", all.len());
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2);
    let chunk = all.len().div_ceil(threads);
    let results: Vec<(usize, Vec<String>, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = all
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let mut mismatches = Vec::new();
                    let mut compared = 0;
                    let mut skipped = 0;
                    for batch in part.chunks(400) {
                        let refs: Vec<&Candidate> = batch.iter().collect();
                        let got = ours(&refs);
                        for (c, mine) in batch.iter().zip(got) {
                            let Some(want) = oracle(c) else {
                                skipped += 1;
                                continue;
                            };
                            compared += 1;
                            if want != mine {
                                mismatches.push(format!(
                                    "{}\n  ld.so : {:?}\n  kaudit: {:?}",
                                    c.path.display(),
                                    want,
                                    mine
                                ));
                            }
                        }
                    }
                    (compared, mismatches, skipped)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let compared: usize = results.iter().map(|r| r.0).sum();
    let skipped: usize = results.iter().map(|r| r.2).sum();
    let mismatches: Vec<&String> = results.iter().flat_map(|r| &r.1).collect();
    eprintln!(
        "compared {compared} ELF objects under /usr with ld.so --list ({skipped} whose loader cannot run here); {} mismatches",
        mismatches.len()
    );
    for m in mismatches.iter().take(30) {
        eprintln!("{m}");
    }
    assert!(compared > 200);
    assert!(mismatches.is_empty(), "{} mismatches", mismatches.len());
}
