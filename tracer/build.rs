//! Compiles the BPF name-capture program (`bpf/names.bpf.c`) with the
//! distribution's clang and libbpf headers. Without them the tracer builds
//! without it (names are then partial, and the run says so), unless
//! `KAUDIT_REQUIRE_BPF=1` makes that an error (CI sets it).

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=bpf/names.bpf.c");
    println!("cargo:rerun-if-env-changed=CLANG");
    println!("cargo:rerun-if-env-changed=KAUDIT_REQUIRE_BPF");
    println!("cargo:rustc-check-cfg=cfg(kaudit_bpf)");
    let required = env::var("KAUDIT_REQUIRE_BPF").is_ok_and(|v| v == "1");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if arch != "x86_64" {
        if required {
            panic!("the BPF name capture is written for x86-64 only (target: {arch})");
        }
        println!("cargo:warning=no BPF name capture on {arch}: names will be partial");
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
                panic!("compiling bpf/names.bpf.c failed:\n{msg}");
            }
            println!("cargo:warning=compiling bpf/names.bpf.c failed (apt-get install clang libbpf-dev): names will be partial");
        }
        Err(e) => {
            if required {
                panic!("cannot run {clang} to compile bpf/names.bpf.c: {e} (apt-get install clang libbpf-dev)");
            }
            println!("cargo:warning=no {clang} ({e}; apt-get install clang libbpf-dev): names will be partial");
        }
    }
}
