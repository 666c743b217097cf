//! Receipts: a few signed facts about one job's evidence, small enough to travel with the source
//! commit as a git note (`hrun exec --git-notes`, under `refs/notes/hrun/receipts`).
//!
//! A receipt says "job J of invocation I ran on commit C; its `evidence.tar` has SHA-256 E; its
//! audit records are in the runner's log of tree size N with root R". It is a Sigstore bundle
//! (the same DSSE signing as the provenance, with the payload type [`RECEIPT_PAYLOAD_TYPE`]) written
//! as one line of compact JSON, so a note holding the receipts of several jobs is one receipt per
//! line (`git notes append` separates them by blank lines, which readers skip).
//!
//! What a receipt proves is only as much as its key: whoever holds the public key can check that
//! the runner signed those facts, then check the evidence bundle itself with `hrun verify` and
//! compare its digest and checkpoint (`hrun verify --receipts`). Must never: hold anything of the
//! job beyond these facts (no log, no output, no secret).

use serde::{Deserialize, Serialize};

use crate::audit::checkpoint::Checkpoint;
use crate::bundle::{Bundle, BundleError};
use crate::digest::Sha256Digest;
use crate::keys::{SigningKey, VerifyingKey};

/// The DSSE payload type of a receipt.
pub const RECEIPT_PAYLOAD_TYPE: &str = "application/vnd.hrun.receipt+json";

/// The git notes ref receipts are attached under.
pub const RECEIPTS_NOTES_REF: &str = "refs/notes/hrun/receipts";

/// What a receipt states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The job's key in its run.
    pub job: String,
    /// The provenance's `invocationId`.
    #[serde(rename = "invocationId")]
    pub invocation_id: String,
    /// The source commit the job ran on.
    pub commit: String,
    /// SHA-256 of the job's `evidence.tar`.
    #[serde(rename = "evidenceSha256")]
    pub evidence_sha256: Sha256Digest,
    /// The audit checkpoint the evidence carries (`audit/checkpoint.json`).
    pub checkpoint: ReceiptCheckpoint,
}

/// The tree head of the checkpoint a receipt names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptCheckpoint {
    pub origin: String,
    #[serde(rename = "treeSize")]
    pub tree_size: u64,
    #[serde(rename = "rootHash")]
    pub root_hash: Sha256Digest,
}

impl ReceiptCheckpoint {
    /// The head of `checkpoint`.
    pub fn of(checkpoint: &Checkpoint) -> ReceiptCheckpoint {
        ReceiptCheckpoint {
            origin: checkpoint.origin.clone(),
            tree_size: checkpoint.tree_size,
            root_hash: checkpoint.root_hash,
        }
    }

    /// Whether it names the same tree head as `checkpoint`.
    pub fn names(&self, checkpoint: &Checkpoint) -> bool {
        *self == ReceiptCheckpoint::of(checkpoint)
    }
}

impl Receipt {
    /// Signs it: one line of compact JSON (a Sigstore bundle), without the newline.
    pub fn sign(&self, key: &SigningKey) -> Vec<u8> {
        // Strings and digests always serialize.
        let payload = serde_json::to_vec(self).unwrap_or_default();
        Bundle::sign(key, RECEIPT_PAYLOAD_TYPE, &payload).to_bytes()
    }

    /// Verifies one signed receipt with `key` and reads it.
    pub fn verify(signed: &[u8], key: &VerifyingKey) -> Result<Receipt, BundleError> {
        let payload = Bundle::from_slice(signed)?.verify(key, RECEIPT_PAYLOAD_TYPE)?;
        serde_json::from_slice(&payload).map_err(|e| BundleError::Malformed(e.to_string()))
    }
}

/// The receipts of a note's text: its non-blank lines, each with its 1-based line number.
pub fn receipt_lines(text: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    text.split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| (i as u64 + 1, line.trim_ascii()))
        .filter(|(_, line)| !line.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyKind;

    fn receipt() -> Receipt {
        Receipt {
            job: "build".into(),
            invocation_id: "hrun:run:r1:job:build".into(),
            commit: "c".repeat(40),
            evidence_sha256: Sha256Digest::of(b"evidence"),
            checkpoint: ReceiptCheckpoint {
                origin: "hrun audit log x".into(),
                tree_size: 7,
                root_hash: Sha256Digest::of(b"root"),
            },
        }
    }

    #[test]
    fn a_signed_receipt_is_one_line_that_verifies_only_with_its_key() {
        let key = SigningKey::generate(KeyKind::P256);
        let signed = receipt().sign(&key);
        assert!(!signed.contains(&b'\n'));
        assert_eq!(Receipt::verify(&signed, &key.public()), Ok(receipt()));
        let other = SigningKey::generate(KeyKind::Ed25519).public();
        assert!(Receipt::verify(&signed, &other).is_err());
    }

    #[test]
    fn a_changed_receipt_does_not_verify() {
        let key = SigningKey::generate(KeyKind::Ed25519);
        let mut bundle: serde_json::Value = serde_json::from_slice(&receipt().sign(&key)).unwrap();
        let mut changed = receipt();
        changed.evidence_sha256 = Sha256Digest::of(b"other");
        use base64::Engine;
        bundle["dsseEnvelope"]["payload"] =
            serde_json::json!(base64::engine::general_purpose::STANDARD
                .encode(serde_json::to_vec(&changed).unwrap()));
        let forged = serde_json::to_vec(&bundle).unwrap();
        assert!(Receipt::verify(&forged, &key.public()).is_err());
    }

    #[test]
    fn a_note_with_appended_receipts_reads_one_per_line() {
        let note = b"first\n\nsecond\n  \nthird";
        let lines: Vec<(u64, &[u8])> = receipt_lines(note).collect();
        assert_eq!(
            lines,
            vec![(1, &b"first"[..]), (3, &b"second"[..]), (5, &b"third"[..])]
        );
    }
}
