//! Offline verification: of a job's evidence bundle ([`evidence`], what `hrun verify` runs), of the
//! receipts of a git note ([`receipt`], `hrun verify --receipts`) and of a host's audit log
//! ([`audit`], what `hrun audit verify` runs).
//!
//! Every failed check is a [`Rejection`] that names what failed and where; only input that cannot
//! be read at all is a [`VerifyError::CouldNotVerify`]. Nothing here trusts the input: sizes
//! are bounded and nothing panics on any bytes.

pub mod audit;
pub mod evidence;
pub mod receipt;

use crate::bundle::BundleError;
use crate::evidence::ArchiveError;

pub use audit::{verify_log, AuditReport};
pub use evidence::{verify_evidence, Expectations, VerifiedEvidence};
pub use receipt::{receipt_for, verify_receipts};

/// Why something is not verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("evidence.tar: {0}")]
    Archive(#[from] ArchiveError),
    #[error("evidence.tar has no member `{0}`")]
    MissingMember(String),
    #[error("evidence.sigstore.json does not verify: {0}")]
    ManifestSignature(BundleError),
    #[error("evidence.sigstore.json signs other bytes than manifest.json")]
    ManifestNotSigned,
    #[error("manifest.json is not an evidence manifest: {0}")]
    Manifest(String),
    #[error("member `{0}` is not listed in manifest.json")]
    UnlistedMember(String),
    #[error("manifest.json lists `{0}`, which evidence.tar does not hold")]
    ListedButMissing(String),
    #[error("the SHA-256 of member `{0}` differs from manifest.json")]
    MemberDigest(String),
    #[error("provenance.sigstore.json does not verify: {0}")]
    ProvenanceSignature(BundleError),
    #[error("the provenance is not an in-toto Statement v1 with SLSA v1 provenance: {0}")]
    Provenance(String),
    #[error("the audit checkpoint does not verify: {0}")]
    CheckpointSignature(BundleError),
    #[error("audit record {seq} of the evidence: {reason}")]
    EvidenceRecord { seq: u64, reason: String },
    #[error("{what}: expected `{expected}`, the provenance says `{found}`")]
    Expectation {
        what: &'static str,
        expected: String,
        found: String,
    },
    #[error("reproducibility.sigstore.json: {0}")]
    Reproducibility(String),
    #[error("artifact {path} (sha256 {digest}) is not a subject of the provenance")]
    Artifact { path: String, digest: String },
    #[error("receipt on line {line} does not verify: {error}")]
    Receipt { line: u64, error: BundleError },
    #[error("{0}")]
    NoReceipt(String),
    #[error("the receipt of this evidence.tar states another {what} (`{found}`)")]
    ReceiptMismatch { what: &'static str, found: String },
    #[error("audit log line {line} is not a record")]
    RecordUnreadable { line: u64 },
    #[error("audit log line {line} holds record {seq}: a record was removed, inserted or moved")]
    RecordOutOfOrder { line: u64, seq: u64 },
    #[error("the audit log was truncated: it holds {records} records, a signed checkpoint covers {size}")]
    Truncated { records: u64, size: u64 },
    #[error("checkpoint line {line} does not verify: {error}")]
    LogCheckpoint { line: u64, error: BundleError },
    #[error("checkpoint line {line} states a smaller tree than the one before it")]
    CheckpointsOutOfOrder { line: u64 },
    #[error("the records do not match the signed checkpoint of size {size} (line {line}): a record before it was changed")]
    RootMismatch { size: u64, line: u64 },
    #[error("the given checkpoint of size {size} is not a prefix of this log: the history forked")]
    Forked { size: u64 },
    #[error("consistency proof between checkpoints of size {old} and {new} fails")]
    Inconsistent { old: u64, new: u64 },
}

/// Why verification did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The input is not verified; the reason says why.
    #[error("not verified: {0}")]
    Rejected(#[from] Rejection),
    /// The input could not be read (no decision).
    #[error("could not verify: {0}")]
    CouldNotVerify(String),
}
