//! The closure of a profile over the evidence graph, and what is reported
//! from it: the allowlist that builds the image, `why` a path is kept (or
//! not), what breaks without it, and which directories must stay writable.
//!
//! Everything here reads the graph written by `kaudit scan` and
//! `kaudit trace`; nothing reads the root itself.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod cache;
pub mod check;
pub mod closure;
pub mod escape;
pub mod gate;
pub mod graph;
pub mod mask;
pub mod pages;
pub mod pathser;
pub mod profile;
pub mod runs;
pub mod units;
pub mod why;
pub mod writable;

pub use closure::{Closure, Entry, Reason};
pub use profile::{Profile, ProfileError};

/// The parent directory of an absolute path inside the root (`None` for `/`).
pub fn parent(path: &[u8]) -> Option<&[u8]> {
    (path.starts_with(b"/") && path != b"/").then(|| kaudit_analyzer::bytes::parent(path))
}

/// A host path as a path inside `root` (a host path too): `None` when it
/// is not at or below `root`. Every path is inside `/`.
pub fn within_root(root: &[u8], p: &[u8]) -> Option<Vec<u8>> {
    let root = root.strip_suffix(b"/").unwrap_or(root);
    if root.is_empty() {
        return Some(p.to_vec());
    }
    let rest = p.strip_prefix(root)?;
    match rest {
        b"" => Some(b"/".to_vec()),
        r if r.starts_with(b"/") => Some(r.to_vec()),
        _ => None,
    }
}

/// A path for humans: UTF-8 as is, other bytes escaped as `\xNN`.
pub fn show(path: &[u8]) -> String {
    let mut out = String::with_capacity(path.len());
    for chunk in path.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents() {
        assert_eq!(parent(b"/usr/bin/sh"), Some(&b"/usr/bin"[..]));
        assert_eq!(parent(b"/usr"), Some(&b"/"[..]));
        assert_eq!(parent(b"/"), None);
    }

    #[test]
    fn host_paths_inside_a_root() {
        assert_eq!(
            within_root(b"/srv/node", b"/srv/node/usr/bin/x").as_deref(),
            Some(&b"/usr/bin/x"[..])
        );
        assert_eq!(
            within_root(b"/srv/node/", b"/srv/node").as_deref(),
            Some(&b"/"[..])
        );
        assert_eq!(within_root(b"/srv/node", b"/srv/nodes/x"), None);
        assert_eq!(within_root(b"/", b"/usr").as_deref(), Some(&b"/usr"[..]));
    }

    #[test]
    fn shown_paths_escape_bytes_that_are_not_utf8() {
        assert_eq!(show(b"/a\xffb"), "/a\\xffb");
    }
}
