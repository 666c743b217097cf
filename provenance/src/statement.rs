//! in-toto Statement v1 and its ResourceDescriptor: what an attestation is about (subjects, by
//! digest) and which predicate it carries.
//!
//! Field names and JSON shapes follow the in-toto attestation framework's v1 definitions, so
//! `in-toto-attestation`'s strict protobuf parse accepts what we write. Optional fields are left
//! out when empty, as protobuf's JSON form does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;

/// `_type` of every Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// An in-toto Statement v1 with a predicate of type `P`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement<P> {
    #[serde(rename = "_type")]
    pub statement_type: String,
    pub subject: Vec<ResourceDescriptor>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: P,
}

impl<P: Serialize> Statement<P> {
    /// A statement about `subject`.
    pub fn new(subject: Vec<ResourceDescriptor>, predicate_type: &str, predicate: P) -> Self {
        Statement {
            statement_type: STATEMENT_TYPE.to_owned(),
            subject,
            predicate_type: predicate_type.to_owned(),
            predicate,
        }
    }

    /// The statement's bytes: compact JSON in a fixed field order (the DSSE payload).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Our predicates hold only strings, numbers, maps and vectors: serializing cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A resource by name, location and digests (in-toto's ResourceDescriptor v1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceDescriptor {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uri: String,
    /// Algorithm → lowercase hex (`sha256`, `gitCommit`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    #[serde(
        default,
        rename = "mediaType",
        skip_serializing_if = "String::is_empty"
    )]
    pub media_type: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, serde_json::Value>,
}

impl ResourceDescriptor {
    /// A named resource with its SHA-256.
    pub fn file(name: impl Into<String>, sha256: Sha256Digest) -> ResourceDescriptor {
        ResourceDescriptor {
            name: name.into(),
            digest: BTreeMap::from([("sha256".to_owned(), sha256.to_hex())]),
            ..ResourceDescriptor::default()
        }
    }

    /// The `sha256` digest, if it has a well-formed one.
    pub fn sha256(&self) -> Option<Sha256Digest> {
        self.digest
            .get("sha256")
            .and_then(|d| Sha256Digest::from_hex(d).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_in_in_toto_field_names_and_order() {
        let s = Statement::new(
            vec![ResourceDescriptor::file("a.txt", Sha256Digest::of(b"a"))],
            "https://example.com/p",
            serde_json::json!({}),
        );
        let text = String::from_utf8(s.to_bytes()).unwrap();
        assert!(
            text.starts_with(r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a.txt","digest":{"sha256":"ca978112"#),
            "{text}"
        );
        assert!(text.ends_with(r#""predicateType":"https://example.com/p","predicate":{}}"#));
    }

    #[test]
    fn reads_back_strictly() {
        let text = r#"{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x","predicate":{},"extra":1}"#;
        assert!(serde_json::from_str::<Statement<serde_json::Value>>(text).is_err());
    }
}
