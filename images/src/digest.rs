//! SHA-256 digests: the [`Sha256Hex`] type every component, package file and manifest is named
//! by, and streaming hashing of files and readers.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

/// A SHA-256 digest as 64 lowercase hex digits; only a valid digest can be built.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256Hex(String);

impl Sha256Hex {
    /// The digest written as `text`, if it is 64 lowercase hex digits.
    pub fn parse(text: &str) -> Option<Sha256Hex> {
        (text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Sha256Hex(text.to_owned()))
    }

    /// The digest of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> Sha256Hex {
        Sha256Hex::from_hasher(Sha256::new_with_prefix(bytes))
    }

    /// The digest of everything `reader` yields, with the number of bytes read.
    pub fn of_reader(reader: &mut dyn Read) -> io::Result<(Sha256Hex, u64)> {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            hasher.update(buf.get(..n).unwrap_or_default());
            total += n as u64;
        }
        Ok((Sha256Hex::from_hasher(hasher), total))
    }

    /// The digest and size of the file at `path`.
    pub fn of_file(path: &Path) -> io::Result<(Sha256Hex, u64)> {
        Sha256Hex::of_reader(&mut File::open(path)?)
    }

    /// The digest a finished hasher holds.
    pub fn from_hasher(hasher: Sha256) -> Sha256Hex {
        Sha256Hex(to_hex(&hasher.finalize()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first `n` hex digits, as `ls` shows a digest.
    pub fn short(&self, n: usize) -> &str {
        self.0.get(..n).unwrap_or(&self.0)
    }
}

/// `bytes` as lowercase hex digits.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        hex.push(char::from(DIGITS[usize::from(b >> 4)]));
        hex.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    hex
}

impl TryFrom<String> for Sha256Hex {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Sha256Hex::parse(&text).ok_or_else(|| format!("`{text}` is not 64 lowercase hex digits"))
    }
}

impl From<Sha256Hex> for String {
    fn from(digest: Sha256Hex) -> String {
        digest.0
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_bytes_matches_the_known_value_of_abc() {
        assert_eq!(
            Sha256Hex::of_bytes(b"abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn reader_digest_counts_bytes_and_equals_bytes_digest() {
        let data = vec![7u8; 3 * (1 << 20) + 5];
        let (digest, size) = Sha256Hex::of_reader(&mut data.as_slice()).unwrap();
        assert_eq!(size, data.len() as u64);
        assert_eq!(digest, Sha256Hex::of_bytes(&data));
    }

    #[test]
    fn parse_accepts_only_64_lowercase_hex_digits() {
        let good = "a".repeat(64);
        assert!(Sha256Hex::parse(&good).is_some());
        assert!(Sha256Hex::parse(&"A".repeat(64)).is_none());
        assert!(Sha256Hex::parse(&"a".repeat(63)).is_none());
        assert!(Sha256Hex::parse(&format!("{}g", "a".repeat(63))).is_none());
        assert!(serde_json::from_str::<Sha256Hex>("\"xyz\"").is_err());
    }
}
