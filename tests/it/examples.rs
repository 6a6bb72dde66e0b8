//! The README's main job checks its prerequisites first: on a machine that
//! lacks one (clang, say) it installs it as root, and otherwise stops naming
//! the one command that does. The machine's own packages are never touched:
//! the script runs with a PATH of its own, where `apt-get` is a recorder.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// A PATH directory holding every tool the quickstart needs except `clang`,
/// and an `apt-get` that records its arguments in `calls`.
fn path_without_clang(dir: &Path, calls: &Path) {
    for tool in [
        "cc",
        "mmdebstrap",
        "mksquashfs",
        "sqlite3",
        "bc",
        "ip",
        "chroot",
        "unshare",
        "nsenter",
        "systemctl",
        "systemd-nspawn",
        "dnsmasq",
        "cargo",
        "bash",
        "sort",
        "sed",
        "id",
        "printf",
    ] {
        let found = ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.exists())
            .or_else(|| {
                std::env::var_os("PATH").and_then(|p| {
                    std::env::split_paths(&p)
                        .map(|d| d.join(tool))
                        .find(|p| p.exists())
                })
            });
        // a stand-in when the machine lacks the tool: only its presence is checked
        match found {
            Some(p) => std::os::unix::fs::symlink(p, dir.join(tool)).unwrap(),
            None => {
                std::fs::write(dir.join(tool), "#!/bin/sh\nexit 0\n").unwrap();
                std::fs::set_permissions(dir.join(tool), std::fs::Permissions::from_mode(0o755))
                    .unwrap();
            }
        }
    }
    let apt = dir.join("apt-get");
    std::fs::write(
        &apt,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", calls.display()),
    )
    .unwrap();
    std::fs::set_permissions(&apt, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn the_quickstart_installs_a_missing_prerequisite_or_names_the_command() {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR"));
    let t = tempfile::tempdir().unwrap();
    let bin = t.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let calls = t.path().join("apt-calls");
    path_without_clang(&bin, &calls);
    let script = ws.join("examples/prerequisites.sh");
    let is_root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(|u| u == "0"))
        .unwrap_or(false);

    if is_root {
        // as root: apt-get installs clang (and nothing the machine has)
        let out = Command::new(bin.join("bash"))
            .arg(&script)
            .arg("quickstart")
            .env("PATH", &bin)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        let recorded = std::fs::read_to_string(&calls).unwrap_or_default();
        let install = recorded
            .lines()
            .find(|l| l.starts_with("install"))
            .unwrap_or_else(|| panic!("apt-get install was not run: {recorded:?} {err}"));
        assert!(install.split(' ').any(|w| w == "clang"), "{install}");
        assert!(!install.split(' ').any(|w| w == "mmdebstrap"), "{install}");
        assert!(
            err.contains("installing what the quickstart example needs: clang"),
            "{err}"
        );
        std::fs::remove_file(&calls).ok();
    }

    // not root: nothing is installed; the one command that would is named
    let mut cmd = Command::new(bin.join("bash"));
    cmd.arg(&script).arg("quickstart").env("PATH", &bin);
    if is_root {
        use std::os::unix::process::CommandExt;
        cmd.uid(65534).gid(65534);
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("as root, run:\n  apt-get install clang"),
        "{err}"
    );
    assert!(!calls.exists(), "apt-get ran without root");
}
