//! Signing keys: ECDSA P-256 with SHA-256 (`p256`) and Ed25519 (`ed25519-dalek`), stored as
//! PKCS#8 PEM (private, written with mode 0600) and SubjectPublicKeyInfo PEM (public).
//!
//! Signatures are deterministic (RFC 6979 nonces for ECDSA, Ed25519 by construction), so the
//! same key and message always give the same bytes. ECDSA signatures are ASN.1 DER, the form
//! Sigstore's verifiers, securesystemslib and `openssl dgst -verify` expect.
//!
//! Must never: write a private key where another user could read it, or print one.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use p256::pkcs8::LineEnding;
use rand_core::OsRng;

use crate::digest::Sha256Digest;

/// Which algorithm a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA over NIST P-256 with SHA-256 (`ecdsa-sha2-nistp256`).
    P256,
    /// Ed25519 (pure, over the message).
    Ed25519,
}

impl KeyKind {
    /// `p256` or `ed25519`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::P256 => "p256",
            KeyKind::Ed25519 => "ed25519",
        }
    }
}

impl std::str::FromStr for KeyKind {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "p256" => Ok(KeyKind::P256),
            "ed25519" => Ok(KeyKind::Ed25519),
            other => Err(KeyError::UnknownKind(other.to_owned())),
        }
    }
}

/// What went wrong with a key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// `--kind` named no algorithm we sign with.
    #[error("unknown key kind `{0}` (expected p256 or ed25519)")]
    UnknownKind(String),
    /// The text is not a PKCS#8 PEM private key of a kind we know.
    #[error("not a PKCS#8 PEM private key for P-256 or Ed25519")]
    BadPrivateKey,
    /// The text is not a SubjectPublicKeyInfo PEM public key of a kind we know.
    #[error("not a PEM public key (SubjectPublicKeyInfo) for P-256 or Ed25519")]
    BadPublicKey,
    /// Encoding a key failed (should not happen for keys we made).
    #[error("cannot encode the key: {0}")]
    Encode(String),
    /// Reading or writing a key file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// A private key held by the runner.
#[derive(Clone)]
pub enum SigningKey {
    P256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SigningKey({}, {})",
            self.kind().as_str(),
            self.public().hint()
        )
    }
}

/// A public key that checks signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyingKey {
    P256(p256::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl SigningKey {
    /// A new random key of `kind` from the operating system's generator.
    pub fn generate(kind: KeyKind) -> SigningKey {
        match kind {
            KeyKind::P256 => SigningKey::P256(p256::ecdsa::SigningKey::random(&mut OsRng)),
            KeyKind::Ed25519 => {
                SigningKey::Ed25519(ed25519_dalek::SigningKey::generate(&mut OsRng))
            }
        }
    }

    /// The algorithm.
    pub fn kind(&self) -> KeyKind {
        match self {
            SigningKey::P256(_) => KeyKind::P256,
            SigningKey::Ed25519(_) => KeyKind::Ed25519,
        }
    }

    /// Reads a PKCS#8 PEM private key of either kind.
    pub fn from_pkcs8_pem(pem: &str) -> Result<SigningKey, KeyError> {
        if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_pem(pem) {
            return Ok(SigningKey::P256(k));
        }
        ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map(SigningKey::Ed25519)
            .map_err(|_| KeyError::BadPrivateKey)
    }

    /// Reads a private key file.
    pub fn read(path: &Path) -> Result<SigningKey, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        SigningKey::from_pkcs8_pem(&text)
    }

    /// The PKCS#8 PEM text. Keep it secret.
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        let pem = match self {
            SigningKey::P256(k) => k.to_pkcs8_pem(LineEnding::LF),
            SigningKey::Ed25519(k) => k.to_pkcs8_pem(LineEnding::LF),
        };
        pem.map(|p| p.to_string())
            .map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// The public half.
    pub fn public(&self) -> VerifyingKey {
        match self {
            SigningKey::P256(k) => VerifyingKey::P256(*k.verifying_key()),
            SigningKey::Ed25519(k) => VerifyingKey::Ed25519(k.verifying_key()),
        }
    }

    /// Signs `message`: ASN.1 DER for ECDSA (SHA-256 of the message), 64 bytes for Ed25519.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer;
        match self {
            SigningKey::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
            SigningKey::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
        }
    }

    /// Writes the private key to `private` (new file, mode 0600) and the public key to `public`.
    /// Refuses to replace an existing file.
    pub fn write_pair(&self, private: &Path, public: &Path) -> Result<(), KeyError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| KeyError::Io { path, source }
        };
        let pem = self.to_pkcs8_pem()?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(private)
            .map_err(io(private))?;
        file.write_all(pem.as_bytes()).map_err(io(private))?;
        file.sync_all().map_err(io(private))?;
        let public_pem = self.public().to_pem()?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(public)
            .map_err(io(public))?;
        file.write_all(public_pem.as_bytes()).map_err(io(public))?;
        Ok(())
    }
}

impl VerifyingKey {
    /// Reads a SubjectPublicKeyInfo PEM public key of either kind.
    pub fn from_pem(pem: &str) -> Result<VerifyingKey, KeyError> {
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_pem(pem) {
            return Ok(VerifyingKey::P256(k));
        }
        ed25519_dalek::VerifyingKey::from_public_key_pem(pem)
            .map(VerifyingKey::Ed25519)
            .map_err(|_| KeyError::BadPublicKey)
    }

    /// Reads a public key file.
    pub fn read(path: &Path) -> Result<VerifyingKey, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        VerifyingKey::from_pem(&text)
    }

    /// The algorithm.
    pub fn kind(&self) -> KeyKind {
        match self {
            VerifyingKey::P256(_) => KeyKind::P256,
            VerifyingKey::Ed25519(_) => KeyKind::Ed25519,
        }
    }

    /// The SubjectPublicKeyInfo PEM text.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        match self {
            VerifyingKey::P256(k) => k.to_public_key_pem(LineEnding::LF),
            VerifyingKey::Ed25519(k) => k.to_public_key_pem(LineEnding::LF),
        }
        .map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// The SubjectPublicKeyInfo DER bytes.
    pub fn spki_der(&self) -> Vec<u8> {
        let der = match self {
            VerifyingKey::P256(k) => k.to_public_key_der(),
            VerifyingKey::Ed25519(k) => k.to_public_key_der(),
        };
        // Encoding a valid in-memory key into DER cannot fail; an empty hint would not verify.
        der.map(|d| d.as_bytes().to_vec()).unwrap_or_default()
    }

    /// Sigstore's key hint: base64 (standard, padded) of the SHA-256 of the SPKI DER.
    pub fn hint(&self) -> String {
        base64::engine::general_purpose::STANDARD
            .encode(Sha256Digest::of(&self.spki_der()).as_bytes())
    }

    /// Whether `signature` is this key's over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        use p256::ecdsa::signature::Verifier;
        match self {
            VerifyingKey::P256(k) => p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|sig| k.verify(message, &sig).is_ok()),
            VerifyingKey::Ed25519(k) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| k.verify_strict(message, &sig).is_ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn signatures_are_deterministic_and_verify_for_both_kinds() {
        for kind in [KeyKind::P256, KeyKind::Ed25519] {
            let key = SigningKey::generate(kind);
            let a = key.sign(b"message");
            assert_eq!(a, key.sign(b"message"), "{kind:?}");
            assert!(key.public().verify(b"message", &a), "{kind:?}");
            assert!(!key.public().verify(b"messagE", &a), "{kind:?}");
            let other = SigningKey::generate(kind);
            assert!(!other.public().verify(b"message", &a), "{kind:?}");
        }
    }

    #[test]
    fn ecdsa_signatures_are_asn1_der() {
        let sig = SigningKey::generate(KeyKind::P256).sign(b"x");
        assert_eq!(sig.first(), Some(&0x30), "DER SEQUENCE");
        assert!(p256::ecdsa::Signature::from_der(&sig).is_ok());
    }

    #[test]
    fn writes_a_private_key_with_mode_0600_and_reads_both_back() {
        let dir = tempfile::tempdir().unwrap();
        for kind in [KeyKind::P256, KeyKind::Ed25519] {
            let key = SigningKey::generate(kind);
            let private = dir.path().join(format!("{}.key", kind.as_str()));
            let public = dir.path().join(format!("{}.pub", kind.as_str()));
            key.write_pair(&private, &public).unwrap();
            let mode = std::fs::metadata(&private).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let text = std::fs::read_to_string(&private).unwrap();
            assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"), "{text}");
            let back = SigningKey::read(&private).unwrap();
            assert_eq!(back.public(), key.public());
            assert_eq!(VerifyingKey::read(&public).unwrap(), key.public());
            assert!(key.write_pair(&private, &public).is_err(), "no overwrite");
        }
    }

    #[test]
    fn hint_is_base64_of_the_spki_digest() {
        let key = SigningKey::generate(KeyKind::P256).public();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(key.hint())
            .unwrap();
        assert_eq!(raw, Sha256Digest::of(&key.spki_der()).as_bytes().to_vec());
    }

    #[test]
    fn rejects_garbage_keys() {
        assert!(matches!(
            SigningKey::from_pkcs8_pem("nope"),
            Err(KeyError::BadPrivateKey)
        ));
        assert!(matches!(
            VerifyingKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
            Err(KeyError::BadPublicKey)
        ));
    }
}
