//! Which traced runs a closure starts from.

use kaudit_graph::{Db, DbError, RunRow};

use crate::profile::Profile;

/// The runs chosen, and what was said about the choice.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// One run per scenario, in the profile's order (or by name).
    pub runs: Vec<RunRow>,
    /// Notes for the user (runs accepted although incomplete, runs left out).
    pub notes: Vec<String>,
}

/// Why no usable run could be chosen.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// The database.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A scenario of the profile has no passed run.
    #[error("scenario {0}: no passed run in the graph; run `kaudit trace --scenario {0}` first")]
    NoRun(String),
    /// The latest passed run may miss files.
    #[error("scenario {scenario}: the latest passed run (run {run}) is incomplete: {why}; trace it again, or set allow_incomplete = true in the profile to accept it")]
    Incomplete {
        /// Scenario.
        scenario: String,
        /// Run id.
        run: i64,
        /// Why.
        why: String,
    },
}

/// Why a run may miss files or names (`None`: complete).
pub fn incompleteness(r: &RunRow) -> Option<String> {
    let mut why = Vec::new();
    if !r.complete {
        why.push(match &r.lost {
            Some(l) if !l.is_empty() => format!("events may be lost ({})", l.replace('\n', "; ")),
            _ => "events may be lost".to_string(),
        });
    }
    match r.names.as_deref() {
        Some("complete") => {}
        Some(p) => why.push(format!("names {p}")),
        None => why.push("no names were recorded".to_string()),
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// The latest passed run of each of the profile's scenarios; refused when
/// incomplete unless the profile allows it.
pub fn for_profile(db: &Db, profile: &Profile) -> Result<Selection, SelectError> {
    let all = db.runs()?;
    let mut sel = Selection::default();
    for s in &profile.scenarios {
        let Some(r) = all
            .iter()
            .rev()
            .find(|r| &r.name == s && r.status == "passed")
        else {
            return Err(SelectError::NoRun(s.clone()));
        };
        if let Some(why) = incompleteness(r) {
            if !profile.allow_incomplete {
                return Err(SelectError::Incomplete {
                    scenario: s.clone(),
                    run: r.id,
                    why,
                });
            }
            sel.notes.push(format!(
                "scenario {s}: run {} is incomplete ({why}); accepted (allow_incomplete)",
                r.id
            ));
        }
        sel.runs.push(r.clone());
    }
    Ok(sel)
}

/// Without a profile: the latest passed run of every name whose run is
/// complete (an incomplete one is left out, and said so).
pub fn every_complete(db: &Db) -> Result<Selection, DbError> {
    let all = db.runs()?;
    let mut names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut sel = Selection::default();
    for n in names {
        let Some(r) = all
            .iter()
            .rev()
            .find(|r| r.name == n && r.status == "passed")
        else {
            continue;
        };
        match incompleteness(r) {
            None => sel.runs.push(r.clone()),
            Some(why) => sel
                .notes
                .push(format!("{n}: latest passed run {} left out: {why}", r.id)),
        }
    }
    Ok(sel)
}
