//! glibc's `/etc/ld.so.cache`: every on-disk format, and the dynamic loader's
//! lookup in it.
//!
//! Three layouts exist, all written by `ldconfig -c FORMAT`:
//!
//! - **new** (`glibc-ld.so.cache1.1`, the default since glibc 2.32): a 48-byte
//!   header, 24-byte entries, then the string table. Entry `key`/`value`
//!   offsets are relative to the start of this header.
//! - **old** (`ld.so-1.7.0`): a 16-byte header and 12-byte entries; string
//!   offsets are relative to the end of the entry array.
//! - **combined** (`compat`): an old part whose string table hides a complete
//!   new part, starting at the end of the old entry array rounded up to 8.
//!   The loader uses only the new part, and so does [`LdCache::parse`].
//!
//! The new part may carry an extension directory (`u32 magic, u32 count`,
//! then `{tag, flags, offset, size}` sections). Unlike entry strings, the
//! directory offset and every section offset are *file* offsets, also in a
//! combined file: tag 0 is the generator string (`ldconfig (Debian GLIBC …)
//! stable release version 2.36`), tag 1 an array of `u32` string offsets
//! naming the `glibc-hwcaps` subdirectories.
//!
//! Those subdirectory name offsets are written relative to the new header,
//! but both `ld.so` and `ldconfig -p` add them to the start of the *file*.
//! The two agree in a new-format file; in a combined file the names resolve
//! to unrelated bytes (`ldconfig -p` prints `hwcap: ""` or a piece of a
//! path), so `ld.so` never picks a `glibc-hwcaps` entry from a combined cache. This module resolves the
//! names exactly as the loader does, so it reproduces that.
//!
//! Two more writer quirks of glibc 2.36 are visible in parsed files: the old
//! format lists `glibc-hwcaps` entries as plain entries (so `ld.so` reading an
//! old-format cache picks them regardless of the CPU), and writing an old or
//! combined cache that contains a legacy hwcap entry (a library in a `tls/` or
//! `x86_64/` subdirectory) corrupts the old entry table.
//!
//! Parsing is bounds-checked throughout: a truncated or corrupt file yields an
//! [`LdCacheError`], never a panic.

use std::cmp::Ordering;

const OLD_MAGIC: &[u8] = b"ld.so-1.7.0";
const NEW_MAGIC: &[u8] = b"glibc-ld.so.cache";
const NEW_VERSION: &[u8] = b"1.1";
const OLD_HEADER_LEN: usize = 16;
const OLD_ENTRY_LEN: usize = 12;
const NEW_HEADER_LEN: usize = 48;
const NEW_ENTRY_LEN: usize = 24;
const EXTENSION_MAGIC: u32 = 0xEAA4_2174;
const EXTENSION_HEADER_LEN: usize = 8;
const EXTENSION_SECTION_LEN: usize = 16;
const TAG_GENERATOR: u32 = 0;
const TAG_GLIBC_HWCAPS: u32 = 1;

/// The `hwcap` bit marking a `glibc-hwcaps` entry (`DL_CACHE_HWCAP_EXTENSION`).
pub const HWCAP_EXTENSION: u64 = 1 << 62;

/// The ISA-level bits of a `glibc-hwcaps` entry, above bit 32.
const ISA_LEVEL_MASK: u64 = 0x3ff;

/// The legacy `hwcap` bit of libraries found in a `tls/` subdirectory, which
/// glibc 2.33–2.36 loaders always accept.
pub const HWCAP_TLS: u64 = 1 << 63;

/// `FLAG_ELF_LIBC6`: the low byte of the flags of glibc libraries.
pub const FLAG_ELF_LIBC6: i32 = 0x0003;

/// `FLAG_ELF`: what `ldconfig` writes, on 32-bit ports without an ABI
/// variant of their own (i386, …), for a library with no DT_NEEDED on a
/// known glibc library, such as i386's `ld-linux.so.2`. Those ports' loaders
/// accept it besides [`FLAG_ELF_LIBC6`] (see [`CacheQuery::also_accepted`]).
pub const FLAG_ELF: i32 = 0x0001;

/// Which layout a cache file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheFormat {
    /// `ld.so-1.7.0` only (`ldconfig -c old`).
    Old,
    /// `glibc-ld.so.cache1.1` only (`ldconfig -c new`, the default).
    New,
    /// An old part followed by a new part (`ldconfig -c compat`); the entries
    /// are those of the new part, which is what the loader reads.
    Combined,
}

/// One library in the cache.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheEntry {
    /// ABI flags: `FLAG_ELF_LIBC6` (3) in the low byte, the architecture
    /// variant in the high byte (x86_64 `0x0303`); see [`abi_flags_for`].
    pub flags: i32,
    /// The name looked up (the library's DT_SONAME, or its file name).
    pub key: Vec<u8>,
    /// The path the loader opens, as written by `ldconfig`.
    pub value: Vec<u8>,
    /// Hardware requirements: 0 for a plain entry, a legacy hwcap bit mask, or
    /// [`HWCAP_EXTENSION`] plus an ISA level and a subdirectory index for a
    /// `glibc-hwcaps` entry. Always 0 in the old format.
    pub hwcap: u64,
    /// For a `glibc-hwcaps` entry, the subdirectory name the loader compares
    /// with its active levels (e.g. `x86-64-v3`); `None` when the entry is not
    /// one or the name cannot be resolved (the loader then never uses it).
    pub hwcaps_subdir: Option<Vec<u8>>,
}

impl CacheEntry {
    /// Whether this is a `glibc-hwcaps` entry (glibc's `dl_cache_hwcap_extension`).
    pub fn is_glibc_hwcaps(&self) -> bool {
        is_hwcap_extension(self.hwcap)
    }

    /// The ISA level recorded for a `glibc-hwcaps` entry (0 when none, or for
    /// other entries).
    pub fn isa_level(&self) -> u32 {
        if self.is_glibc_hwcaps() {
            // Masked to 10 bits, so the cast is lossless.
            ((self.hwcap >> 32) & ISA_LEVEL_MASK) as u32
        } else {
            0
        }
    }

    /// The legacy hwcap bits of a non-`glibc-hwcaps` entry (0 for plain and
    /// `glibc-hwcaps` entries).
    pub fn legacy_hwcap(&self) -> u64 {
        if self.is_glibc_hwcaps() {
            0
        } else {
            self.hwcap
        }
    }
}

/// A parsed cache file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdCache {
    /// The layout of the file.
    pub format: CacheFormat,
    /// The generator string from the extension section (new and combined
    /// formats written by glibc ≥ 2.32), without a terminator.
    pub generator: Option<Vec<u8>>,
    /// The entries the loader searches, in file order.
    pub entries: Vec<CacheEntry>,
}

/// Why a cache file could not be parsed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LdCacheError {
    /// The file is empty.
    #[error("empty cache file")]
    Empty,
    /// The file ends inside a header.
    #[error("truncated header: {needed} bytes needed at least, the file has {len}")]
    TruncatedHeader {
        /// Bytes the header needs.
        needed: usize,
        /// Size of the file.
        len: usize,
    },
    /// Neither `ld.so-1.7.0` nor `glibc-ld.so.cache` at the start of the file.
    #[error("bad magic: not an ld.so.cache file")]
    BadMagic,
    /// A new-format header with a version other than `1.1`.
    #[error("unsupported cache version {version:?}")]
    UnsupportedVersion {
        /// The three version bytes, lossily decoded.
        version: String,
    },
    /// The header's endianness bits say the cache must be ignored.
    #[error("cache marked invalid by its endianness flags")]
    InvalidEndianness,
    /// The entry array does not fit in the file.
    #[error("truncated entry table: {count} entries of {entry_size} bytes at offset {offset:#x} exceed the file size {len}")]
    TruncatedEntries {
        /// Number of entries in the header.
        count: u64,
        /// Size of one entry.
        entry_size: usize,
        /// File offset of the first entry.
        offset: usize,
        /// Size of the file.
        len: usize,
    },
    /// An entry's key or value points outside the file.
    #[error("entry {index}: {field} string offset {offset:#x} out of range")]
    StringOutOfRange {
        /// Index of the entry.
        index: usize,
        /// `key` or `value`.
        field: &'static str,
        /// The offset, as a file offset.
        offset: u64,
    },
    /// An entry's key or value has no terminating NUL before the end of file.
    #[error("entry {index}: {field} string at offset {offset:#x} is not NUL-terminated")]
    UnterminatedString {
        /// Index of the entry.
        index: usize,
        /// `key` or `value`.
        field: &'static str,
        /// The offset, as a file offset.
        offset: u64,
    },
    /// The extension directory offset is not a multiple of 4.
    #[error("misaligned extension directory offset {offset:#x}")]
    MisalignedExtension {
        /// The offset from the header.
        offset: u32,
    },
    /// The extension directory does not fit in the file.
    #[error("extension directory at offset {offset:#x} out of range")]
    ExtensionOutOfRange {
        /// The offset from the header.
        offset: u32,
    },
    /// The extension directory does not start with its magic number.
    #[error("bad extension magic {found:#010x} at offset {offset:#x}")]
    BadExtensionMagic {
        /// The value found.
        found: u32,
        /// The offset of the directory.
        offset: u32,
    },
    /// An extension section's data does not fit in the file.
    #[error("extension section {index} (tag {tag}) out of range: offset {offset:#x}, size {size}")]
    ExtensionSectionOutOfRange {
        /// Index of the section in the directory.
        index: u32,
        /// Its tag.
        tag: u32,
        /// Its file offset.
        offset: u32,
        /// Its size.
        size: u32,
    },
}

/// How a particular `ld.so` build selects among the entries for a name
/// (glibc's `search_cache`); [`LdCache::lookup`] covers the common case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheQuery<'a> {
    /// The loader's `_DL_CACHE_DEFAULT_ID`: the flags of its own ABI.
    pub default_id: i32,
    /// Other flags values the loader's `_dl_cache_check_flags` accepts
    /// (i386 and other generic ports also accept 1; 32-bit Arm loaders accept
    /// unmarked libraries, 3). An accepted entry with these flags is kept but
    /// the search goes on, as in glibc.
    pub also_accepted: &'a [i32],
    /// The active `glibc-hwcaps` subdirectories, best first
    /// (e.g. `x86-64-v3`, `x86-64-v2`).
    pub active_hwcaps: &'a [&'a [u8]],
    /// Legacy hwcap bits the loader accepts: glibc 2.33–2.36 use entries whose
    /// bits are all within `(AT_HWCAP & hwcap_mask) | platform bit |`
    /// [`HWCAP_TLS`]; glibc ≥ 2.37 ignores legacy entries, which is `0`.
    pub legacy_hwcap_allowed: u64,
}

impl LdCache {
    /// Parse a cache file in any of the three formats.
    ///
    /// In a combined file only the new part is parsed: it is what the loader
    /// uses, and its presence is detected as the loader detects it (the new
    /// magic at the end of the old entry array, rounded up to 8 bytes; 4 is
    /// tried too, for ports where the header is only 4-byte aligned).
    pub fn parse(bytes: &[u8]) -> Result<LdCache, LdCacheError> {
        if bytes.is_empty() {
            return Err(LdCacheError::Empty);
        }
        if bytes.starts_with(NEW_MAGIC) {
            return parse_new(bytes, 0, CacheFormat::New);
        }
        if bytes.starts_with(OLD_MAGIC) {
            return parse_old_or_combined(bytes);
        }
        if NEW_MAGIC.starts_with(bytes) {
            return Err(LdCacheError::TruncatedHeader {
                needed: NEW_HEADER_LEN,
                len: bytes.len(),
            });
        }
        if OLD_MAGIC.starts_with(bytes) {
            return Err(LdCacheError::TruncatedHeader {
                needed: OLD_HEADER_LEN,
                len: bytes.len(),
            });
        }
        Err(LdCacheError::BadMagic)
    }

    /// glibc's lookup: the entry for `name` whose flags equal `abi_flags`,
    /// preferring the best active `glibc-hwcaps` entry (`active_hwcaps`:
    /// subdirectory names like `b"x86-64-v3"`, best first), else the first
    /// plain entry (`hwcap == 0`).
    ///
    /// Legacy (non-`glibc-hwcaps`) entries with nonzero hwcap are skipped, as
    /// by glibc ≥ 2.37; [`LdCache::search`] can accept them as 2.33–2.36 do.
    /// As in glibc, `glibc-hwcaps` entries after the first usable plain entry
    /// are not considered (`ldconfig` sorts them first), and names compare as
    /// glibc's `_dl_cache_libcmp` does: runs of digits by numeric value, so
    /// `libfoo.so.01` matches a key `libfoo.so.1`. The ISA-level bits of
    /// `glibc-hwcaps` entries are not checked: `active_hwcaps` is taken to
    /// list only levels the CPU supports.
    pub fn lookup(
        &self,
        name: &[u8],
        abi_flags: i32,
        active_hwcaps: &[&[u8]],
    ) -> Option<&CacheEntry> {
        self.search(
            name,
            &CacheQuery {
                default_id: abi_flags,
                also_accepted: &[],
                active_hwcaps,
                legacy_hwcap_allowed: 0,
            },
        )
    }

    /// glibc's `search_cache` with every knob of [`CacheQuery`]; see
    /// [`LdCache::lookup`] for the rules.
    pub fn search(&self, name: &[u8], query: &CacheQuery<'_>) -> Option<&CacheEntry> {
        let mut best: Option<&CacheEntry> = None;
        // 0 while `best` is unset or a plain entry, as in glibc.
        let mut best_priority = 0usize;
        for entry in self
            .entries
            .iter()
            .filter(|e| same_library_name(name, &e.key))
        {
            if entry.flags != query.default_id && !query.also_accepted.contains(&entry.flags) {
                continue;
            }
            let named = entry.is_glibc_hwcaps();
            if !named && best.is_some() {
                break;
            }
            if named {
                let priority = entry.hwcaps_subdir.as_deref().and_then(|subdir| {
                    query
                        .active_hwcaps
                        .iter()
                        .position(|active| *active == subdir)
                        .map(|i| i + 1)
                });
                match priority {
                    Some(p) if best.is_none() || p < best_priority => best_priority = p,
                    _ => continue,
                }
            } else if entry.hwcap & !query.legacy_hwcap_allowed != 0 {
                continue;
            }
            best = Some(entry);
            if !named && entry.flags == query.default_id {
                break;
            }
        }
        best
    }

    /// Every entry for `name` with these ABI flags, in file order (used to
    /// report CPU-dependent choices). Names match as in [`LdCache::lookup`].
    pub fn candidates<'a>(
        &'a self,
        name: &'a [u8],
        abi_flags: i32,
    ) -> impl Iterator<Item = &'a CacheEntry> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.flags == abi_flags && same_library_name(name, &e.key))
    }
}

/// The `ld.so.cache` flags value `ldconfig` gives libraries of this ELF
/// machine, class and `e_flags` (x86_64 `0x0303`, i386 `0x0003`, x32 `0x0803`,
/// aarch64 `0x0a03`, armhf `0x0903`, ppc64 `0x0503`, s390x `0x0403`,
/// riscv64 lp64d `0x1003`, …); `None` when unknown or unsupported by glibc.
///
/// Where the value is [`FLAG_ELF_LIBC6`] alone, `ldconfig` writes
/// [`FLAG_ELF`] instead for libraries that need no glibc library.
pub fn abi_flags_for(e_machine: u16, elf_class64: bool, e_flags: u32) -> Option<i32> {
    const EM_SPARC: u16 = 2;
    const EM_386: u16 = 3;
    const EM_68K: u16 = 4;
    const EM_MIPS: u16 = 8;
    const EM_PARISC: u16 = 15;
    const EM_SPARC32PLUS: u16 = 18;
    const EM_PPC: u16 = 20;
    const EM_PPC64: u16 = 21;
    const EM_S390: u16 = 22;
    const EM_ARM: u16 = 40;
    const EM_SH: u16 = 42;
    const EM_SPARCV9: u16 = 43;
    const EM_IA_64: u16 = 50;
    const EM_X86_64: u16 = 62;
    const EM_OPENRISC: u16 = 92;
    const EM_NIOS2: u16 = 113;
    const EM_AARCH64: u16 = 183;
    const EM_MICROBLAZE: u16 = 189;
    const EM_ARCV2: u16 = 195;
    const EM_RISCV: u16 = 243;
    const EM_CSKY: u16 = 252;
    const EM_LOONGARCH: u16 = 258;
    const EM_ALPHA: u16 = 0x9026;

    const EF_ARM_EABIMASK: u32 = 0xff00_0000;
    const EF_ARM_EABI_VER5: u32 = 0x0500_0000;
    const EF_ARM_ABI_FLOAT_SOFT: u32 = 0x200;
    const EF_ARM_ABI_FLOAT_HARD: u32 = 0x400;
    const EF_MIPS_ABI2: u32 = 0x20;
    const EF_MIPS_NAN2008: u32 = 0x400;
    const EF_RISCV_FLOAT_ABI: u32 = 0x6;
    const EF_LARCH_ABI_MODIFIER_MASK: u32 = 0x7;

    let libc6 = |required: i32| Some(required | FLAG_ELF_LIBC6);
    match (e_machine, elf_class64) {
        (EM_X86_64, true) => libc6(0x0300),
        (EM_X86_64, false) => libc6(0x0800),
        (EM_386, false) => libc6(0),
        (EM_AARCH64, true) => libc6(0x0a00),
        (EM_ARM, false) => {
            if e_flags & EF_ARM_EABIMASK != EF_ARM_EABI_VER5 {
                libc6(0)
            } else if e_flags & EF_ARM_ABI_FLOAT_HARD != 0 {
                libc6(0x0900)
            } else if e_flags & EF_ARM_ABI_FLOAT_SOFT != 0 {
                libc6(0x0b00)
            } else {
                libc6(0)
            }
        }
        (EM_PPC64, true) => libc6(0x0500),
        (EM_PPC, false) => libc6(0),
        (EM_S390, true) => libc6(0x0400),
        (EM_S390, false) => libc6(0),
        (EM_SPARCV9, true) => libc6(0x0100),
        (EM_SPARC | EM_SPARC32PLUS, false) => libc6(0),
        (EM_IA_64, true) => libc6(0x0200),
        (EM_MIPS, class64) => {
            let nan2008 = e_flags & EF_MIPS_NAN2008 != 0;
            match (class64, e_flags & EF_MIPS_ABI2 != 0, nan2008) {
                (true, _, false) => libc6(0x0700),
                (true, _, true) => libc6(0x0e00),
                (false, true, false) => libc6(0x0600),
                (false, true, true) => libc6(0x0d00),
                (false, false, false) => libc6(0),
                (false, false, true) => libc6(0x0c00),
            }
        }
        (EM_RISCV, _) => match e_flags & EF_RISCV_FLOAT_ABI {
            0 => libc6(0x0f00),
            4 => libc6(0x1000),
            _ => None,
        },
        (EM_LOONGARCH, true) => match e_flags & EF_LARCH_ABI_MODIFIER_MASK {
            1 => libc6(0x1100),
            3 => libc6(0x1200),
            _ => None,
        },
        (EM_ALPHA, true) => libc6(0),
        (
            EM_68K | EM_PARISC | EM_SH | EM_OPENRISC | EM_NIOS2 | EM_MICROBLAZE | EM_ARCV2
            | EM_CSKY,
            false,
        ) => libc6(0),
        _ => None,
    }
}

/// The flags as `ldconfig -p` prints them (`libc6,x86-64`, `libc6,x32`,
/// `libc6,hard-float`, …).
pub fn flags_description(flags: i32) -> String {
    let kind = match flags & 0x00ff {
        0 => "libc4",
        1 => "ELF",
        2 => "libc5",
        3 => "libc6",
        _ => "unknown",
    };
    let required = flags & 0xff00;
    let suffix = match required {
        0 => String::new(),
        0x0100 | 0x0400 | 0x0500 | 0x0700 => ",64bit".to_owned(),
        0x0200 => ",IA-64".to_owned(),
        0x0300 => ",x86-64".to_owned(),
        0x0600 => ",N32".to_owned(),
        0x0800 => ",x32".to_owned(),
        0x0900 => ",hard-float".to_owned(),
        0x0a00 => ",AArch64".to_owned(),
        0x0b00 | 0x0f00 => ",soft-float".to_owned(),
        0x0c00 => ",nan2008".to_owned(),
        0x0d00 => ",N32,nan2008".to_owned(),
        0x0e00 => ",64bit,nan2008".to_owned(),
        0x1000 => ",double-float".to_owned(),
        other => format!(",{other}"),
    };
    format!("{kind}{suffix}")
}

fn is_hwcap_extension(hwcap: u64) -> bool {
    ((hwcap >> 32) & !ISA_LEVEL_MASK) == (HWCAP_EXTENSION >> 32)
}

/// `_dl_cache_libcmp(a, b) == 0`: equal, except that maximal runs of ASCII
/// digits compare by numeric value (C `int`, wrapping). Both names end at
/// their first NUL, like C strings.
fn same_library_name(a: &[u8], b: &[u8]) -> bool {
    libcmp(a, b) == Ordering::Equal
}

fn libcmp(a: &[u8], b: &[u8]) -> Ordering {
    let at = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    let number = |s: &[u8], i: &mut usize| {
        let mut value: i32 = 0;
        while at(s, *i).is_ascii_digit() {
            value = value
                .wrapping_mul(10)
                .wrapping_add(i32::from(at(s, *i) - b'0'));
            *i += 1;
        }
        value
    };
    let (mut i, mut j) = (0, 0);
    loop {
        let (c1, c2) = (at(a, i), at(b, j));
        if c1 == 0 {
            return 0u8.cmp(&c2);
        }
        if c1.is_ascii_digit() {
            if !c2.is_ascii_digit() {
                return Ordering::Greater;
            }
            let v1 = number(a, &mut i);
            let v2 = number(b, &mut j);
            if v1 != v2 {
                return v1.wrapping_sub(v2).cmp(&0);
            }
        } else if c2.is_ascii_digit() {
            return Ordering::Less;
        } else if c1 != c2 {
            return c1.cmp(&c2);
        } else {
            i += 1;
            j += 1;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

struct Reader<'a> {
    bytes: &'a [u8],
    endian: Endian,
}

impl<'a> Reader<'a> {
    fn array<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        let end = offset.checked_add(N)?;
        self.bytes.get(offset..end)?.try_into().ok()
    }

    fn u32_at(&self, offset: usize) -> Option<u32> {
        let raw = self.array::<4>(offset)?;
        Some(match self.endian {
            Endian::Little => u32::from_le_bytes(raw),
            Endian::Big => u32::from_be_bytes(raw),
        })
    }

    fn i32_at(&self, offset: usize) -> Option<i32> {
        let raw = self.array::<4>(offset)?;
        Some(match self.endian {
            Endian::Little => i32::from_le_bytes(raw),
            Endian::Big => i32::from_be_bytes(raw),
        })
    }

    fn u64_at(&self, offset: usize) -> Option<u64> {
        let raw = self.array::<8>(offset)?;
        Some(match self.endian {
            Endian::Little => u64::from_le_bytes(raw),
            Endian::Big => u64::from_be_bytes(raw),
        })
    }

    /// The NUL-terminated string at `base + offset`.
    fn string(
        &self,
        base: usize,
        offset: u32,
        index: usize,
        field: &'static str,
    ) -> Result<&'a [u8], LdCacheError> {
        let file_offset = base as u64 + u64::from(offset);
        let start = usize::try_from(file_offset)
            .ok()
            .filter(|&s| s < self.bytes.len())
            .ok_or(LdCacheError::StringOutOfRange {
                index,
                field,
                offset: file_offset,
            })?;
        let rest = &self.bytes[start..];
        match memchr::memchr(0, rest) {
            Some(nul) => Ok(&rest[..nul]),
            None => Err(LdCacheError::UnterminatedString {
                index,
                field,
                offset: file_offset,
            }),
        }
    }

    /// The NUL-terminated string at file offset `offset`, if there is one.
    fn string_opt(&self, offset: u32) -> Option<&'a [u8]> {
        let rest = self.bytes.get(usize::try_from(offset).ok()?..)?;
        let nul = memchr::memchr(0, rest)?;
        Some(&rest[..nul])
    }
}

/// Whether `count` entries of `entry_size` bytes fit in `len` bytes at `start`.
fn table_fits(start: usize, count: u32, entry_size: usize, len: usize) -> bool {
    (count as usize)
        .checked_mul(entry_size)
        .and_then(|size| size.checked_add(start))
        .is_some_and(|end| end <= len)
}

fn truncated_entries(start: usize, count: u32, entry_size: usize, len: usize) -> LdCacheError {
    LdCacheError::TruncatedEntries {
        count: u64::from(count),
        entry_size,
        offset: start,
        len,
    }
}

fn parse_old_or_combined(bytes: &[u8]) -> Result<LdCache, LdCacheError> {
    let len = bytes.len();
    if len < OLD_HEADER_LEN {
        return Err(LdCacheError::TruncatedHeader {
            needed: OLD_HEADER_LEN,
            len,
        });
    }
    let mut fitting = None;
    for endian in [Endian::Little, Endian::Big] {
        let reader = Reader { bytes, endian };
        let nlibs = reader.u32_at(12).unwrap_or(u32::MAX);
        if !table_fits(OLD_HEADER_LEN, nlibs, OLD_ENTRY_LEN, len) {
            continue;
        }
        let end = OLD_HEADER_LEN + nlibs as usize * OLD_ENTRY_LEN;
        for align in [8, 4] {
            let start = end.next_multiple_of(align);
            let has_new = start
                .checked_add(NEW_HEADER_LEN)
                .is_some_and(|header_end| header_end <= len)
                && bytes[start..].starts_with(NEW_MAGIC)
                && bytes[start + NEW_MAGIC.len()..].starts_with(NEW_VERSION);
            if has_new {
                return parse_new(bytes, start, CacheFormat::Combined);
            }
        }
        fitting.get_or_insert((endian, nlibs));
    }
    let Some((endian, nlibs)) = fitting else {
        let nlibs = Reader {
            bytes,
            endian: Endian::Little,
        }
        .u32_at(12)
        .unwrap_or(u32::MAX);
        return Err(truncated_entries(OLD_HEADER_LEN, nlibs, OLD_ENTRY_LEN, len));
    };
    let reader = Reader { bytes, endian };
    let strings = OLD_HEADER_LEN + nlibs as usize * OLD_ENTRY_LEN;
    let mut entries = Vec::with_capacity(nlibs as usize);
    for index in 0..nlibs as usize {
        let at = OLD_HEADER_LEN + index * OLD_ENTRY_LEN;
        let truncated = || truncated_entries(OLD_HEADER_LEN, nlibs, OLD_ENTRY_LEN, len);
        let flags = reader.i32_at(at).ok_or_else(truncated)?;
        let key = reader.u32_at(at + 4).ok_or_else(truncated)?;
        let value = reader.u32_at(at + 8).ok_or_else(truncated)?;
        entries.push(CacheEntry {
            flags,
            key: reader.string(strings, key, index, "key")?.to_vec(),
            value: reader.string(strings, value, index, "value")?.to_vec(),
            hwcap: 0,
            hwcaps_subdir: None,
        });
    }
    Ok(LdCache {
        format: CacheFormat::Old,
        generator: None,
        entries,
    })
}

/// The sections of the extension directory the loader knows.
#[derive(Default)]
struct Extensions<'a> {
    generator: Option<&'a [u8]>,
    /// The `glibc-hwcaps` array, when present and well-formed.
    hwcaps: Option<&'a [u8]>,
}

fn parse_extensions<'a>(reader: &Reader<'a>, offset: u32) -> Result<Extensions<'a>, LdCacheError> {
    let bytes = reader.bytes;
    let mut found = Extensions::default();
    if offset == 0 {
        return Ok(found);
    }
    if offset % 4 != 0 {
        return Err(LdCacheError::MisalignedExtension { offset });
    }
    let start = offset as usize;
    let out_of_range = LdCacheError::ExtensionOutOfRange { offset };
    let (Some(magic), Some(count)) = (reader.u32_at(start), reader.u32_at(start + 4)) else {
        return Err(out_of_range);
    };
    if magic != EXTENSION_MAGIC {
        return Err(LdCacheError::BadExtensionMagic {
            found: magic,
            offset,
        });
    }
    if !table_fits(
        start + EXTENSION_HEADER_LEN,
        count,
        EXTENSION_SECTION_LEN,
        bytes.len(),
    ) {
        return Err(out_of_range);
    }
    let mut hwcaps_section = None;
    for index in 0..count {
        let at = start + EXTENSION_HEADER_LEN + index as usize * EXTENSION_SECTION_LEN;
        let field = |k: usize| {
            reader
                .u32_at(at + 4 * k)
                .ok_or(LdCacheError::ExtensionOutOfRange { offset })
        };
        let tag = field(0)?;
        let section_offset = field(2)?;
        let size = field(3)?;
        let end = u64::from(section_offset) + u64::from(size);
        if end > bytes.len() as u64 {
            return Err(LdCacheError::ExtensionSectionOutOfRange {
                index,
                tag,
                offset: section_offset,
                size,
            });
        }
        let data = &bytes[section_offset as usize..end as usize];
        match tag {
            TAG_GENERATOR => found.generator = Some(data),
            TAG_GLIBC_HWCAPS => hwcaps_section = Some((section_offset, data)),
            _ => {}
        }
    }
    // glibc's cache_extension_verify: a malformed array is dropped, which
    // disables every glibc-hwcaps entry without invalidating the cache.
    found.hwcaps = hwcaps_section
        .filter(|(at, data)| !data.is_empty() && at % 4 == 0 && data.len() % 4 == 0)
        .map(|(_, data)| data);
    Ok(found)
}

fn parse_new(bytes: &[u8], base: usize, format: CacheFormat) -> Result<LdCache, LdCacheError> {
    let len = bytes.len();
    let header_end = base + NEW_HEADER_LEN;
    if len < header_end {
        return Err(LdCacheError::TruncatedHeader {
            needed: header_end,
            len,
        });
    }
    let version = &bytes[base + NEW_MAGIC.len()..base + NEW_MAGIC.len() + NEW_VERSION.len()];
    if version != NEW_VERSION {
        return Err(LdCacheError::UnsupportedVersion {
            version: String::from_utf8_lossy(version).into_owned(),
        });
    }
    let nlibs_fits = |endian| {
        let nlibs = Reader { bytes, endian }
            .u32_at(base + 20)
            .unwrap_or(u32::MAX);
        table_fits(header_end, nlibs, NEW_ENTRY_LEN, len)
    };
    let endian = match bytes[base + 28] & 3 {
        1 => return Err(LdCacheError::InvalidEndianness),
        2 => Endian::Little,
        3 => Endian::Big,
        // Written by an ldconfig without endianness support: guess.
        _ if !nlibs_fits(Endian::Little) && nlibs_fits(Endian::Big) => Endian::Big,
        _ => Endian::Little,
    };
    let reader = Reader { bytes, endian };
    let nlibs = reader.u32_at(base + 20).unwrap_or(u32::MAX);
    if !table_fits(header_end, nlibs, NEW_ENTRY_LEN, len) {
        return Err(truncated_entries(header_end, nlibs, NEW_ENTRY_LEN, len));
    }
    let extension_offset = reader.u32_at(base + 32).unwrap_or(0);
    let extensions = parse_extensions(&reader, extension_offset)?;
    let hwcaps_name = |hwcap: u64| -> Option<Vec<u8>> {
        let array = extensions.hwcaps?;
        // The low 32 bits index the array.
        let index = usize::try_from(hwcap & 0xffff_ffff).ok()?;
        let at = index.checked_mul(4)?;
        let string_offset = Reader {
            bytes: array,
            endian,
        }
        .u32_at(at)?;
        // Relative to the file start, as ld.so and ldconfig -p read it.
        reader.string_opt(string_offset).map(<[u8]>::to_vec)
    };
    let mut entries = Vec::with_capacity(nlibs as usize);
    for index in 0..nlibs as usize {
        let at = header_end + index * NEW_ENTRY_LEN;
        let truncated = || truncated_entries(header_end, nlibs, NEW_ENTRY_LEN, len);
        let flags = reader.i32_at(at).ok_or_else(truncated)?;
        let key = reader.u32_at(at + 4).ok_or_else(truncated)?;
        let value = reader.u32_at(at + 8).ok_or_else(truncated)?;
        let hwcap = reader.u64_at(at + 16).ok_or_else(truncated)?;
        let hwcaps_subdir = if is_hwcap_extension(hwcap) {
            hwcaps_name(hwcap)
        } else {
            None
        };
        entries.push(CacheEntry {
            flags,
            key: reader.string(base, key, index, "key")?.to_vec(),
            value: reader.string(base, value, index, "value")?.to_vec(),
            hwcap,
            hwcaps_subdir,
        });
    }
    Ok(LdCache {
        format,
        generator: extensions.generator.map(<[u8]>::to_vec),
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    const X86_64: i32 = 0x0303;

    fn find_tool(candidates: &[&str]) -> PathBuf {
        candidates
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .unwrap_or_else(|| {
                panic!("none of {candidates:?} exists; these tests need glibc's tools")
            })
    }

    fn ldconfig() -> PathBuf {
        find_tool(&["/usr/sbin/ldconfig", "/sbin/ldconfig"])
    }

    fn run(cmd: &mut Command) -> String {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
        assert!(
            out.status.success(),
            "{cmd:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8 tool output")
    }

    /// One line of `ldconfig -p`: `\tKEY (FLAGS[, hwcap: …][, OS ABI: …]) => VALUE`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Printed {
        key: String,
        flags: String,
        hwcap: Option<String>,
        value: String,
    }

    struct PrintedCache {
        count: usize,
        entries: Vec<Printed>,
        generator: Option<String>,
    }

    fn parse_ldconfig_p(text: &str) -> PrintedCache {
        let mut count = None;
        let mut entries = Vec::new();
        let mut generator = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix('\t') {
                let (left, value) = rest.split_once(" => ").expect("`=>` in entry line");
                let open = left.rfind(" (").expect("`(` in entry line");
                let key = &left[..open];
                let inner = left[open + 2..]
                    .strip_suffix(')')
                    .expect("`)` in entry line");
                let mut parts = inner.split(", ");
                let flags = parts.next().expect("flags").to_owned();
                let hwcap = parts
                    .find(|p| p.starts_with("hwcap: "))
                    .map(|p| p.to_owned());
                entries.push(Printed {
                    key: key.to_owned(),
                    flags,
                    hwcap,
                    value: value.to_owned(),
                });
            } else if let Some(rest) = line.strip_prefix("Cache generated by: ") {
                generator = Some(rest.to_owned());
            } else if let Some((n, _)) = line.split_once(" libs found in cache") {
                count = Some(n.parse().expect("entry count"));
            }
        }
        PrintedCache {
            count: count.expect("`libs found` header"),
            entries,
            generator,
        }
    }

    fn printed(entry: &CacheEntry) -> Printed {
        let hwcap = match (&entry.hwcaps_subdir, entry.hwcap) {
            (Some(name), _) => Some(format!("hwcap: \"{}\"", String::from_utf8_lossy(name))),
            (None, 0) => None,
            (None, h) => Some(format!("hwcap: {h:#018x}")),
        };
        Printed {
            key: String::from_utf8_lossy(&entry.key).into_owned(),
            flags: flags_description(entry.flags),
            hwcap,
            value: String::from_utf8_lossy(&entry.value).into_owned(),
        }
    }

    fn assert_matches_ldconfig_p(cache: &LdCache, text: &str) {
        let expected = parse_ldconfig_p(text);
        assert_eq!(cache.entries.len(), expected.count);
        let ours: Vec<Printed> = cache.entries.iter().map(printed).collect();
        assert_eq!(ours, expected.entries);
        assert_eq!(
            cache
                .generator
                .as_deref()
                .map(|g| String::from_utf8_lossy(g).into_owned()),
            expected.generator
        );
    }

    /// Every `glibc-hwcaps` level this CPU's loader searches, best first, from
    /// `ld.so --help` (optionally inside a chroot, with extra loader options).
    fn active_hwcaps_from_help(help: &str) -> Vec<Vec<u8>> {
        help.lines()
            .skip_while(|l| !l.starts_with("Subdirectories of glibc-hwcaps directories"))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .filter(|l| l.contains("searched"))
            .map(|l| {
                l.split_whitespace()
                    .next()
                    .expect("name")
                    .as_bytes()
                    .to_vec()
            })
            .collect()
    }

    /// The path `ld.so --list` prints for `name`.
    fn listed_path(listing: &str, name: &str) -> Option<String> {
        listing.lines().find_map(|l| {
            let (left, right) = l.trim().split_once(" => ")?;
            (left == name).then(|| right.rsplit_once(" (").map_or(right, |(p, _)| p).to_owned())
        })
    }

    #[test]
    fn host_cache_matches_ldconfig_print() {
        let bytes = std::fs::read("/etc/ld.so.cache").expect("read /etc/ld.so.cache");
        let cache = LdCache::parse(&bytes).expect("parse host cache");
        let text = run(Command::new(ldconfig()).arg("-p"));
        assert_matches_ldconfig_p(&cache, &text);

        // Every x86-64 name: the first plain `ldconfig -p` line wins.
        let expected = parse_ldconfig_p(&text);
        let mut checked = 0;
        for e in expected
            .entries
            .iter()
            .filter(|e| e.flags == "libc6,x86-64")
        {
            let first = expected
                .entries
                .iter()
                .find(|p| p.key == e.key && p.flags == "libc6,x86-64" && p.hwcap.is_none())
                .map(|p| p.value.clone());
            let ours = cache
                .lookup(e.key.as_bytes(), X86_64, &[])
                .map(|c| String::from_utf8_lossy(&c.value).into_owned());
            assert_eq!(ours, first, "lookup of {}", e.key);
            checked += 1;
        }
        assert!(checked > 0);

        // libc.so.6 as the loader itself finds it for a system binary.
        let libc = cache
            .lookup(b"libc.so.6", X86_64, &[])
            .expect("libc.so.6 in cache");
        let listing = run(Command::new("/lib64/ld-linux-x86-64.so.2")
            .env_clear()
            .args(["--list", "/bin/true"]));
        assert_eq!(
            listed_path(&listing, "libc.so.6").as_deref(),
            Some(&*String::from_utf8_lossy(&libc.value))
        );
        assert!(cache
            .candidates(b"libc.so.6", X86_64)
            .any(|c| c.value == libc.value));
    }

    /// A throw-away root that `ldconfig -r` and `chroot` can use.
    struct TempRoot(PathBuf);

    impl TempRoot {
        fn new(tag: &str) -> TempRoot {
            let dir = std::env::temp_dir().join(format!(
                "kaudit-ldcache-{tag}-{}-{:?}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos()
            ));
            std::fs::create_dir_all(&dir).expect("create temp root");
            TempRoot(dir)
        }

        fn path(&self, inside: &str) -> PathBuf {
            self.0.join(inside.trim_start_matches('/'))
        }

        fn copy(&self, from: &str, to_dir: &str) {
            let dir = self.path(to_dir);
            std::fs::create_dir_all(&dir).expect("create dir");
            let name = Path::new(from).file_name().expect("file name");
            std::fs::copy(from, dir.join(name)).unwrap_or_else(|e| panic!("copy {from}: {e}"));
        }

        fn write(&self, inside: &str, text: &str) {
            let path = self.path(inside);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("create dir");
            std::fs::write(path, text).expect("write");
        }
    }

    impl Drop for TempRoot {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const MULTIARCH: &str = "/lib/x86_64-linux-gnu";
    const HWCAPS_V3: &str = "/usr/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v3";

    /// A root with `/opt/lib` configured, a `glibc-hwcaps` copy of `libm.so.6`,
    /// optionally a legacy `tls/` copy of `libdl.so.2`, and what `ld.so --list`
    /// needs to run in a chroot.
    fn build_root(tag: &str, legacy: bool) -> TempRoot {
        let root = TempRoot::new(tag);
        root.write("/etc/ld.so.conf", "# test\n/opt/lib\n");
        for lib in ["libm.so.6", "libdl.so.2"] {
            root.copy(&format!("{MULTIARCH}/{lib}"), "/opt/lib");
        }
        root.copy(&format!("{MULTIARCH}/libm.so.6"), HWCAPS_V3);
        if legacy {
            root.copy(&format!("{MULTIARCH}/libdl.so.2"), "/opt/lib/tls");
        }
        root.copy(&format!("{MULTIARCH}/libc.so.6"), MULTIARCH);
        root.copy("/lib64/ld-linux-x86-64.so.2", "/lib64");
        root.copy("/bin/true", "/bin");
        root
    }

    fn build_cache(root: &TempRoot, format: &str) -> (Vec<u8>, String) {
        run(Command::new(ldconfig())
            .arg("-r")
            .arg(&root.0)
            .args(["-X", "-c", format]));
        let cache_path = root.path("/etc/ld.so.cache");
        let bytes = std::fs::read(&cache_path).expect("read generated cache");
        let text = run(Command::new(ldconfig())
            .arg("-C")
            .arg(&cache_path)
            .arg("-p"));
        (bytes, text)
    }

    /// `ld.so` inside the root: (active glibc-hwcaps levels, path of `name`).
    fn loader_in_root(root: &TempRoot, name: &str, mask: Option<&str>) -> (Vec<Vec<u8>>, String) {
        let chroot = find_tool(&["/usr/sbin/chroot", "/sbin/chroot"]);
        let loader = |extra: &[&str]| {
            let mut cmd = Command::new(&chroot);
            cmd.env_clear()
                .arg(&root.0)
                .arg("/lib64/ld-linux-x86-64.so.2");
            if let Some(mask) = mask {
                cmd.args(["--glibc-hwcaps-mask", mask]);
            }
            run(cmd.args(extra))
        };
        let active = active_hwcaps_from_help(&loader(&["--help"]));
        let listing = loader(&["--preload", name, "--list", "/bin/true"]);
        let path = listed_path(&listing, name).unwrap_or_else(|| panic!("{name} in {listing}"));
        (active, path)
    }

    fn value_of(entry: Option<&CacheEntry>) -> Option<String> {
        entry.map(|e| String::from_utf8_lossy(&e.value).into_owned())
    }

    #[test]
    fn generated_caches_match_ldconfig_and_ld_so() {
        let v3_path = format!("{HWCAPS_V3}/libm.so.6");
        for (format, expected_format) in [
            ("new", CacheFormat::New),
            ("compat", CacheFormat::Combined),
            ("old", CacheFormat::Old),
        ] {
            let root = build_root(format, false);
            let (bytes, text) = build_cache(&root, format);
            let cache = LdCache::parse(&bytes).expect("parse generated cache");
            assert_eq!(cache.format, expected_format);
            assert_matches_ldconfig_p(&cache, &text);

            for mask in [None, Some("x86-64-v2"), Some("")] {
                let (active, loaded) = loader_in_root(&root, "libm.so.6", mask);
                let active: Vec<&[u8]> = active.iter().map(Vec::as_slice).collect();
                assert_eq!(
                    value_of(cache.lookup(b"libm.so.6", X86_64, &active)).as_deref(),
                    Some(loaded.as_str()),
                    "format {format}, mask {mask:?}"
                );
            }

            let both: Vec<&[u8]> = vec![b"x86-64-v3", b"x86-64-v2"];
            let best = value_of(cache.lookup(b"libm.so.6", X86_64, &both));
            let plain = value_of(cache.lookup(b"libm.so.6", X86_64, &[]));
            let candidates: Vec<String> = cache
                .candidates(b"libm.so.6", X86_64)
                .map(|e| String::from_utf8_lossy(&e.value).into_owned())
                .collect();
            assert_eq!(
                candidates,
                [v3_path.clone(), "/opt/lib/libm.so.6".to_owned()]
            );
            match expected_format {
                CacheFormat::New => {
                    assert_eq!(best.as_deref(), Some(v3_path.as_str()));
                    assert_eq!(plain.as_deref(), Some("/opt/lib/libm.so.6"));
                    let v3 = cache.candidates(b"libm.so.6", X86_64).next().expect("v3");
                    assert!(v3.is_glibc_hwcaps());
                    assert_eq!(v3.hwcaps_subdir.as_deref(), Some(&b"x86-64-v3"[..]));
                }
                // The loader resolves the subdirectory name against the file
                // start, finds an unrelated string and skips the entry.
                CacheFormat::Combined => {
                    assert_eq!(best.as_deref(), Some("/opt/lib/libm.so.6"));
                    assert_eq!(plain.as_deref(), Some("/opt/lib/libm.so.6"));
                }
                // The old format lists the glibc-hwcaps library as a plain
                // entry, ahead of the others.
                CacheFormat::Old => {
                    assert_eq!(best.as_deref(), Some(v3_path.as_str()));
                    assert_eq!(plain.as_deref(), Some(v3_path.as_str()));
                }
            }
            no_panic_on_damage(&bytes);
        }
    }

    #[test]
    fn legacy_hwcap_entries_as_glibc_2_36_and_2_37() {
        let root = build_root("legacy", true);
        let (bytes, text) = build_cache(&root, "new");
        let cache = LdCache::parse(&bytes).expect("parse generated cache");
        assert_matches_ldconfig_p(&cache, &text);
        let tls = cache
            .candidates(b"libdl.so.2", X86_64)
            .find(|e| e.legacy_hwcap() != 0)
            .expect("tls entry");
        assert_eq!(tls.legacy_hwcap(), HWCAP_TLS);

        // glibc 2.36 (this machine) still uses the tls/ entry.
        let (_, loaded) = loader_in_root(&root, "libdl.so.2", None);
        let as_236 = cache.search(
            b"libdl.so.2",
            &CacheQuery {
                default_id: X86_64,
                also_accepted: &[],
                active_hwcaps: &[],
                legacy_hwcap_allowed: HWCAP_TLS,
            },
        );
        assert_eq!(value_of(as_236).as_deref(), Some(loaded.as_str()));
        assert_eq!(loaded, "/opt/lib/tls/libdl.so.2");
        // glibc ≥ 2.37 ignores it.
        assert_eq!(
            value_of(cache.lookup(b"libdl.so.2", X86_64, &[])).as_deref(),
            Some("/opt/lib/libdl.so.2")
        );
        no_panic_on_damage(&bytes);
    }

    /// Parse every truncation and many random corruptions of `bytes`; only
    /// panics fail.
    fn no_panic_on_damage(bytes: &[u8]) {
        for len in 0..bytes.len() {
            if let Ok(cache) = LdCache::parse(&bytes[..len]) {
                exercise(&cache);
            }
        }
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15 ^ bytes.len() as u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2000 {
            let mut damaged = bytes.to_vec();
            for _ in 0..=(next() % 4) {
                let at = (next() % damaged.len() as u64) as usize;
                damaged[at] ^= (next() % 255 + 1) as u8;
            }
            if let Ok(cache) = LdCache::parse(&damaged) {
                exercise(&cache);
            }
        }
    }

    fn exercise(cache: &LdCache) {
        let active: [&[u8]; 2] = [b"x86-64-v3", b"x86-64-v2"];
        for name in [&b"libm.so.6"[..], b"libc.so.6", b"libdl.so.2"] {
            let _ = cache.lookup(name, X86_64, &active);
            let _ = cache.candidates(name, X86_64).count();
        }
    }

    #[test]
    fn host_cache_survives_damage() {
        let bytes = std::fs::read("/etc/ld.so.cache").expect("read /etc/ld.so.cache");
        no_panic_on_damage(&bytes);
    }

    #[test]
    fn header_errors_name_the_problem() {
        assert!(matches!(LdCache::parse(b""), Err(LdCacheError::Empty)));
        assert!(matches!(
            LdCache::parse(b"glibc-ld.so"),
            Err(LdCacheError::TruncatedHeader { .. })
        ));
        assert!(matches!(
            LdCache::parse(b"\x7fELF\x02\x01\x01"),
            Err(LdCacheError::BadMagic)
        ));
        let mut header = b"glibc-ld.so.cache1.2".to_vec();
        header.resize(NEW_HEADER_LEN, 0);
        assert!(matches!(
            LdCache::parse(&header),
            Err(LdCacheError::UnsupportedVersion { .. })
        ));
        header[17..20].copy_from_slice(b"1.1");
        header[20] = 1;
        let err = LdCache::parse(&header).expect_err("one entry, no room");
        assert!(matches!(err, LdCacheError::TruncatedEntries { .. }));
        assert!(err.to_string().starts_with("truncated entry table"));
        header[20] = 0;
        header[28] = 1;
        assert!(matches!(
            LdCache::parse(&header),
            Err(LdCacheError::InvalidEndianness)
        ));
    }

    #[test]
    fn names_compare_like_dl_cache_libcmp() {
        assert!(same_library_name(b"libfoo.so.1", b"libfoo.so.01"));
        assert!(same_library_name(b"libfoo.so.1\0junk", b"libfoo.so.1"));
        assert!(!same_library_name(b"libfoo.so.1", b"libfoo.so.10"));
        assert!(!same_library_name(b"libfoo.so", b"libfoo.so.1"));
        assert_eq!(libcmp(b"libfoo.so.2", b"libfoo.so.10"), Ordering::Less);
        assert_eq!(libcmp(b"libfoo.so.a", b"libfoo.so.1"), Ordering::Less);
    }

    /// `ldconfig` computed each entry's flags from the library's ELF header;
    /// `abi_flags_for` must agree for every library of the host cache (x86-64,
    /// and the i386 and x32 multilib libraries when installed).
    #[test]
    fn abi_flags_agree_with_ldconfig_on_host_libraries() {
        use std::io::Read;
        let bytes = std::fs::read("/etc/ld.so.cache").expect("read /etc/ld.so.cache");
        let cache = LdCache::parse(&bytes).expect("parse host cache");
        let mut seen = std::collections::BTreeSet::new();
        for entry in &cache.entries {
            let path = String::from_utf8_lossy(&entry.value).into_owned();
            let mut header = [0u8; 64];
            let Ok(mut file) = std::fs::File::open(&path) else {
                continue;
            };
            if file.read_exact(&mut header).is_err() || &header[..4] != b"\x7fELF" {
                continue;
            }
            let class64 = header[4] == 2;
            let big = header[5] == 2;
            let u16_at = |at: usize| {
                let raw = [header[at], header[at + 1]];
                if big {
                    u16::from_be_bytes(raw)
                } else {
                    u16::from_le_bytes(raw)
                }
            };
            let u32_at = |at: usize| {
                let raw = [header[at], header[at + 1], header[at + 2], header[at + 3]];
                if big {
                    u32::from_be_bytes(raw)
                } else {
                    u32::from_le_bytes(raw)
                }
            };
            let e_flags = u32_at(if class64 { 48 } else { 36 });
            let expected = abi_flags_for(u16_at(18), class64, e_flags);
            // Generic 32-bit ports mark libraries without a glibc DT_NEEDED
            // (i386's own ld-linux.so.2) FLAG_ELF.
            let plain_elf = entry.flags == FLAG_ELF && expected == Some(FLAG_ELF_LIBC6);
            assert!(
                expected == Some(entry.flags) || plain_elf,
                "{path}: {expected:?} != {:#x}",
                entry.flags
            );
            seen.insert(entry.flags);
        }
        assert!(seen.contains(&X86_64));
    }

    #[test]
    fn abi_flags_of_common_machines() {
        assert_eq!(abi_flags_for(62, true, 0), Some(0x0303));
        assert_eq!(abi_flags_for(62, false, 0), Some(0x0803));
        assert_eq!(abi_flags_for(3, false, 0), Some(0x0003));
        assert_eq!(abi_flags_for(183, true, 0), Some(0x0a03));
        assert_eq!(abi_flags_for(40, false, 0x0500_0400), Some(0x0903));
        assert_eq!(abi_flags_for(40, false, 0x0500_0200), Some(0x0b03));
        assert_eq!(abi_flags_for(21, true, 2), Some(0x0503));
        assert_eq!(abi_flags_for(22, true, 0), Some(0x0403));
        assert_eq!(abi_flags_for(243, true, 0x5), Some(0x1003));
        assert_eq!(abi_flags_for(243, true, 0x2), None);
        assert_eq!(abi_flags_for(0xffff, true, 0), None);
        // The descriptions match what ldconfig -p prints for the same flags.
        assert_eq!(flags_description(0x0303), "libc6,x86-64");
        assert_eq!(flags_description(0x0803), "libc6,x32");
        assert_eq!(flags_description(0x0003), "libc6");
    }
}
