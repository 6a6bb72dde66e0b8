//! Feeds for a Gentoo image build: per-package `INSTALL_MASK` patterns that
//! drop exactly the files no chain of evidence needs, and the set of
//! packages the image needs at all.
//!
//! `INSTALL_MASK` semantics (Portage): whitespace-separated globs, each
//! matched against a file's absolute path and against its name; a pattern
//! that names a directory drops everything below it; `-PATTERN` un-masks;
//! the last match wins; a pattern matching a symlink itself does not drop
//! it. The patterns written here are absolute paths with glob characters
//! escaped (`[*]`, `[?]`, `[[]`), a space written as `?` (the list is split
//! on whitespace), and directories only where every entry of the package
//! below them is dropped.

use std::collections::BTreeSet;

/// An entry a package installs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// Path inside the root.
    pub path: Vec<u8>,
    /// `dir`, `obj`, `sym`, `fif`, `dev` (as `CONTENTS` says).
    pub kind: String,
    /// Size (regular files).
    pub size: u64,
}

/// The masks of one package.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PackageMask {
    /// `CATEGORY/PN`.
    pub name: String,
    /// Its version.
    pub version: Option<String>,
    /// Entries it installs that the image keeps (directories not counted).
    pub kept: usize,
    /// Bytes of those.
    pub kept_bytes: u64,
    /// Entries it installs that nothing needs (directories not counted).
    pub dropped: usize,
    /// Bytes of those.
    pub dropped_bytes: u64,
    /// The patterns, sorted.
    pub masks: Vec<String>,
    /// Dropped symlinks no pattern can drop (`INSTALL_MASK` leaves symlinks).
    pub unmaskable: Vec<Vec<u8>>,
}

/// Strictly below `dir`.
fn under(path: &[u8], dir: &[u8]) -> bool {
    path != dir && kaudit_analyzer::bytes::at_or_below(path, dir)
}

/// A path as an `INSTALL_MASK` pattern that matches it and nothing else
/// (a space becomes `?`, which also matches any other single character).
pub fn pattern(path: &[u8]) -> String {
    let mut out = String::new();
    for chunk in path.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '*' => out.push_str("[*]"),
                '?' => out.push_str("[?]"),
                '[' => out.push_str("[[]"),
                c if c.is_whitespace() => out.push('?'),
                c => out.push(c),
            }
        }
        // a byte that is not UTF-8: any single character there
        for _ in chunk.invalid() {
            out.push('?');
        }
    }
    out
}

/// The masks of a package: `entries` are what it installs, `kept` says
/// whether the image keeps a path.
pub fn masks(
    name: &str,
    version: Option<&str>,
    entries: &[Installed],
    kept: &dyn Fn(&[u8]) -> bool,
) -> PackageMask {
    let mut m = PackageMask {
        name: name.to_string(),
        version: version.map(str::to_string),
        ..PackageMask::default()
    };
    let mut sorted: Vec<&Installed> = entries.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    for e in sorted.iter().filter(|e| e.kind != "dir") {
        if kept(&e.path) {
            m.kept += 1;
            m.kept_bytes += e.size;
        } else {
            m.dropped += 1;
            m.dropped_bytes += e.size;
        }
    }
    // the top-most directories of the package whose whole content (as far
    // as this package installs it) is dropped, and that are dropped themselves
    let mut dirs: Vec<&[u8]> = Vec::new();
    for d in sorted.iter().filter(|e| e.kind == "dir") {
        if kept(&d.path) || dirs.iter().any(|t| under(&d.path, t)) {
            continue;
        }
        let all_dropped = sorted
            .iter()
            .filter(|e| under(&e.path, &d.path))
            .all(|e| !kept(&e.path));
        if all_dropped {
            dirs.push(&d.path);
        }
    }
    let mut pats: BTreeSet<String> = dirs.iter().map(|d| pattern(d)).collect();
    for e in sorted.iter().filter(|e| e.kind != "dir" && !kept(&e.path)) {
        if dirs.iter().any(|d| under(&e.path, d)) {
            continue;
        }
        if e.kind == "sym" {
            m.unmaskable.push(e.path.clone());
        } else {
            pats.insert(pattern(&e.path));
        }
    }
    m.masks = pats.into_iter().collect();
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(path: &str, kind: &str) -> Installed {
        Installed {
            path: path.as_bytes().to_vec(),
            kind: kind.into(),
            size: 10,
        }
    }

    #[test]
    fn whole_directories_are_masked_once_and_kept_files_never() {
        let entries = vec![
            e("/usr", "dir"),
            e("/usr/lib64", "dir"),
            e("/usr/lib64/libz.so.1.3", "obj"),
            e("/usr/lib64/libz.so.1", "sym"),
            e("/usr/lib64/libz.so", "sym"),
            e("/usr/lib64/libz.a", "obj"),
            e("/usr/include", "dir"),
            e("/usr/include/zlib.h", "obj"),
            e("/usr/share", "dir"),
            e("/usr/share/doc", "dir"),
            e("/usr/share/doc/zlib-1.3", "dir"),
            e("/usr/share/doc/zlib-1.3/README", "obj"),
            e("/usr/share/doc/zlib-1.3/odd name*.txt", "obj"),
        ];
        let kept = |p: &[u8]| {
            [
                &b"/usr"[..],
                b"/usr/lib64",
                b"/usr/lib64/libz.so.1.3",
                b"/usr/lib64/libz.so.1",
                b"/usr/share",
            ]
            .contains(&p)
        };
        let m = masks("sys-libs/zlib", Some("1.3"), &entries, &kept);
        assert_eq!(
            m.masks,
            vec!["/usr/include", "/usr/lib64/libz.a", "/usr/share/doc"]
        );
        assert_eq!(m.unmaskable, vec![b"/usr/lib64/libz.so".to_vec()]);
        assert_eq!((m.kept, m.dropped), (2, 5));
    }

    #[test]
    fn patterns_escape_glob_characters_and_spaces() {
        assert_eq!(pattern(b"/a b/c*d?e[f"), "/a?b/c[*]d[?]e[[]f");
        assert_eq!(pattern(b"/caf\xe9"), "/caf?");
    }
}
