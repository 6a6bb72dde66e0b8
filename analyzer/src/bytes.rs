//! Helpers for paths as bytes.
//!
//! File names on Linux are bytes, not text; every path in the analyzer is a
//! `Vec<u8>` (absolute, inside the analysed root) and is only turned into text
//! at the edges, lossily and only for display.

use std::borrow::Cow;

/// The longest path, in bytes, that a system call takes whole: the kernel's
/// `PATH_MAX` (4096) counts the terminating NUL, so 4095 bytes of path.
pub const PATH_MAX_LEN: usize = 4095;

/// The path as text for display: UTF-8 when it is, lossy otherwise.
pub fn display(path: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(path)
}

/// The directory part of an absolute path (`/a/b` → `/a`, `/a` → `/`).
pub fn parent(path: &[u8]) -> &[u8] {
    match memchr::memrchr(b'/', path) {
        Some(0) => b"/",
        Some(i) => &path[..i],
        None => b".",
    }
}

/// The last component of a path.
pub fn file_name(path: &[u8]) -> &[u8] {
    match memchr::memrchr(b'/', path) {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// Whether `path` is `dir` or lies below it (every path lies below `/`).
pub fn at_or_below(path: &[u8], dir: &[u8]) -> bool {
    dir == b"/" || path == dir || (path.starts_with(dir) && path.get(dir.len()) == Some(&b'/'))
}

/// `dir` joined with `name` (no normalisation; `dir` may end with `/`).
pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(dir.len() + 1 + name.len());
    out.extend_from_slice(dir);
    if !out.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

/// Lexically normalise an absolute path: collapse `//`, drop `.`, resolve `..`
/// against the text (stopping at `/`). Symlinks are not looked at.
pub fn normalize(path: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return b"/".to_vec();
    }
    let mut out = Vec::with_capacity(path.len());
    for p in parts {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    out
}

/// Whether the path is valid UTF-8.
pub fn is_utf8(path: &[u8]) -> bool {
    std::str::from_utf8(path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_and_name() {
        assert_eq!(parent(b"/a/b"), b"/a");
        assert_eq!(parent(b"/a"), b"/");
        assert_eq!(file_name(b"/a/b"), b"b");
        assert_eq!(join(b"/", b"x"), b"/x");
        assert_eq!(join(b"/a/", b"x"), b"/a/x");
    }

    #[test]
    fn normalize_clamps_at_root() {
        assert_eq!(normalize(b"/../../x//y/./z/.."), b"/x/y");
        assert_eq!(normalize(b"/"), b"/");
    }
}
