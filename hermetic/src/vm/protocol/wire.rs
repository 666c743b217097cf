//! Byte strings in JSON control messages: program names, arguments, environment entries, paths.
//!
//! Unix strings are bytes and need not be UTF-8, but JSON strings must be. [`WireBytes`] is a
//! JSON string when the bytes are UTF-8 (nearly always, and readable in a trace) and an array of
//! numbers otherwise, so no byte string is ever mangled on its way into the guest.
//!
//! Must never: change bytes on a round trip (no lossy conversion anywhere).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A byte string carried losslessly through JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WireBytes(pub Vec<u8>);

impl WireBytes {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes as an OS string.
    pub fn as_os_str(&self) -> &OsStr {
        OsStr::from_bytes(&self.0)
    }

    /// The bytes as a path.
    pub fn as_path(&self) -> &Path {
        Path::new(self.as_os_str())
    }

    /// The bytes as an owned OS string.
    pub fn into_os_string(self) -> OsString {
        OsString::from_vec(self.0)
    }

    /// The bytes as an owned path.
    pub fn into_path_buf(self) -> PathBuf {
        PathBuf::from(self.into_os_string())
    }
}

impl From<&OsStr> for WireBytes {
    fn from(s: &OsStr) -> Self {
        WireBytes(s.as_bytes().to_vec())
    }
}

impl From<&Path> for WireBytes {
    fn from(p: &Path) -> Self {
        WireBytes::from(p.as_os_str())
    }
}

impl From<&str> for WireBytes {
    fn from(s: &str) -> Self {
        WireBytes(s.as_bytes().to_vec())
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Repr<'a> {
    Text(std::borrow::Cow<'a, str>),
    Bytes(Vec<u8>),
}

impl Serialize for WireBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => Repr::Text(text.into()).serialize(serializer),
            Err(_) => Repr::Bytes(self.0.clone()).serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for WireBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Repr::deserialize(deserializer)? {
            Repr::Text(text) => WireBytes(text.into_owned().into_bytes()),
            Repr::Bytes(bytes) => WireBytes(bytes),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn utf8_travels_as_a_json_string_and_other_bytes_as_numbers() {
        let text = serde_json::to_string(&WireBytes::from("héllo")).unwrap_or_default();
        assert_eq!(text, "\"héllo\"");
        let raw = serde_json::to_string(&WireBytes(vec![0xff, b'a'])).unwrap_or_default();
        assert_eq!(raw, "[255,97]");
    }

    #[test]
    fn rejects_numbers_outside_a_byte() {
        assert!(serde_json::from_str::<WireBytes>("[256]").is_err());
        assert!(serde_json::from_str::<WireBytes>("{}").is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let json = serde_json::to_vec(&WireBytes(bytes.clone())).unwrap_or_default();
            let back: WireBytes = serde_json::from_slice(&json).unwrap_or_default();
            prop_assert_eq!(back.0, bytes);
        }
    }
}
