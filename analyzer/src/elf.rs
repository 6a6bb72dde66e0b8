//! The parts of an ELF file the dynamic loader reads.
//!
//! Only what `ld.so` itself looks at is read, with positioned reads: the ELF
//! header, the program headers, `PT_INTERP`, the `PT_DYNAMIC` segment and the
//! dynamic string table. Section headers are never needed (a stripped or
//! section-less library loads fine, so it must analyse fine). Header and program
//! header parsing uses `goblin`; strings are kept as bytes.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use goblin::container::{Container, Ctx};
use goblin::elf::dynamic::{
    DF_1_NODEFLIB, DF_1_PIE, DT_FLAGS_1, DT_NEEDED, DT_NULL, DT_RPATH, DT_RUNPATH, DT_SONAME,
    DT_STRSZ, DT_STRTAB,
};
use goblin::elf::header::{ET_DYN, ET_EXEC};
use goblin::elf::program_header::{ProgramHeader, PT_DYNAMIC, PT_INTERP, PT_LOAD};

/// `\x7fELF`.
pub const MAGIC: &[u8; 4] = b"\x7fELF";

const MAX_PHNUM: usize = 4096;
const MAX_DYNAMIC: u64 = 1 << 20;
const MAX_STRTAB: u64 = 64 << 20;
const MAX_INTERP: u64 = 4096;

/// How an object is linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linkage {
    /// Has a program interpreter or dynamic dependencies: loaded by ld.so.
    Dynamic,
    /// No dynamic section: needs nothing at load time.
    Static,
    /// Self-relocating position independent executable without interpreter.
    StaticPie,
    /// Not a loadable object (relocatable `.o`, core dump, …).
    NotLoadable,
}

impl Linkage {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Linkage::Dynamic => "dynamic",
            Linkage::Static => "static",
            Linkage::StaticPie => "static-pie",
            Linkage::NotLoadable => "not-loadable",
        }
    }
}

/// What the loader needs to know about an ELF object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    /// `e_ident`, for the loader's header checks.
    pub ident: [u8; 16],
    /// 64-bit class.
    pub class64: bool,
    /// Little endian.
    pub little: bool,
    /// `e_machine`.
    pub machine: u16,
    /// `e_type`.
    pub etype: u16,
    /// `e_version`.
    pub version: u32,
    /// `e_flags`.
    pub flags: u32,
    /// `e_phentsize`.
    pub phentsize: u16,
    /// `PT_INTERP`, without the trailing NUL.
    pub interp: Option<Vec<u8>>,
    /// Whether there is a `PT_DYNAMIC` segment.
    pub has_dynamic: bool,
    /// `DT_NEEDED`, in order.
    pub needed: Vec<Vec<u8>>,
    /// `DT_SONAME`.
    pub soname: Option<Vec<u8>>,
    /// `DT_RPATH`.
    pub rpath: Option<Vec<u8>>,
    /// `DT_RUNPATH`.
    pub runpath: Option<Vec<u8>>,
    /// `DT_FLAGS_1`.
    pub flags_1: u64,
    /// Why the kernel would refuse to execute the file, if it would.
    pub exec_refusal: Option<ExecRefusal>,
    /// Whether the program headers were read (not when there are none, or
    /// when they cannot be read as the header describes them).
    pub program_headers_read: bool,
}

/// Why Linux's ELF loader (`fs/binfmt_elf.c`, `load_elf_binary` and
/// `load_elf_phdrs`) refuses to execute a file that starts with the ELF
/// magic: `execve` fails with `ENOEXEC` ("Exec format error").
///
/// The kernel reads the header in its own class and byte order, whatever
/// `EI_CLASS` and `EI_DATA` say (an x86-64 kernel runs a 64-bit program whose
/// `EI_CLASS` says 32-bit); a file is refused when no ELF loader of any Linux
/// architecture whose `e_machine` it carries would take it. An x86-64 kernel
/// has two: the native one (64-bit layout) and the compat one (32-bit
/// layout: i386, and x32 for `EM_X86_64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExecRefusal {
    /// `e_machine` is no Linux architecture.
    Machine(u16),
    /// `e_type` is neither `ET_EXEC` nor `ET_DYN`.
    Type(u16),
    /// `e_phentsize` is not the size of a program header.
    PhEntSize(u16),
    /// No program headers.
    NoProgramHeaders,
    /// More than 64 KiB of program headers.
    TooManyProgramHeaders(u16),
    /// The program headers lie (partly) beyond the end of the file.
    ProgramHeadersBeyondEnd,
}

impl std::fmt::Display for ExecRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExecRefusal::Machine(m) => write!(f, "e_machine {m} is no Linux architecture"),
            ExecRefusal::Type(t) => write!(f, "e_type {t} is neither ET_EXEC nor ET_DYN"),
            ExecRefusal::PhEntSize(s) => {
                write!(f, "e_phentsize {s} is not the size of a program header")
            }
            ExecRefusal::NoProgramHeaders => f.write_str("e_phnum is 0: no program headers"),
            ExecRefusal::TooManyProgramHeaders(n) => {
                write!(f, "e_phnum {n}: more than 64 KiB of program headers")
            }
            ExecRefusal::ProgramHeadersBeyondEnd => {
                f.write_str("the program headers lie beyond the end of the file")
            }
        }
    }
}

/// `e_machine` values of the Linux architectures, with the byte order their
/// kernels read, and whether the class is fixed by the machine (`Some(true)`
/// 64-bit only, `Some(false)` 32-bit only, `None` either).
const LINUX_MACHINES: &[(u16, Order, Option<bool>)] = &[
    (62, Order::Little, None),            // x86-64 (and x32)
    (3, Order::Little, Some(false)),      // i386
    (6, Order::Little, Some(false)),      // i486
    (183, Order::Little, None),           // AArch64
    (40, Order::Either, Some(false)),     // ARM
    (243, Order::Little, None),           // RISC-V
    (258, Order::Little, Some(true)),     // LoongArch
    (20, Order::Big, Some(false)),        // PowerPC
    (21, Order::Either, None),            // PowerPC64
    (22, Order::Big, None),               // s390
    (8, Order::Either, None),             // MIPS
    (10, Order::Little, None),            // MIPS RS3000 LE
    (2, Order::Big, Some(false)),         // SPARC
    (18, Order::Big, Some(false)),        // SPARC32PLUS
    (43, Order::Big, Some(true)),         // SPARC V9
    (15, Order::Big, None),               // PA-RISC
    (0x9026, Order::Little, Some(true)),  // Alpha
    (50, Order::Little, Some(true)),      // IA-64
    (4, Order::Big, Some(false)),         // m68k
    (42, Order::Either, Some(false)),     // SuperH
    (189, Order::Either, Some(false)),    // MicroBlaze
    (0xbaab, Order::Either, Some(false)), // MicroBlaze (old)
    (94, Order::Either, Some(false)),     // Xtensa
    (92, Order::Big, Some(false)),        // OpenRISC
    (93, Order::Little, Some(false)),     // ARC
    (195, Order::Little, Some(false)),    // ARCv2
    (252, Order::Little, Some(false)),    // C-SKY
    (164, Order::Little, Some(false)),    // Hexagon
    (113, Order::Little, Some(false)),    // Nios II
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    Little,
    Big,
    Either,
}

/// The largest size of all program headers the kernel reads.
const MAX_PHDRS_BYTES: u64 = 65536;

/// Whether the kernel of any Linux architecture would execute a file of
/// `size` bytes whose first bytes are `head` (the ELF magic checked by the
/// caller): `None` when it would get past the header checks, else the first
/// reason the closest candidate fails.
pub fn exec_refusal(head: &[u8], size: u64) -> Option<ExecRefusal> {
    kernel_layout(head, size).err()
}

/// The class (64-bit?) and byte order (little?) in which a kernel that
/// executes the file reads it — the declared ones when they work — or why
/// none would.
fn kernel_layout(head: &[u8], size: u64) -> Result<(bool, bool), ExecRefusal> {
    let u16_at = |off: usize, little: bool| -> u16 {
        let b = [
            head.get(off).copied().unwrap_or(0),
            head.get(off + 1).copied().unwrap_or(0),
        ];
        if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }
    };
    let int_at = |off: usize, len: usize, little: bool| -> u64 {
        let mut v = 0u64;
        for i in 0..len {
            let b = head.get(off + i).copied().unwrap_or(0) as u64;
            v |= if little {
                b << (8 * i)
            } else {
                b << (8 * (len - 1 - i))
            };
        }
        v
    };
    let mut best: Option<ExecRefusal> = None;
    let declared_little = head.get(5) != Some(&2);
    let declared_64 = head.get(4) != Some(&1);
    for little in [declared_little, !declared_little] {
        let machine = u16_at(18, little);
        let Some(&(_, order, class)) = LINUX_MACHINES.iter().find(|(m, _, _)| *m == machine) else {
            continue;
        };
        if order == if little { Order::Big } else { Order::Little } {
            continue;
        }
        let both = [declared_64, !declared_64];
        let classes: &[bool] = match class {
            Some(true) => &[true],
            Some(false) => &[false],
            None => &both,
        };
        for &class64 in classes {
            let refusal = (|| {
                let etype = u16_at(16, little);
                if etype != ET_EXEC && etype != ET_DYN {
                    return Some(ExecRefusal::Type(etype));
                }
                let (phoff, phentsize, phnum) = if class64 {
                    (
                        int_at(32, 8, little),
                        u16_at(54, little),
                        u16_at(56, little),
                    )
                } else {
                    (
                        int_at(28, 4, little),
                        u16_at(42, little),
                        u16_at(44, little),
                    )
                };
                let want = if class64 { 56 } else { 32 };
                if phentsize != want {
                    return Some(ExecRefusal::PhEntSize(phentsize));
                }
                let bytes = u64::from(phnum) * u64::from(want);
                if bytes == 0 {
                    return Some(ExecRefusal::NoProgramHeaders);
                }
                if bytes > MAX_PHDRS_BYTES {
                    return Some(ExecRefusal::TooManyProgramHeaders(phnum));
                }
                if phoff.checked_add(bytes).is_none_or(|end| end > size) {
                    return Some(ExecRefusal::ProgramHeadersBeyondEnd);
                }
                None
            })();
            match refusal {
                None => return Ok((class64, little)),
                // the candidate whose e_type matched explains best
                Some(r) if best.is_none() || matches!(best, Some(ExecRefusal::Type(_))) => {
                    best = Some(r)
                }
                Some(_) => {}
            }
        }
    }
    Err(best.unwrap_or(ExecRefusal::Machine(u16_at(18, declared_little))))
}

impl ElfInfo {
    /// `DF_1_NODEFLIB`: do not search the default directories (nor their cache entries).
    pub fn nodeflib(&self) -> bool {
        self.flags_1 & DF_1_NODEFLIB != 0
    }

    /// How it is linked.
    pub fn linkage(&self) -> Linkage {
        if self.etype != ET_EXEC && self.etype != ET_DYN {
            return Linkage::NotLoadable;
        }
        if self.unreadable_headers() {
            return Linkage::NotLoadable;
        }
        if self.interp.is_some() {
            return Linkage::Dynamic;
        }
        if !self.has_dynamic {
            return Linkage::Static;
        }
        if self.etype == ET_DYN && self.needed.is_empty() && self.flags_1 & DF_1_PIE != 0 {
            return Linkage::StaticPie;
        }
        Linkage::Dynamic
    }

    /// An executable or shared object ld.so could load.
    pub fn is_loadable(&self) -> bool {
        (self.etype == ET_EXEC || self.etype == ET_DYN) && !self.unreadable_headers()
    }

    /// Whether the program headers could not be read as the header
    /// describes them (wrong entry size, none, or beyond the end of the
    /// file): nothing after the header was read, and no loader takes it.
    fn unreadable_headers(&self) -> bool {
        self.exec_refusal.is_some() && !self.program_headers_read
    }
}

/// Why an ELF file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ElfError {
    /// Reading failed.
    #[error("read error: {0}")]
    Io(#[from] io::Error),
    /// The file starts with the ELF magic but is malformed.
    #[error("malformed ELF: {0}")]
    Malformed(String),
}

fn malformed(msg: impl Into<String>) -> ElfError {
    ElfError::Malformed(msg.into())
}

/// Something we can read byte ranges from.
pub trait ReadAt {
    /// Read exactly `buf.len()` bytes at `off`.
    fn read_exact_at(&self, buf: &mut [u8], off: u64) -> io::Result<()>;
}

impl ReadAt for File {
    fn read_exact_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, off)
    }
}

impl ReadAt for [u8] {
    fn read_exact_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        let start = usize::try_from(off).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let end = start
            .checked_add(buf.len())
            .filter(|&e| e <= self.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(&self[start..end]);
        Ok(())
    }
}

fn read_range(
    src: &(impl ReadAt + ?Sized),
    off: u64,
    len: u64,
    size: u64,
) -> Result<Vec<u8>, ElfError> {
    let end = off
        .checked_add(len)
        .ok_or_else(|| malformed("range overflows"))?;
    if end > size {
        return Err(malformed(format!(
            "range {off}..{end} is beyond the end of the file ({size} bytes)"
        )));
    }
    let mut buf = vec![0u8; len as usize];
    src.read_exact_at(&mut buf, off)?;
    Ok(buf)
}

/// Whether these leading bytes are an ELF magic.
pub fn is_elf(head: &[u8]) -> bool {
    head.len() >= 4 && &head[..4] == MAGIC
}

/// Parse what the loader needs from an ELF file of `size` bytes whose first
/// bytes are `head` (at least the magic). `Ok(None)` when it is not ELF.
pub fn parse(src: &(impl ReadAt + ?Sized), size: u64) -> Result<Option<ElfInfo>, ElfError> {
    let mut head = [0u8; 64];
    let n = head.len().min(size as usize);
    src.read_exact_at(&mut head[..n], 0)?;
    if !is_elf(&head[..n]) {
        return Ok(None);
    }
    if n < 52 {
        return Err(malformed(format!("file too short ({size} bytes)")));
    }
    // read the header as the kernel would: an x86-64 kernel reads a 64-bit
    // little-endian header whatever EI_CLASS and EI_DATA say
    let layout = kernel_layout(&head[..n], size);
    let mut as_read = head;
    if let Ok((class64, little)) = layout {
        as_read[4] = if class64 { 2 } else { 1 };
        as_read[5] = if little { 1 } else { 2 };
    }
    let header = goblin::elf::Elf::parse_header(&as_read[..n])
        .map_err(|e| malformed(format!("bad ELF header: {e}")))?;
    let container = header
        .container()
        .map_err(|e| malformed(format!("bad ELF class: {e}")))?;
    let endian = header
        .endianness()
        .map_err(|e| malformed(format!("bad ELF data encoding: {e}")))?;
    let class64 = container == Container::Big;
    let ctx = Ctx::new(container, endian);
    let mut ident = [0u8; 16];
    ident.copy_from_slice(&head[..16]);
    let mut info = ElfInfo {
        ident,
        class64,
        little: endian.is_little(),
        machine: header.e_machine,
        etype: header.e_type,
        version: header.e_version,
        flags: header.e_flags,
        phentsize: header.e_phentsize,
        interp: None,
        has_dynamic: false,
        needed: Vec::new(),
        soname: None,
        rpath: None,
        runpath: None,
        flags_1: 0,
        exec_refusal: layout.err(),
        program_headers_read: false,
    };
    match read_program_headers(src, size, &header, ctx, &mut info) {
        Ok(()) => Ok(Some(info)),
        // a file the kernel refuses for its program headers, which cannot be
        // read (ld.so: "cannot read file data"): what the header says is all
        // there is
        Err(ElfError::Malformed(_))
            if matches!(
                info.exec_refusal,
                Some(
                    ExecRefusal::PhEntSize(_)
                        | ExecRefusal::NoProgramHeaders
                        | ExecRefusal::TooManyProgramHeaders(_)
                        | ExecRefusal::ProgramHeadersBeyondEnd
                )
            ) =>
        {
            info.interp = None;
            info.has_dynamic = false;
            info.needed.clear();
            info.soname = None;
            info.rpath = None;
            info.runpath = None;
            info.flags_1 = 0;
            info.program_headers_read = false;
            Ok(Some(info))
        }
        Err(e) => Err(e),
    }
}

/// The program headers, `PT_INTERP` and the dynamic section, into `info`.
fn read_program_headers(
    src: &(impl ReadAt + ?Sized),
    size: u64,
    header: &goblin::elf::Header,
    ctx: Ctx,
    info: &mut ElfInfo,
) -> Result<(), ElfError> {
    let class64 = info.class64;
    let phnum = header.e_phnum as usize;
    if phnum == 0 {
        return Ok(());
    }
    let want = ProgramHeader::size(ctx);
    if header.e_phentsize as usize != want {
        // ld.so refuses such a file; nothing more can be read reliably
        return Ok(());
    }
    if phnum > MAX_PHNUM {
        return Err(malformed(format!("{phnum} program headers")));
    }
    let phbytes = read_range(src, header.e_phoff, (phnum * want) as u64, size)?;
    info.program_headers_read = true;
    let phdrs = ProgramHeader::parse(&phbytes, 0, phnum, ctx)
        .map_err(|e| malformed(format!("bad program headers: {e}")))?;
    let loads: Vec<&ProgramHeader> = phdrs.iter().filter(|p| p.p_type == PT_LOAD).collect();
    for ph in &phdrs {
        if ph.p_type == PT_INTERP && ph.p_filesz > 0 {
            if ph.p_filesz > MAX_INTERP {
                return Err(malformed("PT_INTERP too long"));
            }
            let raw = read_range(src, ph.p_offset, ph.p_filesz, size)?;
            let end = memchr::memchr(0, &raw).unwrap_or(raw.len());
            info.interp = Some(raw[..end].to_vec());
        }
    }
    let Some(dynph) = phdrs.iter().find(|p| p.p_type == PT_DYNAMIC) else {
        return Ok(());
    };
    if dynph.p_filesz == 0 {
        // a separate debug-info file: the segment has no bytes; ld.so refuses it
        return Ok(());
    }
    info.has_dynamic = true;
    if dynph.p_filesz > MAX_DYNAMIC {
        return Err(malformed("PT_DYNAMIC too large"));
    }
    let dynbytes = read_range(src, dynph.p_offset, dynph.p_filesz, size)?;
    let word = if class64 { 8 } else { 4 };
    let rd = |b: &[u8]| -> u64 {
        match (word, info.little) {
            (8, true) => u64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
            (8, false) => u64::from_be_bytes(b.try_into().unwrap_or([0; 8])),
            (_, true) => u32::from_le_bytes(b.try_into().unwrap_or([0; 4])) as u64,
            (_, false) => u32::from_be_bytes(b.try_into().unwrap_or([0; 4])) as u64,
        }
    };
    let mut dyns: Vec<(u64, u64)> = Vec::new();
    for chunk in dynbytes.chunks_exact(word * 2) {
        let tag = rd(&chunk[..word]);
        let val = rd(&chunk[word..]);
        if tag == DT_NULL {
            break;
        }
        dyns.push((tag, val));
    }
    let get = |t: u64| dyns.iter().find(|(tag, _)| *tag == t).map(|(_, v)| *v);
    if let Some(f) = get(DT_FLAGS_1) {
        info.flags_1 = f;
    }
    let wants_strings = dyns
        .iter()
        .any(|(t, _)| matches!(*t, DT_NEEDED | DT_SONAME | DT_RPATH | DT_RUNPATH));
    if !wants_strings {
        return Ok(());
    }
    let (Some(straddr), Some(strsz)) = (get(DT_STRTAB), get(DT_STRSZ)) else {
        return Err(malformed("dynamic section without DT_STRTAB/DT_STRSZ"));
    };
    if strsz > MAX_STRTAB {
        return Err(malformed("dynamic string table too large"));
    }
    // map the virtual address to a file offset through the PT_LOAD segments
    let stroff = loads
        .iter()
        .find(|p| straddr >= p.p_vaddr && straddr < p.p_vaddr.saturating_add(p.p_filesz))
        .map(|p| straddr - p.p_vaddr + p.p_offset)
        .ok_or_else(|| {
            malformed(format!(
                "DT_STRTAB {straddr:#x} is not in any PT_LOAD segment"
            ))
        })?;
    let strtab = read_range(src, stroff, strsz.min(size.saturating_sub(stroff)), size)?;
    let string = |off: u64| -> Result<Vec<u8>, ElfError> {
        let off = usize::try_from(off).map_err(|_| malformed("string offset"))?;
        let s = strtab
            .get(off..)
            .ok_or_else(|| malformed(format!("string offset {off} beyond DT_STRSZ")))?;
        let end = memchr::memchr(0, s).ok_or_else(|| malformed("unterminated string"))?;
        Ok(s[..end].to_vec())
    };
    for &(tag, val) in &dyns {
        match tag {
            DT_NEEDED => info.needed.push(string(val)?),
            DT_SONAME => info.soname = Some(string(val)?),
            DT_RPATH => info.rpath = Some(string(val)?),
            DT_RUNPATH => info.runpath = Some(string(val)?),
            _ => {}
        }
    }
    Ok(())
}

/// What glibc's `open_verify` concludes about a candidate file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Usable.
    Ok,
    /// Other ELF class: skipped, the search continues (`found_other_class`).
    OtherClass,
    /// Other machine: skipped, the search continues.
    OtherMachine,
    /// Fatal for the whole load, with ld.so's message.
    Fatal(&'static str),
}

/// What a loader expects of the objects it loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Expect {
    /// 64-bit.
    pub class64: bool,
    /// Little endian.
    pub little: bool,
    /// `e_machine`.
    pub machine: u16,
}

impl Expect {
    /// What the loader of this object expects.
    pub fn of(info: &ElfInfo) -> Expect {
        Expect {
            class64: info.class64,
            little: info.little,
            machine: info.machine,
        }
    }
}

/// glibc's `open_verify` checks, in its order.
pub fn verify_glibc(info: &ElfInfo, expect: Expect) -> Verdict {
    let id = &info.ident;
    let class_ok = id[4] == if expect.class64 { 2 } else { 1 };
    let data_ok = id[5] == if expect.little { 1 } else { 2 };
    let osabi_ok = id[7] == 0 || id[7] == 3;
    let abiver_ok = id[8] == 0 || (id[7] == 3 && id[8] <= 3);
    let pad_ok = id[9..16].iter().all(|&b| b == 0);
    if !(class_ok && data_ok && id[6] == 1 && osabi_ok && abiver_ok && pad_ok) {
        if !class_ok {
            return Verdict::OtherClass;
        }
        if !data_ok {
            return Verdict::Fatal(if expect.little {
                "ELF file data encoding not little-endian"
            } else {
                "ELF file data encoding not big-endian"
            });
        }
        if id[6] != 1 {
            return Verdict::Fatal("ELF file version ident does not match current one");
        }
        if !osabi_ok {
            return Verdict::Fatal("ELF file OS ABI invalid");
        }
        if !abiver_ok {
            return Verdict::Fatal("ELF file ABI version invalid");
        }
        return Verdict::Fatal("nonzero padding in e_ident");
    }
    if info.version != 1 {
        return Verdict::Fatal("ELF file version does not match current one");
    }
    if info.machine != expect.machine {
        return Verdict::OtherMachine;
    }
    if info.etype != ET_DYN && info.etype != ET_EXEC {
        return Verdict::Fatal("only ET_DYN and ET_EXEC can be loaded");
    }
    let want = if expect.class64 { 56 } else { 32 };
    if info.phentsize != want {
        return Verdict::Fatal("ELF file's phentsize not the expected size");
    }
    if info.unreadable_headers() {
        // _dl_map_object_from_fd: no PT_LOAD, or a short read of the headers
        return Verdict::Fatal(
            if info.exec_refusal == Some(ExecRefusal::NoProgramHeaders) {
                "object file has no loadable segments"
            } else {
                "cannot read file data"
            },
        );
    }
    Verdict::Ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_running_loader_and_libc() {
        let f = File::open("/lib64/ld-linux-x86-64.so.2").unwrap();
        let size = f.metadata().unwrap().len();
        let info = parse(&f, size).unwrap().unwrap();
        assert!(info.class64);
        assert_eq!(info.soname.as_deref(), Some(&b"ld-linux-x86-64.so.2"[..]));
        let f = File::open("/bin/sh").unwrap();
        let size = f.metadata().unwrap().len();
        let info = parse(&f, size).unwrap().unwrap();
        assert_eq!(
            info.interp.as_deref(),
            Some(&b"/lib64/ld-linux-x86-64.so.2"[..])
        );
        assert!(info.needed.iter().any(|n| n == b"libc.so.6"));
        assert_eq!(info.linkage(), Linkage::Dynamic);
        assert_eq!(verify_glibc(&info, Expect::of(&info)), Verdict::Ok);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = std::fs::read("/bin/true").unwrap();
        for len in (0..bytes.len().min(20000)).step_by(7) {
            let cut = &bytes[..len];
            let _ = parse(cut, len as u64);
        }
        let mut flipped = bytes.clone();
        for i in (16..flipped.len().min(4096)).step_by(3) {
            flipped[i] ^= 0x5a;
            let _ = parse(&flipped[..], flipped.len() as u64);
        }
    }

    /// The kernel reads a 64-bit x86-64 header whatever EI_CLASS and EI_DATA
    /// say, and refuses a wrong e_phentsize, no program headers or more than
    /// 64 KiB of them (checked against the kernel in the integration tests).
    #[test]
    fn kernel_checks_of_a_program_header() {
        let bytes = std::fs::read("/bin/true").unwrap();
        let size = bytes.len() as u64;
        assert_eq!(exec_refusal(&bytes[..64], size), None);
        let mut b = bytes.clone();
        b[4] = 1;
        b[5] = 2;
        let info = parse(&b[..], size).unwrap().unwrap();
        assert_eq!(info.exec_refusal, None);
        assert!(info.class64 && info.little);
        assert_eq!(info.linkage(), Linkage::Dynamic);
        assert_eq!(verify_glibc(&info, Expect::of(&info)), Verdict::OtherClass);
        for (offset, value, refusal) in [
            (54, 57u16, ExecRefusal::PhEntSize(57)),
            (56, 0, ExecRefusal::NoProgramHeaders),
            (56, 1171, ExecRefusal::TooManyProgramHeaders(1171)),
            (16, 1, ExecRefusal::Type(1)),
            (18, 0, ExecRefusal::Machine(0)),
        ] {
            let mut b = bytes.clone();
            b[offset..offset + 2].copy_from_slice(&value.to_le_bytes());
            assert_eq!(
                exec_refusal(&b[..64], size),
                Some(refusal),
                "{offset}={value}"
            );
        }
        let mut b = bytes.clone();
        b[32..40].copy_from_slice(&(size - 8).to_le_bytes());
        assert_eq!(
            exec_refusal(&b[..64], size),
            Some(ExecRefusal::ProgramHeadersBeyondEnd)
        );
        let info = parse(&b[..], size).unwrap().unwrap();
        assert_eq!(info.linkage(), Linkage::NotLoadable);
        assert_eq!(
            verify_glibc(&info, Expect::of(&info)),
            Verdict::Fatal("cannot read file data")
        );
    }

    #[test]
    fn not_elf_is_none() {
        assert!(parse(&b"#!/bin/sh\n"[..], 10).unwrap().is_none());
    }
}
