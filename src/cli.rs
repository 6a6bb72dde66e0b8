//! Command-line parsing and dispatch. Exit codes: 0 ok, 1 "the answer is no",
//! 2 usage or runtime error.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    Scan(crate::scan::Args),
    Deps(crate::deps::Args),
    Trace(crate::trace::Args),
    Scenarios(crate::scenarios::Args),
    Runs(crate::runs::Args),
    Accessed(crate::accessed::Args),
    Allowlist(crate::allowlist::Args),
    Why(crate::why::Args),
    Rdeps(crate::rdeps::Args),
    Writable(crate::writable::Args),
    Docs(crate::docs::Args),
    Assemble(crate::assemble::Args),
    Verify(crate::verify::Args),
    Prove(crate::prove::Args),
    Findings(crate::findings::Args),
    Owner(crate::owner::Args),
    Packages(crate::packages::Args),
    InstallMask(crate::install_mask::Args),
    Check(crate::check::Args),
    Completions(crate::manual::CompletionsArgs),
    Man(crate::manual::ManArgs),
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
    let db = cli.db.as_path();
    let result = match &cli.command {
        Command::Scan(a) => crate::scan::run(db, a),
        Command::Deps(a) => crate::deps::run(db, a),
        Command::Trace(a) => crate::trace::run(db, a),
        Command::Scenarios(a) => crate::scenarios::run(a),
        Command::Runs(a) => crate::runs::run(db, a),
        Command::Accessed(a) => crate::accessed::run(db, a),
        Command::Allowlist(a) => crate::allowlist::run(db, a),
        Command::Why(a) => crate::why::run(db, a),
        Command::Rdeps(a) => crate::rdeps::run(db, a),
        Command::Writable(a) => crate::writable::run(db, a),
        Command::Docs(a) => crate::docs::run(db, a),
        Command::Assemble(a) => crate::assemble::run(db, a),
        Command::Verify(a) => crate::verify::run(db, a),
        Command::Prove(a) => crate::prove::run(db, a),
        Command::Findings(a) => crate::findings::run(db, a),
        Command::Owner(a) => crate::owner::run(db, a),
        Command::Packages(a) => crate::packages::run(db, a),
        Command::InstallMask(a) => crate::install_mask::run(db, a),
        Command::Check(a) => crate::check::run(db, a),
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
