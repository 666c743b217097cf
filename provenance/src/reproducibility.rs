//! The reproducibility attestation of a rebuild: an in-toto Statement v1 saying that a job was run
//! again from its evidence (same source commit, action commits and guest image) with its clock
//! moved and other variations, and whether each of the original's subjects came out the same.
//!
//! Its subjects are the original job's subjects (what the attestation is about); the predicate
//! ([`ReproducibilityPredicate`], type [`REPRODUCIBILITY_PREDICATE_TYPE`]) names both runs by
//! invocation id, lists the variations and gives a verdict per subject. It is signed into
//! [`REPRODUCIBILITY`] inside the rebuild's own evidence bundle, beside the diff report
//! ([`REBUILD_DIFF`]) when something differed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::statement::{ResourceDescriptor, Statement};

/// `predicateType` of a reproducibility attestation.
pub const REPRODUCIBILITY_PREDICATE_TYPE: &str =
    "https://github.com/hermetic-runner/hrun/reproducibility/v1";

/// The evidence member holding the signed attestation (a Sigstore bundle).
pub const REPRODUCIBILITY: &str = "reproducibility.sigstore.json";

/// The evidence member holding the diff report of a rebuild that differed.
pub const REBUILD_DIFF: &str = "rebuild-diff.txt";

/// What a reproducibility attestation says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReproducibilityPredicate {
    /// The run whose evidence was rebuilt.
    pub original: RunReference,
    /// The rebuild.
    pub rebuild: RunReference,
    /// What the rebuild changed on purpose, in the order given.
    pub variations: Vec<Variation>,
    /// The verdict over every subject.
    pub verdict: Verdict,
    /// One verdict per file of either run, sorted by name.
    pub subjects: Vec<SubjectVerdict>,
    /// The member holding the diff report; `null` when nothing differed.
    #[serde(rename = "diffReport")]
    pub diff_report: Option<String>,
}

/// One run, by its provenance's invocation id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunReference {
    #[serde(rename = "invocationId")]
    pub invocation_id: String,
    /// The digests of the run's `evidence.tar` (`sha256`); empty for the rebuild, whose bundle
    /// holds this attestation.
    #[serde(
        default,
        rename = "evidenceDigest",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub evidence_digest: BTreeMap<String, String>,
    /// How the job ended (`success`, `failure`); a rebuild that failed is not reproducible.
    pub conclusion: String,
}

/// One thing the rebuild changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variation {
    /// `clock`, `tz`, `locale`, `hostname`, `user`, `parallelism`.
    pub name: String,
    /// What the original run had.
    pub original: String,
    /// What the rebuild had.
    pub rebuild: String,
    /// How it was done (`guest clock`, `libfaketime (dynamically linked programs)`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mechanism: String,
}

/// Whether the rebuild gave the same files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every subject came out with the same digest, and no other file came out.
    Reproducible,
    /// A subject differed or is missing, another file came out, or the rebuilt job failed.
    NotReproducible,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Reproducible => "reproducible",
            Verdict::NotReproducible => "not reproducible",
        }
    }
}

/// One file's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectVerdict {
    pub name: String,
    /// SHA-256 in the original; `null` when only the rebuild has the file.
    pub original: Option<String>,
    /// SHA-256 in the rebuild; `null` when the rebuild did not make it.
    pub rebuild: Option<String>,
    pub outcome: SubjectOutcome,
}

/// How one file compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectOutcome {
    Identical,
    Differs,
    /// The original has it, the rebuild not.
    Missing,
    /// The rebuild has it, the original not.
    Extra,
}

/// The attestation statement.
pub type ReproducibilityStatement = Statement<ReproducibilityPredicate>;

/// Compares the original's subjects with the rebuild's files (name → SHA-256 hex), sorted by
/// name, and the verdict over them.
pub fn compare(
    original: &[ResourceDescriptor],
    rebuild: &[ResourceDescriptor],
) -> (Vec<SubjectVerdict>, Verdict) {
    let digest = |r: &ResourceDescriptor| r.digest.get("sha256").cloned();
    let mut names: BTreeMap<&str, (Option<String>, Option<String>)> = BTreeMap::new();
    for s in original {
        names.entry(&s.name).or_default().0 = digest(s);
    }
    for s in rebuild {
        names.entry(&s.name).or_default().1 = digest(s);
    }
    let verdicts: Vec<SubjectVerdict> = names
        .into_iter()
        .map(|(name, (original, rebuild))| {
            let outcome = match (&original, &rebuild) {
                (Some(a), Some(b)) if a == b => SubjectOutcome::Identical,
                (Some(_), Some(_)) => SubjectOutcome::Differs,
                (Some(_), None) => SubjectOutcome::Missing,
                (None, _) => SubjectOutcome::Extra,
            };
            SubjectVerdict {
                name: name.to_owned(),
                original,
                rebuild,
                outcome,
            }
        })
        .collect();
    let verdict = if !verdicts.is_empty()
        && verdicts
            .iter()
            .all(|v| v.outcome == SubjectOutcome::Identical)
    {
        Verdict::Reproducible
    } else {
        Verdict::NotReproducible
    };
    (verdicts, verdict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Sha256Digest;

    fn file(name: &str, data: &[u8]) -> ResourceDescriptor {
        ResourceDescriptor::file(name, Sha256Digest::of(data))
    }

    #[test]
    fn same_files_are_reproducible() {
        let a = [file("a.tar", b"a"), file("b", b"b")];
        let (subjects, verdict) = compare(&a, &a);
        assert_eq!(verdict, Verdict::Reproducible);
        assert!(subjects
            .iter()
            .all(|s| s.outcome == SubjectOutcome::Identical));
    }

    #[test]
    fn names_each_differing_missing_and_extra_file() {
        let original = [file("a", b"1"), file("b", b"2"), file("c", b"3")];
        let rebuild = [file("a", b"1"), file("b", b"changed"), file("d", b"4")];
        let (subjects, verdict) = compare(&original, &rebuild);
        assert_eq!(verdict, Verdict::NotReproducible);
        let outcomes: Vec<(&str, SubjectOutcome)> = subjects
            .iter()
            .map(|s| (s.name.as_str(), s.outcome))
            .collect();
        assert_eq!(
            outcomes,
            [
                ("a", SubjectOutcome::Identical),
                ("b", SubjectOutcome::Differs),
                ("c", SubjectOutcome::Missing),
                ("d", SubjectOutcome::Extra),
            ]
        );
    }

    #[test]
    fn nothing_to_compare_is_not_reproducible() {
        assert_eq!(compare(&[], &[]).1, Verdict::NotReproducible);
    }

    #[test]
    fn serializes_with_its_field_names_and_reads_back_strictly() {
        let (subjects, verdict) = compare(&[file("a", b"1")], &[file("a", b"1")]);
        let statement = Statement::new(
            vec![file("a", b"1")],
            REPRODUCIBILITY_PREDICATE_TYPE,
            ReproducibilityPredicate {
                original: RunReference {
                    invocation_id: "hrun:run:1:job:build".into(),
                    evidence_digest: BTreeMap::from([("sha256".into(), "ab".into())]),
                    conclusion: "success".into(),
                },
                rebuild: RunReference {
                    invocation_id: "hrun:run:2:job:build".into(),
                    evidence_digest: BTreeMap::new(),
                    conclusion: "success".into(),
                },
                variations: vec![Variation {
                    name: "clock".into(),
                    original: "+0 s".into(),
                    rebuild: "+400 days".into(),
                    mechanism: "guest clock".into(),
                }],
                verdict,
                subjects,
                diff_report: None,
            },
        );
        let text = String::from_utf8(statement.to_bytes()).unwrap();
        assert!(text.contains(r#""verdict":"reproducible""#), "{text}");
        assert!(text.contains(r#""outcome":"identical""#), "{text}");
        assert!(text.contains(r#""diffReport":null"#), "{text}");
        let back: ReproducibilityStatement = serde_json::from_str(&text).unwrap();
        assert_eq!(back, statement);
        let extra = text.replace(r#""verdict""#, r#""x":1,"verdict""#);
        assert!(serde_json::from_str::<ReproducibilityStatement>(&extra).is_err());
    }
}
