//! `kaudit completions SHELL` and `kaudit man`: shell completions and manual
//! pages, both generated from the command-line definition in `cli.rs`, so they
//! never disagree with `--help`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::Cli;

/// Print the completion script for a shell
///
/// For bash: `kaudit completions bash > /etc/bash_completion.d/kaudit`;
/// zsh: into a directory of $fpath as _kaudit; fish:
/// ~/.config/fish/completions/kaudit.fish.
#[derive(Debug, clap::Args)]
pub(crate) struct CompletionsArgs {
    /// The shell
    #[arg(value_enum, value_name = "SHELL")]
    pub(crate) shell: clap_complete::Shell,
}
/// Print the manual page kaudit(1), or write every page into a directory
///
/// Without --out, kaudit.1 goes to stdout (`kaudit man | man -l -`). With
/// --out DIR, kaudit.1 and one page per subcommand (kaudit-scan.1,
/// kaudit-scenarios-list.1, ...) are written into DIR.
#[derive(Debug, clap::Args)]
pub(crate) struct ManArgs {
    /// Write kaudit.1 and one page per subcommand into DIR (created if missing)
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
}

/// Print the completion script for a shell on stdout.
pub(crate) fn completions(a: &CompletionsArgs) -> Result<i32> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "kaudit", &mut buf);
    let mut out = crate::printer::stdout();
    out.write_all(&buf)?;
    out.flush()?;
    Ok(0)
}

/// Print kaudit.1 on stdout, or write kaudit.1 and one page per subcommand
/// (kaudit-scan.1, kaudit-scenarios-list.1, …) into `--out DIR`.
pub(crate) fn man(a: &ManArgs) -> Result<i32> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    match &a.out {
        None => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut buf)?;
            let mut out = crate::printer::stdout();
            out.write_all(&buf)?;
            out.flush()?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let mut written = Vec::new();
            write_pages(cmd, dir, &mut written)?;
            crate::say::note(format_args!(
                "{} manual page(s) written to {}",
                written.len(),
                dir.display()
            ));
            for p in &written {
                crate::say::detail(format_args!("wrote {}", p.display()));
            }
        }
    }
    Ok(0)
}

/// One page for `cmd` and, depth first, one for each visible subcommand.
fn write_pages(cmd: clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
        write_pages(sub, dir, written)?;
    }
    let page = clap_mangen::Man::new(cmd);
    let path = dir.join(page.get_filename());
    let mut buf = Vec::new();
    page.render(&mut buf)?;
    std::fs::write(&path, buf).with_context(|| format!("writing {}", path.display()))?;
    written.push(path);
    Ok(())
}
