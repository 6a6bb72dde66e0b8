//! What the two pictures share: the SVG element they open with, their
//! fonts, and how wide a text is drawn.

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
pub(super) fn px(w: f64) -> u32 {
    w.ceil() as u32
}

/// How every picture opens: the SVG namespace and version.
pub(super) const SVG_OPEN: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\"";

/// Font sizes of the pictures: text, and titles (drawn bold: 10% wider).
pub(super) const FONT: f64 = 12.0;
pub(super) const TITLE_FONT: f64 = 14.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_widths_grow_with_the_glyphs() {
        assert_eq!(text_width("", 12.0), 0.0);
        assert!(text_width("mmmm", 12.0) > text_width("iiii", 12.0) * 3.0);
        // a whole em for characters outside ASCII
        assert!((text_width("é", 10.0) - 11.5).abs() < 1e-9);
    }
}
