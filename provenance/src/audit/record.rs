//! One audit record: an event of a run, as one line of compact JSON. The line's bytes (without
//! the newline) are the Merkle leaf, so any change to a record changes the tree.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A job was taken to run.
    JobReceived,
    /// The policy gate decided on the workflow.
    PolicyDecision,
    /// A job's virtual machine started (issue #4).
    VmStarted,
    StepStarted,
    StepFinished,
    /// The egress filter refused a connection (issue #4).
    EgressDenied,
    /// The secret scan found something (issue #6).
    SecretFinding,
    JobFinished,
    /// The signing key signed something (which digest, for what).
    KeyUsed,
}

/// An event to append; the log gives it its sequence number and time.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    /// The run's id.
    pub run: String,
    /// The job's key, empty for a run-level event.
    pub job: String,
    /// Details (masked by the caller).
    pub data: Json,
}

/// A record as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// Its index in the log (the Merkle leaf index).
    pub seq: u64,
    /// RFC 3339, UTC.
    pub time: String,
    pub kind: EventKind,
    pub run: String,
    pub job: String,
    pub data: Json,
}

impl AuditRecord {
    /// The record's line: compact JSON without the newline.
    pub fn to_line(&self) -> Vec<u8> {
        // Strings, numbers and JSON values always serialize.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads one line strictly; `None` if it is not a record.
    pub fn from_line(line: &[u8]) -> Option<AuditRecord> {
        serde_json::from_slice(line).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_one_line_and_reads_back() {
        let r = AuditRecord {
            seq: 3,
            time: "2024-01-01T00:00:00Z".into(),
            kind: EventKind::StepFinished,
            run: "r".into(),
            job: "build".into(),
            data: serde_json::json!({"step": "a\nb"}),
        };
        let line = r.to_line();
        assert!(!line.contains(&b'\n'));
        assert_eq!(
            String::from_utf8(line.clone()).unwrap(),
            r#"{"seq":3,"time":"2024-01-01T00:00:00Z","kind":"step_finished","run":"r","job":"build","data":{"step":"a\nb"}}"#
        );
        assert_eq!(AuditRecord::from_line(&line), Some(r));
        assert_eq!(AuditRecord::from_line(b"{\"seq\":1}"), None);
    }
}
