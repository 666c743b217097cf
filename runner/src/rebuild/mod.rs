//! `hrun rebuild`: runs a job again from its evidence bundle alone, with the clock moved and
//! other variations, and attests whether every artifact came out the same.
//!
//! How a rebuild flows:
//!
//! 1. [`original`] verifies the original `evidence.tar` with the runner's public key and reads
//!    what the job ran from: source repository, ref and commit, workflow path, job id and
//!    matrix values, inputs, vars, event name and payload (`event.json`), the remote actions
//!    with their commits and tarball digests, the sandbox and the guest image digest, and the
//!    subjects to compare. Anything missing refuses the rebuild (exit 2), naming it.
//! 2. Each action must be in the action store at the recorded commit with the recorded tarball
//!    digest; a microVM job's guest image must be in the image store under its digest.
//! 3. [`source`] clones the local repository (`--source`) and checks the commit out under the
//!    original's ref and origin; [`variation`] plans the clock shift (default +400 days) and the
//!    `--vary` list for the original's sandbox (see there for how each is made, and why the
//!    namespace sandbox uses libfaketime).
//! 4. The job runs through the same engine as `hrun exec` (policy gate, sandbox, evidence), in
//!    the original's sandbox and network mode; its evidence bundle gets, through [`attest`], a
//!    signed reproducibility attestation and, on a mismatch, the [`diff`] report.
//!
//! [`watch`] does this on a schedule for every new bundle of a directory, recording each result
//! in the [`ledger`] (`hrun rebuild --watch DIR`, `hrun rebuild status`).
//!
//! Exit codes: 0 reproducible, 1 not reproducible (a subject differs, is missing or another file
//! came out, or the rebuilt job failed), 2 could not rebuild.
//!
//! Must never: take anything the job runs from from outside the verified evidence (the source
//! is checked out by the commit the provenance names; actions and image are found by digest), or
//! call a rebuild reproducible when it compared nothing.

pub mod attest;
pub mod diff;
pub mod ledger;
pub mod original;
pub mod source;
pub mod variation;
pub mod watch;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value as Json;

use hermetic::{Network, SandboxChoice};
use provenance::keys::VerifyingKey;
use provenance::reproducibility::Variation;

use crate::actions::{ActionStore, PinnedRepo};
use crate::config::RunnerConfig;
use crate::engine::execute::RunCancel;
use crate::engine::job::Secrets;
use crate::engine::run::{execute, RunOptions};
use crate::engine::secret_scan::ScanPolicy;
use crate::evidence::EvidenceOptions;

pub use attest::{Attested, RebuildAttestor};
pub use original::{Original, Unavailable};
pub use variation::{VariationPlan, Vary};

/// What `hrun rebuild` is asked.
#[derive(Debug, Clone)]
pub struct RebuildRequest {
    /// The original job's `evidence.tar`.
    pub evidence: PathBuf,
    /// The public key the original was signed with.
    pub key: PathBuf,
    pub shift_days: i64,
    pub vary: Vec<Vary>,
    /// A local clone holding the original's commit.
    pub source: PathBuf,
    /// Where the rebuild's run writes its results.
    pub out_dir: PathBuf,
    /// The original's artifacts, for the diff report (default: `artifacts/` beside the
    /// evidence).
    pub original_artifacts: Option<PathBuf>,
    /// The rebuild's signing key and audit log.
    pub evidence_options: EvidenceOptions,
    pub runner_config: RunnerConfig,
    pub color: bool,
    pub quiet: bool,
}

/// A rebuild ready to run: everything checked, the source checked out.
#[derive(Debug)]
pub struct PreparedRebuild {
    pub original: Original,
    pub plan: VariationPlan,
    checkout: source::Checkout,
    attestor: Arc<RebuildAttestor>,
    request: RebuildRequest,
}

/// How a rebuild ended.
#[derive(Debug, Clone)]
pub struct RebuildReport {
    pub attested: Attested,
    pub variations: Vec<Variation>,
    pub out_dir: PathBuf,
}

/// Reads and checks the evidence, the actions and the image; checks the source out.
pub fn prepare(request: RebuildRequest) -> Result<PreparedRebuild, Unavailable> {
    let tar = std::fs::read(&request.evidence).map_err(|e| {
        Unavailable::Unreadable(format!("cannot read {}: {e}", request.evidence.display()))
    })?;
    let key = VerifyingKey::read(&request.key)
        .map_err(|e| Unavailable::Unreadable(format!("--key {}: {e}", request.key.display())))?;
    let original = Original::read(&tar, &key)?;
    check_actions(&original)?;
    if original.sandbox == "microvm" {
        let digest = original.image_digest.as_deref().ok_or_else(|| {
            Unavailable::Image("the evidence of a microVM job records no image digest".to_owned())
        })?;
        let vm = hermetic::vm::VmConfig::from_env().map_err(Unavailable::Image)?;
        crate::engine::vm::image_by_digest(&vm.cache_dir, digest).map_err(Unavailable::Image)?;
    }
    let plan = variation::plan(
        request.shift_days,
        &request.vary,
        &original,
        variation::usable_cpus(),
    )?;
    let original_files = request.original_artifacts.clone().or_else(|| {
        request
            .evidence
            .parent()
            .map(|d| d.join("artifacts"))
            .filter(|d| d.is_dir())
    });
    let checkout = source::checkout(&request.source, &original)?;
    let attestor = Arc::new(RebuildAttestor::new(
        &original,
        original_files,
        plan.records.clone(),
    ));
    Ok(PreparedRebuild {
        original,
        plan,
        checkout,
        attestor,
        request,
    })
}

/// Every action the job used must be in the store at its commit with the recorded digest.
fn check_actions(original: &Original) -> Result<(), Unavailable> {
    if original.actions.is_empty() {
        return Ok(());
    }
    let store = ActionStore::from_env().map_err(|e| Unavailable::Action {
        uri: "(the action store)".to_owned(),
        reason: e.to_string(),
    })?;
    for action in &original.actions {
        let bad = |reason: String| Unavailable::Action {
            uri: action.uri.clone(),
            reason,
        };
        let pin = PinnedRepo::new(&action.owner, &action.repo, &action.sha)
            .map_err(|e| bad(e.to_string()))?;
        let entry = store
            .get_verified(&pin)
            .map_err(|e| bad(e.to_string()))?
            .ok_or_else(|| {
                bad(format!(
                    "not in the action store (`hrun actions pull {}/{}@{}`)",
                    action.owner, action.repo, action.sha
                ))
            })?;
        if entry.record.sha256.as_str() != action.sha256 {
            return Err(bad(format!(
                "the store holds tarball digest {}, the evidence records {}",
                entry.record.sha256.as_str(),
                action.sha256
            )));
        }
    }
    Ok(())
}

/// Runs the prepared rebuild to its verdict.
pub async fn run(
    prepared: PreparedRebuild,
    cancel: RunCancel,
) -> Result<RebuildReport, Unavailable> {
    let PreparedRebuild {
        original,
        plan,
        checkout,
        attestor,
        request,
    } = prepared;
    let sandbox: SandboxChoice = original
        .sandbox
        .parse()
        .map_err(|e: String| Unavailable::Unreadable(format!("the original's sandbox: {e}")))?;
    let network = if original.network == "allow" {
        Network::Allow
    } else {
        Network::Deny
    };
    let mut evidence = request.evidence_options.clone();
    evidence.attestor = Some(Arc::clone(&attestor) as Arc<dyn crate::evidence::Attestor>);
    let options = RunOptions {
        repo_root: checkout.root.clone(),
        workflow_path: checkout.root.join(&original.workflow_path),
        job: Some(original.job_id.clone()),
        event_name: original.event_name.clone(),
        event: original.event.clone(),
        inputs: as_strings(&original.inputs),
        vars: as_strings(&original.vars),
        secrets: Secrets::default(),
        parallel: 1,
        sandbox,
        network,
        out_dir: Some(request.out_dir.clone()),
        matrix_filter: original.matrix_filter(),
        color: request.color,
        quiet: request.quiet,
        debug: false,
        cancel_grace: Duration::from_millis(7_500),
        evidence,
        runner_config: request.runner_config.clone(),
        secret_scan: ScanPolicy::Report,
        environment: plan.environment.clone(),
    };
    let ran = execute(options, cancel)
        .await
        .map_err(|e| Unavailable::Unreadable(format!("the rebuild could not start: {e}")))?;
    drop(checkout);
    match attestor.outcome() {
        Some(attested) => Ok(RebuildReport {
            attested,
            variations: plan.records,
            out_dir: ran.out_dir,
        }),
        None => Err(Unavailable::Unreadable(format!(
            "job `{}` did not reach its end in the rebuild ({}; see {})",
            original.job_key,
            ran.conclusion.as_str(),
            ran.out_dir.display()
        ))),
    }
}

/// `inputs`/`vars` as the strings `hrun exec` takes (the run types declared inputs again).
fn as_strings(values: &std::collections::BTreeMap<String, Json>) -> IndexMap<String, String> {
    values
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Json::String(s) => s.clone(),
                other => actions_compat::expr::Value::from_json(other.clone()).to_expr_string(),
            };
            (k.clone(), text)
        })
        .collect()
}
