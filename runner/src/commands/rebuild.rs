//! `hrun rebuild EVIDENCE --key PUB`: runs a job again from its evidence bundle with the clock
//! moved (and `--vary` variations) and prints whether every artifact came out the same; the
//! rebuild's own evidence bundle carries the signed attestation (`hrun verify` checks it).
//!
//! Exit codes: 0 reproducible, 1 not reproducible, 2 could not rebuild (the evidence does not
//! verify, or something it names is not available here; the reason is printed).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};

use actions_compat::policy::discover::repository_root;
use provenance::reproducibility::{SubjectOutcome, Verdict, REBUILD_DIFF, REPRODUCIBILITY};

use crate::commands::exec::{watch_ctrl_c, ColorArg};
use crate::config::RunnerConfig;
use crate::engine::execute::RunCancel;
use crate::engine::run::run_id;
use crate::evidence::EvidenceOptions;
use crate::exit::Exit;
use crate::rebuild::variation::{pin_to_one_cpu, DEFAULT_SHIFT_DAYS};
use crate::rebuild::{self, RebuildRequest, Vary};

#[derive(Debug, clap::Args)]
pub struct RebuildArgs {
    /// The original job's evidence bundle (`jobs/<job>/evidence.tar` of its run).
    pub evidence: PathBuf,
    /// The public key the original was signed with (PEM); the bundle is verified first.
    #[arg(long, value_name = "PUB")]
    pub key: PathBuf,
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
    /// Where the rebuild's results go (default `.hrun/rebuilds/<run-id>/`).
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

fn parse_vary(s: &str) -> Result<Vary, String> {
    s.parse()
}

pub fn run(args: RebuildArgs) -> Result<Exit> {
    let could_not = |what: String| {
        eprintln!("could not rebuild: {what}");
        Ok(Exit::CouldNotEvaluate)
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
        evidence: args.evidence.clone(),
        key: args.key.clone(),
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
            audit_dir: args.audit_dir.clone(),
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
