//! `kaudit docs`: the justification pages of a profile, as Markdown that
//! reads well in a repository and in mdBook, with SVG pictures. The output
//! is byte-identical for identical input.
//!
//! This module writes the pages; `index` makes `index.md`, `writable.md`
//! and `SUMMARY.md`, `package` the package model and its pages, `size` and
//! `needs` the two pictures (`size.svg`, `graph.svg`), `svg` what they
//! share.

mod index;
mod needs;
mod package;
mod size;
mod svg;

#[cfg(test)]
mod fixture;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::closure::Closure;
use crate::escape::visible;
use crate::profile::Profile;
use crate::writable::Writable;

use index::{index_md, summary_md, writable_md};
use needs::graph_svg;
pub use needs::{needs, Need};
use package::{package_md, packages};
use size::size_svg;

/// One file of a package, kept or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkgFile {
    /// Path inside the root (canonical: as the scanned root has it).
    pub path: Vec<u8>,
    /// `file`, `dir`, `symlink`, …
    pub kind: String,
    /// `st_size` (0 for directories).
    pub size: u64,
    /// A symlink to a directory (`/bin -> usr/bin`): shared like a
    /// directory, so not counted as a file of the package.
    pub dir_link: bool,
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
    /// What each kept object needs directly ([`needs`]), for `graph.svg`.
    pub needs: &'a [Need],
    /// The last proof of necessity of the profile (`kaudit prove`): each
    /// entry's proof kind and what shows it; `None` when never proven.
    pub proofs: Option<&'a BTreeMap<Vec<u8>, (String, String)>>,
}

/// Write the pages of `site` into `out` (created if missing; files kaudit
/// writes there are replaced, nothing else touched). Returns the files
/// written, relative to `out`, sorted.
///
/// Each file is written to a temporary file in its directory and renamed
/// into place. Pages of packages from an earlier write that no longer keep
/// anything are left as they are. `book.toml` (so that `mdbook build DIR`
/// works) is written when DIR has none or has the one kaudit wrote (its
/// first line is [`BOOK_MARK`]); another is left as it is, and not listed.
pub fn write(site: &Site<'_>, out: &Path) -> io::Result<Vec<PathBuf>> {
    let mut pages = render(site);
    fs::create_dir_all(out)?;
    let ours = match fs::read(out.join("book.toml")) {
        Ok(b) => b.starts_with(BOOK_MARK.as_bytes()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => true,
        Err(e) => return Err(e),
    };
    if ours {
        pages.insert(PathBuf::from("book.toml"), book_toml(site));
    }
    for (rel, text) in &pages {
        let dest = out.join(rel);
        let mut dir = out.to_path_buf();
        if let Some(sub) = rel.parent() {
            for c in sub.components() {
                dir.push(c);
                real_dir(&dir)?;
            }
        }
        put(&dir, &dest, text.as_bytes())?;
    }
    Ok(pages.into_keys().collect())
}

/// Every page, by its path relative to the output directory.
fn render(site: &Site<'_>) -> BTreeMap<PathBuf, String> {
    let pkgs = packages(site);
    let mut pages = BTreeMap::new();
    pages.insert(PathBuf::from("index.md"), index_md(site, &pkgs));
    pages.insert(PathBuf::from("writable.md"), writable_md(site));
    pages.insert(PathBuf::from("size.svg"), size_svg(site, &pkgs));
    pages.insert(PathBuf::from("graph.svg"), graph_svg(site));
    pages.insert(PathBuf::from("SUMMARY.md"), summary_md(site, &pkgs));
    for p in &pkgs {
        if let Some(slug) = &p.slug {
            pages.insert(
                PathBuf::from("packages").join(format!("{slug}.md")),
                package_md(site, p),
            );
        }
    }
    pages
}

/// The first line of the `book.toml` kaudit writes: one without it is
/// someone else's, and never replaced.
pub const BOOK_MARK: &str =
    "# Written by `kaudit docs`, and replaced by it: remove this line to keep your changes.";

/// mdBook's configuration for the pages: the title, and the pages in the
/// directory itself (`SUMMARY.md` is there).
fn book_toml(site: &Site<'_>) -> String {
    let title = toml::Value::String(format!("Image of profile {}", visible(&site.profile.name)));
    format!(
        "{BOOK_MARK}\n[book]\ntitle = {title}\nsrc = \".\"\n\n[build]\n# a page SUMMARY.md names but kaudit did not write is an error\ncreate-missing = false\n"
    )
}

/// `dir` is a directory (not a symlink to one), created if missing.
fn real_dir(dir: &Path) -> io::Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a directory", dir.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(dir),
        Err(e) => Err(e),
    }
}

/// Write `bytes` to `dest` through a temporary file in `dir`.
fn put(dir: &Path, dest: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".kaudit-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o644))?;
    tmp.persist(dest).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::fs;
    use std::path::PathBuf;

    use super::*;
    use crate::pages::fixture::{fixture, read, tree};

    #[test]
    fn pages_are_written_with_kept_and_dropped_counts_per_package() {
        let f = fixture();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("docs");
        let written = write(&f.site(), &out).unwrap();
        let names: Vec<&str> = written.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "SUMMARY.md",
                "book.toml",
                "graph.svg",
                "index.md",
                "packages/libz-ng.md",
                "packages/no-package.md",
                "packages/prog.md",
                "size.svg",
                "writable.md",
            ]
        );
        let index = read(&out, "index.md");
        assert!(index.starts_with("# Image of profile p\n\nA test node\n"));
        for row in [
            "| [(no package)](packages/no-package.md) | — | 4 | 6.9 KiB | 0 | 0 B |",
            "| [libz/ng](packages/libz-ng.md) | — | 2 | 2.0 KiB | 1 | 6.8 KiB |",
            "| [prog](packages/prog.md) | 1.0 | 1 | 1000 B | 1 | 500 B |",
            "2 package(s) keep nothing (2 files, 109 B dropped): sharer, unused.",
            // the root directory is the image, not an entry of it
            "| boot | 1 | 3 | 1000 B |",
            "| Kept entries | 16 of 40 in the root |",
            "| persistent | `/var/lib/x` | files written there outlive the run | in the image | create 2 |",
        ] {
            assert!(index.contains(row), "{row} not in\n{index}");
        }
        // by kept bytes, most first
        let at = |s: &str| index.find(s).unwrap();
        assert!(at("[(no package)]") < at("[libz/ng]"));
        assert!(at("[libz/ng]") < at("[prog]"));
        assert!(at("[prog]") < at("keep nothing"));
        let prog = read(&out, "packages/prog.md");
        assert!(prog.contains(
            "| `/usr/bin/prog` | file | 1000 B | executed by init\\[10] in boot (run 1) |"
        ));
        assert!(prog.contains("| `/usr/share/doc/prog/README` | file | 500 B |"));
        let libc_why = read(&out, "packages/no-package.md");
        assert!(
            libc_why.contains("| `/usr/lib/libc.so.6` | file | 2.9 KiB | needed: DT\\_NEEDED \"libc.so.6\" of /usr/bin/prog (1 more) |"),
            "{libc_why}"
        );
        let summary = read(&out, "SUMMARY.md");
        assert_eq!(
            summary,
            "# Summary\n\n- [Image of profile p](index.md)\n- [Writable paths](writable.md)\n\n# Packages\n\n- [libz/ng](packages/libz-ng.md)\n- [prog 1.0](packages/prog.md)\n- [(no package)](packages/no-package.md)\n"
        );
        let writable = read(&out, "writable.md");
        assert!(writable.contains("## `/var/lib/x`\n"));
        assert!(writable.contains("- Example: /var/lib/x/y create by prog\n"));
    }

    #[test]
    fn each_kept_entry_shows_its_proof_once_the_profile_is_proven() {
        let f = fixture();
        let mut proofs = BTreeMap::new();
        proofs.insert(
            b"/usr/bin/prog".to_vec(),
            (
                "replay".to_string(),
                "without it, step run of boot fails: prog: not found".to_string(),
            ),
        );
        proofs.insert(
            b"/usr/lib/libc.so.6".to_vec(),
            (
                "loader".to_string(),
                "DT_NEEDED \"libc.so.6\" of /usr/bin/prog".to_string(),
            ),
        );
        let mut site = f.site();
        site.proofs = Some(&proofs);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("docs");
        write(&site, &out).unwrap();
        let index = read(&out, "index.md");
        assert!(index.contains("## Proof of necessity"), "{index}");
        assert!(index.contains("| loader | 1 |"), "{index}");
        assert!(index.contains("| replay | 1 |"), "{index}");
        assert!(index.contains("| not proven yet | 14 |"), "{index}");
        let prog = read(&out, "packages/prog.md");
        assert!(
            prog.contains("| executed by init\\[10] in boot (run 1) | replay: without it, step run of boot fails: prog: not found |"),
            "{prog}"
        );
        let libc = read(&out, "packages/no-package.md");
        assert!(
            libc.contains("| loader: DT\\_NEEDED \"libc.so.6\" of /usr/bin/prog |"),
            "{libc}"
        );
        // without proofs: no such section, no such column
        let plain = tempfile::tempdir().unwrap();
        write(&f.site(), plain.path()).unwrap();
        assert!(!read(plain.path(), "index.md").contains("Proof of necessity"));
        assert!(!read(plain.path(), "packages/prog.md").contains("| Proof |"));
    }

    #[test]
    fn the_same_site_gives_byte_identical_trees() {
        let f = fixture();
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        write(&f.site(), a.path()).unwrap();
        write(&f.site(), b.path()).unwrap();
        let (ta, tb) = (tree(a.path()), tree(b.path()));
        assert_eq!(ta.len(), 9);
        assert_eq!(ta, tb);
    }

    #[test]
    fn writing_again_replaces_its_files_and_touches_nothing_else() {
        let f = fixture();
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("index.md"), "old").unwrap();
        fs::write(dir.path().join("book.toml"), "[book]\n").unwrap();
        write(&f.site(), dir.path()).unwrap();
        write(&f.site(), dir.path()).unwrap();
        assert!(read(dir.path(), "index.md").starts_with("# Image of profile p"));
        assert_eq!(read(dir.path(), "book.toml"), "[book]\n");
        // no temporary file is left behind
        assert_eq!(tree(dir.path()).len(), 9);
    }

    #[test]
    fn a_packages_symlink_is_refused_rather_than_followed() {
        let f = fixture();
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("packages")).unwrap();
        assert!(write(&f.site(), dir.path()).is_err());
        assert!(tree(elsewhere.path()).is_empty());
    }

    #[test]
    fn book_toml_is_written_unless_someone_elses() {
        let f = fixture();
        let dir = tempfile::tempdir().unwrap();
        let written = write(&f.site(), dir.path()).unwrap();
        assert!(written.contains(&PathBuf::from("book.toml")));
        let book = read(dir.path(), "book.toml");
        assert!(book.starts_with(BOOK_MARK), "{book}");
        assert!(
            book.contains("\ntitle = \"Image of profile p\"\nsrc = \".\"\n"),
            "{book}"
        );
        let parsed: toml::Table = book.parse().unwrap();
        assert_eq!(parsed["book"]["src"].as_str(), Some("."));
        // kaudit's own is replaced
        fs::write(
            dir.path().join("book.toml"),
            format!("{BOOK_MARK}\n[book]\ntitle = \"old\"\n"),
        )
        .unwrap();
        write(&f.site(), dir.path()).unwrap();
        assert_eq!(read(dir.path(), "book.toml"), book);
        // someone else's is left as it is, and not listed as written
        let theirs = "[book]\ntitle = \"Our node\"\nsrc = \".\"\n";
        fs::write(dir.path().join("book.toml"), theirs).unwrap();
        let written = write(&f.site(), dir.path()).unwrap();
        assert!(!written.contains(&PathBuf::from("book.toml")));
        assert_eq!(read(dir.path(), "book.toml"), theirs);
    }

    #[test]
    fn index_snapshot() {
        let f = fixture();
        let dir = tempfile::tempdir().unwrap();
        write(&f.site(), dir.path()).unwrap();
        insta::assert_snapshot!("index", read(dir.path(), "index.md"));
    }
}
