//! `hrun`: Hermetic Runner's command-line interface.
//!
//! A thin binary over the library crates: it parses flags, reads files, calls into
//! `actions-compat`, `hermetic` and `provenance`, and turns their typed errors into
//! reports with context. Exit codes mean one thing each (see [`exit::Exit`]).

use clap::Parser;

mod actions;
mod cache;
mod cli;
mod commands;
mod config;
mod engine;
mod evidence;
mod exit;
mod github;
mod rebuild;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    cli::run(cli)
}
