//! `index.md`, the image at a glance, section by section; `writable.md`;
//! and `SUMMARY.md`, mdBook's table of contents.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::package::{title_of, Pkg};
use super::Site;
use crate::closure::Closure;
use crate::escape::{code, md, md_para};
use crate::profile::Profile;
use crate::show;
use crate::units::human;
use crate::writable::Writable;

/// `index.md`: the image at a glance, one section after another.
pub(super) fn index_md(site: &Site<'_>, pkgs: &[Pkg<'_>]) -> String {
    let mut s = String::new();
    intro(&mut s, site);
    totals(&mut s, site);
    proofs(&mut s, site);
    scenarios(&mut s, site.closure);
    packages(&mut s, pkgs);
    graph(&mut s);
    writable(&mut s, site);
    left_out(&mut s, site);
    s
}

/// The title, the profile's description, the scan and the scenarios.
fn intro(s: &mut String, site: &Site<'_>) {
    let profile: &Profile = site.profile;
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
}

/// `## Totals`: kept entries by type, kept bytes against the root's, the budget.
fn totals(s: &mut String, site: &Site<'_>) {
    let profile: &Profile = site.profile;
    let c: &Closure = site.closure;
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
}

/// `## Proof of necessity`, once the profile is proven: entries by proof.
fn proofs(s: &mut String, site: &Site<'_>) {
    let c: &Closure = site.closure;
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
}

/// `## Scenarios`: what each run's evidence alone keeps.
fn scenarios(s: &mut String, c: &Closure) {
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
}

/// `## Packages`: kept and dropped files and bytes of each package.
fn packages(s: &mut String, pkgs: &[Pkg<'_>]) {
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
}

/// `## Dependency graph`: the picture of what each kept object needs.
fn graph(s: &mut String) {
    s.push_str("## Dependency graph\n\n");
    s.push_str(
        "What each kept object needs directly: one block per program (first) and per library that needs others, with an arrow to each library it needs (`DT_NEEDED`) and, dashed, to its interpreter or `#!` line; symlinks are followed to the file they lead to. A name is the file's name; the legend under the picture, and the tooltip of each box and arrow, give the full path.\n\n",
    );
    s.push_str("![What each kept object needs directly](graph.svg)\n\n");
}

/// `## Writable paths`: the directories the runs wrote in.
fn writable(s: &mut String, site: &Site<'_>) {
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
}

/// `## Left out`: what a chain reached but the image does not keep.
fn left_out(s: &mut String, site: &Site<'_>) {
    let profile: &Profile = site.profile;
    let c: &Closure = site.closure;
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

/// `writable.md`: every writable directory, in detail.
pub(super) fn writable_md(site: &Site<'_>) -> String {
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

/// `SUMMARY.md`: the pages, for mdBook.
pub(super) fn summary_md(site: &Site<'_>, pkgs: &[Pkg<'_>]) -> String {
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
