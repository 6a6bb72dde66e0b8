//! musl inherits RPATH/RUNPATH along the needed-by chain (glibc does not
//! inherit RUNPATH): a library found through the program's RUNPATH finds its
//! own dependency through that same RUNPATH.

use crate::support::{
    compare_with_oracle, require_root, Build, FixtureRoot, Toolchain, APP, MUSL_INTERP,
};

#[test]
fn musl_runpath_is_inherited_by_dependencies() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::musl();
    let libb = root.build_into(
        Build::lib("libb.so").toolchain(Toolchain::Musl),
        "/opt/m/libb.so",
    );
    let liba = root.build_into(
        Build::lib("liba.so")
            .toolchain(Toolchain::Musl)
            .calls("libb.so")
            .link(&libb),
        "/opt/m/liba.so",
    );
    root.build_into(
        Build::exe()
            .toolchain(Toolchain::Musl)
            .calls("liba.so")
            .link(&liba)
            .runpath("/opt/m"),
        APP,
    );
    // no path file entry leads to /opt/m: only the inherited RUNPATH does
    root.write("/etc/ld-musl-x86_64.path", "/lib\n");

    let oracle = root.oracle_musl(APP);
    assert!(
        oracle
            .by_name
            .iter()
            .any(|(n, p)| n == "libb.so" && p.as_os_str() == "/opt/m/libb.so"),
        "fixture check: musl should find libb.so through the inherited RUNPATH\n{}",
        oracle.show()
    );
    let deps = compare_with_oracle(&root, APP, &oracle);
    assert_eq!(deps.0["interpreter"], MUSL_INTERP);
    deps.assert_edge(APP, "liba.so", "/opt/m/liba.so", "runpath", Some(APP));
    // found through the program's RUNPATH, one level up the needed-by chain
    deps.assert_edge(
        "/opt/m/liba.so",
        "libb.so",
        "/opt/m/libb.so",
        "runpath",
        Some(APP),
    );
}
