//! A Sigstore bundle v0.3 around one DSSE envelope, signed by a key the verifier is given (no
//! certificate, no transparency log).
//!
//! The interop rules real verifiers enforce are written here once: the media type
//! `application/vnd.dev.sigstore.bundle.v0.3+json`, `verificationMaterial.publicKey.hint` = base64
//! of the SHA-256 of the key's SubjectPublicKeyInfo DER, `"tlogEntries": []` and `"keyid": ""`
//! written explicitly, no field that the bundle's protobuf definition does not have. The bytes
//! are compact JSON in a fixed field order, so the same key and payload give the same bytes.

use serde::{Deserialize, Serialize};

use crate::dsse::{Envelope, EnvelopeError};
use crate::keys::{SigningKey, VerifyingKey};

/// The media type of the bundles we write.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// A Sigstore bundle holding a DSSE envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    #[serde(rename = "verificationMaterial")]
    pub verification_material: VerificationMaterial,
    #[serde(rename = "dsseEnvelope")]
    pub dsse_envelope: Envelope,
}

/// How a verifier finds the key: a hint only; the key itself comes from the verifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationMaterial {
    #[serde(rename = "publicKey")]
    pub public_key: PublicKeyIdentifier,
    /// Always empty: nothing is logged in Rekor when signing offline with a key.
    #[serde(rename = "tlogEntries")]
    pub tlog_entries: Vec<serde_json::Value>,
}

/// `publicKey` of the verification material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeyIdentifier {
    pub hint: String,
}

/// Why a bundle does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("not a Sigstore bundle: {0}")]
    Malformed(String),
    #[error("the bundle's media type is `{0}`, expected {BUNDLE_MEDIA_TYPE}")]
    MediaType(String),
    #[error("the bundle's key hint `{found}` does not name the given key (`{expected}`)")]
    Hint { expected: String, found: String },
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
}

impl Bundle {
    /// Signs `payload` of `payload_type` into a new bundle.
    pub fn sign(key: &SigningKey, payload_type: &str, payload: &[u8]) -> Bundle {
        Bundle {
            media_type: BUNDLE_MEDIA_TYPE.to_owned(),
            verification_material: VerificationMaterial {
                public_key: PublicKeyIdentifier {
                    hint: key.public().hint(),
                },
                tlog_entries: Vec::new(),
            },
            dsse_envelope: Envelope::sign(key, payload_type, payload),
        }
    }

    /// The bundle's bytes: compact JSON, fixed field order, no trailing newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing plain strings and vectors cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a bundle (strictly: unknown fields are refused).
    pub fn from_slice(bytes: &[u8]) -> Result<Bundle, BundleError> {
        serde_json::from_slice(bytes).map_err(|e| BundleError::Malformed(e.to_string()))
    }

    /// Checks media type, hint and signature; returns the payload.
    pub fn verify(&self, key: &VerifyingKey, payload_type: &str) -> Result<Vec<u8>, BundleError> {
        if self.media_type != BUNDLE_MEDIA_TYPE {
            return Err(BundleError::MediaType(
                self.media_type.chars().take(200).collect(),
            ));
        }
        let expected = key.hint();
        if self.verification_material.public_key.hint != expected {
            return Err(BundleError::Hint {
                expected,
                found: self
                    .verification_material
                    .public_key
                    .hint
                    .chars()
                    .take(100)
                    .collect(),
            });
        }
        Ok(self.dsse_envelope.verify(key, payload_type)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsse::IN_TOTO_PAYLOAD_TYPE;
    use crate::keys::KeyKind;

    #[test]
    fn same_key_and_payload_give_the_same_bytes() {
        for kind in [KeyKind::P256, KeyKind::Ed25519] {
            let key = SigningKey::generate(kind);
            let a = Bundle::sign(&key, IN_TOTO_PAYLOAD_TYPE, b"{\"a\":1}").to_bytes();
            let b = Bundle::sign(&key, IN_TOTO_PAYLOAD_TYPE, b"{\"a\":1}").to_bytes();
            assert_eq!(a, b);
        }
    }

    #[test]
    fn writes_the_fields_verifiers_require_explicitly() {
        let key = SigningKey::generate(KeyKind::P256);
        let bytes = Bundle::sign(&key, IN_TOTO_PAYLOAD_TYPE, b"{}").to_bytes();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with(
            r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":""#
        ), "{text}");
        assert!(text.contains(r#""tlogEntries":[]"#), "{text}");
        assert!(text.contains(r#""keyid":"""#), "{text}");
    }

    #[test]
    fn verifies_and_refuses_wrong_key_unknown_fields_and_tampering() {
        let key = SigningKey::generate(KeyKind::P256);
        let bundle = Bundle::sign(&key, IN_TOTO_PAYLOAD_TYPE, b"{}");
        let back = Bundle::from_slice(&bundle.to_bytes()).unwrap();
        assert_eq!(
            back.verify(&key.public(), IN_TOTO_PAYLOAD_TYPE),
            Ok(b"{}".to_vec())
        );
        let other = SigningKey::generate(KeyKind::P256).public();
        assert!(matches!(
            back.verify(&other, IN_TOTO_PAYLOAD_TYPE),
            Err(BundleError::Hint { .. })
        ));
        let text = String::from_utf8(bundle.to_bytes()).unwrap();
        let extra = text.replacen("{\"mediaType\"", "{\"x\":1,\"mediaType\"", 1);
        assert!(matches!(
            Bundle::from_slice(extra.as_bytes()),
            Err(BundleError::Malformed(_))
        ));
    }
}
