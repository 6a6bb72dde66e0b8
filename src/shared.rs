//! What the commands share: the graph opened for a report, the runs and the
//! profile it reads, a path given on the command line placed in the root,
//! owners, proofs, scenarios found by name, package rows, files replaced
//! atomically, and the loader options.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use kaudit_graph::{Db, DbError, StoredScan};
use kaudit_reports::cache::Cache;
use kaudit_reports::closure::{self, Closure};
use kaudit_reports::graph::Graph;
use kaudit_reports::mask::{self, Installed, PackageMask};
use kaudit_reports::profile::Profile;
use kaudit_reports::runs::{self, Selection};
use kaudit_reports::show;

/// The graph opened for a report, in one read transaction, with its scan.
pub(crate) fn open(db_path: &Path) -> Result<(Db, StoredScan)> {
    let db = Db::open(db_path, false)?;
    // one read transaction for the whole command (one lock, one snapshot of
    // the graph, instead of one per query) over a memory-mapped file
    db.begin_read_snapshot()
        .map_err(|e| match e {
            // SQLite's own words, after the file named once
            DbError::Sqlite { source, .. } => anyhow::Error::new(source),
            other => other.into(),
        })
        .with_context(|| format!("reading {}", db_path.display()))?;
    let scan = db.scan_info()?.ok_or_else(|| DbError::NoScan {
        path: db_path.to_path_buf(),
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

/// The profile at `p`, when one is given.
pub(crate) fn load_profile(p: Option<&Path>) -> Result<Option<Profile>> {
    Ok(match p {
        Some(p) => Some(Profile::load(p)?),
        None => None,
    })
}

/// A path as given on the command line, inside the scanned root: a host
/// path under the root is taken inside it; a trailing slash is dropped.
pub(crate) fn inner_path(scan: &StoredScan, p: &Path) -> Result<Vec<u8>> {
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
pub(crate) fn entry_path(graph: &mut Graph<'_>, scan: &StoredScan, p: &Path) -> Result<Vec<u8>> {
    let given = inner_path(scan, p)?;
    match graph.canonical(&given)? {
        Some(c) if c != given => {
            eprintln!("kaudit: {} is {} in the root", show(&given), show(&c));
            Ok(c)
        }
        _ => Ok(given),
    }
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
pub(crate) fn write_atomically(path: &Path, body: &[u8]) -> Result<()> {
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

/// Store a computed closure for later `why` questions (best effort: a graph
/// that cannot be written to is only read).
pub(crate) fn remember(db: &Db, sel: &Selection, profile: &Profile, c: &Closure) {
    let r = Cache::new(db, &sel.runs, Some(profile)).and_then(|k| k.store(c));
    if let Err(e) = r {
        eprintln!("kaudit: note: the closure could not be stored for later questions: {e}");
    }
}

/// The scenarios shipped with kaudit, built into the binary: (name, text).
pub(crate) static BUILTIN_SCENARIOS: &[(&str, &str)] =
    include!(concat!(env!("OUT_DIR"), "/scenarios.rs"));

/// The scenario directories, in search order: `--scenarios DIR`, then
/// `$KAUDIT_SCENARIOS`, then the installed ones; the built-in scenarios come
/// after all of them.
pub(crate) fn scenario_dirs(given: Option<&std::path::Path>) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    if let Some(d) = given {
        v.push(d.to_path_buf());
    }
    if let Some(d) = std::env::var_os("KAUDIT_SCENARIOS").filter(|d| !d.is_empty()) {
        v.push(std::path::PathBuf::from(d));
    }
    v.push("/etc/kaudit/scenarios".into());
    v.push("/usr/share/kaudit/scenarios".into());
    v
}

/// Load a scenario by file or name from the directories and the built-in ones.
pub(crate) fn load_scenario(
    name_or_path: &str,
    given: Option<&std::path::Path>,
) -> Result<
    (
        String,
        std::path::PathBuf,
        kaudit_tracer::scenario::Scenario,
    ),
    kaudit_tracer::scenario::ScenarioError,
> {
    kaudit_tracer::scenario::Scenario::load(name_or_path, &scenario_dirs(given), BUILTIN_SCENARIOS)
}

/// A package with what the image keeps of it.
pub(crate) struct Row {
    pub(crate) mask: PackageMask,
    /// The database it comes from: `dpkg` or `portage`.
    pub(crate) db: String,
    pub(crate) slot: Option<String>,
}

impl Row {
    /// The package as Portage names it in `package.env` and the world set:
    /// `CATEGORY/PN`, with `:SLOT` when the slot is not the default `0` (two
    /// slots of one package are two lines).
    pub(crate) fn atom(&self) -> String {
        match self.slot.as_deref() {
            Some(s) if s != "0" => format!("{}:{s}", self.mask.name),
            _ => self.mask.name.clone(),
        }
    }
}

/// Every package of the graph with what the image keeps of it.
pub(crate) fn package_masks(db: &Db, c: &Closure) -> Result<Vec<Row>> {
    let mut out = Vec::new();
    let mut graph = Graph::new(db);
    for p in db.packages()? {
        let mut entries: Vec<Installed> = Vec::new();
        for f in db.package_files(p.id)? {
            // a symlink to a directory (/bin -> usr/bin) is shared like a
            // directory: counted as one, for no package
            let kind = if f.kind == "symlink" && graph.is_dir_link(&f.path)? {
                "dir".to_string()
            } else if f.listed_kind.is_empty() {
                match f.kind.as_str() {
                    "dir" => "dir",
                    "symlink" => "sym",
                    "fifo" => "fif",
                    "char-device" | "block-device" => "dev",
                    _ => "obj",
                }
                .to_string()
            } else {
                f.listed_kind
            };
            entries.push(Installed {
                path: f.path,
                kind,
                size: if f.kind == "file" { f.size } else { 0 },
            });
        }
        let kept = |path: &[u8]| c.entries.contains_key(path);
        out.push(Row {
            mask: mask::masks(&p.name, p.version.as_deref(), &entries, &kept),
            db: p.db,
            slot: p.slot,
        });
    }
    out.sort_by(|a, b| {
        b.mask
            .kept_bytes
            .cmp(&a.mask.kept_bytes)
            .then_with(|| a.mask.name.cmp(&b.mask.name))
            .then_with(|| a.slot.cmp(&b.slot))
    });
    Ok(out)
}

pub(crate) fn closure_of(db: &Db, profile: &Profile) -> Result<Closure> {
    let sel = crate::shared::select(db, Some(profile))?;
    let mut graph = Graph::new(db);
    Ok(closure::compute_with(
        &mut graph,
        &sel.runs,
        Some(profile),
        false,
    )?)
}

#[derive(Debug, clap::Args)]
pub(crate) struct LoaderArgs {
    /// The CPU the loader runs on: host, baseline, x86-64-v2, x86-64-v3, x86-64-v4
    /// (decides glibc-hwcaps subdirectories and $PLATFORM)
    #[arg(long, value_name = "CPU", default_value = "host")]
    pub(crate) cpu: String,
    /// LD_LIBRARY_PATH to assume (unset by default)
    #[arg(long, value_name = "DIRS")]
    pub(crate) ld_library_path: Option<String>,
}

impl LoaderArgs {
    pub(crate) fn options(&self) -> anyhow::Result<kaudit_analyzer::loader::Options> {
        let cpu = kaudit_analyzer::cpu::Cpu::from_name(&self.cpu).ok_or_else(|| {
            anyhow::anyhow!(
                "unknown --cpu {}: expected host, baseline, x86-64-v2, x86-64-v3 or x86-64-v4",
                self.cpu
            )
        })?;
        Ok(kaudit_analyzer::loader::Options {
            cpu,
            ld_library_path: self.ld_library_path.as_ref().map(|s| s.as_bytes().to_vec()),
            cwd: b"/".to_vec(),
        })
    }
}
