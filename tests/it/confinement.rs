//! Confinement: nothing outside the analysed root is ever opened, read or
//! even looked up. A canary library sits in a sibling temporary directory
//! and the root is full of ways to reach it if paths were resolved on the
//! host: absolute and relative symlinks, an escaping directory symlink on an
//! RPATH, a DT_NEEDED path, ld.so.conf entries, a shebang. fanotify watches
//! the canary and its directory while `kaudit scan` and `kaudit deps` run,
//! and a second scan runs under strace; both must show no trace of it. Each
//! watch is checked against a deliberate access of the canary afterwards, so
//! the test can fail.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::AT_FDCWD;
use nix::sys::fanotify::{EventFFlags, Fanotify, InitFlags, MarkFlags, MaskFlags};

use crate::support::{
    code, host_tool, require_root, run_with_timeout, show, Build, FixtureRoot, Layout, APP,
};

/// fanotify notification group watching one file and one directory.
struct Watch {
    group: Fanotify,
}

impl Watch {
    fn new(file: &Path, dir: &Path) -> Self {
        let group = Fanotify::init(
            InitFlags::FAN_CLASS_NOTIF | InitFlags::FAN_CLOEXEC | InitFlags::FAN_NONBLOCK,
            EventFFlags::O_RDONLY | EventFFlags::O_LARGEFILE | EventFFlags::O_CLOEXEC,
        )
        .expect("fanotify_init (needs CAP_SYS_ADMIN)");
        let mask = MaskFlags::FAN_OPEN | MaskFlags::FAN_ACCESS | MaskFlags::FAN_CLOSE_NOWRITE;
        group
            .mark(MarkFlags::FAN_MARK_ADD, mask, AT_FDCWD, Some(file))
            .expect("fanotify_mark on the canary");
        group
            .mark(
                MarkFlags::FAN_MARK_ADD,
                mask | MaskFlags::FAN_ONDIR | MaskFlags::FAN_EVENT_ON_CHILD,
                AT_FDCWD,
                Some(dir),
            )
            .expect("fanotify_mark on the canary's directory");
        Watch { group }
    }

    /// Every event queued so far, as `pid N: MASK on PATH`.
    fn drain(&self) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match self.group.read_events() {
                Ok(events) if events.is_empty() => break,
                Ok(events) => {
                    for event in events {
                        let path = event
                            .fd()
                            .and_then(|fd| {
                                fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()
                            })
                            .map(|p| p.display().to_string())
                            .unwrap_or_else(|| "?".to_owned());
                        seen.push(format!("pid {}: {:?} on {path}", event.pid(), event.mask()));
                    }
                }
                Err(Errno::EAGAIN) => break,
                Err(e) => panic!("reading fanotify events: {e}"),
            }
        }
        seen
    }
}

/// Quoted strings of one strace line, unescaped only as far as `\"` and
/// `\\` (enough to compare paths), each with the `-y` annotation of the
/// argument just before it (`dirfd<path>, "name"`), if any.
fn quoted_strings(line: &str) -> Vec<(Option<String>, String)> {
    let mut strings = Vec::new();
    let mut chars = line.char_indices();
    while let Some((start, c)) = chars.next() {
        if c != '"' {
            continue;
        }
        let before = &line[..start];
        let dirfd = before
            .strip_suffix(">, ")
            .and_then(|b| b.rfind('<').map(|at| b[at + 1..].to_owned()));
        let mut s = String::new();
        while let Some((_, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, next)) = chars.next() {
                        s.push(next);
                    }
                }
                '"' => break,
                _ => s.push(c),
            }
        }
        strings.push((dirfd, s));
    }
    strings
}

/// Where on the host a lookup of `name` (relative to `dirfd`'s path) lands:
/// symlinks are followed on the host as the kernel follows them, in every
/// component and in the last one only when `follow_last`; components that
/// do not exist are appended as named (`..` folded). `None` for a relative
/// name without a dirfd annotation.
fn host_view(dirfd: Option<&str>, name: &str, follow_last: bool) -> Option<String> {
    let joined = match dirfd {
        _ if name.starts_with('/') => name.to_owned(),
        Some(dir) => format!("{dir}/{name}"),
        None => return None,
    };
    let parts: Vec<&str> = joined.split('/').filter(|p| !p.is_empty()).collect();
    for keep in (0..=parts.len()).rev() {
        if keep == parts.len() && !follow_last && keep > 0 {
            continue;
        }
        let prefix = format!("/{}", parts[..keep].join("/"));
        let Ok(real) = fs::canonicalize(&prefix) else {
            continue;
        };
        let mut components: Vec<String> = real
            .to_string_lossy()
            .split('/')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        for part in &parts[keep..] {
            match *part {
                "." => {}
                ".." => {
                    components.pop();
                }
                other => components.push(other.to_owned()),
            }
        }
        return Some(format!("/{}", components.join("/")));
    }
    Some(joined)
}

/// Joins each `PID call(args <unfinished ...>` line with its later
/// `PID <... call resumed>rest` line, so that every call is judged whole
/// (threads interleave in an `strace -f` log; flags such as
/// `AT_SYMLINK_NOFOLLOW` may sit in the resumed half).
fn merge_interrupted(log: &str) -> Vec<String> {
    let mut pending: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut out: Vec<String> = Vec::new();
    for line in log.lines() {
        let (pid, call) = line.split_once(char::is_whitespace).unwrap_or(("", line));
        let call = call.trim_start();
        if let Some(head) = call.strip_suffix("<unfinished ...>") {
            pending.insert(pid, out.len());
            out.push(format!("{pid} {head}"));
            continue;
        }
        if let Some(rest) = call.strip_prefix("<... ") {
            if let (Some(at), Some(idx)) = (rest.find("resumed>"), pending.remove(pid)) {
                out[idx].push_str(&rest[at + "resumed>".len()..]);
                continue;
            }
        }
        out.push(line.to_string());
    }
    out
}

/// Lines of an `strace -f -y` log that show a process reaching `dir` on
/// the host:
/// - any file descriptor annotation (`-y`: the host's view of an fd's path,
///   cwd included) under `dir`, in arguments or results;
/// - any path argument whose lookup, redone on the host after the run
///   ([`host_view`]), lands under `dir` — this catches `stat` and friends
///   through escaping symlinks, which return no fd.
///
/// Not path lookups, so not checked: a symlink's content (`readlink`
/// results, `symlink` targets), `execve`'s argv, the path of an `openat2`
/// resolved with RESOLVE_IN_ROOT/RESOLVE_BENEATH (the kernel confines it; its
/// fd annotation is still checked), and paths used by a process after it
/// called `chroot`.
fn host_accesses(log: &str, dir: &str) -> Vec<String> {
    let under = |p: &str| p == dir || p.starts_with(&format!("{dir}/"));
    let mut chrooted: HashSet<&str> = HashSet::new();
    let mut hits = Vec::new();
    let merged = merge_interrupted(log);
    for line in merged.iter().map(String::as_str) {
        let (pid, call) = line.split_once(char::is_whitespace).unwrap_or(("", line));
        let call = call.trim_start();
        if call.starts_with("chroot(") {
            chrooted.insert(pid);
        }
        let annotated = line
            .match_indices('<')
            .any(|(at, _)| under(line[at + 1..].split('>').next().unwrap_or("")));
        // a call resumed after a thread switch: `<... readlinkat resumed>"target", …`
        // carries only the rest of the arguments and the result; a readlink's
        // result is a symlink's stored text, not an access
        if let Some(rest) = call.strip_prefix("<... ") {
            let name = rest.split_whitespace().next().unwrap_or("");
            if matches!(name, "readlink" | "readlinkat") {
                continue;
            }
        }
        let strings = quoted_strings(call);
        let syscall = call.split('(').next().unwrap_or("");
        let paths: &[(Option<String>, String)] = if chrooted.contains(pid)
            || (syscall == "openat2"
                && (call.contains("RESOLVE_IN_ROOT") || call.contains("RESOLVE_BENEATH")))
        {
            &[]
        } else if matches!(syscall, "readlink" | "readlinkat" | "execve" | "execveat") {
            &strings[..strings.len().min(1)]
        } else if matches!(syscall, "symlink" | "symlinkat") {
            &strings[strings.len().min(1)..]
        } else {
            &strings
        };
        let follow_last = !(matches!(
            syscall,
            "lstat"
                | "readlink"
                | "readlinkat"
                | "unlink"
                | "unlinkat"
                | "rename"
                | "renameat"
                | "renameat2"
                | "mkdir"
                | "mkdirat"
                | "rmdir"
                | "symlink"
                | "symlinkat"
        ) || call.contains("AT_SYMLINK_NOFOLLOW")
            || call.contains("O_NOFOLLOW"));
        let reached = paths.iter().any(|(dirfd, name)| {
            host_view(dirfd.as_deref(), name, follow_last).is_some_and(|p| under(&p))
        });
        if annotated || reached {
            hits.push(line.to_owned());
        }
    }
    hits
}

fn strace_log(root: &FixtureRoot, name: &str, program: &OsStr, args: &[&OsStr]) -> String {
    let log = root.scratch(name);
    let mut cmd = Command::new(host_tool("strace"));
    cmd.args([
        "-f",
        "-qq",
        "-y",
        "-s",
        "4096",
        "-e",
        "trace=%file,openat2",
        "-o",
    ])
    .arg(&log)
    .arg("--")
    .arg(program)
    .args(args);
    let out = run_with_timeout(cmd, Duration::from_secs(300));
    assert!(
        out.status.code().is_some(),
        "strace was killed: {}",
        show(&out)
    );
    fs::read_to_string(&log).expect("read strace log")
}

#[test]
fn nothing_outside_the_root_is_touched() {
    if !require_root() {
        return;
    }
    let canary_home = tempfile::Builder::new()
        .prefix("kaudit-canary-")
        .tempdir()
        .expect("canary dir");
    let canary_dir = fs::canonicalize(canary_home.path()).expect("canonical canary dir");
    let canary_dir_str = canary_dir.to_str().expect("UTF-8 temp dir").to_owned();
    let canary = canary_dir.join("libcanary.so.1");
    let canary_str = format!("{canary_dir_str}/libcanary.so.1");
    let climb = "../".repeat(16);

    let root = FixtureRoot::glibc(Layout::Split);
    // The canary is a real library with the SONAME the root asks for, and an
    // ld.so.conf fragment sits beside it.
    fs::copy(root.build(Build::lib("libcanary.so.1")), &canary).expect("plant canary");
    fs::write(canary_dir.join("evil.conf"), format!("{canary_dir_str}\n")).expect("conf");

    let libcanary = root.build(Build::lib("libcanary.so.1"));
    let direct = root.build(Build::lib(canary_str.clone()));
    let up = format!("/opt/up{canary_dir_str}");
    root.build_into(
        Build::exe()
            .calls("libcanary.so.1")
            .link(&libcanary)
            .link(&direct)
            .rpath(&format!("{up}:{canary_dir_str}")),
        APP,
    );
    root.symlink(&climb, "/opt/up");
    root.symlink(
        format!("{climb}{}", &canary_str[1..]),
        "/usr/lib/x86_64-linux-gnu/libcanary.so.1",
    );
    root.symlink(&canary_str, "/etc/canary-abs");
    root.symlink(
        format!("{climb}{}", &canary_dir_str[1..]),
        "/opt/canary-dir",
    );
    root.write_exec("/usr/bin/script", format!("#!{canary_str}\n"));
    root.ld_so_conf(&format!(
        "{canary_dir_str}\ninclude {canary_dir_str}/*.conf\ninclude {up}/*.conf\n"
    ));
    // No ld.so.cache: kaudit has to fall back to reading ld.so.conf.

    let watch = Watch::new(&canary, &canary_dir);
    let db = root.scratch("scan.db");
    let scan = root.scan(&db);
    let deps_app = root.deps_list(APP);
    let deps_link = root.deps_list("/etc/canary-abs");
    let deps_script = root.deps_list("/usr/bin/script");
    let traced = strace_log(
        &root,
        "scan.strace",
        OsStr::new(env!("CARGO_BIN_EXE_kaudit")),
        &[
            OsStr::new("scan"),
            OsStr::new("--root"),
            root.path().as_os_str(),
            OsStr::new("--db"),
            root.scratch("traced.db").as_os_str(),
        ],
    );
    let during_kaudit = watch.drain();
    let traced_hits = host_accesses(&traced, &canary_dir_str);

    // Positive controls: the same watches do see a real access.
    let control_log = strace_log(
        &root,
        "control.strace",
        host_tool("cat").as_os_str(),
        &[canary.as_os_str()],
    );
    let control_strace = host_accesses(&control_log, &canary_dir_str);
    let _ = fs::read(&canary).expect("read canary");
    let _ = fs::read_dir(&canary_dir).expect("list canary dir").count();
    let control_fanotify = watch.drain();
    assert!(
        !control_fanotify.is_empty(),
        "fanotify watch saw nothing when the canary was read"
    );
    assert!(
        !control_strace.is_empty(),
        "strace check found nothing when `cat` read the canary:\n{control_log}"
    );

    assert!(
        during_kaudit.is_empty(),
        "kaudit touched files outside the root:\n{}",
        during_kaudit.join("\n")
    );
    assert!(
        traced_hits.is_empty(),
        "kaudit scan looked up paths outside the root:\n{}",
        traced_hits.join("\n")
    );
    assert!(traced.contains("execve("), "strace log is empty:\n{traced}");

    // The runs themselves completed; the root cannot reach the canary.
    assert_eq!(code(&scan), 0, "scan: {}", show(&scan));
    assert_eq!(code(&deps_app), 1, "deps of the app: {}", show(&deps_app));
    for out in [&deps_link, &deps_script] {
        assert!(
            (0..=2).contains(&code(out)),
            "deps did not finish cleanly: {}",
            show(out)
        );
    }
}
