//! The ledger of scheduled rebuilds: one JSON line per rebuild attempt (`$HRUN_CACHE/rebuilds/
//! ledger.jsonl` unless `--ledger` names another file), appended by `hrun rebuild --watch` and read
//! by `hrun rebuild status`.
//!
//! A bundle is known by the SHA-256 of its bytes, so a bundle moved or copied is not rebuilt
//! again; its latest line is its state. Lines that cannot be read are counted and skipped, never
//! a reason to stop: the ledger is a record, the attestations are the proof.
//!
//! Must never: rewrite or drop a line (each is appended with one `write`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What one rebuild attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerVerdict {
    Reproducible,
    NotReproducible,
    /// `hrun rebuild` exited 2: something the evidence names is not available.
    CouldNotRebuild,
    /// Not rebuilt, on purpose (a rebuild's own bundle).
    Skipped,
}

impl LedgerVerdict {
    /// From `hrun rebuild`'s exit code.
    pub fn from_exit(code: Option<i32>) -> LedgerVerdict {
        match code {
            Some(0) => LedgerVerdict::Reproducible,
            Some(1) => LedgerVerdict::NotReproducible,
            _ => LedgerVerdict::CouldNotRebuild,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LedgerVerdict::Reproducible => "reproducible",
            LedgerVerdict::NotReproducible => "not reproducible",
            LedgerVerdict::CouldNotRebuild => "could not rebuild",
            LedgerVerdict::Skipped => "skipped",
        }
    }
}

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// RFC 3339, UTC.
    pub at: String,
    /// The bundle as found.
    pub evidence: PathBuf,
    pub evidence_sha256: String,
    /// The job's key, when the rebuild said it.
    #[serde(default)]
    pub job: Option<String>,
    pub verdict: LedgerVerdict,
    /// The rebuild's output directory (its log is `rebuild.log` there).
    #[serde(default)]
    pub out: Option<PathBuf>,
    /// The verdict line, or why it could not rebuild.
    #[serde(default)]
    pub detail: String,
}

/// The ledger file.
#[derive(Debug, Clone)]
pub struct Ledger {
    path: PathBuf,
}

/// What a ledger holds: the latest entry per bundle, and how many lines were unreadable.
#[derive(Debug, Clone, Default)]
pub struct LedgerState {
    /// By bundle digest.
    pub latest: BTreeMap<String, LedgerEntry>,
    pub unreadable: usize,
}

impl Ledger {
    pub fn new(path: impl Into<PathBuf>) -> Ledger {
        Ledger { path: path.into() }
    }

    /// `$HRUN_CACHE/rebuilds/ledger.jsonl`.
    pub fn default_path() -> Option<PathBuf> {
        crate::cache::cache_dir().map(|c| c.join("rebuilds").join("ledger.jsonl"))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry.
    pub fn append(&self, entry: &LedgerEntry) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        file.write_all(&line)
    }

    /// Reads every line; a missing file is an empty ledger.
    pub fn read(&self) -> std::io::Result<LedgerState> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let mut state = LedgerState::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<LedgerEntry>(line) {
                Ok(entry) => {
                    state.latest.insert(entry.evidence_sha256.clone(), entry);
                }
                Err(_) => state.unreadable += 1,
            }
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(sha: &str, verdict: LedgerVerdict) -> LedgerEntry {
        LedgerEntry {
            at: "2025-01-01T00:00:00Z".into(),
            evidence: PathBuf::from(format!("/e/{sha}/evidence.tar")),
            evidence_sha256: sha.into(),
            job: Some("build".into()),
            verdict,
            out: None,
            detail: String::new(),
        }
    }

    #[test]
    fn the_latest_line_of_a_bundle_is_its_state() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::new(dir.path().join("sub/ledger.jsonl"));
        assert!(ledger.read().unwrap().latest.is_empty());
        ledger
            .append(&entry("aa", LedgerVerdict::CouldNotRebuild))
            .unwrap();
        ledger
            .append(&entry("bb", LedgerVerdict::Reproducible))
            .unwrap();
        ledger
            .append(&entry("aa", LedgerVerdict::NotReproducible))
            .unwrap();
        let state = ledger.read().unwrap();
        assert_eq!(state.latest.len(), 2);
        assert_eq!(state.latest["aa"].verdict, LedgerVerdict::NotReproducible);
    }

    #[test]
    fn unreadable_lines_are_counted_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.jsonl");
        std::fs::write(&path, "not json\n").unwrap();
        let ledger = Ledger::new(&path);
        ledger.append(&entry("cc", LedgerVerdict::Skipped)).unwrap();
        let state = ledger.read().unwrap();
        assert_eq!(state.unreadable, 1);
        assert_eq!(state.latest.len(), 1);
    }

    #[test]
    fn exit_codes_map_to_verdicts() {
        assert_eq!(
            LedgerVerdict::from_exit(Some(0)),
            LedgerVerdict::Reproducible
        );
        assert_eq!(
            LedgerVerdict::from_exit(Some(1)),
            LedgerVerdict::NotReproducible
        );
        assert_eq!(
            LedgerVerdict::from_exit(None),
            LedgerVerdict::CouldNotRebuild
        );
    }
}
