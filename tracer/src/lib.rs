//! The tracer: records every file any process on the node opens, executes,
//! lists or writes while a workload runs, with fanotify.
//!
//! - [`fan`]: the fanotify group — filesystem marks on every filesystem of
//!   the traced root (mount marks as a fallback), an unlimited queue, and
//!   overflow detection: a lost event is never silent;
//! - [`fid`]: the same with file identifiers and names (no file opened per
//!   event; creations, deletions and renames too), used where a filesystem allows;
//! - [`procinfo`]: who did it — pid to command, executable and parent chain,
//!   read at event time and cached;
//! - [`record`]: each (file, access kind) once per run, with the first
//!   process and step and a count;
//! - [`inuse`]: files already in use when tracing starts;
//! - [`harness`]: the processes of harness steps, whose accesses are not recorded;
//! - [`names`]: the paths programs ask for and the results (BPF);
//! - [`run`]: starting, stepping and stopping a trace;
//! - [`contain`]: the control group every started process is born in, killed
//!   at the end;
//! - [`rootns`], [`boot`]: running a workload inside a node root — chrooted
//!   into an overlay of it, or booted with its own init as a container on a
//!   network of the run's own;
//! - [`sysctl`]: the machine's kernel settings, saved and put back.
//!
//! The tracer knows nothing about SQLite, and of ELF only the first five
//! bytes of a running program's executable (the magic and the class: is a
//! 32-bit program running when the name capture starts?): it hands back
//! records.
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

pub mod boot;
pub mod contain;
pub mod fan;
pub mod fid;
pub mod harness;
pub mod inuse;
pub mod names;
pub mod procinfo;
pub mod record;
pub mod rootns;
pub mod run;
pub mod runner;
pub mod scenario;
pub mod sysctl;

pub use record::{Access, AccessKind};
pub use run::{Flush, TraceError, TraceOptions, TraceResult, Tracer};
