//! Shared helpers for the integration tests: building fixture root
//! filesystems from the C sources in `fixtures/`, running `kaudit`, and the
//! oracle — the root's own dynamic loader, run inside the root with `chroot`.
//!
//! Paths written as `/x/y` in these helpers are paths *inside* a fixture root;
//! [`FixtureRoot::host`] maps them to the real location on this machine.

use std::cell::Cell;
use std::env;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// The glibc loader as named by PT_INTERP of x86_64 programs.
pub(crate) const GLIBC_INTERP: &str = "/lib64/ld-linux-x86-64.so.2";
/// Debian's first system directory, where libc.so.6 lives.
pub(crate) const MULTIARCH_LIB: &str = "/lib/x86_64-linux-gnu";
/// The musl loader as named by PT_INTERP of programs built with `musl-gcc`.
pub(crate) const MUSL_INTERP: &str = "/lib/ld-musl-x86_64.so.1";
/// The executable most fixtures analyse.
pub(crate) const APP: &str = "/usr/bin/app";

/// How long any single child process may run before the test fails.
const CHILD_TIMEOUT: Duration = Duration::from_secs(180);

/// Tests that trace take turns: each trace watches the whole node (every
/// file event and every path-taking system call of every process), so
/// tracers running side by side would each read all the others' work.
pub(crate) fn tracing_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// `kaudit accessed --names --format json` of the latest run named `name`.
pub(crate) fn names_of(db: &Path, name: &str) -> Value {
    let out = kaudit([
        "accessed".as_ref(),
        "--names".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        "--scenario".as_ref(),
        OsStr::new(name),
        "--db".as_ref(),
        db.as_os_str(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// Returns true when the tests may go on: they need root (chroot, mknod,
/// mounts, fanotify). Without root this fails the test when `CI=true`, and
/// otherwise prints a note so the caller can return early.
pub(crate) fn require_root() -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .map(str::to_owned);
    if euid.as_deref() == Some("0") {
        return true;
    }
    let test = thread::current().name().unwrap_or("this test").to_owned();
    if env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test} needs root (chroot, mknod, mounts, fanotify), and CI=true");
    }
    eprintln!("note: {test} skipped: it needs root");
    false
}

/// mdBook, when it is on `PATH` (`.ci/run` installs it there). Without it
/// this fails the test when `CI=true`, and otherwise prints a note and
/// returns `None`.
pub(crate) fn mdbook() -> Option<PathBuf> {
    let found = env::var_os("PATH").and_then(|path| {
        env::split_paths(&path)
            .map(|d| d.join("mdbook"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let test = thread::current().name().unwrap_or("this test").to_owned();
        if env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{test} builds the pages with mdbook, which is not on PATH, and CI=true");
        }
        eprintln!("note: {test} did not build the pages with mdBook: mdbook is not on PATH");
    }
    found
}

/// Path of a file in `fixtures/`.
pub(crate) fn fixture_source(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Compile `fixtures/SRC` with `cc` into `out`, `extra` flags added.
pub(crate) fn compile_fixture(src: &str, out: &Path, extra: &[&str]) {
    let mut cmd = Command::new("cc");
    cmd.arg("-o").arg(out).arg(fixture_source(src)).args(extra);
    run_ok(cmd);
}

/// First existing `dir/name` among the usual system binary directories, so
/// host tools can be run with an empty environment.
pub(crate) fn host_tool(name: &str) -> PathBuf {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("host tool `{name}` is not installed"))
}

/// Runs `cmd` with stdin closed, collecting its output; fails the test if it
/// runs longer than `timeout` (the child is killed first).
pub(crate) fn run_with_timeout(cmd: Command, timeout: Duration) -> Output {
    run_with(cmd, timeout, None)
}

/// Runs `cmd` as [`run_with_timeout`] does, with its standard output a pipe
/// whose read end is closed before it starts (as `| head` leaves it once it
/// has read enough): every write to it fails with `EPIPE`. The output's
/// `stdout` is empty.
pub(crate) fn run_with_closed_stdout(cmd: Command) -> Output {
    let (reader, writer) = nix::unistd::pipe().expect("a pipe");
    drop(reader);
    run_with(cmd, CHILD_TIMEOUT, Some(writer.into()))
}

fn run_with(mut cmd: Command, timeout: Duration, stdout: Option<Stdio>) -> Output {
    let mut out = tempfile::tempfile().expect("temp file for stdout");
    let mut err = tempfile::tempfile().expect("temp file for stderr");
    cmd.stdin(Stdio::null())
        .stdout(match stdout {
            Some(s) => s,
            None => out.try_clone().expect("dup stdout file").into(),
        })
        .stderr(err.try_clone().expect("dup stderr file"));
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {timeout:?} (killed)");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    out.seek(SeekFrom::Start(0)).expect("rewind stdout");
    out.read_to_end(&mut stdout).expect("read stdout");
    err.seek(SeekFrom::Start(0)).expect("rewind stderr");
    err.read_to_end(&mut stderr).expect("read stderr");
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Runs `cmd` and fails the test, showing its output, unless it exits 0.
pub(crate) fn run_ok(cmd: Command) -> Output {
    let shown = format!("{cmd:?}");
    let out = run_with_timeout(cmd, CHILD_TIMEOUT);
    assert!(
        out.status.success(),
        "{shown} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The `kaudit` binary under test, as a command with `args`.
pub(crate) fn kaudit_cmd<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kaudit"));
    cmd.args(args).env_remove("KAUDIT_DB");
    cmd
}

/// Runs `kaudit` with `args` (bounded in time) and returns its output.
pub(crate) fn kaudit<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_with_timeout(kaudit_cmd(args), CHILD_TIMEOUT)
}

/// Runs `kaudit ARGS` (a shell word list) in a mount namespace of its own
/// from which every filesystem of the types `fstypes` (comma-separated, as
/// `findmnt -t` takes them) is unmounted — there only, the host keeps them.
pub(crate) fn kaudit_without_mounts(fstypes: &str, args: &str) -> Output {
    let script = format!(
        "for m in $(findmnt -n -t {fstypes} -o TARGET | sort -r); do umount \"$m\" || exit 9; done\n\
         exec {} {args}\n",
        env!("CARGO_BIN_EXE_kaudit")
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "/bin/sh", "-c"])
        .arg(&script);
    run_with_timeout(cmd, CHILD_TIMEOUT)
}

/// Exit code of a finished process (`-1` when killed by a signal).
pub(crate) fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// Human-readable dump of a process's output, for assertion messages.
pub(crate) fn show(out: &Output) -> String {
    format!(
        "exit: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Non-empty lines of `bytes`, each as a path (raw bytes kept).
pub(crate) fn lines_as_paths(bytes: &[u8]) -> Vec<PathBuf> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| PathBuf::from(OsStr::from_bytes(line)))
        .collect()
}

/// Which compiler builds a fixture object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Toolchain {
    /// The host `cc` (gcc), x86_64, glibc.
    Gnu,
    /// The host `cc -m32` (i386, glibc): the wrong ELF class for x86_64.
    Gnu32,
    /// `musl-gcc`: PT_INTERP is the musl loader, libc is `libc.so`.
    Musl,
}

/// Recipe for one fixture ELF object, compiled by [`FixtureRoot::build`].
#[derive(Clone, Debug)]
pub(crate) struct Build {
    toolchain: Toolchain,
    source: &'static str,
    soname: Option<OsString>,
    file_name: OsString,
    defines: Vec<String>,
    links: Vec<PathBuf>,
    ldflags: Vec<OsString>,
    auxiliary_as_rpath: bool,
}

/// Name of the function a library with this SONAME exports: the part before
/// the first `.`, non-alphanumerics replaced by `_`, plus `_value`.
pub(crate) fn value_fn(soname: &OsStr) -> String {
    let stem = soname
        .as_bytes()
        .split(|&b| b == b'.')
        .next()
        .unwrap_or(b"");
    let mut name: String = stem
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() {
                b as char
            } else {
                '_'
            }
        })
        .collect();
    name.push_str("_value");
    name
}

impl Build {
    /// The main program (`fixtures/app.c`).
    pub(crate) fn exe() -> Self {
        Build {
            toolchain: Toolchain::Gnu,
            source: "app.c",
            soname: None,
            file_name: "app".into(),
            defines: Vec::new(),
            links: Vec::new(),
            ldflags: Vec::new(),
            auxiliary_as_rpath: false,
        }
    }

    /// A shared library (`fixtures/lib.c`) with DT_SONAME `soname`, exporting
    /// [`value_fn`]`(soname)`. A SONAME containing `/` makes the DT_NEEDED
    /// entries of objects linked against it a path.
    pub(crate) fn lib(soname: impl Into<OsString>) -> Self {
        let soname = soname.into();
        let file_name = Path::new(&soname)
            .file_name()
            .expect("SONAME has a file name")
            .to_owned();
        Build {
            toolchain: Toolchain::Gnu,
            source: "lib.c",
            defines: vec![format!("SELF={}", value_fn(&soname))],
            file_name,
            soname: Some(soname),
            links: Vec::new(),
            ldflags: Vec::new(),
            auxiliary_as_rpath: false,
        }
    }

    /// Compile with `toolchain` instead of the host x86_64 gcc.
    pub(crate) fn toolchain(mut self, toolchain: Toolchain) -> Self {
        self.toolchain = toolchain;
        self
    }

    /// Call the function exported by the library whose SONAME is `soname`.
    pub(crate) fn calls(mut self, soname: &str) -> Self {
        self.defines
            .push(format!("DEP={}", value_fn(OsStr::new(soname))));
        self
    }

    /// Link against an already built library: adds DT_NEEDED for its SONAME.
    pub(crate) fn link(mut self, built: &Path) -> Self {
        self.links.push(built.to_owned());
        self
    }

    /// DT_RPATH (old-style tag).
    pub(crate) fn rpath(self, path: &str) -> Self {
        self.ldflag("-Wl,--disable-new-dtags")
            .ldflag(format!("-Wl,-rpath,{path}"))
    }

    /// DT_RUNPATH (new-style tag).
    pub(crate) fn runpath(self, path: &str) -> Self {
        self.ldflag("-Wl,--enable-new-dtags")
            .ldflag(format!("-Wl,-rpath,{path}"))
    }

    /// Both DT_RPATH and DT_RUNPATH with different values (libraries only).
    /// GNU ld never emits both, so the RPATH string is linked in as
    /// DT_AUXILIARY and that entry is retagged afterwards.
    pub(crate) fn rpath_and_runpath(mut self, rpath: &str, runpath: &str) -> Self {
        assert!(self.soname.is_some(), "only libraries can carry both tags");
        self.auxiliary_as_rpath = true;
        self.runpath(runpath)
            .ldflag(format!("-Wl,--auxiliary,{rpath}"))
    }

    /// Any extra compiler/linker argument.
    pub(crate) fn ldflag(mut self, flag: impl Into<OsString>) -> Self {
        self.ldflags.push(flag.into());
        self
    }
}

/// Dynamic section tags the fixtures patch.
pub(crate) const DT_RPATH: i64 = 15;
const DT_AUXILIARY: i64 = 0x7fff_fffd;

/// Rewrites the first dynamic entry tagged `from` to `to` in an ELF64
/// little-endian file.
pub(crate) fn retag_dynamic(file: &Path, from: i64, to: i64) {
    let mut bytes = fs::read(file).expect("read ELF to patch");
    assert!(
        bytes.starts_with(b"\x7fELF\x02\x01"),
        "{} is not ELF64 LE",
        file.display()
    );
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let u16_at = |b: &[u8], at: usize| u16::from_le_bytes(b[at..at + 2].try_into().unwrap());
    let phoff = u64_at(&bytes, 0x20) as usize;
    let phentsize = u16_at(&bytes, 0x36) as usize;
    let phnum = u16_at(&bytes, 0x38) as usize;
    let dynamic = (0..phnum)
        .map(|i| phoff + i * phentsize)
        .find(|&ph| u32::from_le_bytes(bytes[ph..ph + 4].try_into().unwrap()) == 2)
        .map(|ph| {
            (
                u64_at(&bytes, ph + 8) as usize,
                u64_at(&bytes, ph + 0x20) as usize,
            )
        })
        .expect("PT_DYNAMIC");
    let (offset, size) = dynamic;
    let entry = (offset..offset + size)
        .step_by(16)
        .find(|&at| u64_at(&bytes, at) as i64 == from)
        .unwrap_or_else(|| panic!("no dynamic tag {from:#x} in {}", file.display()));
    bytes[entry..entry + 8].copy_from_slice(&to.to_le_bytes());
    fs::write(file, bytes).expect("write patched ELF");
}

/// How `/lib`, `/lib64` and `/bin` are laid out in a glibc fixture root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Real `/lib`, `/lib64`, `/usr/lib` directories.
    Split,
    /// Debian 12's usr-merge: `/lib -> usr/lib`, `/lib64 -> usr/lib64`,
    /// `/bin -> usr/bin`, `/sbin -> usr/sbin`.
    UsrMerged,
}

/// A temporary root filesystem plus a scratch directory (outside the root)
/// where fixture objects are compiled.
pub(crate) struct FixtureRoot {
    root: TempDir,
    build: TempDir,
    builds: Cell<usize>,
}

impl FixtureRoot {
    /// An empty root.
    pub(crate) fn empty() -> Self {
        FixtureRoot {
            root: tempfile::Builder::new()
                .prefix("kaudit-root-")
                .tempdir()
                .expect("root temp dir"),
            build: tempfile::Builder::new()
                .prefix("kaudit-build-")
                .tempdir()
                .expect("build temp dir"),
            builds: Cell::new(0),
        }
    }

    /// A root with the host's glibc loader and libc.so.6 in Debian's places
    /// (`/lib/x86_64-linux-gnu`, `/lib64/ld-linux-x86-64.so.2` as an absolute
    /// symlink, as Debian ships it), an empty `/etc/ld.so.conf` and no cache.
    pub(crate) fn glibc(layout: Layout) -> Self {
        let root = Self::empty();
        let host_ldso = fs::canonicalize(GLIBC_INTERP).expect("host glibc loader");
        let host_libc = Path::new(MULTIARCH_LIB).join("libc.so.6");
        let libdir = match layout {
            Layout::Split => {
                root.mkdir("/lib64");
                root.mkdir("/usr/bin");
                root.mkdir("/usr/lib/x86_64-linux-gnu");
                root.mkdir("/lib/x86_64-linux-gnu");
                "/lib"
            }
            Layout::UsrMerged => {
                for dir in ["/usr/lib64", "/usr/bin", "/usr/sbin"] {
                    root.mkdir(dir);
                }
                root.mkdir("/usr/lib/x86_64-linux-gnu");
                for (link, target) in [
                    ("/lib", "usr/lib"),
                    ("/lib64", "usr/lib64"),
                    ("/bin", "usr/bin"),
                    ("/sbin", "usr/sbin"),
                ] {
                    root.symlink(target, link);
                }
                "/usr/lib"
            }
        };
        root.install(
            &host_ldso,
            format!("{libdir}/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
        );
        root.install(&host_libc, format!("{libdir}/x86_64-linux-gnu/libc.so.6"));
        root.symlink("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", GLIBC_INTERP);
        root.write("/etc/ld.so.conf", "");
        root
    }

    /// A root with Debian's musl loader: `/lib/x86_64-linux-musl/libc.so` and
    /// `/lib/ld-musl-x86_64.so.1 -> x86_64-linux-musl/libc.so`. No path file.
    pub(crate) fn musl() -> Self {
        let root = Self::empty();
        root.mkdir("/usr/bin");
        root.mkdir("/etc");
        root.install(
            Path::new("/lib/x86_64-linux-musl/libc.so"),
            "/lib/x86_64-linux-musl/libc.so",
        );
        root.symlink("x86_64-linux-musl/libc.so", MUSL_INTERP);
        root
    }

    /// The root's real location on this machine.
    pub(crate) fn path(&self) -> &Path {
        self.root.path()
    }

    /// Host location of `inside` (a path inside the root; `/` is the root).
    pub(crate) fn host(&self, inside: impl AsRef<OsStr>) -> PathBuf {
        let bytes = inside.as_ref().as_bytes();
        let relative = bytes.strip_prefix(b"/").unwrap_or(bytes);
        self.root.path().join(OsStr::from_bytes(relative))
    }

    /// A path in the scratch directory (outside the root) for test outputs
    /// such as databases and logs.
    pub(crate) fn scratch(&self, name: &str) -> PathBuf {
        self.build.path().join(name)
    }

    /// `mkdir -p` inside the root.
    pub(crate) fn mkdir(&self, inside: impl AsRef<OsStr>) {
        let dir = self.host(inside);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    }

    fn parent_dir(&self, inside: &OsStr) {
        let host = self.host(inside);
        if let Some(parent) = host.parent() {
            fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
        }
    }

    /// Writes a file inside the root (parents created).
    pub(crate) fn write(&self, inside: impl AsRef<OsStr>, contents: impl AsRef<[u8]>) {
        let inside = inside.as_ref();
        self.parent_dir(inside);
        fs::write(self.host(inside), contents)
            .unwrap_or_else(|e| panic!("write {}: {e}", self.host(inside).display()));
    }

    /// Writes an executable file (mode 0755) inside the root.
    pub(crate) fn write_exec(&self, inside: impl AsRef<OsStr>, contents: impl AsRef<[u8]>) {
        let inside = inside.as_ref();
        self.write(inside, contents);
        fs::set_permissions(self.host(inside), fs::Permissions::from_mode(0o755))
            .expect("chmod 755");
    }

    /// Creates the symlink `link -> target` inside the root; `target` is
    /// stored verbatim (an absolute target means "inside the root" to the
    /// tools under test, and the host path to naive ones).
    pub(crate) fn symlink(&self, target: impl AsRef<OsStr>, link: impl AsRef<OsStr>) {
        let link = link.as_ref();
        self.parent_dir(link);
        std::os::unix::fs::symlink(target.as_ref(), self.host(link))
            .unwrap_or_else(|e| panic!("symlink {}: {e}", self.host(link).display()));
    }

    /// Copies a host file into the root at `inside` (mode 0755).
    pub(crate) fn install(&self, host_file: &Path, inside: impl AsRef<OsStr>) {
        let inside = inside.as_ref();
        self.parent_dir(inside);
        let dest = self.host(inside);
        fs::copy(host_file, &dest)
            .unwrap_or_else(|e| panic!("copy {} to {}: {e}", host_file.display(), dest.display()));
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o755)).expect("chmod 755");
    }

    /// Compiles `recipe` in the scratch directory (never inside the root) and
    /// returns the object's path there.
    pub(crate) fn build(&self, recipe: Build) -> PathBuf {
        let n = self.builds.get();
        self.builds.set(n + 1);
        let dir = self.build.path().join(n.to_string());
        fs::create_dir_all(&dir).expect("build dir");
        let out = dir.join(&recipe.file_name);

        let mut cmd = Command::new(match recipe.toolchain {
            Toolchain::Gnu | Toolchain::Gnu32 => "cc",
            Toolchain::Musl => "musl-gcc",
        });
        if recipe.toolchain == Toolchain::Gnu32 {
            cmd.arg("-m32");
        }
        cmd.arg("-w").arg("-O1").arg("-o").arg(&out);
        if let Some(soname) = &recipe.soname {
            let mut flag = OsString::from("-Wl,-soname,");
            flag.push(soname);
            cmd.arg("-shared").arg("-fPIC").arg(flag);
        } else {
            cmd.arg("-Wl,--allow-shlib-undefined");
        }
        for define in &recipe.defines {
            cmd.arg(format!("-D{define}"));
        }
        cmd.arg(fixture_source(recipe.source));
        cmd.arg("-Wl,--no-as-needed");
        for lib in &recipe.links {
            let mut flag = OsString::from("-Wl,-rpath-link,");
            flag.push(lib.parent().expect("built lib has a dir"));
            cmd.arg(flag).arg(lib);
        }
        cmd.args(&recipe.ldflags);
        run_ok(cmd);
        if recipe.auxiliary_as_rpath {
            retag_dynamic(&out, DT_AUXILIARY, DT_RPATH);
        }
        out
    }

    /// [`build`](Self::build) then [`install`](Self::install) at `inside`.
    pub(crate) fn build_into(&self, recipe: Build, inside: impl AsRef<OsStr>) -> PathBuf {
        let built = self.build(recipe);
        self.install(&built, inside);
        built
    }

    /// Writes `/etc/ld.so.conf`.
    pub(crate) fn ld_so_conf(&self, contents: &str) {
        self.write("/etc/ld.so.conf", contents);
    }

    /// Runs the host's real `ldconfig` on the root to build
    /// `/etc/ld.so.cache` from the root's `/etc/ld.so.conf`. `-X` keeps it
    /// from creating SONAME symlinks, so the fixture stays exactly as built.
    pub(crate) fn ldconfig(&self) {
        let mut cmd = Command::new(host_tool("ldconfig"));
        cmd.env_clear()
            .arg("-X")
            .arg("-i")
            .arg("-r")
            .arg(self.path());
        run_ok(cmd);
        assert!(
            self.host("/etc/ld.so.cache").is_file(),
            "ldconfig wrote no cache"
        );
    }

    /// Whether `/etc/ld.so.cache` holds the string `path` (a cache value).
    pub(crate) fn cache_mentions(&self, path: &str) -> bool {
        let cache = fs::read(self.host("/etc/ld.so.cache")).unwrap_or_default();
        let needle = [path.as_bytes(), b"\0"].concat();
        find(&cache, &needle).is_some()
    }

    /// Oracle for glibc roots: the root's loader, run inside the root (see
    /// `fixtures/trace_exec.c`) in trace mode, as `ldd` runs it:
    /// `LD_TRACE_LOADED_OBJECTS=1 /lib64/ld-linux-x86-64.so.2 EXE`, with no
    /// other environment and `/` as working directory. (`ld.so --list` would
    /// stop at the first missing library instead of listing it as not found.)
    pub(crate) fn oracle(&self, exe: impl AsRef<OsStr>) -> Oracle {
        self.trace(false, &[OsStr::new(GLIBC_INTERP), exe.as_ref()])
    }

    /// Oracle for glibc roots, starting EXE itself the way the kernel does,
    /// in trace mode: the executable's `$ORIGIN` then comes from its real
    /// path (/proc/self/exe), where an explicit loader invocation would use
    /// the path given. Mounts a private /proc at ROOT/proc for the run.
    pub(crate) fn oracle_exec(&self, exe: impl AsRef<OsStr>) -> Oracle {
        self.mkdir("/proc");
        self.trace(true, &[exe.as_ref()])
    }

    fn trace(&self, with_proc: bool, program: &[&OsStr]) -> Oracle {
        let helper = self.build.path().join("trace_exec");
        if !helper.exists() {
            let mut cc = Command::new("cc");
            cc.arg("-o")
                .arg(&helper)
                .arg(fixture_source("trace_exec.c"));
            run_ok(cc);
        }
        let mut cmd = Command::new(&helper);
        cmd.env_clear();
        if with_proc {
            cmd.arg("--proc");
        }
        cmd.arg(self.path()).args(program);
        let out = run_with_timeout(cmd, CHILD_TIMEOUT);
        assert_ne!(code(&out), 126, "trace_exec failed:\n{}", show(&out));
        Oracle::parse(out)
    }

    /// Oracle for musl roots: `chroot ROOT /lib/ld-musl-x86_64.so.1 --list
    /// EXE` (musl's ldd mode) with an empty environment.
    pub(crate) fn oracle_musl(&self, exe: impl AsRef<OsStr>) -> Oracle {
        let mut cmd = Command::new(host_tool("chroot"));
        cmd.env_clear()
            .arg(self.path())
            .arg(MUSL_INTERP)
            .arg("--list")
            .arg(exe.as_ref());
        Oracle::parse(run_with_timeout(cmd, CHILD_TIMEOUT))
    }

    /// `kaudit deps --root ROOT --format list PATH`.
    pub(crate) fn deps_list(&self, path: impl AsRef<OsStr>) -> Output {
        kaudit([
            OsStr::new("deps"),
            OsStr::new("--root"),
            self.path().as_os_str(),
            OsStr::new("--format"),
            OsStr::new("list"),
            path.as_ref(),
        ])
    }

    /// `kaudit deps --root ROOT --format json PATH`, parsed.
    pub(crate) fn deps_json(&self, path: impl AsRef<OsStr>) -> (Output, Deps) {
        let out = kaudit([
            OsStr::new("deps"),
            OsStr::new("--root"),
            self.path().as_os_str(),
            OsStr::new("--format"),
            OsStr::new("json"),
            path.as_ref(),
        ]);
        let value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("deps --format json printed no JSON ({e}):\n{}", show(&out))
        });
        (out, Deps(value))
    }

    /// `kaudit scan --root ROOT --db DB`.
    pub(crate) fn scan(&self, db: &Path) -> Output {
        kaudit([
            OsStr::new("scan"),
            OsStr::new("--root"),
            self.path().as_os_str(),
            OsStr::new("--db"),
            db.as_os_str(),
        ])
    }

    /// `kaudit trace --root ROOT --name NAME FLAGS… --db DB -- COMMAND…`,
    /// which must pass. The caller holds [`tracing_turn`].
    pub(crate) fn kaudit_trace(
        &self,
        db: &Path,
        name: &str,
        flags: &[&str],
        command: &[&str],
    ) -> Output {
        let mut args: Vec<&OsStr> = vec![
            OsStr::new("trace"),
            OsStr::new("--root"),
            self.path().as_os_str(),
            OsStr::new("--name"),
            OsStr::new(name),
            OsStr::new("--db"),
            db.as_os_str(),
        ];
        args.extend(flags.iter().map(OsStr::new));
        args.push(OsStr::new("--"));
        args.extend(command.iter().map(OsStr::new));
        let out = kaudit(args);
        assert_eq!(code(&out), 0, "trace {name}: {}", show(&out));
        out
    }
}

/// What the root's own loader reported for one executable.
#[derive(Debug)]
pub(crate) struct Oracle {
    /// Every listed object that has a path (the interpreter included; the
    /// vDSO dropped), once each, in the order printed = load order.
    pub(crate) resolved: Vec<PathBuf>,
    /// `(requested name, path)` for each `name => path` line.
    pub(crate) by_name: Vec<(OsString, PathBuf)>,
    /// Names reported as not found (glibc: `name => not found`; musl:
    /// `Error loading shared library name: No such file or directory`).
    pub(crate) unresolved: Vec<OsString>,
    /// The loader's error message when the load failed for another reason
    /// (glibc: `error while loading shared libraries`, exit 127).
    pub(crate) error: Option<String>,
    /// musl's `Error relocating …` lines (symbol lookups in ldd mode).
    pub(crate) relocation_errors: Vec<String>,
    /// The loader's raw output.
    pub(crate) output: Output,
}

impl Oracle {
    fn parse(output: Output) -> Self {
        let mut oracle = Oracle {
            resolved: Vec::new(),
            by_name: Vec::new(),
            unresolved: Vec::new(),
            error: None,
            relocation_errors: Vec::new(),
            output,
        };
        for raw in oracle.output.stdout.clone().split(|&b| b == b'\n') {
            let line = raw.trim_ascii();
            if line.is_empty() || line == b"statically linked" {
                continue;
            }
            let line = match find(line, b" (0x") {
                Some(at) if line.ends_with(b")") => &line[..at],
                _ => line,
            };
            let (name, path) = match find(line, b" => ") {
                Some(at) => (&line[..at], &line[at + 4..]),
                None => (line, line),
            };
            if name.starts_with(b"linux-vdso.so") || name.starts_with(b"linux-gate.so") {
                continue;
            }
            if path == b"not found" {
                oracle.unresolved.push(OsStr::from_bytes(name).to_owned());
                continue;
            }
            let path = PathBuf::from(OsStr::from_bytes(path));
            if name != path.as_os_str().as_bytes() {
                oracle
                    .by_name
                    .push((OsStr::from_bytes(name).to_owned(), path.clone()));
            }
            if !oracle.resolved.contains(&path) {
                oracle.resolved.push(path);
            }
        }
        let stderr = String::from_utf8_lossy(&oracle.output.stderr).into_owned();
        let mut other_errors = Vec::new();
        for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(rest) = line.strip_prefix("Error loading shared library ") {
                match rest.split_once(": No such file or directory") {
                    Some((name, _)) => oracle.unresolved.push(name.into()),
                    None => other_errors.push(line.to_owned()),
                }
            } else if line.starts_with("Error relocating ") {
                oracle.relocation_errors.push(line.to_owned());
            } else {
                other_errors.push(line.to_owned());
            }
        }
        let glibc_failed = !oracle.output.status.success() && oracle.unresolved.is_empty();
        if !other_errors.is_empty() || glibc_failed {
            oracle.error = Some(if other_errors.is_empty() {
                format!("loader exited with {}", oracle.output.status)
            } else {
                other_errors.join("\n")
            });
        }
        oracle
    }

    /// The path the loader printed for the requested `name`.
    pub(crate) fn path_of(&self, name: impl AsRef<OsStr>) -> Option<&Path> {
        let name = name.as_ref();
        self.by_name
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.as_path())
    }

    /// Human-readable dump for assertion messages.
    pub(crate) fn show(&self) -> String {
        show(&self.output)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Asserts that `kaudit deps --format list` printed exactly the oracle's
/// resolved objects, in the oracle's order.
pub(crate) fn assert_list_matches(out: &Output, oracle: &Oracle) {
    assert_eq!(
        lines_as_paths(&out.stdout),
        oracle.resolved,
        "kaudit deps --format list differs from the loader\nkaudit {}\nloader {}",
        show(out),
        oracle.show()
    );
}

/// Parsed `kaudit deps --format json` output for one PATH.
#[derive(Debug)]
pub(crate) struct Deps(pub(crate) Value);

impl Deps {
    fn array(&self, key: &str) -> &[Value] {
        self.0[key]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_else(|| panic!("`{key}` is not an array in {:#}", self.0))
    }

    /// The DT_NEEDED edge `from --name-->`.
    pub(crate) fn edge(&self, from: &str, name: &str) -> &Value {
        self.array("edges")
            .iter()
            .find(|e| e["from"] == from && e["name"] == name)
            .unwrap_or_else(|| panic!("no edge {from} -> {name} in {:#}", self.0))
    }

    /// The loaded object whose path (as opened) is `path`.
    pub(crate) fn object(&self, path: &str) -> &Value {
        self.array("objects")
            .iter()
            .find(|o| o["path"] == path)
            .unwrap_or_else(|| panic!("no object {path} in {:#}", self.0))
    }

    /// Finding codes, in output order.
    pub(crate) fn finding_codes(&self) -> Vec<&str> {
        self.array("findings")
            .iter()
            .filter_map(|f| f["code"].as_str())
            .collect()
    }

    /// Findings with `code`.
    pub(crate) fn findings(&self, code: &str) -> Vec<&Value> {
        self.array("findings")
            .iter()
            .filter(|f| f["code"] == code)
            .collect()
    }

    /// `(name, needed_by)` of each unresolved entry.
    pub(crate) fn unresolved(&self) -> Vec<(String, String)> {
        self.array("unresolved")
            .iter()
            .map(|u| {
                (
                    u["name"].as_str().unwrap_or_default().to_owned(),
                    u["needed_by"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// Asserts the edge `from -> name` was resolved to `to` by `rule`, with
    /// `via` as given (`None` = JSON null).
    pub(crate) fn assert_edge(
        &self,
        from: &str,
        name: &str,
        to: &str,
        rule: &str,
        via: Option<&str>,
    ) {
        let edge = self.edge(from, name);
        assert_eq!(edge["to"], to, "edge {from} -> {name}: {edge:#}");
        assert_eq!(edge["rule"], rule, "edge {from} -> {name}: {edge:#}");
        let expected_via = via.map_or(Value::Null, |v| Value::String(v.to_owned()));
        assert_eq!(edge["via"], expected_via, "edge {from} -> {name}: {edge:#}");
    }
}

/// Runs `sqlite3` on `db` and returns its output (one row per line, columns
/// separated by `|`).
pub(crate) fn sqlite(db: &Path, sql: &str) -> String {
    let mut cmd = Command::new("sqlite3");
    cmd.arg("-batch")
        .arg("-bail")
        .arg("-noheader")
        .arg(db)
        .arg(sql);
    let out = run_ok(cmd);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts `out` exited 0, showing its output otherwise.
pub(crate) fn assert_exit(out: &Output, expected: i32, what: &str) {
    assert_eq!(code(out), expected, "{what}\n{}", show(out));
}

/// Bytes for a path made of `parts` (some of which need not be UTF-8).
pub(crate) fn bytes_path(parts: &[&[u8]]) -> OsString {
    OsString::from_vec(parts.concat())
}

/// Runs `kaudit deps` on `exe` in both `list` and `json` formats and checks
/// them against the oracle: the list equals the loader's (same order), the
/// exit code is 0 exactly when the loader found every name (else 1), and the
/// unresolved names are the loader's. Returns the JSON for rule checks.
pub(crate) fn compare_with_oracle(root: &FixtureRoot, exe: &str, oracle: &Oracle) -> Deps {
    assert!(
        oracle.error.is_none(),
        "the fixture's loader failed: {}",
        oracle.show()
    );
    let expected_exit = if oracle.unresolved.is_empty() { 0 } else { 1 };
    let list = root.deps_list(exe);
    assert_exit(
        &list,
        expected_exit,
        &format!("deps --format list {exe}, loader said:\n{}", oracle.show()),
    );
    assert_list_matches(&list, oracle);

    let (json, deps) = root.deps_json(exe);
    assert_exit(&json, expected_exit, &format!("deps --format json {exe}"));
    assert_eq!(deps.0["path"], exe, "{:#}", deps.0);
    let mut ours: Vec<String> = deps.unresolved().into_iter().map(|(n, _)| n).collect();
    ours.sort();
    ours.dedup();
    let mut theirs: Vec<String> = oracle
        .unresolved
        .iter()
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    theirs.sort();
    theirs.dedup();
    assert_eq!(ours, theirs, "unresolved names differ from the loader's");
    if expected_exit == 1 {
        assert!(
            deps.finding_codes().contains(&"unresolved-needed"),
            "no unresolved-needed finding: {:#}",
            deps.0
        );
    }
    deps
}
