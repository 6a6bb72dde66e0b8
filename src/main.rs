//! The `kaudit` command: a thin layer over the library crates.

mod assemble;
mod check;
mod cli;
mod deps;
mod packages;
mod printer;
mod report;
mod scan;
mod trace;
mod verify;

fn main() {
    std::process::exit(cli::run());
}
