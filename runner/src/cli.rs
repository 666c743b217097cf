//! The command tree of `hrun` and the dispatch to each subcommand.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Hermetic Runner: a drop-in GitHub Actions self-hosted runner that treats every job as untrusted.
#[derive(Debug, Parser)]
#[command(name = "hrun", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {}

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {}
}
