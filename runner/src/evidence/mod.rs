//! What every `hrun exec` job leaves to be checked later: signed SLSA provenance
//! (`provenance.sigstore.json`), a signed evidence bundle (`evidence.tar`) and records in the
//! host's audit log. The `provenance` crate does the formats and the signing; this module
//! gathers what the engine knows and writes the files.
//!
//! A run opens one [`RunEvidence`] (signing key, audit log, the run's facts) before any job
//! starts; each job gets a [`JobRecorder`] when it starts and hands it back when it ends
//! ([`RunEvidence::finish_job`], in [`job`]), after its `result.json` is written and before its
//! directories are removed. With `--git-notes` ([`git_notes`]) each job's signed receipt is
//! attached to the source commit. The audit events of a job's end are built in [`events`].
//!
//! Must never: let the signing key reach a step (it is read here, on the host, and no sandbox
//! binds its directory), or write a value nobody measured: what the sandbox does not report yet
//! (guest image, egress policy, secret scan) is recorded as absent, with the reason.

pub mod artifacts;
pub mod events;
pub mod git_notes;
pub mod job;
pub mod signing_key;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{json, Value as Json};

use provenance::audit::record::{Event, EventKind};
use provenance::audit::AuditLog;
use provenance::digest::Sha256Digest;
use provenance::keys::SigningKey;
use provenance::statement::ResourceDescriptor;

pub use signing_key::KeySource;

/// The builder id our provenance states (`hrun verify --builder-id` compares it).
pub fn builder_id() -> String {
    format!(
        "https://github.com/hermetic-runner/hrun/runner@v{}",
        env!("CARGO_PKG_VERSION")
    )
}

/// What the engine knows of the run before its jobs start.
#[derive(Debug, Clone)]
pub struct RunFacts {
    pub run_id: String,
    /// `owner/repo`.
    pub repository: String,
    /// `refs/heads/main`, or empty (detached).
    pub git_ref: String,
    /// The source commit, or empty (not a git checkout).
    pub sha: String,
    /// The workflow file relative to the repository root.
    pub workflow_path: String,
    pub event_name: String,
    /// The sandbox the jobs run in (`namespace`, `none`).
    pub sandbox: String,
    /// `deny` or `allow`.
    pub network: String,
    /// The policy gate's report on the workflow (JSON).
    pub policy: Vec<u8>,
    /// The store trees of the remote actions the run uses.
    pub action_trees: Vec<PathBuf>,
    /// The committer time of the source commit, when known: the mtime of every evidence member
    /// unless the runner's own `SOURCE_DATE_EPOCH` says otherwise.
    pub commit_epoch: Option<u64>,
    /// The event payload the run was given (`--eventpath`), kept as `event.json` so that a
    /// rebuild can give it again.
    pub event: Json,
}

/// Adds signed members to a job's evidence bundle once the job's subjects are known: a
/// rebuild's reproducibility attestation (`crate::rebuild`).
pub trait Attestor: Send + Sync + std::fmt::Debug {
    /// The members to add to the bundle of `job` (none for a job it is not about).
    fn members(&self, job: &FinishedJob<'_>) -> anyhow::Result<Vec<(String, Vec<u8>)>>;
}

/// What an [`Attestor`] is told of a job that ended.
pub struct FinishedJob<'a> {
    pub key: &'a str,
    pub invocation_id: &'a str,
    /// `success`, `failure`, ...
    pub conclusion: &'a str,
    /// The regular files it left under `$HRUN_ARTIFACTS`, by name and SHA-256 (masked names).
    pub artifacts: &'a [ResourceDescriptor],
    /// Where those files are now (`jobs/<key>/artifacts/`).
    pub artifacts_dir: &'a Path,
    /// Signs an in-toto statement into a Sigstore bundle with the run's key.
    pub sign: &'a dyn Fn(&[u8]) -> Vec<u8>,
}

/// Where evidence comes from and goes, for `hrun exec` and `hrun run`.
#[derive(Debug, Clone, Default)]
pub struct EvidenceOptions {
    /// `--signing-key`.
    pub signing_key: Option<PathBuf>,
    /// The runner's configuration file's `[evidence] signing_key` (after `$HRUN_SIGNING_KEY`).
    pub configured_key: Option<PathBuf>,
    /// `--audit-dir`; default `$HRUN_AUDIT_DIR`, else the configuration file's
    /// `[evidence] audit_dir`, else `$HRUN_CACHE/audit`.
    pub audit_dir: Option<PathBuf>,
    /// What adds members to the bundles (a rebuild's attestation); `None` adds nothing.
    pub attestor: Option<std::sync::Arc<dyn Attestor>>,
    /// The configuration file's `[evidence] audit_dir`.
    pub configured_audit_dir: Option<PathBuf>,
    /// `--git-notes`: the repository whose source commit gets each job's receipt.
    pub git_notes: Option<PathBuf>,
}

/// A run's evidence state, shared by its jobs.
pub struct RunEvidence {
    key: SigningKey,
    audit: Mutex<AuditLog>,
    source: KeySource,
    facts: RunFacts,
    /// `runner-config.json`.
    runner_config: Vec<u8>,
    dependencies: Vec<ResourceDescriptor>,
    source_date_epoch: u64,
    attestor: Option<std::sync::Arc<dyn Attestor>>,
    /// `--git-notes`: the repository, and a lock so this run's jobs append one at a time.
    git_notes: Option<(PathBuf, Mutex<()>)>,
}

impl std::fmt::Debug for RunEvidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunEvidence")
            .field("source", &self.source)
            .field("run", &self.facts.run_id)
            .finish()
    }
}

impl RunEvidence {
    /// Resolves the key, opens the audit log and records the run's policy decision.
    pub fn start(options: &EvidenceOptions, facts: RunFacts) -> anyhow::Result<RunEvidence> {
        let (key, source) = signing_key::resolve(
            options.signing_key.as_deref(),
            options.configured_key.as_deref(),
        )?;
        let audit_dir = match &options.audit_dir {
            Some(d) => d.clone(),
            None => match std::env::var_os("HRUN_AUDIT_DIR").filter(|v| !v.is_empty()) {
                Some(d) => PathBuf::from(d),
                None => match &options.configured_audit_dir {
                    Some(d) => d.clone(),
                    None => signing_key::cache_dir()
                        .ok_or_else(|| anyhow::anyhow!("no audit log directory: pass --audit-dir"))?
                        .join("audit"),
                },
            },
        };
        let audit = AuditLog::open(&audit_dir, key.clone())?;
        let runner_config = serde_json::to_vec_pretty(&json!({
            "hrun": env!("CARGO_PKG_VERSION"),
            "sandbox": facts.sandbox,
            "network": facts.network,
        }))
        .unwrap_or_default();
        let dependencies = source_and_actions(&facts);
        Ok(RunEvidence {
            key,
            audit: Mutex::new(audit),
            source,
            source_date_epoch: source_date_epoch().or(facts.commit_epoch).unwrap_or(0),
            facts,
            runner_config,
            dependencies,
            attestor: options.attestor.clone(),
            git_notes: options.git_notes.clone().map(|repo| (repo, Mutex::new(()))),
        })
    }

    /// Where the key came from, for the live log.
    pub fn key_source(&self) -> &KeySource {
        &self.source
    }

    /// Paths no job may see: the key (its directory, for the host key) and the audit log. The
    /// engine leaves them out of the workspace copy when they lie inside the repository.
    pub fn private_paths(&self) -> Vec<PathBuf> {
        let key = match &self.source {
            KeySource::Flag(p) | KeySource::Env(p) | KeySource::Config(p) => p.clone(),
            KeySource::Host { path, .. } => path
                .parent()
                .map_or_else(|| path.clone(), Path::to_path_buf),
        };
        let mut paths = Vec::new();
        for p in [key, self.audit_dir()] {
            let absolute = std::path::absolute(&p).unwrap_or_else(|_| p.clone());
            if let Ok(canonical) = std::fs::canonicalize(&p) {
                paths.push(canonical);
            }
            paths.push(absolute);
            paths.push(p);
        }
        paths
    }

    /// The audit log's directory.
    pub fn audit_dir(&self) -> PathBuf {
        self.audit().dir().to_path_buf()
    }

    fn audit(&self) -> std::sync::MutexGuard<'_, AuditLog> {
        self.audit.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends events of `job`; returns their sequence numbers.
    fn record(&self, job: &str, events: Vec<(EventKind, Json)>) -> anyhow::Result<Vec<u64>> {
        let events: Vec<Event> = events
            .into_iter()
            .map(|(kind, data)| Event {
                kind,
                run: self.facts.run_id.clone(),
                job: job.to_owned(),
                data,
            })
            .collect();
        let records = self.audit().append(&events)?;
        Ok(records.iter().map(|r| r.seq).collect())
    }

    /// A job starts: records that it was received and the policy decision it runs under.
    pub fn job_started(&self, job: &str) -> JobRecorder {
        let started = now_rfc3339();
        let policy = Sha256Digest::of(&self.facts.policy);
        let seqs = self.record(
            job,
            vec![
                (
                    EventKind::JobReceived,
                    json!({"workflow": self.facts.workflow_path, "event": self.facts.event_name}),
                ),
                (
                    EventKind::PolicyDecision,
                    json!({"decision": "allowed", "report_sha256": policy.to_hex()}),
                ),
            ],
        );
        let (seqs, error) = match seqs {
            Ok(s) => (s, None),
            Err(e) => (Vec::new(), Some(format!("{e:#}"))),
        };
        JobRecorder {
            started,
            seqs,
            error,
        }
    }
}

/// A job's part of the evidence while it runs.
#[derive(Debug)]
pub struct JobRecorder {
    /// RFC 3339, UTC.
    started: String,
    /// Its audit records so far.
    seqs: Vec<u64>,
    /// Why the audit log could not be written at the start, if it could not.
    error: Option<String>,
}

/// The source commit, then each remote action the run uses with its commit and tarball digest.
fn source_and_actions(facts: &RunFacts) -> Vec<ResourceDescriptor> {
    let mut deps = Vec::new();
    let mut source = ResourceDescriptor {
        uri: format!(
            "git+{}@{}",
            repository_url(&facts.repository),
            facts.git_ref
        ),
        ..ResourceDescriptor::default()
    };
    if !facts.sha.is_empty() {
        source
            .digest
            .insert("gitCommit".to_owned(), facts.sha.clone());
    }
    deps.push(source);
    for tree in &facts.action_trees {
        let Some(entry) = tree.parent() else { continue };
        let Ok(text) = std::fs::read_to_string(entry.join("hrun-action.json")) else {
            continue;
        };
        let Ok(record) = serde_json::from_str::<Json>(&text) else {
            continue;
        };
        let field = |k: &str| {
            record
                .get(k)
                .and_then(Json::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let mut dep = ResourceDescriptor {
            uri: format!(
                "git+https://github.com/{}/{}@{}",
                field("owner"),
                field("repo"),
                field("sha")
            ),
            ..ResourceDescriptor::default()
        };
        dep.digest.insert("gitCommit".to_owned(), field("sha"));
        dep.digest.insert("sha256".to_owned(), field("sha256"));
        dep.annotations
            .insert("treeSha256".to_owned(), json!(field("tree_sha256")));
        dep.annotations
            .insert("source".to_owned(), json!(field("source")));
        deps.push(dep);
    }
    deps
}

/// `https://github.com/owner/repo`, or `local/<dir>` as it is when the checkout has no origin.
pub fn repository_url(repository: &str) -> String {
    if repository.starts_with("local/") {
        repository.to_owned()
    } else {
        format!("https://github.com/{repository}")
    }
}

/// The runner's own `SOURCE_DATE_EPOCH` when set to a number: the mtime of every evidence
/// member (else the commit's time, else 0).
fn source_date_epoch() -> Option<u64> {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
}

/// Now, RFC 3339 in UTC with seconds.
pub fn now_rfc3339() -> String {
    provenance::audit::now()
}

/// Reads a file the job left in its output directory, if it is there.
fn read_member(dir: &Path, name: &str) -> Option<Vec<u8>> {
    std::fs::read(dir.join(name)).ok()
}
