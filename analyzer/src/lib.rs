//! Offline static analysis of a root filesystem.
//!
//! Everything here interprets paths *inside* an analysed root, the way a process
//! chrooted into it would, and never executes a file of the root:
//!
//! - [`rootfs`]: the root model — confined file access and symlink resolution
//!   that records every hop;
//! - [`elf`]: the parts of an ELF file the dynamic loader reads;
//! - [`ldcache`] and [`ldconf`]: glibc's `/etc/ld.so.cache` and `ld.so.conf`;
//! - [`loader`]: the glibc and musl library search, reproduced offline;
//! - [`script`]: shebang interpreters;
//! - [`walk`]: a parallel, confined walk of a root;
//! - [`scan`]: a whole-root scan producing files, edges and findings;
//! - [`loads`] and [`replayable`]: a load stored as direct needs, and the
//!   loads proved to be the replay of their objects' own needs;
//! - [`stored`]: the `deps` report of a load read back from a stored scan;
//! - [`findings`]: the stable finding codes shared by every report.
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

pub mod bytes;
pub mod cpu;
pub mod elf;
pub mod findings;
pub mod initsys;
pub mod ldcache;
pub mod ldconf;
pub mod loader;
pub mod loads;
pub mod packages;
pub mod replayable;
pub mod report;
pub mod rootfs;
pub mod scan;
pub mod script;
pub mod stored;
pub mod walk;
