//! The append-only audit log of a host: one record per event ([`record`]), each record a leaf of
//! an RFC 6962 / RFC 9162 Merkle tree ([`merkle`]), a signed checkpoint ([`checkpoint`]) after each
//! job, and inclusion proofs of a job's records for its evidence bundle.
//!
//! On disk, in one directory (default `$HRUN_CACHE/audit`): `records.jsonl` (one record per line,
//! only ever appended), `checkpoints.jsonl` (one signed checkpoint per line) and `lock` (an
//! exclusive `flock` held while appending, so several `hrun` processes can share the log). Each
//! [`AuditLog`] keeps the tree in memory and reads what other processes appended before it adds
//! anything.
//!
//! Must never: rewrite or truncate either file. [`crate::verify::audit`] checks a log.

pub mod checkpoint;
pub mod merkle;
pub mod record;

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::keys::SigningKey;
use checkpoint::Checkpoint;
use merkle::LogTree;
use record::{AuditRecord, Event};

/// The records file in a log directory.
pub const RECORDS_FILE: &str = "records.jsonl";
/// The checkpoints file in a log directory.
pub const CHECKPOINTS_FILE: &str = "checkpoints.jsonl";
const LOCK_FILE: &str = "lock";

/// What went wrong with the log on disk.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot lock the audit log {}: {errno}", path.display())]
    Lock {
        errno: nix::errno::Errno,
        path: PathBuf,
    },
    #[error("the audit log {} is damaged ({what}); `hrun audit verify` tells more", path.display())]
    Damaged { what: String, path: PathBuf },
}

/// Inclusion proofs of some records against one tree head (`audit/proofs.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProofs {
    #[serde(rename = "treeSize")]
    pub tree_size: u64,
    #[serde(rename = "rootHash")]
    pub root_hash: Sha256Digest,
    pub proofs: Vec<RecordProof>,
}

/// The audit path of one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordProof {
    pub seq: u64,
    pub path: Vec<Sha256Digest>,
}

/// A job's part of the log, for its evidence bundle.
#[derive(Debug, Clone)]
pub struct LogExcerpt {
    /// The signed checkpoint (`audit/checkpoint.json`).
    pub checkpoint: Vec<u8>,
    /// The records, one line each (`audit/records.jsonl`).
    pub records: Vec<u8>,
    /// Their inclusion proofs (`audit/proofs.json`).
    pub proofs: Vec<u8>,
}

/// An open audit log.
pub struct AuditLog {
    dir: PathBuf,
    key: SigningKey,
    tree: LogTree,
    /// Bytes of `records.jsonl` already in `tree`.
    offset: u64,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.dir)
            .field("size", &self.tree.size())
            .finish()
    }
}

impl AuditLog {
    /// Opens (creating if needed, mode 0700) the log in `dir`, checkpoints signed with `key`.
    pub fn open(dir: &Path, key: SigningKey) -> Result<AuditLog, AuditError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| AuditError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        let mut log = AuditLog {
            dir: dir.to_path_buf(),
            key,
            tree: LogTree::new(),
            offset: 0,
        };
        let _guard = log.lock()?;
        log.catch_up()?;
        Ok(log)
    }

    /// The directory of the log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records in the log, as far as this process has read it.
    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// Appends events; returns their records (with sequence numbers) in order.
    pub fn append(&mut self, events: &[Event]) -> Result<Vec<AuditRecord>, AuditError> {
        let _guard = self.lock()?;
        self.catch_up()?;
        let time = now();
        let mut records = Vec::with_capacity(events.len());
        let mut bytes = Vec::new();
        for (i, event) in events.iter().enumerate() {
            let record = AuditRecord {
                seq: self.tree.size() + i as u64,
                time: time.clone(),
                kind: event.kind,
                run: event.run.clone(),
                job: event.job.clone(),
                data: event.data.clone(),
            };
            bytes.extend_from_slice(&record.to_line());
            bytes.push(b'\n');
            records.push(record);
        }
        let path = self.dir.join(RECORDS_FILE);
        let mut file = append_file(&path)?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_data())
            .map_err(|source| AuditError::Io {
                path: path.clone(),
                source,
            })?;
        for record in &records {
            self.tree.push(record.to_line());
        }
        self.offset += bytes.len() as u64;
        Ok(records)
    }

    /// Signs a checkpoint of the whole log as it is now, appends it to `checkpoints.jsonl`, and
    /// returns it with the records `seqs` and their inclusion proofs against it.
    pub fn checkpoint(&mut self, seqs: &[u64]) -> Result<LogExcerpt, AuditError> {
        let _guard = self.lock()?;
        self.catch_up()?;
        let head = self.tree.head();
        let checkpoint = Checkpoint {
            origin: Checkpoint::origin_for(&self.key.public()),
            tree_size: head.size,
            root_hash: head.root,
            time: now(),
        };
        let signed = checkpoint.sign(&self.key);
        let path = self.dir.join(CHECKPOINTS_FILE);
        let mut line = signed.clone();
        line.push(b'\n');
        let mut file = append_file(&path)?;
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .map_err(|source| AuditError::Io { path, source })?;
        let mut records = Vec::new();
        let mut proofs = Vec::new();
        for &seq in seqs {
            let (Some(leaf), Some(path)) = (self.tree.leaf(seq), self.tree.inclusion_proof(seq))
            else {
                continue;
            };
            records.extend_from_slice(leaf);
            records.push(b'\n');
            proofs.push(RecordProof { seq, path });
        }
        let proofs = InclusionProofs {
            tree_size: head.size,
            root_hash: head.root,
            proofs,
        };
        Ok(LogExcerpt {
            checkpoint: signed,
            records,
            proofs: serde_json::to_vec_pretty(&proofs).unwrap_or_default(),
        })
    }

    fn lock(&self) -> Result<Flock<File>, AuditError> {
        let path = self.dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|source| AuditError::Io {
                path: path.clone(),
                source,
            })?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| AuditError::Lock { errno, path })
    }

    /// Reads the records other processes appended since we last looked (the lock is held).
    fn catch_up(&mut self) -> Result<(), AuditError> {
        let path = self.dir.join(RECORDS_FILE);
        let io = |source| AuditError::Io {
            path: path.clone(),
            source,
        };
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.offset == 0 => return Ok(()),
            Err(e) => return Err(io(e)),
        };
        let len = file.metadata().map_err(io)?.len();
        if len < self.offset {
            return Err(AuditError::Damaged {
                what: "records.jsonl became shorter".into(),
                path: path.clone(),
            });
        }
        file.seek(SeekFrom::Start(self.offset)).map_err(io)?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail).map_err(io)?;
        if !tail.is_empty() && tail.last() != Some(&b'\n') {
            return Err(AuditError::Damaged {
                what: "the last record is incomplete".into(),
                path: path.clone(),
            });
        }
        for line in tail.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            self.tree.push(line.to_vec());
        }
        self.offset += tail.len() as u64;
        Ok(())
    }
}

fn append_file(path: &Path) -> Result<File, AuditError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| AuditError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// Now, RFC 3339 in UTC with seconds.
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::merkle::{verify_inclusion, TreeHead};
    use super::record::EventKind;
    use super::*;
    use crate::keys::KeyKind;

    fn event(job: &str) -> Event {
        Event {
            kind: EventKind::JobReceived,
            run: "r1".into(),
            job: job.into(),
            data: serde_json::json!({}),
        }
    }

    #[test]
    fn appends_numbered_records_and_proves_them_in_a_signed_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate(KeyKind::P256);
        let mut log = AuditLog::open(dir.path(), key.clone()).unwrap();
        log.append(&[event("a"), event("b")]).unwrap();
        let recs = log.append(&[event("c")]).unwrap();
        assert_eq!(recs[0].seq, 2);
        let excerpt = log.checkpoint(&[0, 2]).unwrap();
        let cp = Checkpoint::verify(&excerpt.checkpoint, &key.public()).unwrap();
        assert_eq!(cp.tree_size, 3);
        let proofs: InclusionProofs = serde_json::from_slice(&excerpt.proofs).unwrap();
        let lines: Vec<&[u8]> = excerpt.records.split(|&b| b == b'\n').collect();
        for (proof, line) in proofs.proofs.iter().zip(lines) {
            let head = TreeHead {
                size: cp.tree_size,
                root: cp.root_hash,
            };
            assert!(verify_inclusion(head, line, proof.seq, &proof.path));
        }
    }

    #[test]
    fn a_second_handle_sees_what_the_first_appended() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate(KeyKind::Ed25519);
        let mut one = AuditLog::open(dir.path(), key.clone()).unwrap();
        let mut two = AuditLog::open(dir.path(), key).unwrap();
        one.append(&[event("a")]).unwrap();
        let recs = two.append(&[event("b")]).unwrap();
        assert_eq!(recs[0].seq, 1);
        assert_eq!(two.size(), 2);
        one.append(&[event("c")]).unwrap();
        assert_eq!(one.size(), 3);
    }
}
