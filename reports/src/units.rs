//! Sizes: parsed from profiles and the command line (`120 MiB`), and
//! written for humans (`12.3 MiB`). Depends on nothing else in the crate.

/// Parse a size: bytes, or a number with a unit (`K`, `KB`, `KiB`, `M`,
/// `MiB`, `G`, `GiB`… — binary multiples, as `du -h` prints them).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return None,
    };
    let bytes = (n * mult as f64).round();
    // 2^64 and beyond do not fit (`as` would saturate silently)
    if !(0.0..18_446_744_073_709_551_616.0).contains(&bytes) {
        return None;
    }
    Some(bytes as u64)
}

/// Bytes for humans (`12.3 MiB`).
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("120 MiB"), Some(120 << 20));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("3 parsecs"), None);
        assert_eq!(parse_size("99999999999999999999 GiB"), None);
        assert_eq!(parse_size("16 EiB"), None);
        assert_eq!(parse_size("16777216 TiB"), None);
        assert_eq!(parse_size("16777215 TiB"), Some(16_777_215 << 40));
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(12), "12 B");
    }
}
