//! `kaudit docs`: the justification pages of a profile, as Markdown that
//! reads well in a repository and in mdBook, with SVG pictures. The output
//! is byte-identical for identical input.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use kaudit_graph::DbError;

use crate::closure::{Closure, Entry};
use crate::escape::{code, md, md_para, visible, xml};
use crate::graph::Graph;
use crate::profile::Profile;
use crate::units::human;
use crate::writable::Writable;
use crate::{show, why};

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

/// At most this many rows per table of a package page.
const MAX_ROWS: usize = 2000;
/// Packages drawn as their own bar in `size.svg`.
const TOP_BARS: usize = 15;
/// The pseudo-package of kept entries no package owns.
const NO_PACKAGE: &str = "(no package)";
/// Its page.
const NO_PACKAGE_SLUG: &str = "no-package";

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

// ---------------------------------------------------------------------------
// Text

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

/// The last component of a path, for humans.
fn basename(path: &[u8]) -> String {
    let cut = path.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    let base = &path[cut..];
    if base.is_empty() {
        show(path)
    } else {
        show(base)
    }
}

// ---------------------------------------------------------------------------
// Packages

/// A file of a package page.
struct Line<'a> {
    path: &'a [u8],
    kind: &'a str,
    size: u64,
    entry: Option<&'a Entry>,
}

/// A package, with its files split into kept and dropped.
struct Pkg<'a> {
    name: &'a str,
    version: Option<&'a str>,
    /// Kept files, by path.
    kept: Vec<Line<'a>>,
    /// Dropped files, by path.
    dropped: Vec<Line<'a>>,
    kept_bytes: u64,
    dropped_bytes: u64,
    /// Its page (packages that keep something).
    slug: Option<String>,
    /// The pseudo-package of entries no package owns.
    pseudo: bool,
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
fn packages<'a>(site: &Site<'a>) -> Vec<Pkg<'a>> {
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
fn title_of(p: &Pkg<'_>) -> String {
    match p.version {
        Some(v) => format!("{} {}", p.name, v),
        None => p.name.to_string(),
    }
}

// ---------------------------------------------------------------------------
// index.md

fn index_md(site: &Site<'_>, pkgs: &[Pkg<'_>]) -> String {
    let profile: &Profile = site.profile;
    let c: &Closure = site.closure;
    let mut s = String::new();
    let _ = writeln!(s, "# Image of profile {}\n", md(&profile.name));
    if let Some(d) = profile
        .description
        .as_deref()
        .filter(|d| !d.trim().is_empty())
    {
        let _ = writeln!(s, "{}\n", md_para(d));
    }
    let _ = writeln!(
        s,
        "The entries an image of this profile must contain, each kept by a chain of evidence from the runs of its scenarios or an include of the profile, read from the scan of {}.\n",
        code(&show(site.root), false)
    );
    if !profile.scenarios.is_empty() {
        let names: Vec<String> = profile.scenarios.iter().map(|n| md(n)).collect();
        let _ = writeln!(s, "Scenarios: {}.\n", names.join(", "));
    }

    // totals
    let kept_bytes = c.bytes();
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    for (_, e) in c.listed() {
        *kinds.entry(e.file.kind.as_str()).or_insert(0) += 1;
    }
    s.push_str("## Totals\n\n| What | Value |\n|---|---:|\n");
    let _ = writeln!(
        s,
        "| Kept entries | {} of {} in the root |",
        c.listed().count(),
        site.root_entries
    );
    for (k, n) in &kinds {
        let _ = writeln!(s, "| … of type {} | {n} |", md(k));
    }
    let _ = writeln!(s, "| Kept bytes | {} ({kept_bytes} B) |", human(kept_bytes));
    let _ = writeln!(
        s,
        "| Bytes of the whole root | {} ({} B) |",
        human(site.root_bytes),
        site.root_bytes
    );
    let ratio = if site.root_bytes > 0 {
        format!(
            "{:.1} %",
            kept_bytes as f64 * 100.0 / site.root_bytes as f64
        )
    } else {
        "—".to_string()
    };
    let _ = writeln!(s, "| Ratio | {ratio} |");
    if let Some(b) = profile.budget {
        let verdict = if kept_bytes <= b {
            format!("within, {} to spare", human(b - kept_bytes))
        } else {
            format!("**over**, by {}", human(kept_bytes - b))
        };
        let _ = writeln!(s, "| Budget | {} ({b} B): {verdict} |", human(b));
    }
    s.push_str("\nBytes count regular files, hard links once.\n\n");

    // the proof of necessity
    if let Some(proofs) = site.proofs {
        s.push_str("## Proof of necessity\n\n");
        s.push_str("How `kaudit prove` showed each kept entry needed: a loader rule from an object shown necessary, a replay of the scenarios that fails without it, or an include with its reason (each package page gives every entry's proof).\n\n");
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let mut unproven = 0;
        for (p, _) in c.listed() {
            let k = proofs.get(p).map_or("not proven yet", |(k, _)| k.as_str());
            if k == "unproven" {
                unproven += 1;
            }
            *counts.entry(k).or_insert(0) += 1;
        }
        s.push_str("| Proof | Entries |\n|---|---:|\n");
        for (k, n) in &counts {
            let _ = writeln!(s, "| {} | {n} |", md(k));
        }
        if unproven > 0 {
            let _ = writeln!(
                s,
                "\n{unproven} kept entr{} not shown necessary: `kaudit allowlist --proven` leaves them out.",
                if unproven == 1 { "y is" } else { "ies are" }
            );
        }
        s.push('\n');
    }

    // scenarios
    s.push_str("## Scenarios\n\n");
    if c.runs.is_empty() {
        s.push_str("No runs: the image is made of the profile's includes alone.\n\n");
    } else {
        s.push_str("What each run's evidence alone keeps.\n\n");
        s.push_str("| Scenario | Run | Entries | Bytes |\n|---|---:|---:|---:|\n");
        let mut runs: Vec<_> = c.runs.iter().collect();
        runs.sort_by(|a, b| a.id.cmp(&b.id).then_with(|| a.name.cmp(&b.name)));
        for r in runs {
            let n = c
                .per_run
                .get(&r.id)
                .map_or(0, |set| set.iter().filter(|p| p.as_slice() != b"/").count());
            let _ = writeln!(
                s,
                "| {} | {} | {n} | {} |",
                md(&r.name),
                r.id,
                human(c.run_bytes(r.id))
            );
        }
        s.push('\n');
    }

    // packages
    s.push_str("## Packages\n\n");
    s.push_str("![Kept bytes per package](size.svg)\n\n");
    s.push_str(
        "A package's kept files are those the image keeps; its dropped files are the rest. Kept entries that no package owns are listed as (no package). Directories are not counted, nor symlinks to directories (`/bin -> usr/bin` on a usrmerged root): most are shared by many packages.\n\n",
    );
    s.push_str(
        "| Package | Version | Kept files | Kept bytes | Dropped files | Dropped bytes |\n|---|---|---:|---:|---:|---:|\n",
    );
    for p in pkgs.iter().filter(|p| !p.kept.is_empty()) {
        let name = match &p.slug {
            Some(slug) => format!("[{}](packages/{slug}.md)", md(p.name)),
            None => md(p.name),
        };
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {} | {} |",
            p.version.map_or_else(|| "—".to_string(), md),
            p.kept.len(),
            human(p.kept_bytes),
            p.dropped.len(),
            human(p.dropped_bytes)
        );
    }
    s.push('\n');
    let nothing: Vec<&Pkg<'_>> = pkgs.iter().filter(|p| p.kept.is_empty()).collect();
    if !nothing.is_empty() {
        let bytes: u64 = nothing.iter().map(|p| p.dropped_bytes).sum();
        let files: usize = nothing.iter().map(|p| p.dropped.len()).sum();
        let names: Vec<String> = nothing.iter().map(|p| md(p.name)).collect();
        let _ = writeln!(
            s,
            "{} package(s) keep nothing ({files} files, {} dropped): {}.\n",
            nothing.len(),
            human(bytes),
            names.join(", ")
        );
    }

    // graph
    s.push_str("## Dependency graph\n\n");
    s.push_str(
        "What each kept object needs directly: one block per program (first) and per library that needs others, with an arrow to each library it needs (`DT_NEEDED`) and, dashed, to its interpreter or `#!` line; symlinks are followed to the file they lead to. A name is the file's name; the legend under the picture, and the tooltip of each box and arrow, give the full path.\n\n",
    );
    s.push_str("![What each kept object needs directly](graph.svg)\n\n");

    // writable
    s.push_str("## Writable paths\n\n");
    if site.writable.is_empty() {
        s.push_str("No run wrote anywhere: the whole image can be read-only.\n\n");
    } else {
        s.push_str("| Class | Path | Why | In the image | Writes |\n|---|---|---|---|---|\n");
        for w in writables(site) {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                md(w.class),
                code(&w.path, true),
                md(&w.why),
                in_image(w, true),
                md(&writes(w))
            );
        }
        s.push('\n');
    }
    s.push_str("Details: [writable paths](writable.md).\n\n");

    // left out
    s.push_str("## Left out\n\n");
    let mut excluded: BTreeMap<usize, BTreeSet<&[u8]>> = BTreeMap::new();
    let mut absent: BTreeSet<&[u8]> = BTreeSet::new();
    for d in &c.dropped {
        match d.excluded_by {
            Some(line) => {
                excluded.entry(line).or_default().insert(&d.path);
            }
            None => {
                absent.insert(&d.path);
            }
        }
    }
    let n_excluded: usize = excluded.values().map(BTreeSet::len).sum();
    let _ = writeln!(
        s,
        "- {n_excluded} path(s) reached by a chain but excluded by the profile"
    );
    for (line, paths) in &excluded {
        match profile.exclude.iter().find(|r| r.line == *line) {
            Some(r) => {
                let _ = writeln!(
                    s,
                    "  - {}: {} (profile line {line}: {})",
                    code(&r.glob, false),
                    paths.len(),
                    md(&r.reason)
                );
            }
            None => {
                let _ = writeln!(s, "  - the rule of profile line {line}: {}", paths.len());
            }
        }
    }
    let _ = writeln!(
        s,
        "- {} path(s) reached but not in the scanned root (pseudo files, files a run created and removed)",
        absent.len()
    );
    s.push_str("\n`kaudit why PATH` tells what is known about any of them.\n");
    s
}

/// The writable directories, by path.
fn writables<'a>(site: &Site<'a>) -> Vec<&'a Writable> {
    let mut w: Vec<&'a Writable> = site.writable.iter().collect();
    w.sort_by(|a, b| a.path.cmp(&b.path).then_with(|| a.class.cmp(b.class)));
    w
}

/// Writes by kind: `create 3, delete 1`.
fn writes(w: &Writable) -> String {
    let parts: Vec<String> = w.writes.iter().map(|(k, n)| format!("{k} {n}")).collect();
    parts.join(", ")
}

/// Whether the directory is in the image, or made at run time.
fn in_image(w: &Writable, cell: bool) -> String {
    if w.in_root {
        "in the image".to_string()
    } else {
        format!("created at run time under {}", code(&w.base, cell))
    }
}

// ---------------------------------------------------------------------------
// writable.md

fn writable_md(site: &Site<'_>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Writable paths of profile {}\n",
        md(&site.profile.name)
    );
    s.push_str("[Back to the image](index.md)\n\n");
    s.push_str(
        "The top-most directories the runs wrote in, by path: in a read-only image they must be writable. `tmpfs`: what is written there need not survive a reboot; `persistent`: it must.\n\n",
    );
    let list = writables(site);
    if list.is_empty() {
        s.push_str("No run wrote anywhere: the whole image can be read-only.\n");
        return s;
    }
    let _ = writeln!(
        s,
        "{} director{}.",
        list.len(),
        if list.len() == 1 { "y" } else { "ies" }
    );
    for w in list {
        let _ = writeln!(s, "\n## {}\n", code(&w.path, false));
        let _ = writeln!(s, "- Class: {}", md(w.class));
        let _ = writeln!(s, "- Why: {}", md(&w.why));
        if w.in_root {
            s.push_str("- In the image: yes\n");
        } else {
            let _ = writeln!(
                s,
                "- In the image: no, created at run time under {}",
                code(&w.base, false)
            );
        }
        let _ = writeln!(s, "- Writes: {}", md(&writes(w)));
        if !w.example.is_empty() {
            let _ = writeln!(s, "- Example: {}", md(&w.example));
        }
    }
    s
}

// ---------------------------------------------------------------------------
// packages/SLUG.md

fn package_md(site: &Site<'_>, p: &Pkg<'_>) -> String {
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

// ---------------------------------------------------------------------------
// SUMMARY.md

fn summary_md(site: &Site<'_>, pkgs: &[Pkg<'_>]) -> String {
    let mut s = String::from("# Summary\n\n");
    let _ = writeln!(
        s,
        "- [Image of profile {}](index.md)",
        md(&site.profile.name)
    );
    s.push_str("- [Writable paths](writable.md)\n");
    let mut pages: Vec<&Pkg<'_>> = pkgs.iter().filter(|p| p.slug.is_some()).collect();
    pages.sort_by(|a, b| {
        a.pseudo
            .cmp(&b.pseudo)
            .then_with(|| a.name.cmp(b.name))
            .then_with(|| a.version.cmp(&b.version))
            .then_with(|| a.slug.cmp(&b.slug))
    });
    if !pages.is_empty() {
        s.push_str("\n# Packages\n\n");
        for p in pages {
            let slug = p.slug.as_deref().unwrap_or_default();
            let _ = writeln!(s, "- [{}](packages/{slug}.md)", md(&title_of(p)));
        }
    }
    s
}

// ---------------------------------------------------------------------------
// Text widths

/// Advance widths of the printable ASCII characters (space to `~`) in
/// thousandths of the font size, as Helvetica and Arial have them.
const ADVANCE: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // space-/
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, // 0-9
    278, 278, 584, 584, 584, 556, 1015, // :-@
    667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667,
    611, 722, 667, 944, 667, 667, 611, // A-Z
    278, 278, 278, 469, 556, 333, // [-`
    556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500,
    278, 556, 500, 722, 500, 500, 500, // a-z
    334, 260, 334, 584, // {-~
];

/// How wide `s` is drawn at `size` pixels in a sans-serif font, with room
/// to spare: the widths of Helvetica plus 15% (DejaVu Sans, a common
/// fallback, is wider), a whole em for anything outside ASCII. Every box
/// and column of the pictures is made at least this wide for its text.
pub(crate) fn text_width(s: &str, size: f64) -> f64 {
    let em: u32 = s
        .chars()
        .map(|c| match c {
            ' '..='~' => u32::from(ADVANCE[c as usize - 32]),
            _ => 1000,
        })
        .sum();
    f64::from(em) / 1000.0 * size * 1.15
}

/// A width in whole pixels, rounded up.
fn px(w: f64) -> u32 {
    w.ceil() as u32
}

// ---------------------------------------------------------------------------
// size.svg

const SVG_OPEN: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\"";

/// Font sizes of the pictures: text, and titles (drawn bold: 10% wider).
const FONT: f64 = 12.0;
const TITLE_FONT: f64 = 14.0;

/// Where `size.svg` puts things: labels end at `label_end` (anchored at
/// their end), bars start at `bar_x`, the whole picture is `width` wide.
#[derive(Debug, Clone, Copy, PartialEq)]
struct SizeLayout {
    label_end: u32,
    bar_x: u32,
    width: u32,
}

/// The bars of `size.svg`: (label, tooltip, bytes, colour).
fn size_bars(pkgs: &[Pkg<'_>]) -> (Vec<(String, String, u64, &'static str)>, usize) {
    let mut bars: Vec<(String, String, u64, &'static str)> = Vec::new();
    for p in pkgs.iter().filter(|p| p.kept_bytes > 0).take(TOP_BARS) {
        let t = title_of(p);
        bars.push((
            t.clone(),
            format!("{t}: {} kept", human(p.kept_bytes)),
            p.kept_bytes,
            "#4e79a7",
        ));
    }
    let others: Vec<&Pkg<'_>> = pkgs
        .iter()
        .filter(|p| p.kept_bytes > 0)
        .skip(TOP_BARS)
        .collect();
    if !others.is_empty() {
        let b: u64 = others.iter().map(|p| p.kept_bytes).sum();
        bars.push((
            format!("others ({})", others.len()),
            format!("{} other packages: {} kept", others.len(), human(b)),
            b,
            "#a0cbe8",
        ));
    }
    let dropped: u64 = pkgs.iter().map(|p| p.dropped_bytes).sum();
    let n_kept = bars.len();
    bars.push((
        "dropped, all packages".to_string(),
        format!("files of the packages left out: {}", human(dropped)),
        dropped,
        "#bab0ac",
    ));
    (bars, n_kept)
}

/// The longest bar of `size.svg`.
const BAR_MAX: f64 = 400.0;

/// Columns wide enough for every label, value and the title, whole.
fn size_layout(title: &str, labels: &[&str], values: &[&str]) -> SizeLayout {
    let widest = |v: &[&str]| v.iter().map(|l| text_width(l, FONT)).fold(0.0, f64::max);
    let label_end = 10 + px(widest(labels));
    let bar_x = label_end + 10;
    let width = (bar_x + px(BAR_MAX) + 6 + px(widest(values)) + 10)
        .max(20 + px(text_width(title, TITLE_FONT) * 1.1))
        .max(600);
    SizeLayout {
        label_end,
        bar_x,
        width,
    }
}

fn size_svg(site: &Site<'_>, pkgs: &[Pkg<'_>]) -> String {
    const ROW: u32 = 24;
    const TOP: u32 = 40;
    let (bars, n_kept) = size_bars(pkgs);
    let title = format!(
        "Kept bytes per package, profile {}",
        visible(&site.profile.name)
    );
    // measured as drawn: control characters become visible escapes
    let labels: Vec<String> = bars.iter().map(|b| visible(&b.0)).collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    let values: Vec<String> = bars.iter().map(|b| human(b.2)).collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    let SizeLayout {
        label_end,
        bar_x,
        width,
    } = size_layout(&title, &labels, &values);
    let max = bars.iter().map(|b| b.2).max().unwrap_or(0);
    let gap = 10;
    let height = TOP + bars.len() as u32 * ROW + gap + 20;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{SVG_OPEN} width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(s, "<title>{}</title>", xml(&title));
    let _ = writeln!(
        s,
        "<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>"
    );
    let _ = writeln!(
        s,
        "<text x=\"10\" y=\"22\" font-size=\"14\" font-weight=\"bold\">{}</text>",
        xml(&title)
    );
    for (i, (label, tip, bytes, colour)) in bars.iter().enumerate() {
        let y = TOP + i as u32 * ROW + if i >= n_kept { gap } else { 0 };
        let w = if max > 0 {
            *bytes as f64 / max as f64 * BAR_MAX
        } else {
            0.0
        };
        let _ = writeln!(s, "<g><title>{}</title>", xml(tip));
        let _ = writeln!(
            s,
            "<text x=\"{label_end}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            y + 15,
            xml(label)
        );
        let _ = writeln!(
            s,
            "<rect x=\"{bar_x}\" y=\"{}\" width=\"{w:.1}\" height=\"18\" fill=\"{colour}\"/>",
            y + 3
        );
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\">{}</text>",
            f64::from(bar_x) + w + 6.0,
            y + 15,
            xml(&human(*bytes))
        );
        s.push_str("</g>\n");
    }
    s.push_str("</svg>\n");
    s
}

// ---------------------------------------------------------------------------
// graph.svg

/// One arrow of `graph.svg`: a kept object and one it needs directly.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Need {
    /// The object that needs (a program, a library, a script).
    pub from: Vec<u8>,
    /// The kept file it needs, symlinks followed.
    pub to: Vec<u8>,
    /// `needed` (DT_NEEDED), `interp` (PT_INTERP) or `shebang`.
    pub kind: String,
}

/// The file `path` leads to through symlinks, if the closure keeps it.
fn kept_file(graph: &mut Graph<'_>, c: &Closure, path: &[u8]) -> Result<Option<Vec<u8>>, DbError> {
    let mut cur = path.to_vec();
    for _ in 0..40 {
        let Some(e) = c.entries.get(&cur) else {
            return Ok(None);
        };
        match (e.file.kind.as_str(), &e.file.link_target) {
            ("file", _) => return Ok(Some(cur)),
            ("symlink", Some(t)) => {
                let target = if t.starts_with(b"/") {
                    t.clone()
                } else {
                    kaudit_analyzer::bytes::join(crate::parent(&cur).unwrap_or(b"/"), t)
                };
                match graph.canonical(&target)? {
                    Some(next) => cur = next,
                    None => return Ok(None),
                }
            }
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// What each kept object needs directly, as the graph records it: for
/// every kept ELF object that is run or loaded, the `needed` edges of its
/// load (from it and from the libraries it brings in) and its `interp`;
/// for every kept script, its `shebang`. Symlinks are followed to the kept
/// file they lead to. Sorted, each pair once.
pub fn needs(graph: &mut Graph<'_>, c: &Closure) -> Result<Vec<Need>, DbError> {
    let mut out: BTreeMap<(Vec<u8>, Vec<u8>), String> = BTreeMap::new();
    let objects: Vec<(Vec<u8>, std::rc::Rc<crate::graph::FileRow>)> = c
        .entries
        .iter()
        .filter(|(_, e)| {
            e.file.kind == "file" && (e.file.elf || e.file.script) && (e.run || e.loaded)
        })
        .map(|(p, e)| (p.clone(), e.file.clone()))
        .collect();
    for (path, file) in objects {
        // a program's PT_INTERP and a script's #! line hold with no load
        let mut edges: Vec<crate::graph::EdgeRow> = graph
            .free_edges(file.id)?
            .iter()
            .filter(|e| e.src == path && matches!(e.kind.as_str(), "interp" | "shebang"))
            .cloned()
            .collect();
        if file.elf {
            edges.extend(
                graph
                    .load_edges(file.id)?
                    .iter()
                    .filter(|e| e.kind == "needed")
                    .cloned(),
            );
        }
        for e in edges {
            let (Some(a), Some(b)) = (kept_file(graph, c, &e.src)?, kept_file(graph, c, &e.dst)?)
            else {
                continue;
            };
            if a != b {
                out.entry((a, b)).or_insert(e.kind);
            }
        }
    }
    Ok(out
        .into_iter()
        .map(|((from, to), kind)| Need { from, to, kind })
        .collect())
}

/// The heading of the legend of `graph.svg`.
const LEGEND: &str = "Legend: each name and its path (dashed arrow: interpreter or #! line)";

/// At most this many arrows in `graph.svg`.
const MAX_ARROWS: usize = 1500;

/// The short name of each object in `graph.svg`: its file name, numbered
/// (`libc.so.6 [2]`) when two objects share one. The legend gives the path.
fn labels<'a>(paths: &BTreeSet<&'a [u8]>) -> BTreeMap<&'a [u8], String> {
    let mut by_base: BTreeMap<String, Vec<&'a [u8]>> = BTreeMap::new();
    for p in paths {
        by_base.entry(basename(p)).or_default().push(p);
    }
    let mut out = BTreeMap::new();
    for (base, ps) in by_base {
        let many = ps.len() > 1;
        for (i, p) in ps.into_iter().enumerate() {
            let label = if many {
                format!("{base} [{}]", i + 1)
            } else {
                base.clone()
            };
            out.insert(p, visible(&label));
        }
    }
    out
}

/// A block of `graph.svg`: an object and what it needs, one row each.
struct Block<'a> {
    from: &'a [u8],
    to: Vec<(&'a [u8], &'a str)>,
}

/// The dependency picture: one block per kept object that needs others,
/// programs first, each with an arrow to everything it needs directly (so
/// every edge is drawn, short, inside its block, and no line crosses the
/// picture to a shared library); blocks flow in columns; the full path of
/// every object is in its tooltip and in the legend below.
fn graph_svg(site: &Site<'_>) -> String {
    const F: f64 = 11.0;
    const BOX_H: u32 = 18;
    const ROW: u32 = 22;
    const GAP_X: u32 = 50;
    const LANE_GAP: u32 = 40;
    const BLOCK_GAP: u32 = 14;
    const LEFT: u32 = 10;
    const TOP: u32 = 40;
    const LEGEND_ROW: u32 = 16;
    let c = site.closure;
    let total = site.needs.len();
    let shown = &site.needs[..total.min(MAX_ARROWS)];
    let program = |p: &[u8]| {
        c.entries
            .get(p)
            .is_some_and(|e| e.run && (e.file.program || e.file.script))
    };
    let mut blocks: Vec<Block<'_>> = Vec::new();
    for n in shown {
        match blocks.last_mut() {
            Some(b) if b.from == n.from.as_slice() => b.to.push((&n.to, &n.kind)),
            _ => blocks.push(Block {
                from: &n.from,
                to: vec![(&n.to, &n.kind)],
            }),
        }
    }
    // programs first, then the libraries, each by path
    blocks.sort_by(|a, b| {
        program(b.from)
            .cmp(&program(a.from))
            .then_with(|| a.from.cmp(b.from))
    });
    let mut objects: BTreeSet<&[u8]> = BTreeSet::new();
    for n in shown {
        objects.insert(&n.from);
        objects.insert(&n.to);
    }
    let label = labels(&objects);
    let box_w = |p: &[u8]| px(text_width(&label[p], F)) + 10;
    // lanes: blocks in reading order, a lane full at its share of the rows
    let rows: u32 = blocks.iter().map(|b| b.to.len() as u32).sum();
    let lanes = rows.div_ceil(60).clamp(1, 4);
    let per_lane = rows.div_ceil(lanes);
    let mut lane_of: Vec<usize> = Vec::with_capacity(blocks.len());
    let (mut lane, mut filled) = (0usize, 0u32);
    for b in &blocks {
        if filled >= per_lane && lane + 1 < lanes as usize {
            lane += 1;
            filled = 0;
        }
        lane_of.push(lane);
        filled += b.to.len() as u32;
    }
    let n_lanes = lane_of.last().map_or(0, |l| l + 1);
    // each lane: the widest source box, then the widest target box
    let mut src_w = vec![0u32; n_lanes];
    let mut dst_w = vec![0u32; n_lanes];
    for (b, &l) in blocks.iter().zip(&lane_of) {
        src_w[l] = src_w[l].max(box_w(b.from));
        for (t, _) in &b.to {
            dst_w[l] = dst_w[l].max(box_w(t));
        }
    }
    let mut lane_x = Vec::with_capacity(n_lanes);
    let mut x = LEFT;
    for l in 0..n_lanes {
        lane_x.push(x);
        x += src_w[l] + GAP_X + dst_w[l] + LANE_GAP;
    }
    let blocks_w = x.saturating_sub(LANE_GAP) + LEFT;
    let mut lane_y = vec![TOP; n_lanes];
    let mut placed: Vec<(u32, u32)> = Vec::with_capacity(blocks.len());
    for (b, &l) in blocks.iter().zip(&lane_of) {
        placed.push((lane_x[l], lane_y[l]));
        lane_y[l] += b.to.len() as u32 * ROW + BLOCK_GAP;
    }
    let blocks_h = lane_y.iter().copied().max().unwrap_or(TOP).max(TOP + ROW);
    let mut notes: Vec<String> = Vec::new();
    if total > shown.len() {
        notes.push(format!(
            "Showing the first {} of {total} edges.",
            shown.len()
        ));
    }
    let legend: Vec<String> = label
        .iter()
        .map(|(p, l)| (l, p))
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .map(|(l, p)| format!("{l}: {}", visible(&show(p))))
        .collect();
    let title = format!(
        "What each kept object needs directly, profile {}",
        visible(&site.profile.name)
    );
    let legend_top = blocks_h + 10 + notes.len() as u32 * LEGEND_ROW;
    let text_w = legend
        .iter()
        .chain(&notes)
        .map(|t| px(text_width(t, F)))
        .chain([px(text_width(LEGEND, F) * 1.1)])
        .chain([px(text_width(&title, TITLE_FONT) * 1.1)])
        .max()
        .unwrap_or(0);
    let width = blocks_w.max(LEFT * 2 + text_w).max(600);
    let height = if legend.is_empty() {
        legend_top + 10
    } else {
        legend_top + 20 + legend.len() as u32 * LEGEND_ROW + 10
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{SVG_OPEN} width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\">"
    );
    let _ = writeln!(s, "<title>{}</title>", xml(&title));
    s.push_str("<defs><marker id=\"arrow\" markerWidth=\"8\" markerHeight=\"6\" refX=\"8\" refY=\"3\" orient=\"auto\" markerUnits=\"userSpaceOnUse\"><path d=\"M0,0 L8,3 L0,6 z\" fill=\"#888888\"/></marker></defs>\n");
    let _ = writeln!(
        s,
        "<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>"
    );
    let _ = writeln!(
        s,
        "<text x=\"{LEFT}\" y=\"20\" font-size=\"14\" font-weight=\"bold\">{}</text>",
        xml(&title)
    );
    if blocks.is_empty() {
        let _ = writeln!(
            s,
            "<text x=\"{LEFT}\" y=\"{}\">No kept object needs another.</text>",
            TOP + 12
        );
    }
    let node = |s: &mut String, p: &[u8], x: u32, y: u32, w: u32, fill: &str| {
        let _ = writeln!(
            s,
            "<g><title>{}</title><rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{BOX_H}\" rx=\"3\" fill=\"{fill}\" stroke=\"#4e79a7\"/><text x=\"{}\" y=\"{}\">{}</text></g>",
            xml(&show(p)),
            x + 5,
            y + 13,
            xml(&label[p])
        );
    };
    for ((b, &l), &(x, y)) in blocks.iter().zip(&lane_of).zip(&placed) {
        let n = b.to.len() as u32;
        let sy = y + (n - 1) * ROW / 2;
        let sw = box_w(b.from);
        let tx = x + src_w[l] + GAP_X;
        let _ = writeln!(
            s,
            "<g class=\"block\"><title>{}</title>",
            xml(&show(b.from))
        );
        for (i, (t, kind)) in b.to.iter().enumerate() {
            let ty = y + i as u32 * ROW;
            let (x1, y1) = (x + sw, sy + BOX_H / 2);
            let (x2, y2) = (tx, ty + BOX_H / 2);
            let mid = (x1 + x2) / 2;
            let dash = if *kind == "needed" {
                ""
            } else {
                " stroke-dasharray=\"4 3\""
            };
            let _ = writeln!(
                s,
                "<path d=\"M{x1} {y1} C{mid} {y1} {mid} {y2} {x2} {y2}\" fill=\"none\" stroke=\"#888888\" marker-end=\"url(#arrow)\"{dash}><title>{} → {} ({kind})</title></path>",
                xml(&show(b.from)),
                xml(&show(t))
            );
            node(&mut s, t, tx, ty, box_w(t), "#f4f4f4");
        }
        let fill = if program(b.from) {
            "#dce8f4"
        } else {
            "#eef3f8"
        };
        node(&mut s, b.from, x, sy, sw, fill);
        s.push_str("</g>\n");
    }
    for (i, note) in notes.iter().enumerate() {
        let _ = writeln!(
            s,
            "<text x=\"{LEFT}\" y=\"{}\" fill=\"#555555\">{}</text>",
            blocks_h + 10 + i as u32 * LEGEND_ROW,
            xml(note)
        );
    }
    if !legend.is_empty() {
        let _ = writeln!(
            s,
            "<text x=\"{LEFT}\" y=\"{}\" font-weight=\"bold\">{LEGEND}</text>",
            legend_top + 12
        );
        for (i, line) in legend.iter().enumerate() {
            let _ = writeln!(
                s,
                "<text class=\"legend\" x=\"{LEFT}\" y=\"{}\">{}</text>",
                legend_top + 12 + (i as u32 + 1) * LEGEND_ROW,
                xml(line)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};
    use std::rc::Rc;

    use kaudit_graph::RunRow;

    use super::*;
    use crate::closure::{Dropped, Reason};
    use crate::graph::FileRow;

    fn accessed(kind: &str) -> Reason {
        Reason::Accessed {
            run: 1,
            scenario: "boot".into(),
            step: None,
            kind: kind.into(),
            pid: 10,
            comm: "init".into(),
            exe: None,
            parents: String::new(),
        }
    }

    fn edge(kind: &str, from: &str, name: &str) -> Reason {
        Reason::Edge {
            kind: kind.into(),
            from: from.as_bytes().to_vec(),
            name: Some(name.as_bytes().to_vec()),
            opened: None,
            rule: None,
            via: None,
            load: None,
        }
    }

    fn parent_of(child: &str) -> Reason {
        Reason::Parent {
            child: child.as_bytes().to_vec(),
        }
    }

    fn pkg(name: &str, version: Option<&str>, files: &[(&str, &str, u64)]) -> PackageFiles {
        PackageFiles {
            name: name.into(),
            version: version.map(str::to_string),
            files: files
                .iter()
                .map(|(p, k, s)| PkgFile {
                    path: p.as_bytes().to_vec(),
                    // "dir-symlink": a symlink to a directory
                    kind: k.replace("dir-symlink", "symlink"),
                    size: *s,
                    dir_link: *k == "dir-symlink",
                })
                .collect(),
        }
    }

    /// Everything a [`Site`] borrows.
    struct Fixture {
        profile: Profile,
        closure: Closure,
        writable: Vec<Writable>,
        packages: Vec<PackageFiles>,
        needs: Vec<Need>,
    }

    impl Fixture {
        fn site(&self) -> Site<'_> {
            Site {
                profile: &self.profile,
                root: b"/srv/node",
                root_entries: 40,
                root_bytes: 100_000,
                closure: &self.closure,
                writable: &self.writable,
                packages: &self.packages,
                needs: &self.needs,
                proofs: None,
            }
        }
    }

    fn fixture() -> Fixture {
        let profile = Profile::parse(
            Path::new("p.toml"),
            "description = \"A test node\"\nscenarios = [\"boot\"]\nbudget = \"1 MiB\"\n\n[[exclude]]\nglob = \"/usr/share/doc/**\"\nreason = \"documentation\"\n",
        )
        .unwrap();
        let include = Reason::Include {
            glob: "/etc/a|b".into(),
            reason: "read at boot".into(),
            line: 9,
        };
        let table: Vec<(&str, &str, u64, Vec<Reason>)> = vec![
            ("/", "dir", 0, vec![parent_of("/etc")]),
            ("/bin", "symlink", 7, vec![accessed("open")]),
            ("/etc", "dir", 0, vec![parent_of("/etc/a|b")]),
            ("/etc/a|b", "file", 10, vec![include]),
            ("/lib64", "dir", 0, vec![parent_of("/lib64/ld.so")]),
            (
                "/lib64/ld.so",
                "file",
                4000,
                vec![edge("interp", "/usr/bin/prog", "/lib64/ld.so")],
            ),
            ("/usr", "dir", 0, vec![parent_of("/usr/bin")]),
            ("/usr/bin", "dir", 0, vec![parent_of("/usr/bin/prog")]),
            ("/usr/bin/prog", "file", 1000, vec![accessed("exec")]),
            ("/usr/lib", "dir", 0, vec![parent_of("/usr/lib/libc.so.6")]),
            (
                "/usr/lib/a<b&c",
                "file",
                5,
                vec![edge("needed", "/usr/bin/prog", "a<b&c")],
            ),
            (
                "/usr/lib/libc.so.6",
                "file",
                3000,
                vec![
                    edge("needed", "/usr/bin/prog", "libc.so.6"),
                    edge("needed", "/usr/lib/libz.so.1.3", "libc.so.6"),
                ],
            ),
            (
                "/usr/lib/libz.so.1",
                "symlink",
                11,
                vec![edge("needed", "/usr/bin/prog", "libz.so.1")],
            ),
            (
                "/usr/lib/libz.so.1.3",
                "file",
                2000,
                vec![edge("symlink", "/usr/lib/libz.so.1", "libz.so.1.3")],
            ),
            ("/var", "dir", 0, vec![parent_of("/var/lib")]),
            ("/var/lib", "dir", 0, vec![parent_of("/var/lib/x")]),
            (
                "/var/lib/x",
                "dir",
                0,
                vec![Reason::WrittenIn {
                    run: 1,
                    scenario: "boot".into(),
                    step: None,
                    kind: "create".into(),
                    entry: b"/var/lib/x/y".to_vec(),
                    pid: 10,
                    comm: "prog".into(),
                }],
            ),
        ];
        let mut closure = Closure::default();
        for (i, (path, kind, size, reasons)) in table.into_iter().enumerate() {
            let depth = u32::from(!reasons.iter().all(|r| r.from().is_none()));
            closure.entries.insert(
                path.as_bytes().to_vec(),
                Entry {
                    file: Rc::new(FileRow {
                        id: i as i64 + 1,
                        path: path.as_bytes().to_vec(),
                        kind: kind.into(),
                        size,
                        mode: 0o644,
                        dev: 1,
                        ino: i as u64 + 1,
                        link_target: None,
                        elf: path == "/usr/bin/prog",
                        script: false,
                        program: path == "/usr/bin/prog",
                    }),
                    reasons,
                    more: 0,
                    depth,
                    run: path == "/usr/bin/prog",
                    loaded: false,
                },
            );
        }
        closure.dropped = vec![
            Dropped {
                path: b"/usr/share/doc/prog/README".to_vec(),
                reason: accessed("open"),
                excluded_by: Some(5),
            },
            Dropped {
                path: b"/proc/self/status".to_vec(),
                reason: accessed("open"),
                excluded_by: None,
            },
        ];
        closure.runs = vec![RunRow {
            id: 1,
            name: "boot".into(),
            kind: "scenario".into(),
            root: b"/srv/node".to_vec(),
            status: "passed".into(),
            complete: true,
            ..RunRow::default()
        }];
        let mine: HashSet<Vec<u8>> = ["/", "/usr", "/usr/bin", "/usr/bin/prog"]
            .iter()
            .map(|p| p.as_bytes().to_vec())
            .collect();
        closure.per_run = HashMap::from([(1, mine)]);
        let writable = vec![Writable {
            path: "/var/lib/x".into(),
            class: "persistent",
            why: "files written there outlive the run".into(),
            in_root: true,
            base: "/var/lib/x".into(),
            writes: BTreeMap::from([("create".to_string(), 2)]),
            example: "/var/lib/x/y create by prog".into(),
        }];
        let packages = vec![
            pkg(
                "prog",
                Some("1.0"),
                &[
                    ("/usr/bin", "dir", 0),
                    ("/usr/bin/prog", "file", 1000),
                    ("/usr/share/doc/prog/README", "file", 500),
                ],
            ),
            pkg(
                "libz/ng",
                None,
                &[
                    ("/usr/lib/libz.so.1", "symlink", 11),
                    ("/usr/lib/libz.so.1.3", "file", 2000),
                    ("/usr/lib/libz.a", "file", 7000),
                ],
            ),
            pkg("unused", Some("2"), &[("/opt/unused", "file", 100)]),
            // lists /bin, a symlink to /usr/bin on a usrmerged root
            pkg(
                "sharer",
                Some("3"),
                &[("/bin", "dir-symlink", 7), ("/opt/sharer", "file", 9)],
            ),
        ];
        let need = |from: &str, to: &str, kind: &str| Need {
            from: from.as_bytes().to_vec(),
            to: to.as_bytes().to_vec(),
            kind: kind.into(),
        };
        let needs = vec![
            need("/usr/bin/prog", "/lib64/ld.so", "interp"),
            need("/usr/bin/prog", "/usr/lib/a<b&c", "needed"),
            need("/usr/bin/prog", "/usr/lib/libc.so.6", "needed"),
            need("/usr/bin/prog", "/usr/lib/libz.so.1.3", "needed"),
            need("/usr/lib/libz.so.1.3", "/usr/lib/libc.so.6", "needed"),
        ];
        Fixture {
            profile,
            closure,
            writable,
            packages,
            needs,
        }
    }

    fn read(dir: &Path, rel: &str) -> String {
        fs::read_to_string(dir.join(rel)).unwrap()
    }

    /// Every file below `dir`, relative, with its bytes.
    fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    todo.push(p);
                } else {
                    let rel = p.strip_prefix(dir).unwrap().to_path_buf();
                    out.insert(rel, fs::read(&p).unwrap());
                }
            }
        }
        out
    }

    /// Balanced tags and nothing unescaped: enough of XML to trust the SVG.
    fn assert_well_formed(svg: &str) {
        assert!(svg.starts_with("<svg "), "{svg}");
        let entities = |t: &str| {
            for (i, _) in t.match_indices('&') {
                let rest = &t[i..];
                assert!(
                    ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                        .iter()
                        .any(|e| rest.starts_with(e)),
                    "bare & in {t}"
                );
            }
        };
        let mut stack: Vec<&str> = Vec::new();
        let mut rest = svg;
        while let Some(i) = rest.find('<') {
            entities(&rest[..i]);
            assert!(!rest[..i].contains('>'), "bare > in {}", &rest[..i]);
            let j = i + rest[i..].find('>').unwrap();
            let tag = &rest[i + 1..j];
            assert!(!tag.contains('<'), "< in tag {tag}");
            entities(tag);
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop(), Some(name), "closing {name}");
            } else if !tag.ends_with('/') {
                stack.push(tag.split_whitespace().next().unwrap());
            }
            rest = &rest[j + 1..];
            if stack.is_empty() {
                assert_eq!(rest.trim(), "", "content after the root element");
            }
        }
        assert!(stack.is_empty(), "unclosed {stack:?}");
    }

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
    fn svgs_are_well_formed_and_escape_names() {
        let f = fixture();
        let dir = tempfile::tempdir().unwrap();
        write(&f.site(), dir.path()).unwrap();
        let size = read(dir.path(), "size.svg");
        assert_well_formed(&size);
        assert!(size.contains(">(no package)</text>"));
        assert!(size.contains(">dropped, all packages</text>"));
        let graph = read(dir.path(), "graph.svg");
        assert_well_formed(&graph);
        assert!(graph.contains("<title>/usr/lib/a&lt;b&amp;c</title>"));
        assert!(graph.contains(">a&lt;b&amp;c</text>"));
        // the legend gives every name's path
        assert!(graph.contains(">a&lt;b&amp;c: /usr/lib/a&lt;b&amp;c</text>"));
        assert!(graph.contains(">libz.so.1.3: /usr/lib/libz.so.1.3</text>"));
    }

    /// The arrows of `graph.svg`, by their tooltips.
    fn arrows(svg: &str) -> Vec<&str> {
        svg.lines()
            .filter(|l| l.starts_with("<path d=\"M") && l.contains("marker-end"))
            .map(|l| {
                let t = l.find("<title>").unwrap() + "<title>".len();
                &l[t..l.find("</title>").unwrap()]
            })
            .collect()
    }

    #[test]
    fn every_direct_need_is_an_arrow_of_its_own() {
        let f = fixture();
        let dir = tempfile::tempdir().unwrap();
        write(&f.site(), dir.path()).unwrap();
        let graph = read(dir.path(), "graph.svg");
        // libc is drawn once for each object that needs it, each arrow in
        // the block of the object that needs it
        assert_eq!(
            arrows(&graph),
            [
                "/usr/bin/prog → /lib64/ld.so (interp)",
                "/usr/bin/prog → /usr/lib/a&lt;b&amp;c (needed)",
                "/usr/bin/prog → /usr/lib/libc.so.6 (needed)",
                "/usr/bin/prog → /usr/lib/libz.so.1.3 (needed)",
                "/usr/lib/libz.so.1.3 → /usr/lib/libc.so.6 (needed)",
            ]
        );
        assert_eq!(
            graph.matches("<title>/usr/lib/libc.so.6</title>").count(),
            2
        );
        // the program's block comes first; the interpreter's arrow is dashed
        assert!(
            graph.find("<g class=\"block\"><title>/usr/bin/prog</title>")
                < graph.find("<g class=\"block\"><title>/usr/lib/libz.so.1.3</title>")
        );
        assert!(
            graph.contains("stroke-dasharray=\"4 3\"><title>/usr/bin/prog → /lib64/ld.so (interp)")
        );
        assert!(!graph.contains("stroke-dasharray=\"4 3\"><title>/usr/bin/prog → /usr/lib/libc"));
    }

    /// `(x, width, label)` of every box of `graph.svg`.
    fn boxes(svg: &str) -> Vec<(u32, u32, String)> {
        let attr = |l: &str, name: &str| -> u32 {
            let at = l.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
            l[at..].split('"').next().unwrap().parse().unwrap()
        };
        svg.lines()
            .filter(|l| l.starts_with("<g><title>") && l.contains("<rect "))
            .map(|l| {
                let rect = &l[l.find("<rect ").unwrap()..];
                let text = &l[l.find("<text ").unwrap()..];
                let label = &text[text.find('>').unwrap() + 1..text.find("</text>").unwrap()];
                (
                    attr(rect, "x"),
                    attr(rect, "width"),
                    label
                        .replace("&lt;", "<")
                        .replace("&gt;", ">")
                        .replace("&quot;", "\"")
                        .replace("&apos;", "'")
                        .replace("&amp;", "&"),
                )
            })
            .collect()
    }

    #[test]
    fn names_in_the_pictures_are_whole() {
        let mut f = fixture();
        let long_pkg = "libkubernetes-container-runtime-interface-plugins-extra-long-name";
        let long_lib = "/usr/lib/libkubernetes-container-runtime-interface.so.1.2.3.4.5.6";
        f.packages.push(pkg(
            long_pkg,
            Some("1:2.3.4-5+deb12u6"),
            &[("/etc/a|b", "file", 10)],
        ));
        f.needs.push(Need {
            from: b"/usr/bin/prog".to_vec(),
            to: long_lib.as_bytes().to_vec(),
            kind: "needed".into(),
        });
        f.needs.sort();
        let dir = tempfile::tempdir().unwrap();
        write(&f.site(), dir.path()).unwrap();
        // size.svg: each label ends at the label column, which is wider
        // than the label; the picture is wider than each value after its bar
        let size = read(dir.path(), "size.svg");
        let label = format!("{long_pkg} 1:2.3.4-5+deb12u6");
        let line = size
            .lines()
            .find(|l| l.contains(&format!(">{label}</text>")))
            .unwrap_or_else(|| panic!("{label} cut in\n{size}"));
        let x: f64 = line["<text x=\"".len()..]
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(x - text_width(&label, FONT) >= 5.0, "{line}");
        let width: f64 = size
            .split("width=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        for l in size
            .lines()
            .filter(|l| l.starts_with("<text x=") && !l.contains("text-anchor"))
        {
            let x: f64 = l["<text x=\"".len()..]
                .split('"')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let text = &l[l.find('>').unwrap() + 1..l.find("</text>").unwrap()];
            let size_px = if l.contains("font-size=\"14\"") {
                TITLE_FONT * 1.1
            } else {
                FONT
            };
            assert!(
                x + text_width(text, size_px) <= width,
                "{l} runs past {width}"
            );
        }
        // graph.svg: every box is wider than its name
        let graph = read(dir.path(), "graph.svg");
        let all = boxes(&graph);
        assert!(
            all.iter().any(|b| b.2 == basename(long_lib.as_bytes())),
            "{graph}"
        );
        for (_, w, label) in &all {
            assert!(
                f64::from(*w) >= text_width(label, 11.0) + 8.0,
                "{label} in a box {w} wide"
            );
        }
    }

    #[test]
    fn text_widths_grow_with_the_glyphs() {
        assert_eq!(text_width("", 12.0), 0.0);
        assert!(text_width("mmmm", 12.0) > text_width("iiii", 12.0) * 3.0);
        // a whole em for characters outside ASCII
        assert!((text_width("é", 10.0) - 11.5).abs() < 1e-9);
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
        assert_eq!(basename(b"/usr/lib/libc.so.6"), "libc.so.6");
    }

    #[test]
    fn index_snapshot() {
        let f = fixture();
        let dir = tempfile::tempdir().unwrap();
        write(&f.site(), dir.path()).unwrap();
        insta::assert_snapshot!("index", read(dir.path(), "index.md"));
    }
}
