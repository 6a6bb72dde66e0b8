//! `kaudit scenarios`: the scenarios found, and one shown.

use std::path::PathBuf;

use clap::Subcommand;

use crate::shared::BUILTIN_SCENARIOS;
use crate::shared::{load_scenario, scenario_dirs};

/// List or show the scenarios
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
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

pub(crate) fn run(a: &Args) -> anyhow::Result<i32> {
    use kaudit_tracer::scenario::Scenario;
    let mut out = crate::printer::stdout();
    match &a.what {
        ScenariosCommand::List => {
            // (name, description, where): the first of each name wins, as
            // in a lookup
            let mut found: std::collections::BTreeMap<String, (String, String)> =
                std::collections::BTreeMap::new();
            for d in scenario_dirs(a.scenarios.as_deref()) {
                let Ok(rd) = std::fs::read_dir(&d) else {
                    continue;
                };
                for f in rd.flatten().map(|e| e.path()) {
                    if f.extension().is_none_or(|e| e != "toml") {
                        continue;
                    }
                    let name = f
                        .file_stem()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    if found.contains_key(&name) {
                        continue;
                    }
                    let desc = std::fs::read_to_string(&f)
                        .ok()
                        .and_then(|t| Scenario::parse(&f, &t).ok())
                        .and_then(|s| s.description)
                        .unwrap_or_default();
                    found.insert(name, (desc, f.display().to_string()));
                }
            }
            for (name, text) in BUILTIN_SCENARIOS {
                if found.contains_key(*name) {
                    continue;
                }
                let place = format!("builtin:{name}");
                let desc = Scenario::parse(std::path::Path::new(&place), text)
                    .ok()
                    .and_then(|s| s.description)
                    .unwrap_or_default();
                found.insert(name.to_string(), (desc, place));
            }
            crate::printer::scenarios::list(&mut out, &found)?;
        }
        ScenariosCommand::Show { scenario } => {
            let (name, path, s) = load_scenario(scenario, a.scenarios.as_deref())?;
            crate::printer::scenarios::show(&mut out, &name, &path, &s)?;
        }
    }
    Ok(0)
}
