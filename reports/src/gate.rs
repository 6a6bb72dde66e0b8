//! The levels and the growth allowance of `kaudit check`'s rules, as the
//! profile's `[check]` table and the command line give them. Depends only
//! on [`crate::units`].

use serde::Serialize;

use crate::units::{human, parse_size};

/// What a failed rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// The gate fails.
    Fail,
    /// Reported; the gate passes.
    Warn,
    /// Not reported.
    Off,
}

impl Level {
    /// `fail`, `warn`, `off`.
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "fail" => Some(Level::Fail),
            "warn" => Some(Level::Warn),
            "off" => Some(Level::Off),
            _ => None,
        }
    }
}

/// How much the image may grow against its baseline. In JSON,
/// `{"percent": 5.0}` or `{"bytes": 2097152}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Growth {
    /// A share of the baseline's bytes.
    Percent(f64),
    /// Bytes.
    Bytes(u64),
}

impl Growth {
    /// `5%`, `2 MiB`, `1000`.
    pub fn parse(s: &str) -> Option<Growth> {
        let s = s.trim();
        match s.strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| *v >= 0.0)
                .map(Growth::Percent),
            None => parse_size(s).map(Growth::Bytes),
        }
    }

    pub(crate) fn allows(&self, base: u64, now: u64) -> bool {
        let grown = now.saturating_sub(base);
        match self {
            Growth::Percent(p) => (grown as f64) <= base as f64 * p / 100.0,
            Growth::Bytes(b) => grown <= *b,
        }
    }

    pub(crate) fn text(&self) -> String {
        match self {
            Growth::Percent(p) => format!("{p}%"),
            Growth::Bytes(b) => human(*b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_rules() {
        assert_eq!(Growth::parse("5%"), Some(Growth::Percent(5.0)));
        assert_eq!(Growth::parse("2 MiB"), Some(Growth::Bytes(2 << 20)));
        assert!(Growth::Percent(5.0).allows(100, 105));
        assert!(!Growth::Percent(5.0).allows(100, 106));
        assert!(Growth::Bytes(10).allows(100, 90));
    }
}
