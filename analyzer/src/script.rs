//! Scripts: the interpreter named by a `#!` line, as the kernel reads it.
//!
//! Linux reads the first line (up to 256 bytes), skips blanks after `#!`, takes
//! the interpreter path up to the next blank and at most one argument (the rest
//! of the line, trimmed). `#!/usr/bin/env NAME` runs NAME found through `PATH`,
//! so the program that really runs is resolved through a `PATH` as well.

/// The kernel's `BINPRM_BUF_SIZE`: only this much of the first line is read.
pub const SHEBANG_MAX: usize = 256;

/// The default `PATH` used to resolve `env NAME` (what a login shell or an
/// init system would typically provide on a node).
pub const DEFAULT_PATH: &[u8] = b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A parsed `#!` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shebang {
    /// The interpreter path as written.
    pub interpreter: Vec<u8>,
    /// The optional single argument.
    pub argument: Option<Vec<u8>>,
}

impl Shebang {
    /// For `env` interpreters: the program name `env` will look up through
    /// `PATH` (skipping `env`'s own options and `VAR=value` assignments).
    pub fn env_program(&self) -> Option<&[u8]> {
        if crate::bytes::file_name(&self.interpreter) != b"env" {
            return None;
        }
        let arg = self.argument.as_deref()?;
        arg.split(|b| *b == b' ' || *b == b'\t')
            .filter(|w| !w.is_empty())
            .find(|w| !w.starts_with(b"-") && !w.contains(&b'='))
    }
}

/// Parse the first bytes of a file; `None` when it does not start with `#!`
/// or names no interpreter.
pub fn parse(head: &[u8]) -> Option<Shebang> {
    let rest = head.strip_prefix(b"#!")?;
    let rest = &rest[..rest.len().min(SHEBANG_MAX - 2)];
    let line_end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
    let line = &rest[..line_end];
    let is_blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = line.iter().position(|b| !is_blank(b))?;
    let line = &line[start..];
    let end = line.iter().position(is_blank).unwrap_or(line.len());
    let interpreter = line[..end].to_vec();
    if interpreter.is_empty() {
        return None;
    }
    let arg = &line[end..];
    let arg = trim(arg);
    Some(Shebang {
        interpreter,
        argument: if arg.is_empty() {
            None
        } else {
            Some(arg.to_vec())
        },
    })
}

fn trim(b: &[u8]) -> &[u8] {
    let is_ws = |c: &u8| matches!(*c, b' ' | b'\t' | b'\r');
    let s = b.iter().position(|c| !is_ws(c)).unwrap_or(b.len());
    let e = b.iter().rposition(|c| !is_ws(c)).map_or(s, |e| e + 1);
    &b[s..e.max(s)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_env() {
        let s = parse(b"#!/bin/sh\necho").unwrap();
        assert_eq!(s.interpreter, b"/bin/sh");
        assert_eq!(s.argument, None);
        let s = parse(b"#! /usr/bin/env  python3 \n").unwrap();
        assert_eq!(s.interpreter, b"/usr/bin/env");
        assert_eq!(s.env_program(), Some(&b"python3"[..]));
        let s = parse(b"#!/usr/bin/env -S perl -w\n").unwrap();
        assert_eq!(s.env_program(), Some(&b"perl"[..]));
        let s = parse(b"#!/bin/bash -e\r\n").unwrap();
        assert_eq!(s.argument.as_deref(), Some(&b"-e"[..]));
        assert!(parse(b"#!\n").is_none());
        assert!(parse(b"\x7fELF").is_none());
    }
}
