//! DSSE (Dead Simple Signing Envelope) v1: the signature covers the pre-authentication encoding
//! (PAE) of the payload type and the payload, never the JSON around them.
//!
//! `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, where `LEN` is the
//! length in bytes as ASCII decimal. The envelope carries the payload and signatures in base64
//! (standard alphabet, padded).

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::keys::{SigningKey, VerifyingKey};

/// The payload type of an in-toto Statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The bytes a DSSE signature covers.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// A DSSE envelope, with its fields in the order Sigstore's bundle writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The payload, base64.
    pub payload: String,
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeSignature {
    /// The signature over the PAE, base64.
    pub sig: String,
    /// Always written, empty: verifiers find our key through the bundle's public-key hint.
    pub keyid: String,
}

/// Why an envelope does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the envelope's payload is not base64")]
    PayloadNotBase64,
    #[error("the envelope's payload type is `{found}`, expected `{expected}`")]
    PayloadType { expected: String, found: String },
    #[error("the envelope has no signature")]
    NoSignature,
    #[error("no signature of the envelope is by the given key")]
    BadSignature,
}

impl Envelope {
    /// Signs `payload` of `payload_type` with `key`.
    pub fn sign(key: &SigningKey, payload_type: &str, payload: &[u8]) -> Envelope {
        let b64 = base64::engine::general_purpose::STANDARD;
        let sig = key.sign(&pae(payload_type, payload));
        Envelope {
            payload: b64.encode(payload),
            payload_type: payload_type.to_owned(),
            signatures: vec![EnvelopeSignature {
                sig: b64.encode(sig),
                keyid: String::new(),
            }],
        }
    }

    /// The decoded payload, unverified.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, EnvelopeError> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.payload)
            .map_err(|_| EnvelopeError::PayloadNotBase64)
    }

    /// Checks that the payload type is `payload_type` and that a signature is `key`'s; returns
    /// the payload.
    pub fn verify(&self, key: &VerifyingKey, payload_type: &str) -> Result<Vec<u8>, EnvelopeError> {
        if self.payload_type != payload_type {
            return Err(EnvelopeError::PayloadType {
                expected: payload_type.to_owned(),
                found: self.payload_type.chars().take(200).collect(),
            });
        }
        let payload = self.payload_bytes()?;
        if self.signatures.is_empty() {
            return Err(EnvelopeError::NoSignature);
        }
        let message = pae(&self.payload_type, &payload);
        let b64 = base64::engine::general_purpose::STANDARD;
        let signed = self.signatures.iter().any(|s| {
            b64.decode(&s.sig)
                .is_ok_and(|sig| key.verify(&message, &sig))
        });
        if signed {
            Ok(payload)
        } else {
            Err(EnvelopeError::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyKind;

    #[test]
    fn pae_matches_the_dsse_specification_example() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn a_signed_envelope_verifies_and_a_changed_one_does_not() {
        let key = SigningKey::generate(KeyKind::P256);
        let env = Envelope::sign(&key, IN_TOTO_PAYLOAD_TYPE, b"{}");
        assert_eq!(
            env.verify(&key.public(), IN_TOTO_PAYLOAD_TYPE),
            Ok(b"{}".to_vec())
        );
        let mut changed = env.clone();
        changed.payload = base64::engine::general_purpose::STANDARD.encode(b"{ }");
        assert_eq!(
            changed.verify(&key.public(), IN_TOTO_PAYLOAD_TYPE),
            Err(EnvelopeError::BadSignature)
        );
        let mut retyped = env.clone();
        retyped.payload_type = "text/plain".into();
        assert!(matches!(
            retyped.verify(&key.public(), IN_TOTO_PAYLOAD_TYPE),
            Err(EnvelopeError::PayloadType { .. })
        ));
        let other = SigningKey::generate(KeyKind::Ed25519);
        assert_eq!(
            env.verify(&other.public(), IN_TOTO_PAYLOAD_TYPE),
            Err(EnvelopeError::BadSignature)
        );
    }

    #[test]
    fn keyid_is_written_empty_and_explicit() {
        let key = SigningKey::generate(KeyKind::Ed25519);
        let env = Envelope::sign(&key, IN_TOTO_PAYLOAD_TYPE, b"x");
        let json = serde_json::to_string(&env).unwrap();
        assert!(json.contains(r#""keyid":"""#), "{json}");
    }
}
