//! What a rebuild reads from the original's evidence bundle: the bundle is verified with the
//! runner's public key first, then everything the job ran from is taken from its signed
//! provenance and members, never from anywhere else; what is missing or unusable is an
//! [`Unavailable`] naming it.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use provenance::digest::Sha256Digest;
use provenance::evidence::tarball;
use provenance::keys::VerifyingKey;
use provenance::slsa::{ProvenanceStatement, StepEnvironment};
use provenance::statement::ResourceDescriptor;
use provenance::verify::{verify_evidence, Expectations, Rejection};

/// The member holding the event payload the job was given.
pub const EVENT_MEMBER: &str = "event.json";

/// Why the evidence cannot be rebuilt (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    #[error("the evidence does not verify with the given key: {0}")]
    NotVerified(#[from] Rejection),
    #[error("the evidence names no source commit: the job did not run from a git checkout")]
    NoCommit,
    #[error("the evidence names no workflow file")]
    NoWorkflow,
    #[error("job `{0}` belongs to a reusable workflow; rebuilding those is not supported yet")]
    CalledWorkflow(String),
    #[error("the evidence of matrix job `{0}` does not record its matrix values (written by an older hrun)")]
    NoMatrix(String),
    #[error("the evidence holds no `{EVENT_MEMBER}` (written by an older hrun): the event payload is unknown")]
    NoEvent,
    #[error("the job's {0} were masked in the evidence (they held a secret): a rebuild cannot give them again")]
    Masked(&'static str),
    #[error("the job left no artifacts under $HRUN_ARTIFACTS: there is nothing to compare")]
    NoArtifacts,
    #[error("action {uri}: {reason}")]
    Action { uri: String, reason: String },
    #[error("the guest image: {0}")]
    Image(String),
    #[error("the source: {0}")]
    Source(String),
    #[error("{0}")]
    Unreadable(String),
}

/// A remote action the job used, as its provenance pins it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedAction {
    pub uri: String,
    pub owner: String,
    pub repo: String,
    pub sha: String,
    /// The tarball digest the original recorded.
    pub sha256: String,
}

/// Everything the job ran from, by the original's word.
#[derive(Debug, Clone)]
pub struct Original {
    /// SHA-256 of the original `evidence.tar`.
    pub evidence_sha256: Sha256Digest,
    pub invocation_id: String,
    /// The job's key in its run (`build`, `build (linux)`).
    pub job_key: String,
    /// The job's id in its workflow.
    pub job_id: String,
    pub matrix: Json,
    /// `https://github.com/owner/repo`, or `local/<dir>`.
    pub repository: String,
    pub git_ref: String,
    pub commit: String,
    /// Relative to the repository root.
    pub workflow_path: String,
    pub event_name: String,
    pub event: Json,
    pub inputs: BTreeMap<String, Json>,
    pub vars: BTreeMap<String, Json>,
    /// `namespace`, `microvm`, `none`.
    pub sandbox: String,
    /// `deny` or `allow`.
    pub network: String,
    pub image_digest: Option<String>,
    pub actions: Vec<PinnedAction>,
    /// The original's subjects: its artifacts.
    pub subjects: Vec<ResourceDescriptor>,
    pub environment: Option<StepEnvironment>,
    /// What the sandbox reported (`vcpus`, `step_uid`, ...).
    pub sandbox_facts: BTreeMap<String, String>,
}

impl Original {
    /// Verifies `tar` with `key` and reads what a rebuild needs from it.
    pub fn read(tar: &[u8], key: &VerifyingKey) -> Result<Original, Unavailable> {
        let verified = verify_evidence(tar, key, &Expectations::default())?;
        let (members, _) = tarball::unpack(tar).map_err(Rejection::from)?;
        let provenance = verified.provenance;
        let p = &provenance.predicate;
        let external = &p.build_definition.external_parameters;
        let internal = &p.build_definition.internal_parameters;
        let job_key = external.job.clone();
        if job_key.contains('/') {
            return Err(Unavailable::CalledWorkflow(job_key));
        }
        let job_id = job_key
            .split_once(" (")
            .map_or(job_key.as_str(), |(id, _)| id)
            .to_owned();
        if job_id != job_key && external.matrix.is_null() {
            return Err(Unavailable::NoMatrix(job_key));
        }
        if external.workflow.path.is_empty() {
            return Err(Unavailable::NoWorkflow);
        }
        let commit = source_commit(&provenance).ok_or(Unavailable::NoCommit)?;
        let event: Json = match members.get(EVENT_MEMBER) {
            Some(bytes) => serde_json::from_slice(bytes)
                .map_err(|e| Unavailable::Unreadable(format!("{EVENT_MEMBER}: {e}")))?,
            None => return Err(Unavailable::NoEvent),
        };
        for (what, value) in [
            ("inputs", serde_json::to_string(&external.inputs)),
            ("vars", serde_json::to_string(&external.vars)),
            ("matrix values", serde_json::to_string(&external.matrix)),
            ("event payload", serde_json::to_string(&event)),
        ] {
            if value.unwrap_or_default().contains("***") {
                return Err(Unavailable::Masked(what));
            }
        }
        if only_result_stand_in(&provenance) {
            return Err(Unavailable::NoArtifacts);
        }
        let config: Json = members
            .get("runner-config.json")
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Json::Null);
        let network = config
            .get("network")
            .and_then(Json::as_str)
            .unwrap_or("deny")
            .to_owned();
        Ok(Original {
            evidence_sha256: Sha256Digest::of(tar),
            invocation_id: p.run_details.metadata.invocation_id.clone(),
            job_key,
            job_id,
            matrix: external.matrix.clone(),
            repository: external.workflow.repository.clone(),
            git_ref: external.workflow.git_ref.clone(),
            commit,
            workflow_path: external.workflow.path.clone(),
            event_name: external.event_name.clone(),
            event,
            inputs: external.inputs.clone(),
            vars: external.vars.clone(),
            sandbox: internal.sandbox.kind.clone(),
            network,
            image_digest: internal.image_digest.clone(),
            actions: pinned_actions(&provenance)?,
            subjects: provenance.subject.clone(),
            environment: internal.environment.clone(),
            sandbox_facts: internal.sandbox.facts.clone(),
        })
    }

    /// `--matrix` filters selecting the original's combination (its scalar values; the job key
    /// then picks the exact one).
    pub fn matrix_filter(&self) -> Vec<(String, String)> {
        let Json::Object(values) = &self.matrix else {
            return Vec::new();
        };
        values
            .iter()
            .filter_map(|(k, v)| {
                let text = match v {
                    Json::String(s) => s.clone(),
                    Json::Bool(b) => b.to_string(),
                    Json::Number(n) => {
                        actions_compat::expr::Value::from_json(Json::Number(n.clone()))
                            .to_expr_string()
                    }
                    _ => return None,
                };
                Some((k.clone(), text))
            })
            .collect()
    }
}

/// The source commit: the first resolved dependency with a `gitCommit` digest whose URI is the
/// workflow's repository.
fn source_commit(provenance: &ProvenanceStatement) -> Option<String> {
    let def = &provenance.predicate.build_definition;
    let repo = &def.external_parameters.workflow.repository;
    def.resolved_dependencies
        .iter()
        .find(|d| d.uri.starts_with(&format!("git+{repo}@")))
        .and_then(|d| d.digest.get("gitCommit"))
        .filter(|sha| sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|sha| sha.to_ascii_lowercase())
}

/// Whether the only subject is `result.json`, which a job without artifacts attests.
fn only_result_stand_in(provenance: &ProvenanceStatement) -> bool {
    let result = provenance
        .predicate
        .run_details
        .byproducts
        .iter()
        .find(|b| b.name == "result.json")
        .and_then(ResourceDescriptor::sha256);
    match provenance.subject.as_slice() {
        [only] => only.name == "result.json" && only.sha256() == result,
        [] => true,
        _ => false,
    }
}

/// The remote actions among the resolved dependencies (they carry a tree digest annotation).
fn pinned_actions(provenance: &ProvenanceStatement) -> Result<Vec<PinnedAction>, Unavailable> {
    let mut actions = Vec::new();
    for dep in &provenance.predicate.build_definition.resolved_dependencies {
        if !dep.annotations.contains_key("treeSha256") {
            continue;
        }
        let bad = |reason: &str| Unavailable::Action {
            uri: dep.uri.clone(),
            reason: reason.to_owned(),
        };
        let path = dep
            .uri
            .strip_prefix("git+https://github.com/")
            .ok_or_else(|| bad("not a GitHub repository"))?;
        let (repo_path, sha) = path
            .rsplit_once('@')
            .ok_or_else(|| bad("no commit in its URI"))?;
        let (owner, repo) = repo_path
            .split_once('/')
            .ok_or_else(|| bad("not owner/repo"))?;
        let sha256 = dep
            .digest
            .get("sha256")
            .cloned()
            .ok_or_else(|| bad("no tarball digest recorded"))?;
        actions.push(PinnedAction {
            uri: dep.uri.clone(),
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            sha: sha.to_owned(),
            sha256,
        });
    }
    Ok(actions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use provenance::slsa::{
        job_statement, BuildDefinition, BuildMetadata, Builder, ExternalParameters,
        InternalParameters, RunDetails, RunnerParameters, SandboxParameters, WorkflowRef,
    };

    fn statement(
        subjects: Vec<ResourceDescriptor>,
        deps: Vec<ResourceDescriptor>,
    ) -> ProvenanceStatement {
        job_statement(
            subjects,
            BuildDefinition {
                build_type: "t".into(),
                external_parameters: ExternalParameters {
                    workflow: WorkflowRef {
                        git_ref: "refs/heads/main".into(),
                        repository: "https://github.com/octo/hello".into(),
                        path: ".github/workflows/b.yml".into(),
                    },
                    event_name: "push".into(),
                    inputs: BTreeMap::new(),
                    job: "build".into(),
                    matrix: Json::Null,
                    vars: BTreeMap::new(),
                },
                internal_parameters: InternalParameters {
                    runner: RunnerParameters {
                        version: "0".into(),
                        config_digest: String::new(),
                    },
                    sandbox: SandboxParameters {
                        kind: "namespace".into(),
                        accelerator: None,
                        facts: BTreeMap::new(),
                    },
                    egress_policy_digest: None,
                    image_digest: None,
                    environment: None,
                },
                resolved_dependencies: deps,
            },
            RunDetails {
                builder: Builder {
                    id: "b".into(),
                    version: BTreeMap::new(),
                },
                metadata: BuildMetadata {
                    invocation_id: "i".into(),
                    started_on: String::new(),
                    finished_on: String::new(),
                },
                byproducts: vec![ResourceDescriptor::file(
                    "result.json",
                    Sha256Digest::of(b"{}"),
                )],
            },
        )
    }

    #[test]
    fn finds_the_source_commit_of_the_workflows_repository() {
        let mut source = ResourceDescriptor {
            uri: "git+https://github.com/octo/hello@refs/heads/main".into(),
            ..ResourceDescriptor::default()
        };
        source.digest.insert("gitCommit".into(), "AB".repeat(20));
        let s = statement(Vec::new(), vec![source]);
        assert_eq!(source_commit(&s), Some("ab".repeat(20)));
        assert_eq!(source_commit(&statement(Vec::new(), Vec::new())), None);
    }

    #[test]
    fn a_job_that_attests_only_its_result_has_nothing_to_compare() {
        let stand_in = ResourceDescriptor::file("result.json", Sha256Digest::of(b"{}"));
        assert!(only_result_stand_in(&statement(vec![stand_in], Vec::new())));
        let artifact = ResourceDescriptor::file("app.tar", Sha256Digest::of(b"x"));
        assert!(!only_result_stand_in(&statement(
            vec![artifact],
            Vec::new()
        )));
    }

    #[test]
    fn reads_pinned_actions_from_the_dependencies() {
        let mut dep = ResourceDescriptor {
            uri: format!("git+https://github.com/actions/checkout@{}", "a".repeat(40)),
            ..ResourceDescriptor::default()
        };
        dep.digest.insert("sha256".into(), "b".repeat(64));
        dep.annotations
            .insert("treeSha256".into(), Json::String("c".repeat(64)));
        let actions = pinned_actions(&statement(Vec::new(), vec![dep])).unwrap();
        assert_eq!(actions.len(), 1);
        assert_eq!(actions[0].owner, "actions");
        assert_eq!(actions[0].repo, "checkout");
        assert_eq!(actions[0].sha, "a".repeat(40));
    }
}
