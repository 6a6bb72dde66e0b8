//! Command-line parsing and dispatch. Exit codes: 0 ok, 1 "the answer is no",
//! 2 usage or runtime error.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Decide, with evidence, which files a minimal Kubernetes node image must contain.
#[derive(Debug, Parser)]
#[command(name = "kaudit", version, about, long_about = None, max_term_width = 100)]
pub(crate) struct Cli {
    /// The evidence graph (SQLite file)
    #[arg(long, global = true, env = "KAUDIT_DB", default_value = "kaudit.db")]
    pub(crate) db: PathBuf,

    /// Say nothing on stderr but errors and warnings: no progress, no summaries
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,

    /// Say more on stderr: each step, the marks set, timing (repeatable)
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Static analysis of a root filesystem into the graph
    ///
    /// Walks DIR and records every entry (type, size, mode, owner, symlink
    /// target, inode and link count), parses every ELF file (class, machine,
    /// PT_INTERP, DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH, DF_1_NODEFLIB)
    /// and every script's #! line, and resolves the load of every dynamic ELF
    /// object with the root's own loader rules (glibc or musl). Each edge
    /// records how it was found. The root's package databases (Portage's
    /// /var/db/pkg, dpkg's /var/lib/dpkg) are read too: which package owns
    /// each entry. Paths are interpreted inside DIR as a chroot
    /// would; nothing outside DIR is read and nothing is executed.
    ///
    /// The walk stays on DIR's filesystem (other mounts are reported, not
    /// entered; see --cross-filesystems) and does not enter DIR/proc, DIR/sys
    /// or DIR/dev (see --special-dirs). Scanning again replaces the previous
    /// scan atomically. The summary (counts, findings by severity) goes to
    /// stderr; with --format json it is data, on stdout. `kaudit findings`
    /// lists the findings.
    Scan(ScanArgs),
    /// What PATH needs at load time, and through which rule each was found
    ///
    /// Resolves straight on a root with --root (no scan needed), or reads the
    /// graph written by `kaudit scan`. Exit status 1 when a DT_NEEDED entry is
    /// not found (finding unresolved-needed) or the load would abort.
    Deps(DepsArgs),
    /// Run a scenario or a command under fanotify and record every file the node uses meanwhile
    ///
    /// `kaudit trace --scenario NAME` runs the steps of scenarios/NAME.toml;
    /// `kaudit trace --name NAME -- COMMAND...` is an ad-hoc one-step scenario,
    /// recorded under NAME. Recorded: every file any process on the node opens, executes,
    /// lists or writes while COMMAND runs — also daemons outside COMMAND's
    /// process tree — plus files already in use when tracing starts. Each
    /// (file, kind) is stored once with the first process and a count. Also
    /// recorded (BPF, unless --no-names): every path any process asks for in
    /// exec, open, stat, access, readlink and chdir calls, with the result
    /// and the symlinks it walks in the root (kaudit accessed --names); where
    /// the kernel refuses BPF, exec names only, and the run says names are
    /// partial. The first 32-bit program of a run is stopped for a moment
    /// (SIGSTOP, then SIGCONT) while the capture of 32-bit calls is
    /// attached. Every process COMMAND starts is born in a cgroup v2 group of
    /// the run's own (kaudit-PID, below kaudit's group), which is killed and
    /// removed at the end; what left that group is killed through the
    /// process tree (kaudit is their child subreaper). When
    /// $NOTIFY_SOCKET is set, READY=1 is sent once tracing has started. A lost event (queue
    /// overflow, read error) marks the run incomplete, prints the finding
    /// event-overflow and exits 1 unless --allow-loss. SIGINT/SIGTERM stop the
    /// command and commit what was recorded as an interrupted run. Needs root.
    Trace(TraceArgs),
    /// List or show the scenarios
    Scenarios(ScenariosArgs),
    /// List the traced runs
    Runs(RunsArgs),
    /// What a run opened, executed, listed or wrote
    Accessed(AccessedArgs),
    /// The minimal allowlist of a profile: every entry the image needs
    ///
    /// Computes the closure of the profile (allowlists/NAME.toml): the roots
    /// are what each scenario's latest passed run accessed (opened, executed,
    /// listed, modified, in use at start), every name its processes asked for
    /// with success (each symlink walked and what it reached) and the
    /// profile's includes; from them the graph's edges are followed (the
    /// loader closure of every ELF object, interpreters, shebangs, symlink
    /// hops, directory symlinks walked, parent directories), minus the
    /// excludes. A run that may have lost events or names is refused unless
    /// the profile says allow_incomplete = true.
    ///
    /// Output: one absolute path per line, sorted, directories included (the
    /// root directory itself is the image, not a line) — for
    /// `rsync -a --files-from=LIST ROOT/ DEST/`; with --relative, for
    /// `tar -C ROOT --no-recursion -T LIST`. A summary (entries, bytes,
    /// budget, each scenario's share) goes to stderr.
    Allowlist(AllowlistArgs),
    /// Why PATH is kept: the shortest chain of evidence from a root
    ///
    /// Each hop with its evidence: scenario, step, process and access kind;
    /// the DT_NEEDED name and the rule that found it; shebang; the symlink
    /// and who asked for it; the include and its reason. With --all, every
    /// chain, as a tree from PATH back to the roots. A path that is not kept:
    /// exit status 1 and the nearest facts known (present in the root or not,
    /// excluded by which rule, probed-absent by whom, symlinks leading to it).
    /// Roots: the profile's, or without --profile every name's latest passed,
    /// complete run. --format json: the chain, every reason recorded and how
    /// many more the text counts.
    Why(WhyArgs),
    /// What breaks if PATH is removed: what needs it directly, the scenarios
    /// that need it, and the entries kept only through it
    Rdeps(RdepsArgs),
    /// The directories that must be writable in a read-only image
    ///
    /// From the writes seen in the runs (files created, deleted, renamed or
    /// modified): the top-most directories written in, each `tmpfs` when it
    /// was on a tmpfs during the run or nothing written there outlived the
    /// run, else `persistent`.
    Writable(WritableArgs),
    /// Justification pages of a profile: Markdown for a repository or mdBook
    ///
    /// Writes into DIR: index.md (totals against the whole root and the
    /// budget, each scenario's share, a per-package table by size, a size
    /// picture, what each kept program and library needs directly, the
    /// writable directories, what was left out), a page per package under
    /// packages/ (its kept files, each with the reason that keeps it, and its
    /// dropped files and bytes), writable.md, size.svg, graph.svg, and
    /// SUMMARY.md and book.toml for mdBook (`mdbook build DIR`; a book.toml
    /// kaudit did not write is left as it is). The same graph and profile
    /// give byte-identical pages. Only the files kaudit writes are replaced
    /// in DIR; nothing else is touched.
    Docs(DocsArgs),
    /// Build the image: copy exactly the allowlisted entries of a root
    ///
    /// Copies each entry of the allowlist (one absolute path per line, as
    /// `kaudit allowlist` writes it) from ROOT, keeping its type, mode,
    /// owner, timestamps and extended attributes (file capabilities
    /// included); symlinks are copied as symlinks, hard links stay hard links
    /// (stored once), FIFOs and device nodes are made again. A directory an
    /// entry lies in is made even when the list does not name it. OUT ending
    /// in .tar, .squashfs (or .sqfs) or .erofs is written with GNU tar,
    /// mksquashfs or mkfs.erofs from the distribution; anything else is a
    /// directory. A path with `..`, or through a symlink, is refused: nothing
    /// outside ROOT is read and no symlink is followed. An output inside
    /// ROOT is refused; an existing output is replaced only with --force.
    /// A summary (entries, counted as the allowlist's lines, and bytes) goes
    /// to stderr.
    Assemble(AssembleArgs),
    /// Check an image: whole, every load and link resolving, every scenario replayed
    ///
    /// With --profile: every entry of the profile's allowlist must be in the
    /// image (a missing one is named with the chain that keeps it). Then the
    /// image is scanned like any root: every load of a program it runs (and
    /// of a library it loads) must resolve inside it, every interpreter and
    /// shebang exist, every symlink resolve (targets under /proc, /sys, /dev,
    /// /run and /tmp are mounted at run time). Then each scenario (the
    /// profile's, or --scenario) is replayed inside the image with its
    /// expectations (kaudit trace --root IMAGE --overlay: the image is never
    /// written); a failed replay lists the paths its processes looked for in
    /// vain that the source root has, each with why it was not kept. The
    /// problems go to stdout, progress and the verdict to stderr. Exit
    /// status 1 when anything fails, whether or not stdout is read. Needs
    /// root for the replays.
    Verify(VerifyArgs),
    /// Prove every kept entry of an image necessary, or say which are not
    ///
    /// For each entry of the profile's allowlist (directories aside): an
    /// include keeps it with its reason; or it is the interpreter, a
    /// DT_NEEDED object or a symlink on the way of the load of an object
    /// shown necessary (a loader proof); or the scenarios that used it,
    /// replayed inside the image with it hidden (a whiteout in the replay's
    /// overlay: the image is never written), fail (a replay proof: the
    /// first failing step and its message). Replays hide many entries at
    /// once and split a group only when it fails; a last replay of every
    /// scenario hides every entry not shown necessary at once. The proofs
    /// go into the graph (kaudit why, kaudit docs, kaudit allowlist
    /// --proven, kaudit check); the entries not shown necessary go to
    /// stdout, the summary and the time against one replay of every
    /// scenario to stderr. Exit status 0 when every entry is shown necessary
    /// or included, 1 otherwise. Needs root.
    Prove(crate::prove::Args),
    /// The findings of the graph: per-path problems the scan recorded
    ///
    /// Each finding once: its severity, its stable code (docs/findings.md),
    /// the path it is about and what is wrong; with how many loads met it
    /// when more than one did. Errors first, then warnings, then info, each
    /// by code and path. Filters narrow the list and combine; a repeated
    /// --code or --severity takes any of the values given. The list goes to
    /// stdout, the count by severity to stderr. Exit status 0, whatever is
    /// found.
    Findings(FindingsArgs),
    /// The package that owns each PATH (like dpkg -S and qfile)
    ///
    /// From the package databases the scan read (dpkg, Portage). A path is
    /// taken inside the root, its directory symlinks resolved (/bin/ls is
    /// /usr/bin/ls on a usrmerged root). Exit status 1 when a path has no
    /// package.
    Owner(OwnerArgs),
    /// The packages an image keeps, with kept and dropped files and bytes
    Packages(PackagesArgs),
    /// Per-package INSTALL_MASK that drops exactly what no chain needs (Gentoo)
    ///
    /// For each Portage package: patterns (absolute paths, glob characters
    /// escaped; whole directories where everything the package installs
    /// below them is dropped) that drop its files the profile's closure does
    /// not keep, and the set of packages the image needs (@world). Without
    /// --out, printed; with --out DIR, written as DIR/package.env, one
    /// DIR/env/kaudit/CATEGORY-PN.conf per package (INSTALL_MASK and
    /// PKG_INSTALL_MASK) and DIR/world. A package whose slot is not 0 is
    /// CATEGORY/PN:SLOT (its file CATEGORY-PN-SLOT.conf), so two installed
    /// slots are two lines. Dropped symlinks are listed but not masked:
    /// INSTALL_MASK leaves symlinks.
    InstallMask(InstallMaskArgs),
    /// The image gate: fail a build when the image outgrows its budget or baseline, or changes
    ///
    /// Computes the profile's allowlist again and compares it with the
    /// committed baseline (allowlists/NAME.txt: every entry with its type,
    /// mode, size, package, symlink target and reason codes) and the
    /// profile's budget. Results, each with a stable code: over-budget,
    /// growth (more than max_growth, default 5%, against the baseline),
    /// added (with the chain that keeps it), removed, type-changed,
    /// mode-changed, target-changed, evidence-lost (kept by the runs in the
    /// baseline, now only by an include); then each package's change in
    /// bytes. The profile's [check] table says which fail, warn or are off.
    /// The report goes to stdout (or --out FILE). Exit status 0 pass, 1
    /// fail, 2 error, whether or not the report is read. --update-baseline
    /// writes the baseline instead, deliberately.
    Check(CheckArgs),
    /// Print the completion script for a shell
    ///
    /// For bash: `kaudit completions bash > /etc/bash_completion.d/kaudit`;
    /// zsh: into a directory of $fpath as _kaudit; fish:
    /// ~/.config/fish/completions/kaudit.fish.
    Completions(CompletionsArgs),
    /// Print the manual page kaudit(1), or write every page into a directory
    ///
    /// Without --out, kaudit.1 goes to stdout (`kaudit man | man -l -`). With
    /// --out DIR, kaudit.1 and one page per subcommand (kaudit-scan.1,
    /// kaudit-scenarios-list.1, ...) are written into DIR.
    Man(ManArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct CompletionsArgs {
    /// The shell
    #[arg(value_enum, value_name = "SHELL")]
    pub(crate) shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ManArgs {
    /// Write kaudit.1 and one page per subcommand into DIR (created if missing)
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CheckFormat {
    Text,
    Markdown,
    Json,
    Junit,
}

#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    /// The profile (allowlists/NAME.toml)
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: PathBuf,
    /// The committed baseline (allowlists/NAME.txt)
    #[arg(long, value_name = "FILE")]
    pub(crate) baseline: PathBuf,
    /// The budget, overriding the profile's (120MiB, 2GiB, bytes)
    #[arg(long, value_name = "SIZE")]
    pub(crate) budget: Option<String>,
    /// Growth allowed against the baseline, overriding the profile's (5%, 2MiB)
    #[arg(long, value_name = "PCT|SIZE")]
    pub(crate) max_growth: Option<String>,
    /// text; markdown for a pull-request comment; json; junit for CI systems
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub(crate) format: CheckFormat,
    /// Write the report to FILE instead of stdout
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// Write the current image as the new baseline (and pass)
    #[arg(long)]
    pub(crate) update_baseline: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub(crate) enum SeverityArg {
    Error,
    Warning,
    Info,
}

#[derive(Debug, clap::Args)]
pub(crate) struct FindingsArgs {
    /// Only findings with this code (repeatable; e.g. unresolved-needed)
    #[arg(long, value_name = "CODE")]
    pub(crate) code: Vec<String>,
    /// Only findings of this severity (repeatable)
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub(crate) severity: Vec<SeverityArg>,
    /// Only findings about PREFIX or a path below it (/usr/lib holds
    /// /usr/lib/x, not /usr/lib64)
    #[arg(long, value_name = "PREFIX")]
    pub(crate) path: Option<PathBuf>,
    /// text: one finding a line; json: an array of objects
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub(crate) format: ReportFormat,
}

#[derive(Debug, clap::Args)]
pub(crate) struct OwnerArgs {
    /// Paths inside the root
    #[arg(value_name = "PATH", required = true)]
    pub(crate) paths: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct PackagesArgs {
    /// The profile (allowlists/NAME.toml)
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: PathBuf,
    /// Also the packages that keep nothing
    #[arg(long)]
    pub(crate) all: bool,
    /// text or json
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub(crate) format: ReportFormat,
}

#[derive(Debug, clap::Args)]
pub(crate) struct InstallMaskArgs {
    /// The profile (allowlists/NAME.toml)
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: PathBuf,
    /// Write package.env, env/kaudit/*.conf and world into DIR
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The image (a directory, e.g. from kaudit assemble)
    #[arg(long, value_name = "DIR")]
    pub(crate) root: PathBuf,
    /// The profile the image was built from (its allowlist and scenarios)
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: Option<PathBuf>,
    /// A scenario to replay (repeatable; default: the profile's)
    #[arg(long, value_name = "NAME")]
    pub(crate) scenario: Vec<String>,
    /// A directory of scenario files, searched first
    #[arg(long, value_name = "DIR")]
    pub(crate) scenarios: Option<PathBuf>,
    /// Static checks only
    #[arg(long)]
    pub(crate) no_replay: bool,
    /// Boot ROOT as peer NAME in the replays of booted scenarios that ran
    /// with a peer of that name (repeatable); by default each peer is booted
    /// from the root it was traced with
    #[arg(long = "peer", value_name = "NAME=ROOT")]
    pub(crate) peers: Vec<String>,
    /// The image was built from `kaudit allowlist --proven`: the entries the
    /// last proof did not show necessary are not expected in it
    #[arg(long, requires = "profile")]
    pub(crate) proven: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct AssembleArgs {
    /// The allowlist (kaudit allowlist --out FILE)
    #[arg(long, value_name = "FILE")]
    pub(crate) allowlist: PathBuf,
    /// The root the entries are copied from
    #[arg(long, value_name = "ROOT")]
    pub(crate) from: PathBuf,
    /// The image: a directory, or X.tar, X.squashfs, X.erofs
    #[arg(long, value_name = "DIR|X.tar|X.squashfs|X.erofs")]
    pub(crate) out: PathBuf,
    /// Replace an existing output
    #[arg(long)]
    pub(crate) force: bool,
    /// The allowlist ends each path with NUL (kaudit allowlist --null)
    #[arg(long, short = '0')]
    pub(crate) null: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct DocsArgs {
    /// The profile (allowlists/NAME.toml)
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: PathBuf,
    /// Where the pages go (created if missing)
    #[arg(long, value_name = "DIR")]
    pub(crate) out: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub(crate) struct AllowlistArgs {
    /// The profile (allowlists/NAME.toml)
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: PathBuf,
    /// Write the list to FILE (replaced atomically) instead of stdout
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// text: one path per line; json: every entry with type, size, mode,
    /// package and reason codes, and the summary
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub(crate) format: ReportFormat,
    /// Paths relative to the root, for `tar -C ROOT --no-recursion -T`
    #[arg(long)]
    pub(crate) relative: bool,
    /// End each path with NUL instead of a newline (`rsync --from0`, `tar --null`)
    #[arg(long, short = '0')]
    pub(crate) null: bool,
    /// Leave out the entries the last `kaudit prove` of the profile did not
    /// show necessary (a 1-minimal image; an entry kept since that proof
    /// stays until it is proven)
    #[arg(long)]
    pub(crate) proven: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct WhyArgs {
    /// The path, inside the root (/usr/bin/runc)
    #[arg(value_name = "PATH")]
    pub(crate) path: PathBuf,
    /// The profile whose closure is asked about (default: every complete run)
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: Option<PathBuf>,
    /// Every chain, as a tree
    #[arg(long)]
    pub(crate) all: bool,
    /// text or json
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub(crate) format: ReportFormat,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RdepsArgs {
    /// The path, inside the root
    #[arg(value_name = "PATH")]
    pub(crate) path: PathBuf,
    /// The profile (default: every complete run)
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: Option<PathBuf>,
    /// text or json
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub(crate) format: ReportFormat,
}

#[derive(Debug, clap::Args)]
pub(crate) struct WritableArgs {
    /// The profile whose runs are read (default: every complete run)
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: Option<PathBuf>,
    /// text or json
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub(crate) format: ReportFormat,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["scenario", "name"])))]
pub(crate) struct TraceArgs {
    /// A scenario: a file, or NAME for NAME.toml in --scenarios DIR,
    /// $KAUDIT_SCENARIOS, /etc/kaudit/scenarios or /usr/share/kaudit/scenarios,
    /// else one of the scenarios built into kaudit
    #[arg(long, value_name = "NAME|FILE", conflicts_with = "command")]
    pub(crate) scenario: Option<String>,
    /// A directory of scenario files, searched first
    #[arg(long, value_name = "DIR")]
    pub(crate) scenarios: Option<PathBuf>,
    /// Run inside DIR: a private mount namespace, DIR covered by an overlay
    /// whose writable layer is a tmpfs (DIR itself is never written: what
    /// the run creates is recorded as created and vanishes with it), /proc
    /// /sys /dev bind-mounted into it, tmpfs on /run and /tmp, chroot;
    /// accesses are recorded as paths inside DIR
    #[arg(long, value_name = "DIR")]
    pub(crate) root: Option<std::path::PathBuf>,
    /// Accepted for compatibility: --root always runs on an overlay
    #[arg(long, requires = "root", hide = true)]
    pub(crate) overlay: bool,
    /// With --root: boot DIR's own init (/sbin/init) as PID 1 of a container
    /// of its own (systemd-nspawn: PID, mount, UTS, IPC and network
    /// namespaces, pivot_root into the overlay of DIR), on a network of the
    /// run's own (a bridge and a DHCP server, dnsmasq, in a namespace of
    /// their own); the whole boot is recorded, the steps run inside the node
    /// (nsenter), and the node is powered off at the end. The machine's
    /// kernel settings are put back afterwards
    #[arg(long, requires = "root")]
    pub(crate) boot: bool,
    /// Booted: the node's hostname [default: node]
    #[arg(long, value_name = "NAME")]
    pub(crate) hostname: Option<String>,
    /// Booted: the run's network, a /24 (the bridge is .1, node N gets .10+N,
    /// DHCP hands out .10-.250) [default: 10.77.0.0/24]
    #[arg(long, value_name = "CIDR")]
    pub(crate) subnet: Option<String>,
    /// Booted: boot ROOT too, as node NAME on the run's network, not traced,
    /// on an overlay of its own (repeatable). Steps with `node = "NAME"` run
    /// on it; every step gets its address as $KAUDIT_PEER_<NAME>_ADDRESS (and
    /// the traced node's as $KAUDIT_NODE_ADDRESS, its name as $KAUDIT_NODE_NAME)
    #[arg(long = "peer", value_name = "NAME=ROOT")]
    pub(crate) peers: Vec<String>,
    /// Booted: one more systemd-nspawn argument (repeatable)
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub(crate) nspawn_arg: Vec<String>,
    /// With --boot: show what the DHCP server logged
    #[arg(long, requires = "boot", hide = true)]
    pub(crate) verbose_boot: bool,
    /// A scenario parameter (repeatable)
    #[arg(long = "param", value_name = "NAME=VALUE", requires = "scenario")]
    pub(crate) params: Vec<String>,
    /// The name an ad-hoc run (-- COMMAND...) is recorded under
    #[arg(long, value_name = "NAME", requires = "command", value_parser = run_name)]
    pub(crate) name: Option<String>,
    /// Count every event (no kernel-side suppression of files already recorded)
    #[arg(long)]
    pub(crate) all_events: bool,
    /// Exit 0 even if events were lost (the run is still marked incomplete)
    #[arg(long)]
    pub(crate) allow_loss: bool,
    /// Do not record the names programs ask for (the BPF name capture: every
    /// path passed to exec, open, stat, access, readlink and chdir calls,
    /// with the result)
    #[arg(long)]
    pub(crate) no_names: bool,
    /// Capture names through the raw system call tracepoints only. Every
    /// system call of every process then pays for the capture; by default
    /// the per-call tracepoints serve 64-bit programs and the raw ones are
    /// attached only once a 32-bit program runs
    #[arg(long, conflicts_with = "no_names")]
    pub(crate) names_raw: bool,
    /// Report events with open file descriptors only (no file-handle group)
    #[arg(long, hide = true)]
    pub(crate) fd_events: bool,
    /// Test mode: keep the kernel's bounded event queue
    #[arg(long, hide = true)]
    pub(crate) test_bounded_queue: bool,
    /// Test mode: kill the run's control group process by process at the
    /// end, as on kernels without `cgroup.kill`
    #[arg(long, hide = true)]
    pub(crate) test_kill_one_by_one: bool,
    /// Test mode: the kernel refuses one of the per-call tracepoints'
    /// attachments (a wrong event name), so names come through the raw ones
    #[arg(long, hide = true, conflicts_with = "names_raw")]
    pub(crate) test_refuse_per_call: bool,
    /// Test mode: wait this many milliseconds before reading events
    #[arg(long, hide = true, default_value_t = 0)]
    pub(crate) test_reader_delay_ms: u64,
    /// With --root: hide the entries FILE lists (absolute paths inside the
    /// root, one per line) from the run, with whiteouts in the overlay's
    /// writable layer (kaudit prove: the root itself is never written)
    #[arg(long, value_name = "FILE", requires = "root", hide = true)]
    pub(crate) hide: Option<PathBuf>,
    /// No step runs longer than this (`30s`), whatever its own timeout
    /// (kaudit prove: a replay that hangs without a file fails in time)
    #[arg(long, value_name = "DURATION", requires = "scenario", hide = true)]
    pub(crate) step_timeout_max: Option<String>,
    /// The command and its arguments (with --name)
    #[arg(last = true, value_name = "COMMAND")]
    pub(crate) command: Vec<std::ffi::OsString>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ScenariosArgs {
    /// A directory of scenario files, searched first
    #[arg(long, value_name = "DIR", global = true)]
    pub(crate) scenarios: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) what: ScenariosCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ScenariosCommand {
    /// The scenarios found in the scenario directories
    List,
    /// A scenario's description, parameters and steps
    Show {
        /// NAME or FILE
        scenario: String,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct RunsArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub(crate) format: SummaryFormat,
}

#[derive(Debug, clap::Args)]
pub(crate) struct AccessedArgs {
    /// A run id (see `kaudit runs`)
    #[arg(long, value_name = "ID", conflicts_with = "scenario")]
    pub(crate) run: Option<i64>,
    /// The latest run of this scenario (or ad-hoc name); default: the latest run
    #[arg(long, value_name = "NAME")]
    pub(crate) scenario: Option<String>,
    /// list: one path per line (each path once); json: every access with its process and step
    #[arg(long, value_enum, default_value_t = AccessedFormat::List)]
    pub(crate) format: AccessedFormat,
    /// The names programs asked for instead: each path with the call, its
    /// result (ok, ENOENT, ...) and the symlinks it walks inside the run's root
    #[arg(long)]
    pub(crate) names: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AccessedFormat {
    List,
    Json,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ScanArgs {
    /// The root filesystem to analyse
    #[arg(long, value_name = "DIR")]
    pub(crate) root: PathBuf,
    /// Descend into other filesystems mounted below DIR
    #[arg(long)]
    pub(crate) cross_filesystems: bool,
    /// Also walk DIR/proc, DIR/sys and DIR/dev
    #[arg(long)]
    pub(crate) special_dirs: bool,
    #[command(flatten)]
    pub(crate) loader: LoaderArgs,
    /// PATH used to resolve `#!/usr/bin/env NAME` scripts
    #[arg(
        long = "path",
        value_name = "PATH",
        default_value = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    )]
    pub(crate) path_env: String,
    /// Output format of the summary
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub(crate) format: SummaryFormat,
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

#[derive(Debug, clap::Args)]
pub(crate) struct DepsArgs {
    /// Paths inside the root (absolute, e.g. /usr/bin/runc)
    #[arg(required = true, value_name = "PATH")]
    pub(crate) paths: Vec<PathBuf>,
    /// Resolve directly inside this root instead of reading the graph
    #[arg(long, value_name = "DIR")]
    pub(crate) root: Option<PathBuf>,
    /// tree: each edge with its rule; list: the closure, one path per line, as
    /// the loader opens it; json: everything, structured
    #[arg(long, value_enum, default_value_t = DepsFormat::Tree)]
    pub(crate) format: DepsFormat,
    #[command(flatten)]
    pub(crate) loader: LoaderArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DepsFormat {
    Tree,
    List,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SummaryFormat {
    Text,
    Json,
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

/// Parse, run, and map the outcome to an exit code.
pub(crate) fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    crate::say::set(cli.quiet, cli.verbose);
    let result = match &cli.command {
        Command::Scan(a) => crate::scan::run(&cli, a),
        Command::Deps(a) => crate::deps::run(&cli, a),
        Command::Trace(a) => crate::trace::run(&cli, a),
        Command::Runs(a) => crate::trace::runs(&cli, a),
        Command::Scenarios(a) => crate::trace::scenarios(a),
        Command::Accessed(a) => crate::trace::accessed(&cli, a),
        Command::Allowlist(a) => crate::report::allowlist(&cli, a),
        Command::Why(a) => crate::report::why(&cli, a),
        Command::Rdeps(a) => crate::report::rdeps(&cli, a),
        Command::Writable(a) => crate::report::writable(&cli, a),
        Command::Docs(a) => crate::report::docs(&cli, a),
        Command::Assemble(a) => crate::assemble::run(&cli, a),
        Command::Verify(a) => crate::verify::run(&cli, a),
        Command::Prove(a) => crate::prove::run(&cli, a),
        Command::Findings(a) => crate::findings::run(&cli, a),
        Command::Owner(a) => crate::packages::owner(&cli, a),
        Command::Packages(a) => crate::packages::packages(&cli, a),
        Command::InstallMask(a) => crate::packages::install_mask(&cli, a),
        Command::Check(a) => crate::check::run(&cli, a),
        Command::Completions(a) => crate::manual::completions(a),
        Command::Man(a) => crate::manual::man(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if crate::printer::is_broken_pipe(&e) {
                return 0;
            }
            eprintln!("kaudit: error: {}", crate::printer::error_message(&e));
            2
        }
    }
}

/// A run name: not empty, and no control characters (a tab or a newline
/// would forge columns or rows in `kaudit runs`).
fn run_name(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("a run name cannot be empty".into());
    }
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(format!(
            "a run name cannot hold control characters ({:?} found)",
            c
        ));
    }
    Ok(s.to_string())
}
