//! Runs a decoded job through the engine, exactly as `hrun exec` runs a job of a local workflow:
//! the same sandbox choice, job directories, executor, masker and step loop.
//!
//! A job from GitHub starts with an empty workspace named after its repository (its steps check
//! the code out, as on GitHub). What the job printed is read back from its log file for upload;
//! the job's directories are removed when it ends.
//!
//! When a signing key is configured (`[evidence]` of the runner's configuration file, or
//! `$HRUN_SIGNING_KEY`), the job leaves the same provenance, `evidence.tar` and audit records as
//! a job of `hrun exec`: its output directory (log, `result.json`, reports, evidence) is then
//! `<runner dir>/evidence/<job id>/` and is kept; otherwise it is removed with the job's other
//! directories.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hermetic::{select_executor, HostIdentity, Network, SandboxChoice, SandboxConfig};

use actions_compat::workflow::StepKind;

use super::message::DecodedJob;
use crate::actions::{ActionStore, PinnedRepo, TREE_DIR};
use crate::engine::determinism::RunEnvironment;
use crate::engine::execute::{run_job, JobEnded, JobSetup, RunCancel};
use crate::engine::output::LiveLog;
use crate::engine::run::{base_path, nix_is_root, run_id};
use crate::engine::workspace::{prepare_job, Owner};
use crate::engine::SharedMasker;
use crate::evidence::{EvidenceOptions, RunEvidence, RunFacts};

/// How jobs run on this runner.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub sandbox: SandboxChoice,
    pub network: Network,
    /// Where each job's directories are made.
    pub work_dir: PathBuf,
    pub debug: bool,
    pub cancel_grace: Duration,
    /// Print the job's log on this terminal too.
    pub show_log: bool,
    /// Evidence of each job, when a signing key is configured.
    pub evidence: Option<RunnerEvidence>,
}

/// Where a runner's jobs leave their evidence.
#[derive(Debug, Clone)]
pub struct RunnerEvidence {
    pub options: EvidenceOptions,
    /// Each job's output directory is made here (`<runner dir>/evidence`).
    pub dir: PathBuf,
}

/// What the runner knows of a job beyond its description.
#[derive(Debug, Clone)]
pub struct JobOrigin {
    /// The job's id in its message (unique: names its evidence directory and invocation).
    pub job_id: String,
    /// The policy gate's report on the job (`policy.json` of its evidence).
    pub policy: Vec<u8>,
}

/// A job's end, with its log.
#[derive(Debug)]
pub struct EngineRun {
    pub ended: JobEnded,
    /// The job's log (masked), as written to its log file.
    pub log: String,
}

/// Runs the job; `Err` when it could not start (no sandbox, no directories, no evidence).
pub async fn run_decoded(
    job: DecodedJob,
    origin: JobOrigin,
    options: &EngineOptions,
    cancel: RunCancel,
) -> Result<EngineRun, String> {
    let masker = SharedMasker::default();
    for value in &job.masks {
        masker.add_secret(value);
    }
    let store = Arc::new(ActionStore::from_env().map_err(|e| e.to_string())?);
    let sandbox = match options.sandbox {
        SandboxChoice::Auto => SandboxChoice::Namespace,
        other => other,
    };
    {
        let probe = select_executor(
            options.sandbox,
            SandboxConfig::new(Vec::<PathBuf>::new()),
            None,
        )
        .map_err(|e| format!("no usable sandbox: {e}"))?;
        tracing::info!(sandbox = probe.executor.name(), "sandbox chosen");
    }
    let (owner, identity) = if sandbox != SandboxChoice::None && nix_is_root() {
        let id = HostIdentity::NOBODY;
        (Owner::other(id.uid, id.gid), Some(id))
    } else {
        (Owner::current(), None)
    };
    let run = run_id();
    let work_root = options.work_dir.join(format!("job-{run}"));
    let repo_name = job
        .description
        .given
        .github
        .get("repository")
        .and_then(|r| r.as_str())
        .and_then(|r| r.rsplit('/').next())
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
        .unwrap_or("workspace")
        .to_owned();
    let source = work_root.join("source").join(&repo_name);
    std::fs::create_dir_all(&source)
        .map_err(|e| format!("cannot create {}: {e}", source.display()))?;
    let evidence = match &options.evidence {
        None => None,
        Some(e) => Some(job_evidence(
            e,
            &job,
            &origin,
            sandbox,
            options.network,
            &store,
        )?),
    };
    let result = run_in(
        job, options, cancel, &work_root, &source, sandbox, owner, identity, masker, store,
        evidence,
    )
    .await;
    let _ = std::fs::remove_dir_all(&work_root);
    result
}

#[allow(clippy::too_many_arguments)]
async fn run_in(
    job: DecodedJob,
    options: &EngineOptions,
    cancel: RunCancel,
    work_root: &Path,
    source: &Path,
    sandbox: SandboxChoice,
    owner: Owner,
    identity: Option<HostIdentity>,
    masker: SharedMasker,
    store: Arc<ActionStore>,
    evidence: Option<(Arc<RunEvidence>, PathBuf)>,
) -> Result<EngineRun, String> {
    let dirs = prepare_job(&work_root.join("jobs"), "0", source, &[], owner)
        .map_err(|e| format!("cannot prepare the job's directories: {e}"))?;
    let actions_dir = store.actions_dir();
    let read_only = if actions_dir.is_dir() {
        vec![actions_dir]
    } else {
        Vec::new()
    };
    let config = SandboxConfig {
        writable: dirs.writable(),
        read_only,
        tmp_dir: Some(dirs.tmp.clone()),
        network: options.network,
        hostname: hermetic::DEFAULT_HOSTNAME.to_owned(),
        identity,
    };
    let executor = select_executor(sandbox, config, None)
        .map_err(|e| format!("cannot start the sandbox: {e}"))?
        .executor;
    let out_dir = match &evidence {
        Some((_, dir)) => dir.clone(),
        None => work_root.join("out"),
    };
    let setup = JobSetup {
        desc: job.description,
        executor,
        dirs,
        owner,
        masker,
        live: LiveLog::new(false, !options.show_log),
        out_dir: out_dir.clone(),
        out_rel: "job".to_owned(),
        cancel,
        debug: options.debug,
        base_path: base_path(owner != Owner::current()),
        runner_name: "hrun".to_owned(),
        cancel_grace: options.cancel_grace,
        store,
        evidence: evidence.as_ref().map(|(e, _)| Arc::clone(e)),
        secret_scan: crate::engine::secret_scan::JobScan::new(
            std::sync::Arc::new(hermetic::scan::Scanner::new(
                hermetic::scan::RulePack::builtin(),
            )),
            crate::engine::secret_scan::ScanPolicy::Report,
        ),
        environment: Arc::new(RunEnvironment::without_commit(
            "a job from GitHub checks its source out in its own steps; the commit is not known when it starts",
            (sandbox != SandboxChoice::None).then(|| hermetic::DEFAULT_HOSTNAME.to_owned()),
        )),
    };
    let ended = run_job(setup).await;
    let log = std::fs::read_to_string(out_dir.join("log.txt")).unwrap_or_default();
    if evidence.is_some() {
        let tar = out_dir.join("evidence.tar");
        if tar.is_file() {
            tracing::info!(evidence = %tar.display(), "the job's evidence is written");
        } else {
            tracing::error!(dir = %out_dir.display(), "the job's evidence was not written");
        }
    }
    Ok(EngineRun { ended, log })
}

/// Opens the job's evidence (key, audit log, what the message says of the source) and makes its
/// output directory.
fn job_evidence(
    evidence: &RunnerEvidence,
    job: &DecodedJob,
    origin: &JobOrigin,
    sandbox: SandboxChoice,
    network: Network,
    store: &ActionStore,
) -> Result<(Arc<RunEvidence>, PathBuf), String> {
    let github = &job.description.given.github;
    let field = |k: &str| {
        github
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let id: String = origin
        .job_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let id = if id.is_empty() { run_id() } else { id };
    let facts = RunFacts {
        run_id: id.clone(),
        repository: field("repository"),
        git_ref: field("ref"),
        sha: field("sha"),
        workflow_path: job.description.workflow_file.clone(),
        event_name: field("event_name"),
        sandbox: match sandbox {
            SandboxChoice::None => "none",
            SandboxChoice::Namespace => "namespace",
            SandboxChoice::Microvm => "microvm",
            SandboxChoice::Auto => "auto",
        }
        .to_owned(),
        network: format!("{network:?}").to_ascii_lowercase(),
        policy: origin.policy.clone(),
        action_trees: action_trees(job, store),
        // The job checks its source out in its own steps: the commit's time is not known here.
        commit_epoch: None,
        event: github
            .get("event")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({})),
    };
    let run = RunEvidence::start(&evidence.options, facts)
        .map_err(|e| format!("cannot open the job's evidence: {e:#}"))?;
    tracing::info!(key = %run.key_source().describe(), audit = %run.audit_dir().display(), "evidence");
    let dir = evidence.dir.join(&id);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok((Arc::new(run), dir))
}

/// The store trees of the remote actions the job's steps use (pinned, as the gate requires).
fn action_trees(job: &DecodedJob, store: &ActionStore) -> Vec<PathBuf> {
    let mut trees: Vec<PathBuf> = job
        .description
        .steps
        .iter()
        .filter_map(|step| match &step.kind {
            StepKind::Uses { uses, .. } => PinnedRepo::parse(&uses.value).ok(),
            _ => None,
        })
        .map(|(pin, _)| store.entry_dir(&pin).join(TREE_DIR))
        .filter(|tree| tree.is_dir())
        .collect();
    trees.sort();
    trees.dedup();
    trees
}
