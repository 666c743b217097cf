//! The rebuild's [`Attestor`]: when the rebuilt job ends, its files are compared with the
//! original's subjects, a reproducibility attestation is signed with the run's key, and both it
//! and (on a mismatch) the diff report become members of the rebuild's evidence bundle and files
//! beside it. The outcome is kept for the command to print.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use provenance::reproducibility::{
    compare, ReproducibilityPredicate, RunReference, SubjectVerdict, Variation, Verdict,
    REBUILD_DIFF, REPRODUCIBILITY, REPRODUCIBILITY_PREDICATE_TYPE,
};
use provenance::statement::{ResourceDescriptor, Statement};

use super::diff::{report, FileDirs};
use crate::evidence::{Attestor, FinishedJob};

/// What the rebuilt job came to.
#[derive(Debug, Clone)]
pub struct Attested {
    pub verdict: Verdict,
    pub subjects: Vec<SubjectVerdict>,
    pub conclusion: String,
    pub invocation_id: String,
    /// The rebuilt job's output directory (its `evidence.tar` is written there).
    pub job_dir: PathBuf,
    /// The diff report, on a mismatch.
    pub report: Option<String>,
}

/// Attests the rebuild of one job.
#[derive(Debug)]
pub struct RebuildAttestor {
    job_key: String,
    original_invocation: String,
    original_evidence_sha256: String,
    original_subjects: Vec<ResourceDescriptor>,
    original_files: Option<PathBuf>,
    variations: Vec<Variation>,
    outcome: Mutex<Option<Attested>>,
}

impl RebuildAttestor {
    pub fn new(
        original: &super::original::Original,
        original_files: Option<PathBuf>,
        variations: Vec<Variation>,
    ) -> RebuildAttestor {
        RebuildAttestor {
            job_key: original.job_key.clone(),
            original_invocation: original.invocation_id.clone(),
            original_evidence_sha256: original.evidence_sha256.to_hex(),
            original_subjects: original.subjects.clone(),
            original_files,
            variations,
            outcome: Mutex::new(None),
        }
    }

    /// The outcome, once the rebuilt job's evidence was sealed.
    pub fn outcome(&self) -> Option<Attested> {
        self.outcome
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Attestor for RebuildAttestor {
    fn members(&self, job: &FinishedJob<'_>) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        if job.key != self.job_key {
            return Ok(Vec::new());
        }
        let (subjects, mut verdict) = compare(&self.original_subjects, job.artifacts);
        if job.conclusion != "success" {
            verdict = Verdict::NotReproducible;
        }
        let text = (verdict == Verdict::NotReproducible).then(|| {
            report(
                &subjects,
                job.conclusion,
                &FileDirs {
                    original: self.original_files.as_deref(),
                    rebuild: job.artifacts_dir,
                },
            )
        });
        let statement = Statement::new(
            self.original_subjects.clone(),
            REPRODUCIBILITY_PREDICATE_TYPE,
            ReproducibilityPredicate {
                original: RunReference {
                    invocation_id: self.original_invocation.clone(),
                    evidence_digest: BTreeMap::from([(
                        "sha256".to_owned(),
                        self.original_evidence_sha256.clone(),
                    )]),
                    conclusion: "success".to_owned(),
                },
                rebuild: RunReference {
                    invocation_id: job.invocation_id.to_owned(),
                    evidence_digest: BTreeMap::new(),
                    conclusion: job.conclusion.to_owned(),
                },
                variations: self.variations.clone(),
                verdict,
                subjects: subjects.clone(),
                diff_report: text.as_ref().map(|_| REBUILD_DIFF.to_owned()),
            },
        );
        let signed = (job.sign)(&statement.to_bytes());
        let job_dir = job
            .artifacts_dir
            .parent()
            .map_or_else(|| job.artifacts_dir.to_path_buf(), PathBuf::from);
        std::fs::write(job_dir.join(REPRODUCIBILITY), &signed)?;
        let mut members = vec![(REPRODUCIBILITY.to_owned(), signed)];
        if let Some(text) = &text {
            std::fs::write(job_dir.join(REBUILD_DIFF), text)?;
            members.push((REBUILD_DIFF.to_owned(), text.clone().into_bytes()));
        }
        *self.outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(Attested {
            verdict,
            subjects,
            conclusion: job.conclusion.to_owned(),
            invocation_id: job.invocation_id.to_owned(),
            job_dir,
            report: text,
        });
        Ok(members)
    }
}
