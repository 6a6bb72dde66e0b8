//! `graph.svg`: what each kept object needs directly, read from the
//! graph ([`needs`]), laid out in blocks and lanes, and drawn.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use kaudit_graph::DbError;

use super::svg::{px, text_width, SVG_OPEN, TITLE_FONT};
use super::Site;
use crate::closure::Closure;
use crate::escape::{visible, xml};
use crate::graph::Graph;
use crate::show;

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

/// Text size of `graph.svg`.
const F: f64 = 11.0;
/// Height of a box.
const BOX_H: u32 = 18;
/// Height of a row of a block.
const ROW: u32 = 22;
/// Between a block's object and what it needs.
const GAP_X: u32 = 50;
/// Between two lanes.
const LANE_GAP: u32 = 40;
/// Between two blocks of a lane.
const BLOCK_GAP: u32 = 14;
/// The left margin.
const LEFT: u32 = 10;
/// Where the blocks start.
const TOP: u32 = 40;
/// Height of a line of the legend and of the notes.
const LEGEND_ROW: u32 = 16;

/// Whether `p` is a program the runs ran (drawn first, in a darker box).
fn program(c: &Closure, p: &[u8]) -> bool {
    c.entries
        .get(p)
        .is_some_and(|e| e.run && (e.file.program || e.file.script))
}

/// Where everything of `graph.svg` goes: the blocks, programs first; the
/// lane of each and its top-left corner; each lane's widest source and
/// target box; the notes and legend below the blocks; the whole size.
struct Layout<'a> {
    blocks: Vec<Block<'a>>,
    lane_of: Vec<usize>,
    placed: Vec<(u32, u32)>,
    src_w: Vec<u32>,
    label: BTreeMap<&'a [u8], String>,
    /// The bottom of the lowest lane.
    blocks_h: u32,
    notes: Vec<String>,
    legend: Vec<String>,
    legend_top: u32,
    title: String,
    width: u32,
    height: u32,
}

impl Layout<'_> {
    /// The width of the box of `p`: its name, with room.
    fn box_w(&self, p: &[u8]) -> u32 {
        px(text_width(&self.label[p], F)) + 10
    }
}

/// Lay out the first [`MAX_ARROWS`] needs of `site`: blocks in reading
/// order fill up to four lanes, a lane full at its share of the rows; each
/// lane is as wide as its widest boxes; the picture is wide enough for the
/// blocks, every line of the legend and the title.
fn layout<'a>(site: &Site<'a>) -> Layout<'a> {
    let c = site.closure;
    let total = site.needs.len();
    let shown = &site.needs[..total.min(MAX_ARROWS)];
    let mut blocks: Vec<Block<'a>> = Vec::new();
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
        program(c, b.from)
            .cmp(&program(c, a.from))
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
    Layout {
        blocks,
        lane_of,
        placed,
        src_w,
        label,
        blocks_h,
        notes,
        legend,
        legend_top,
        title,
        width,
        height,
    }
}

/// The dependency picture: one block per kept object that needs others,
/// programs first, each with an arrow to everything it needs directly (so
/// every edge is drawn, short, inside its block, and no line crosses the
/// picture to a shared library); blocks flow in columns; the full path of
/// every object is in its tooltip and in the legend below.
pub(super) fn graph_svg(site: &Site<'_>) -> String {
    let l = layout(site);
    let (width, height) = (l.width, l.height);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{SVG_OPEN} width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\">"
    );
    let _ = writeln!(s, "<title>{}</title>", xml(&l.title));
    s.push_str("<defs><marker id=\"arrow\" markerWidth=\"8\" markerHeight=\"6\" refX=\"8\" refY=\"3\" orient=\"auto\" markerUnits=\"userSpaceOnUse\"><path d=\"M0,0 L8,3 L0,6 z\" fill=\"#888888\"/></marker></defs>\n");
    let _ = writeln!(
        s,
        "<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>"
    );
    let _ = writeln!(
        s,
        "<text x=\"{LEFT}\" y=\"20\" font-size=\"14\" font-weight=\"bold\">{}</text>",
        xml(&l.title)
    );
    if l.blocks.is_empty() {
        let _ = writeln!(
            s,
            "<text x=\"{LEFT}\" y=\"{}\">No kept object needs another.</text>",
            TOP + 12
        );
    }
    for ((b, &lane), &(x, y)) in l.blocks.iter().zip(&l.lane_of).zip(&l.placed) {
        draw_block(&mut s, &l, site.closure, b, x, y, l.src_w[lane]);
    }
    for (i, note) in l.notes.iter().enumerate() {
        let _ = writeln!(
            s,
            "<text x=\"{LEFT}\" y=\"{}\" fill=\"#555555\">{}</text>",
            l.blocks_h + 10 + i as u32 * LEGEND_ROW,
            xml(note)
        );
    }
    if !l.legend.is_empty() {
        let _ = writeln!(
            s,
            "<text x=\"{LEFT}\" y=\"{}\" font-weight=\"bold\">{LEGEND}</text>",
            l.legend_top + 12
        );
        for (i, line) in l.legend.iter().enumerate() {
            let _ = writeln!(
                s,
                "<text class=\"legend\" x=\"{LEFT}\" y=\"{}\">{}</text>",
                l.legend_top + 12 + (i as u32 + 1) * LEGEND_ROW,
                xml(line)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

/// One block at (`x`, `y`): an arrow and a box for everything its object
/// needs, the object's box centred before them (its lane's source column
/// is `src_w` wide).
fn draw_block(
    s: &mut String,
    l: &Layout<'_>,
    c: &Closure,
    b: &Block<'_>,
    x: u32,
    y: u32,
    src_w: u32,
) {
    let node = |s: &mut String, p: &[u8], x: u32, y: u32, w: u32, fill: &str| {
        let _ = writeln!(
            s,
            "<g><title>{}</title><rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{BOX_H}\" rx=\"3\" fill=\"{fill}\" stroke=\"#4e79a7\"/><text x=\"{}\" y=\"{}\">{}</text></g>",
            xml(&show(p)),
            x + 5,
            y + 13,
            xml(&l.label[p])
        );
    };
    let n = b.to.len() as u32;
    let sy = y + (n - 1) * ROW / 2;
    let sw = l.box_w(b.from);
    let tx = x + src_w + GAP_X;
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
        node(s, t, tx, ty, l.box_w(t), "#f4f4f4");
    }
    let fill = if program(c, b.from) {
        "#dce8f4"
    } else {
        "#eef3f8"
    };
    node(s, b.from, x, sy, sw, fill);
    s.push_str("</g>\n");
}

/// The last component of a path, for humans.
pub(super) fn basename(path: &[u8]) -> String {
    let cut = path.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    let base = &path[cut..];
    if base.is_empty() {
        show(path)
    } else {
        show(base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::fixture::{fixture, read};
    use crate::pages::write;

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

    #[test]
    fn a_label_is_a_file_name() {
        assert_eq!(basename(b"/usr/lib/libc.so.6"), "libc.so.6");
        assert_eq!(basename(b"/"), "/");
    }
}
