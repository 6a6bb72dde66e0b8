//! The `kaudit` command: a thin layer over the library crates.
//!
//! Data goes to standard output through `printer::stdout` (a closed one is
//! not an error), never through `print!`, which panics on a closed pipe.
#![warn(clippy::print_stdout)]

mod accessed;
mod allowlist;
mod assemble;
mod check;
mod cli;
mod deps;
mod docs;
mod findings;
mod install_mask;
mod manual;
mod owner;
mod packages;
mod printer;
mod prove;
mod rdeps;
mod replay;
mod runs;
mod say;
mod scan;
mod scenarios;
mod shared;
mod trace;
mod verify;
mod why;
mod writable;

fn main() {
    std::process::exit(cli::run());
}
