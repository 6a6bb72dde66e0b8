//! The root's installed-package database: which package owns each entry.
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
    /// Which database: `dpkg`.
    pub db: &'static str,
    /// The entries it owns that exist in the root.
    pub files: Vec<Owned>,
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

/// Read the dpkg database of `root` (`view` is its index). A root without
/// one has no packages.
pub fn read(root: &Root, view: &dyn FsView) -> Packages {
    let mut out = Packages::default();
    let Ok(st) = root.read_file(b"/var/lib/dpkg/status", LIMIT) else {
        return out;
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
        });
    }
    out.packages
        .sort_by(|a, b| a.name.cmp(&b.name).then(a.arch.cmp(&b.arch)));
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
    fn diversion_triples() {
        let d = diversions(b"/bin/sh\n/bin/sh.distrib\ndash\n/usr/bin/x\n/usr/bin/x.real\n:\n");
        assert_eq!(
            d.get(&b"/bin/sh"[..]),
            Some(&(b"/bin/sh.distrib".to_vec(), b"dash".to_vec()))
        );
        assert_eq!(d.len(), 2);
    }
}
