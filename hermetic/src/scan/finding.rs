//! What a scan reports: which rule matched where, and a fingerprint that never reveals the value.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Where the secret was found when it was not written as plain text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Inside a base64 blob (the position is the blob's).
    Base64,
}

/// A stable, one-way tag of a secret: the same value gives the same fingerprint in every file
/// and every run, so findings can be grouped and a known one suppressed, without the value
/// being shown. It is 64 bits of SHA-256 over a domain prefix and the value; rules only report
/// values that look random (a token format or an entropy threshold), which a 64-bit tag does
/// not let anyone recover.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The fingerprint of `secret`.
    pub fn of(secret: &[u8]) -> Fingerprint {
        let mut h = Sha256::new();
        h.update(b"hrun-secret-scan-v1\0");
        h.update(secret);
        let digest = h.finalize();
        let mut text = String::with_capacity(16);
        for b in digest.iter().take(8) {
            text.push(char::from(HEX[usize::from(b >> 4)]));
            text.push(char::from(HEX[usize::from(b & 15)]));
        }
        Fingerprint(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One secret found. Holds no part of the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule's id (`github-pat`, ...).
    pub rule: String,
    /// The rule's description.
    pub description: String,
    /// The file's path as scanned, or the label of scanned bytes (`step output x`).
    pub source: String,
    /// 1-based line and column (in characters) of the first byte of the match.
    pub line: u64,
    pub column: u64,
    /// 1-based line and column of the last character of the match.
    pub end_line: u64,
    pub end_column: u64,
    /// Byte offset and length of the secret in the file or bytes scanned (of the whole blob for
    /// a secret inside base64): enough for a caller holding the bytes to mask them.
    pub offset: u64,
    pub length: u64,
    pub fingerprint: Fingerprint,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
}

impl std::fmt::Display for Finding {
    /// `path:line:col: rule (description) [fingerprint]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {} ({})",
            self.source, self.line, self.column, self.rule, self.description
        )?;
        if let Some(Encoding::Base64) = self.encoding {
            f.write_str(" in a base64 blob")?;
        }
        write!(f, " [fingerprint {}]", self.fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_and_do_not_contain_the_value() {
        let a = Fingerprint::of(b"ghp_abcdefghijklmnopqrstuvwxyz0123456789");
        let b = Fingerprint::of(b"ghp_abcdefghijklmnopqrstuvwxyz0123456789");
        assert_eq!(a, b);
        assert_eq!(a.as_str().len(), 16);
        assert!(!a.as_str().contains("ghp"));
        assert_ne!(
            a,
            Fingerprint::of(b"ghp_abcdefghijklmnopqrstuvwxyz0123456788")
        );
    }

    #[test]
    fn display_names_place_rule_and_fingerprint_only() {
        let f = Finding {
            rule: "npm-access-token".into(),
            description: "npm access token".into(),
            source: "a/.npmrc".into(),
            line: 3,
            column: 7,
            end_line: 3,
            end_column: 46,
            offset: 10,
            length: 40,
            fingerprint: Fingerprint::of(b"x"),
            encoding: Some(Encoding::Base64),
        };
        let text = f.to_string();
        assert!(
            text.starts_with(
                "a/.npmrc:3:7: npm-access-token (npm access token) in a base64 blob [fingerprint "
            ),
            "{text}"
        );
    }
}
