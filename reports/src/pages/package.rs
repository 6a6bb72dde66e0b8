//! The packages as the pages show them: each package's files split into
//! kept and dropped, the pseudo-package of kept entries no package owns,
//! and a page per package (`packages/SLUG.md`).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{PackageFiles, PkgFile, Site};
use crate::closure::Entry;
use crate::escape::{code, md};
use crate::units::human;
use crate::{show, why};

/// At most this many rows per table of a package page.
const MAX_ROWS: usize = 2000;
/// The pseudo-package of kept entries no package owns.
const NO_PACKAGE: &str = "(no package)";
/// Its page.
const NO_PACKAGE_SLUG: &str = "no-package";

/// The page name of a package: `/` becomes `-`, anything else outside
/// `[A-Za-z0-9._+-]` becomes `_`.
fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| match c {
            '/' => '-',
            c if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-') => c,
            _ => '_',
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

/// `base`, or `base-2`, `base-3`… the first not yet used.
fn unique(base: String, used: &mut BTreeSet<String>) -> String {
    let mut s = base.clone();
    let mut n = 2;
    while used.contains(&s) {
        s = format!("{base}-{n}");
        n += 1;
    }
    used.insert(s.clone());
    s
}

/// A size column: bytes of regular files, nothing for other types.
fn size_cell(kind: &str, size: u64) -> String {
    if kind == "file" {
        human(size)
    } else {
        "—".to_string()
    }
}

/// A file of a package page.
pub(super) struct Line<'a> {
    pub(super) path: &'a [u8],
    pub(super) kind: &'a str,
    pub(super) size: u64,
    pub(super) entry: Option<&'a Entry>,
}

/// A package, with its files split into kept and dropped.
pub(super) struct Pkg<'a> {
    pub(super) name: &'a str,
    pub(super) version: Option<&'a str>,
    /// Kept files, by path.
    pub(super) kept: Vec<Line<'a>>,
    /// Dropped files, by path.
    pub(super) dropped: Vec<Line<'a>>,
    pub(super) kept_bytes: u64,
    pub(super) dropped_bytes: u64,
    /// Its page (packages that keep something).
    pub(super) slug: Option<String>,
    /// The pseudo-package of entries no package owns.
    pub(super) pseudo: bool,
}

/// Bytes of the regular files among `lines`.
fn bytes_of(lines: &[Line<'_>]) -> u64 {
    lines
        .iter()
        .filter(|l| l.kind == "file")
        .map(|l| l.size)
        .sum()
}

/// The packages, and the pseudo-package of kept entries no package owns,
/// by kept bytes (most first), then name.
pub(super) fn packages<'a>(site: &Site<'a>) -> Vec<Pkg<'a>> {
    let mut order: Vec<&'a PackageFiles> = site.packages.iter().collect();
    order.sort_by(|a, b| {
        (a.name.as_str(), a.version.as_deref()).cmp(&(b.name.as_str(), b.version.as_deref()))
    });
    let mut used: BTreeSet<String> = BTreeSet::new();
    used.insert(NO_PACKAGE_SLUG.to_string());
    let mut owned: BTreeSet<&'a [u8]> = BTreeSet::new();
    let mut out = Vec::new();
    for p in order {
        let mut files: Vec<&'a PkgFile> = p.files.iter().collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files.dedup_by(|a, b| a.path == b.path);
        let (mut kept, mut dropped) = (Vec::new(), Vec::new());
        for f in files {
            owned.insert(&f.path);
            // directories, and symlinks to them, are shared by many
            // packages: not counted
            if f.kind == "dir" || f.dir_link {
                continue;
            }
            let entry = site.closure.entries.get(&f.path);
            let line = Line {
                path: &f.path,
                kind: &f.kind,
                size: f.size,
                entry,
            };
            if entry.is_some() {
                kept.push(line);
            } else {
                dropped.push(line);
            }
        }
        let slug = (!kept.is_empty()).then(|| unique(slug(&p.name), &mut used));
        out.push(Pkg {
            name: &p.name,
            version: p.version.as_deref(),
            kept_bytes: bytes_of(&kept),
            dropped_bytes: bytes_of(&dropped),
            kept,
            dropped,
            slug,
            pseudo: false,
        });
    }
    let loose: Vec<Line<'a>> = site
        .closure
        .entries
        .iter()
        .filter(|(p, e)| !owned.contains(p.as_slice()) && e.file.kind != "dir")
        .map(|(p, e)| Line {
            path: p,
            kind: &e.file.kind,
            size: e.file.size,
            entry: Some(e),
        })
        .collect();
    if !loose.is_empty() {
        out.push(Pkg {
            name: NO_PACKAGE,
            version: None,
            kept_bytes: bytes_of(&loose),
            dropped_bytes: 0,
            kept: loose,
            dropped: Vec::new(),
            slug: Some(NO_PACKAGE_SLUG.to_string()),
            pseudo: true,
        });
    }
    out.sort_by(|a, b| {
        b.kept_bytes
            .cmp(&a.kept_bytes)
            .then_with(|| a.pseudo.cmp(&b.pseudo))
            .then_with(|| a.name.cmp(b.name))
            .then_with(|| a.version.cmp(&b.version))
    });
    out
}

/// A package's name and version, for a heading or a link.
pub(super) fn title_of(p: &Pkg<'_>) -> String {
    match p.version {
        Some(v) => format!("{} {}", p.name, v),
        None => p.name.to_string(),
    }
}

/// A package's page.
pub(super) fn package_md(site: &Site<'_>, p: &Pkg<'_>) -> String {
    let mut s = String::new();
    if p.pseudo {
        let _ = writeln!(s, "# Kept entries of no package\n");
    } else {
        let _ = writeln!(s, "# Package {}\n", md(p.name));
        let _ = writeln!(
            s,
            "Version: {}.\n",
            p.version.map_or_else(|| "unknown".to_string(), md)
        );
    }
    let _ = writeln!(
        s,
        "[Back to the image of profile {}](../index.md)\n",
        md(&site.profile.name)
    );
    let _ = writeln!(
        s,
        "## Kept\n\n{} entr{}, {} in regular files.\n",
        p.kept.len(),
        if p.kept.len() == 1 { "y" } else { "ies" },
        human(p.kept_bytes)
    );
    if site.proofs.is_some() {
        s.push_str("| Path | Type | Size | Why | Proof |\n|---|---|---:|---|---|\n");
    } else {
        s.push_str("| Path | Type | Size | Why |\n|---|---|---:|---|\n");
    }
    for l in p.kept.iter().take(MAX_ROWS) {
        let why = match l.entry {
            Some(e) => match e.reasons.first() {
                Some(r) => {
                    let more = e.reasons.len() - 1 + e.more;
                    let mut w = md(&why::describe(r));
                    if more > 0 {
                        let _ = write!(w, " ({more} more)");
                    }
                    w
                }
                None => "—".to_string(),
            },
            None => "—".to_string(),
        };
        let proof = match site.proofs {
            Some(pr) => match pr.get(l.path) {
                Some((k, d)) if k == "unproven" => format!(" not shown necessary: {} |", md(d)),
                Some((k, d)) => format!(" {}: {} |", md(k), md(d)),
                None => " not proven yet |".to_string(),
            },
            None => String::new(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {why} |{proof}",
            code(&show(l.path), true),
            md(l.kind),
            size_cell(l.kind, l.size)
        );
    }
    left_out(&mut s, p.kept.len());
    s.push_str("\n## Dropped\n\n");
    if p.pseudo {
        s.push_str(
            "Entries of the root that no package owns are listed only when they are kept.\n",
        );
        return s;
    }
    if p.dropped.is_empty() {
        s.push_str("Nothing: every file of the package is kept.\n");
        return s;
    }
    let _ = writeln!(
        s,
        "{} entr{}, {} in regular files.\n",
        p.dropped.len(),
        if p.dropped.len() == 1 { "y" } else { "ies" },
        human(p.dropped_bytes)
    );
    s.push_str("| Path | Type | Size |\n|---|---|---:|\n");
    for l in p.dropped.iter().take(MAX_ROWS) {
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            code(&show(l.path), true),
            md(l.kind),
            size_cell(l.kind, l.size)
        );
    }
    left_out(&mut s, p.dropped.len());
    s
}

/// The note under a table cut at [`MAX_ROWS`].
fn left_out(s: &mut String, n: usize) {
    if n > MAX_ROWS {
        let _ = writeln!(
            s,
            "\n{} more not shown (the table stops at {MAX_ROWS} rows).",
            n - MAX_ROWS
        );
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::pages::fixture::{fixture, pkg, read};
    use crate::pages::write;

    #[test]
    fn a_symlink_to_a_directory_is_no_packages_file() {
        let f = fixture();
        let dir = tempfile::tempdir().unwrap();
        let written = write(&f.site(), dir.path()).unwrap();
        // sharer lists /bin (kept) and a dropped file: it keeps nothing
        assert!(!written.contains(&PathBuf::from("packages/sharer.md")));
        let index = read(dir.path(), "index.md");
        assert!(!index.contains("[sharer]"), "{index}");
        assert!(
            index.contains("keep nothing (2 files, 109 B dropped): sharer, unused."),
            "{index}"
        );
        // nor is it a kept entry of no package
        assert!(!read(dir.path(), "packages/no-package.md").contains("`/bin`"));
    }

    #[test]
    fn table_cells_escape_pipes() {
        let f = fixture();
        let dir = tempfile::tempdir().unwrap();
        write(&f.site(), dir.path()).unwrap();
        let page = read(dir.path(), "packages/no-package.md");
        assert!(
            page.contains("| `/etc/a\\|b` | file | 10 B | include /etc/a\\|b (profile line 9): read at boot |"),
            "{page}"
        );
        assert!(page.contains("| `/usr/lib/a<b&c` | file |"));
    }

    #[test]
    fn long_tables_stop_at_the_cap() {
        let mut f = fixture();
        let files: Vec<(String, &str, u64)> = (0..MAX_ROWS + 3)
            .map(|i| (format!("/usr/share/doc/prog/{i:05}"), "file", 1))
            .collect();
        let refs: Vec<(&str, &str, u64)> =
            files.iter().map(|(p, k, s)| (p.as_str(), *k, *s)).collect();
        let mut big = pkg("prog", Some("1.0"), &refs);
        big.files.push(f.packages[0].files[1].clone());
        f.packages[0] = big;
        let dir = tempfile::tempdir().unwrap();
        write(&f.site(), dir.path()).unwrap();
        let page = read(dir.path(), "packages/prog.md");
        assert!(page.contains("\n3 more not shown (the table stops at 2000 rows).\n"));
        assert!(page.contains(&format!(
            "{} entries, 2.0 KiB in regular files.",
            MAX_ROWS + 3
        )));
        assert_eq!(page.matches("| `/usr/share/doc/prog/").count(), MAX_ROWS);
    }

    #[test]
    fn slugs_and_names() {
        assert_eq!(slug("sys-libs/libseccomp"), "sys-libs-libseccomp");
        assert_eq!(slug("libc6:amd64 x"), "libc6_amd64_x");
        assert_eq!(slug("g++-12"), "g++-12");
        assert_eq!(slug(".."), "_..");
        let mut used: BTreeSet<String> = ["a-b".to_string()].into();
        assert_eq!(unique("a-b".into(), &mut used), "a-b-2");
        assert_eq!(unique("a-b".into(), &mut used), "a-b-3");
    }
}
