//! SLSA Provenance v1 for one job, shaped like GitHub's own build provenance (a
//! `buildDefinition` with the workflow as external parameters and the source commit as a
//! resolved dependency; `runDetails` with the builder id and an invocation id), so tools that
//! read GitHub's attestations read ours.
//!
//! What a job's sandbox cannot tell yet (the guest image, the egress policy: issue #4) is written
//! as an explicit `null` under its own name, never as a made-up value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::statement::{ResourceDescriptor, Statement};

/// `predicateType` of SLSA Provenance v1.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";

/// Our `buildType`: one job of a GitHub Actions workflow run by Hermetic Runner.
pub const HRUN_BUILD_TYPE: &str = "https://github.com/hermetic-runner/hrun/buildtypes/job/v1";

/// The SLSA v1 predicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    #[serde(rename = "buildDefinition")]
    pub build_definition: BuildDefinition,
    #[serde(rename = "runDetails")]
    pub run_details: RunDetails,
}

/// What was built, from what, how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildDefinition {
    #[serde(rename = "buildType")]
    pub build_type: String,
    #[serde(rename = "externalParameters")]
    pub external_parameters: ExternalParameters,
    #[serde(rename = "internalParameters")]
    pub internal_parameters: InternalParameters,
    #[serde(rename = "resolvedDependencies")]
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

/// What the user chose: the workflow, the event, the inputs, the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalParameters {
    pub workflow: WorkflowRef,
    /// `github.event_name`.
    pub event_name: String,
    /// `inputs` (of `workflow_dispatch` or of a called workflow), masked.
    pub inputs: BTreeMap<String, Json>,
    /// The job's key in the run (`build`, `build (linux)`, `call/build`).
    pub job: String,
    /// The job's `matrix` context (`null` outside a matrix), masked. Absent in provenance written
    /// before it was recorded.
    #[serde(default)]
    pub matrix: Json,
    /// The `vars` context, masked. Absent in provenance written before it was recorded.
    #[serde(default)]
    pub vars: BTreeMap<String, Json>,
}

/// Where the workflow came from, as GitHub's provenance names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowRef {
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// `https://github.com/owner/repo`, or what the checkout's origin says.
    pub repository: String,
    /// The workflow file relative to the repository root.
    pub path: String,
}

/// What the builder chose: runner, sandbox, policies, image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InternalParameters {
    pub runner: RunnerParameters,
    pub sandbox: SandboxParameters,
    /// SHA-256 of the egress policy the job ran under; `null` until the sandbox reports one
    /// (issue #4).
    #[serde(rename = "egressPolicyDigest")]
    pub egress_policy_digest: Option<String>,
    /// SHA-256 of the guest image; `null` until the sandbox reports one (issue #4).
    #[serde(rename = "imageDigest")]
    pub image_digest: Option<String>,
    /// The deterministic environment the steps got; `null` in provenance written before it was
    /// recorded.
    #[serde(default)]
    pub environment: Option<StepEnvironment>,
}

/// What every step of the job was given so that its build can be repeated bit for bit
/// (`SOURCE_DATE_EPOCH`, time zone, locale, umask, hostname, clock), and where the epoch came
/// from. A value steps did not get is `null`, with the reason beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepEnvironment {
    /// `SOURCE_DATE_EPOCH` as steps got it; `null` when it could not be determined.
    #[serde(rename = "sourceDateEpoch")]
    pub source_date_epoch: Option<u64>,
    /// `commit` (the committer time of the checked-out commit), `env` (the workflow's or the
    /// job's own `env`), or `absent`.
    #[serde(rename = "sourceDateEpochFrom")]
    pub source_date_epoch_from: String,
    /// Why there is no epoch; `null` when there is one.
    #[serde(rename = "sourceDateEpochAbsent")]
    pub source_date_epoch_absent: Option<String>,
    /// Whether the workflow or job asked for a reproducible build (`HRUN_REPRODUCIBLE`).
    pub reproducible: bool,
    /// `TZ` unless the workflow set its own.
    pub tz: String,
    /// `LC_ALL` unless the workflow set its own.
    pub locale: String,
    /// The umask steps start with (octal).
    pub umask: String,
    /// The hostname steps see; `null` when they see the host's own (`--sandbox none`).
    pub hostname: Option<String>,
    /// Seconds the steps' wall clock was moved from the runner's (0 but in rebuilds).
    #[serde(rename = "clockOffsetSeconds")]
    pub clock_offset_seconds: i64,
    /// How the clock was moved (`guest clock`, `libfaketime`); `null` when it was not.
    #[serde(rename = "clockMechanism")]
    pub clock_mechanism: Option<String>,
    /// Steps get their environment sorted by name.
    #[serde(rename = "sortedEnvironment")]
    pub sorted_environment: bool,
}

/// The runner itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunnerParameters {
    pub version: String,
    /// SHA-256 of the runner configuration the run used (the `runner-config.json` evidence
    /// member).
    #[serde(rename = "configDigest")]
    pub config_digest: String,
}

/// The sandbox the steps ran in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxParameters {
    /// `namespace`, `microvm`, `none`, ...
    pub kind: String,
    /// `kvm`, `tcg`, ...; `null` when the sandbox has none (not a virtual machine).
    pub accelerator: Option<String>,
    /// Everything the sandbox reported about the job (`result.json`'s `sandbox_details`).
    pub facts: BTreeMap<String, String>,
}

/// Who built, which invocation, when, and what else came out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunDetails {
    pub builder: Builder,
    pub metadata: BuildMetadata,
    /// The job's logs and result, by digest.
    pub byproducts: Vec<ResourceDescriptor>,
}

/// The builder's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Builder {
    pub id: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub version: BTreeMap<String, String>,
}

/// When and as which invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildMetadata {
    #[serde(rename = "invocationId")]
    pub invocation_id: String,
    /// RFC 3339, UTC.
    #[serde(rename = "startedOn")]
    pub started_on: String,
    /// RFC 3339, UTC.
    #[serde(rename = "finishedOn")]
    pub finished_on: String,
}

/// The provenance statement of a job: its artifacts as subjects.
pub type ProvenanceStatement = Statement<Provenance>;

/// A job's provenance from its parts.
pub fn job_statement(
    subjects: Vec<ResourceDescriptor>,
    build_definition: BuildDefinition,
    run_details: RunDetails,
) -> ProvenanceStatement {
    Statement::new(
        subjects,
        SLSA_PROVENANCE_V1,
        Provenance {
            build_definition,
            run_details,
        },
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::digest::Sha256Digest;

    pub(crate) fn sample() -> ProvenanceStatement {
        job_statement(
            vec![ResourceDescriptor::file(
                "dist/app",
                Sha256Digest::of(b"app"),
            )],
            BuildDefinition {
                build_type: HRUN_BUILD_TYPE.to_owned(),
                external_parameters: ExternalParameters {
                    workflow: WorkflowRef {
                        git_ref: "refs/heads/main".into(),
                        repository: "https://github.com/octo/hello".into(),
                        path: ".github/workflows/ci.yml".into(),
                    },
                    event_name: "push".into(),
                    inputs: BTreeMap::new(),
                    job: "build".into(),
                    matrix: Json::Null,
                    vars: BTreeMap::new(),
                },
                internal_parameters: InternalParameters {
                    runner: RunnerParameters {
                        version: "0.1.0".into(),
                        config_digest: Sha256Digest::of(b"{}").to_hex(),
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
                resolved_dependencies: vec![ResourceDescriptor {
                    uri: "git+https://github.com/octo/hello@refs/heads/main".into(),
                    digest: BTreeMap::from([("gitCommit".into(), "a".repeat(40))]),
                    ..ResourceDescriptor::default()
                }],
            },
            RunDetails {
                builder: Builder {
                    id: "https://github.com/hermetic-runner/hrun@v0.1.0".into(),
                    version: BTreeMap::new(),
                },
                metadata: BuildMetadata {
                    invocation_id: "run-1/build".into(),
                    started_on: "2024-01-01T00:00:00Z".into(),
                    finished_on: "2024-01-01T00:01:00Z".into(),
                },
                byproducts: Vec::new(),
            },
        )
    }

    #[test]
    fn absent_facts_are_explicit_nulls_under_their_names() {
        let text = String::from_utf8(sample().to_bytes()).unwrap();
        assert!(text.contains(r#""egressPolicyDigest":null"#), "{text}");
        assert!(text.contains(r#""imageDigest":null"#), "{text}");
        assert!(text.contains(r#""accelerator":null"#), "{text}");
    }

    #[test]
    fn reads_provenance_written_before_the_environment_was_recorded() {
        let mut json: Json = serde_json::from_slice(&sample().to_bytes()).unwrap();
        let def = &mut json["predicate"]["buildDefinition"];
        def["internalParameters"]
            .as_object_mut()
            .unwrap()
            .remove("environment");
        let external = def["externalParameters"].as_object_mut().unwrap();
        external.remove("matrix");
        external.remove("vars");
        let back: ProvenanceStatement = serde_json::from_value(json).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn round_trips_through_json() {
        let s = sample();
        let back: ProvenanceStatement = serde_json::from_slice(&s.to_bytes()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.predicate_type, SLSA_PROVENANCE_V1);
    }
}
