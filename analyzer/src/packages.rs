//! The root's installed-package databases: which package owns each entry.
//!
//! Gentoo (Portage's installed-package database): `/var/db/pkg/CATEGORY/PF/`
//! with `CONTENTS` (`dir PATH`, `obj PATH MD5 MTIME`, `sym PATH -> TARGET
//! MTIME`, `fif PATH`, `dev PATH`; paths may hold spaces, so the fields
//! after a path are taken from the right), `SIZE`, `SLOT` and `NEEDED.ELF.2`
//! (`ARCH;PATH;SONAME;RUNPATH;NEEDED;MULTILIB`). Portage 3.0.82 and later
//! may also write a consolidated `metadata` file in the same directory:
//! `KEY=value` lines (one per single-line field, `SIZE` and `SLOT` among
//! them; `CONTENTS` and `NEEDED.ELF.2` stay files of their own) and `#`
//! header lines, one of them `#dir_mtime=NS`. Like Portage, the file is
//! believed only while that stamp equals the directory's modification time
//! in nanoseconds; a stale or absent one leaves the single files to say it.
//!
//! dpkg: `/var/lib/dpkg/status` (installed packages, their versions and
//! architectures), `/var/lib/dpkg/info/NAME.list` or `NAME:ARCH.list` (the
//! paths each package installed) and `/var/lib/dpkg/diversions`. Paths are
//! read inside the root like everything else; each listed path is mapped to
//! the entry it names in the root, its directories resolved (a usrmerged
//! root lists `/bin/dash` for the file at `/usr/bin/dash`), its last
//! component not followed.

use std::collections::HashMap;

use crate::rootfs::{resolve, FsView, Root};

/// Largest package-database file read.
const LIMIT: u64 = 256 << 20;

/// A path a package owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    /// The entry in the root (directories resolved).
    pub path: Vec<u8>,
    /// The path as the database lists it.
    pub listed: Vec<u8>,
    /// What the database says it is: `dir`, `obj`, `sym`, `fif`, `dev`
    /// (Gentoo), or empty (dpkg lists paths only).
    pub kind: String,
}

/// What a Gentoo package's `NEEDED.ELF.2` says of one of its ELF files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needed {
    /// The file, as listed.
    pub path: Vec<u8>,
    /// Its `DT_NEEDED` names.
    pub needed: Vec<Vec<u8>>,
}

/// An installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// Name (`libseccomp2`).
    pub name: String,
    /// Version.
    pub version: Option<String>,
    /// Architecture (`amd64`, `all`).
    pub arch: Option<String>,
    /// Which database: `dpkg` or `portage`.
    pub db: &'static str,
    /// The entries it owns that exist in the root.
    pub files: Vec<Owned>,
    /// Bytes of its regular files, as the database says (`SIZE`).
    pub size: Option<u64>,
    /// Its slot (Gentoo `SLOT`, without a sub-slot).
    pub slot: Option<String>,
    /// Its `NEEDED.ELF.2` (Gentoo).
    pub needed: Vec<Needed>,
}

/// What the root's package databases say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packages {
    /// Installed packages, sorted by name.
    pub packages: Vec<Package>,
    /// Problems met (a list that cannot be read…), one sentence each.
    pub problems: Vec<String>,
}

/// One stanza of `status`: the installed ones only.
fn status(text: &[u8]) -> Vec<(String, Option<String>, Option<String>)> {
    let text = String::from_utf8_lossy(text);
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut name = None;
        let mut version = None;
        let mut arch = None;
        let mut installed = false;
        for line in stanza.lines() {
            if let Some(v) = line.strip_prefix("Package: ") {
                name = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("Version: ") {
                version = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("Architecture: ") {
                arch = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("Status: ") {
                // "want flag status": owned files are those of installed
                // packages and of ones whose removal left files behind
                let st = v.split_whitespace().nth(2).unwrap_or("");
                installed = matches!(
                    st,
                    "installed"
                        | "half-configured"
                        | "unpacked"
                        | "half-installed"
                        | "triggers-awaited"
                        | "triggers-pending"
                );
            }
        }
        if let (Some(n), true) = (name, installed) {
            out.push((n, version, arch));
        }
    }
    out
}

/// `diversions`: (path, diverted to, diverting package or `:` for a local
/// diversion), three lines each.
fn diversions(text: &[u8]) -> HashMap<Vec<u8>, (Vec<u8>, Vec<u8>)> {
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    let mut out = HashMap::new();
    for t in lines.chunks(3) {
        if let [from, to, by] = t {
            if !from.is_empty() {
                out.insert(from.to_vec(), (to.to_vec(), by.to_vec()));
            }
        }
    }
    out
}

/// Read the package databases of `root` (`view` is its index): Portage's
/// and dpkg's. A root without either has no packages.
pub fn read(root: &Root, view: &dyn FsView) -> Packages {
    let mut out = Packages::default();
    read_portage(root, view, &mut out);
    read_dpkg(root, view, &mut out);
    out.packages
        .sort_by(|a, b| a.name.cmp(&b.name).then(a.arch.cmp(&b.arch)));
    out
}

/// Split a Portage `PF` (`libseccomp-2.5.4-r1`) into name and version: the
/// version starts at the first `-` followed by a digit whose remainder
/// looks like a version.
fn split_pf(pf: &str) -> (String, Option<String>) {
    let b = pf.as_bytes();
    for i in 0..b.len() {
        if b[i] == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            let v = &pf[i + 1..];
            let core = v.split("-r").next().unwrap_or(v);
            if core
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
            {
                return (pf[..i].to_string(), Some(v.to_string()));
            }
        }
    }
    (pf.to_string(), None)
}

/// One line of `CONTENTS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentsLine<'a> {
    /// `dir`, `obj`, `sym`, `fif` or `dev`.
    pub kind: &'a str,
    /// The path.
    pub path: &'a [u8],
    /// A symlink's target.
    pub target: Option<&'a [u8]>,
}

/// Parse one line of `CONTENTS`.
pub fn contents_line(line: &[u8]) -> Option<ContentsLine<'_>> {
    contents_fields(line).map(|(kind, path, target)| ContentsLine { kind, path, target })
}

type Fields<'a> = (&'a str, &'a [u8], Option<&'a [u8]>);

fn contents_fields(line: &[u8]) -> Option<Fields<'_>> {
    let (kind, rest) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => return None,
    };
    let kind = std::str::from_utf8(kind).ok()?;
    // the fields after the path, taken from the right
    let drop_last = |r: &[u8], n: usize| -> Option<usize> {
        let mut end = r.len();
        for _ in 0..n {
            end = r[..end].iter().rposition(|&b| b == b' ')?;
        }
        Some(end)
    };
    match kind {
        "dir" | "fif" | "dev" => Some((kind, rest, None)),
        "obj" => Some((kind, &rest[..drop_last(rest, 2)?], None)),
        "sym" => {
            let r = &rest[..drop_last(rest, 1)?];
            let at = r.windows(4).rposition(|w| w == b" -> ")?;
            Some((kind, &r[..at], Some(&r[at + 4..])))
        }
        _ => None,
    }
}

/// One line of `NEEDED.ELF.2`.
fn needed_line(line: &[u8]) -> Option<Needed> {
    let f: Vec<&[u8]> = line.split(|&b| b == b';').collect();
    if f.len() < 5 {
        return None;
    }
    Some(Needed {
        path: f[1].to_vec(),
        needed: f[4]
            .split(|&b| b == b',')
            .filter(|n| !n.is_empty())
            .map(<[u8]>::to_vec)
            .collect(),
    })
}

fn read_portage(root: &Root, view: &dyn FsView, out: &mut Packages) {
    let Ok(cats) = root.list_dir(b"/var/db/pkg") else {
        return;
    };
    let mut cats = cats;
    cats.sort();
    for cat in cats {
        let cdir = [&b"/var/db/pkg/"[..], &cat].concat();
        let Ok(mut pfs) = root.list_dir(&cdir) else {
            continue;
        };
        pfs.sort();
        for pf in pfs {
            let dir = [&cdir[..], b"/", &pf].concat();
            let file = |n: &str| root.read_file(&[&dir[..], b"/", n.as_bytes()].concat(), LIMIT);
            let Ok(contents) = file("CONTENTS") else {
                continue;
            };
            let (pn, version) = split_pf(&String::from_utf8_lossy(&pf));
            let name = format!("{}/{pn}", String::from_utf8_lossy(&cat));
            let mut files = Vec::new();
            for (i, line) in contents.split(|&b| b == b'\n').enumerate() {
                if line.is_empty() {
                    continue;
                }
                let Some(ContentsLine {
                    kind, path: listed, ..
                }) = contents_line(line)
                else {
                    out.problems.push(format!(
                        "{name}: CONTENTS line {}: not a dir, obj, sym, fif or dev entry",
                        i + 1
                    ));
                    continue;
                };
                let r = resolve(view, listed, b"/");
                if let Some(path) = r.named {
                    if r.target.is_ok() || view_has(view, &path) {
                        files.push(Owned {
                            path,
                            listed: listed.to_vec(),
                            kind: kind.to_string(),
                        });
                    }
                }
            }
            files.sort_by(|a, b| a.path.cmp(&b.path));
            files.dedup_by(|a, b| a.path == b.path);
            let meta = file("metadata").ok().and_then(|text| {
                let mtime = root.mtime_ns(&dir).ok()?;
                portage_metadata(&text, mtime)
            });
            // a field from the metadata file when it holds it, else from its own file
            let field = |key: &str| -> Option<String> {
                match meta.as_ref().and_then(|m| m.get(key)) {
                    Some(v) => Some(v.clone()),
                    None => file(key)
                        .ok()
                        .map(|t| String::from_utf8_lossy(&t).trim().to_string()),
                }
            };
            let size = field("SIZE").and_then(|t| t.trim().parse().ok());
            let slot = field("SLOT")
                .map(|s| s.split('/').next().unwrap_or_default().trim().to_string())
                .filter(|s| !s.is_empty());
            let needed = file("NEEDED.ELF.2")
                .map(|t| t.split(|&b| b == b'\n').filter_map(needed_line).collect())
                .unwrap_or_default();
            out.packages.push(Package {
                name,
                version,
                arch: None,
                db: "portage",
                files,
                size,
                slot,
                needed,
            });
        }
    }
}

/// The fields of a Portage `metadata` file, when its `#dir_mtime=` stamp
/// equals `dir_mtime_ns` (the package directory's modification time);
/// `None` for a stale or unstamped file.
fn portage_metadata(text: &[u8], dir_mtime_ns: i128) -> Option<HashMap<String, String>> {
    let text = std::str::from_utf8(text).ok()?;
    let mut stamp = None;
    let mut fields = HashMap::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix('#') {
            if let Some(v) = h.strip_prefix("dir_mtime=") {
                stamp = v.trim().parse::<i128>().ok();
            }
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            fields.insert(k.to_string(), v.to_string());
        }
    }
    (stamp == Some(dir_mtime_ns)).then_some(fields)
}

fn read_dpkg(root: &Root, view: &dyn FsView, out: &mut Packages) {
    let Ok(st) = root.read_file(b"/var/lib/dpkg/status", LIMIT) else {
        return;
    };
    let div = root
        .read_file(b"/var/lib/dpkg/diversions", LIMIT)
        .map(|t| diversions(&t))
        .unwrap_or_default();
    for (name, version, arch) in status(&st) {
        let qualified = arch.as_ref().map(|a| format!("{name}:{a}"));
        let list = qualified
            .iter()
            .map(|q| format!("/var/lib/dpkg/info/{q}.list"))
            .chain(std::iter::once(format!("/var/lib/dpkg/info/{name}.list")))
            .find_map(|p| root.read_file(p.as_bytes(), LIMIT).ok());
        let Some(list) = list else {
            // a package with no files (metapackages) has no list at all
            out.packages.push(Package {
                name,
                version,
                arch,
                db: "dpkg",
                files: Vec::new(),
                size: None,
                slot: None,
                needed: Vec::new(),
            });
            continue;
        };
        let mut files = Vec::new();
        for listed in list.split(|&b| b == b'\n') {
            if listed.is_empty() || listed == b"/." {
                continue;
            }
            // a file diverted by another package was installed under the
            // diverted name
            let at = match div.get(listed) {
                Some((to, by)) if by.as_slice() != name.as_bytes() => to.as_slice(),
                _ => listed,
            };
            let r = resolve(view, at, b"/");
            if let Some(path) = r.named {
                if r.target.is_ok() || view_has(view, &path) {
                    files.push(Owned {
                        path,
                        listed: listed.to_vec(),
                        kind: String::new(),
                    });
                }
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files.dedup_by(|a, b| a.path == b.path);
        out.packages.push(Package {
            name,
            version,
            arch,
            db: "dpkg",
            files,
            size: None,
            slot: None,
            needed: Vec::new(),
        });
    }
}

/// What the package databases say that disagrees with the root: files
/// (and symlinks) no package owns, entries two packages claim, and
/// `NEEDED.ELF.2` records that differ from the files' own `DT_NEEDED`.
/// Nothing when the root has no package database.
pub fn findings(
    pk: &Packages,
    index: &crate::rootfs::Index,
    elf: &std::collections::BTreeMap<Vec<u8>, std::sync::Arc<crate::elf::ElfInfo>>,
) -> Vec<crate::findings::Finding> {
    use crate::findings::{Code, Finding};
    use crate::rootfs::Kind;
    let mut out = Vec::new();
    if pk.packages.is_empty() {
        return out;
    }
    let mut owners: HashMap<&[u8], Vec<&str>> = HashMap::new();
    for p in &pk.packages {
        for f in &p.files {
            owners.entry(&f.path).or_default().push(&p.name);
        }
    }
    for e in index.entries() {
        if !matches!(e.meta.kind, Kind::File | Kind::Symlink) {
            continue;
        }
        match owners.get(e.path.as_slice()) {
            None => out.push(Finding::new(
                Code::UnownedFile,
                e.path.clone(),
                "no package owns it",
            )),
            // a directory every package lists, turned into a symlink
            // (usrmerge: /bin -> usr/bin): not a file two packages claim
            Some(_)
                if e.meta.kind == Kind::Symlink
                    && matches!(resolve(index, &e.path, b"/").target, Ok((_, ref m)) if m.kind == Kind::Dir) =>
                {}
            Some(o) if o.len() > 1 => {
                let mut o = o.clone();
                o.sort_unstable();
                o.dedup();
                if o.len() > 1 {
                    out.push(Finding::new(
                        Code::OwnedTwice,
                        e.path.clone(),
                        format!("claimed by {}", o.join(" and ")),
                    ));
                }
            }
            Some(_) => {}
        }
    }
    for p in &pk.packages {
        for n in &p.needed {
            let Some(path) = resolve(index, &n.path, b"/").named else {
                continue;
            };
            let Some(info) = elf.get(&path) else {
                continue;
            };
            if info.needed != n.needed {
                let list = |v: &[Vec<u8>]| {
                    v.iter()
                        .map(|x| String::from_utf8_lossy(x).into_owned())
                        .collect::<Vec<_>>()
                        .join(",")
                };
                out.push(Finding::new(
                    Code::NeededMismatch,
                    path,
                    format!(
                        "{}'s NEEDED.ELF.2 says {}, the file says {}",
                        p.name,
                        list(&n.needed),
                        list(&info.needed)
                    ),
                ));
            }
        }
    }
    out
}

/// Whether the root has an entry at `path` (a dangling symlink counts).
fn view_has(view: &dyn FsView, path: &[u8]) -> bool {
    view.lstat(path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_stanzas_only() {
        let s = status(
            b"Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n\nPackage: b\nStatus: deinstall ok config-files\nVersion: 2\n\nPackage: c\nStatus: install ok installed\n",
        );
        assert_eq!(
            s,
            vec![
                ("a".into(), Some("1".into()), Some("amd64".into())),
                ("c".into(), None, None)
            ]
        );
    }

    #[test]
    fn contents_lines_take_their_fields_from_the_right() {
        assert_eq!(
            contents_fields(
                b"obj /usr/share/a b c.txt d41d8cd98f00b204e9800998ecf8427e 1700000000"
            ),
            Some(("obj", &b"/usr/share/a b c.txt"[..], None))
        );
        assert_eq!(
            contents_fields(b"sym /usr/lib64/libz.so.1 -> libz.so.1.3 1700000000"),
            Some((
                "sym",
                &b"/usr/lib64/libz.so.1"[..],
                Some(&b"libz.so.1.3"[..])
            ))
        );
        assert_eq!(
            contents_line(b"dir /usr/share/my dir").map(|c| c.path),
            Some(&b"/usr/share/my dir"[..])
        );
        assert_eq!(contents_line(b"bogus"), None);
        assert_eq!(contents_line(b"obj /only-one-field 123"), None);
    }

    #[test]
    fn portage_package_names_and_versions() {
        assert_eq!(
            split_pf("libseccomp-2.5.4-r1"),
            ("libseccomp".into(), Some("2.5.4-r1".into()))
        );
        assert_eq!(
            split_pf("font-util-1.4.1"),
            ("font-util".into(), Some("1.4.1".into()))
        );
        assert_eq!(
            split_pf("gtk+-3.24.41"),
            ("gtk+".into(), Some("3.24.41".into()))
        );
        assert_eq!(split_pf("noversion"), ("noversion".into(), None));
        let n = needed_line(b"X86_64;/usr/bin/runc;;;libseccomp.so.2,libc.so.6;x86_64").unwrap();
        assert_eq!(n.path, b"/usr/bin/runc");
        assert_eq!(
            n.needed,
            vec![b"libseccomp.so.2".to_vec(), b"libc.so.6".to_vec()]
        );
    }

    #[test]
    fn portage_metadata_is_believed_only_with_the_directorys_stamp() {
        let text = b"#format=1\n#dir_mtime=1700000000123456789\nSLOT=3.11/3.11\nSIZE=4096\nrepository=gentoo\n";
        let m = portage_metadata(text, 1_700_000_000_123_456_789).unwrap();
        assert_eq!(m["SLOT"], "3.11/3.11");
        assert_eq!(m["SIZE"], "4096");
        assert_eq!(m["repository"], "gentoo");
        assert!(portage_metadata(text, 1_700_000_000_123_456_788).is_none());
        assert!(portage_metadata(b"SLOT=0\n", 0).is_none());
    }

    #[test]
    fn diversion_triples() {
        let d = diversions(b"/bin/sh\n/bin/sh.distrib\ndash\n/usr/bin/x\n/usr/bin/x.real\n:\n");
        assert_eq!(
            d.get(&b"/bin/sh"[..]),
            Some(&(b"/bin/sh.distrib".to_vec(), b"dash".to_vec()))
        );
        assert_eq!(d.len(), 2);
    }
}
