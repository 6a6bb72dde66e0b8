//! Profiles (`allowlists/NAME.toml`): the scenarios an image must serve,
//! includes and excludes with their reasons, and a size budget.
//!
//! ```toml
//! description = "A containerd node"
//! scenarios = ["containerd-run", "runc-run"]
//! budget = "120 MiB"
//! # allow_incomplete = true   # accept runs that may have lost events or names
//!
//! [[include]]
//! glob = "/etc/hostname"
//! reason = "read by the init system before any scenario can run"
//!
//! [[exclude]]
//! glob = "/usr/share/doc/**"
//! reason = "documentation is never needed on a node"
//! ```

use std::path::{Path, PathBuf};

use globset::{Candidate, Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Deserialize;

use crate::units::parse_size;

/// A profile that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("cannot read profile {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid, with where.
    #[error("{path}:{line}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// An include or exclude rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The glob as written: absolute, `*` within a path component, `**` across.
    pub glob: String,
    /// Why the rule exists (mandatory).
    pub reason: String,
    /// The line of the rule's `[[include]]` / `[[exclude]]` header.
    pub line: usize,
    glob_compiled: Glob,
}

impl Rule {
    /// Whether the rule matches an absolute path inside the root.
    pub fn matches(&self, path: &[u8]) -> bool {
        let p = Path::new(std::ffi::OsStr::from_bytes(path));
        self.glob_compiled
            .compile_matcher()
            .is_match_candidate(&Candidate::new(p))
    }
}

/// Rules matched all at once: one automaton for every glob (a literal path
/// is a hash lookup), so matching a path does not cost one match per rule.
#[derive(Debug, Clone, Default)]
struct RuleSet {
    set: GlobSet,
}

impl RuleSet {
    fn new(rules: &[Rule]) -> Result<RuleSet, globset::Error> {
        let mut b = GlobSetBuilder::new();
        for r in rules {
            b.add(r.glob_compiled.clone());
        }
        Ok(RuleSet { set: b.build()? })
    }

    /// The index of the first rule (in profile order) that matches `path`.
    fn first(&self, path: &[u8]) -> Option<usize> {
        let p = Path::new(std::ffi::OsStr::from_bytes(path));
        self.set
            .matches_candidate(&Candidate::new(p))
            .into_iter()
            .min()
    }
}

use std::os::unix::ffi::OsStrExt;

/// A parsed profile.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The profile's name (its file name without `.toml`).
    pub name: String,
    /// The file it was read from.
    pub path: PathBuf,
    /// What the image is for.
    pub description: Option<String>,
    /// The scenarios (run names) the image must serve.
    pub scenarios: Vec<String>,
    /// The size budget in bytes.
    pub budget: Option<u64>,
    /// Accept runs that may have lost events or names.
    pub allow_incomplete: bool,
    /// Entries kept whatever the runs say.
    pub include: Vec<Rule>,
    /// Entries never kept.
    pub exclude: Vec<Rule>,
    include_set: RuleSet,
    exclude_set: RuleSet,
    /// A hash of the profile's text (closures computed from it are cached
    /// under it).
    pub digest: u64,
    /// The `kaudit check` rules of the `[check]` table (defaults where unset).
    pub check: CheckConfig,
}

/// The profile's `[check]` table: what `kaudit check` fails on.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckConfig {
    /// Growth allowed against the baseline (`5%`, `2 MiB`).
    pub max_growth: crate::gate::Growth,
    /// Files the baseline lacks.
    pub added: crate::gate::Level,
    /// Files the image lost.
    pub removed: crate::gate::Level,
    /// Changed type, mode or symlink target.
    pub changed: crate::gate::Level,
    /// Entries now kept only by an include.
    pub evidence_lost: crate::gate::Level,
    /// An added entry not shown necessary (`not-shown-necessary`).
    pub unproven: crate::gate::Level,
}

impl Default for CheckConfig {
    fn default() -> Self {
        use crate::gate::{Growth, Level};
        CheckConfig {
            max_growth: Growth::Percent(5.0),
            added: Level::Fail,
            removed: Level::Fail,
            changed: Level::Fail,
            evidence_lost: Level::Fail,
            unproven: Level::Warn,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    description: Option<String>,
    #[serde(default)]
    scenarios: Vec<String>,
    budget: Option<toml::Spanned<toml::Value>>,
    #[serde(default)]
    allow_incomplete: bool,
    #[serde(default)]
    include: Vec<toml::Spanned<RawRule>>,
    #[serde(default)]
    exclude: Vec<toml::Spanned<RawRule>>,
    check: Option<toml::Spanned<RawCheck>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    max_growth: Option<String>,
    added: Option<String>,
    removed: Option<String>,
    changed: Option<String>,
    evidence_lost: Option<String>,
    unproven: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    glob: String,
    reason: Option<String>,
}

/// Line numbers of byte offsets, from the offsets where lines start (one
/// pass over the text; each lookup is a binary search, so a profile of many
/// rules is not read again for every rule).
struct Lines(Vec<usize>);

impl Lines {
    fn of(text: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(memchr_newlines(text.as_bytes()));
        Lines(starts)
    }

    /// The line (from 1) of byte `offset`.
    fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }
}

/// The offsets just after each newline.
fn memchr_newlines(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .map(|(i, _)| i + 1)
}

/// The line of the `[[section]]` header an array-of-tables entry starts at
/// (toml reports the span of the entry's body): the nearest header before
/// it, searched backwards from the body.
fn header_line(lines: &Lines, text: &str, section: &str, body_offset: usize) -> usize {
    let header = format!("[[{section}]]");
    let before = &text[..body_offset.min(text.len())];
    match before.rfind(&header) {
        Some(at) => lines.line(at),
        None => lines.line(body_offset),
    }
}

impl Profile {
    /// Read and check a profile file.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Profile::parse(path, &text)
    }

    /// Parse a profile's text (`path` names it in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Profile, ProfileError> {
        let invalid = |line: usize, message: String| ProfileError::Invalid {
            path: path.to_path_buf(),
            line,
            message,
        };
        let lines = Lines::of(text);
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| lines.line(s.start));
            invalid(line, e.message().to_string())
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if raw.scenarios.is_empty() && raw.include.is_empty() {
            return Err(invalid(
                1,
                "no scenarios and no includes: the profile would keep nothing".into(),
            ));
        }
        let budget = match &raw.budget {
            None => None,
            Some(b) => {
                let line = lines.line(b.span().start);
                let v = match b.get_ref() {
                    toml::Value::Integer(i) if *i >= 0 => Some(*i as u64),
                    toml::Value::String(s) => parse_size(s),
                    _ => None,
                };
                Some(v.ok_or_else(|| {
                    invalid(
                        line,
                        "budget: expected bytes or a size such as \"120 MiB\"".into(),
                    )
                })?)
            }
        };
        let rules = |section: &str, raw: &[toml::Spanned<RawRule>]| {
            let mut out = Vec::new();
            for r in raw {
                let line = header_line(&lines, text, section, r.span().start);
                let rr = r.get_ref();
                let reason = match &rr.reason {
                    Some(s) if !s.trim().is_empty() => s.trim().to_string(),
                    _ => {
                        return Err(invalid(
                            line,
                            format!(
                                "[[{section}]] \"{}\" has no reason: every {section} must say why",
                                rr.glob
                            ),
                        ))
                    }
                };
                if !rr.glob.starts_with('/') {
                    return Err(invalid(
                        line,
                        format!(
                            "[[{section}]] glob \"{}\" is not absolute: globs match paths inside the root, such as /etc/**",
                            rr.glob
                        ),
                    ));
                }
                let glob = GlobBuilder::new(&rr.glob)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .build()
                    .map_err(|e| invalid(line, format!("[[{section}]] glob: {e}")))?;
                out.push(Rule {
                    glob: rr.glob.clone(),
                    reason,
                    line,
                    glob_compiled: glob,
                });
            }
            Ok(out)
        };
        let mut check = CheckConfig::default();
        if let Some(c) = &raw.check {
            let line = lines.line(c.span().start);
            let c = c.get_ref();
            if let Some(g) = &c.max_growth {
                check.max_growth = crate::gate::Growth::parse(g).ok_or_else(|| {
                    invalid(
                        line,
                        format!(
                            "[check] max_growth \"{g}\": expected a share (5%) or a size (2 MiB)"
                        ),
                    )
                })?;
            }
            for (key, val, slot) in [
                ("added", &c.added, &mut check.added),
                ("removed", &c.removed, &mut check.removed),
                ("changed", &c.changed, &mut check.changed),
                ("evidence_lost", &c.evidence_lost, &mut check.evidence_lost),
                ("unproven", &c.unproven, &mut check.unproven),
            ] {
                if let Some(v) = val {
                    *slot = crate::gate::Level::parse(v).ok_or_else(|| {
                        invalid(
                            line,
                            format!("[check] {key} = \"{v}\": expected fail, warn or off"),
                        )
                    })?;
                }
            }
        }
        let include = rules("include", &raw.include)?;
        let exclude = rules("exclude", &raw.exclude)?;
        let set = |section: &str, rules: &[Rule]| {
            RuleSet::new(rules).map_err(|e| invalid(1, format!("[[{section}]] globs: {e}")))
        };
        let include_set = set("include", &include)?;
        let exclude_set = set("exclude", &exclude)?;
        Ok(Profile {
            name,
            path: path.to_path_buf(),
            description: raw.description,
            scenarios: raw.scenarios,
            budget,
            allow_incomplete: raw.allow_incomplete,
            include,
            exclude,
            include_set,
            exclude_set,
            check,
            digest: text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            }),
        })
    }

    /// The first exclude rule that matches `path`.
    pub fn excluded(&self, path: &[u8]) -> Option<&Rule> {
        self.exclude_set.first(path).map(|i| &self.exclude[i])
    }

    /// The first include rule that matches `path`.
    pub fn included(&self, path: &[u8]) -> Option<&Rule> {
        self.include_set.first(path).map(|i| &self.include[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Profile, ProfileError> {
        Profile::parse(Path::new("allowlists/p.toml"), t)
    }

    #[test]
    fn a_full_profile_parses() {
        let p = parse(
            r#"
description = "node"
scenarios = ["containerd-run"]
budget = "1.5 MiB"

[[include]]
glob = "/etc/host*"
reason = "read at boot"

[[exclude]]
glob = "/usr/share/doc/**"
reason = "docs"
"#,
        )
        .unwrap();
        assert_eq!(p.name, "p");
        assert_eq!(p.budget, Some(1_572_864));
        assert_eq!(p.include[0].line, 6);
        assert!(p.include[0].matches(b"/etc/hostname"));
        assert!(!p.include[0].matches(b"/etc/x/hostname"));
        assert!(p.excluded(b"/usr/share/doc/a/b/c").is_some());
        assert!(p.excluded(b"/usr/share/docs").is_none());
    }

    #[test]
    fn a_rule_without_reason_is_an_error_naming_its_line() {
        let e = parse(
            "scenarios = [\"a\"]\n\n[[include]]\nglob = \"/x\"\nreason = \"r\"\n\n[[exclude]]\nglob = \"/usr/share/doc/**\"\n",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "allowlists/p.toml:7: [[exclude]] \"/usr/share/doc/**\" has no reason: every exclude must say why"
        );
    }

    #[test]
    fn unknown_keys_bad_budgets_and_relative_globs_are_refused() {
        let e = parse("scenarios = [\"a\"]\nbudgte = 3\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("allowlists/p.toml:2: unknown field `budgte`"),
            "{e}"
        );
        let e = parse("scenarios = [\"a\"]\nbudget = \"lots\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("allowlists/p.toml:2: budget"), "{e}");
        let e = parse("scenarios = [\"a\"]\n[[include]]\nglob = \"etc/x\"\nreason = \"r\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2: [[include]] glob \"etc/x\" is not absolute"),
            "{e}"
        );
        assert!(parse("description = \"nothing\"\n").is_err());
    }

    #[test]
    fn check_rules_have_defaults_and_are_checked() {
        let p = parse("scenarios = [\"a\"]\n").unwrap();
        assert_eq!(p.check, CheckConfig::default());
        let p = parse("scenarios = [\"a\"]\n[check]\nmax_growth = \"1 MiB\"\nremoved = \"warn\"\n")
            .unwrap();
        assert_eq!(p.check.max_growth, crate::gate::Growth::Bytes(1 << 20));
        assert_eq!(p.check.removed, crate::gate::Level::Warn);
        let e = parse("scenarios = [\"a\"]\n[check]\nadded = \"maybe\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("[check] added = \"maybe\": expected fail, warn or off"),
            "{e}"
        );
    }
}
