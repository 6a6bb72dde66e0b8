//! Integration tests for the `kaudit` binary: loader-rule fixtures checked
//! against the real loaders, hostile and broken inputs, and confinement to
//! the analysed root. They build root filesystems in temporary directories
//! and need root privileges (see `support::require_root`).

mod assemble;
mod bad_input;
mod boot;
mod booted;
mod confinement;
mod conventions;
mod deps_fixtures;
mod elfgen;
mod examples;
mod hostile;
mod hwcaps;
mod initsys;
mod musl;
mod names;
mod node;
mod oracle_usr;
mod output;
mod packages;
mod prove;
mod reports;
mod scan_graph;
mod scenario_files;
mod support;
mod tidy;
mod trace;
