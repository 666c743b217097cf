//! `hrun-action.json`: what the store knows about one entry (which commit, where it came from,
//! its digests, when it arrived), kept beside the entry's tree. Provenance reads it later.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::digest::Sha256Hex;
use super::pin::PinnedRepo;

/// The file name of an entry's record.
pub const RECORD_FILE: &str = "hrun-action.json";

/// The version of the record's layout; a store entry of another version is reported, not read.
pub const RECORD_SCHEMA: u32 = 1;

/// How an entry reached the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionSource {
    /// Downloaded as a tarball through the GitHub API (`hrun actions pull`), or from the URL a
    /// job's action download info named (`hrun run`).
    Api,
    /// Copied from a local directory (`hrun actions import`).
    Import,
}

impl ActionSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionSource::Api => "api",
            ActionSource::Import => "import",
        }
    }
}

/// The content of `hrun-action.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRecord {
    pub schema: u32,
    pub owner: String,
    pub repo: String,
    /// The commit, 40 lowercase hex digits.
    pub sha: String,
    pub source: ActionSource,
    /// SHA-256 of the tarball as downloaded (`api`), or of the deterministic tar of the imported
    /// tree (`import`, see [`super::digest`]).
    pub sha256: Sha256Hex,
    /// SHA-256 of the deterministic tar of the stored tree: what the entry is checked against.
    pub tree_sha256: Sha256Hex,
    /// When the entry was added, RFC 3339 in UTC.
    pub fetched_at: String,
    /// Where it came from: the first tarball URL asked (without its query, so no
    /// credentials), or the directory imported.
    pub origin: String,
}

impl ActionRecord {
    /// The pinned repository this record describes, if its fields are well-formed.
    pub fn pin(&self) -> Option<PinnedRepo> {
        PinnedRepo::new(&self.owner, &self.repo, &self.sha)
            .ok()
            .filter(|pin| pin.sha() == self.sha)
    }
}

/// `time` as RFC 3339 in UTC with seconds (`2024-05-01T12:00:00Z`).
pub fn rfc3339_utc(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn formats_times_as_rfc3339_utc() {
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3661);
        assert_eq!(rfc3339_utc(leap), "2000-02-29T01:01:01Z");
        let later = UNIX_EPOCH + Duration::from_secs(1_767_225_599);
        assert_eq!(rfc3339_utc(later), "2025-12-31T23:59:59Z");
    }

    #[test]
    fn record_round_trips_and_refuses_unknown_fields_and_bad_digests() {
        let digest = "a".repeat(64);
        let json = serde_json::json!({
            "schema": 1, "owner": "o", "repo": "r", "sha": "0".repeat(40), "source": "api",
            "sha256": digest, "tree_sha256": digest, "fetched_at": "1970-01-01T00:00:00Z",
            "origin": "https://api.github.com/repos/o/r/tarball/0"
        });
        let record: ActionRecord = serde_json::from_value(json.clone()).expect("record");
        assert_eq!(record.source, ActionSource::Api);
        assert_eq!(serde_json::to_value(&record).expect("json"), json);
        assert!(record.pin().is_some());
        let mut extra = json.clone();
        extra["more"] = 1.into();
        assert!(serde_json::from_value::<ActionRecord>(extra).is_err());
        let mut bad = json;
        bad["sha256"] = "xyz".into();
        assert!(serde_json::from_value::<ActionRecord>(bad).is_err());
    }
}
