//! `hrun lint`: the policy gate, run by hand. The same gate will run before every job.

use actions_compat::policy::{self, LintOptions, OutputFormat, RenderOptions};
use anyhow::Result;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use crate::exit::Exit;

/// The long help of `hrun lint`: the rules, the policy file and the Rego contract.
pub const LONG_HELP: &str = r#"Check workflows and actions against policy before anything runs.

Built-in rules: `pull-request-target` (denied), `unpinned-uses` (every `uses:` pinned to a full
40-hex commit SHA, `docker://` images to `@sha256:` + 64 hex; local `./` and same-repository `$/`
references are exempt; local composite actions are checked inside), `template-injection`
(warning: attacker-controlled event data expanded into `run:`).

The policy file, `.github/hrun-policy.toml` in the repository or `--policy FILE`:

  rego = ["policies/runners.rego"]      # custom rules, relative to the policy file
  [[allow]]                             # also `uses = "owner/repo@ref"` for one exact ref
  owner = "my-org"
  reason = "our own actions, released from protected tags"
  [rules.template-injection]            # level: "deny", "warn" or "off"
  level = "deny"
  reason = "we treat injection as a blocker"

Every exception needs a `reason`; unknown keys and rule ids are errors (exit 2).

Rego contract: a file declares `package hrun` or `package hrun.<name>` and defines the sets
`deny` and/or `warn` (Rego v1 syntax). An element is a message string or an object
`{"msg": ..., "path": ["jobs", 0, "runs_on"], "rule": ..., "help": ...}` (only `msg` required);
`path` points into `input` and places the finding at that node. The rule id is
`rego/<rule>`, else `rego/<name>`. `input` is the workflow as `hrun parse` prints it (every
value wrapped as `{"value", "line", "col"}`); `data.lint.file.path` and `data.lint.file.kind`
(`workflow` or `action`) name the file. Example:

  package hrun.runners
  deny contains {"msg": "bare self-hosted runner", "path": ["jobs", i, "runs_on"]} if {
      some i, job in input.jobs
      some label in job.runs_on.value.labels
      label.value == "self-hosted"
      count(job.runs_on.value.labels) == 1
  }

Exit codes: 0 nothing denied, 1 denied by policy, 2 could not evaluate (unreadable file, parse
error, bad policy file, Rego error)."#;

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
