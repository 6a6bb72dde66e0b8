//! The kaudit evidence graph: one SQLite file.
//!
//! This crate owns the schema ([`schema`]), writes scan results into it
//! atomically and answers the queries the commands need. Nodes are entries of
//! the root (`file`); edges carry a kind and the evidence of how they were
//! found (`edge`); per-item problems are `finding`s with stable codes.
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

mod closures;
mod entries;
pub mod findings;
mod loads;
pub mod packages;
pub mod pending;
pub mod proofs;
pub mod runs;
pub mod schema;
mod store;

pub use closures::{ClosureRow, DroppedRow, ScanStamp, StoredDropped};
pub use entries::{EdgeRow, FileRow, InitEdge};
pub use findings::{FindingFilter, FindingRow};
pub use loads::LoadRow;
pub use packages::{OwnedRow, PackageRow};
pub use pending::PendingRun;
pub use proofs::{ProofRow, ProofRun};
pub use runs::{AccessRow, NameProbe, NameRow, NewRun, RunRow};
pub use store::{Db, DbError, DbView, StoredScan};
