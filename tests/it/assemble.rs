//! `kaudit assemble`: the listed entries, and only they, with everything
//! that makes them work — a file capability, a hard link pair stored once, a
//! FIFO, a device node, a name that is not UTF-8, owners, modes (set-id bits
//! included), timestamps and symlinks as stored — into a directory, a tar
//! archive, a squashfs and an erofs image (each read back: extracted, or
//! mounted by the kernel). Hostile lists and outputs are refused.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{code, kaudit, require_root, run_ok, show};

/// `security.capability` for `cap_net_raw+ep` (VFS_CAP_REVISION_2).
const CAP_NET_RAW: [u8; 20] = [
    0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
];

const NON_UTF8: &[u8] = b"/etc/caf\xe9.conf";

fn p(root: &Path, inner: &[u8]) -> PathBuf {
    let mut b = root.as_os_str().as_bytes().to_vec();
    b.extend_from_slice(inner);
    PathBuf::from(OsString::from_vec(b))
}

/// A source root with one of each kind of entry, and the list of them.
fn source(dir: &Path) -> (PathBuf, Vec<Vec<u8>>) {
    let root = dir.join("root");
    for d in ["usr/bin", "etc/app", "run", "dev", "var/lib"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
    // a file capability (set as the kernel stores it) and a user attribute
    std::fs::write(root.join("usr/bin/ping"), b"\x7fELF not really").unwrap();
    rustix_setxattr(
        &root.join("usr/bin/ping"),
        "security.capability",
        &CAP_NET_RAW,
    );
    rustix_setxattr(&root.join("etc/app"), "user.kaudit", b"dir attribute");
    // a hard link pair
    std::fs::write(root.join("usr/bin/gzip"), vec![7u8; 100_000]).unwrap();
    std::fs::hard_link(root.join("usr/bin/gzip"), root.join("usr/bin/gunzip")).unwrap();
    // a FIFO and a device node
    nix::unistd::mkfifo(
        &root.join("run/initctl"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    nix::sys::stat::mknod(
        &root.join("dev/null"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    )
    .unwrap();
    // a name that is not UTF-8
    std::fs::write(p(&root, NON_UTF8), b"x=1\n").unwrap();
    // owner, set-uid mode and an old time: chown must not clear what follows
    let suid = root.join("usr/bin/su");
    std::fs::write(&suid, b"#!/bin/sh\n").unwrap();
    std::os::unix::fs::chown(&suid, Some(1234), Some(5678)).unwrap();
    std::fs::set_permissions(&suid, std::os::unix::fs::PermissionsExt::from_mode(0o4755)).unwrap();
    let old = std::time::UNIX_EPOCH + std::time::Duration::new(1_000_000_000, 123_456_789);
    std::fs::File::options()
        .write(true)
        .open(&suid)
        .unwrap()
        .set_times(
            std::fs::FileTimes::new()
                .set_accessed(old)
                .set_modified(old),
        )
        .unwrap();
    std::fs::set_permissions(
        root.join("var/lib"),
        std::os::unix::fs::PermissionsExt::from_mode(0o750),
    )
    .unwrap();
    std::fs::write(root.join("etc/unlisted"), b"not in the image").unwrap();
    let list: Vec<Vec<u8>> = [
        &b"/bin"[..],
        b"/dev",
        b"/dev/null",
        b"/etc",
        b"/etc/app",
        NON_UTF8,
        b"/run/initctl",
        b"/usr",
        b"/usr/bin",
        b"/usr/bin/gunzip",
        b"/usr/bin/gzip",
        b"/usr/bin/ping",
        b"/usr/bin/su",
        b"/var/lib",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect();
    (root, list)
}

fn rustix_setxattr(path: &Path, name: &str, value: &[u8]) {
    let st = Command::new("setfattr")
        .arg("-n")
        .arg(name)
        .arg("-v")
        .arg(format!(
            "0x{}",
            value.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ))
        .arg(path)
        .status()
        .expect("setfattr (package attr)");
    assert!(st.success(), "setfattr {name} on {}", path.display());
}

fn getxattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let out = Command::new("getfattr")
        .args(["--absolute-names", "--only-values", "-n", name])
        .arg(path)
        .output()
        .unwrap();
    out.status.success().then_some(out.stdout)
}

/// Everything the image must have kept, checked on a tree read back.
fn check(tree: &Path, what: &str, xattrs: bool) {
    let md = |inner: &[u8]| {
        std::fs::symlink_metadata(p(tree, inner))
            .unwrap_or_else(|e| panic!("{what}: {} missing: {e}", String::from_utf8_lossy(inner)))
    };
    assert_eq!(
        std::fs::read_link(tree.join("bin")).unwrap(),
        Path::new("usr/bin"),
        "{what}: symlink target"
    );
    let a = md(b"/usr/bin/gzip");
    let b = md(b"/usr/bin/gunzip");
    assert_eq!(a.ino(), b.ino(), "{what}: the hard link pair is two files");
    assert_eq!(a.nlink(), 2, "{what}");
    assert!(md(b"/run/initctl").file_type().is_fifo(), "{what}: FIFO");
    let null = md(b"/dev/null");
    assert!(null.file_type().is_char_device(), "{what}: device node");
    assert_eq!(
        null.rdev(),
        nix::sys::stat::makedev(1, 3),
        "{what}: device number"
    );
    assert_eq!(
        std::fs::read(p(tree, NON_UTF8)).unwrap(),
        b"x=1\n",
        "{what}"
    );
    let su = md(b"/usr/bin/su");
    assert_eq!((su.uid(), su.gid()), (1234, 5678), "{what}: owner");
    assert_eq!(su.mode() & 0o7777, 0o4755, "{what}: set-uid mode");
    assert_eq!(su.mtime(), 1_000_000_000, "{what}: mtime");
    assert_eq!(
        md(b"/var/lib").mode() & 0o7777,
        0o750,
        "{what}: directory mode"
    );
    assert!(
        std::fs::symlink_metadata(tree.join("etc/unlisted")).is_err(),
        "{what}: an unlisted file was copied"
    );
    if xattrs {
        assert_eq!(
            getxattr(&tree.join("usr/bin/ping"), "security.capability").as_deref(),
            Some(&CAP_NET_RAW[..]),
            "{what}: file capability"
        );
        assert_eq!(
            getxattr(&tree.join("etc/app"), "user.kaudit").as_deref(),
            Some(&b"dir attribute"[..]),
            "{what}: directory attribute"
        );
    }
}

fn assemble(list: &Path, from: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<&OsStr> = vec![
        "assemble".as_ref(),
        "--allowlist".as_ref(),
        list.as_os_str(),
        "--from".as_ref(),
        from.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    kaudit(args)
}

/// A read-only loop mount, undone when dropped.
struct Mount(PathBuf);

impl Mount {
    fn new(image: &Path, fstype: &str, at: &Path) -> Mount {
        std::fs::create_dir_all(at).unwrap();
        let mut m = Command::new("mount");
        m.args(["-t", fstype, "-o", "loop,ro"]).arg(image).arg(at);
        run_ok(m);
        Mount(at.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn assemble_keeps_every_kind_of_entry_in_a_directory_tar_squashfs_and_erofs() {
    if !require_root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (root, list) = source(t.path());
    let list_file = t.path().join("image.list0");
    std::fs::write(&list_file, list.join(&b'\0')).unwrap();

    let dir = t.path().join("image");
    let out = assemble(&list_file, &root, &dir, &["--null"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    // the summary of the run, on stderr: the image is the output
    assert!(out.stdout.is_empty(), "{}", show(&out));
    let s = String::from_utf8_lossy(&out.stderr);
    assert!(
        s.contains("16 entries (4 files, 1 hard links, 8 directories (2 implied), 1 symlinks, 2 special, 2 extended attributes)"),
        "{s}"
    );
    check(&dir, "directory", true);

    let tar = t.path().join("image.tar");
    let out = assemble(&list_file, &root, &tar, &["--null"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let x = t.path().join("from-tar");
    std::fs::create_dir(&x).unwrap();
    let mut untar = Command::new("tar");
    untar
        .args(["--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf"])
        .arg(&tar)
        .arg("-C")
        .arg(&x);
    run_ok(untar);
    check(&x, "tar", true);

    let sq = t.path().join("image.squashfs");
    let out = assemble(&list_file, &root, &sq, &["--null"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("squashfs "));
    {
        let m = Mount::new(&sq, "squashfs", &t.path().join("mnt-squashfs"));
        check(&m.0, "squashfs", true);
    }

    let ero = t.path().join("image.erofs");
    let out = assemble(&list_file, &root, &ero, &["--null"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    {
        let m = Mount::new(&ero, "erofs", &t.path().join("mnt-erofs"));
        check(&m.0, "erofs", true);
    }

    // an existing output is replaced only when asked
    let out = assemble(&list_file, &root, &dir, &["--null"]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists; --force replaces it"));
    let out = assemble(&list_file, &root, &dir, &["--null", "--force"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    check(&dir, "directory, replaced", true);
}

#[test]
fn hostile_allowlists_and_outputs_are_refused() {
    if !require_root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (root, _) = source(t.path());
    // links that lead out of the root, or elsewhere in it
    std::os::unix::fs::symlink("/etc", root.join("escape")).unwrap();
    std::os::unix::fs::symlink("../../../../..", root.join("up")).unwrap();
    let cases: [(&[u8], &str); 5] = [
        (b"/../etc/passwd\n", "a `.` or `..` component"),
        (b"/usr/../../etc/shadow\n", "a `.` or `..` component"),
        (b"etc/passwd\n", "not an absolute path"),
        (b"/escape/passwd\n", "passes through a symlink"),
        (b"/up/etc/passwd\n", "passes through a symlink"),
    ];
    for (i, (text, why)) in cases.iter().enumerate() {
        let list = t.path().join(format!("hostile-{i}"));
        std::fs::write(&list, text).unwrap();
        let out_dir = t.path().join(format!("out-{i}"));
        let out = assemble(&list, &root, &out_dir, &[]);
        assert_eq!(
            code(&out),
            2,
            "{}: {}",
            String::from_utf8_lossy(text),
            show(&out)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(why),
            "{}: {err}",
            String::from_utf8_lossy(text)
        );
        assert!(!out_dir.exists(), "a refused image was left behind");
    }
    // nothing was left beside the outputs either
    let leftovers: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".kaudit-assemble-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // an output inside the root, or the root inside the output
    let list = t.path().join("ok");
    std::fs::write(&list, b"/etc\n").unwrap();
    let out = assemble(&list, &root, &root.join("image"), &[]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is inside the root"));
    let out = assemble(&list, &root, t.path(), &["--force"]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is inside the root"));
    assert!(root.join("etc/unlisted").exists(), "the root was touched");
}
