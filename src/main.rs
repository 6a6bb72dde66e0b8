//! The `kaudit` command: a thin layer over the library crates.
//!
//! Data goes to standard output through `printer::stdout` (a closed one is
//! not an error), never through `print!`, which panics on a closed pipe.
#![warn(clippy::print_stdout)]

mod assemble;
mod check;
mod cli;
mod deps;
mod findings;
mod manual;
mod packages;
mod printer;
mod prove;
mod report;
mod say;
mod scan;
mod trace;
mod verify;

fn main() {
    std::process::exit(cli::run());
}
