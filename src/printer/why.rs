//! `kaudit why` (and what `rdeps`, `verify` and `check` say of an entry):
//! the shortest chain of evidence, every chain as a tree, the facts about an
//! entry that is not kept, and what the init system says of it, as text.

use std::fmt::Write as _;
use std::io::Write;

use anyhow::Result;
use kaudit_analyzer::bytes;
use kaudit_analyzer::report::json_path;
use kaudit_graph::ProofRow;
use kaudit_reports::closure::Reason;
use kaudit_reports::show;
use kaudit_reports::units::human;
use kaudit_reports::why::{describe, Facts, Hop, InitFact, Tree};

use super::Format;

/// The facts about `path`, which is not kept, as text.
pub(crate) fn facts(out: &mut impl Write, path: &[u8], f: &Facts) -> Result<()> {
    out.write_all(facts_text(path, f).as_bytes())?;
    Ok(())
}

/// What `kaudit why` answers about `path`, which is not kept: the facts
/// known and what the init system says of it, as text or JSON.
pub(crate) fn not_kept(
    out: &mut impl Write,
    path: &[u8],
    facts: &Facts,
    init: &[InitFact],
    format: Format,
) -> Result<()> {
    if format == Format::Json {
        let v = serde_json::json!({"path": json_path(path), "kept": false, "facts": facts, "init": init});
        serde_json::to_writer_pretty(&mut *out, &v)?;
        out.write_all(b"\n")?;
    } else {
        out.write_all(facts_text(path, facts).as_bytes())?;
        out.write_all(init_text(init).as_bytes())?;
    }
    Ok(())
}

/// What `kaudit why` answers about a kept entry.
pub(crate) struct Kept<'a> {
    /// The entry.
    pub(crate) path: &'a [u8],
    /// The shortest chain from a root.
    pub(crate) hops: Vec<Hop>,
    /// The chain through the graph when the shortest one is a name asked
    /// for (text without `--all`).
    pub(crate) explained: Option<Vec<Hop>>,
    /// Every chain (text with `--all`).
    pub(crate) tree: Option<Tree>,
    /// Its reasons, as recorded.
    pub(crate) reasons: Vec<Reason>,
    /// Reasons counted beyond those recorded.
    pub(crate) more: usize,
    /// What the init system's configuration says of it.
    pub(crate) init: Vec<InitFact>,
    /// What the last proof of the profile showed of it.
    pub(crate) proof: Option<ProofRow>,
}

/// A kept entry's chain (or every chain), the init system's word and the
/// proof, as text; or all of it as JSON. `package` names an entry's package.
pub(crate) fn kept(
    out: &mut impl Write,
    k: &Kept<'_>,
    package: &dyn Fn(&[u8]) -> Option<String>,
    format: Format,
) -> Result<()> {
    // the reasons besides the one the chain starts with (the text says
    // how many; JSON says how many and lists those recorded)
    let others = k.reasons.len().saturating_sub(1) + k.more;
    if format == Format::Json {
        let v = serde_json::json!({
            "path": json_path(k.path),
            "kept": true,
            "proof": k.proof.as_ref().map(|r| serde_json::json!({
                "kind": r.kind, "scenario": r.scenario, "step": r.step, "detail": r.detail,
            })),
            "chain": k.hops,
            "reasons": k.reasons,
            "reasons_total": k.reasons.len() + k.more,
            "more_reasons": others,
            "init": k.init,
        });
        serde_json::to_writer_pretty(&mut *out, &v)?;
        out.write_all(b"\n")?;
        return Ok(());
    }
    if let Some(t) = &k.tree {
        out.write_all(all(k.path, t).as_bytes())?;
    } else {
        out.write_all(chain(&k.hops, package).as_bytes())?;
        if let Some(ex) = &k.explained {
            writeln!(out, "explained through the graph:")?;
            out.write_all(chain(ex, package).as_bytes())?;
        }
        if others > 0 {
            writeln!(out, "({others} more reason(s): --all shows every chain)")?;
        }
    }
    out.write_all(init_text(&k.init).as_bytes())?;
    if let Some(r) = &k.proof {
        let line = match r.kind.as_str() {
            "unproven" => format!("not shown necessary: {}", r.detail),
            "replay" | "loader" => format!("necessary ({} proof): {}", r.kind, r.detail),
            "include" => format!("kept by an include: {}", r.detail),
            _ => format!("{}: {}", r.kind, r.detail),
        };
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// The shortest chain as text: each entry, its reason indented below, the
/// next hop nested one level deeper.
/// `package` names the package of an entry (`None`: no package), shown
/// after each path.
pub(crate) fn chain(hops: &[Hop], package: &dyn Fn(&[u8]) -> Option<String>) -> String {
    let mut out = String::new();
    for (i, h) in hops.iter().enumerate() {
        let indent = "    ".repeat(i.saturating_sub(1));
        let branch = if i == 0 { "" } else { "└── " };
        let pkg = package(&h.path)
            .map(|p| format!("  [{p}]"))
            .unwrap_or_default();
        let _ = writeln!(out, "{indent}{branch}{}{pkg}", show(&h.path));
        let pad = "    ".repeat(i) + "    ";
        let _ = writeln!(out, "{pad}{}", describe(&h.reason));
    }
    out
}

/// Every chain, as a tree from `path` back to the roots (`--all`): each
/// reason is a branch leading to the entry it comes from; an entry already
/// shown is not expanded again.
pub(crate) fn all(path: &[u8], t: &Tree) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", show(path));
    branches(t, "", &mut out);
    out
}

fn branches(t: &Tree, prefix: &str, out: &mut String) {
    let n = t.branches.len() + usize::from(t.more > 0);
    for (i, b) in t.branches.iter().enumerate() {
        let last = i + 1 == n;
        let (branch, cont) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        match &b.from {
            None => {
                let _ = writeln!(out, "{prefix}{branch}{} (root)", describe(&b.reason));
            }
            Some(f) => {
                let _ = writeln!(
                    out,
                    "{prefix}{branch}{} ← {}{}",
                    describe(&b.reason),
                    show(f),
                    if b.again { " (shown above)" } else { "" }
                );
                if let Some(below) = &b.below {
                    branches(below, &format!("{prefix}{cont}"), out);
                }
            }
        }
    }
    if t.more > 0 {
        let _ = writeln!(out, "{prefix}└── … and {} more reason(s)", t.more);
    }
}

/// The facts as text.
pub(crate) fn facts_text(path: &[u8], f: &Facts) -> String {
    let mut out = format!(
        "{} is not kept: no chain of evidence reaches it.\n",
        show(path)
    );
    match (&f.present, f.size) {
        (Some(k), Some(s)) if k == "file" => {
            let _ = writeln!(out, "  present in the root: {k}, {}", human(s));
        }
        (Some(k), _) => {
            let _ = writeln!(out, "  present in the root: {k}");
        }
        (None, _) => {
            let _ = writeln!(out, "  not in the scanned root");
        }
    }
    if let Some(r) = &f.exclude_rule {
        let _ = writeln!(out, "  excluded by the profile, {r}");
    }
    for e in &f.excluded {
        let _ = writeln!(out, "  reached, but excluded: {e}");
    }
    for e in &f.reached_absent {
        let _ = writeln!(out, "  reached, but absent from the scanned root: {e}");
    }
    for p in &f.probes {
        let _ = writeln!(out, "  {p}");
    }
    for l in &f.links {
        let _ = writeln!(out, "  a symlink leads to it: {l}");
    }
    out
}

/// The init facts as lines of text.
pub(crate) fn init_text(facts: &[InitFact]) -> String {
    let mut s = String::new();
    for f in facts {
        let _ = write!(s, "init system: {} of {}", f.rule, show(&f.unit));
        if let Some(u) = &f.dropin_of {
            let _ = write!(s, " (a drop-in of {})", show(u));
        }
        if f.enabled_by.is_empty() {
            let _ = write!(s, "; enabled by no unit or runlevel");
        }
        for (i, e) in f.enabled_by.iter().enumerate() {
            let what = match e.rule.as_str() {
                "runlevel" => format!("runlevel {}", show(bytes::file_name(&e.of))),
                "requires-dir" => format!("{}.requires", show(bytes::file_name(&e.of))),
                _ => format!("{}.wants", show(bytes::file_name(&e.of))),
            };
            let _ = write!(
                s,
                "{} enabled by {what} ({})",
                if i == 0 { "," } else { ";" },
                show(&e.link)
            );
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaudit_reports::why::{Branch, Enabler};

    fn include(glob: &str) -> Reason {
        Reason::Include {
            glob: glob.into(),
            reason: "needed at boot".into(),
            line: 3,
        }
    }

    #[test]
    fn a_chain_nests_each_hop_under_the_one_before_with_its_package() {
        let hops = vec![
            Hop {
                path: b"/etc/a".to_vec(),
                reason: include("/etc/a"),
            },
            Hop {
                path: b"/etc/b".to_vec(),
                reason: include("/etc/b"),
            },
        ];
        let pkg = |p: &[u8]| (p == b"/etc/a").then(|| "base-files".to_string());
        assert_eq!(
            chain(&hops, &pkg),
            format!(
                "/etc/a  [base-files]\n    {}\n└── /etc/b\n        {}\n",
                describe(&hops[0].reason),
                describe(&hops[1].reason)
            )
        );
    }

    #[test]
    fn every_chain_is_drawn_as_a_tree_and_an_entry_met_again_is_not_expanded() {
        let root = Tree {
            branches: vec![Branch {
                reason: include("/x"),
                from: None,
                again: false,
                below: None,
            }],
            more: 0,
        };
        let edge = |from: &[u8], again: bool, below: Option<Tree>| Branch {
            reason: include("/edge"),
            from: Some(from.to_vec()),
            again,
            below,
        };
        let t = Tree {
            branches: vec![edge(b"/x", false, Some(root)), edge(b"/x", true, None)],
            more: 2,
        };
        let r = describe(&include("/x"));
        let e = describe(&include("/edge"));
        assert_eq!(
            all(b"/y", &t),
            format!(
                "/y\n├── {e} ← /x\n│   └── {r} (root)\n├── {e} ← /x (shown above)\n└── … and 2 more reason(s)\n"
            )
        );
    }

    #[test]
    fn the_init_system_says_which_unit_starts_it_and_what_enables_that() {
        let facts = vec![InitFact {
            rule: "ExecStart".into(),
            unit: b"/usr/lib/systemd/system/app.service".to_vec(),
            dropin_of: None,
            enabled_by: vec![Enabler {
                link: b"/etc/systemd/system/multi-user.target.wants/app.service".to_vec(),
                rule: "wants-dir".into(),
                of: b"/etc/systemd/system/multi-user.target".to_vec(),
            }],
        }];
        assert_eq!(
            init_text(&facts),
            "init system: ExecStart of /usr/lib/systemd/system/app.service, enabled by multi-user.target.wants (/etc/systemd/system/multi-user.target.wants/app.service)\n"
        );
        assert_eq!(init_text(&[]), "");
    }
}
