//! `ld.so.conf` as glibc's `ldconfig` reads it, inside an analysed root.
//!
//! The rules reproduce `ldconfig`'s `parse_conf` (glibc 2.36, checked against
//! the real tool with `ldconfig -r ROOT -v -N -X`):
//!
//! - each line is cut at its first `#` (and first NUL), leading whitespace is
//!   skipped and blank lines are ignored;
//! - `include` followed by a space or tab takes the rest of the line as glob
//!   patterns separated by spaces and tabs; a relative pattern is relative to
//!   the directory of the including file; the matches of each pattern are read
//!   in byte order of their full paths (glob(3) sorting in the C locale);
//!   wildcards (`*`, `?`, `[...]`) may appear in any component and never match
//!   a leading `.`; matches that are directories or vanish are skipped
//!   silently;
//! - a line starting with `hwcap` (any case) and a space or tab is ignored;
//! - any other line is **one** directory: it is not split at spaces, `:` or
//!   `,` (glibc 2.36 treats `/a:/b` or `/a /b` as a single path that does not
//!   exist), a `=TYPE` suffix is removed, then trailing whitespace and
//!   trailing slashes; a line that becomes empty (`/`) is dropped;
//! - directories are kept in order of first appearance, de-duplicated by
//!   string (`ldconfig` de-duplicates by inode and drops directories that do
//!   not exist; both need the filesystem and are left to the caller).
//!
//! Files are told apart by where they lead ([`ConfFs::identity`]: `./a.conf`,
//! `../etc/a.conf` and a symlink to it are one file). `ldconfig` follows an
//! include cycle until it runs out of file descriptors, re-reading every file
//! on every path to it (with two includes per file the work doubles at each
//! step); here a cycle is an error, [`IncludeCycle`], that names the files
//! and lines around it, and a file included again after it was read adds
//! nothing (its directories are already in, first occurrence kept), so it is
//! not read again: the work is linear in the distinct files. Nesting stops at
//! [`MAX_INCLUDE_DEPTH`]. Every file is read through [`ConfFs`], never from
//! the host directly.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Read-only file access inside the analysed root; paths are absolute
/// *inside* the root (e.g. `b"/etc/ld.so.conf"`).
pub trait ConfFs {
    /// The contents of the file at `path`.
    fn read_file(&self, path: &[u8]) -> io::Result<Vec<u8>>;
    /// Names (not paths) of the entries of directory `path`, any order.
    fn list_dir(&self, path: &[u8]) -> io::Result<Vec<Vec<u8>>>;
    /// What tells the file at `path` apart from every other: by default the
    /// path with `.`, `..` and repeated slashes removed; an implementation
    /// that sees symlinks gives the path they lead to.
    fn identity(&self, path: &[u8]) -> Vec<u8> {
        crate::bytes::normalize(path)
    }
}

/// The result of reading `ld.so.conf` and everything it includes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LdConf {
    /// Configured directories in `ldconfig`'s order, without trailing slashes
    /// or `=TYPE` suffixes, first occurrence kept.
    pub dirs: Vec<Vec<u8>>,
    /// Every configuration file read, in the order read; each file once,
    /// under the path it was first included by.
    pub files_read: Vec<Vec<u8>>,
    /// What `ldconfig` would warn about, and files that could not be read.
    pub problems: Vec<ConfProblem>,
}

/// Something wrong in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfProblem {
    /// The configuration file concerned.
    pub file: Vec<u8>,
    /// Its line number, from 1 (0 when the problem is the file as a whole).
    pub line: usize,
    /// What is wrong, without a trailing period.
    pub message: String,
}

/// An `include` that leads back to a file still being read: `ldconfig` would
/// not finish (it re-reads the files until it runs out of file descriptors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("include cycle in ld.so.conf: {}", show_cycle(.steps, .back_to))]
pub struct IncludeCycle {
    /// The includes around the cycle, in order: each file (as first read)
    /// and the line of its `include` that leads to the next.
    pub steps: Vec<(Vec<u8>, usize)>,
    /// The file the last include names (as written there, made absolute),
    /// which is the first of `steps`.
    pub back_to: Vec<u8>,
}

fn show_cycle(steps: &[(Vec<u8>, usize)], back_to: &[u8]) -> String {
    let mut out = String::new();
    for (file, line) in steps {
        out.push_str(&format!("{}:{line} includes ", show(file)));
    }
    out.push_str(&show(back_to));
    out
}

/// How deep `include` directives may nest before reading stops.
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// The library types `ldconfig` accepts after `=`.
const LIBRARY_TYPES: [&[u8]; 4] = [b"libc4", b"libc5", b"libc6", b"glibc2"];

/// Read the configuration file at `path` (normally `/etc/ld.so.conf`) and
/// everything it includes. A missing file gives an empty result; an include
/// cycle is an error.
pub fn read_ld_so_conf(fs: &dyn ConfFs, path: &[u8]) -> Result<LdConf, IncludeCycle> {
    let mut reader = Reader {
        fs,
        out: LdConf::default(),
        reading: Vec::new(),
        seen_dirs: HashSet::new(),
        done: HashSet::new(),
        reads: 0,
    };
    reader.read_file(path, None)?;
    Ok(reader.out)
}

/// Where an `include` came from.
#[derive(Clone, Copy)]
struct Origin<'a> {
    file: &'a [u8],
    line: usize,
}

struct Reader<'a> {
    fs: &'a dyn ConfFs,
    out: LdConf,
    /// The files being read, outermost first: identity, path as read, and
    /// the line being read.
    reading: Vec<(Vec<u8>, Vec<u8>, usize)>,
    seen_dirs: HashSet<Vec<u8>>,
    /// Identities of the files read (or being read).
    done: HashSet<Vec<u8>>,
    /// How many files were read.
    reads: usize,
}

impl Reader<'_> {
    fn problem(&mut self, file: &[u8], line: usize, message: String) {
        self.out.problems.push(ConfProblem {
            file: file.to_vec(),
            line,
            message,
        });
    }

    fn read_file(&mut self, path: &[u8], origin: Option<Origin<'_>>) -> Result<(), IncludeCycle> {
        let (at_file, at_line) = origin.map_or((path, 0), |o| (o.file, o.line));
        let identity = self.fs.identity(path);
        if let Some(start) = self.reading.iter().position(|(id, _, _)| *id == identity) {
            return Err(IncludeCycle {
                steps: self.reading[start..]
                    .iter()
                    .map(|(_, file, line)| (file.clone(), *line))
                    .collect(),
                back_to: path.to_vec(),
            });
        }
        if self.done.contains(&identity) {
            // Read before: everything it adds is in already.
            return Ok(());
        }
        if self.reading.len() >= MAX_INCLUDE_DEPTH {
            let message = format!(
                "includes nested deeper than {MAX_INCLUDE_DEPTH}: {} not read",
                show(path)
            );
            self.problem(at_file, at_line, message);
            return Ok(());
        }
        let text = match self.fs.read_file(path) {
            Ok(text) => text,
            // ldconfig ignores missing files, and directories matched by a
            // glob (fopen succeeds, reading fails).
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(_) if self.fs.list_dir(path).is_ok() => return Ok(()),
            Err(e) => {
                let message = format!("cannot read {}: {e}", show(path));
                self.problem(at_file, at_line, message);
                return Ok(());
            }
        };
        self.reads += 1;
        self.done.insert(identity.clone());
        self.out.files_read.push(path.to_vec());
        self.reading.push((identity, path.to_vec(), 0));
        for (index, line) in text.split(|&b| b == b'\n').enumerate() {
            if let Some(top) = self.reading.last_mut() {
                top.2 = index + 1;
            }
            self.read_line(path, index + 1, line)?;
        }
        self.reading.pop();
        Ok(())
    }

    fn read_line(&mut self, file: &[u8], line_no: usize, line: &[u8]) -> Result<(), IncludeCycle> {
        let line = until(line, 0);
        let line = until(line, b'#');
        let start = line.iter().position(|&b| !is_c_space(b));
        let Some(start) = start else {
            return Ok(());
        };
        let line = &line[start..];
        if line.starts_with(b"include") && line.get(7).copied().is_some_and(is_blank) {
            let origin = Origin {
                file,
                line: line_no,
            };
            for pattern in line[8..].split(|&b| is_blank(b)).filter(|w| !w.is_empty()) {
                self.include(origin, pattern)?;
            }
        } else if line.len() > 5 && line[..5].eq_ignore_ascii_case(b"hwcap") && is_blank(line[5]) {
            // Ignored since glibc 2.32.
        } else {
            self.add_dir(file, line_no, line);
        }
        Ok(())
    }

    fn add_dir(&mut self, file: &[u8], line_no: usize, line: &[u8]) {
        let (mut dir, kind) = match line.iter().position(|&b| b == b'=') {
            Some(eq) => (&line[..eq], Some(&line[eq + 1..])),
            None => (line, None),
        };
        if let Some(kind) = kind {
            if !LIBRARY_TYPES.contains(&kind) {
                let message = format!("{} is not a known library type", show(kind));
                self.problem(file, line_no, message);
            }
        }
        while let [rest @ .., last] = dir {
            if !is_c_space(*last) {
                break;
            }
            dir = rest;
        }
        while let [rest @ .., b'/'] = dir {
            dir = rest;
        }
        if dir.is_empty() {
            return;
        }
        if !dir.starts_with(b"/") {
            let message = format!(
                "relative directory {}: ldconfig resolves it against its working directory",
                show(dir)
            );
            self.problem(file, line_no, message);
        }
        if self.seen_dirs.insert(dir.to_vec()) {
            self.out.dirs.push(dir.to_vec());
        }
    }

    fn include(&mut self, origin: Origin<'_>, pattern: &[u8]) -> Result<(), IncludeCycle> {
        let absolute = if pattern.starts_with(b"/") {
            pattern.to_vec()
        } else {
            let mut joined = dirname(origin.file).to_vec();
            joined.push(b'/');
            joined.extend_from_slice(pattern);
            joined
        };
        for path in glob(self.fs, &absolute) {
            self.read_file(&path, Some(origin))?;
        }
        Ok(())
    }
}

/// glob(3) without flags, through `fs`: the matches of an absolute pattern,
/// sorted by byte order of the whole path.
fn glob(fs: &dyn ConfFs, pattern: &[u8]) -> Vec<Vec<u8>> {
    let components: Vec<&[u8]> = pattern
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    if components.is_empty() {
        return Vec::new();
    }
    // Paths matched so far, without a trailing slash ("" is the root).
    let mut paths: Vec<Vec<u8>> = vec![Vec::new()];
    let mut wildcards = false;
    for component in components {
        if !has_wildcard(component) {
            let literal = unescape(component);
            for path in &mut paths {
                path.push(b'/');
                path.extend_from_slice(&literal);
            }
            continue;
        }
        wildcards = true;
        let matcher = ComponentMatcher::new(component);
        let mut next = Vec::new();
        for path in &paths {
            let dir: &[u8] = if path.is_empty() { b"/" } else { path };
            // Unreadable directories are skipped, as glob(3) does without
            // GLOB_ERR.
            let Ok(mut names) = fs.list_dir(dir) else {
                continue;
            };
            names.sort();
            for name in names {
                if matcher.matches(&name) {
                    let mut full = path.clone();
                    full.push(b'/');
                    full.extend_from_slice(&name);
                    next.push(full);
                }
            }
        }
        paths = next;
    }
    if wildcards {
        paths.sort();
    }
    paths
}

/// Whether glob(3) treats the component as a pattern: an unescaped `*` or
/// `?`, or a `[` with a closing `]`.
fn has_wildcard(component: &[u8]) -> bool {
    let mut i = 0;
    while i < component.len() {
        match component[i] {
            b'\\' => i += 1,
            b'*' | b'?' => return true,
            b'[' if class_end(component, i).is_some() => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// The index of the `]` closing the bracket expression opened at `open`.
fn class_end(component: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    if matches!(component.get(i), Some(b'!' | b'^')) {
        i += 1;
    }
    // A `]` right after the opening is a member, not the end.
    if component.get(i) == Some(&b']') {
        i += 1;
    }
    component[i.min(component.len())..]
        .iter()
        .position(|&b| b == b']')
        .map(|p| i + p)
}

/// The component with backslash escapes removed.
fn unescape(component: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(component.len());
    let mut bytes = component.iter();
    while let Some(&b) = bytes.next() {
        if b == b'\\' {
            out.push(bytes.next().copied().unwrap_or(b'\\'));
        } else {
            out.push(b);
        }
    }
    out
}

/// Matches one path component against one glob(3) pattern component.
struct ComponentMatcher {
    /// `None` when the pattern cannot be compiled: it then matches only
    /// itself, unescaped.
    glob: Option<globset::GlobMatcher>,
    literal: Vec<u8>,
    /// Whether the pattern starts with a literal `.`, which a leading `.` in
    /// a name requires.
    explicit_dot: bool,
}

impl ComponentMatcher {
    fn new(component: &[u8]) -> ComponentMatcher {
        let glob = globset::GlobBuilder::new(&globset_syntax(component))
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .ok()
            .map(|g| g.compile_matcher());
        ComponentMatcher {
            glob,
            literal: unescape(component),
            explicit_dot: component.starts_with(b".") || component.starts_with(b"\\."),
        }
    }

    fn matches(&self, name: &[u8]) -> bool {
        if name == b"." || name == b".." || (name.starts_with(b".") && !self.explicit_dot) {
            return false;
        }
        match &self.glob {
            Some(glob) => glob.is_match(Path::new(OsStr::from_bytes(name))),
            None => name == self.literal,
        }
    }
}

/// A glob(3) component in globset's syntax: braces and stray `]` become
/// literal, runs of `*` collapse (globset gives `**` a meaning of its own),
/// and a `[` without a closing `]` is literal.
fn globset_syntax(component: &[u8]) -> String {
    let text = String::from_utf8_lossy(component);
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(chars.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                out.push('\\');
                out.push(chars.get(i + 1).copied().unwrap_or('\\'));
                i += 2;
                continue;
            }
            '*' => {
                out.push('*');
                while chars.get(i + 1) == Some(&'*') {
                    i += 1;
                }
            }
            '[' => {
                let end = class_end_chars(&chars, i);
                match end {
                    Some(end) => {
                        out.push('[');
                        for &c in &chars[i + 1..end] {
                            out.push(c);
                        }
                        out.push(']');
                        i = end;
                    }
                    None => out.push_str("\\["),
                }
            }
            c @ ('{' | '}' | ']') => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

fn class_end_chars(chars: &[char], open: usize) -> Option<usize> {
    let mut i = open + 1;
    if matches!(chars.get(i), Some('!' | '^')) {
        i += 1;
    }
    if chars.get(i) == Some(&']') {
        i += 1;
    }
    chars[i.min(chars.len())..]
        .iter()
        .position(|&c| c == ']')
        .map(|p| i + p)
}

/// The part of `bytes` before the first `stop`.
fn until(bytes: &[u8], stop: u8) -> &[u8] {
    match memchr::memchr(stop, bytes) {
        Some(i) => &bytes[..i],
        None => bytes,
    }
}

/// C `isspace` in the C locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// C `isblank`.
fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// C `dirname` of an absolute path.
fn dirname(path: &[u8]) -> &[u8] {
    let trimmed = match path.iter().rposition(|&b| b != b'/') {
        Some(last) => &path[..=last],
        None => return b"/",
    };
    match memchr::memrchr(b'/', trimmed) {
        Some(slash) => {
            let parent = &trimmed[..slash];
            match parent.iter().rposition(|&b| b != b'/') {
                Some(last) => &parent[..=last],
                None => b"/",
            }
        }
        None => b".",
    }
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::PathBuf;
    use std::process::Command;

    /// An in-memory root: files with contents (or an error), and the
    /// directories implied by their paths plus any listed explicitly.
    #[derive(Default)]
    struct MemFs {
        files: BTreeMap<Vec<u8>, Result<Vec<u8>, io::ErrorKind>>,
        dirs: BTreeSet<Vec<u8>>,
    }

    impl MemFs {
        fn new(files: &[(&str, &str)]) -> MemFs {
            let mut fs = MemFs::default();
            for (path, text) in files {
                fs.file(path, Ok(text.as_bytes().to_vec()));
            }
            fs
        }

        fn file(&mut self, path: &str, contents: Result<Vec<u8>, io::ErrorKind>) {
            let mut dir = dirname(path.as_bytes()).to_vec();
            loop {
                self.dirs.insert(dir.clone());
                if dir == b"/" {
                    break;
                }
                dir = dirname(&dir).to_vec();
            }
            self.files.insert(path.as_bytes().to_vec(), contents);
        }

        fn dir(&mut self, path: &str) {
            self.file(&format!("{path}/.keep"), Ok(Vec::new()));
        }
    }

    /// `.` and `..` resolved lexically (the in-memory root has no symlinks).
    fn normalize(path: &[u8]) -> Vec<u8> {
        let mut parts: Vec<&[u8]> = Vec::new();
        for part in path.split(|&b| b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    parts.pop();
                }
                _ => parts.push(part),
            }
        }
        if parts.is_empty() {
            return b"/".to_vec();
        }
        parts
            .iter()
            .flat_map(|p| [&b"/"[..], p])
            .flatten()
            .copied()
            .collect()
    }

    impl ConfFs for MemFs {
        fn read_file(&self, path: &[u8]) -> io::Result<Vec<u8>> {
            let path = normalize(path);
            let path = path.as_slice();
            match self.files.get(path) {
                Some(Ok(data)) => Ok(data.clone()),
                Some(Err(kind)) => Err(io::Error::from(*kind)),
                None if self.dirs.contains(path) => Err(io::Error::other("is a directory")),
                None => Err(io::ErrorKind::NotFound.into()),
            }
        }

        fn list_dir(&self, path: &[u8]) -> io::Result<Vec<Vec<u8>>> {
            let path = normalize(path);
            let path = path.as_slice();
            if !self.dirs.contains(path) {
                return Err(io::ErrorKind::NotFound.into());
            }
            let children = self
                .files
                .keys()
                .chain(self.dirs.iter())
                .filter(|p| p.as_slice() != b"/" && dirname(p) == path)
                .map(|p| p[p.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1)..].to_vec())
                .collect::<BTreeSet<_>>();
            Ok(children.into_iter().collect())
        }
    }

    fn strings(list: &[Vec<u8>]) -> Vec<String> {
        list.iter().map(|d| show(d)).collect()
    }

    #[test]
    fn lines_comments_types_and_slashes() {
        let fs = MemFs::new(&[(
            "/etc/ld.so.conf",
            "# comment\n\n   /usr/local/lib   # trailing\n/opt/a/\n/opt/b=libc6\n\
             /opt/c=weird\nhwcap 0 nosegneg\nHWCAP\t1 x\n/\n/usr/local/lib//\n\
             /a:/b\n/c, /d\n\t/e f \r\nrel/dir\ninclude\n/opt/n\0/ignored\n/last",
        )]);
        let conf = read_ld_so_conf(&fs, b"/etc/ld.so.conf").expect("no cycle");
        assert_eq!(
            strings(&conf.dirs),
            [
                "/usr/local/lib",
                "/opt/a",
                "/opt/b",
                "/opt/c",
                "/a:/b",
                "/c, /d",
                "/e f",
                "rel/dir",
                "include",
                "/opt/n",
                "/last"
            ]
        );
        assert_eq!(strings(&conf.files_read), ["/etc/ld.so.conf"]);
        let problems: Vec<(usize, &str)> = conf
            .problems
            .iter()
            .map(|p| (p.line, p.message.as_str()))
            .collect();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert_eq!(problems[0].0, 6);
        assert!(problems[0].1.contains("weird is not a known library type"));
        assert_eq!(problems[1].0, 14);
        assert!(problems[1].1.starts_with("relative directory rel/dir"));
        assert_eq!(problems[2].0, 15);
        assert!(conf.problems.iter().all(|p| !p.message.ends_with('.')));
    }

    #[test]
    fn includes_relative_sorted_nested_and_hidden() {
        let mut fs = MemFs::new(&[
            (
                "/etc/ld.so.conf",
                "/first\ninclude ld.so.conf.d/*.conf\t /etc/more/[ab]?.conf\n/last\n",
            ),
            ("/etc/ld.so.conf.d/b.conf", "/b\n"),
            (
                "/etc/ld.so.conf.d/a.conf",
                "/a\n/first\ninclude ../nested.conf\n",
            ),
            ("/etc/ld.so.conf.d/.hidden.conf", "/hidden\n"),
            ("/etc/ld.so.conf.d/c.conf.bak", "/bak\n"),
            ("/etc/nested.conf", "/nested\n"),
            ("/etc/more/b1.conf", "/b1\n"),
            ("/etc/more/a2.conf", "/a2\n"),
            ("/etc/more/c1.conf", "/c1\n"),
        ]);
        fs.dir("/etc/ld.so.conf.d/dir.conf");
        let conf = read_ld_so_conf(&fs, b"/etc/ld.so.conf").expect("no cycle");
        assert_eq!(
            strings(&conf.dirs),
            ["/first", "/a", "/nested", "/b", "/a2", "/b1", "/last"]
        );
        assert_eq!(
            strings(&conf.files_read),
            [
                "/etc/ld.so.conf",
                "/etc/ld.so.conf.d/a.conf",
                "/etc/ld.so.conf.d/../nested.conf",
                "/etc/ld.so.conf.d/b.conf",
                "/etc/more/a2.conf",
                "/etc/more/b1.conf"
            ]
        );
        assert!(conf.problems.is_empty(), "{:?}", conf.problems);
    }

    #[test]
    fn wildcards_in_directory_components_sort_by_full_path() {
        let fs = MemFs::new(&[
            (
                "/etc/ld.so.conf",
                "include /etc/c/*/x.conf /etc/c/?-*/y.conf\n",
            ),
            ("/etc/c/a/x.conf", "/from-a\n"),
            ("/etc/c/a-b/x.conf", "/from-a-b\n"),
            ("/etc/c/.h/x.conf", "/from-hidden\n"),
            ("/etc/c/z/x.conf", "/from-z\n"),
            ("/etc/c/q-r/y.conf", "/from-q-r\n"),
        ]);
        let conf = read_ld_so_conf(&fs, b"/etc/ld.so.conf").expect("no cycle");
        // "a-b/x.conf" sorts before "a/x.conf": '-' < '/'.
        assert_eq!(
            strings(&conf.dirs),
            ["/from-a-b", "/from-a", "/from-z", "/from-q-r"]
        );
    }

    #[test]
    fn glob_syntax_follows_glob3() {
        let fs = MemFs::new(&[
            (
                "/etc/ld.so.conf",
                "include /etc/g/{a,b}.conf /etc/g/{a,b}.c?g /etc/g/[!x]?.conf /etc/g/[.conf \
                 /etc/g/\\*.conf /etc/g/.*.conf",
            ),
            ("/etc/g/{a,b}.conf", "/braces\n"),
            ("/etc/g/{a,b}.cfg", "/braces-cfg\n"),
            ("/etc/g/a.cfg", "/alternation\n"),
            ("/etc/g/a.conf", "/a\n"),
            ("/etc/g/y1.conf", "/y1\n"),
            ("/etc/g/x1.conf", "/x1\n"),
            ("/etc/g/[.conf", "/bracket\n"),
            ("/etc/g/*.conf", "/star\n"),
            ("/etc/g/.h.conf", "/dot\n"),
        ]);
        let conf = read_ld_so_conf(&fs, b"/etc/ld.so.conf").expect("no cycle");
        assert_eq!(
            strings(&conf.dirs),
            ["/braces", "/braces-cfg", "/y1", "/bracket", "/star", "/dot"]
        );
    }

    #[test]
    fn depth_missing_and_unreadable_files() {
        let mut fs = MemFs::new(&[]);
        for i in 0..MAX_INCLUDE_DEPTH + 5 {
            fs.file(
                &format!("/etc/deep{i}.conf"),
                Ok(format!("/deep{i}\ninclude /etc/deep{}.conf\n", i + 1).into_bytes()),
            );
        }
        fs.file("/etc/locked.conf", Err(io::ErrorKind::PermissionDenied));
        fs.file(
            "/etc/ld.so.conf",
            Ok(
                b"/one\ninclude /etc/deep0.conf\ninclude /etc/locked.conf /etc/missing.conf\n"
                    .to_vec(),
            ),
        );
        let conf = read_ld_so_conf(&fs, b"/etc/ld.so.conf").expect("no cycle");
        let expected: Vec<String> = ["/one"]
            .into_iter()
            .map(str::to_owned)
            .chain((0..MAX_INCLUDE_DEPTH - 1).map(|i| format!("/deep{i}")))
            .collect();
        assert_eq!(strings(&conf.dirs), expected);
        let messages: Vec<String> = conf
            .problems
            .iter()
            .map(|p| format!("{}:{}: {}", show(&p.file), p.line, p.message))
            .collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].contains("nested deeper"));
        assert!(messages[1].starts_with("/etc/ld.so.conf:3: cannot read /etc/locked.conf"));

        let empty = read_ld_so_conf(&MemFs::default(), b"/etc/ld.so.conf").expect("no cycle");
        assert_eq!(empty, LdConf::default());
    }

    /// A file that includes itself under another name, or a file that
    /// includes one that includes it back, is a cycle naming every include
    /// around it; a file included twice without a cycle is not.
    #[test]
    fn include_cycles_are_errors_naming_the_cycle() {
        let fs = MemFs::new(&[(
            "/etc/ld.so.conf",
            "/one\ninclude ./ld.so.conf\ninclude ../etc/ld.so.conf\n",
        )]);
        let cycle = read_ld_so_conf(&fs, b"/etc/ld.so.conf").expect_err("a cycle");
        assert_eq!(cycle.steps, [(b"/etc/ld.so.conf".to_vec(), 2)]);
        assert_eq!(cycle.back_to, b"/etc/./ld.so.conf");
        assert_eq!(
            cycle.to_string(),
            "include cycle in ld.so.conf: /etc/ld.so.conf:2 includes /etc/./ld.so.conf"
        );

        let fs = MemFs::new(&[
            ("/etc/ld.so.conf", "/one\n\ninclude a.conf\n"),
            ("/etc/a.conf", "/a\ninclude b.conf\n"),
            ("/etc/b.conf", "/b\ninclude /etc/ld.so.conf.d/../a.conf\n"),
        ]);
        let cycle = read_ld_so_conf(&fs, b"/etc/ld.so.conf").expect_err("a cycle");
        assert_eq!(
            cycle.to_string(),
            "include cycle in ld.so.conf: /etc/a.conf:2 includes /etc/b.conf:2 includes \
             /etc/ld.so.conf.d/../a.conf"
        );

        let fs = MemFs::new(&[
            (
                "/etc/ld.so.conf",
                "include a.conf b.conf\ninclude ./a.conf\n/last\n",
            ),
            ("/etc/a.conf", "/a\ninclude b.conf\n"),
            ("/etc/b.conf", "/b\n"),
        ]);
        let conf = read_ld_so_conf(&fs, b"/etc/ld.so.conf").expect("no cycle");
        assert_eq!(strings(&conf.dirs), ["/a", "/b", "/last"]);
        assert_eq!(
            strings(&conf.files_read),
            ["/etc/ld.so.conf", "/etc/a.conf", "/etc/b.conf"]
        );
    }

    /// N files, each including the next twice: `ldconfig` reads the last one
    /// 2^N times; here every file is read once. A failure shows the work
    /// (files read) against what re-reading would cost.
    #[test]
    fn doubling_include_chain_reads_each_file_once() {
        for n in [10usize, 18, 22, 30] {
            let mut fs = MemFs::new(&[("/etc/ld.so.conf", "include c0.conf\n")]);
            for i in 0..n {
                let text = if i + 1 < n {
                    format!(
                        "/d{i}\ninclude c{next}.conf\ninclude ./c{next}.conf\n",
                        next = i + 1
                    )
                } else {
                    format!("/d{i}\n")
                };
                fs.file(&format!("/etc/c{i}.conf"), Ok(text.into_bytes()));
            }
            let conf = read_ld_so_conf(&fs, b"/etc/ld.so.conf").expect("no cycle");
            assert_eq!(
                conf.files_read.len(),
                n + 1,
                "chain of {n}: {} files read (re-reading every include: {})",
                conf.files_read.len(),
                (1u64 << n)
            );
            assert_eq!(conf.dirs.len(), n);
        }
    }

    #[test]
    fn dirname_like_c() {
        assert_eq!(dirname(b"/etc/ld.so.conf"), b"/etc");
        assert_eq!(dirname(b"/ld.so.conf"), b"/");
        assert_eq!(dirname(b"/etc//x//"), b"/etc");
        assert_eq!(dirname(b"/"), b"/");
    }

    /// The analysed root on disk, for the comparison with `ldconfig`.
    struct DiskFs(PathBuf);

    impl DiskFs {
        fn host_path(&self, path: &[u8]) -> PathBuf {
            let mut full = self.0.as_os_str().as_bytes().to_vec();
            full.extend_from_slice(path);
            PathBuf::from(OsStr::from_bytes(&full))
        }
    }

    impl ConfFs for DiskFs {
        fn read_file(&self, path: &[u8]) -> io::Result<Vec<u8>> {
            std::fs::read(self.host_path(path))
        }

        fn list_dir(&self, path: &[u8]) -> io::Result<Vec<Vec<u8>>> {
            std::fs::read_dir(self.host_path(path))?
                .map(|e| e.map(|e| e.file_name().as_bytes().to_vec()))
                .collect()
        }
    }

    impl Drop for DiskFs {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The directories `ldconfig -v` reports scanning, in order:
    /// `DIR: (from FILE:LINE)` lines.
    fn ldconfig_dirs(root: &Path) -> Vec<String> {
        let ldconfig = ["/usr/sbin/ldconfig", "/sbin/ldconfig"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("ldconfig is installed");
        let out = Command::new(ldconfig)
            .env_clear()
            .arg("-r")
            .arg(root)
            .args(["-v", "-N", "-X"])
            .output()
            .expect("run ldconfig");
        assert!(out.status.success(), "ldconfig failed: {out:?}");
        String::from_utf8(out.stdout)
            .expect("UTF-8 output")
            .lines()
            .filter(|l| !l.starts_with('\t'))
            .filter_map(|l| l.split_once(": (from ").map(|(dir, _)| dir.to_owned()))
            .collect()
    }

    #[test]
    fn matches_ldconfig_on_a_real_root() {
        let root = std::env::temp_dir().join(format!(
            "kaudit-ldconf-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        ));
        let fs = DiskFs(root.clone());
        let write = |path: &str, text: &str| {
            let full = fs.host_path(path.as_bytes());
            std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            std::fs::write(full, text).expect("write");
        };
        for dir in [
            "/a",
            "/b",
            "/c",
            "/d",
            "/e f",
            "/g/h",
            "/p,q",
            "/x/lib1",
            "/x/lib2",
            "/y/lib1",
            "/z",
            "/n1",
            "/n2",
            "/n3",
            "/h1",
            "/etc/c/dir.conf",
            "/m1",
            "/m2",
            "/m3",
            "/m4",
            "/m5",
            "/m6",
            "/m7",
        ] {
            std::fs::create_dir_all(fs.host_path(dir.as_bytes())).expect("mkdir");
        }
        write(
            "/etc/ld.so.conf",
            "# comment\n  /a   # trailing comment\n/b/\n/a:/c\n/p,q\n/e f\n\
             include ld.so.conf.d/*.conf\ninclude /etc/sub/[a-c]*.conf\t/etc/sub/z.conf\n\
             hwcap 0 foo\n/g=libc6\n/d=weird\n/x/*\n/b\n/nonexistent\n/\n\
             include /etc/c/*/x.conf /etc/c/*.conf\n/c\n\
             include /etc/g/{a,b}.c?g /etc/g/[!x]?.conf /etc/g/[.conf /etc/g/\\*.conf\n\
             include c/../g/.*.conf\n",
        );
        write("/etc/g/{a,b}.cfg", "/m1\n");
        write("/etc/g/a.cfg", "/m2\n");
        write("/etc/g/y1.conf", "/m3\n");
        write("/etc/g/x1.conf", "/m4\n");
        write("/etc/g/[.conf", "/m5\n");
        write("/etc/g/*.conf", "/m6\n");
        write("/etc/g/.h.conf", "/m7\n");
        write("/etc/ld.so.conf.d/10-x.conf", "/x/lib2\n");
        write("/etc/ld.so.conf.d/02-x.conf", "/x/lib1\n");
        write("/etc/ld.so.conf.d/.h.conf", "/h1\n");
        write("/etc/sub/b.conf", "/y/lib1\n");
        write("/etc/sub/a.conf", "/g/h\n");
        write("/etc/sub/z.conf", "/z\n");
        write("/etc/sub/cyc.conf", "/c\ninclude /etc/sub/cyc2.conf\n");
        write("/etc/sub/cyc2.conf", "/d\n");
        write("/etc/c/a/x.conf", "/n1\n");
        write("/etc/c/a-b/x.conf", "/n2\n");
        write("/etc/c/.h/x.conf", "/h1\n");
        write("/etc/c/z.conf", "/n3\n");

        let expected = ldconfig_dirs(&root);
        let conf = read_ld_so_conf(&fs, b"/etc/ld.so.conf").expect("no cycle");
        // ldconfig drops directories that do not exist and de-duplicates by
        // inode; apply the same filter to the configured list.
        let mut inodes = BTreeSet::new();
        let ours: Vec<String> = conf
            .dirs
            .iter()
            .filter_map(|d| {
                let meta = std::fs::metadata(fs.host_path(d)).ok()?;
                use std::os::unix::fs::MetadataExt;
                (meta.is_dir() && inodes.insert((meta.dev(), meta.ino()))).then(|| show(d))
            })
            .collect();
        assert!(expected.len() >= 20, "{expected:?}");
        assert_eq!(ours, expected);
        assert!(conf.dirs.contains(&b"/a:/c".to_vec()));
        assert!(conf.dirs.contains(&b"/x/*".to_vec()));
    }
}
