//! `size.svg`: kept bytes per package, as bars.

use std::fmt::Write as _;

use super::package::{title_of, Pkg};
use super::svg::{px, text_width, FONT, SVG_OPEN, TITLE_FONT};
use super::Site;
use crate::escape::{visible, xml};
use crate::units::human;

/// Packages drawn as their own bar.
const TOP_BARS: usize = 15;

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

pub(super) fn size_svg(site: &Site<'_>, pkgs: &[Pkg<'_>]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::fixture::{fixture, pkg, read};
    use crate::pages::needs::basename;
    use crate::pages::{write, Need};

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
}
