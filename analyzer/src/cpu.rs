//! The CPU the resolution is made for.
//!
//! glibc's choice of library can depend on the CPU: `glibc-hwcaps/x86-64-vN`
//! subdirectories (glibc ≥ 2.33), legacy hwcap subdirectories such as
//! `tls/x86_64` (≤ 2.36), and the `$PLATFORM` token. An offline analysis must
//! say which CPU it assumes; `host` reproduces this machine's loader exactly.

/// The CPU assumptions of a resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cpu {
    /// Active glibc-hwcaps levels, best first (e.g. `x86-64-v3`, `x86-64-v2`).
    pub hwcaps: Vec<Vec<u8>>,
    /// The `$PLATFORM` string (`AT_PLATFORM`, or glibc's override such as `haswell`).
    pub platform: Vec<u8>,
    /// Legacy hwcap names that are active (e.g. `x86_64`).
    pub legacy_hwcaps: Vec<Vec<u8>>,
    /// How this model was chosen, for reports.
    pub label: String,
}

/// The x86-64 micro-architecture levels, best first.
pub const X86_64_LEVELS: &[&str] = &["x86-64-v4", "x86-64-v3", "x86-64-v2"];

impl Cpu {
    /// A CPU with no optional features: the choice that works everywhere.
    pub fn baseline() -> Cpu {
        Cpu {
            hwcaps: Vec::new(),
            platform: b"x86_64".to_vec(),
            legacy_hwcaps: vec![b"x86_64".to_vec()],
            label: "baseline".into(),
        }
    }

    /// An x86-64 CPU of the given level (`x86-64-v2` … `x86-64-v4`).
    pub fn x86_64_level(level: &str) -> Option<Cpu> {
        let pos = X86_64_LEVELS.iter().position(|l| *l == level)?;
        Some(Cpu {
            hwcaps: X86_64_LEVELS[pos..]
                .iter()
                .map(|l| l.as_bytes().to_vec())
                .collect(),
            platform: b"x86_64".to_vec(),
            legacy_hwcaps: vec![b"x86_64".to_vec()],
            label: level.to_string(),
        })
    }

    /// This machine's CPU, as its glibc would see it.
    pub fn host() -> Cpu {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            let v2 = has!("cmpxchg16b")
                && has!("popcnt")
                && has!("sse3")
                && has!("sse4.1")
                && has!("sse4.2")
                && has!("ssse3")
                && lahf_lm();
            let v3 = v2
                && has!("avx")
                && has!("avx2")
                && has!("bmi1")
                && has!("bmi2")
                && has!("f16c")
                && has!("fma")
                && has!("lzcnt")
                && has!("movbe")
                && has!("xsave");
            let v4 = v3
                && has!("avx512f")
                && has!("avx512bw")
                && has!("avx512cd")
                && has!("avx512dq")
                && has!("avx512vl");
            let level = if v4 {
                Some("x86-64-v4")
            } else if v3 {
                Some("x86-64-v3")
            } else if v2 {
                Some("x86-64-v2")
            } else {
                None
            };
            let mut cpu = match level {
                Some(l) => Cpu::x86_64_level(l).unwrap_or_else(Cpu::baseline),
                None => Cpu::baseline(),
            };
            // glibc (sysdeps/x86/cpu-features.c) renames the platform on Intel CPUs
            if intel() {
                if has!("avx512cd") && has!("avx512er") {
                    cpu.platform = b"xeon_phi".to_vec();
                } else if has!("avx2")
                    && has!("bmi1")
                    && has!("bmi2")
                    && has!("lzcnt")
                    && has!("movbe")
                    && has!("popcnt")
                {
                    cpu.platform = b"haswell".to_vec();
                }
                if has!("avx512bw") && has!("avx512dq") && has!("avx512vl") {
                    cpu.legacy_hwcaps.push(b"avx512_1".to_vec());
                }
            }
            cpu.label = format!("host ({})", level.unwrap_or("baseline"));
            cpu
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let mut cpu = Cpu::baseline();
            cpu.hwcaps.clear();
            cpu.platform = std::env::consts::ARCH.as_bytes().to_vec();
            cpu.legacy_hwcaps.clear();
            cpu.label = "host".into();
            cpu
        }
    }

    /// Parse a `--cpu` value: `host`, `baseline`, or an x86-64 level.
    pub fn from_name(name: &str) -> Option<Cpu> {
        match name {
            "host" => Some(Cpu::host()),
            "baseline" => Some(Cpu::baseline()),
            other => Cpu::x86_64_level(other),
        }
    }

    /// The legacy hwcap subdirectories glibc ≤ 2.36 tries in each search
    /// directory, best first, ending with the directory itself (`""`).
    /// Components in path order are `tls`, the platform, then the hwcap names;
    /// every subset is tried, from the full set down (this reproduces the list
    /// `LD_DEBUG=libs` prints, duplicates included).
    pub fn legacy_subdirs(&self) -> Vec<Vec<u8>> {
        let mut comps: Vec<&[u8]> = vec![b"tls", &self.platform];
        comps.extend(self.legacy_hwcaps.iter().map(|v| v.as_slice()));
        let n = comps.len();
        let mut out = Vec::new();
        for mask in (0..(1u32 << n)).rev() {
            let mut s = Vec::new();
            for (i, c) in comps.iter().enumerate() {
                if mask & (1 << (n - 1 - i)) != 0 {
                    s.extend_from_slice(c);
                    s.push(b'/');
                }
            }
            out.push(s);
        }
        out
    }
}

#[cfg(target_arch = "x86_64")]
fn cpuinfo_has(word: &str) -> bool {
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|s| s.split_whitespace().any(|w| w == word))
        .unwrap_or(false)
}

#[cfg(target_arch = "x86_64")]
fn lahf_lm() -> bool {
    cpuinfo_has("lahf_lm")
}

#[cfg(target_arch = "x86_64")]
fn intel() -> bool {
    cpuinfo_has("GenuineIntel")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_order_matches_glibc_2_36() {
        let c = Cpu::baseline();
        let got: Vec<String> = c
            .legacy_subdirs()
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        assert_eq!(
            got,
            [
                "tls/x86_64/x86_64/",
                "tls/x86_64/",
                "tls/x86_64/",
                "tls/",
                "x86_64/x86_64/",
                "x86_64/",
                "x86_64/",
                ""
            ]
        );
    }
}
