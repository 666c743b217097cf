//! `hrun audit verify`: checks a host's audit log directory, offline, with the log's public key.
//!
//! Every record must parse and carry its line's index (a removed, inserted or moved record
//! shows); every checkpoint must be signed by the key, state non-decreasing sizes, and match the
//! root recomputed from the records (a changed record before it shows); consecutive checkpoints
//! must be consistent; no checkpoint may cover more records than the file holds (truncation).
//! Checkpoints kept elsewhere (from evidence bundles) must be prefixes of the log, or the history
//! forked. Records after the last checkpoint are counted as unsealed: nothing signed covers them
//! yet.

use std::collections::BTreeMap;
use std::path::Path;

use crate::audit::checkpoint::Checkpoint;
use crate::audit::merkle::{verify_consistency, LogTree, TreeHead, MAX_TREE_SIZE};
use crate::audit::record::AuditRecord;
use crate::audit::{CHECKPOINTS_FILE, RECORDS_FILE};
use crate::keys::VerifyingKey;

use super::{Rejection, VerifyError};

/// What a verified log holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    pub records: u64,
    pub checkpoints: u64,
    /// Records after the last checkpoint.
    pub unsealed: u64,
    /// The last checkpoint's head.
    pub head: Option<TreeHead>,
}

/// Verifies the log in `dir`; `external` are signed checkpoints kept elsewhere.
pub fn verify_log(
    dir: &Path,
    key: &VerifyingKey,
    external: &[Vec<u8>],
) -> Result<AuditReport, VerifyError> {
    let read = |name: &str| match std::fs::read(dir.join(name)) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(VerifyError::CouldNotVerify(format!(
            "{}: {e}",
            dir.join(name).display()
        ))),
    };
    let records = read(RECORDS_FILE)?;
    let checkpoints = read(CHECKPOINTS_FILE)?;
    Ok(verify_log_bytes(&records, &checkpoints, key, external)?)
}

/// Verifies a log from the bytes of its two files.
pub fn verify_log_bytes(
    records: &[u8],
    checkpoints: &[u8],
    key: &VerifyingKey,
    external: &[Vec<u8>],
) -> Result<AuditReport, Rejection> {
    let origin = Checkpoint::origin_for(key);
    let lines = split_lines(records).ok_or(Rejection::RecordUnreadable {
        line: count_lines(records) + 1,
    })?;
    let record_count = lines.len() as u64;
    if record_count > MAX_TREE_SIZE {
        return Err(Rejection::RecordUnreadable {
            line: MAX_TREE_SIZE,
        });
    }
    for (i, line) in lines.iter().enumerate() {
        let n = i as u64;
        let record =
            AuditRecord::from_line(line).ok_or(Rejection::RecordUnreadable { line: n + 1 })?;
        if record.seq != n {
            return Err(Rejection::RecordOutOfOrder {
                line: n + 1,
                seq: record.seq,
            });
        }
    }

    // The log's own checkpoints, in order.
    let cp_lines = split_lines(checkpoints).ok_or(Rejection::LogCheckpoint {
        line: count_lines(checkpoints) + 1,
        error: crate::bundle::BundleError::Malformed("the last line is incomplete".into()),
    })?;
    let mut logged: Vec<(u64, Checkpoint)> = Vec::new();
    for (i, line) in cp_lines.iter().enumerate() {
        let n = i as u64 + 1;
        let cp = Checkpoint::verify(line, key)
            .map_err(|error| Rejection::LogCheckpoint { line: n, error })?;
        if cp.origin != origin {
            return Err(Rejection::LogCheckpoint {
                line: n,
                error: crate::bundle::BundleError::Malformed(format!(
                    "origin `{}` is not this key's log",
                    cp.origin
                )),
            });
        }
        if logged
            .last()
            .is_some_and(|(_, prev)| prev.tree_size > cp.tree_size)
        {
            return Err(Rejection::CheckpointsOutOfOrder { line: n });
        }
        if cp.tree_size > record_count {
            return Err(Rejection::Truncated {
                records: record_count,
                size: cp.tree_size,
            });
        }
        logged.push((n, cp));
    }
    let mut given = Vec::new();
    for signed in external {
        let cp = Checkpoint::verify(signed, key).map_err(Rejection::CheckpointSignature)?;
        if cp.tree_size > record_count {
            return Err(Rejection::Truncated {
                records: record_count,
                size: cp.tree_size,
            });
        }
        given.push(cp);
    }

    // The sizes at which a root is needed.
    let mut wanted: BTreeMap<u64, Option<TreeHead>> = BTreeMap::new();
    for (_, cp) in &logged {
        wanted.insert(cp.tree_size, None);
    }
    for cp in &given {
        wanted.insert(cp.tree_size, None);
    }
    let mut tree = LogTree::new();
    let mut previous: Option<TreeHead> = None;
    let mut next_logged = logged.iter().peekable();
    for size in 0..=record_count {
        if size > 0 {
            let line = lines.get((size - 1) as usize).copied().unwrap_or_default();
            tree.push(line.to_vec());
        }
        if let Some(slot) = wanted.get_mut(&size) {
            *slot = Some(tree.head());
        }
        while let Some((line, cp)) = next_logged.next_if(|(_, cp)| cp.tree_size == size) {
            let head = tree.head();
            if cp.root_hash != head.root {
                return Err(Rejection::RootMismatch { size, line: *line });
            }
            if let Some(prev) = previous.filter(|p| p.size > 0 && p.size < size) {
                let proof = tree.consistency_proof(prev.size).unwrap_or_default();
                if !verify_consistency(prev, head, &proof) {
                    return Err(Rejection::Inconsistent {
                        old: prev.size,
                        new: size,
                    });
                }
            }
            previous = Some(head);
        }
    }
    for cp in &given {
        let head = wanted.get(&cp.tree_size).copied().flatten();
        if head.map(|h| h.root) != Some(cp.root_hash) {
            return Err(Rejection::Forked { size: cp.tree_size });
        }
    }
    let last = logged.last().map(|(_, cp)| cp.head());
    Ok(AuditReport {
        records: record_count,
        checkpoints: logged.len() as u64,
        unsealed: record_count - last.map_or(0, |h| h.size),
        head: last,
    })
}

/// The lines of a newline-terminated file, or `None` if its last line is incomplete.
fn split_lines(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let body = bytes.strip_suffix(b"\n")?;
    Some(body.split(|&b| b == b'\n').collect())
}

fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::{Event, EventKind};
    use crate::audit::AuditLog;
    use crate::keys::{KeyKind, SigningKey};

    fn log_with_two_jobs() -> (tempfile::TempDir, SigningKey, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate(KeyKind::P256);
        let mut log = AuditLog::open(dir.path(), key.clone()).unwrap();
        let mut first = Vec::new();
        for job in ["a", "b"] {
            let events: Vec<Event> = [
                EventKind::JobReceived,
                EventKind::StepStarted,
                EventKind::JobFinished,
            ]
            .into_iter()
            .map(|kind| Event {
                kind,
                run: "r".into(),
                job: job.into(),
                data: serde_json::json!({"n": 1}),
            })
            .collect();
            let recs = log.append(&events).unwrap();
            let seqs: Vec<u64> = recs.iter().map(|r| r.seq).collect();
            let excerpt = log.checkpoint(&seqs).unwrap();
            if first.is_empty() {
                first = excerpt.checkpoint;
            }
        }
        (dir, key, first)
    }

    fn files(dir: &Path) -> (Vec<u8>, Vec<u8>) {
        (
            std::fs::read(dir.join(RECORDS_FILE)).unwrap(),
            std::fs::read(dir.join(CHECKPOINTS_FILE)).unwrap(),
        )
    }

    #[test]
    fn an_untouched_log_verifies() {
        let (dir, key, first) = log_with_two_jobs();
        let report = verify_log(dir.path(), &key.public(), &[first]).unwrap();
        assert_eq!(report.records, 6);
        assert_eq!(report.checkpoints, 2);
        assert_eq!(report.unsealed, 0);
    }

    #[test]
    fn every_changed_record_byte_is_detected() {
        let (dir, key, _) = log_with_two_jobs();
        let (records, checkpoints) = files(dir.path());
        for pos in 0..records.len() {
            let mut changed = records.clone();
            changed[pos] = if changed[pos] == b'1' { b'2' } else { b'1' };
            assert!(
                verify_log_bytes(&changed, &checkpoints, &key.public(), &[]).is_err(),
                "byte {pos} of records.jsonl changed unnoticed"
            );
        }
    }

    #[test]
    fn removed_reordered_and_truncated_records_are_detected() {
        let (dir, key, _) = log_with_two_jobs();
        let (records, checkpoints) = files(dir.path());
        let lines: Vec<&[u8]> = records.split_inclusive(|&b| b == b'\n').collect();
        let removed: Vec<u8> = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .flat_map(|(_, l)| l.to_vec())
            .collect();
        assert!(matches!(
            verify_log_bytes(&removed, &checkpoints, &key.public(), &[]),
            Err(Rejection::RecordOutOfOrder { line: 2, seq: 2 })
        ));
        let mut swapped = lines.clone();
        swapped.swap(3, 4);
        let swapped: Vec<u8> = swapped.concat();
        assert!(matches!(
            verify_log_bytes(&swapped, &checkpoints, &key.public(), &[]),
            Err(Rejection::RecordOutOfOrder { line: 4, .. })
        ));
        let truncated: Vec<u8> = lines[..5].concat();
        assert!(matches!(
            verify_log_bytes(&truncated, &checkpoints, &key.public(), &[]),
            Err(Rejection::Truncated {
                records: 5,
                size: 6
            })
        ));
    }

    #[test]
    fn a_truncated_log_with_its_checkpoints_is_caught_by_a_kept_checkpoint() {
        let (dir, key, _) = log_with_two_jobs();
        let (records, checkpoints) = files(dir.path());
        let last_cp: Vec<u8> = checkpoints.split(|&b| b == b'\n').nth(1).unwrap().to_vec();
        let lines: Vec<&[u8]> = records.split_inclusive(|&b| b == b'\n').collect();
        let first_cp: Vec<u8> = checkpoints
            .split_inclusive(|&b| b == b'\n')
            .next()
            .unwrap()
            .to_vec();
        let short = lines[..3].concat();
        assert!(verify_log_bytes(&short, &first_cp, &key.public(), &[]).is_ok());
        assert!(matches!(
            verify_log_bytes(&short, &first_cp, &key.public(), &[last_cp]),
            Err(Rejection::Truncated { .. })
        ));
    }

    #[test]
    fn a_forked_history_is_detected() {
        let (dir, key, first) = log_with_two_jobs();
        // Another log with the same key: same sizes, other records.
        let other = tempfile::tempdir().unwrap();
        let mut log = AuditLog::open(other.path(), key.clone()).unwrap();
        let events: Vec<Event> = (0..3)
            .map(|_| Event {
                kind: EventKind::KeyUsed,
                run: "x".into(),
                job: "x".into(),
                data: serde_json::json!({}),
            })
            .collect();
        log.append(&events).unwrap();
        let forked = log.checkpoint(&[]).unwrap().checkpoint;
        assert!(verify_log(dir.path(), &key.public(), &[first]).is_ok());
        assert!(matches!(
            verify_log(dir.path(), &key.public(), &[forked]),
            Err(VerifyError::Rejected(Rejection::Forked { size: 3 }))
        ));
    }
}
