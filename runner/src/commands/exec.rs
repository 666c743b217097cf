//! `hrun exec`: runs a workflow of the repository on this machine, as GitHub's runner would, or
//! lists the workflows and jobs it finds.
//!
//! Exit codes: 0 the workflow succeeded, 1 a job failed (or the run was cancelled), 2 it could
//! not start (bad workflow or flags, policy denial, missing action, no usable sandbox).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use zeroize::{Zeroize, Zeroizing};

use actions_compat::commands::file::{parse_key_values, FileCommandKind, LineEndings};
use actions_compat::policy::discover::repository_root;
use hermetic::egress::{EgressPolicy, PolicyError};
use hermetic::{Network, SandboxChoice};

use crate::config::RunnerConfig;

use crate::engine::determinism::EnvironmentOptions;
use crate::engine::execute::RunCancel;
use crate::engine::job::Secrets;
use crate::engine::plan::read_workflow;
use crate::engine::result::Conclusion;
use crate::engine::run::{execute, RunOptions};
use crate::engine::secret_scan::ScanPolicy;
use crate::evidence::EvidenceOptions;
use crate::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// The workflow file (a path, or a file name under `.github/workflows/`). Without one, the
    /// workflows and jobs found are listed.
    pub workflow: Option<PathBuf>,
    /// Run only this job (and the jobs it needs).
    #[arg(long, value_name = "ID")]
    pub job: Option<String>,
    /// The event that triggers the run (`github.event_name`).
    #[arg(long, value_name = "NAME", default_value = "push")]
    pub event: String,
    /// A JSON file with the event payload (`github.event`).
    #[arg(long, value_name = "FILE")]
    pub eventpath: Option<PathBuf>,
    /// An input (`inputs.k`), repeatable.
    #[arg(long = "input", value_name = "K=V", value_parser = key_value)]
    pub inputs: Vec<(String, String)>,
    /// A configuration variable (`vars.k`), repeatable.
    #[arg(long = "var", value_name = "K=V", value_parser = key_value)]
    pub vars: Vec<(String, String)>,
    /// A secret (`secrets.NAME`), repeatable; `NAME` alone takes the value of the environment
    /// variable of that name. Masked everywhere.
    #[arg(long = "secret", value_name = "NAME=VALUE")]
    pub secrets: Vec<String>,
    /// A file of secrets: `NAME=VALUE` lines, `NAME<<EOF` heredocs, `#` comments.
    #[arg(long, value_name = "FILE")]
    pub secrets_file: Option<PathBuf>,
    /// Run only the matrix combinations with this value (`k:v`), repeatable.
    #[arg(long = "matrix", value_name = "K:V")]
    pub matrix: Vec<String>,
    /// Most jobs at once (default: the number of CPUs).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Where steps run: `auto` (the strongest sandbox here, never the host), `namespace`,
    /// `microvm`, or `none` (directly on the host).
    #[arg(long, default_value = "auto", value_parser = parse_sandbox)]
    pub sandbox: SandboxChoice,
    /// Network for the namespace sandbox: `deny` (loopback only) or `allow`. A microVM's network
    /// is its egress allowlist (`--egress-allow`, the runner's configuration file).
    #[arg(long, value_enum, default_value_t = NetworkArg::Deny)]
    pub network: NetworkArg,
    /// The runner's configuration file (default: `$HRUN_CONFIG`, else `/etc/hrun/config.toml`
    /// when it exists): egress allowlist and mode, resolvers, uplink, VM sizes.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Adds an entry to the runner's egress allowlist for microVMs: `10.0.0.0/8`,
    /// `192.0.2.1:443`, `[2001:db8::/32]:443`, `example.org`, `*.example.org:443`.
    #[arg(long = "egress-allow", value_name = "ENTRY")]
    pub egress_allow: Vec<String>,
    /// What happens to a microVM's connection the allowlist does not cover: `audit` (logged,
    /// allowed), `block` (logged, dropped), `block-and-fail` (dropped, the job fails).
    #[arg(long = "egress-mode", value_name = "MODE")]
    pub egress_mode: Option<String>,
    /// Output directory for logs and results (default `.hrun/runs/<run-id>/`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Colors: `auto` (only on a terminal), `always`, `never`.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,
    /// Print nothing but the final line (the log files are still written).
    #[arg(long)]
    pub quiet: bool,
    /// Debug logging (`RUNNER_DEBUG`, `::debug::` lines shown).
    #[arg(long)]
    pub debug: bool,
    /// Seconds between SIGINT and SIGKILL for a cancelled step.
    #[arg(long, value_name = "SECONDS", default_value_t = 7.5)]
    pub cancel_grace: f64,
    /// The PKCS#8 PEM key that signs each job's provenance and evidence (default:
    /// `$HRUN_SIGNING_KEY`, else the configuration file's `[evidence] signing_key`, else the
    /// host key `$HRUN_CACHE/keys/host.key`, made on first use).
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
    /// The audit log's directory (default: `$HRUN_AUDIT_DIR`, else the configuration file's
    /// `[evidence] audit_dir`, else `$HRUN_CACHE/audit`).
    #[arg(long, value_name = "DIR")]
    pub audit_dir: Option<PathBuf>,
    /// Attach a signed receipt of each job's evidence to the source commit, as a git note under
    /// `refs/notes/hrun/receipts` (appended: every job's receipt is kept). `hrun verify
    /// --receipts` checks them.
    #[arg(long)]
    pub git_notes: bool,
    /// Secrets found in step outputs, summaries or job outputs (by `hrun scan`'s rules):
    /// `report` (warnings) or `fail` (the job fails). Either way they are listed in the job's
    /// `secret-scan.json`, without their values.
    #[arg(long, value_enum, default_value_t = SecretScanArg::Report)]
    pub secret_scan: SecretScanArg,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SecretScanArg {
    Report,
    Fail,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum NetworkArg {
    Deny,
    Allow,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

fn parse_sandbox(s: &str) -> Result<SandboxChoice, String> {
    s.parse()
}

fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected K=V, found `{s}`")),
    }
}

pub fn run(args: ExecArgs) -> Result<Exit> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let Some(workflow) = &args.workflow else {
        return list(&cwd);
    };
    let workflow_path = locate(&cwd, workflow)?;
    let repo_root = repository_root(&workflow_path);
    let mut matrix_filter = Vec::new();
    for m in &args.matrix {
        match m.split_once(':') {
            Some((k, v)) if !k.is_empty() => matrix_filter.push((k.to_owned(), v.to_owned())),
            _ => bail!("--matrix expects K:V, found `{m}`"),
        }
    }
    let event = match &args.eventpath {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?
        }
        None => serde_json::json!({}),
    };
    let secrets = secrets(&args)?;
    let color = match args.color {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    if !(args.cancel_grace.is_finite() && args.cancel_grace >= 0.0) {
        bail!("--cancel-grace must be a number of seconds");
    }
    let runner_config = runner_config(&args)?;
    let evidence = EvidenceOptions {
        signing_key: args.signing_key.clone(),
        configured_key: runner_config.evidence.signing_key.clone(),
        audit_dir: args.audit_dir.clone(),
        configured_audit_dir: runner_config.evidence.audit_dir.clone(),
        git_notes: args.git_notes.then(|| repo_root.clone()),
        attestor: None,
    };
    let options = RunOptions {
        repo_root,
        workflow_path,
        job: args.job.clone(),
        event_name: args.event.clone(),
        event,
        inputs: args.inputs.iter().cloned().collect(),
        vars: args.vars.iter().cloned().collect(),
        secrets,
        parallel: args.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        }),
        sandbox: args.sandbox,
        network: match args.network {
            NetworkArg::Deny => Network::Deny,
            NetworkArg::Allow => Network::Allow,
        },
        out_dir: args.out.clone(),
        matrix_filter,
        color,
        quiet: args.quiet,
        debug: args.debug,
        cancel_grace: Duration::from_secs_f64(args.cancel_grace.min(3600.0)),
        evidence,
        runner_config,
        secret_scan: match args.secret_scan {
            SecretScanArg::Report => ScanPolicy::Report,
            SecretScanArg::Fail => ScanPolicy::Fail,
        },
        environment: EnvironmentOptions::default(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let cancel = RunCancel::default();
    let outcome = runtime.block_on(async {
        let watcher = tokio::spawn(watch_ctrl_c(cancel.clone()));
        let outcome = execute(options, cancel).await;
        watcher.abort();
        outcome
    });
    match outcome {
        Ok(report) => {
            println!(
                "{}: {} (results in {})",
                report.result.workflow,
                report.conclusion.as_str(),
                report.out_dir.display()
            );
            Ok(match report.conclusion {
                Conclusion::Success | Conclusion::Skipped => Exit::Ok,
                Conclusion::Failure | Conclusion::Cancelled => Exit::Denied,
            })
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(Exit::CouldNotEvaluate)
        }
    }
}

pub(crate) async fn watch_ctrl_c(cancel: RunCancel) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    eprintln!("hrun: cancelling (Ctrl-C again stops the steps that still run after a cancel)");
    cancel.first.cancel();
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!("hrun: stopping");
        cancel.second.cancel();
    }
}

/// The workflow file: the path as given, or a name under `.github/workflows/`.
fn locate(cwd: &Path, workflow: &Path) -> Result<PathBuf> {
    let direct = cwd.join(workflow);
    if direct.is_file() {
        return Ok(std::path::absolute(&direct).unwrap_or(direct));
    }
    let root = repository_root(cwd);
    let named = root.join(".github/workflows").join(workflow);
    if named.is_file() {
        return Ok(named);
    }
    bail!(
        "no workflow file {} (nor {})",
        direct.display(),
        named.display()
    )
}

/// Secrets from `--secret` and `--secrets-file`; later ones win. The file's text and each value
/// are held in zeroizing memory and wiped once copied into [`Secrets`] (which is zeroizing too).
/// A `--secret NAME=VALUE` is on the command line, where other local users may read it: the
/// `NAME` form (from the environment) or a file is better.
fn secrets(args: &ExecArgs) -> Result<Secrets> {
    let mut secrets = Secrets::default();
    if let Some(path) = &args.secrets_file {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        );
        // Sized up front and appended in place: no reallocation leaves a copy behind.
        let mut kept = Zeroizing::new(String::with_capacity(text.len() + 1));
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            kept.push_str(line);
            kept.push('\n');
        }
        let file = parse_key_values(FileCommandKind::Env, &kept, LineEndings::Lf);
        if let Some(e) = file.error {
            bail!("{}: {e}", path.display());
        }
        for mut entry in file.entries {
            secrets.insert(entry.name.trim().to_owned(), unquote(&entry.value));
            entry.value.zeroize();
        }
    }
    for s in &args.secrets {
        match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => secrets.insert(k.to_owned(), v.to_owned()),
            Some(_) => bail!("--secret expects NAME=VALUE or NAME"),
            None => {
                let v = std::env::var(s)
                    .with_context(|| format!("--secret {s}: no environment variable {s}"))?;
                secrets.insert(s.clone(), v);
            }
        }
    }
    Ok(secrets)
}

fn unquote(v: &str) -> String {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].to_owned();
        }
    }
    v.to_owned()
}

/// Lists the workflows under `.github/workflows` and their jobs.
fn list(cwd: &Path) -> Result<Exit> {
    let root = repository_root(cwd);
    let dir = root.join(".github/workflows");
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    if files.is_empty() {
        println!("no workflows under {}", dir.display());
        return Ok(Exit::Ok);
    }
    for file in files {
        let rel = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        match read_workflow(&root, &file) {
            Ok(wf) => {
                let name = wf.name.as_ref().map(|n| n.value.as_str()).unwrap_or("");
                let events: Vec<&str> = wf.on.events.keys().map(String::as_str).collect();
                println!("{rel}  {name}  (on: {})", events.join(", "));
                for job in &wf.jobs {
                    let needs: Vec<&str> = job.needs.iter().map(|n| n.value.as_str()).collect();
                    if needs.is_empty() {
                        println!("  {}", job.id.value);
                    } else {
                        println!("  {}  (needs: {})", job.id.value, needs.join(", "));
                    }
                }
            }
            Err(_) => println!("{rel}  (invalid: `hrun parse {rel}` shows why)"),
        }
    }
    Ok(Exit::Ok)
}

/// The runner's configuration file with the `--egress-*` flags applied over it.
fn runner_config(args: &ExecArgs) -> Result<RunnerConfig> {
    let mut config = RunnerConfig::load(args.config.as_deref())?;
    if let Some(mode) = &args.egress_mode {
        config.egress.mode = mode
            .parse()
            .map_err(|e: PolicyError| anyhow::anyhow!("--egress-mode: {e}"))?;
    }
    if !args.egress_allow.is_empty() {
        let added = EgressPolicy::parse(config.egress.mode, &args.egress_allow)
            .map_err(|e| anyhow::anyhow!("--egress-allow: {e}"))?;
        for entry in added.allow {
            if !config.egress.allow.contains(&entry) {
                config.egress.allow.push(entry);
            }
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_need_a_name() {
        assert_eq!(key_value("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(key_value("=x").is_err());
        assert!(key_value("novalue").is_err());
    }

    #[test]
    fn unquotes_matching_quotes_only() {
        assert_eq!(unquote("\"x y\""), "x y");
        assert_eq!(unquote("'x'"), "x");
        assert_eq!(unquote("\"x"), "\"x");
    }
}
