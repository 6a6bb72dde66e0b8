//! musl's dynamic loader (`ldso/dynlink.c`, `load_library`), offline.
//!
//! Names starting with `libc.`, `libpthread.`, `librt.`, `libm.`, `libdl.`,
//! `libutil.`, `libxnet.` and the loader's own name are the loader itself.
//! A name with `/` is opened as given. Otherwise an already-loaded object
//! matches by the *basename it was found under* (DT_SONAME is ignored); then
//! `LD_LIBRARY_PATH`, then the RPATH — or RUNPATH when both exist — of the
//! requesting object and of each object up its `needed_by` chain (both are
//! inherited), then the system path from `etc/ld-musl-ARCH.path` beside the
//! loader's directory (`/lib:/usr/local/lib:/usr/lib` when there is none).
//! Only `$ORIGIN` is understood; any other `$` voids that object's path list.
//! A file of the wrong architecture found first fails the dependency: there
//! is no skip as in glibc. Objects found twice (same device and inode) load once.

use super::{Closure, Edge, Match, Object, Probe, Resolver, Rule};
use crate::bytes;
use crate::findings::{Code, Finding};

const RESERVED: &[&[u8]] = &[
    b"c.",
    b"pthread.",
    b"rt.",
    b"m.",
    b"dl.",
    b"util.",
    b"xnet.",
];

fn is_reserved(name: &[u8]) -> bool {
    name.strip_prefix(b"lib")
        .is_some_and(|rest| RESERVED.iter().any(|r| rest.starts_with(r)))
}

/// `fixup_rpath`: `$ORIGIN`/`${ORIGIN}` only; anything else voids the list.
fn rpath_of(c: &Closure, idx: usize) -> Option<Vec<u8>> {
    let o = &c.objects[idx];
    let info = o.info.as_ref()?;
    let raw = info.runpath.as_ref().or(info.rpath.as_ref())?;
    if !raw.contains(&b'$') {
        return Some(raw.clone());
    }
    let mut out = Vec::new();
    let mut i = 0;
    let origin = o.origin.clone().unwrap_or_else(|| b".".to_vec());
    while i < raw.len() {
        if raw[i] == b'$' {
            let rest = &raw[i..];
            if rest.starts_with(b"$ORIGIN") {
                out.extend_from_slice(&origin);
                i += 7;
            } else if rest.starts_with(b"${ORIGIN}") {
                out.extend_from_slice(&origin);
                i += 9;
            } else {
                return None;
            }
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Some(out)
}

enum Outcome {
    Found(Box<super::Opened>, Vec<u8>),
    Missing,
}

/// `path_open`: the first directory where `dir/name` opens.
fn path_open(r: &Resolver<'_>, list: &[u8], name: &[u8]) -> Outcome {
    for dir in list.split(|b| *b == b':' || *b == b'\n') {
        if dir.is_empty() {
            continue;
        }
        let path = [dir, b"/", name].concat();
        let o = r.open(&path);
        match &o.probe {
            Probe::Missing(_) | Probe::Unreadable(_) => continue,
            _ => return Outcome::Found(Box::new(o), path),
        }
    }
    Outcome::Missing
}

fn check(o: &super::Opened, expect: crate::elf::Expect) -> Result<(), String> {
    match &o.probe {
        Probe::Elf(i)
            if i.class64 == expect.class64 && i.machine == expect.machine && i.is_loadable() =>
        {
            Ok(())
        }
        Probe::Elf(_) => Err("not an object of this loader's architecture".into()),
        Probe::Dir => Err("is a directory".into()),
        Probe::NotElf { .. } => Err("not an ELF file".into()),
        Probe::Malformed(m) => Err(m.clone()),
        Probe::Special(k) => Err(format!("is a {}", k.as_str())),
        Probe::Missing(e) => Err(e.to_string()),
        Probe::Unreadable(m) => Err(m.clone()),
    }
}

/// Fill `c` with the closure of its main object.
/// With `direct`, only the main object's own needs are resolved.
pub(super) fn closure(r: &Resolver<'_>, c: &mut Closure, interp: &[u8], direct: bool) {
    let cfg = r.musl_config_for(interp);
    let Some(main_info) = c.objects[0].info.clone() else {
        return;
    };
    let expect = crate::elf::Expect::of(&main_info);
    let o = r.open(interp);
    let ldso_idx = c.objects.len();
    let ldso_ok = matches!(o.probe, Probe::Elf(_));
    if !ldso_ok {
        if main_info.interp.is_some() {
            super::missing_interpreter(c, interp, &o);
        } else {
            c.findings.push(Finding::new(
                Code::MissingInterpreter,
                c.path.clone(),
                format!(
                    "program interpreter {} is missing or not loadable",
                    bytes::display(interp)
                ),
            ));
        }
    }
    c.objects.push(Object {
        name: interp.to_vec(),
        path: interp.to_vec(),
        named: o.named(),
        file: o.file().map(<[u8]>::to_vec).unwrap_or_default(),
        needed_by: Some(0),
        rule: Rule::Interpreter,
        via: None,
        hops: o.res.prefix().to_vec(),
        alternatives: Vec::new(),
        info: None,
        dev_ino: o.meta.as_ref().map_or((0, 0), |m| (m.dev, m.ino)),
        names: vec![interp.to_vec()],
        soname_added: true,
        origin: None,
        faked: !ldso_ok,
        // a missing loader is listed for a program (the kernel needs it)
        visible: ldso_ok || main_info.interp.is_some(),
    });
    // musl lists the loader first
    let mut order = vec![0usize, ldso_idx];
    // main's shortname: none (it was given by path)
    let mut shortnames: Vec<Option<Vec<u8>>> = vec![None; c.objects.len()];
    let sys_rule = if cfg.from_path_file {
        Rule::MuslPathFile
    } else {
        Rule::MuslDefaultPath
    };
    let sys_path = cfg.sys_path.join(&b':');
    let mut qi = 0;
    while qi < order.len() && !(direct && qi > 0) {
        let l = order[qi];
        qi += 1;
        let Some(info) = c.objects[l].info.clone() else {
            continue;
        };
        for name in &info.needed {
            let edge = |to: Option<usize>, rule: Rule, via: Option<Vec<u8>>, matched| Edge {
                from: l,
                name: name.clone(),
                to,
                rule,
                via,
                matched,
            };
            if is_reserved(name) || name.as_slice() == interp {
                c.edges.push(edge(
                    Some(ldso_idx),
                    Rule::MuslReserved,
                    Some(interp.to_vec()),
                    None,
                ));
                continue;
            }
            let (outcome, rule, via) = if name.contains(&b'/') {
                let o = r.open(name);
                match &o.probe {
                    Probe::Missing(_) => (Outcome::Missing, Rule::Direct, None),
                    _ => (
                        Outcome::Found(Box::new(o), name.clone()),
                        Rule::Direct,
                        None,
                    ),
                }
            } else {
                if let Some(idx) = shortnames
                    .iter()
                    .position(|s| s.as_deref() == Some(name.as_slice()))
                {
                    let via = Some(c.objects[idx].path.clone());
                    c.edges
                        .push(edge(Some(idx), Rule::AlreadyLoaded, via, Some(Match::Name)));
                    continue;
                }
                let mut res = (Outcome::Missing, Rule::NotFound, None);
                let mut stop = false;
                if let Some(llp) = r.options().ld_library_path.clone() {
                    if let o @ Outcome::Found(..) = path_open(r, &llp, name) {
                        res = (o, Rule::LdLibraryPath, None);
                        stop = true;
                    }
                }
                let mut cur = Some(l);
                while !stop {
                    let Some(x) = cur else { break };
                    if let Some(rp) = rpath_of(c, x) {
                        if let o @ Outcome::Found(..) = path_open(r, &rp, name) {
                            let via = Some(c.objects[x].path.clone());
                            let info = c.objects[x].info.as_ref();
                            let rule = if info.is_some_and(|i| i.runpath.is_some()) {
                                Rule::Runpath
                            } else {
                                Rule::Rpath
                            };
                            res = (o, rule, via);
                            stop = true;
                        }
                    }
                    cur = c.objects[x].needed_by;
                }
                if !stop {
                    if let o @ Outcome::Found(..) = path_open(r, &sys_path, name) {
                        res = (o, sys_rule, None);
                    }
                }
                res
            };
            let (opened, path) = match outcome {
                Outcome::Found(o, p) => (o, p),
                Outcome::Missing => {
                    c.edges.push(edge(None, Rule::NotFound, None, None));
                    c.findings.push(Finding::new(
                        Code::UnresolvedNeeded,
                        c.objects[l].path.clone(),
                        format!(
                            "{} needs {}, which the loader does not find",
                            bytes::display(&c.objects[l].path),
                            bytes::display(name)
                        ),
                    ));
                    continue;
                }
            };
            if let Err(m) = check(&opened, expect) {
                c.edges.push(edge(None, Rule::NotFound, None, None));
                c.findings.push(Finding::new(
                    Code::LoadError,
                    path.clone(),
                    format!(
                        "error loading {} for {}: {m}",
                        bytes::display(name),
                        bytes::display(&c.objects[l].path)
                    ),
                ));
                continue;
            }
            let dev_ino = opened.meta.as_ref().map_or((0, 0), |m| (m.dev, m.ino));
            if let Some(idx) = c.objects.iter().position(|o| o.dev_ino == dev_ino) {
                if shortnames[idx].is_none() && !name.contains(&b'/') {
                    shortnames[idx] = Some(bytes::file_name(&path).to_vec());
                }
                let via = Some(c.objects[idx].path.clone());
                c.edges.push(edge(
                    Some(idx),
                    Rule::AlreadyLoaded,
                    via,
                    Some(Match::Inode),
                ));
                continue;
            }
            let info = match &opened.probe {
                Probe::Elf(i) => Some(i.clone()),
                _ => None,
            };
            let idx = c.objects.len();
            let abs = if path.starts_with(b"/") {
                path.clone()
            } else {
                bytes::join(&r.options().cwd, &path)
            };
            c.objects.push(Object {
                name: name.clone(),
                named: opened.named(),
                file: opened.file().map(<[u8]>::to_vec).unwrap_or_default(),
                path: path.clone(),
                needed_by: Some(l),
                rule,
                via: via.clone(),
                hops: opened.res.prefix().to_vec(),
                alternatives: Vec::new(),
                info,
                dev_ino,
                names: vec![name.clone()],
                soname_added: true,
                origin: Some(bytes::parent(&abs).to_vec()),
                faked: false,
                visible: true,
            });
            shortnames.push(if name.contains(&b'/') {
                None
            } else {
                Some(bytes::file_name(&path).to_vec())
            });
            order.push(idx);
            c.edges.push(edge(Some(idx), rule, via, None));
        }
    }
    c.order = order;
}
