//! Minimal x86-64 shared objects written directly, for roots with thousands
//! of libraries (compiling each with `cc` would take minutes): an ELF header,
//! one `PT_LOAD` covering the whole file, a `PT_DYNAMIC`, and a dynamic
//! section with `DT_NEEDED`, `DT_SONAME`, `DT_RPATH`, a string table, one
//! null symbol and a one-bucket `DT_HASH`. glibc's `ld.so` loads them (they
//! define nothing and relocate nothing). Shared by the integration tests and
//! `cargo xtask bench-scan-hostile`.

/// What one generated shared object says.
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedObject {
    /// `DT_SONAME`.
    pub(crate) soname: Option<String>,
    /// `DT_NEEDED`, in order.
    pub(crate) needed: Vec<String>,
    /// `DT_RPATH`.
    pub(crate) rpath: Option<String>,
}

const EHDR: usize = 64;
const PHDR: usize = 56;

fn put(buf: &mut [u8], at: usize, v: u64, width: usize) {
    buf[at..at + width].copy_from_slice(&v.to_le_bytes()[..width]);
}

impl SharedObject {
    /// The file's bytes.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        // string table: NUL, then every string
        let mut strtab = vec![0u8];
        let mut add = |s: &str| {
            let at = strtab.len() as u64;
            strtab.extend_from_slice(s.as_bytes());
            strtab.push(0);
            at
        };
        let mut dynamic: Vec<(u64, u64)> = Vec::new();
        for n in &self.needed {
            dynamic.push((1, add(n))); // DT_NEEDED
        }
        if let Some(s) = &self.soname {
            dynamic.push((14, add(s))); // DT_SONAME
        }
        if let Some(r) = &self.rpath {
            dynamic.push((15, add(r))); // DT_RPATH
        }
        let phoff = EHDR;
        let symtab = phoff + 2 * PHDR; // one null symbol (24 bytes)
        let hash = symtab + 24; // nbucket 1, nchain 1, bucket[0] 0, chain[0] 0
        let strtab_at = hash + 16;
        let mut dyn_at = strtab_at + strtab.len();
        dyn_at = (dyn_at + 7) & !7;
        let fixed = [
            (5, strtab_at as u64),     // DT_STRTAB
            (10, strtab.len() as u64), // DT_STRSZ
            (6, symtab as u64),        // DT_SYMTAB
            (11, 24),                  // DT_SYMENT
            (4, hash as u64),          // DT_HASH
            (0, 0),                    // DT_NULL
        ];
        dynamic.extend(fixed);
        let dyn_size = dynamic.len() * 16;
        let total = dyn_at + dyn_size;
        let mut b = vec![0u8; total];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2; // ELFCLASS64
        b[5] = 1; // little-endian
        b[6] = 1; // EV_CURRENT
        put(&mut b, 16, 3, 2); // ET_DYN
        put(&mut b, 18, 62, 2); // EM_X86_64
        put(&mut b, 20, 1, 4);
        put(&mut b, 32, phoff as u64, 8);
        put(&mut b, 52, EHDR as u64, 2);
        put(&mut b, 54, PHDR as u64, 2);
        put(&mut b, 56, 2, 2);
        put(&mut b, 58, 64, 2); // e_shentsize, no sections
                                // PT_LOAD: the whole file at address 0, read and write
        let ph = phoff;
        put(&mut b, ph, 1, 4);
        put(&mut b, ph + 4, 6, 4);
        put(&mut b, ph + 32, total as u64, 8);
        put(&mut b, ph + 40, total as u64, 8);
        put(&mut b, ph + 48, 0x1000, 8);
        // PT_DYNAMIC
        let ph = phoff + PHDR;
        put(&mut b, ph, 2, 4);
        put(&mut b, ph + 4, 6, 4);
        for off in [8, 16, 24] {
            put(&mut b, ph + off, dyn_at as u64, 8);
        }
        put(&mut b, ph + 32, dyn_size as u64, 8);
        put(&mut b, ph + 40, dyn_size as u64, 8);
        put(&mut b, ph + 48, 8, 8);
        put(&mut b, hash, 1, 4);
        put(&mut b, hash + 4, 1, 4);
        b[strtab_at..strtab_at + strtab.len()].copy_from_slice(&strtab);
        for (i, (tag, val)) in dynamic.iter().enumerate() {
            put(&mut b, dyn_at + i * 16, *tag, 8);
            put(&mut b, dyn_at + i * 16 + 8, *val, 8);
        }
        b
    }
}

/// `lib{prefix}{i}.so`: the name of the i-th library of a generated set.
pub(crate) fn lib_name(prefix: &str, i: usize) -> String {
    format!("lib{prefix}{i}.so")
}

/// `n` libraries each needing all `n` (itself included), as (name, object).
pub(crate) fn fully_connected(prefix: &str, n: usize) -> Vec<(String, SharedObject)> {
    let names: Vec<String> = (0..n).map(|i| lib_name(prefix, i)).collect();
    names
        .iter()
        .map(|name| {
            let o = SharedObject {
                soname: Some(name.clone()),
                needed: names.clone(),
                rpath: None,
            };
            (name.clone(), o)
        })
        .collect()
}

/// `n` libraries, the i-th needing the (i+1)-th.
pub(crate) fn chain(prefix: &str, n: usize) -> Vec<(String, SharedObject)> {
    (0..n)
        .map(|i| {
            let o = SharedObject {
                soname: Some(lib_name(prefix, i)),
                needed: if i + 1 < n {
                    vec![lib_name(prefix, i + 1)]
                } else {
                    Vec::new()
                },
                rpath: None,
            };
            (lib_name(prefix, i), o)
        })
        .collect()
}
