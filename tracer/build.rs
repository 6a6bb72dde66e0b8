//! Compiles the BPF name-capture program (`bpf/names.bpf.c`) with the
//! distribution's clang and libbpf headers. Without them the build fails,
//! naming the packages to install, unless `KAUDIT_NO_BPF=1` asks for a
//! tracer without the capture (names are then partial, and every run says
//! so). The script runs again when clang or the headers appear.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// The libbpf header the program includes first.
const HEADER: &str = "/usr/include/bpf/bpf_helpers.h";

/// `name` found in `$PATH` (or as given, when it holds a slash).
fn which(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    env::split_paths(&env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

const INSTALL: &str = "apt-get install clang libbpf-dev, or build with KAUDIT_NO_BPF=1 for a tracer without the name capture";

fn main() {
    println!("cargo:rerun-if-changed=bpf/names.bpf.c");
    println!("cargo:rerun-if-env-changed=CLANG");
    println!("cargo:rerun-if-env-changed=KAUDIT_NO_BPF");
    println!("cargo:rerun-if-env-changed=PATH");
    println!("cargo:rustc-check-cfg=cfg(kaudit_bpf)");
    // a build without the capture is asked for, never fallen into
    let required = !env::var("KAUDIT_NO_BPF").is_ok_and(|v| v == "1");
    // run again when clang or libbpf's headers appear (or change): a path
    // that does not exist makes cargo run the script at every build
    println!("cargo:rerun-if-changed={HEADER}");
    match which(&env::var("CLANG").unwrap_or_else(|_| "clang".to_string())) {
        Some(c) => println!("cargo:rerun-if-changed={}", c.display()),
        None => println!("cargo:rerun-if-changed=/usr/bin/clang"),
    }
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if arch != "x86_64" {
        if required {
            panic!("the BPF name capture is written for x86-64 only (target: {arch}); build with KAUDIT_NO_BPF=1 for a tracer without it");
        }
        println!("cargo:warning=KAUDIT_NO_BPF=1: no BPF name capture on {arch}: every trace's names will be partial, and `kaudit allowlist` refuses such runs unless a profile allows incomplete ones");
        return;
    }
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("names.bpf.o");
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    let result = Command::new(&clang)
        .args([
            "-O2",
            "-g",
            "-target",
            "bpf",
            "-D__TARGET_ARCH_x86",
            "-I/usr/include/x86_64-linux-gnu",
            "-Wall",
            "-c",
            "bpf/names.bpf.c",
            "-o",
        ])
        .arg(&out)
        .output();
    match result {
        Ok(o) if o.status.success() => println!("cargo:rustc-cfg=kaudit_bpf"),
        Ok(o) => {
            let msg = String::from_utf8_lossy(&o.stderr);
            if required {
                panic!("compiling bpf/names.bpf.c failed ({INSTALL}):\n{msg}");
            }
            println!("cargo:warning=KAUDIT_NO_BPF=1 and compiling bpf/names.bpf.c failed: the tracer is built WITHOUT the BPF name capture; every trace's names will be partial");
        }
        Err(e) => {
            if required {
                panic!("cannot run {clang} to compile bpf/names.bpf.c: {e} ({INSTALL})");
            }
            println!("cargo:warning=KAUDIT_NO_BPF=1 and no {clang} ({e}): the tracer is built WITHOUT the BPF name capture; every trace's names will be partial");
        }
    }
}
