//! One test per loader search rule: each builds its own root from the C
//! fixtures, asks the root's real loader (the oracle) what it loads, and
//! checks that `kaudit deps` prints the same closure in the same order and
//! names the rule that found each library.

use std::path::Path;

use crate::support::{
    assert_exit, code, compare_with_oracle, require_root, show, sqlite, Build, FixtureRoot, Layout,
    Toolchain, APP, GLIBC_INTERP, MUSL_INTERP,
};

const LIBC: &str = "/lib/x86_64-linux-gnu/libc.so.6";

fn assert_loader_path(oracle: &crate::support::Oracle, name: &str, expected: &str) {
    assert_eq!(
        oracle.path_of(name),
        Some(Path::new(expected)),
        "fixture check: the loader should find {name} at {expected}\n{}",
        oracle.show()
    );
}

fn assert_loader_unresolved(oracle: &crate::support::Oracle, name: &str) {
    assert!(
        oracle.unresolved.iter().any(|n| n == name),
        "fixture check: the loader should not find {name}\n{}",
        oracle.show()
    );
}

#[test]
fn rpath_of_executable_precedes_cache() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::Split);
    let liba = root.build_into(Build::lib("liba.so.1"), "/opt/app/lib/liba.so.1");
    // The same SONAME in a system directory, hence in the cache too.
    root.install(&liba, "/usr/lib/x86_64-linux-gnu/liba.so.1");
    root.build_into(
        Build::exe()
            .calls("liba.so.1")
            .link(&liba)
            .rpath("/opt/app/lib"),
        APP,
    );
    root.ldconfig();

    let oracle = root.oracle(APP);
    assert_loader_path(&oracle, "liba.so.1", "/opt/app/lib/liba.so.1");
    assert_loader_path(&oracle, "libc.so.6", LIBC);

    let deps = compare_with_oracle(&root, APP, &oracle);
    assert_eq!(deps.0["interpreter"], GLIBC_INTERP);
    assert_eq!(deps.0["loader"], "glibc");
    assert_eq!(deps.0["linkage"], "dynamic");
    deps.assert_edge(
        APP,
        "liba.so.1",
        "/opt/app/lib/liba.so.1",
        "rpath",
        Some(APP),
    );
    deps.assert_edge(APP, "libc.so.6", LIBC, "ld-so-cache", None);
}

#[test]
fn runpath_overrides_rpath_in_same_object() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::Split);
    let libb = root.build(Build::lib("libb.so.1"));
    // Where each candidate search would find libb.so.1: the executable's
    // RPATH, liba's (ignored) RPATH, liba's RUNPATH.
    for dir in ["/opt/exe-rpath", "/opt/lib-rpath", "/opt/lib-runpath"] {
        root.install(&libb, format!("{dir}/libb.so.1"));
    }
    let liba = root.build_into(
        Build::lib("liba.so.1")
            .calls("libb.so.1")
            .link(&libb)
            .rpath_and_runpath("/opt/lib-rpath", "/opt/lib-runpath"),
        "/opt/exe-rpath/liba.so.1",
    );
    root.build_into(
        Build::exe()
            .calls("liba.so.1")
            .link(&liba)
            .rpath("/opt/exe-rpath"),
        APP,
    );
    root.ldconfig();

    let oracle = root.oracle(APP);
    assert_loader_path(&oracle, "liba.so.1", "/opt/exe-rpath/liba.so.1");
    assert_loader_path(&oracle, "libb.so.1", "/opt/lib-runpath/libb.so.1");

    let deps = compare_with_oracle(&root, APP, &oracle);
    deps.assert_edge(
        APP,
        "liba.so.1",
        "/opt/exe-rpath/liba.so.1",
        "rpath",
        Some(APP),
    );
    deps.assert_edge(
        "/opt/exe-rpath/liba.so.1",
        "libb.so.1",
        "/opt/lib-runpath/libb.so.1",
        "runpath",
        Some("/opt/exe-rpath/liba.so.1"),
    );
}

#[test]
fn runpath_is_not_inherited() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::Split);
    let libb = root.build_into(Build::lib("libb.so.1"), "/opt/r/libb.so.1");
    let liba = root.build_into(
        Build::lib("liba.so.1").calls("libb.so.1").link(&libb),
        "/opt/r/liba.so.1",
    );
    root.build_into(
        Build::exe()
            .calls("liba.so.1")
            .link(&liba)
            .runpath("/opt/r"),
        APP,
    );
    root.ldconfig();

    let oracle = root.oracle(APP);
    assert_loader_path(&oracle, "liba.so.1", "/opt/r/liba.so.1");
    assert_loader_unresolved(&oracle, "libb.so.1");

    let deps = compare_with_oracle(&root, APP, &oracle);
    deps.assert_edge(APP, "liba.so.1", "/opt/r/liba.so.1", "runpath", Some(APP));
    let edge = deps.edge("/opt/r/liba.so.1", "libb.so.1");
    assert_eq!(edge["rule"], "not-found", "{edge:#}");
    assert_eq!(
        deps.unresolved(),
        vec![("libb.so.1".to_owned(), "/opt/r/liba.so.1".to_owned())]
    );
}

/// glibc searches the RPATHs of the objects that *first loaded* each library
/// (BFS order), not of the path through which a depth-first walk reaches it.
///
/// app needs libx, liby (both via app's RPATH); libx needs libp; libp and
/// liby both need libq, which BFS loads for liby. libq needs libr, present in
/// libx's RPATH dir and in liby's: glibc takes liby's.
#[test]
fn rpath_is_inherited_through_first_loader_chain() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::Split);
    let libr = root.build(Build::lib("libr.so.1"));
    root.install(&libr, "/opt/rx/libr.so.1");
    root.install(&libr, "/opt/ry/libr.so.1");
    let libq = root.build_into(
        Build::lib("libq.so.1").calls("libr.so.1").link(&libr),
        "/opt/ry/libq.so.1",
    );
    let libp = root.build_into(
        Build::lib("libp.so.1").calls("libq.so.1").link(&libq),
        "/opt/rx/libp.so.1",
    );
    let libx = root.build_into(
        Build::lib("libx.so.1")
            .calls("libp.so.1")
            .link(&libp)
            .rpath("/opt/rx"),
        "/opt/rx/libx.so.1",
    );
    let liby = root.build_into(
        Build::lib("liby.so.1")
            .calls("libq.so.1")
            .link(&libq)
            .rpath("/opt/ry"),
        "/opt/ry/liby.so.1",
    );
    root.build_into(
        Build::exe()
            .calls("libx.so.1")
            .link(&libx)
            .link(&liby)
            .rpath("/opt/rx:/opt/ry"),
        APP,
    );
    root.ldconfig();

    let oracle = root.oracle(APP);
    assert_loader_path(&oracle, "libq.so.1", "/opt/ry/libq.so.1");
    assert_loader_path(&oracle, "libr.so.1", "/opt/ry/libr.so.1");

    let deps = compare_with_oracle(&root, APP, &oracle);
    deps.assert_edge(
        "/opt/rx/libx.so.1",
        "libp.so.1",
        "/opt/rx/libp.so.1",
        "rpath",
        Some("/opt/rx/libx.so.1"),
    );
    deps.assert_edge(
        "/opt/ry/liby.so.1",
        "libq.so.1",
        "/opt/ry/libq.so.1",
        "rpath",
        Some("/opt/ry/liby.so.1"),
    );
    // libq has no RPATH: its first loader's (liby's) supplies the directory.
    deps.assert_edge(
        "/opt/ry/libq.so.1",
        "libr.so.1",
        "/opt/ry/libr.so.1",
        "rpath",
        Some("/opt/ry/liby.so.1"),
    );
    let edge = deps.edge("/opt/rx/libp.so.1", "libq.so.1");
    assert_eq!(edge["rule"], "already-loaded", "{edge:#}");
    assert_eq!(edge["to"], "/opt/ry/libq.so.1", "{edge:#}");
}

#[test]
fn origin_in_executable_rpath() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::Split);
    let exe = "/opt/app/bin/app";
    let liba = root.build_into(Build::lib("liba.so.1"), "/opt/app/lib/liba.so.1");
    root.build_into(
        Build::exe()
            .calls("liba.so.1")
            .link(&liba)
            .rpath("$ORIGIN/../lib"),
        exe,
    );
    root.ldconfig();

    let oracle = root.oracle(exe);
    assert_loader_path(&oracle, "liba.so.1", "/opt/app/bin/../lib/liba.so.1");

    let deps = compare_with_oracle(&root, exe, &oracle);
    deps.assert_edge(
        exe,
        "liba.so.1",
        "/opt/app/bin/../lib/liba.so.1",
        "rpath",
        Some(exe),
    );
    assert_eq!(
        deps.object("/opt/app/bin/../lib/liba.so.1")["file"],
        "/opt/app/lib/liba.so.1"
    );
}

/// A program started through a symlink gets `$ORIGIN` from its real path
/// (/proc/self/exe). `ld.so --list LINK` would use the link's directory, so
/// this oracle starts the program for real, with LD_TRACE_LOADED_OBJECTS=1.
#[test]
fn origin_of_symlinked_executable_is_its_real_directory() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::Split);
    let liba = root.build(Build::lib("liba.so.1"));
    root.install(&liba, "/opt/app/lib/liba.so.1");
    // Where `$ORIGIN/../lib` points when computed from the link's directory.
    root.install(&liba, "/usr/lib/liba.so.1");
    root.build_into(
        Build::exe()
            .calls("liba.so.1")
            .link(&liba)
            .rpath("$ORIGIN/../lib"),
        "/opt/app/bin/app",
    );
    root.symlink("../../opt/app/bin/app", APP);
    root.ldconfig();

    let oracle = root.oracle_exec(APP);
    assert_loader_path(&oracle, "liba.so.1", "/opt/app/bin/../lib/liba.so.1");

    let deps = compare_with_oracle(&root, APP, &oracle);
    assert_eq!(deps.0["file"], "/opt/app/bin/app");
    let edge = deps.edge(APP, "liba.so.1");
    assert_eq!(edge["rule"], "rpath", "{edge:#}");
    assert_eq!(edge["to"], "/opt/app/bin/../lib/liba.so.1", "{edge:#}");
}

/// A library's `$ORIGIN` is the directory of the path it was opened by, not
/// of its real path: liba is opened as /opt/pkg/lib/liba.so.1, a symlink to
/// /opt/real/liba.so.1, and its `$ORIGIN/deps` is /opt/pkg/lib/deps.
#[test]
fn origin_in_library_is_directory_as_opened() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::Split);
    let libb = root.build(Build::lib("libb.so.1"));
    root.install(&libb, "/opt/pkg/lib/deps/libb.so.1");
    root.install(&libb, "/opt/real/deps/libb.so.1");
    let liba = root.build_into(
        Build::lib("liba.so.1")
            .calls("libb.so.1")
            .link(&libb)
            .rpath("$ORIGIN/deps"),
        "/opt/real/liba.so.1",
    );
    root.symlink("../../real/liba.so.1", "/opt/pkg/lib/liba.so.1");
    root.build_into(
        Build::exe()
            .calls("liba.so.1")
            .link(&liba)
            .rpath("/opt/pkg/lib"),
        APP,
    );
    root.ldconfig();

    let oracle = root.oracle(APP);
    assert_loader_path(&oracle, "liba.so.1", "/opt/pkg/lib/liba.so.1");
    assert_loader_path(&oracle, "libb.so.1", "/opt/pkg/lib/deps/libb.so.1");

    let deps = compare_with_oracle(&root, APP, &oracle);
    assert_eq!(
        deps.object("/opt/pkg/lib/liba.so.1")["file"],
        "/opt/real/liba.so.1"
    );
    deps.assert_edge(
        "/opt/pkg/lib/liba.so.1",
        "libb.so.1",
        "/opt/pkg/lib/deps/libb.so.1",
        "rpath",
        Some("/opt/pkg/lib/liba.so.1"),
    );
}

/// Debian's ld.so expands `$LIB` to `lib/x86_64-linux-gnu` (upstream would
/// give `lib64`).
#[test]
fn lib_token_expands_to_debian_multiarch_dir() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::Split);
    let liba = root.build(Build::lib("liba.so.1"));
    for dir in ["/opt/lib/x86_64-linux-gnu", "/opt/lib64", "/opt/lib"] {
        root.install(&liba, format!("{dir}/liba.so.1"));
    }
    root.build_into(
        Build::exe()
            .calls("liba.so.1")
            .link(&liba)
            .rpath("/opt/$LIB"),
        APP,
    );
    root.ldconfig();

    let oracle = root.oracle(APP);
    assert_loader_path(&oracle, "liba.so.1", "/opt/lib/x86_64-linux-gnu/liba.so.1");

    let deps = compare_with_oracle(&root, APP, &oracle);
    deps.assert_edge(
        APP,
        "liba.so.1",
        "/opt/lib/x86_64-linux-gnu/liba.so.1",
        "rpath",
        Some(APP),
    );
}

/// `$PLATFORM` is AT_PLATFORM: `x86_64` from the kernel, which glibc 2.36
/// replaces by `haswell` or `xeon_phi` on some Intel CPUs. Copies sit under
/// all three; where the loader here differs from `x86_64`, kaudit must at
/// least say that the answer depends on the CPU.
#[test]
fn platform_token_expands_to_at_platform() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::Split);
    let liba = root.build(Build::lib("liba.so.1"));
    for platform in ["x86_64", "haswell", "xeon_phi"] {
        root.install(&liba, format!("/opt/{platform}/liba.so.1"));
    }
    root.build_into(
        Build::exe()
            .calls("liba.so.1")
            .link(&liba)
            .rpath("/opt/$PLATFORM"),
        APP,
    );
    root.ldconfig();

    let oracle = root.oracle(APP);
    let found = oracle
        .path_of("liba.so.1")
        .unwrap_or_else(|| panic!("the loader found no liba.so.1\n{}", oracle.show()))
        .to_owned();
    if found == Path::new("/opt/x86_64/liba.so.1") {
        let deps = compare_with_oracle(&root, APP, &oracle);
        deps.assert_edge(
            APP,
            "liba.so.1",
            "/opt/x86_64/liba.so.1",
            "rpath",
            Some(APP),
        );
    } else {
        let (out, deps) = root.deps_json(APP);
        assert_exit(&out, 0, "deps --format json");
        assert!(
            deps.finding_codes().contains(&"cpu-dependent"),
            "this CPU's loader chose {}, kaudit must flag the choice: {:#}",
            found.display(),
            deps.0
        );
    }
}

/// DF_1_NODEFLIB on liba: its DT_NEEDED may not come from a cache entry under
/// a system directory, nor from the system directories; a cache entry for a
/// directory listed in ld.so.conf is still fine.
#[test]
fn nodefaultlib_rejects_cache_and_system_dirs() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::Split);
    let libsys = root.build_into(
        Build::lib("libsys.so.1"),
        "/usr/lib/x86_64-linux-gnu/libsys.so.1",
    );
    let libconf = root.build_into(Build::lib("libconf.so.1"), "/opt/conf/libconf.so.1");
    let liba = root.build_into(
        Build::lib("liba.so.1")
            .calls("libsys.so.1")
            .link(&libsys)
            .link(&libconf)
            .ldflag("-Wl,-z,nodefaultlib"),
        "/opt/r/liba.so.1",
    );
    root.build_into(
        Build::exe().calls("liba.so.1").link(&liba).rpath("/opt/r"),
        APP,
    );
    root.ld_so_conf("/opt/conf\n");
    root.ldconfig();

    let oracle = root.oracle(APP);
    assert_loader_unresolved(&oracle, "libsys.so.1");
    assert_loader_path(&oracle, "libconf.so.1", "/opt/conf/libconf.so.1");

    let deps = compare_with_oracle(&root, APP, &oracle);
    deps.assert_edge(
        "/opt/r/liba.so.1",
        "libconf.so.1",
        "/opt/conf/libconf.so.1",
        "ld-so-cache",
        None,
    );
    assert_eq!(
        deps.unresolved(),
        vec![("libsys.so.1".to_owned(), "/opt/r/liba.so.1".to_owned())]
    );
}

/// A library already loaded under another file name is reused when a later
/// DT_NEEDED names its DT_SONAME: /opt/r/libfoo-2.0.so has SONAME
/// libfoo.so.1, and no file is called libfoo.so.1.
#[test]
fn soname_match_reuses_loaded_object() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::Split);
    root.build_into(Build::lib("libfoo.so.1"), "/opt/r/libfoo-2.0.so");
    // Link-time stand-ins that give the DT_NEEDED strings wanted.
    let foo_as_file = root.build(Build::lib("libfoo-2.0.so"));
    let foo_as_soname = root.build(Build::lib("libfoo.so.1"));
    let liba = root.build_into(
        Build::lib("liba.so.1")
            .calls("libfoo.so.1")
            .link(&foo_as_soname),
        "/opt/r/liba.so.1",
    );
    root.build_into(
        Build::exe()
            .calls("liba.so.1")
            .link(&foo_as_file)
            .link(&liba)
            .rpath("/opt/r"),
        APP,
    );
    root.ldconfig();

    let oracle = root.oracle(APP);
    assert_loader_path(&oracle, "libfoo-2.0.so", "/opt/r/libfoo-2.0.so");
    assert!(oracle.unresolved.is_empty(), "{}", oracle.show());

    let deps = compare_with_oracle(&root, APP, &oracle);
    let edge = deps.edge("/opt/r/liba.so.1", "libfoo.so.1");
    assert_eq!(edge["rule"], "already-loaded", "{edge:#}");
    assert_eq!(edge["match"], "soname", "{edge:#}");
    assert_eq!(edge["to"], "/opt/r/libfoo-2.0.so", "{edge:#}");
    assert_eq!(edge["via"], "/opt/r/libfoo-2.0.so", "{edge:#}");
    let libc = deps.edge("/opt/r/liba.so.1", "libc.so.6");
    assert_eq!(libc["rule"], "already-loaded", "{libc:#}");
    assert_eq!(libc["match"], "name", "{libc:#}");
}

/// A DT_NEEDED name that finds a new path which is the same file (same
/// device and inode) as a loaded object reuses that object.
#[test]
fn inode_match_reuses_loaded_object() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::Split);
    let liba = root.build_into(Build::lib("liba.so.1"), "/opt/r/liba.so.1");
    root.symlink("liba.so.1", "/opt/r/libalias.so.1");
    let alias = root.build(Build::lib("libalias.so.1"));
    root.build_into(
        Build::exe()
            .calls("liba.so.1")
            .link(&liba)
            .link(&alias)
            .rpath("/opt/r"),
        APP,
    );
    root.ldconfig();

    let oracle = root.oracle(APP);
    assert_loader_path(&oracle, "liba.so.1", "/opt/r/liba.so.1");
    assert!(oracle.unresolved.is_empty(), "{}", oracle.show());
    assert!(
        !oracle
            .resolved
            .contains(&Path::new("/opt/r/libalias.so.1").to_owned()),
        "fixture check: the loader should not load the alias again\n{}",
        oracle.show()
    );

    let deps = compare_with_oracle(&root, APP, &oracle);
    let edge = deps.edge(APP, "libalias.so.1");
    assert_eq!(edge["rule"], "already-loaded", "{edge:#}");
    assert_eq!(edge["match"], "inode", "{edge:#}");
    assert_eq!(edge["to"], "/opt/r/liba.so.1", "{edge:#}");
}

/// A DT_NEEDED containing `/` is opened as given, without any search.
#[test]
fn direct_path_needed_is_opened_as_given() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::Split);
    let name = "/opt/direct/libd.so.1";
    let libd = root.build_into(Build::lib(name), name);
    root.build_into(Build::exe().calls(name).link(&libd), APP);
    root.ldconfig();

    let oracle = root.oracle(APP);
    assert!(
        oracle.resolved.contains(&Path::new(name).to_owned()),
        "{}",
        oracle.show()
    );

    let deps = compare_with_oracle(&root, APP, &oracle);
    deps.assert_edge(APP, name, name, "direct", None);
}

/// A library installed after the cache was built is found in the system
/// directories.
#[test]
fn system_dir_finds_library_missing_from_cache() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::Split);
    root.ldconfig();
    let liba = root.build_into(
        Build::lib("liba.so.1"),
        "/usr/lib/x86_64-linux-gnu/liba.so.1",
    );
    root.build_into(Build::exe().calls("liba.so.1").link(&liba), APP);
    assert!(!root.cache_mentions("/usr/lib/x86_64-linux-gnu/liba.so.1"));

    let oracle = root.oracle(APP);
    assert_loader_path(&oracle, "liba.so.1", "/usr/lib/x86_64-linux-gnu/liba.so.1");

    let deps = compare_with_oracle(&root, APP, &oracle);
    deps.assert_edge(
        APP,
        "liba.so.1",
        "/usr/lib/x86_64-linux-gnu/liba.so.1",
        "system-dir",
        None,
    );
    deps.assert_edge(APP, "libc.so.6", LIBC, "ld-so-cache", None);
}

/// Debian 12's merged /usr: `/lib -> usr/lib`. The loader prints the paths
/// as it opened them (`/lib/...`, `/lib64/...`); `file` is canonical.
#[test]
fn usr_merged_root_prints_paths_as_opened() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::UsrMerged);
    let liba = root.build_into(
        Build::lib("liba.so.1"),
        "/usr/lib/x86_64-linux-gnu/liba.so.1",
    );
    root.build_into(Build::exe().calls("liba.so.1").link(&liba), APP);
    root.ld_so_conf("/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n");
    root.ldconfig();

    let oracle = root.oracle(APP);
    assert_loader_path(&oracle, "libc.so.6", LIBC);
    assert!(
        oracle
            .resolved
            .contains(&Path::new(GLIBC_INTERP).to_owned()),
        "{}",
        oracle.show()
    );

    let deps = compare_with_oracle(&root, APP, &oracle);
    assert_eq!(
        deps.object(LIBC)["file"],
        "/usr/lib/x86_64-linux-gnu/libc.so.6"
    );
    assert_eq!(
        deps.object(GLIBC_INTERP)["file"],
        "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    );
    assert_eq!(deps.object(GLIBC_INTERP)["rule"], "interpreter");
}

/// A 32-bit library found first is skipped (wrong ELF class) and the search
/// goes on to the right one.
#[test]
fn wrong_class_library_is_skipped() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::Split);
    root.build_into(
        Build::lib("liba.so.1").toolchain(Toolchain::Gnu32),
        "/opt/r32/liba.so.1",
    );
    let liba = root.build_into(Build::lib("liba.so.1"), "/opt/r64/liba.so.1");
    root.build_into(
        Build::exe()
            .calls("liba.so.1")
            .link(&liba)
            .rpath("/opt/r32:/opt/r64"),
        APP,
    );
    root.ldconfig();

    let oracle = root.oracle(APP);
    assert_loader_path(&oracle, "liba.so.1", "/opt/r64/liba.so.1");

    let deps = compare_with_oracle(&root, APP, &oracle);
    deps.assert_edge(APP, "liba.so.1", "/opt/r64/liba.so.1", "rpath", Some(APP));
    let skipped = deps.findings("wrong-class-skipped");
    assert!(
        skipped.iter().any(|f| f["path"] == "/opt/r32/liba.so.1"),
        "no wrong-class-skipped finding for /opt/r32/liba.so.1: {:#}",
        deps.0
    );
}

#[test]
fn missing_library_is_unresolved() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::Split);
    let stand_in = root.build(Build::lib("libmissing.so.1"));
    root.build_into(Build::exe().calls("libmissing.so.1").link(&stand_in), APP);
    root.ldconfig();

    let oracle = root.oracle(APP);
    assert_loader_unresolved(&oracle, "libmissing.so.1");

    let deps = compare_with_oracle(&root, APP, &oracle);
    assert_eq!(
        deps.unresolved(),
        vec![("libmissing.so.1".to_owned(), APP.to_owned())]
    );
    let findings = deps.findings("unresolved-needed");
    assert!(
        findings
            .iter()
            .any(|f| f["path"] == APP && f["severity"] == "error"),
        "{:#}",
        deps.0
    );
    assert_eq!(deps.edge(APP, "libmissing.so.1")["rule"], "not-found");
}

/// The cache names /opt/conf/liba.so.1, which has since moved to a system
/// directory: the cache hit fails and the search goes on there.
#[test]
fn stale_cache_entry_falls_back_to_system_dirs() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::Split);
    let liba = root.build_into(Build::lib("liba.so.1"), "/opt/conf/liba.so.1");
    root.build_into(Build::exe().calls("liba.so.1").link(&liba), APP);
    root.ld_so_conf("/opt/conf\n");
    root.ldconfig();
    std::fs::rename(
        root.host("/opt/conf/liba.so.1"),
        root.host("/usr/lib/x86_64-linux-gnu/liba.so.1"),
    )
    .expect("move liba");
    assert!(
        root.cache_mentions("/opt/conf/liba.so.1"),
        "fixture check: the cache should name the old place"
    );

    let oracle = root.oracle(APP);
    assert_loader_path(&oracle, "liba.so.1", "/usr/lib/x86_64-linux-gnu/liba.so.1");

    let deps = compare_with_oracle(&root, APP, &oracle);
    deps.assert_edge(
        APP,
        "liba.so.1",
        "/usr/lib/x86_64-linux-gnu/liba.so.1",
        "system-dir",
        None,
    );
    assert!(
        deps.finding_codes().contains(&"stale-cache-entry"),
        "{:#}",
        deps.0
    );
}

/// With no /etc/ld.so.cache (as in many container images) kaudit recomputes
/// what ldconfig would have cached from ld.so.conf, following `include`
/// globs. The expected answer is the loader's on an identical root where
/// ldconfig did build the cache (ld.so itself never reads ld.so.conf).
#[test]
fn ld_so_conf_include_globs_without_cache() {
    if !require_root() {
        return;
    }
    let build = |root: &FixtureRoot| {
        let liba = root.build_into(Build::lib("liba.so.1"), "/opt/one/liba.so.1");
        let libb = root.build_into(Build::lib("libb.so.1"), "/opt/two/libb.so.1");
        // A file the glob does not match, listing a directory with a decoy.
        root.install(&liba, "/opt/three/liba.so.1");
        root.build_into(Build::exe().calls("liba.so.1").link(&liba).link(&libb), APP);
        root.ld_so_conf("# comment\ninclude /etc/ld.so.conf.d/*.conf\n");
        root.write("/etc/ld.so.conf.d/a.conf", "/opt/one\n");
        root.write(
            "/etc/ld.so.conf.d/b.conf",
            "  /opt/two   # trailing comment\n",
        );
        root.write("/etc/ld.so.conf.d/c.conf.disabled", "/opt/three\n");
    };
    let cached = FixtureRoot::glibc(Layout::Split);
    build(&cached);
    cached.ldconfig();
    assert!(cached.cache_mentions("/opt/one/liba.so.1"));
    assert!(cached.cache_mentions("/opt/two/libb.so.1"));
    assert!(!cached.cache_mentions("/opt/three/liba.so.1"));
    let oracle = cached.oracle(APP);
    assert_loader_path(&oracle, "liba.so.1", "/opt/one/liba.so.1");
    assert_loader_path(&oracle, "libb.so.1", "/opt/two/libb.so.1");
    let with_cache = compare_with_oracle(&cached, APP, &oracle);
    with_cache.assert_edge(APP, "liba.so.1", "/opt/one/liba.so.1", "ld-so-cache", None);

    let uncached = FixtureRoot::glibc(Layout::Split);
    build(&uncached);
    assert!(!uncached.host("/etc/ld.so.cache").exists());
    let deps = compare_with_oracle(&uncached, APP, &oracle);
    for (name, to) in [
        ("liba.so.1", "/opt/one/liba.so.1"),
        ("libb.so.1", "/opt/two/libb.so.1"),
    ] {
        let edge = deps.edge(APP, name);
        assert_eq!(edge["to"], to, "{edge:#}");
        assert_ne!(edge["rule"], "not-found", "{edge:#}");
    }
}

fn musl_app(root: &FixtureRoot, libdir: &str) {
    let libb = root.build_into(
        Build::lib("libb.so").toolchain(Toolchain::Musl),
        format!("{libdir}/libb.so"),
    );
    let liba = root.build_into(
        Build::lib("liba.so")
            .toolchain(Toolchain::Musl)
            .calls("libb.so")
            .link(&libb),
        format!("{libdir}/liba.so"),
    );
    root.build_into(
        Build::exe()
            .toolchain(Toolchain::Musl)
            .calls("liba.so")
            .link(&liba),
        APP,
    );
}

/// musl reads its system path from /etc/ld-musl-x86_64.path; `libc.so` is
/// the loader itself.
#[test]
fn musl_path_file() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::musl();
    musl_app(&root, "/opt/musl/lib");
    // Also in a default-path directory, which the path file replaces.
    root.build_into(
        Build::lib("liba.so").toolchain(Toolchain::Musl),
        "/usr/lib/liba.so",
    );
    root.write("/etc/ld-musl-x86_64.path", "/opt/empty\n/opt/musl/lib\n");

    let oracle = root.oracle_musl(APP);
    assert_loader_path(&oracle, "liba.so", "/opt/musl/lib/liba.so");
    assert_loader_path(&oracle, "libb.so", "/opt/musl/lib/libb.so");
    assert_loader_path(&oracle, "libc.so", MUSL_INTERP);
    assert!(oracle.relocation_errors.is_empty(), "{}", oracle.show());

    let deps = compare_with_oracle(&root, APP, &oracle);
    assert_eq!(deps.0["loader"], "musl");
    assert_eq!(deps.0["interpreter"], MUSL_INTERP);
    deps.assert_edge(
        APP,
        "liba.so",
        "/opt/musl/lib/liba.so",
        "musl-path-file",
        None,
    );
    deps.assert_edge(
        "/opt/musl/lib/liba.so",
        "libb.so",
        "/opt/musl/lib/libb.so",
        "musl-path-file",
        None,
    );
    assert_eq!(deps.edge(APP, "libc.so")["rule"], "musl-reserved");
    assert_eq!(deps.edge(APP, "libc.so")["to"], MUSL_INTERP);
}

/// Without a path file musl searches /lib:/usr/local/lib:/usr/lib.
#[test]
fn musl_default_path() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::musl();
    musl_app(&root, "/usr/local/lib");

    let oracle = root.oracle_musl(APP);
    assert_loader_path(&oracle, "liba.so", "/usr/local/lib/liba.so");
    assert!(oracle.relocation_errors.is_empty(), "{}", oracle.show());

    let deps = compare_with_oracle(&root, APP, &oracle);
    deps.assert_edge(
        APP,
        "liba.so",
        "/usr/local/lib/liba.so",
        "musl-default-path",
        None,
    );
    assert_eq!(deps.edge(APP, "libc.so")["rule"], "musl-reserved");
}

/// Shebang edge rows of a scanned root: `name|path|rule` for each edge of
/// kind `shebang`.
fn shebang_edges(root: &FixtureRoot) -> String {
    let db = root.scratch("scan.db");
    let out = root.scan(&db);
    assert_exit(&out, 0, "kaudit scan");
    sqlite(
        &db,
        "SELECT CAST(name AS TEXT), CAST(path AS TEXT), rule FROM edge WHERE kind = 'shebang';",
    )
}

/// `#!/bin/sh -e`: an edge of kind `shebang` to the interpreter; `deps` on a
/// script reports it as not ELF.
#[test]
fn shebang_plain_interpreter() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::Split);
    let sh = root.build(Build::exe());
    root.install(&sh, "/bin/sh");
    root.write_exec("/usr/bin/script", "#!/bin/sh -e\necho hello\n");
    root.ldconfig();

    // Whether that is an error (2) or an empty closure (0) is kaudit's call;
    // it is not an unresolved library (1).
    let (out, deps) = root.deps_json("/usr/bin/script");
    assert_ne!(code(&out), 1, "deps on a script\n{}", show(&out));
    assert_eq!(deps.0["linkage"], "not-elf", "{:#}", deps.0);

    let rows = shebang_edges(&root);
    assert!(
        rows.lines()
            .any(|row| row.split('|').take(2).any(|field| field == "/bin/sh")),
        "no shebang edge to /bin/sh; shebang edges:\n{rows}"
    );
}

/// `#!/usr/bin/env NAME`: an edge to env, and one to NAME as found in PATH.
#[test]
fn shebang_env_interpreter_found_through_path() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::Split);
    let program = root.build(Build::exe());
    root.install(&program, "/usr/bin/env");
    root.install(&program, "/usr/bin/kaudit-interp");
    root.write_exec("/opt/tool/run", "#!/usr/bin/env kaudit-interp\nprint\n");
    root.ldconfig();

    let rows = shebang_edges(&root);
    let fields: Vec<Vec<&str>> = rows.lines().map(|row| row.split('|').collect()).collect();
    assert!(
        fields
            .iter()
            .any(|f| f.iter().take(2).any(|v| *v == "/usr/bin/env")),
        "no shebang edge to /usr/bin/env; shebang edges:\n{rows}"
    );
    assert!(
        fields
            .iter()
            .any(|f| f.get(1) == Some(&"/usr/bin/kaudit-interp")),
        "no shebang edge to the interpreter found through PATH; shebang edges:\n{rows}"
    );
}
