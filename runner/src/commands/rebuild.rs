//! `hrun rebuild EVIDENCE --key PUB`: runs a job again from its evidence bundle with the clock
//! moved (and `--vary` variations) and prints whether every artifact came out the same; the
//! rebuild's own evidence bundle carries the signed attestation (`hrun verify` checks it).
//! `hrun rebuild --watch DIR --key PUB` does it for every new bundle under DIR on a schedule,
//! keeping a ledger that `hrun rebuild status` shows.
//!
//! Exit codes: 0 reproducible, 1 not reproducible, 2 could not rebuild (the evidence does not
//! verify, or something it names is not available here; the reason is printed). Of `status`: 0
//! no bundle's latest rebuild is not reproducible, 1 one is, 2 the ledger cannot be read.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use actions_compat::policy::discover::repository_root;
use provenance::reproducibility::{SubjectOutcome, Verdict, REBUILD_DIFF, REPRODUCIBILITY};

use crate::commands::exec::{watch_ctrl_c, ColorArg};
use crate::config::RunnerConfig;
use crate::engine::execute::RunCancel;
use crate::engine::run::run_id;
use crate::evidence::EvidenceOptions;
use crate::exit::Exit;
use crate::rebuild::ledger::{Ledger, LedgerVerdict};
use crate::rebuild::variation::{pin_to_one_cpu, DEFAULT_SHIFT_DAYS};
use crate::rebuild::watch::{parse_duration, watch, WatchOptions};
use crate::rebuild::{self, RebuildRequest, Vary};

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RebuildArgs {
    #[command(subcommand)]
    pub command: Option<RebuildCommand>,
    /// The original job's evidence bundle (`jobs/<job>/evidence.tar` of its run).
    pub evidence: Option<PathBuf>,
    /// The public key the original was signed with (PEM); the bundle is verified first.
    #[arg(long, value_name = "PUB")]
    pub key: Option<PathBuf>,
    /// Rebuild every new evidence.tar under DIR (once each, when older than --after), again
    /// every --every; results go to the ledger.
    #[arg(long, value_name = "DIR", conflicts_with = "evidence")]
    pub watch: Option<PathBuf>,
    /// With --watch: time between passes (90s, 30m, 24h, 7d).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    pub every: Duration,
    /// With --watch: how old a bundle must be before it is rebuilt (default: --every).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub after: Option<Duration>,
    /// With --watch: one pass, then exit (for a systemd timer or cron).
    #[arg(long)]
    pub once: bool,
    /// With --watch: the ledger file (default `$HRUN_CACHE/rebuilds/ledger.jsonl`).
    #[arg(long, value_name = "FILE")]
    pub ledger: Option<PathBuf>,
    /// Days the steps' wall clock is moved (negative: back; 0: not moved).
    #[arg(long, value_name = "DAYS", default_value_t = DEFAULT_SHIFT_DAYS, allow_hyphen_values = true)]
    pub shift: i64,
    /// What else to vary, comma-separated: tz, locale, hostname, user, parallelism.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_vary)]
    pub vary: Vec<Vary>,
    /// A local clone of the source repository that holds the original's commit (default: the
    /// repository of the current directory). Nothing is fetched.
    #[arg(long, value_name = "DIR")]
    pub source: Option<PathBuf>,
    /// Where the rebuild's results go (default `.hrun/rebuilds/<run-id>/`; with --watch, where
    /// each rebuild's directory is made, default `$HRUN_CACHE/rebuilds/runs/`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The original's artifacts, for the diff report (default: `artifacts/` beside EVIDENCE).
    #[arg(long, value_name = "DIR")]
    pub original_artifacts: Option<PathBuf>,
    /// The key that signs the rebuild's evidence (as for `hrun exec`).
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
    /// The audit log's directory (as for `hrun exec`).
    #[arg(long, value_name = "DIR")]
    pub audit_dir: Option<PathBuf>,
    /// The runner's configuration file (as for `hrun exec`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Colors: `auto` (only on a terminal), `always`, `never`.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,
    /// Print only the verdict (the log files are still written).
    #[arg(long)]
    pub quiet: bool,
}

/// `hrun rebuild status`.
#[derive(Debug, clap::Subcommand)]
pub enum RebuildCommand {
    /// The ledger of scheduled rebuilds: the latest result of each bundle (exit 0 none is not
    /// reproducible, 1 one is, 2 the ledger cannot be read).
    Status(StatusArgs),
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The ledger file (default `$HRUN_CACHE/rebuilds/ledger.jsonl`).
    #[arg(long, value_name = "FILE")]
    pub ledger: Option<PathBuf>,
    /// `human` or `json` (the latest entry of each bundle).
    #[arg(long, value_enum, default_value_t = StatusFormat::Human)]
    pub format: StatusFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StatusFormat {
    Human,
    Json,
}

fn parse_vary(s: &str) -> Result<Vary, String> {
    s.parse()
}

pub fn run(args: RebuildArgs) -> Result<Exit> {
    let could_not = |what: String| {
        eprintln!("could not rebuild: {what}");
        Ok(Exit::CouldNotEvaluate)
    };
    if let Some(RebuildCommand::Status(status_args)) = &args.command {
        return status(status_args);
    }
    let Some(key) = args.key.clone() else {
        return could_not("--key PUB (the runner's public key) is required".to_owned());
    };
    if let Some(dir) = &args.watch {
        return watch_dir(&args, dir, &key);
    }
    let Some(evidence) = args.evidence.clone() else {
        return could_not("give the evidence.tar to rebuild, or --watch DIR".to_owned());
    };
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let runner_config = match RunnerConfig::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return could_not(e.to_string()),
    };
    let vary: Vec<Vary> = {
        let mut v = args.vary.clone();
        v.sort();
        v.dedup();
        v
    };
    let color = match args.color {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let request = RebuildRequest {
        evidence,
        key,
        shift_days: args.shift,
        vary,
        source: args.source.clone().unwrap_or_else(|| repository_root(&cwd)),
        out_dir: args
            .out
            .clone()
            .unwrap_or_else(|| cwd.join(".hrun").join("rebuilds").join(run_id())),
        original_artifacts: args.original_artifacts.clone(),
        evidence_options: EvidenceOptions {
            signing_key: args.signing_key.clone(),
            configured_key: runner_config.evidence.signing_key.clone(),
            audit_dir: args.audit_dir.clone(),
            configured_audit_dir: runner_config.evidence.audit_dir.clone(),
            git_notes: None,
            attestor: None,
        },
        runner_config,
        color,
        quiet: args.quiet,
    };
    let prepared = match rebuild::prepare(request) {
        Ok(p) => p,
        Err(e) => return could_not(e.to_string()),
    };
    // Before the runtime's threads start, so that they and every step inherit it.
    if prepared.plan.one_cpu {
        if let Err(e) = pin_to_one_cpu() {
            return could_not(format!("cannot pin the rebuild to one CPU: {e}"));
        }
    }
    let job = prepared.original.job_key.clone();
    let original_invocation = prepared.original.invocation_id.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let cancel = RunCancel::default();
    let outcome = runtime.block_on(async {
        let watcher = tokio::spawn(watch_ctrl_c(cancel.clone()));
        let outcome = rebuild::run(prepared, cancel).await;
        watcher.abort();
        outcome
    });
    let report = match outcome {
        Ok(r) => r,
        Err(e) => return could_not(e.to_string()),
    };
    let a = &report.attested;
    if !args.quiet {
        println!(
            "rebuild of job {job} ({original_invocation}) as {}",
            a.invocation_id
        );
        for v in &report.variations {
            println!(
                "  varied {}: {} -> {} ({})",
                v.name, v.original, v.rebuild, v.mechanism
            );
        }
        for s in &a.subjects {
            let outcome = match s.outcome {
                SubjectOutcome::Identical => "identical",
                SubjectOutcome::Differs => "DIFFERS",
                SubjectOutcome::Missing => "MISSING in the rebuild",
                SubjectOutcome::Extra => "EXTRA in the rebuild",
            };
            println!("  {outcome:<9} {}", s.name);
        }
        if a.conclusion != "success" {
            println!("  the rebuilt job ended with `{}`", a.conclusion);
        }
    }
    println!(
        "{}: attestation {}, evidence {}",
        a.verdict.as_str(),
        a.job_dir.join(REPRODUCIBILITY).display(),
        a.job_dir.join("evidence.tar").display()
    );
    if a.report.is_some() {
        println!("diff report: {}", a.job_dir.join(REBUILD_DIFF).display());
    }
    if !args.quiet {
        println!("results in {}", report.out_dir.display());
    }
    Ok(match a.verdict {
        Verdict::Reproducible => Exit::Ok,
        Verdict::NotReproducible => Exit::Denied,
    })
}

/// `--watch DIR`: the loop of [`crate::rebuild::watch`], each rebuild with this command's flags.
fn watch_dir(args: &RebuildArgs, dir: &Path, key: &Path) -> Result<Exit> {
    let could_not = |what: String| {
        eprintln!("could not rebuild: {what}");
        Ok(Exit::CouldNotEvaluate)
    };
    if !dir.is_dir() {
        return could_not(format!("--watch {}: not a directory", dir.display()));
    }
    let Some(ledger) = args.ledger.clone().or_else(Ledger::default_path) else {
        return could_not("no ledger file: pass --ledger".to_owned());
    };
    let Some(out_root) = args
        .out
        .clone()
        .or_else(|| crate::cache::cache_dir().map(|c| c.join("rebuilds").join("runs")))
    else {
        return could_not("no directory for the rebuilds: pass --out".to_owned());
    };
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut rebuild_args: Vec<OsString> = vec![
        "--key".into(),
        absolute(key).into(),
        "--shift".into(),
        args.shift.to_string().into(),
    ];
    if !args.vary.is_empty() {
        let words: Vec<&str> = args.vary.iter().map(|v| v.as_str()).collect();
        rebuild_args.extend(["--vary".into(), words.join(",").into()]);
    }
    for (flag, value) in [
        ("--source", &args.source),
        ("--signing-key", &args.signing_key),
        ("--audit-dir", &args.audit_dir),
        ("--config", &args.config),
    ] {
        if let Some(v) = value {
            rebuild_args.extend([flag.into(), absolute(v).into()]);
        }
    }
    let options = WatchOptions {
        dir: dir.to_path_buf(),
        every: args.every,
        after: args.after.unwrap_or(args.every),
        once: args.once,
        ledger: Ledger::new(ledger),
        out_root,
        rebuild_args,
    };
    let program = std::env::current_exe().context("cannot find hrun's own executable")?;
    println!(
        "watching {} (rebuilds when older than {} s, every {} s; ledger {})",
        dir.display(),
        options.after.as_secs(),
        options.every.as_secs(),
        options.ledger.path().display()
    );
    match watch(&options, &program, &mut |note: &str| println!("{note}")) {
        Ok(()) => Ok(Exit::Ok),
        Err(e) => could_not(format!("the watch stopped: {e}")),
    }
}

/// `hrun rebuild status`.
fn status(args: &StatusArgs) -> Result<Exit> {
    let Some(path) = args.ledger.clone().or_else(Ledger::default_path) else {
        eprintln!("could not read the ledger: pass --ledger");
        return Ok(Exit::CouldNotEvaluate);
    };
    let ledger = Ledger::new(&path);
    let state = match ledger.read() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("could not read the ledger {}: {e}", path.display());
            return Ok(Exit::CouldNotEvaluate);
        }
    };
    let mut entries: Vec<_> = state.latest.values().collect();
    entries.sort_by(|a, b| a.at.cmp(&b.at).then(a.evidence.cmp(&b.evidence)));
    let count = |v: LedgerVerdict| entries.iter().filter(|e| e.verdict == v).count();
    match args.format {
        StatusFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&entries)?);
        }
        StatusFormat::Human => {
            println!(
                "ledger {}: {} bundle(s): {} reproducible, {} not reproducible, {} could not rebuild, {} skipped",
                path.display(),
                entries.len(),
                count(LedgerVerdict::Reproducible),
                count(LedgerVerdict::NotReproducible),
                count(LedgerVerdict::CouldNotRebuild),
                count(LedgerVerdict::Skipped)
            );
            for e in &entries {
                println!(
                    "{}  {:<17}  {:<12}  {}",
                    e.at,
                    e.verdict.as_str(),
                    e.job.as_deref().unwrap_or("-"),
                    e.evidence.display()
                );
            }
            if state.unreadable > 0 {
                println!("({} unreadable line(s) skipped)", state.unreadable);
            }
        }
    }
    Ok(if count(LedgerVerdict::NotReproducible) > 0 {
        Exit::Denied
    } else {
        Exit::Ok
    })
}
