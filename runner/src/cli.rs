//! The command tree of `hrun` and the dispatch to each subcommand.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

use crate::commands;
use crate::exit::Exit;

/// Hermetic Runner: a drop-in GitHub Actions self-hosted runner that treats every job as untrusted.
///
/// Exit codes: 0 success (for lint: nothing denied), 1 denied by policy, 2 could not read, parse or
/// evaluate the input.
#[derive(Debug, Parser)]
#[command(name = "hrun", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check workflows and actions against policy (exit 0 allowed, 1 denied, 2 could not evaluate).
    #[command(long_about = commands::lint::LONG_HELP, verbatim_doc_comment)]
    Lint(commands::lint::LintArgs),
    /// Print a workflow or action file as GitHub reads it (JSON), or its errors with positions.
    Parse(commands::parse::ParseArgs),
    /// Evaluate a ${{ }} expression against contexts given as JSON.
    Expr(commands::expr::ExprArgs),
    /// Run a workflow here as GitHub's runner would (exit 0 success, 1 a job failed, 2 could not
    /// start); without a workflow, list the workflows and jobs found.
    Exec(commands::exec::ExecArgs),
    /// The action store: pull, import, list and resolve actions pinned to a commit.
    Actions(commands::actions::ActionsArgs),
    /// Signing keys for provenance and evidence.
    Keys(commands::keys::KeysArgs),
    /// Check a job's evidence.tar offline (exit 0 verified, 1 not verified, 2 could not verify).
    Verify(commands::verify::VerifyArgs),
    /// The host's append-only audit log.
    Audit(commands::audit::AuditArgs),
    /// Run a job again from its evidence.tar with the clock moved and compare every artifact
    /// (exit 0 reproducible, 1 not reproducible, 2 could not rebuild).
    Rebuild(commands::rebuild::RebuildArgs),
    /// Register this runner with GitHub (or write a --jitconfig), as GitHub's config.sh does.
    Register(commands::register::RegisterArgs),
    /// Deregister this runner from GitHub and delete its local identity.
    Remove(commands::register::RemoveArgs),
    /// Run as GitHub's self-hosted runner: take jobs, run them in the sandbox, report back.
    Run(commands::run::RunArgs),
    /// The microVM guest image: build, list and verify (kernel, initramfs, rootfs, manifest).
    Image(commands::image::ImageArgs),
    /// Search files for secrets (exit 0 none found, 1 found, 2 could not scan).
    #[command(long_about = commands::scan::LONG_HELP, verbatim_doc_comment)]
    Scan(commands::scan::ScanArgs),
}

pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Lint(args) => commands::lint::run(args),
        Command::Parse(args) => commands::parse::run(args),
        Command::Expr(args) => commands::expr::run(args),
        Command::Exec(args) => commands::exec::run(args),
        Command::Actions(args) => commands::actions::run(args),
        Command::Keys(args) => commands::keys::run(args),
        Command::Verify(args) => commands::verify::run(args),
        Command::Audit(args) => commands::audit::run(args),
        Command::Rebuild(args) => commands::rebuild::run(args),
        Command::Register(args) => commands::register::register(args),
        Command::Remove(args) => commands::register::remove(args),
        Command::Run(args) => commands::run::run(args),
        Command::Image(args) => commands::image::run(args),
        Command::Scan(args) => commands::scan::run(args),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(err) => {
            eprintln!("error: {err:#}");
            Exit::CouldNotEvaluate.into()
        }
    }
}
