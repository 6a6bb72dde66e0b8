//! `cargo xtask bench`: a release scan of a root timed against `scanelf` and
//! an `ldd` loop, whose outputs are the oracle of the graph it wrote.

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::build_release;

pub(crate) fn bench(args: &[String]) -> Result<()> {
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
