//! `hrun verify --receipts`: the receipts of a git note (see [`crate::receipt`]), each signed by
//! the given key, and, with an evidence bundle, the one receipt that names exactly that bundle:
//! its digest, job, invocation, source commit and audit checkpoint.

use crate::digest::Sha256Digest;
use crate::receipt::{receipt_lines, Receipt};

use super::{Rejection, VerifiedEvidence};
use crate::keys::VerifyingKey;

/// Every receipt of a note's text; any line that does not verify rejects the whole note.
pub fn verify_receipts(text: &[u8], key: &VerifyingKey) -> Result<Vec<Receipt>, Rejection> {
    let mut receipts = Vec::new();
    for (line, signed) in receipt_lines(text) {
        let receipt =
            Receipt::verify(signed, key).map_err(|error| Rejection::Receipt { line, error })?;
        receipts.push(receipt);
    }
    if receipts.is_empty() {
        return Err(Rejection::NoReceipt("the note holds no receipt".to_owned()));
    }
    Ok(receipts)
}

/// The receipt of a verified evidence bundle whose bytes have SHA-256 `evidence`.
pub fn receipt_for<'a>(
    receipts: &'a [Receipt],
    evidence: Sha256Digest,
    verified: &VerifiedEvidence,
) -> Result<&'a Receipt, Rejection> {
    let receipt = receipts
        .iter()
        .find(|r| r.evidence_sha256 == evidence)
        .ok_or_else(|| {
            Rejection::NoReceipt(format!(
                "no receipt names this evidence.tar (sha256 {evidence})"
            ))
        })?;
    let mismatch = |what: &'static str, found: &str| Rejection::ReceiptMismatch {
        what,
        found: found.to_owned(),
    };
    let predicate = &verified.manifest.predicate;
    if receipt.job != predicate.job {
        return Err(mismatch("job", &receipt.job));
    }
    if receipt.invocation_id != predicate.invocation_id {
        return Err(mismatch("invocation id", &receipt.invocation_id));
    }
    if !receipt.checkpoint.names(&verified.checkpoint) {
        return Err(mismatch(
            "audit checkpoint",
            &format!(
                "tree size {} root {}",
                receipt.checkpoint.tree_size, receipt.checkpoint.root_hash
            ),
        ));
    }
    // The source is the provenance's first resolved dependency.
    let source = verified
        .provenance
        .predicate
        .build_definition
        .resolved_dependencies
        .first()
        .and_then(|d| d.digest.get("gitCommit"));
    if source != Some(&receipt.commit) {
        return Err(mismatch("source commit", &receipt.commit));
    }
    Ok(receipt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyKind, SigningKey};
    use crate::receipt::ReceiptCheckpoint;

    fn receipt(job: &str) -> Receipt {
        Receipt {
            job: job.into(),
            invocation_id: format!("hrun:run:r:job:{job}"),
            commit: "c".repeat(40),
            evidence_sha256: Sha256Digest::of(job.as_bytes()),
            checkpoint: ReceiptCheckpoint {
                origin: "o".into(),
                tree_size: 1,
                root_hash: Sha256Digest::of(b"r"),
            },
        }
    }

    #[test]
    fn every_receipt_of_a_note_must_verify() {
        let key = SigningKey::generate(KeyKind::P256);
        let mut note = receipt("a").sign(&key);
        note.extend_from_slice(b"\n\n");
        note.extend_from_slice(&receipt("b").sign(&key));
        let read = verify_receipts(&note, &key.public()).unwrap();
        assert_eq!(read, vec![receipt("a"), receipt("b")]);

        let other = SigningKey::generate(KeyKind::P256);
        note.extend_from_slice(b"\n\n");
        note.extend_from_slice(&receipt("c").sign(&other));
        assert!(matches!(
            verify_receipts(&note, &key.public()),
            Err(Rejection::Receipt { line: 5, .. })
        ));
        assert!(matches!(
            verify_receipts(b"\n\n", &key.public()),
            Err(Rejection::NoReceipt(_))
        ));
    }
}
