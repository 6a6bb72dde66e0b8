//! Text made safe where the reports put it: XML (the pictures, JUnit) and
//! Markdown (the pages). Control characters never come out raw: they are
//! written as visible escapes (`\x01`), so a name stays on one line and
//! is valid XML. Depends on nothing else in the crate.

use std::fmt::Write as _;

/// Control characters (and the two non-characters XML refuses) as visible
/// escapes: a name stays on one line and is valid in XML and Markdown.
pub(crate) fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' {
            let n = c as u32;
            if n < 0x80 {
                let _ = write!(out, "\\x{n:02x}");
            } else {
                let _ = write!(out, "\\u{{{n:x}}}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// XML character data or attribute value, on one line: control characters
/// as [`visible`] escapes, then the five predefined entities.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in visible(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// XML character data of several lines: each line as [`xml`], the line
/// breaks kept.
pub fn xml_lines(s: &str) -> String {
    s.split('\n').map(xml).collect::<Vec<_>>().join("\n")
}

/// Markdown inline text: every character Markdown could act on is
/// backslash-escaped (`|` too, so the text is safe in a table cell).
pub(crate) fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in visible(s).chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | '<' | '|' | '&' | '~' | '#' | '$'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A Markdown paragraph of text: one line, escaped, that starts no block.
pub(crate) fn md_para(s: &str) -> String {
    let one: Vec<&str> = s.split_whitespace().collect();
    let t = md(&one.join(" "));
    // a list item, setext underline or ordered list at the start
    if t.starts_with(['-', '+', '=', '>']) {
        return format!("\\{t}");
    }
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && t[digits..].starts_with(['.', ')']) {
        return format!("{}\\{}", &t[..digits], &t[digits..]);
    }
    t
}

/// A Markdown code span (for paths); `cell`: inside a table, where `|` is
/// escaped.
pub(crate) fn code(s: &str, cell: bool) -> String {
    let s = visible(s);
    if s.is_empty() {
        return String::new();
    }
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with(['`', ' ']) || s.ends_with(['`', ' ']) {
        " "
    } else {
        ""
    };
    let body = if cell { s.replace('|', "\\|") } else { s };
    format!("{fence}{pad}{body}{pad}{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_escapes() {
        assert_eq!(code("a`b", false), "``a`b``");
        assert_eq!(code("`a", false), "`` `a ``");
        assert_eq!(code("a|b", true), "`a\\|b`");
        assert_eq!(code("a\nb", false), "`a\\x0ab`");
        assert_eq!(md("*a*_b_|c [d]>"), "\\*a\\*\\_b\\_\\|c \\[d]>");
        assert_eq!(md_para("- 1. x"), "\\- 1. x");
        assert_eq!(md_para("1. x\n\ny"), "1\\. x y");
    }

    #[test]
    fn xml_escapes_entities_and_control_characters() {
        assert_eq!(xml("a<b&'\"\u{1}"), "a&lt;b&amp;&apos;&quot;\\x01");
        assert_eq!(xml("a\nb\u{85}\u{fffe}"), "a\\x0ab\\u{85}\\u{fffe}");
        assert_eq!(xml_lines("a<b\n\u{1b}[1m\nc"), "a&lt;b\n\\x1b[1m\nc");
    }
}
