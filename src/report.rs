//! `kaudit allowlist`, `why`, `rdeps` and `writable`: the closure and what
//! is read out of it.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use kaudit_graph::{Db, DbError, StoredScan};
use kaudit_reports::cache::Cache;
use kaudit_reports::closure::{self, Closure};
use kaudit_reports::graph::Graph;
use kaudit_reports::pages::{self, PackageFiles, PkgFile, Site};
use kaudit_reports::profile::Profile;
use kaudit_reports::runs::{self, Selection};
use kaudit_reports::units::human;
use kaudit_reports::{show, why, writable};

use crate::cli::{AllowlistArgs, Cli, DocsArgs, RdepsArgs, ReportFormat, WhyArgs, WritableArgs};

fn open(cli: &Cli) -> Result<(Db, StoredScan)> {
    let db = Db::open(&cli.db, false)?;
    // one read transaction for the whole command (one lock, one snapshot of
    // the graph, instead of one per query) over a memory-mapped file
    db.connection()
        .execute_batch("PRAGMA mmap_size = 4294967296; PRAGMA cache_size = -262144; BEGIN;")
        .with_context(|| format!("reading {}", cli.db.display()))?;
    let scan = db.scan_info()?.ok_or_else(|| DbError::NoScan {
        path: cli.db.clone(),
    })?;
    Ok((db, scan))
}

/// The runs a report reads (the profile's, or every complete one), with
/// what was said about the choice printed.
pub(crate) fn select(db: &Db, profile: Option<&Profile>) -> Result<Selection> {
    let sel = match profile {
        Some(p) => runs::for_profile(db, p)?,
        None => runs::every_complete(db)?,
    };
    for n in &sel.notes {
        eprintln!("kaudit: {n}");
    }
    for r in &sel.runs {
        crate::say::detail(format_args!(
            "reading run {} {:?} ({}{})",
            r.id,
            r.name,
            r.status,
            if r.complete { "" } else { ", incomplete" }
        ));
    }
    Ok(sel)
}

fn load_profile(p: Option<&Path>) -> Result<Option<Profile>> {
    Ok(match p {
        Some(p) => Some(Profile::load(p)?),
        None => None,
    })
}

/// A path as given on the command line, inside the scanned root: a host
/// path under the root is taken inside it; a trailing slash is dropped.
fn inner_path(scan: &StoredScan, p: &Path) -> Result<Vec<u8>> {
    let mut b = p.as_os_str().as_bytes().to_vec();
    if !b.starts_with(b"/") {
        bail!(
            "{}: give the path as it is inside the root, starting with /",
            p.display()
        );
    }
    if let Some(inner) = kaudit_reports::within_root(&scan.root, &b) {
        b = inner;
    }
    while b.len() > 1 && b.ends_with(b"/") {
        b.pop();
    }
    Ok(b)
}

/// The packages owning `path`, joined (`None`: no package).
pub(crate) fn owners(db: &Db, path: &[u8]) -> Option<String> {
    let o = db.owners(path).ok()?;
    (!o.is_empty()).then(|| o.join(", "))
}

/// The entry a command-line path names in the root (directory symlinks
/// resolved, as a process asking for it would), said when it differs.
fn entry_path(graph: &mut Graph<'_>, scan: &StoredScan, p: &Path) -> Result<Vec<u8>> {
    let given = inner_path(scan, p)?;
    match graph.canonical(&given)? {
        Some(c) if c != given => {
            eprintln!("kaudit: {} is {} in the root", show(&given), show(&c));
            Ok(c)
        }
        _ => Ok(given),
    }
}

fn kind_counts(c: &Closure) -> (usize, usize, usize, usize) {
    let (mut f, mut d, mut l, mut o) = (0, 0, 0, 0);
    for (_, e) in c.listed() {
        match e.file.kind.as_str() {
            "file" => f += 1,
            "dir" => d += 1,
            "symlink" => l += 1,
            _ => o += 1,
        }
    }
    (f, d, l, o)
}

/// `kaudit allowlist`.
pub(crate) fn allowlist(cli: &Cli, a: &AllowlistArgs) -> Result<i32> {
    let (db, scan) = open(cli)?;
    let profile = Profile::load(&a.profile)?;
    let sel = select(&db, Some(&profile))?;
    let mut graph = Graph::new(&db);
    let mut c = crate::say::timed("closure", || {
        closure::compute(&mut graph, &sel.runs, Some(&profile))
    })?;
    remember(&db, &sel, &profile, &c);
    if a.proven {
        let said = only_proven(&db, &profile, &mut c)?;
        crate::say::note(format_args!("{said}"));
    }
    let body = match a.format {
        ReportFormat::Text => {
            let sep = if a.null { b'\0' } else { b'\n' };
            let mut out = Vec::with_capacity(c.entries.len() * 48);
            // the root directory itself is the image, not an entry of it
            // (rsync would list its contents, `.` or `/` alike)
            for (p, _) in c.listed() {
                if !a.null && p.contains(&b'\n') {
                    bail!(
                        "{} contains a newline, which a line-per-path list cannot hold; use --null",
                        show(p)
                    );
                }
                if a.relative {
                    out.extend_from_slice(&p[1..]);
                } else {
                    out.extend_from_slice(p);
                }
                out.push(sep);
            }
            out
        }
        ReportFormat::Json => {
            let mut v = serde_json::to_vec_pretty(&json(&db, &profile, &scan, &c))?;
            v.push(b'\n');
            v
        }
    };
    match &a.out {
        Some(path) => write_atomically(path, &body)?,
        None => {
            let mut out = crate::printer::stdout();
            out.write_all(&body)?;
            out.flush()?;
        }
    }
    if !crate::say::quiet() {
        eprint!("{}", summary(&profile, &scan, &c));
    }
    Ok(0)
}

/// Each proven entry's proof kind and what shows it, by path.
pub(crate) type ProofMap = std::collections::BTreeMap<Vec<u8>, (String, String)>;

/// The last proof of `profile`; `None` when the profile was never proven.
pub(crate) fn proof_map(db: &Db, profile: &str) -> Result<Option<ProofMap>> {
    Ok(db.proofs(profile)?.map(|(_, rows)| {
        rows.into_iter()
            .map(|r| (r.path, (r.kind, r.detail)))
            .collect()
    }))
}

/// Leave out of `c` the entries the last proof of `profile` did not show
/// necessary (`--proven`); an entry kept since has no proof yet and stays.
/// Says what was left out; an error when the profile was never proven.
pub(crate) fn only_proven(
    db: &Db,
    profile: &Profile,
    c: &mut kaudit_reports::closure::Closure,
) -> Result<String> {
    let Some((run, proofs)) = db.proofs(&profile.name)? else {
        bail!(
            "profile {} has no proofs in {}: run kaudit prove --profile FILE --root IMAGE first",
            profile.name,
            db.path().display(),
        );
    };
    let unproven: std::collections::HashSet<&[u8]> = proofs
        .iter()
        .filter(|r| r.kind == "unproven")
        .map(|r| r.path.as_slice())
        .collect();
    let proven: std::collections::HashSet<&[u8]> =
        proofs.iter().map(|r| r.path.as_slice()).collect();
    let before = c.listed().count();
    let new = c
        .listed()
        .filter(|(p, _)| !proven.contains(p.as_slice()))
        .count();
    c.entries.retain(|p, _| !unproven.contains(p.as_slice()));
    Ok(format!(
        "--proven: {} entries not shown necessary left out (the proof of {}, {} replays); {new} kept entries have no proof yet and stay",
        before - c.listed().count(),
        show(&run.image),
        run.replays,
    ))
}

/// Write `body` to `path` through a temporary file beside it, renamed into
/// place: a reader never sees half a list.
fn write_atomically(path: &Path, body: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(body)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn summary(profile: &Profile, scan: &StoredScan, c: &Closure) -> String {
    let (f, d, l, o) = kind_counts(c);
    let bytes = c.bytes();
    let mut s = format!(
        "kaudit: profile {}: {} entries ({f} files, {d} directories, {l} symlinks{}), {} of {} in the root ({:.1}%)\n",
        profile.name,
        c.listed().count(),
        if o > 0 { format!(", {o} other") } else { String::new() },
        human(bytes),
        human(scan.bytes),
        if scan.bytes > 0 { bytes as f64 * 100.0 / scan.bytes as f64 } else { 0.0 },
    );
    if let Some(b) = profile.budget {
        let verdict = if bytes <= b {
            format!("within ({:.0}%)", bytes as f64 * 100.0 / b.max(1) as f64)
        } else {
            format!("OVER by {}", human(bytes - b))
        };
        s.push_str(&format!("kaudit:   budget {}: {verdict}\n", human(b)));
    }
    for r in &c.runs {
        let n = run_entries(c, r.id);
        s.push_str(&format!(
            "kaudit:   {} (run {}): {n} entries, {}\n",
            r.name,
            r.id,
            human(c.run_bytes(r.id))
        ));
    }
    let includes = c
        .entries
        .values()
        .filter(|e| e.reasons.iter().any(|r| r.code() == "include"))
        .count();
    if includes > 0 {
        s.push_str(&format!("kaudit:   includes: {includes} entries\n"));
    }
    let left = c.left_out();
    s.push_str(&format!(
        "kaudit:   left out: {} reached but excluded, {} reached but not in the root (pseudo files, files the runs created)\n",
        left.excluded, left.absent
    ));
    s
}

/// The entries kept from run `id`'s roots alone, counted as the allowlist
/// counts (the root directory is not an entry).
fn run_entries(c: &Closure, id: i64) -> usize {
    c.per_run
        .get(&id)
        .map_or(0, |x| x.iter().filter(|p| p.as_slice() != b"/").count())
}

fn json(db: &Db, profile: &Profile, scan: &StoredScan, c: &Closure) -> serde_json::Value {
    let entries: Vec<serde_json::Value> = c
        .listed()
        .map(|(p, e)| {
            let mut codes: Vec<&str> = e.reasons.iter().map(|r| r.code()).collect();
            codes.sort_unstable();
            codes.dedup();
            serde_json::json!({
                "path": show(p),
                "type": e.file.kind,
                "size": e.file.size,
                "mode": format!("{:o}", e.file.mode & 0o7777),
                "package": owners(db, p),
                "reasons": codes,
                "depth": e.depth,
            })
        })
        .collect();
    let (f, d, l, o) = kind_counts(c);
    serde_json::json!({
        "profile": profile.name,
        "root": show(&scan.root),
        "summary": {
            "entries": c.listed().count(),
            "files": f,
            "directories": d,
            "symlinks": l,
            "other": o,
            "bytes": c.bytes(),
            "root_bytes": scan.bytes,
            "budget": profile.budget,
            "runs": c.runs.iter().map(|r| serde_json::json!({
                "scenario": r.name,
                "run": r.id,
                "entries": run_entries(c, r.id),
                "bytes": c.run_bytes(r.id),
            })).collect::<Vec<_>>(),
            "excluded": c.left_out().excluded,
            "absent": c.left_out().absent,
        },
        "entries": entries,
    })
}

/// Store a computed closure for later `why` questions (best effort: a graph
/// that cannot be written to is only read).
fn remember(db: &Db, sel: &Selection, profile: &Profile, c: &Closure) {
    let r = Cache::new(db, &sel.runs, Some(profile)).and_then(|k| k.store(c));
    if let Err(e) = r {
        eprintln!("kaudit: note: the closure could not be stored for later questions: {e}");
    }
}

/// `kaudit why`.
pub(crate) fn why(cli: &Cli, a: &WhyArgs) -> Result<i32> {
    let (db, scan) = open(cli)?;
    let profile = load_profile(a.profile.as_deref())?;
    let sel = select(&db, profile.as_ref())?;
    let mut graph = Graph::new(&db);
    let path = entry_path(&mut graph, &scan, &a.path)?;
    // the closure stored by an earlier report, else computed and stored
    let mut cache = Cache::new(&db, &sel.runs, profile.as_ref())?;
    if !cache.present()? {
        let c = closure::compute_with(&mut graph, &sel.runs, profile.as_ref(), false)?;
        if let Err(e) = cache.store(&c) {
            eprintln!("kaudit: note: the closure could not be stored for later questions: {e}");
            return answer(
                a,
                &db,
                &mut graph,
                &mut &c,
                &c.dropped,
                &sel,
                profile.as_ref(),
                &path,
            );
        }
    }
    let dropped = cache.dropped(&path)?;
    answer(
        a,
        &db,
        &mut graph,
        &mut cache,
        &dropped,
        &sel,
        profile.as_ref(),
        &path,
    )
}

#[allow(clippy::too_many_arguments)]
fn answer(
    a: &WhyArgs,
    db: &Db,
    graph: &mut Graph<'_>,
    k: &mut dyn why::Kept,
    dropped: &[kaudit_reports::closure::Dropped],
    sel: &Selection,
    profile: Option<&Profile>,
    path: &[u8],
) -> Result<i32> {
    let mut out = crate::printer::stdout();
    // what the init system's configuration says of it (evidence, never a need)
    let init = why::init_facts(db, path)?;
    let Some(hops) = why::chain(k, path)? else {
        let f = why::facts(graph, k, dropped, &sel.runs, profile, path)?;
        match a.format {
            ReportFormat::Text => {
                out.write_all(why::render_facts(path, &f).as_bytes())?;
                out.write_all(why::render_init(&init).as_bytes())?;
            }
            ReportFormat::Json => {
                let v = serde_json::json!({"path": show(path), "kept": false, "facts": f, "init": init});
                serde_json::to_writer_pretty(&mut out, &v)?;
                out.write_all(b"\n")?;
            }
        }
        return Ok(1);
    };
    // what the last proof of the profile showed of it
    let proof = match profile {
        Some(p) => db
            .proofs(&p.name)?
            .and_then(|(_, rows)| rows.into_iter().find(|r| r.path == path)),
        None => None,
    };
    let proof_line = proof.as_ref().map(|r| match r.kind.as_str() {
        "unproven" => format!("not shown necessary: {}", r.detail),
        "replay" | "loader" => format!("necessary ({} proof): {}", r.kind, r.detail),
        "include" => format!("kept by an include: {}", r.detail),
        _ => format!("{}: {}", r.kind, r.detail),
    });
    let (reasons, more) = k.reasons(path)?.unwrap_or_default();
    // the reasons besides the one the chain starts with (the text says
    // how many; JSON says how many and lists those recorded)
    let others = reasons.len().saturating_sub(1) + more;
    match a.format {
        ReportFormat::Text => {
            if a.all {
                out.write_all(why::render_all(k, path)?.as_bytes())?;
            } else {
                let pkg = |p: &[u8]| owners(db, p);
                out.write_all(why::render_chain(&hops, &pkg).as_bytes())?;
                if let Some(ex) = why::explained(k, path)? {
                    writeln!(out, "explained through the graph:")?;
                    out.write_all(why::render_chain(&ex, &pkg).as_bytes())?;
                }
                if others > 0 {
                    writeln!(out, "({others} more reason(s): --all shows every chain)")?;
                }
            }
            out.write_all(why::render_init(&init).as_bytes())?;
            if let Some(l) = &proof_line {
                writeln!(out, "{l}")?;
            }
        }
        ReportFormat::Json => {
            let v = serde_json::json!({
                "path": show(path),
                "kept": true,
                "proof": proof.as_ref().map(|r| serde_json::json!({
                    "kind": r.kind, "scenario": r.scenario, "step": r.step, "detail": r.detail,
                })),
                "chain": hops,
                "reasons": reasons,
                "reasons_total": reasons.len() + more,
                "more_reasons": others,
                "init": init,
            });
            serde_json::to_writer_pretty(&mut out, &v)?;
            out.write_all(b"\n")?;
        }
    }
    Ok(0)
}

/// `kaudit rdeps`.
pub(crate) fn rdeps(cli: &Cli, a: &RdepsArgs) -> Result<i32> {
    let (db, scan) = open(cli)?;
    let profile = load_profile(a.profile.as_deref())?;
    let sel = select(&db, profile.as_ref())?;
    let mut graph = Graph::new(&db);
    let path = entry_path(&mut graph, &scan, &a.path)?;
    let c = closure::compute(&mut graph, &sel.runs, profile.as_ref())?;
    let mut out = crate::printer::stdout();
    let Some(e) = c.entries.get(&path) else {
        let f = why::facts(
            &mut graph,
            &mut &c,
            &c.dropped,
            &c.runs,
            profile.as_ref(),
            &path,
        )?;
        out.write_all(why::render_facts(&path, &f).as_bytes())?;
        return Ok(1);
    };
    let lost = closure::kept_only_through(&mut graph, &c, profile.as_ref(), &path)?;
    let scenarios: Vec<String> = c
        .runs
        .iter()
        .filter(|r| c.per_run.get(&r.id).is_some_and(|s| s.contains(&path)))
        .map(|r| format!("{} (run {})", r.name, r.id))
        .collect();
    let lost_bytes: u64 = lost
        .iter()
        .filter_map(|p| c.entries.get(p))
        .filter(|e| e.file.kind == "file")
        .map(|e| e.file.size)
        .sum();
    match a.format {
        ReportFormat::Text => {
            let mut s = format!("removing {} breaks:\n", show(&path));
            s.push_str("  what needs it directly:\n");
            for r in &e.reasons {
                s.push_str(&format!("    {}\n", why::describe(r)));
            }
            if e.more > 0 {
                s.push_str(&format!("    … and {} more\n", e.more));
            }
            if !scenarios.is_empty() {
                s.push_str(&format!(
                    "  scenarios that need it: {}\n",
                    scenarios.join(", ")
                ));
            }
            s.push_str(&format!(
                "  entries kept only through it: {} ({})\n",
                lost.len(),
                human(lost_bytes)
            ));
            for p in &lost {
                s.push_str(&format!("    {}\n", show(p)));
            }
            // the units (and what enables them) that start it
            let init = why::init_facts(&db, &path)?;
            if !init.is_empty() {
                s.push_str("  the init system starts it:\n");
                for l in why::render_init(&init).lines() {
                    s.push_str(&format!("    {}\n", l.trim_start_matches("init system: ")));
                }
            }
            out.write_all(s.as_bytes())?;
        }
        ReportFormat::Json => {
            let v = serde_json::json!({
                "path": show(&path),
                "needed_by": e.reasons,
                "more": e.more,
                "scenarios": scenarios,
                "kept_only_through": lost.iter().map(|p| show(p)).collect::<Vec<_>>(),
                "bytes_kept_only_through": lost_bytes,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
    }
    Ok(0)
}

/// `kaudit writable`.
pub(crate) fn writable(cli: &Cli, a: &WritableArgs) -> Result<i32> {
    let (db, _scan) = open(cli)?;
    let profile = load_profile(a.profile.as_deref())?;
    let sel = select(&db, profile.as_ref())?;
    let mut graph = Graph::new(&db);
    let w = writable::writable(&mut graph, &sel.runs)?;
    let mut out = crate::printer::stdout();
    match a.format {
        ReportFormat::Text => {
            for x in &w {
                let kinds: Vec<String> = x.writes.iter().map(|(k, n)| format!("{k} {n}")).collect();
                writeln!(out, "{:<10} {}", x.class, x.path)?;
                writeln!(out, "           {}; writes: {}", x.why, kinds.join(", "))?;
                if !x.in_root {
                    writeln!(
                        out,
                        "           not in the image: created at run time under {}",
                        x.base
                    )?;
                }
                writeln!(out, "           e.g. {}", x.example)?;
            }
        }
        ReportFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&w)?)?,
    }
    Ok(0)
}

/// `kaudit docs`.
pub(crate) fn docs(cli: &Cli, a: &DocsArgs) -> Result<i32> {
    let (db, scan) = open(cli)?;
    let profile = Profile::load(&a.profile)?;
    let sel = select(&db, Some(&profile))?;
    let mut graph = Graph::new(&db);
    let c = crate::say::timed("closure", || {
        closure::compute(&mut graph, &sel.runs, Some(&profile))
    })?;
    let w = writable::writable(&mut graph, &sel.runs)?;
    remember(&db, &sel, &profile, &c);
    let needs = crate::say::timed("direct needs for graph.svg", || {
        pages::needs(&mut graph, &c)
    })?;
    let packages = crate::say::timed("packages and their files", || -> Result<_> {
        let mut packages = Vec::new();
        for p in db.packages()? {
            let mut files = Vec::new();
            for f in db.package_files(p.id)? {
                let dir_link = f.kind == "symlink" && graph.is_dir_link(&f.path)?;
                files.push(PkgFile {
                    path: f.path,
                    kind: f.kind,
                    size: f.size,
                    dir_link,
                });
            }
            packages.push(PackageFiles {
                name: p.name,
                version: p.version,
                files,
            });
        }
        Ok(packages)
    })?;
    let proofs = proof_map(&db, &profile.name)?;
    let site = Site {
        profile: &profile,
        root: &scan.root,
        root_entries: scan.entries,
        root_bytes: scan.bytes,
        closure: &c,
        writable: &w,
        packages: &packages,
        needs: &needs,
        proofs: proofs.as_ref(),
    };
    let written = pages::write(&site, &a.out)
        .with_context(|| format!("writing the pages into {}", a.out.display()))?;
    crate::say::note(format_args!(
        "{} page(s) and pictures written to {} ({} kept entries, {})",
        written.len(),
        a.out.display(),
        c.listed().count(),
        human(c.bytes())
    ));
    if !written.iter().any(|p| p == Path::new("book.toml")) {
        crate::say::note(format_args!(
            "{} is not the one kaudit writes: left as it is",
            a.out.join("book.toml").display()
        ));
    }
    crate::say::detail(format_args!(
        "{} runs read, {} arrows in graph.svg",
        sel.runs.len(),
        needs.len()
    ));
    for p in &written {
        crate::say::detail(format_args!("wrote {}", a.out.join(p).display()));
    }
    Ok(0)
}
