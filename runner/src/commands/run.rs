//! `hrun run`: the runner itself, as GitHub's `run.sh`: it connects with the identity
//! `hrun register` wrote, takes jobs one at a time, runs each in the sandbox through the job
//! engine, and reports it back. Its own log goes to stderr through `tracing` (`--log-format
//! json` for machines; `RUST_LOG` filters).
//!
//! With a signing key configured (`[evidence] signing_key` of the runner's configuration file,
//! or `$HRUN_SIGNING_KEY`), each job leaves its provenance and `evidence.tar` under
//! `<runner dir>/evidence/<job id>/` (logged) and its records in the audit log.
//!
//! Exit codes: 0 stopped as asked (a signal, or after its job with `--ephemeral`), 2 it could
//! not start or lost its registration.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use hermetic::{Network, SandboxChoice};
use tokio_util::sync::CancellationToken;

use super::register::{runtime, RunnerDirArgs};
use crate::config::RunnerConfig;
use crate::evidence::EvidenceOptions;
use crate::exit::Exit;
use crate::github::http::HttpClient;
use crate::github::identity::{self, Identity};
use crate::github::jobs::JobContext;
use crate::github::listener::{listen, ListenOptions};
use crate::github::worker::{EngineOptions, RunnerEvidence};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub dir: RunnerDirArgs,
    /// A just-in-time configuration: written as the runner's identity before it starts.
    #[arg(long, value_name = "BLOB")]
    pub jitconfig: Option<String>,
    /// Exit after one job.
    #[arg(long)]
    pub ephemeral: bool,
    /// Where steps run: `auto`, `namespace`, `microvm`, or `none` (directly on the host).
    #[arg(long, default_value = "auto", value_parser = parse_sandbox)]
    pub sandbox: SandboxChoice,
    /// Network for sandboxed steps: `allow` (jobs usually need it) or `deny` (loopback only).
    #[arg(long, value_enum, default_value_t = super::exec::NetworkArg::Allow)]
    pub network: super::exec::NetworkArg,
    /// The runner's configuration file (default: `$HRUN_CONFIG`, else `/etc/hrun/config.toml`
    /// when it exists); its `[evidence]` table turns on each job's evidence.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The policy file whose allowances the policy gate applies (as `hrun lint --policy`).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The runner's own log: `text` or `json`.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Print each job's log on stderr too.
    #[arg(long)]
    pub show_job_log: bool,
    /// Debug logging for jobs (`RUNNER_DEBUG`).
    #[arg(long)]
    pub debug: bool,
    /// Seconds between renewals of a running job (GitHub's runner: 60).
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0, hide = true)]
    pub renew_interval: f64,
    /// Seconds the first wait after a failed call stays under (doubles up to 60).
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0, hide = true)]
    pub retry_base: f64,
}

fn parse_sandbox(s: &str) -> Result<SandboxChoice, String> {
    s.parse()
}

fn seconds(value: f64, flag: &str) -> Result<Duration> {
    if value.is_finite() && value > 0.0 && value < 1e9 {
        Ok(Duration::from_secs_f64(value))
    } else {
        anyhow::bail!("{flag} must be a positive number of seconds")
    }
}

pub fn run(args: RunArgs) -> Result<Exit> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match args.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
    let dir = args.dir.path()?;
    if let Some(blob) = &args.jitconfig {
        identity::write_jit_config(&dir, blob)?;
    }
    let id = Identity::load(&dir)?;
    let policy = match &args.policy {
        Some(p) => actions_compat::policy::Policy::load(p)
            .with_context(|| format!("cannot read the policy file {}", p.display()))?,
        None => actions_compat::policy::Policy::default(),
    };
    let config = RunnerConfig::load(args.config.as_deref())?;
    let evidence = evidence(&config, &dir);
    match &evidence {
        Some(e) => tracing::info!(dir = %e.dir.display(), "each job's evidence is written"),
        None => tracing::info!(
            "no signing key configured ([evidence] signing_key, $HRUN_SIGNING_KEY): jobs leave no evidence"
        ),
    }
    let http = HttpClient::new(Duration::from_secs(100)).map_err(anyhow::Error::msg)?;
    // Jobs' directories go under the system's temp directory, as `hrun exec`'s do: the
    // runner's own directory is private (0700) and steps may run as another identity.
    let work_dir = std::env::temp_dir().join(format!("hrun-runner-{}", id.settings.agent_id));
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("cannot create {}", work_dir.display()))?;
    let ctx = JobContext {
        http,
        engine: EngineOptions {
            sandbox: args.sandbox,
            network: match args.network {
                super::exec::NetworkArg::Allow => Network::Allow,
                super::exec::NetworkArg::Deny => Network::Deny,
            },
            work_dir,
            debug: args.debug,
            cancel_grace: Duration::from_millis(7500),
            show_log: args.show_job_log,
            evidence,
        },
        dir,
        renew_interval: seconds(args.renew_interval, "--renew-interval")?,
        retry_base: seconds(args.retry_base, "--retry-base")?,
        policy,
        shutdown: CancellationToken::new(),
    };
    let options = ListenOptions {
        ephemeral: args.ephemeral,
        retry_base: seconds(args.retry_base, "--retry-base")?,
    };
    let rt = runtime()?;
    let completed = rt.block_on(listen(id, ctx, options))?;
    tracing::info!(completed, "runner stopped");
    Ok(Exit::Ok)
}

/// Evidence for each job when a signing key is configured: the file's, or `$HRUN_SIGNING_KEY`.
fn evidence(config: &RunnerConfig, runner_dir: &std::path::Path) -> Option<RunnerEvidence> {
    let from_env = std::env::var_os("HRUN_SIGNING_KEY").is_some_and(|v| !v.is_empty());
    if config.evidence.signing_key.is_none() && !from_env {
        return None;
    }
    Some(RunnerEvidence {
        options: EvidenceOptions {
            configured_key: config.evidence.signing_key.clone(),
            configured_audit_dir: config.evidence.audit_dir.clone(),
            ..EvidenceOptions::default()
        },
        dir: runner_dir.join("evidence"),
    })
}
