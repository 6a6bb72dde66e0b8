//! `kaudit check`: the gate's outcome as text, a Markdown comment or a JUnit
//! report (JSON is the outcome serialised).

use std::fmt::Write as _;

use anyhow::Result;
use kaudit_reports::check::{Finding, Outcome};
use kaudit_reports::escape::{xml, xml_lines};
use kaudit_reports::gate::Level;
use kaudit_reports::units::human;

use super::Format;

/// The outcome in `format`.
pub(crate) fn render(o: &Outcome, format: Format) -> Result<String> {
    Ok(match format {
        Format::Text => text(o),
        Format::Markdown => markdown(o),
        Format::Junit => junit(o),
        _ => serde_json::to_string_pretty(o)? + "\n",
    })
}

/// The outcome as text.
pub(crate) fn text(o: &Outcome) -> String {
    let mut s = format!(
        "kaudit check, profile {}: {}\n  bytes: {} (baseline {}, {}), budget {}\n  entries: {} (baseline {})\n",
        o.profile,
        if o.passed() { "PASSED" } else { "FAILED" },
        human(o.bytes),
        human(o.baseline_bytes),
        delta(o.baseline_bytes, o.bytes),
        human(o.rules.budget),
        o.entries,
        o.baseline_entries
    );
    for f in &o.findings {
        let lvl = match f.level {
            Level::Fail => "FAIL",
            _ => "warn",
        };
        let _ = writeln!(s, "{lvl} {}: {}", f.code, f.message);
        if let Some(w) = &f.why {
            for l in w.lines() {
                let _ = writeln!(s, "       {l}");
            }
        }
    }
    if !o.packages.is_empty() {
        s.push_str("packages:\n");
        for p in &o.packages {
            let _ = writeln!(
                s,
                "  {:<40} {:>10} -> {:>10} ({})",
                p.package,
                human(p.before),
                human(p.after),
                delta(p.before, p.after)
            );
        }
    }
    s
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The outcome as Markdown, for a pull-request comment.
pub(crate) fn markdown(o: &Outcome) -> String {
    let mut s = format!(
        "### kaudit check: {} — profile `{}`\n\n| | now | baseline | change |\n|---|---:|---:|---:|\n| bytes | {} | {} | {} |\n| entries | {} | {} | {:+} |\n| budget | {} | | {} |\n\n",
        if o.passed() { "✅ passed" } else { "❌ failed" },
        o.profile,
        human(o.bytes),
        human(o.baseline_bytes),
        delta(o.baseline_bytes, o.bytes),
        o.entries,
        o.baseline_entries,
        o.entries as i64 - o.baseline_entries as i64,
        human(o.rules.budget),
        if o.bytes <= o.rules.budget { "within" } else { "**over**" }
    );
    if o.findings.is_empty() {
        s.push_str("No change against the baseline.\n");
    } else {
        s.push_str("| result | code | what |\n|---|---|---|\n");
        for f in &o.findings {
            let _ = writeln!(
                s,
                "| {} | `{}` | {} |",
                if f.level == Level::Fail {
                    "fail"
                } else {
                    "warn"
                },
                f.code,
                md_cell(&f.message)
            );
        }
        for f in o.findings.iter().filter(|f| f.why.is_some()) {
            let _ = write!(
                s,
                "\n<details><summary>why {}</summary>\n\n```text\n{}```\n</details>\n",
                md_cell(
                    &f.path
                        .as_deref()
                        .map(kaudit_reports::show)
                        .unwrap_or_default()
                ),
                f.why.as_deref().unwrap_or_default()
            );
        }
    }
    if !o.packages.is_empty() {
        s.push_str("\n| package | baseline | now | change |\n|---|---:|---:|---:|\n");
        for p in &o.packages {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                md_cell(&p.package),
                human(p.before),
                human(p.after),
                delta(p.before, p.after)
            );
        }
    }
    s
}

/// The outcome as JUnit XML: one test case per rule (budget, growth) and
/// one per changed entry; a failed rule is a `<failure>`, a warning a
/// passing case with `<system-out>`. Control characters (in a path, say)
/// are written as visible escapes (`\x1b`), never raw: XML has no place
/// for them; the lines of a chain stay lines.
pub(crate) fn junit(o: &Outcome) -> String {
    let mut cases: Vec<(String, String, Option<&Finding>)> = Vec::new();
    let budget = o.findings.iter().find(|f| f.code == "over-budget");
    let growth = o.findings.iter().find(|f| f.code == "growth");
    cases.push(("budget".into(), "budget".into(), budget));
    cases.push(("growth".into(), "growth".into(), growth));
    for f in o.findings.iter().filter(|f| f.path.is_some()) {
        cases.push((
            f.code.to_string(),
            f.path
                .as_deref()
                .map(kaudit_reports::show)
                .unwrap_or_default(),
            Some(f),
        ));
    }
    let failures = cases
        .iter()
        .filter(|(_, _, f)| f.is_some_and(|f| f.level == Level::Fail))
        .count();
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"kaudit check\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">\n  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">\n",
        cases.len(),
        xml(&o.profile),
        cases.len()
    );
    for (class, name, f) in &cases {
        let _ = write!(
            s,
            "    <testcase classname=\"kaudit.{}\" name=\"{}\">",
            xml(class),
            xml(name)
        );
        match f {
            Some(f) if f.level == Level::Fail => {
                let _ = write!(
                    s,
                    "\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    ",
                    f.code,
                    xml(&f.message),
                    xml_lines(f.why.as_deref().unwrap_or(&f.message))
                );
            }
            Some(f) => {
                let _ = write!(
                    s,
                    "\n      <system-out>{}</system-out>\n    ",
                    xml(&f.message)
                );
            }
            None => {}
        }
        s.push_str("</testcase>\n");
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}

fn delta(before: u64, after: u64) -> String {
    if after >= before {
        format!("+{}", human(after - before))
    } else {
        format!("-{}", human(before - after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaudit_reports::check::Rules;

    #[test]
    fn junit_writes_control_characters_as_visible_escapes() {
        let o = Outcome {
            profile: "p\u{7}".into(),
            rules: Rules::with_budget(1 << 30),
            baseline_bytes: 0,
            bytes: 0,
            baseline_entries: 0,
            entries: 1,
            findings: vec![Finding {
                code: "added",
                level: Level::Fail,
                path: Some(b"/etc/a\x1bb".to_vec()),
                message: "file /etc/a\u{1b}b added".into(),
                why: Some("/etc/a\u{1b}b\n  opened by sh[1] in boot (run 1)\n".into()),
            }],
            packages: Vec::new(),
        };
        let x = junit(&o);
        assert!(!x.contains(['\u{7}', '\u{1b}']), "{x:?}");
        assert!(x.contains("<testsuite name=\"p\\x07\""), "{x}");
        assert!(x.contains("name=\"/etc/a\\x1bb\">"), "{x}");
        assert!(
            x.contains("message=\"file /etc/a\\x1bb added\">/etc/a\\x1bb\n  opened by sh[1] in boot (run 1)\n</failure>"),
            "{x}"
        );
    }
}
