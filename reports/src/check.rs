//! `kaudit check`: a gate for a build pipeline. The image's allowlist is
//! computed again and compared with a committed baseline and the profile's
//! budget; each result has a stable code, and the gate fails when a rule
//! says so.
//!
//! The baseline (`allowlists/NAME.txt`) is a manifest: one entry a line,
//! tab-separated — path, type, mode (octal), size, package, symlink target,
//! reason codes — with `#` comment lines. Paths are escaped (`\t`, `\n`,
//! `\\`, `\xNN` for bytes that are not UTF-8) so any path round-trips.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::closure::Closure;
use crate::gate::{Growth, Level};
use crate::units::human;

/// One entry of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// `file`, `dir`, `symlink`, …
    pub kind: String,
    /// Permission bits.
    pub mode: u32,
    /// Size (regular files; a symlink's target length).
    pub size: u64,
    /// Owning package(s), or empty.
    pub package: String,
    /// A symlink's target.
    pub target: String,
    /// The codes of the reasons that keep it (`accessed`, `needed`, `include`…).
    pub reasons: Vec<String>,
}

/// What an image holds, path by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Entries by path (the root directory not included).
    pub items: BTreeMap<Vec<u8>, Item>,
}

/// Escape a path for one tab-separated field.
pub fn escape(p: &[u8]) -> String {
    let mut out = String::new();
    for chunk in p.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// Undo [`escape`].
pub fn unescape(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            match b.get(i + 1)? {
                b'\\' => out.push(b'\\'),
                b't' => out.push(b'\t'),
                b'n' => out.push(b'\n'),
                b'x' => {
                    let h = std::str::from_utf8(b.get(i + 2..i + 4)?).ok()?;
                    out.push(u8::from_str_radix(h, 16).ok()?);
                    i += 2;
                }
                _ => return None,
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

impl Manifest {
    /// The manifest of a closure; `package` names an entry's package(s).
    pub fn of(c: &Closure, package: &dyn Fn(&[u8]) -> Option<String>) -> Manifest {
        let mut items = BTreeMap::new();
        for (path, e) in c.listed() {
            let mut reasons: Vec<String> = e.reasons.iter().map(|r| r.code().to_string()).collect();
            reasons.sort();
            reasons.dedup();
            // a directory's size depends on the filesystem, and most
            // directories are shared by many packages: neither is recorded
            let dir = e.file.kind == "dir";
            items.insert(
                path.clone(),
                Item {
                    kind: e.file.kind.clone(),
                    mode: e.file.mode & 0o7777,
                    size: if dir { 0 } else { e.file.size },
                    package: if dir {
                        String::new()
                    } else {
                        package(path).unwrap_or_default()
                    },
                    target: e
                        .file
                        .link_target
                        .as_deref()
                        .map(escape)
                        .unwrap_or_default(),
                    reasons,
                },
            );
        }
        Manifest { items }
    }

    /// Bytes of regular files.
    pub fn bytes(&self) -> u64 {
        self.items
            .values()
            .filter(|i| i.kind == "file")
            .map(|i| i.size)
            .sum()
    }

    /// The manifest as a file.
    pub fn render(&self, profile: &str) -> String {
        let mut out = format!(
            "# kaudit baseline of profile {profile}: {} entries, {} bytes of files\n# path\ttype\tmode\tsize\tpackage\ttarget\treasons\n",
            self.items.len(),
            self.bytes()
        );
        for (p, i) in &self.items {
            let _ = writeln!(
                out,
                "{}\t{}\t{:o}\t{}\t{}\t{}\t{}",
                escape(p),
                i.kind,
                i.mode,
                i.size,
                i.package,
                i.target,
                i.reasons.join(",")
            );
        }
        out
    }

    /// Read a manifest; errors name the line.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut items = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = line.split('\t').collect();
            let bad = |why: &str| format!("line {}: {why}", n + 1);
            if f.len() != 7 {
                return Err(bad("expected 7 tab-separated fields"));
            }
            let path = unescape(f[0]).ok_or_else(|| bad("a path with a bad escape"))?;
            items.insert(
                path,
                Item {
                    kind: f[1].to_string(),
                    mode: u32::from_str_radix(f[2], 8).map_err(|_| bad("mode is not octal"))?,
                    size: f[3].parse().map_err(|_| bad("size is not a number"))?,
                    package: f[4].to_string(),
                    target: f[5].to_string(),
                    reasons: f[6]
                        .split(',')
                        .filter(|r| !r.is_empty())
                        .map(str::to_string)
                        .collect(),
                },
            );
        }
        Ok(Manifest { items })
    }
}

/// The gate's rules (the profile's `[check]` table, then the command line).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rules {
    /// The budget, bytes of files (required).
    pub budget: u64,
    /// Growth allowed against the baseline (default 5%).
    pub max_growth: Growth,
    /// A file the baseline does not have (default: fail).
    pub added: Level,
    /// A file the baseline has and the image no longer does (default: fail).
    pub removed: Level,
    /// A changed type, mode or symlink target (default: fail).
    pub changed: Level,
    /// An entry kept by the runs in the baseline and now only by an include (default: fail).
    pub evidence_lost: Level,
    /// An added entry the last `kaudit prove` of the profile did not show
    /// necessary, or that has no proof yet (default: warn; only once the
    /// profile has been proven).
    pub unproven: Level,
}

impl Rules {
    /// The defaults, with a budget.
    pub fn with_budget(budget: u64) -> Rules {
        Rules {
            budget,
            max_growth: Growth::Percent(5.0),
            added: Level::Fail,
            removed: Level::Fail,
            changed: Level::Fail,
            evidence_lost: Level::Fail,
            unproven: Level::Warn,
        }
    }
}

/// One result of the gate.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Stable code: `over-budget`, `growth`, `added`, `removed`,
    /// `type-changed`, `mode-changed`, `target-changed`, `evidence-lost`,
    /// `not-shown-necessary`.
    pub code: &'static str,
    /// `fail` or `warn`.
    pub level: Level,
    /// The entry, when about one.
    #[serde(with = "crate::pathser::opt_bytes")]
    pub path: Option<Vec<u8>>,
    /// A sentence.
    pub message: String,
    /// Why the entry is kept (added entries): the first chain, one hop a line.
    pub why: Option<String>,
}

/// A package's change in bytes.
#[derive(Debug, Clone, Serialize)]
pub struct PackageDelta {
    /// Package (`(no package)` for unowned entries).
    pub package: String,
    /// Bytes in the baseline.
    pub before: u64,
    /// Bytes now.
    pub after: u64,
}

/// The gate's answer.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Profile name.
    pub profile: String,
    /// The rules applied.
    pub rules: Rules,
    /// Bytes in the baseline.
    pub baseline_bytes: u64,
    /// Bytes now.
    pub bytes: u64,
    /// Entries in the baseline.
    pub baseline_entries: usize,
    /// Entries now.
    pub entries: usize,
    /// Every result, failures first.
    pub findings: Vec<Finding>,
    /// Per-package changes, largest first.
    pub packages: Vec<PackageDelta>,
}

impl Outcome {
    /// Whether the gate passes.
    pub fn passed(&self) -> bool {
        !self.findings.iter().any(|f| f.level == Level::Fail)
    }
}

/// What the last proof of necessity says of an entry: `None` when the
/// profile was never proven; else `Some(None)` for an entry without a
/// proof, `Some(Some((kind, detail)))` otherwise.
pub type ProofOf<'a> = &'a dyn Fn(&[u8]) -> Option<Option<(String, String)>>;

/// Compare `now` with `base` under `rules`; `why` gives an added entry's
/// first chain, `proof` its proof of necessity.
pub fn check(
    profile: &str,
    base: &Manifest,
    now: &Manifest,
    rules: &Rules,
    why: &dyn Fn(&[u8]) -> Option<String>,
    proof: ProofOf<'_>,
) -> Outcome {
    let mut f: Vec<Finding> = Vec::new();
    let mut push = |code: &'static str,
                    level: Level,
                    path: Option<&[u8]>,
                    message: String,
                    why: Option<String>| {
        if level != Level::Off {
            f.push(Finding {
                code,
                level,
                path: path.map(<[u8]>::to_vec),
                message,
                why,
            });
        }
    };
    let (b0, b1) = (base.bytes(), now.bytes());
    if b1 > rules.budget {
        push(
            "over-budget",
            Level::Fail,
            None,
            format!(
                "the image holds {} of files, over its budget of {} by {}",
                human(b1),
                human(rules.budget),
                human(b1 - rules.budget)
            ),
            None,
        );
    }
    if !rules.max_growth.allows(b0, b1) {
        push(
            "growth",
            Level::Fail,
            None,
            format!(
                "the image grew by {} ({:+.1}%) against its baseline ({} to {}); at most {} is allowed",
                human(b1 - b0),
                if b0 > 0 { (b1 as f64 - b0 as f64) * 100.0 / b0 as f64 } else { 100.0 },
                human(b0),
                human(b1),
                rules.max_growth.text()
            ),
            None,
        );
    }
    for (p, i) in &now.items {
        // newly kept and not shown necessary (once the profile is proven)
        if !base.items.contains_key(p) && i.kind != "dir" {
            let said = match proof(p) {
                Some(None) => Some("has no proof of necessity yet (kaudit prove)".to_string()),
                Some(Some((k, d))) if k == "unproven" => {
                    Some(format!("is not shown necessary: {d}"))
                }
                _ => None,
            };
            if let Some(said) = said {
                push(
                    "not-shown-necessary",
                    rules.unproven,
                    Some(p),
                    format!("{} {} is newly kept and {said}", i.kind, crate::show(p)),
                    None,
                );
            }
        }
        match base.items.get(p) {
            None => push(
                "added",
                rules.added,
                Some(p),
                format!(
                    "{} {} added ({}{})",
                    i.kind,
                    crate::show(p),
                    human(i.size),
                    if i.package.is_empty() {
                        String::new()
                    } else {
                        format!(", {}", i.package)
                    }
                ),
                why(p),
            ),
            Some(b) => {
                if b.kind != i.kind {
                    push(
                        "type-changed",
                        rules.changed,
                        Some(p),
                        format!("{} was a {}, is a {}", crate::show(p), b.kind, i.kind),
                        None,
                    );
                } else if b.target != i.target {
                    push(
                        "target-changed",
                        rules.changed,
                        Some(p),
                        format!(
                            "symlink {} pointed to {}, points to {}",
                            crate::show(p),
                            b.target,
                            i.target
                        ),
                        None,
                    );
                }
                if b.mode != i.mode && b.kind == i.kind {
                    push(
                        "mode-changed",
                        rules.changed,
                        Some(p),
                        format!("{} had mode {:o}, has {:o}", crate::show(p), b.mode, i.mode),
                        None,
                    );
                }
                let evidence = |r: &[String]| r.iter().any(|c| c != "include");
                if evidence(&b.reasons) && !evidence(&i.reasons) {
                    push(
                        "evidence-lost",
                        rules.evidence_lost,
                        Some(p),
                        format!(
                            "{} was kept by {}, now only by an include",
                            crate::show(p),
                            b.reasons.join(", ")
                        ),
                        None,
                    );
                }
            }
        }
    }
    for (p, b) in &base.items {
        if !now.items.contains_key(p) {
            push(
                "removed",
                rules.removed,
                Some(p),
                format!(
                    "{} {} removed ({}{})",
                    b.kind,
                    crate::show(p),
                    human(b.size),
                    if b.package.is_empty() {
                        String::new()
                    } else {
                        format!(", {}", b.package)
                    }
                ),
                None,
            );
        }
    }
    f.sort_by_key(|x| x.level != Level::Fail);
    // per-package bytes
    let mut pk: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let key = |i: &Item| {
        if i.package.is_empty() {
            "(no package)".to_string()
        } else {
            i.package.clone()
        }
    };
    for i in base.items.values().filter(|i| i.kind == "file") {
        pk.entry(key(i)).or_default().0 += i.size;
    }
    for i in now.items.values().filter(|i| i.kind == "file") {
        pk.entry(key(i)).or_default().1 += i.size;
    }
    let mut packages: Vec<PackageDelta> = pk
        .into_iter()
        .filter(|(_, (a, b))| a != b)
        .map(|(package, (before, after))| PackageDelta {
            package,
            before,
            after,
        })
        .collect();
    packages.sort_by(|a, b| {
        (b.after as i128 - b.before as i128)
            .abs()
            .cmp(&(a.after as i128 - a.before as i128).abs())
            .then_with(|| a.package.cmp(&b.package))
    });
    Outcome {
        profile: profile.to_string(),
        rules: rules.clone(),
        baseline_bytes: b0,
        bytes: b1,
        baseline_entries: base.items.len(),
        entries: now.items.len(),
        findings: f,
        packages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_through_the_manifest_escapes() {
        for p in [&b"/plain"[..], b"/a\tb", b"/a\nb", b"/a\\b", b"/caf\xe9"] {
            assert_eq!(unescape(&escape(p)).as_deref(), Some(p));
        }
        assert_eq!(unescape("/bad\\q"), None);
    }

    #[test]
    fn a_newly_kept_entry_not_shown_necessary_is_said_once_the_profile_is_proven() {
        let item = |kind: &str| Item {
            kind: kind.into(),
            mode: 0o644,
            size: 1,
            package: String::new(),
            target: String::new(),
            reasons: vec!["accessed".into()],
        };
        let base = Manifest {
            items: [(b"/old".to_vec(), item("file"))].into(),
        };
        let now = Manifest {
            items: [
                (b"/old".to_vec(), item("file")),
                (b"/new-proven".to_vec(), item("file")),
                (b"/new-unproven".to_vec(), item("file")),
                (b"/new-unknown".to_vec(), item("file")),
                (b"/new-dir".to_vec(), item("dir")),
            ]
            .into(),
        };
        let mut rules = Rules::with_budget(1 << 30);
        rules.added = Level::Off;
        rules.max_growth = Growth::Bytes(1 << 20);
        let none = |_: &[u8]| None;
        let proof = |p: &[u8]| -> Option<Option<(String, String)>> {
            Some(match p {
                b"/new-proven" => Some(("replay".into(), "step run fails".into())),
                b"/new-unproven" => Some(("unproven".into(), "every replay passed".into())),
                _ => None,
            })
        };
        let codes = |o: &Outcome| -> Vec<(String, Level)> {
            o.findings
                .iter()
                .map(|f| (crate::show(f.path.as_deref().unwrap_or_default()), f.level))
                .collect()
        };
        // never proven: nothing said
        let o = check("p", &base, &now, &rules, &none, &|_| None);
        assert!(o.findings.is_empty(), "{:?}", o.findings);
        let o = check("p", &base, &now, &rules, &none, &proof);
        assert_eq!(
            codes(&o),
            [
                ("/new-unknown".to_string(), Level::Warn),
                ("/new-unproven".to_string(), Level::Warn)
            ]
        );
        assert!(o.passed());
        assert!(o.findings.iter().all(|f| f.code == "not-shown-necessary"));
        rules.unproven = Level::Fail;
        assert!(!check("p", &base, &now, &rules, &none, &proof).passed());
    }
}
