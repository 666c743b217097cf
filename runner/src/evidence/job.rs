//! The end of a job: its artifacts hashed into subjects, its provenance signed, its audit
//! records checkpointed, its evidence bundle sealed and written beside its `result.json`.
//!
//! Order matters for what each file can prove: the step and job-finished records, then the
//! provenance signature and a `key_used` record of it, then the checkpoint the bundle carries
//! (it covers every record of the job up to that signature), then the bundle's own signature
//! (and, with `--git-notes`, the receipt's) and a `key_used` record of each, sealed by a second
//! checkpoint in the log; the receipt is attached to the source commit last.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use serde_json::{json, Value as Json};

use provenance::audit::checkpoint::Checkpoint;
use provenance::audit::record::EventKind;
use provenance::bundle::Bundle;
use provenance::digest::Sha256Digest;
use provenance::dsse::IN_TOTO_PAYLOAD_TYPE;
use provenance::evidence::{
    self, tarball::valid_name, EvidencePredicate, AUDIT_CHECKPOINT, AUDIT_PROOFS, AUDIT_RECORDS,
    PROVENANCE,
};
use provenance::receipt::{Receipt, ReceiptCheckpoint};
use provenance::reproducibility::REPRODUCIBILITY;
use provenance::slsa::{
    job_statement, BuildDefinition, BuildMetadata, Builder, ExternalParameters, InternalParameters,
    RunDetails, RunnerParameters, SandboxParameters, StepEnvironment, WorkflowRef, HRUN_BUILD_TYPE,
};
use provenance::statement::ResourceDescriptor;

use super::artifacts::{self, Collected};
use super::events;
use super::git_notes;
use super::{builder_id, now_rfc3339, read_member, FinishedJob, JobRecorder, RunEvidence};
use crate::engine::result::StepResult;
use crate::engine::secret_scan::ProcessFinding;
use crate::engine::SharedMasker;

/// What the engine hands over when a job has ended and its `result.json` is written.
#[derive(Debug)]
pub struct JobEnd {
    /// The job's key in the run.
    pub key: String,
    /// The job's output directory (holds `log.txt`, `result.json`, the sandbox's files).
    pub out_dir: PathBuf,
    /// The job's `$HRUN_ARTIFACTS`.
    pub artifacts_dir: PathBuf,
    pub steps: Vec<StepResult>,
    pub conclusion: String,
    /// The executor's name.
    pub sandbox: String,
    /// `result.json`'s `sandbox_details`.
    pub facts: BTreeMap<String, String>,
    /// The names of the files the sandbox reported (written in `out_dir`).
    pub sandbox_files: Vec<String>,
    /// `inputs` of the job.
    pub inputs: Json,
    /// `matrix` of the job (`null` outside a matrix).
    pub matrix: Json,
    /// `vars` of the run.
    pub vars: Json,
    /// The deterministic environment its steps got; `None` when the job could not be prepared.
    pub environment: Option<StepEnvironment>,
    /// What the job's secret scan found (recorded by rule and place, never by value).
    pub secret_findings: Vec<hermetic::scan::Finding>,
    pub masker: SharedMasker,
    /// What the sweeps of the job's processes found (recorded by step, process and place).
    pub process_findings: Vec<ProcessFinding>,
    /// Artifacts the secret scan withheld (`--secret-scan fail`): no subjects, not kept.
    pub withheld: BTreeSet<String>,
}

/// What was written.
#[derive(Debug)]
pub struct JobEvidence {
    pub artifacts: usize,
    pub artifact_bytes: u64,
    pub members: usize,
    /// Hashing, building and signing.
    pub elapsed: std::time::Duration,
    /// Entries of `$HRUN_ARTIFACTS` that were not regular files (not recorded).
    pub skipped: Vec<String>,
    /// With `--git-notes`: the commit the receipt was attached to, or why it was not.
    pub receipt: Option<Result<String, String>>,
    /// Artifacts the secret scan withheld (not recorded, not kept).
    pub withheld: Vec<String>,
}

/// Known report kinds and the sandbox file that holds each.
const REPORTS: [(&str, &str); 2] = [
    ("egress", "egress.json"),
    ("imageManifest", "image-manifest.json"),
];

impl RunEvidence {
    /// Writes `provenance.sigstore.json` and `evidence.tar` for a job that ended.
    pub fn finish_job(&self, recorder: JobRecorder, end: JobEnd) -> anyhow::Result<JobEvidence> {
        if let Some(e) = &recorder.error {
            anyhow::bail!("the audit log could not record the job's start: {e}");
        }
        let began = Instant::now();
        let mut seqs = recorder.seqs;
        let invocation_id = format!("hrun:run:{}:job:{}", self.facts.run_id, end.key);
        let collected = artifacts::collect(
            &end.artifacts_dir,
            &end.out_dir.join("artifacts"),
            &end.withheld,
        )
        .context("cannot collect the job's artifacts")?;

        // The records of what happened in the job (written now, in the order it happened).
        let mut events: Vec<events::JobEvent> =
            events::vm_started(&end.facts).into_iter().collect();
        events::step_events(&end.steps, &end.masker, &mut events);
        if end.sandbox_files.iter().any(|f| f == "egress.json") {
            if let Some(report) = read_member(&end.out_dir, "egress.json") {
                events.extend(events::egress_denials(&report));
            }
        }
        events.extend(events::secret_findings(&end.secret_findings, &end.masker));
        events.extend(events::sweep_findings(&end.process_findings, &end.masker));
        let mut finished =
            json!({"conclusion": end.conclusion, "artifacts": collected.artifacts.len()});
        if !collected.withheld.is_empty() {
            let withheld: Vec<String> = collected
                .withheld
                .iter()
                .map(|n| end.masker.mask(n))
                .collect();
            finished["withheld_artifacts"] = json!(withheld);
        }
        events.push((EventKind::JobFinished, finished));
        seqs.extend(self.record(&end.key, events)?);

        // The provenance.
        let log = read_member(&end.out_dir, "log.txt").unwrap_or_default();
        let result = read_member(&end.out_dir, "result.json").unwrap_or_default();
        let statement = self.statement(
            &end,
            &collected,
            &invocation_id,
            &recorder.started,
            &log,
            &result,
        );
        let mut payload = statement.to_bytes();
        let text = String::from_utf8_lossy(&payload).into_owned();
        if end.masker.reveals(&text) {
            payload = end.masker.mask_document(&text).into_bytes();
        }
        let provenance = Bundle::sign(&self.key, IN_TOTO_PAYLOAD_TYPE, &payload).to_bytes();
        let mut signed = vec![(
            EventKind::KeyUsed,
            json!({"signed": "provenance", "payload_sha256": Sha256Digest::of(&payload).to_hex(), "key": self.key.public().hint()}),
        )];
        let attested = self.attested(&end, &collected, &invocation_id)?;
        for (name, bytes) in &attested {
            if name.ends_with(".sigstore.json") {
                signed.push((
                    EventKind::KeyUsed,
                    json!({"signed": name, "bundle_sha256": Sha256Digest::of(bytes).to_hex(), "key": self.key.public().hint()}),
                ));
            }
        }
        seqs.extend(self.record(&end.key, signed)?);
        let excerpt = self.audit().checkpoint(&seqs)?;
        let checkpoint =
            Checkpoint::verify(&excerpt.checkpoint, &self.key.public()).map_err(|e| {
                anyhow::anyhow!("the audit checkpoint just signed does not verify: {e}")
            })?;

        // The bundle.
        let mut members: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        members.insert(PROVENANCE.to_owned(), provenance.clone());
        members.insert("log.txt".to_owned(), log);
        members.insert("result.json".to_owned(), result);
        if let Some(scan) = read_member(&end.out_dir, "secret-scan.json") {
            members.insert("secret-scan.json".to_owned(), scan);
        }
        if let Some(summary) = read_member(&end.out_dir, "summary.md") {
            members.insert("summary.md".to_owned(), summary);
        }
        members.insert("policy.json".to_owned(), self.facts.policy.clone());
        let event = end.masker.mask_document(&self.facts.event.to_string());
        members.insert("event.json".to_owned(), event.into_bytes());
        for (name, bytes) in attested {
            if valid_name(&name) {
                members.insert(name, bytes);
            }
        }
        members.insert("runner-config.json".to_owned(), self.runner_config.clone());
        for name in &end.sandbox_files {
            let member = format!("sandbox/{name}");
            if let (true, Some(bytes)) = (valid_name(&member), read_member(&end.out_dir, name)) {
                members.insert(member, bytes);
            }
        }
        members.insert(AUDIT_CHECKPOINT.to_owned(), excerpt.checkpoint);
        members.insert(AUDIT_RECORDS.to_owned(), excerpt.records);
        members.insert(AUDIT_PROOFS.to_owned(), excerpt.proofs);
        let predicate = self.predicate(&end, &members, &invocation_id);
        let count = members.len() + 2;
        let sealed = evidence::seal(&self.key, members, predicate)?;
        let mut used = vec![(
            EventKind::KeyUsed,
            json!({"signed": "evidence manifest", "payload_sha256": Sha256Digest::of(&sealed.manifest).to_hex(), "key": self.key.public().hint()}),
        )];
        // A receipt needs a commit to be attached to.
        let with_receipt = self.git_notes.is_some() && !self.facts.sha.is_empty();
        let receipt = with_receipt.then(|| Receipt {
            job: end.key.clone(),
            invocation_id: invocation_id.clone(),
            commit: self.facts.sha.clone(),
            evidence_sha256: Sha256Digest::of(&sealed.tar),
            checkpoint: ReceiptCheckpoint::of(&checkpoint),
        });
        let signed_receipt = receipt.as_ref().map(|r| {
            let payload = serde_json::to_vec(r).unwrap_or_default();
            used.push((
                EventKind::KeyUsed,
                json!({"signed": "receipt", "payload_sha256": Sha256Digest::of(&payload).to_hex(), "key": self.key.public().hint()}),
            ));
            r.sign(&self.key)
        });
        let last = self.record(&end.key, used)?;
        self.audit().checkpoint(&last)?;

        let write = |name: &str, bytes: &[u8]| {
            let path = end.out_dir.join(name);
            std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
        };
        write(PROVENANCE, &provenance)?;
        write("evidence.tar", &sealed.tar)?;
        let receipt = match (&self.git_notes, signed_receipt) {
            (Some((repo, lock)), Some(line)) => {
                let _one_at_a_time = lock.lock().unwrap_or_else(|e| e.into_inner());
                Some(
                    git_notes::append_receipt(repo, &self.facts.sha, &line)
                        .map(|()| self.facts.sha.clone())
                        .map_err(|e| e.to_string()),
                )
            }
            (Some(_), None) => Some(Err(git_notes::GitNotesError::NoCommit.to_string())),
            (None, _) => None,
        };
        Ok(JobEvidence {
            artifacts: collected.artifacts.len(),
            artifact_bytes: collected.artifacts.iter().map(|a| a.size).sum(),
            members: count,
            elapsed: began.elapsed(),
            skipped: collected.skipped,
            receipt,
            withheld: collected.withheld,
        })
    }

    /// What the run's attestor adds for this job (nothing without one).
    fn attested(
        &self,
        end: &JobEnd,
        collected: &Collected,
        invocation_id: &str,
    ) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        let Some(attestor) = &self.attestor else {
            return Ok(Vec::new());
        };
        let artifacts: Vec<ResourceDescriptor> = collected
            .artifacts
            .iter()
            .map(|a| ResourceDescriptor::file(end.masker.mask(&a.name), a.sha256))
            .collect();
        let sign =
            |payload: &[u8]| Bundle::sign(&self.key, IN_TOTO_PAYLOAD_TYPE, payload).to_bytes();
        attestor.members(&FinishedJob {
            key: &end.key,
            invocation_id,
            conclusion: &end.conclusion,
            artifacts: &artifacts,
            artifacts_dir: &end.out_dir.join("artifacts"),
            sign: &sign,
        })
    }

    fn statement(
        &self,
        end: &JobEnd,
        collected: &Collected,
        invocation_id: &str,
        started: &str,
        log: &[u8],
        result: &[u8],
    ) -> provenance::slsa::ProvenanceStatement {
        let mut subjects: Vec<ResourceDescriptor> = collected
            .artifacts
            .iter()
            .map(|a| ResourceDescriptor::file(end.masker.mask(&a.name), a.sha256))
            .collect();
        if subjects.is_empty() {
            // in-toto requires a subject: a job without artifacts attests its result.
            subjects.push(ResourceDescriptor::file(
                "result.json",
                Sha256Digest::of(result),
            ));
        }
        let inputs: BTreeMap<String, Json> = {
            let text = end.masker.mask_document(&end.inputs.to_string());
            serde_json::from_str(&text).unwrap_or_default()
        };
        let fact = |k: &str| end.facts.get(k).cloned();
        let mut byproducts = vec![
            ResourceDescriptor {
                media_type: "text/plain".into(),
                ..ResourceDescriptor::file("log.txt", Sha256Digest::of(log))
            },
            ResourceDescriptor {
                media_type: "application/json".into(),
                ..ResourceDescriptor::file("result.json", Sha256Digest::of(result))
            },
        ];
        byproducts.sort_by(|a, b| a.name.cmp(&b.name));
        job_statement(
            subjects,
            BuildDefinition {
                build_type: HRUN_BUILD_TYPE.to_owned(),
                external_parameters: ExternalParameters {
                    workflow: WorkflowRef {
                        git_ref: self.facts.git_ref.clone(),
                        repository: super::repository_url(&self.facts.repository),
                        path: self.facts.workflow_path.clone(),
                    },
                    event_name: self.facts.event_name.clone(),
                    inputs,
                    job: end.key.clone(),
                    matrix: masked_json(&end.masker, &end.matrix),
                    vars: match masked_json(&end.masker, &end.vars) {
                        Json::Object(map) => map.into_iter().collect(),
                        _ => BTreeMap::new(),
                    },
                },
                internal_parameters: InternalParameters {
                    runner: RunnerParameters {
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        config_digest: Sha256Digest::of(&self.runner_config).to_hex(),
                    },
                    sandbox: SandboxParameters {
                        kind: end.sandbox.clone(),
                        accelerator: fact("accelerator"),
                        facts: end.facts.clone(),
                    },
                    egress_policy_digest: fact("egress_policy_digest"),
                    image_digest: fact("image_digest"),
                    environment: end.environment.clone(),
                },
                resolved_dependencies: self.dependencies_with_image(end),
            },
            RunDetails {
                builder: Builder {
                    id: builder_id(),
                    version: BTreeMap::from([(
                        "hrun".to_owned(),
                        env!("CARGO_PKG_VERSION").to_owned(),
                    )]),
                },
                metadata: BuildMetadata {
                    invocation_id: invocation_id.to_owned(),
                    started_on: started.to_owned(),
                    finished_on: now_rfc3339(),
                },
                byproducts,
            },
        )
    }

    /// The run's dependencies, plus the guest image and kernel when the sandbox reports them.
    fn dependencies_with_image(&self, end: &JobEnd) -> Vec<ResourceDescriptor> {
        let mut deps = self.dependencies.clone();
        for (fact, name) in [
            ("image_digest", "guest-image"),
            ("kernel_digest", "guest-kernel"),
        ] {
            if let Some(d) = end
                .facts
                .get(fact)
                .and_then(|d| Sha256Digest::from_hex(d).ok())
            {
                deps.push(ResourceDescriptor::file(name, d));
            }
        }
        deps
    }

    fn predicate(
        &self,
        end: &JobEnd,
        members: &BTreeMap<String, Vec<u8>>,
        invocation_id: &str,
    ) -> EvidencePredicate {
        let mut reports = BTreeMap::new();
        let mut absent = BTreeMap::new();
        for (kind, file) in REPORTS {
            let member = format!("sandbox/{file}");
            if members.contains_key(&member) {
                reports.insert(kind.to_owned(), Some(member));
            } else {
                reports.insert(kind.to_owned(), None);
                absent.insert(
                    kind.to_owned(),
                    format!(
                        "the `{}` sandbox reported no {file} (issue #4)",
                        end.sandbox
                    ),
                );
            }
        }
        if members.contains_key("secret-scan.json") {
            reports.insert("secretScan".to_owned(), Some("secret-scan.json".to_owned()));
        } else {
            reports.insert("secretScan".to_owned(), None);
            absent.insert(
                "secretScan".to_owned(),
                "the job's secret scan wrote no secret-scan.json".to_owned(),
            );
        }
        reports.insert("policy".to_owned(), Some("policy.json".to_owned()));
        if members.contains_key(REPRODUCIBILITY) {
            reports.insert(
                "reproducibility".to_owned(),
                Some(REPRODUCIBILITY.to_owned()),
            );
        }
        EvidencePredicate {
            job: end.key.clone(),
            invocation_id: invocation_id.to_owned(),
            source_date_epoch: self.source_date_epoch,
            reports,
            absent,
        }
    }
}

/// `value` with every registered secret masked (unchanged when it holds none).
fn masked_json(masker: &SharedMasker, value: &Json) -> Json {
    let text = value.to_string();
    if !masker.reveals(&text) {
        return value.clone();
    }
    serde_json::from_str(&masker.mask_document(&text)).unwrap_or(Json::Null)
}
