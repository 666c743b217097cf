//! `hrun lint`: the policy gate, run by hand. The same gate will run before every job.

use actions_compat::policy::{self, LintOptions, OutputFormat, RenderOptions};
use anyhow::Result;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use crate::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// Workflow or action files, or directories searched at any depth for
    /// `.github/workflows/*.yml`, `*.yaml` and `action.yml` (default: the current directory).
    pub paths: Vec<PathBuf>,
    /// A policy file to use instead of each repository's `.github/hrun-policy.toml`.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// `human` (with the source line and a caret), `json`, or `sarif` (SARIF 2.1.0).
    #[arg(long, default_value = "human", value_parser = parse_format)]
    pub format: OutputFormat,
    /// Colors in the human format: `auto` (only on a terminal), `always`, `never`.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

fn parse_format(s: &str) -> Result<OutputFormat, String> {
    s.parse::<OutputFormat>().map_err(|e| e.to_string())
}

pub fn run(args: LintArgs) -> Result<Exit> {
    let options = LintOptions {
        policy: args.policy,
        ..LintOptions::default()
    };
    let report = policy::lint_paths(&args.paths, &options);
    let stdout = std::io::stdout();
    let color = match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let text = report.render_with(args.format, RenderOptions { color });
    let mut out = stdout.lock();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(match report.exit_code() {
        0 => Exit::Ok,
        1 => Exit::Denied,
        _ => Exit::CouldNotEvaluate,
    })
}
