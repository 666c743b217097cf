//! Signed checkpoints of the audit log: a tree size and its root, signed as a Sigstore bundle
//! (the same DSSE signing as provenance, with our own payload type).

use serde::{Deserialize, Serialize};

use crate::audit::merkle::TreeHead;
use crate::bundle::{Bundle, BundleError};
use crate::digest::Sha256Digest;
use crate::keys::{SigningKey, VerifyingKey};

/// The DSSE payload type of a checkpoint.
pub const CHECKPOINT_PAYLOAD_TYPE: &str = "application/vnd.hrun.audit-checkpoint+json";

/// What a checkpoint states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Which log: `hrun audit log` and the key's hint.
    pub origin: String,
    #[serde(rename = "treeSize")]
    pub tree_size: u64,
    #[serde(rename = "rootHash")]
    pub root_hash: Sha256Digest,
    /// RFC 3339, UTC.
    pub time: String,
}

impl Checkpoint {
    /// The tree head it states.
    pub fn head(&self) -> TreeHead {
        TreeHead {
            size: self.tree_size,
            root: self.root_hash,
        }
    }

    /// The origin line of a log kept with `key`.
    pub fn origin_for(key: &VerifyingKey) -> String {
        format!("hrun audit log {}", key.hint())
    }

    /// Signs it into a bundle's bytes (one line of `checkpoints.jsonl`).
    pub fn sign(&self, key: &SigningKey) -> Vec<u8> {
        let payload = serde_json::to_vec(self).unwrap_or_default();
        Bundle::sign(key, CHECKPOINT_PAYLOAD_TYPE, &payload).to_bytes()
    }

    /// Verifies a signed checkpoint with `key` and reads it.
    pub fn verify(signed: &[u8], key: &VerifyingKey) -> Result<Checkpoint, BundleError> {
        let payload = Bundle::from_slice(signed)?.verify(key, CHECKPOINT_PAYLOAD_TYPE)?;
        serde_json::from_slice(&payload).map_err(|e| BundleError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyKind;

    #[test]
    fn signed_checkpoints_verify_only_with_their_key() {
        let key = SigningKey::generate(KeyKind::P256);
        let c = Checkpoint {
            origin: Checkpoint::origin_for(&key.public()),
            tree_size: 5,
            root_hash: Sha256Digest::of(b"r"),
            time: "2024-01-01T00:00:00Z".into(),
        };
        let signed = c.sign(&key);
        assert_eq!(Checkpoint::verify(&signed, &key.public()), Ok(c));
        let other = SigningKey::generate(KeyKind::P256).public();
        assert!(Checkpoint::verify(&signed, &other).is_err());
    }
}
