//! Broken and hostile inputs. Inside a root each one is a finding and the
//! run goes on: `scan` exits 0 and `deps` of a good program in the same root
//! still agrees with the loader. Bad invocations (missing root, root that is
//! a file, unusable database) exit 2 naming the offending path.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::unistd::mkfifo;

use crate::support::{
    assert_exit, assert_list_matches, bytes_path, code, compare_with_oracle, host_tool, kaudit,
    require_root, run_with_timeout, show, sqlite, Build, FixtureRoot, Layout, Oracle, APP,
};

const GOOD_LIB: &str = "/usr/lib/x86_64-linux-gnu/liba.so.1";

/// A glibc root whose /usr/bin/app needs liba.so.1 from a system directory,
/// with the cache built.
fn good_root() -> (FixtureRoot, PathBuf) {
    let root = FixtureRoot::glibc(Layout::Split);
    let liba = root.build_into(Build::lib("liba.so.1"), GOOD_LIB);
    root.build_into(Build::exe().calls("liba.so.1").link(&liba), APP);
    root.ldconfig();
    (root, liba)
}

/// The loader's view of the good program (checked to find liba.so.1).
fn good_oracle(root: &FixtureRoot) -> Oracle {
    let oracle = root.oracle(APP);
    assert_eq!(
        oracle.path_of("liba.so.1"),
        Some(Path::new(GOOD_LIB)),
        "fixture check: the good program should load\n{}",
        oracle.show()
    );
    oracle
}

/// `deps` of the good program still matches the loader.
fn assert_good_app_resolves(root: &FixtureRoot, oracle: &Oracle) {
    compare_with_oracle(root, APP, oracle);
}

/// Runs `scan` (bounded in time), asserts exit 0, and returns the findings
/// table as `(code, raw path)` pairs.
fn scan_findings(root: &FixtureRoot) -> Vec<(String, Vec<u8>)> {
    let db = root.scratch("scan.db");
    let _ = fs::remove_file(&db);
    let out = root.scan(&db);
    assert_exit(&out, 0, "kaudit scan");
    findings_in(&db)
}

fn findings_in(db: &Path) -> Vec<(String, Vec<u8>)> {
    sqlite(db, "SELECT code, hex(path) FROM finding;")
        .lines()
        .filter_map(|row| row.split_once('|'))
        .map(|(code, hex)| (code.to_owned(), unhex(hex)))
        .collect()
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex from sqlite"))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn has_finding(findings: &[(String, Vec<u8>)], code: &str, path: &str) -> bool {
    findings
        .iter()
        .any(|(c, p)| c == code && p == path.as_bytes())
}

fn assert_finding(findings: &[(String, Vec<u8>)], code: &str, path: &str) {
    assert!(
        has_finding(findings, code, path),
        "no `{code}` finding for {path}; findings:\n{}",
        show_findings(findings)
    );
}

fn show_findings(findings: &[(String, Vec<u8>)]) -> String {
    findings
        .iter()
        .map(|(code, path)| format!("{code} {}\n", String::from_utf8_lossy(path)))
        .collect()
}

/// Deterministic pseudo-random bytes (xorshift64).
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

#[test]
fn truncated_elf_is_a_finding() {
    if !require_root() {
        return;
    }
    let (root, liba) = good_root();
    let bytes = fs::read(&liba).expect("read built lib");
    // Cut inside the ELF header, and after the program headers but before
    // the dynamic section.
    root.write("/usr/lib/x86_64-linux-gnu/libshort.so.1", &bytes[..40]);
    root.write("/usr/lib/x86_64-linux-gnu/libcut.so.1", &bytes[..1024]);
    let good = good_oracle(&root);

    let findings = scan_findings(&root);
    assert_finding(
        &findings,
        "malformed-elf",
        "/usr/lib/x86_64-linux-gnu/libshort.so.1",
    );
    assert_finding(
        &findings,
        "malformed-elf",
        "/usr/lib/x86_64-linux-gnu/libcut.so.1",
    );
    assert_good_app_resolves(&root, &good);
}

#[test]
fn corrupt_elf_is_a_finding() {
    if !require_root() {
        return;
    }
    let (root, _) = good_root();
    // Random bytes after the magic.
    let mut bytes = b"\x7fELF".to_vec();
    bytes.extend(noise(8192, 0x6b61_7564_6974));
    root.write("/usr/lib/x86_64-linux-gnu/libnoise.so.1", &bytes);
    // A real executable's ELF header, random bytes after it, and program
    // headers said to lie past the end of the file.
    let app = fs::read(root.host(APP)).expect("read app");
    let mut bytes = app[..64].to_vec();
    bytes[0x20..0x28].copy_from_slice(&0x7fff_0000_u64.to_le_bytes());
    bytes.extend(noise(8192, 42));
    root.write_exec("/usr/bin/noise", &bytes);
    let good = good_oracle(&root);
    let refused = root.oracle("/usr/bin/noise");
    assert!(
        refused.error.is_some(),
        "fixture check: the loader should refuse /usr/bin/noise\n{}",
        refused.show()
    );

    let findings = scan_findings(&root);
    assert_finding(
        &findings,
        "malformed-elf",
        "/usr/lib/x86_64-linux-gnu/libnoise.so.1",
    );
    // the kernel refuses it (its program headers lie beyond the end)
    assert_finding(&findings, "exec-format-error", "/usr/bin/noise");
    assert_good_app_resolves(&root, &good);

    // `deps` of the corrupt program itself fails, with a finding, and the
    // JSON (the answer: nothing is said beside it) names the file and why
    // its load aborts.
    let (out, deps) = root.deps_json("/usr/bin/noise");
    assert_ne!(
        code(&out),
        0,
        "deps of a corrupt ELF cannot succeed\n{}",
        show(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        deps.finding_codes().contains(&"exec-format-error")
            && v["file"] == "/usr/bin/noise"
            && v["fatal"]
                .as_str()
                .is_some_and(|f| f.contains("Exec format error")),
        "no exec-format-error finding and fatal load naming the file\n{}",
        show(&out)
    );
}

/// A directory named like the library in a search directory: glibc opens it,
/// cannot read an ELF header from it, and aborts the whole load.
#[test]
fn directory_named_like_library_aborts_load() {
    if !require_root() {
        return;
    }
    let (root, liba) = good_root();
    root.mkdir("/opt/r/liba.so.1");
    root.build_into(
        Build::exe().calls("liba.so.1").link(&liba).rpath("/opt/r"),
        "/usr/bin/app2",
    );

    let oracle = root.oracle("/usr/bin/app2");
    let error = oracle
        .error
        .as_deref()
        .unwrap_or_else(|| panic!("fixture check: the loader should fail\n{}", oracle.show()));
    assert!(error.contains("/opt/r/liba.so.1"), "{}", oracle.show());
    let good = good_oracle(&root);

    let (out, deps) = root.deps_json("/usr/bin/app2");
    assert_exit(&out, 1, "deps of a program whose load aborts");
    // The finding may sit on the program or on the directory; either way it
    // has to name the directory.
    let errors = deps.findings("load-error");
    assert!(
        errors.iter().any(|f| f["path"] == "/opt/r/liba.so.1"
            || f["message"]
                .as_str()
                .is_some_and(|m| m.contains("/opt/r/liba.so.1"))),
        "no load-error finding naming /opt/r/liba.so.1 (loader: {error}): {:#}",
        deps.0
    );
    let _ = scan_findings(&root);
    assert_good_app_resolves(&root, &good);
}

/// `a -> b -> a` and a self-loop. A program needing the looping name: the
/// loader's open fails with ELOOP, which ends the search (glibc returns on
/// any error other than ENOENT/EACCES), so the good copy in a later system
/// directory is not reached.
#[test]
fn symlink_loops_are_findings() {
    if !require_root() {
        return;
    }
    let (root, _) = good_root();
    root.symlink("libloop2.so.1", "/lib/x86_64-linux-gnu/libloop.so.1");
    root.symlink("libloop.so.1", "/lib/x86_64-linux-gnu/libloop2.so.1");
    root.symlink("libself.so.1", "/lib/x86_64-linux-gnu/libself.so.1");
    let libloop = root.build_into(
        Build::lib("libloop.so.1"),
        "/usr/lib/x86_64-linux-gnu/libloop.so.1",
    );
    root.build_into(
        Build::exe().calls("libloop.so.1").link(&libloop),
        "/usr/bin/app-loop",
    );
    let good = good_oracle(&root);
    let oracle = root.oracle("/usr/bin/app-loop");
    assert!(
        oracle.unresolved.iter().any(|n| n == "libloop.so.1"),
        "fixture check: ELOOP should end the loader's search\n{}",
        oracle.show()
    );

    let findings = scan_findings(&root);
    for path in [
        "/lib/x86_64-linux-gnu/libloop.so.1",
        "/lib/x86_64-linux-gnu/libloop2.so.1",
        "/lib/x86_64-linux-gnu/libself.so.1",
    ] {
        assert_finding(&findings, "symlink-loop", path);
    }
    assert_good_app_resolves(&root, &good);
    let deps = compare_with_oracle(&root, "/usr/bin/app-loop", &oracle);
    assert!(
        deps.finding_codes().contains(&"symlink-loop"),
        "{:#}",
        deps.0
    );
}

/// Absolute symlink targets are re-rooted (not an escape); `..` climbing
/// above the root stays at the root, as in a chroot, and is reported.
#[test]
fn symlinks_escaping_root_are_clamped() {
    if !require_root() {
        return;
    }
    let (root, _) = good_root();
    root.write("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
    root.symlink("/etc/passwd", "/etc/passwd-link");
    // Exists on the host, not in the root.
    root.symlink("/etc/debian_version", "/etc/host-only");
    let libesc = root.build_into(Build::lib("libesc.so.1"), "/x/libesc.so.1");
    root.symlink(
        "../../../../../../../../x/libesc.so.1",
        "/usr/lib/x86_64-linux-gnu/libesc.so.1",
    );
    root.build_into(
        Build::exe().calls("libesc.so.1").link(&libesc),
        "/usr/bin/app-esc",
    );
    root.ldconfig();
    let good = good_oracle(&root);
    let oracle = root.oracle("/usr/bin/app-esc");
    assert_eq!(
        oracle.path_of("libesc.so.1"),
        Some(Path::new("/usr/lib/x86_64-linux-gnu/libesc.so.1")),
        "fixture check: the loader should find libesc.so.1 through the clamped link\n{}",
        oracle.show()
    );

    let findings = scan_findings(&root);
    assert_finding(
        &findings,
        "symlink-escapes-root",
        "/usr/lib/x86_64-linux-gnu/libesc.so.1",
    );
    assert!(
        !findings.iter().any(|(_, p)| p == b"/etc/passwd-link"),
        "an absolute link to a file inside the root is fine:\n{}",
        show_findings(&findings)
    );
    assert_finding(&findings, "dangling-symlink", "/etc/host-only");
    assert!(
        !has_finding(&findings, "symlink-escapes-root", "/etc/host-only"),
        "an absolute target is re-rooted, not an escape:\n{}",
        show_findings(&findings)
    );
    assert_good_app_resolves(&root, &good);
    let deps = compare_with_oracle(&root, "/usr/bin/app-esc", &oracle);
    assert_eq!(
        deps.object("/usr/lib/x86_64-linux-gnu/libesc.so.1")["file"],
        "/x/libesc.so.1"
    );
}

/// A library whose file name and SONAME contain byte 0xff: `deps --format
/// list` prints the raw bytes, as the loader does; `scan` stores them.
#[test]
fn non_utf8_file_names() {
    if !require_root() {
        return;
    }
    let root = FixtureRoot::glibc(Layout::Split);
    let name = bytes_path(&[b"lib\xff.so.1"]);
    let inside = bytes_path(&[b"/usr/lib/x86_64-linux-gnu/lib\xff.so.1"]);
    let lib = root.build_into(Build::lib(name.clone()), &inside);
    root.build_into(Build::exe().link(&lib), APP);
    root.ldconfig();

    let oracle = root.oracle(APP);
    assert_eq!(
        oracle.path_of(&name),
        Some(Path::new(&inside)),
        "{}",
        oracle.show()
    );
    let out = root.deps_list(APP);
    assert_exit(&out, 0, "deps --format list");
    assert_list_matches(&out, &oracle);
    assert!(
        out.stdout
            .windows(inside.len())
            .any(|w| w == inside.as_bytes()),
        "raw bytes not printed: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );

    let db = root.scratch("scan.db");
    assert_exit(&root.scan(&db), 0, "kaudit scan");
    let count = sqlite(
        &db,
        &format!(
            "SELECT count(*) FROM file WHERE hex(path) = '{}';",
            hex(inside.as_bytes())
        ),
    );
    assert_eq!(count.trim(), "1", "the file table lacks the raw name");
}

/// FIFOs, sockets and character devices, some named like libraries in a
/// system directory (one behaves like /dev/zero: reading it never ends).
/// The scan must neither block nor read them.
#[test]
fn fifos_sockets_and_devices_do_not_block() {
    if !require_root() {
        return;
    }
    let (root, _) = good_root();
    root.mkdir("/run");
    root.mkdir("/dev");
    let fifo_mode = Mode::from_bits_truncate(0o644);
    mkfifo(
        &root.host("/usr/lib/x86_64-linux-gnu/libfifo.so.1"),
        fifo_mode,
    )
    .expect("mkfifo");
    mkfifo(&root.host("/run/initctl"), fifo_mode).expect("mkfifo");
    for (inside, minor) in [
        ("/dev/null", 3),
        ("/dev/zero", 5),
        ("/usr/lib/x86_64-linux-gnu/libzero.so.1", 5),
    ] {
        mknod(
            &root.host(inside),
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(1, minor),
        )
        .expect("mknod");
    }
    let _listener = UnixListener::bind(root.host("/run/daemon.sock")).expect("bind socket");
    let good = good_oracle(&root);

    let findings = scan_findings(&root);
    assert!(
        !findings
            .iter()
            .any(|(c, p)| c == "malformed-elf" && p == b"/dev/zero"),
        "device nodes are not files to parse:\n{}",
        show_findings(&findings)
    );
    assert_good_app_resolves(&root, &good);
}

/// Root bypasses file permissions, so `chmod 000` alone makes nothing
/// unreadable. kaudit runs here without CAP_DAC_OVERRIDE and
/// CAP_DAC_READ_SEARCH (via `setpriv`), so opening a mode-000 library fails
/// with EACCES as it would for an unprivileged user.
#[test]
fn unreadable_file_is_a_finding() {
    if !require_root() {
        return;
    }
    let (root, liba) = good_root();
    let secret = "/usr/lib/x86_64-linux-gnu/libsecret.so.1";
    root.install(&liba, secret);
    fs::set_permissions(root.host(secret), fs::Permissions::from_mode(0o000)).expect("chmod");
    let good = good_oracle(&root);
    let db = root.scratch("scan.db");

    let without_dac = |args: &[&OsStr]| {
        let mut cmd = Command::new(host_tool("setpriv"));
        cmd.args([
            "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search",
            "--",
        ]);
        cmd.arg(env!("CARGO_BIN_EXE_kaudit")).args(args);
        run_with_timeout(cmd, Duration::from_secs(180))
    };
    // The test's own check that the file really is unreadable that way.
    let mut cat = Command::new(host_tool("setpriv"));
    cat.args([
        "--inh-caps=-dac_override,-dac_read_search",
        "--bounding-set=-dac_override,-dac_read_search",
        "--",
        "cat",
    ])
    .arg(root.host(secret));
    let cat = run_with_timeout(cat, Duration::from_secs(30));
    assert!(
        !cat.status.success(),
        "mode 000 file was readable: {}",
        show(&cat)
    );

    let out = without_dac(&[
        OsStr::new("scan"),
        OsStr::new("--root"),
        root.path().as_os_str(),
        OsStr::new("--db"),
        db.as_os_str(),
    ]);
    assert_exit(&out, 0, "kaudit scan without DAC override");
    let findings = findings_in(&db);
    assert!(
        findings.iter().any(|(_, p)| p == secret.as_bytes()),
        "no finding for the unreadable {secret}:\n{}",
        show_findings(&findings)
    );

    let out = without_dac(&[
        OsStr::new("deps"),
        OsStr::new("--root"),
        root.path().as_os_str(),
        OsStr::new("--format"),
        OsStr::new("list"),
        OsStr::new(APP),
    ]);
    assert_exit(
        &out,
        0,
        "kaudit deps of the good program without DAC override",
    );
    assert_list_matches(&out, &good);
}

fn assert_exit_2_naming(out: &std::process::Output, path: &Path, what: &str) {
    assert_exit(out, 2, what);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&*path.to_string_lossy()),
        "{what}: stderr does not name {}\n{}",
        path.display(),
        show(out)
    );
}

#[test]
fn missing_root_is_an_error() {
    if !require_root() {
        return;
    }
    let scratch = tempfile::tempdir().expect("temp dir");
    let missing = scratch.path().join("no-such-root");
    let db = scratch.path().join("scan.db");
    let out = kaudit([
        OsStr::new("deps"),
        OsStr::new("--root"),
        missing.as_os_str(),
        OsStr::new("/usr/bin/app"),
    ]);
    assert_exit_2_naming(&out, &missing, "deps with a missing root");
    let out = kaudit([
        OsStr::new("scan"),
        OsStr::new("--root"),
        missing.as_os_str(),
        OsStr::new("--db"),
        db.as_os_str(),
    ]);
    assert_exit_2_naming(&out, &missing, "scan with a missing root");
}

#[test]
fn root_that_is_a_file_is_an_error() {
    if !require_root() {
        return;
    }
    let scratch = tempfile::tempdir().expect("temp dir");
    let file = scratch.path().join("root-file");
    fs::write(&file, "not a directory\n").expect("write");
    let db = scratch.path().join("scan.db");
    let out = kaudit([
        OsStr::new("deps"),
        OsStr::new("--root"),
        file.as_os_str(),
        OsStr::new("/usr/bin/app"),
    ]);
    assert_exit_2_naming(&out, &file, "deps with a file as root");
    let out = kaudit([
        OsStr::new("scan"),
        OsStr::new("--root"),
        file.as_os_str(),
        OsStr::new("--db"),
        db.as_os_str(),
    ]);
    assert_exit_2_naming(&out, &file, "scan with a file as root");
}

#[test]
fn unwritable_db_path_is_an_error() {
    if !require_root() {
        return;
    }
    let (root, _) = good_root();
    let scratch = tempfile::tempdir().expect("temp dir");
    for db in [
        scratch.path().join("no-such-dir").join("scan.db"),
        PathBuf::from("/proc/kaudit-test/scan.db"),
    ] {
        let out = root.scan(&db);
        assert_exit_2_naming(&out, &db, "scan with an unwritable db");
    }
}

#[test]
fn corrupt_db_is_an_error() {
    if !require_root() {
        return;
    }
    let (root, _) = good_root();
    let db = root.scratch("corrupt.db");
    fs::write(&db, noise(16384, 7)).expect("write corrupt db");
    let out = root.scan(&db);
    assert_exit_2_naming(&out, &db, "scan with a corrupt db");
    // The command line that names the database must not have replaced it.
    assert_eq!(fs::read(&db).expect("read db"), noise(16384, 7));
}
