//! Init-system evidence: what a root's init system is configured to run and
//! in which order, as edges of kind `init`.
//!
//! systemd: every unit file in the unit directories (`/etc/systemd/system`,
//! `/run/systemd/system`, `/usr/local/lib/systemd/system`,
//! `/usr/lib/systemd/system`, `/lib/systemd/system`; the first one holding a
//! name wins, a link to `/dev/null` masks it) gives
//! - an edge to the program of each `ExecStart=`, `ExecStartPre=`,
//!   `ExecStartPost=`, `ExecReload=`, `ExecStop=`, `ExecStopPost=` and
//!   `ExecCondition=` (prefixes `@-:+!` taken off; a name without a `/` looked
//!   up in systemd's fixed search path), rule: the directive;
//! - an edge to the unit file of each unit named by `Requires=`,
//!   `Requisite=`, `Wants=`, `BindsTo=`, `PartOf=`, `Upholds=`, `OnFailure=`
//!   and `After=` (templates `NAME@INSTANCE` found as `NAME@`), rule: the
//!   directive;
//! - an edge to each drop-in (`NAME.d/*.conf` in any unit directory), rule
//!   `drop-in`; a drop-in's own directives are edges from the drop-in;
//! - from a unit to each entry of its `.wants/` and `.requires/` directories
//!   (how `systemctl enable` enables a unit), rule `wants-dir` or
//!   `requires-dir`.
//!
//! OpenRC: every script in `/etc/init.d` gives an edge to the program of its
//! `command=`, rule `command`, and to the script of each service its
//! `depend()` names with `need`, `use`, `want` or `after`, rule: that word;
//! each runlevel directory (`/etc/runlevels/LEVEL`) has an edge to each of
//! its entries, rule `runlevel`.
//!
//! These edges are evidence, not needs: the closure does not follow them (a
//! unit's program is kept because the traced boot ran it, or not at all),
//! but `why` and `rdeps` show them, so a reader learns which unit starts a
//! program and what enables that unit.

use crate::bytes;
use crate::rootfs::{self, Index, Kind, Root};
use crate::scan::{EdgeKind, EdgeRec};

/// systemd's unit directories, in the order it searches them.
const UNIT_DIRS: &[&[u8]] = &[
    b"/etc/systemd/system",
    b"/run/systemd/system",
    b"/usr/local/lib/systemd/system",
    b"/usr/lib/systemd/system",
    b"/lib/systemd/system",
];

/// Unit file suffixes.
const SUFFIXES: &[&[u8]] = &[
    b".service",
    b".socket",
    b".target",
    b".timer",
    b".mount",
    b".automount",
    b".path",
    b".slice",
    b".scope",
    b".swap",
    b".device",
];

/// The systemd directives that run a program (the `rule` of their edges).
pub const EXEC: &[&str] = &[
    "ExecStart",
    "ExecStartPre",
    "ExecStartPost",
    "ExecReload",
    "ExecStop",
    "ExecStopPost",
    "ExecCondition",
];

/// The OpenRC variable that names the program a service script runs (the
/// `rule` of its edge).
pub const OPENRC_COMMAND: &str = "command";

const DEPS: &[&str] = &[
    "Requires",
    "Requisite",
    "Wants",
    "BindsTo",
    "PartOf",
    "Upholds",
    "OnFailure",
    "After",
];

/// systemd's search path for a program named without a `/` (used for an
/// OpenRC `command=` without one, too).
const EXEC_PATH: &[&[u8]] = &[
    b"/usr/local/sbin",
    b"/usr/local/bin",
    b"/usr/sbin",
    b"/usr/bin",
    b"/sbin",
    b"/bin",
];

/// The largest unit file or init script read.
const MAX_FILE: u64 = 1 << 20;

fn is_unit_name(name: &[u8]) -> bool {
    SUFFIXES.iter().any(|s| name.ends_with(s)) && name.len() > 1
}

/// The unit directories that exist, each once, as real paths (with their
/// directory symlinks resolved: `/lib/systemd/system` is
/// `/usr/lib/systemd/system` on a usrmerged root).
fn unit_dirs(index: &Index) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for d in UNIT_DIRS {
        let res = rootfs::resolve(index, d, b"/");
        if let Ok((path, meta)) = res.target {
            if meta.kind == Kind::Dir && !out.contains(&path) {
                out.push(path);
            }
        }
    }
    out
}

/// The entries directly in `dir`.
fn children<'a>(index: &'a Index, dir: &[u8]) -> impl Iterator<Item = &'a rootfs::Entry> + 'a {
    let prefix = if dir == b"/" {
        b"/".to_vec()
    } else {
        let mut p = dir.to_vec();
        p.push(b'/');
        p
    };
    let start = index
        .entries()
        .partition_point(|e| e.path.as_slice() < prefix.as_slice());
    let len = prefix.len();
    index.entries()[start..]
        .iter()
        .take_while(move |e| e.path.starts_with(&prefix))
        .filter(move |e| !e.path[len..].contains(&b'/'))
}

use bytes::file_name;

/// The systemd unit files of a root: name → the entry that defines it (the
/// first directory holding the name), masked units left out.
struct Units<'a> {
    index: &'a Index,
    dirs: Vec<Vec<u8>>,
}

impl Units<'_> {
    /// The entry defining `name` (its path as found; may be a symlink), and
    /// the regular file it leads to.
    fn find(&self, name: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        let mut names = vec![name.to_vec()];
        // a template instance: NAME@INSTANCE.SUFFIX is defined by NAME@.SUFFIX
        if let (Some(at), Some(dot)) = (
            name.iter().position(|&b| b == b'@'),
            name.iter().rposition(|&b| b == b'.'),
        ) {
            if at + 1 < dot {
                let mut t = name[..=at].to_vec();
                t.extend_from_slice(&name[dot..]);
                names.push(t);
            }
        }
        for n in &names {
            for d in &self.dirs {
                let p = bytes::join(d, n);
                if self.index.get(&p).is_none() {
                    continue;
                }
                let res = rootfs::resolve(self.index, &p, b"/");
                return match res.target {
                    Ok((file, meta)) if meta.kind == Kind::File && file != b"/dev/null" => {
                        Some((p, file))
                    }
                    // masked (a link to /dev/null) or broken
                    _ => None,
                };
            }
        }
        None
    }
}

/// A unit file's directives: (section, key, value), continuation lines
/// joined, comments left out.
fn directives(text: &[u8]) -> Vec<(String, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut pending: Option<(String, Vec<u8>)> = None;
    for raw in text.split(|&b| b == b'\n') {
        let line = raw.trim_ascii();
        if let Some((key, mut value)) = pending.take() {
            let more = line.ends_with(b"\\");
            value.push(b' ');
            value.extend_from_slice(line.strip_suffix(b"\\").unwrap_or(line));
            if more {
                pending = Some((key, value));
            } else {
                out.push((section.clone(), key, value));
            }
            continue;
        }
        if line.is_empty() || line.starts_with(b"#") || line.starts_with(b";") {
            continue;
        }
        if line.starts_with(b"[") && line.ends_with(b"]") {
            section = String::from_utf8_lossy(&line[1..line.len() - 1]).into_owned();
            continue;
        }
        let Some(eq) = line.iter().position(|&b| b == b'=') else {
            continue;
        };
        let key = String::from_utf8_lossy(line[..eq].trim_ascii()).into_owned();
        let value = line[eq + 1..].trim_ascii();
        if let Some(v) = value.strip_suffix(b"\\") {
            pending = Some((key, v.to_vec()));
        } else {
            out.push((section.clone(), key, value.to_vec()));
        }
    }
    if let Some((key, value)) = pending {
        out.push((section, key, value));
    }
    out
}

/// The program of an `Exec*=` command line: prefixes off, first word
/// (quotes removed).
fn exec_program(value: &[u8]) -> Option<Vec<u8>> {
    let v = value.trim_ascii_start();
    let v = &v[v
        .iter()
        .position(|b| !b"@-:+!".contains(b))
        .unwrap_or(v.len())..];
    let v = v.trim_ascii_start();
    if v.is_empty() {
        return None;
    }
    let word = if let Some(rest) = v.strip_prefix(b"\"") {
        rest.split(|&b| b == b'"').next()?.to_vec()
    } else {
        v.split(|b| b.is_ascii_whitespace()).next()?.to_vec()
    };
    (!word.is_empty()).then_some(word)
}

/// The entry a program name leads to: an absolute path as it is, a bare name
/// through `path`.
fn program(index: &Index, name: &[u8], path: &[&[u8]]) -> Option<Vec<u8>> {
    if name.starts_with(b"/") {
        let res = rootfs::resolve(index, name, b"/");
        return res.named;
    }
    if name.contains(&b'/') {
        return None;
    }
    path.iter().find_map(|d| {
        let cand = bytes::join(d, name);
        let res = rootfs::resolve(index, &cand, b"/");
        matches!(&res.target, Ok((_, m)) if m.kind == Kind::File && m.mode & 0o111 != 0)
            .then_some(res.named)
            .flatten()
    })
}

fn edge(src: &[u8], dst: Vec<u8>, name: &[u8], rule: &str, path: Option<&[u8]>) -> EdgeRec {
    EdgeRec {
        context: None,
        seq: 0,
        src: src.to_vec(),
        dst: Some(dst),
        kind: EdgeKind::Init,
        name: Some(name.to_vec()),
        path: path.map(<[u8]>::to_vec),
        rule: Some(rule.to_string()),
        via: None,
        file: None,
    }
}

/// The edges of one unit file's (or drop-in's) directives.
fn unit_file_edges(units: &Units<'_>, root: &Root, file: &[u8], out: &mut Vec<EdgeRec>) {
    let Ok(text) = root.read_file(file, MAX_FILE) else {
        return;
    };
    for (_, key, value) in directives(&text) {
        if EXEC.contains(&key.as_str()) {
            let Some(prog) = exec_program(&value) else {
                continue;
            };
            if let Some(dst) = program(units.index, &prog, EXEC_PATH) {
                out.push(edge(file, dst, &value, &key, Some(&prog)));
            }
        } else if DEPS.contains(&key.as_str()) {
            for name in value.split(|b| b.is_ascii_whitespace()) {
                if name.is_empty() {
                    continue;
                }
                if let Some((entry, _)) = units.find(name) {
                    out.push(edge(file, entry, name, &key, None));
                }
            }
        }
    }
}

/// Every init-system edge of the root.
pub fn edges(root: &Root, index: &Index) -> Vec<EdgeRec> {
    let mut out = Vec::new();
    systemd(root, index, &mut out);
    openrc(root, index, &mut out);
    out.sort();
    out.dedup();
    out
}

fn systemd(root: &Root, index: &Index, out: &mut Vec<EdgeRec>) {
    let units = Units {
        index,
        dirs: unit_dirs(index),
    };
    if units.dirs.is_empty() {
        return;
    }
    // every unit name defined, once
    let mut names: Vec<Vec<u8>> = Vec::new();
    for d in &units.dirs {
        for e in children(index, d) {
            let n = file_name(&e.path);
            if is_unit_name(n) && e.meta.kind != Kind::Dir && !names.iter().any(|x| x == n) {
                names.push(n.to_vec());
            }
        }
    }
    for name in &names {
        let Some((_, file)) = units.find(name) else {
            continue;
        };
        unit_file_edges(&units, root, &file, out);
        for d in &units.dirs {
            // drop-ins
            let mut dropin = name.clone();
            dropin.extend_from_slice(b".d");
            for e in children(index, &bytes::join(d, &dropin)) {
                if e.path.ends_with(b".conf") {
                    out.push(edge(
                        &file,
                        e.path.clone(),
                        file_name(&e.path),
                        "drop-in",
                        None,
                    ));
                    if e.meta.kind == Kind::File {
                        unit_file_edges(&units, root, &e.path, out);
                    }
                }
            }
            // what enables units: NAME.wants/ and NAME.requires/
            for (suffix, rule) in [
                (&b".wants"[..], "wants-dir"),
                (&b".requires"[..], "requires-dir"),
            ] {
                let mut dir = name.clone();
                dir.extend_from_slice(suffix);
                for e in children(index, &bytes::join(d, &dir)) {
                    out.push(edge(&file, e.path.clone(), file_name(&e.path), rule, None));
                }
            }
        }
    }
}

/// The value of a shell assignment `KEY=VALUE` on a line of an OpenRC
/// script (quotes removed).
fn assignment<'a>(line: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let rest = line.trim_ascii().strip_prefix(key)?.strip_prefix(b"=")?;
    let rest = rest.trim_ascii();
    let v = if let Some(q) = rest.strip_prefix(b"\"") {
        q.split(|&b| b == b'"').next()?
    } else if let Some(q) = rest.strip_prefix(b"'") {
        q.split(|&b| b == b'\'').next()?
    } else {
        rest.split(|b| b.is_ascii_whitespace()).next()?
    };
    Some(v)
}

fn openrc(root: &Root, index: &Index, out: &mut Vec<EdgeRec>) {
    let initd: &[u8] = b"/etc/init.d";
    if index.get(initd).is_none_or(|m| m.kind != Kind::Dir) {
        return;
    }
    for e in children(index, initd) {
        if e.meta.kind != Kind::File {
            continue;
        }
        let Ok(text) = root.read_file(&e.path, MAX_FILE) else {
            continue;
        };
        // only OpenRC's scripts (sysvinit scripts share the directory)
        let first = text.split(|&b| b == b'\n').next().unwrap_or_default();
        if !first.starts_with(b"#!") || memchr::memmem::find(first, b"openrc-run").is_none() {
            continue;
        }
        let mut in_depend = false;
        for line in text.split(|&b| b == b'\n') {
            let t = line.trim_ascii();
            if let Some(cmd) = assignment(t, OPENRC_COMMAND.as_bytes()) {
                if let Some(dst) = program(index, cmd, EXEC_PATH) {
                    out.push(edge(&e.path, dst, cmd, OPENRC_COMMAND, Some(cmd)));
                }
            }
            if t.starts_with(b"depend()") || t.starts_with(b"depend ()") {
                in_depend = true;
            }
            if in_depend {
                let body = t
                    .strip_prefix(b"depend()")
                    .or_else(|| t.strip_prefix(b"depend ()"))
                    .unwrap_or(t);
                let body = body.trim_ascii().trim_start_matches_bytes(b"{");
                for stmt in body.split(|&b| b == b';') {
                    let mut words = stmt
                        .split(|b| b.is_ascii_whitespace())
                        .filter(|w| !w.is_empty());
                    let Some(verb) = words.next() else { continue };
                    let rule = match verb {
                        b"need" => "need",
                        b"use" => "use",
                        b"want" => "want",
                        b"after" => "after",
                        _ => continue,
                    };
                    for svc in words {
                        if svc == b"}" || svc == b"*" {
                            continue;
                        }
                        let p = bytes::join(initd, svc);
                        if index.get(&p).is_some() {
                            out.push(edge(&e.path, p, svc, rule, None));
                        }
                    }
                }
                if t.contains(&b'}') {
                    in_depend = false;
                }
            }
        }
    }
    // runlevels: /etc/runlevels/LEVEL/NAME -> /etc/init.d/NAME
    for level in children(index, b"/etc/runlevels") {
        if level.meta.kind != Kind::Dir {
            continue;
        }
        for e in children(index, &level.path) {
            out.push(edge(
                &level.path,
                e.path.clone(),
                file_name(&e.path),
                "runlevel",
                None,
            ));
        }
    }
}

/// `trim_start_matches` for a byte string.
trait TrimBytes {
    fn trim_start_matches_bytes(&self, pat: &[u8]) -> &[u8];
}

impl TrimBytes for [u8] {
    fn trim_start_matches_bytes(&self, pat: &[u8]) -> &[u8] {
        let mut s = self;
        while let Some(r) = s.strip_prefix(pat) {
            s = r.trim_ascii_start();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_join_continuations_and_skip_comments() {
        let d = directives(
            b"# c\n[Unit]\nWants=a.service b.service\n[Service]\nExecStart=/usr/bin/x \\\n  --flag\n;x\n",
        );
        assert_eq!(
            d,
            vec![
                (
                    "Unit".into(),
                    "Wants".into(),
                    b"a.service b.service".to_vec()
                ),
                (
                    "Service".into(),
                    "ExecStart".into(),
                    b"/usr/bin/x  --flag".to_vec()
                ),
            ]
        );
    }

    #[test]
    fn exec_programs_lose_their_prefixes() {
        assert_eq!(
            exec_program(b"-/sbin/modprobe overlay"),
            Some(b"/sbin/modprobe".to_vec())
        );
        assert_eq!(
            exec_program(b"!!/usr/lib/systemd/systemd-networkd"),
            Some(b"/usr/lib/systemd/systemd-networkd".to_vec())
        );
        assert_eq!(exec_program(b"@/bin/sh sh -c x"), Some(b"/bin/sh".to_vec()));
        assert_eq!(
            exec_program(b"\"/opt/my prog\" a"),
            Some(b"/opt/my prog".to_vec())
        );
        assert_eq!(exec_program(b""), None);
    }

    #[test]
    fn openrc_assignments_are_read() {
        assert_eq!(
            assignment(b"command=\"/usr/bin/containerd\"", b"command"),
            Some(&b"/usr/bin/containerd"[..])
        );
        assert_eq!(
            assignment(b"command=/usr/bin/x", b"command"),
            Some(&b"/usr/bin/x"[..])
        );
        assert_eq!(assignment(b"command_args=\"-a\"", b"command"), None);
    }
}
