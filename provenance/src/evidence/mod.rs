//! The evidence bundle of a job: `evidence.tar`, a deterministic tar ([`tarball`]) of everything
//! the job left (signed provenance, masked log, `result.json`, policy decisions, sandbox reports,
//! audit checkpoint and inclusion proofs) plus `manifest.json` and `evidence.sigstore.json`.
//!
//! `manifest.json` is an in-toto Statement v1 whose subjects are every other member with its
//! SHA-256 and whose predicate ([`EvidencePredicate`]) says which job it is and which reports
//! are present or absent (and why). `evidence.sigstore.json` is a Sigstore bundle whose DSSE
//! payload is exactly the bytes of `manifest.json`, so any in-toto aware verifier can check the
//! bundle as a whole.

pub mod tarball;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bundle::Bundle;
use crate::digest::Sha256Digest;
use crate::dsse::IN_TOTO_PAYLOAD_TYPE;
use crate::keys::SigningKey;
use crate::statement::{ResourceDescriptor, Statement};

pub use tarball::ArchiveError;

/// `predicateType` of an evidence manifest.
pub const EVIDENCE_PREDICATE_TYPE: &str = "https://github.com/hermetic-runner/hrun/evidence/v1";

/// The manifest's member name.
pub const MANIFEST: &str = "manifest.json";
/// The signature over the manifest.
pub const MANIFEST_SIGNATURE: &str = "evidence.sigstore.json";
/// The signed provenance.
pub const PROVENANCE: &str = "provenance.sigstore.json";
/// The audit-log checkpoint after the job (a signed bundle, see [`crate::audit`]).
pub const AUDIT_CHECKPOINT: &str = "audit/checkpoint.json";
/// The job's audit records, one JSON line each, exactly as in the log.
pub const AUDIT_RECORDS: &str = "audit/records.jsonl";
/// One inclusion proof per record against the checkpoint.
pub const AUDIT_PROOFS: &str = "audit/proofs.json";

/// What the manifest says about the bundle beyond the member digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidencePredicate {
    /// The job's key in its run.
    pub job: String,
    /// The provenance's invocation id.
    #[serde(rename = "invocationId")]
    pub invocation_id: String,
    /// The mtime of every member.
    #[serde(rename = "sourceDateEpoch")]
    pub source_date_epoch: u64,
    /// Reports the issue asks for, by kind: the member holding it, or `null` when absent.
    pub reports: BTreeMap<String, Option<String>>,
    /// Why each absent report is absent.
    pub absent: BTreeMap<String, String>,
}

/// The manifest statement.
pub type Manifest = Statement<EvidencePredicate>;

/// Why an evidence bundle could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("`{0}` is reserved for the manifest and its signature")]
    Reserved(String),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

/// A sealed evidence bundle.
#[derive(Debug, Clone)]
pub struct SealedEvidence {
    /// The bytes of `evidence.tar`.
    pub tar: Vec<u8>,
    /// The bytes of `manifest.json`.
    pub manifest: Vec<u8>,
    /// The bytes of `evidence.sigstore.json`.
    pub signature: Vec<u8>,
}

/// The manifest over `members`.
pub fn manifest(members: &BTreeMap<String, Vec<u8>>, predicate: EvidencePredicate) -> Manifest {
    let subjects = members
        .iter()
        .map(|(name, data)| ResourceDescriptor::file(name.clone(), Sha256Digest::of(data)))
        .collect();
    Statement::new(subjects, EVIDENCE_PREDICATE_TYPE, predicate)
}

/// Adds the manifest and its signature to `members` and packs them with every mtime =
/// `predicate.source_date_epoch`.
pub fn seal(
    key: &SigningKey,
    mut members: BTreeMap<String, Vec<u8>>,
    predicate: EvidencePredicate,
) -> Result<SealedEvidence, EvidenceError> {
    for reserved in [MANIFEST, MANIFEST_SIGNATURE] {
        if members.contains_key(reserved) {
            return Err(EvidenceError::Reserved(reserved.to_owned()));
        }
    }
    let epoch = predicate.source_date_epoch;
    let manifest = manifest(&members, predicate).to_bytes();
    let signature = Bundle::sign(key, IN_TOTO_PAYLOAD_TYPE, &manifest).to_bytes();
    members.insert(MANIFEST.to_owned(), manifest.clone());
    members.insert(MANIFEST_SIGNATURE.to_owned(), signature.clone());
    let tar = tarball::pack(&members, epoch)?;
    Ok(SealedEvidence {
        tar,
        manifest,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyKind;

    fn predicate() -> EvidencePredicate {
        EvidencePredicate {
            job: "build".into(),
            invocation_id: "run/build".into(),
            source_date_epoch: 1,
            reports: BTreeMap::from([("egress".to_owned(), None)]),
            absent: BTreeMap::from([("egress".to_owned(), "no egress filter".to_owned())]),
        }
    }

    #[test]
    fn sealing_is_deterministic_and_lists_every_member() {
        let key = SigningKey::generate(KeyKind::Ed25519);
        let members = BTreeMap::from([("log.txt".to_owned(), b"hello".to_vec())]);
        let a = seal(&key, members.clone(), predicate()).unwrap();
        let b = seal(&key, members, predicate()).unwrap();
        assert_eq!(a.tar, b.tar);
        let m: Manifest = serde_json::from_slice(&a.manifest).unwrap();
        assert_eq!(m.subject.len(), 1);
        assert_eq!(m.subject[0].sha256(), Some(Sha256Digest::of(b"hello")));
        let text = String::from_utf8(a.manifest).unwrap();
        assert!(text.contains(r#""reports":{"egress":null}"#), "{text}");
    }

    #[test]
    fn refuses_members_named_like_the_manifest() {
        let key = SigningKey::generate(KeyKind::P256);
        let members = BTreeMap::from([(MANIFEST.to_owned(), Vec::new())]);
        assert!(matches!(
            seal(&key, members, predicate()),
            Err(EvidenceError::Reserved(_))
        ));
    }
}
