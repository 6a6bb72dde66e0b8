//! Findings: per-item problems that never stop a run.
//!
//! Each finding carries a stable, kebab-case [`Code`] that is the same in text
//! output, JSON, the database and the documentation (`docs/findings.md`).

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Worth knowing; nothing is wrong.
    Info,
    /// Probably wrong or CPU/configuration dependent.
    Warning,
    /// Something the node would trip over (a library that cannot be found).
    Error,
}

impl Severity {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $sev:ident; )*) => {
        /// The stable code of a finding.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum Code {
            $( $(#[$doc])* $variant, )*
        }

        impl Code {
            /// Every code, in documentation order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The kebab-case name used everywhere.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }

            /// The severity of this kind of finding.
            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$sev,)* }
            }

            /// Parse a kebab-case name.
            pub fn from_name(name: &str) -> Option<Code> {
                match name { $($name => Some(Code::$variant),)* _ => None }
            }
        }
    };
}

codes! {
    /// A DT_NEEDED entry that the loader cannot find.
    UnresolvedNeeded = "unresolved-needed", Error;
    /// A file found by the search aborts the whole load (glibc): not ELF, a directory, wrong byte order, wrong type.
    LoadError = "load-error", Error;
    /// The program interpreter (PT_INTERP) does not exist in the root.
    MissingInterpreter = "missing-interpreter", Error;
    /// An executable file whose ELF header the kernel refuses (`execve` fails with "Exec format error").
    ExecFormatError = "exec-format-error", Error;
    /// A script's shebang interpreter does not exist in the root.
    MissingShebangInterpreter = "missing-shebang-interpreter", Error;
    /// A file that starts like an ELF file but cannot be parsed.
    MalformedElf = "malformed-elf", Warning;
    /// A file that could not be read.
    Unreadable = "unreadable", Warning;
    /// A symlink chain longer than 40 hops, or a cycle.
    SymlinkLoop = "symlink-loop", Warning;
    /// A symlink whose `..` components climb above the root (clamped, as in a chroot).
    SymlinkEscapesRoot = "symlink-escapes-root", Warning;
    /// A symlink whose target does not exist inside the root.
    DanglingSymlink = "dangling-symlink", Info;
    /// A library of the other ELF class (or machine) found first in a search directory and skipped, as glibc does.
    WrongClassSkipped = "wrong-class-skipped", Info;
    /// An ld.so.cache entry whose file is missing or unusable; the search went on.
    StaleCacheEntry = "stale-cache-entry", Warning;
    /// The root has no usable ld.so.cache; ld.so.conf was read instead.
    NoLdSoCache = "no-ld-so-cache", Warning;
    /// ld.so.cache could not be parsed.
    CorruptLdSoCache = "corrupt-ld-so-cache", Warning;
    /// A problem in ld.so.conf or a file it includes.
    LdSoConf = "ld-so-conf", Warning;
    /// The loader's system directories were not found in its binary; a built-in table was used.
    SystemDirsGuessed = "system-dirs-guessed", Info;
    /// A resolution that depends on the CPU (glibc-hwcaps, $PLATFORM).
    CpuDependent = "cpu-dependent", Info;
    /// A search path element relative to the working directory (empty or relative RPATH/RUNPATH element).
    CwdDependent = "cwd-dependent", Warning;
    /// A FIFO, socket or device node; never opened.
    SpecialFile = "special-file", Info;
    /// A mount point of another filesystem, not descended into.
    OtherFilesystem = "other-filesystem", Info;
    /// A directory whose entries' paths would exceed PATH_MAX; they were not walked.
    PathTooLong = "path-too-long", Warning;
    /// A file name that is not valid UTF-8 (stored and printed as bytes).
    NonUtf8Name = "non-utf8-name", Info;
    /// An ELF object for a machine no known loader in the root handles.
    NoLoader = "no-loader", Warning;
    /// A traced run may have lost events (queue overflow, read error): it is incomplete.
    EventOverflow = "event-overflow", Error;
    /// A package database's record of an ELF file's DT_NEEDED entries differs from the file's own.
    NeededMismatch = "needed-mismatch", Warning;
    /// A file or symlink that no package owns (in a root that has a package database).
    UnownedFile = "unowned-file", Info;
    /// An entry (not a directory) that two packages claim.
    OwnedTwice = "owned-twice", Warning;
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One finding about one path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Finding {
    /// What kind of finding.
    pub code: Code,
    /// The path (inside the root) it is about.
    pub path: Vec<u8>,
    /// A human sentence, without trailing period.
    pub message: String,
}

impl Finding {
    /// A new finding.
    pub fn new(code: Code, path: impl Into<Vec<u8>>, message: impl Into<String>) -> Finding {
        Finding {
            code,
            path: path.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_kebab_case() {
        for &c in Code::ALL {
            assert_eq!(Code::from_name(c.as_str()), Some(c));
            assert!(c
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-' || b.is_ascii_digit()));
        }
    }
}
