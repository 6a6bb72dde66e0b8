//! The closure of a profile over the evidence graph, and what is reported
//! from it: the allowlist that builds the image, `why` a path is kept (or
//! not), what breaks without it, and which directories must stay writable.
//!
//! Everything here reads the graph written by `kaudit scan` and
//! `kaudit trace`; nothing reads the root itself.

pub mod cache;
pub mod check;
pub mod closure;
pub mod graph;
pub mod mask;
pub mod pages;
pub mod pathser;
pub mod profile;
pub mod runs;
pub mod why;
pub mod writable;

pub use closure::{Closure, Entry, Reason};
pub use profile::{Profile, ProfileError};

/// The parent directory of an absolute path inside the root (`None` for `/`).
pub fn parent(path: &[u8]) -> Option<&[u8]> {
    if path == b"/" || path.is_empty() {
        return None;
    }
    let cut = path.iter().rposition(|&b| b == b'/')?;
    Some(if cut == 0 { &b"/"[..] } else { &path[..cut] })
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
    fn shown_paths_escape_bytes_that_are_not_utf8() {
        assert_eq!(show(b"/a\xffb"), "/a\\xffb");
    }
}
