//! The `kaudit` command: a thin layer over the library crates.

mod assemble;
mod check;
mod cli;
mod deps;
mod manual;
mod packages;
mod printer;
mod report;
mod say;
mod scan;
mod trace;
mod verify;

fn main() {
    std::process::exit(cli::run());
}
