//! `hrun verify`: checks one `evidence.tar` with a public key, offline.
//!
//! In order: the archive is exactly what we write (canonical tar); `evidence.sigstore.json`
//! verifies and signs exactly `manifest.json`; the manifest lists every other member with its
//! digest and nothing else; `provenance.sigstore.json` verifies and holds SLSA v1 provenance;
//! the audit checkpoint verifies and each of the job's records is proven in it; a rebuild's
//! reproducibility attestation, when the bundle holds one, verifies and is about this bundle's
//! job; then the caller's expectations (source repository, ref, builder id) and artifacts (by
//! SHA-256 among the subjects).

use std::collections::BTreeMap;

use crate::audit::checkpoint::Checkpoint;
use crate::audit::merkle::verify_inclusion;
use crate::audit::record::AuditRecord;
use crate::audit::InclusionProofs;
use crate::bundle::Bundle;
use crate::digest::Sha256Digest;
use crate::dsse::IN_TOTO_PAYLOAD_TYPE;
use crate::evidence::{
    tarball, Manifest, AUDIT_CHECKPOINT, AUDIT_PROOFS, AUDIT_RECORDS, EVIDENCE_PREDICATE_TYPE,
    MANIFEST, MANIFEST_SIGNATURE, PROVENANCE,
};
use crate::keys::VerifyingKey;
use crate::reproducibility::{
    ReproducibilityStatement, REPRODUCIBILITY, REPRODUCIBILITY_PREDICATE_TYPE,
};
use crate::slsa::{ProvenanceStatement, SLSA_PROVENANCE_V1};
use crate::statement::{ResourceDescriptor, STATEMENT_TYPE};

use super::Rejection;

/// What the caller expects of the provenance; `None` checks nothing.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    /// `owner/repo` or `https://github.com/owner/repo`.
    pub source_repo: Option<String>,
    /// `refs/heads/main`, or `main` (a branch or tag of that name).
    pub source_ref: Option<String>,
    pub builder_id: Option<String>,
    /// Files (as named by the caller) with their SHA-256, each of which must be a subject.
    pub artifacts: Vec<(String, Sha256Digest)>,
}

/// What a verified bundle holds.
#[derive(Debug, Clone)]
pub struct VerifiedEvidence {
    pub provenance: ProvenanceStatement,
    pub manifest: Manifest,
    /// Every member name.
    pub members: Vec<String>,
    /// The job's audit records.
    pub records: Vec<AuditRecord>,
    /// The audit checkpoint.
    pub checkpoint: Checkpoint,
    /// Each given artifact and the subject it matched.
    pub artifacts: Vec<(String, String)>,
    /// The reproducibility attestation of a rebuild's bundle.
    pub reproducibility: Option<ReproducibilityStatement>,
}

/// Verifies the bytes of an `evidence.tar`.
pub fn verify_evidence(
    tar: &[u8],
    key: &VerifyingKey,
    expect: &Expectations,
) -> Result<VerifiedEvidence, Rejection> {
    let (members, _epoch) = tarball::unpack(tar)?;
    let member = |name: &str| {
        members
            .get(name)
            .ok_or_else(|| Rejection::MissingMember(name.to_owned()))
    };

    // The manifest and its signature.
    let manifest_bytes = member(MANIFEST)?;
    let signed = Bundle::from_slice(member(MANIFEST_SIGNATURE)?)
        .and_then(|b| b.verify(key, IN_TOTO_PAYLOAD_TYPE))
        .map_err(Rejection::ManifestSignature)?;
    if &signed != manifest_bytes {
        return Err(Rejection::ManifestNotSigned);
    }
    let manifest: Manifest =
        serde_json::from_slice(manifest_bytes).map_err(|e| Rejection::Manifest(e.to_string()))?;
    if manifest.statement_type != STATEMENT_TYPE
        || manifest.predicate_type != EVIDENCE_PREDICATE_TYPE
    {
        return Err(Rejection::Manifest(format!(
            "type `{}`, predicate type `{}`",
            manifest.statement_type, manifest.predicate_type
        )));
    }
    let mut listed: BTreeMap<&str, &ResourceDescriptor> = BTreeMap::new();
    for subject in &manifest.subject {
        if listed.insert(subject.name.as_str(), subject).is_some() {
            return Err(Rejection::Manifest(format!(
                "`{}` is listed twice",
                subject.name
            )));
        }
    }
    for (name, data) in &members {
        if name == MANIFEST || name == MANIFEST_SIGNATURE {
            continue;
        }
        let subject = listed
            .remove(name.as_str())
            .ok_or_else(|| Rejection::UnlistedMember(name.clone()))?;
        if subject.sha256() != Some(Sha256Digest::of(data)) {
            return Err(Rejection::MemberDigest(name.clone()));
        }
    }
    if let Some(name) = listed.keys().next() {
        return Err(Rejection::ListedButMissing((*name).to_owned()));
    }

    // The provenance.
    let payload = Bundle::from_slice(member(PROVENANCE)?)
        .and_then(|b| b.verify(key, IN_TOTO_PAYLOAD_TYPE))
        .map_err(Rejection::ProvenanceSignature)?;
    let provenance: ProvenanceStatement =
        serde_json::from_slice(&payload).map_err(|e| Rejection::Provenance(e.to_string()))?;
    if provenance.statement_type != STATEMENT_TYPE
        || provenance.predicate_type != SLSA_PROVENANCE_V1
    {
        return Err(Rejection::Provenance(format!(
            "type `{}`, predicate type `{}`",
            provenance.statement_type, provenance.predicate_type
        )));
    }
    let invocation = &provenance.predicate.run_details.metadata.invocation_id;
    if invocation != &manifest.predicate.invocation_id {
        return Err(Rejection::Manifest(format!(
            "invocation `{}` differs from the provenance's `{invocation}`",
            manifest.predicate.invocation_id
        )));
    }

    // The audit checkpoint and the job's records in it.
    let checkpoint = Checkpoint::verify(member(AUDIT_CHECKPOINT)?, key)
        .map_err(Rejection::CheckpointSignature)?;
    let records = proven_records(
        member(AUDIT_RECORDS)?,
        member(AUDIT_PROOFS)?,
        &checkpoint,
        &manifest.predicate.job,
    )?;

    let reproducibility = match members.get(REPRODUCIBILITY) {
        Some(bytes) => Some(reproducibility(
            bytes,
            key,
            &manifest.predicate.invocation_id,
            &members,
        )?),
        None => None,
    };

    // The caller's expectations.
    let workflow = &provenance
        .predicate
        .build_definition
        .external_parameters
        .workflow;
    if let Some(repo) = &expect.source_repo {
        if repo_name(repo) != repo_name(&workflow.repository) {
            return Err(Rejection::Expectation {
                what: "source repository",
                expected: repo.clone(),
                found: workflow.repository.clone(),
            });
        }
    }
    if let Some(r) = &expect.source_ref {
        let found = &workflow.git_ref;
        let same =
            found == r || found == &format!("refs/heads/{r}") || found == &format!("refs/tags/{r}");
        if !same {
            return Err(Rejection::Expectation {
                what: "source ref",
                expected: r.clone(),
                found: found.clone(),
            });
        }
    }
    if let Some(id) = &expect.builder_id {
        let found = &provenance.predicate.run_details.builder.id;
        if found != id {
            return Err(Rejection::Expectation {
                what: "builder id",
                expected: id.clone(),
                found: found.clone(),
            });
        }
    }
    let mut artifacts = Vec::new();
    for (path, digest) in &expect.artifacts {
        let subject = provenance
            .subject
            .iter()
            .find(|s| s.sha256() == Some(*digest))
            .ok_or_else(|| Rejection::Artifact {
                path: path.clone(),
                digest: digest.to_hex(),
            })?;
        artifacts.push((path.clone(), subject.name.clone()));
    }
    Ok(VerifiedEvidence {
        provenance,
        manifest,
        members: members.keys().cloned().collect(),
        records,
        checkpoint,
        artifacts,
        reproducibility,
    })
}

/// The rebuild's attestation: signed by the same key, about this bundle's invocation, with its
/// diff report present when it names one.
fn reproducibility(
    bytes: &[u8],
    key: &VerifyingKey,
    invocation: &str,
    members: &BTreeMap<String, Vec<u8>>,
) -> Result<ReproducibilityStatement, Rejection> {
    let bad = |what: String| Rejection::Reproducibility(what);
    let payload = Bundle::from_slice(bytes)
        .and_then(|b| b.verify(key, IN_TOTO_PAYLOAD_TYPE))
        .map_err(|e| bad(format!("does not verify: {e}")))?;
    let statement: ReproducibilityStatement =
        serde_json::from_slice(&payload).map_err(|e| bad(e.to_string()))?;
    if statement.statement_type != STATEMENT_TYPE
        || statement.predicate_type != REPRODUCIBILITY_PREDICATE_TYPE
    {
        return Err(bad(format!(
            "type `{}`, predicate type `{}`",
            statement.statement_type, statement.predicate_type
        )));
    }
    if statement.predicate.rebuild.invocation_id != invocation {
        return Err(bad(format!(
            "it is about the rebuild `{}`, this bundle is `{invocation}`",
            statement.predicate.rebuild.invocation_id
        )));
    }
    if let Some(report) = &statement.predicate.diff_report {
        if !members.contains_key(report) {
            return Err(bad(format!("its diff report `{report}` is not a member")));
        }
    }
    Ok(statement)
}

/// The job's records, each proven to be in the checkpoint's tree.
fn proven_records(
    lines: &[u8],
    proofs: &[u8],
    checkpoint: &Checkpoint,
    job: &str,
) -> Result<Vec<AuditRecord>, Rejection> {
    let bad = |seq, reason: &str| Rejection::EvidenceRecord {
        seq,
        reason: reason.to_owned(),
    };
    let proofs: InclusionProofs =
        serde_json::from_slice(proofs).map_err(|e| bad(0, &format!("audit/proofs.json: {e}")))?;
    if proofs.tree_size != checkpoint.tree_size || proofs.root_hash != checkpoint.root_hash {
        return Err(bad(
            0,
            "the proofs are for another tree than the checkpoint",
        ));
    }
    if !lines.is_empty() && lines.last() != Some(&b'\n') {
        return Err(bad(0, "audit/records.jsonl does not end with a newline"));
    }
    let lines: Vec<&[u8]> = lines
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    if lines.len() != proofs.proofs.len() || lines.is_empty() {
        return Err(bad(0, "there is not one proof per record"));
    }
    let mut records = Vec::new();
    for (line, proof) in lines.iter().zip(&proofs.proofs) {
        let record = AuditRecord::from_line(line).ok_or_else(|| bad(proof.seq, "not a record"))?;
        if record.seq != proof.seq {
            return Err(bad(
                proof.seq,
                "the record's number differs from its proof's",
            ));
        }
        if record.job != job {
            return Err(bad(proof.seq, "the record is about another job"));
        }
        if !verify_inclusion(checkpoint.head(), line, proof.seq, &proof.path) {
            return Err(bad(
                proof.seq,
                "its inclusion proof does not lead to the checkpoint",
            ));
        }
        records.push(record);
    }
    Ok(records)
}

/// `owner/repo` of `owner/repo`, `https://github.com/owner/repo(.git)` and the like.
fn repo_name(text: &str) -> String {
    let t = text.trim().trim_end_matches('/');
    let t = t.strip_suffix(".git").unwrap_or(t);
    let mut parts = t.rsplit(['/', ':']);
    let name = parts.next().unwrap_or_default();
    let owner = parts.next().unwrap_or_default();
    format!("{owner}/{name}").to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_compare_in_any_common_spelling() {
        assert_eq!(repo_name("octo/hello"), "octo/hello");
        assert_eq!(repo_name("https://github.com/Octo/hello.git"), "octo/hello");
        assert_eq!(repo_name("git@github.com:octo/hello"), "octo/hello");
    }
}
