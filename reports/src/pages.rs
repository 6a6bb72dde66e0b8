//! `kaudit docs`: the justification pages of a profile, as Markdown that
//! reads well in a repository and in mdBook, with SVG pictures. The output
//! is byte-identical for identical input.

use crate::closure::Closure;
use crate::profile::Profile;
use crate::writable::Writable;

/// One file of a package, kept or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkgFile {
    /// Path inside the root (canonical: as the scanned root has it).
    pub path: Vec<u8>,
    /// `file`, `dir`, `symlink`, …
    pub kind: String,
    /// `st_size` (0 for directories).
    pub size: u64,
}

/// A package of the root and every file it owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFiles {
    /// Name (`libseccomp2`, `sys-libs/libseccomp`).
    pub name: String,
    /// Version, when known.
    pub version: Option<String>,
    /// Its files.
    pub files: Vec<PkgFile>,
}

/// Everything the pages are made from.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    /// The profile.
    pub profile: &'a Profile,
    /// The scanned root (shown, never read).
    pub root: &'a [u8],
    /// Entries in the scanned root.
    pub root_entries: u64,
    /// Bytes of regular files in the scanned root.
    pub root_bytes: u64,
    /// The closure of the profile.
    pub closure: &'a Closure,
    /// The writable directories of the profile's runs.
    pub writable: &'a [Writable],
    /// Every package of the root with all its files (empty when the root
    /// has no package database).
    pub packages: &'a [PackageFiles],
}
