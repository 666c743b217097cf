//! Runs a decoded job through the engine, exactly as `hrun exec` runs a job of a local workflow:
//! the same sandbox choice, job directories, executor, masker and step loop.
//!
//! A job from GitHub starts with an empty workspace named after its repository (its steps check
//! the code out, as on GitHub). What the job printed is read back from its log file for upload;
//! the job's directories are removed when it ends.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hermetic::{select_executor, HostIdentity, Network, SandboxChoice, SandboxConfig};

use super::message::DecodedJob;
use crate::actions::ActionStore;
use crate::engine::determinism::RunEnvironment;
use crate::engine::execute::{run_job, JobEnded, JobSetup, RunCancel};
use crate::engine::output::LiveLog;
use crate::engine::run::{base_path, nix_is_root, run_id};
use crate::engine::workspace::{prepare_job, Owner};
use crate::engine::SharedMasker;

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
}

/// A job's end, with its log.
#[derive(Debug)]
pub struct EngineRun {
    pub ended: JobEnded,
    /// The job's log (masked), as written to its log file.
    pub log: String,
}

/// Runs the job; `Err` when it could not start (no sandbox, no directories).
pub async fn run_decoded(
    job: DecodedJob,
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
    let result = run_in(
        job, options, cancel, &work_root, &source, sandbox, owner, identity, masker, store,
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
    let out_dir = work_root.join("out");
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
        // Jobs taken from GitHub do not write provenance and evidence yet (issue #8 notes it).
        evidence: None,
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
    Ok(EngineRun { ended, log })
}
