//! The audit events of a job's end, built from what the engine and the sandbox reported:
//! `vm_started` (the microVM's facts: accelerator, guest image), `step_started`/`step_finished`
//! per step, `egress_denied` per denied attempt of the egress report, `secret_finding` per
//! finding of the job's secret scan (outputs, summaries, artifacts) and of its process sweeps.
//!
//! These are written when the job ends (the sandbox reports its facts then), in the order they
//! happened as far as it is known; each says so (`"recorded": "when the job ended"`) and carries
//! its own time where the report has one.
//!
//! Must never: put a secret's value (or any part of it) in a record: a finding is recorded by its
//! rule and where it was, nothing else.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value as Json};

use hermetic::scan::Finding;
use provenance::audit::record::EventKind;

use crate::engine::result::StepResult;
use crate::engine::secret_scan::ProcessFinding;
use crate::engine::SharedMasker;

/// An event to append: its kind and details.
pub type JobEvent = (EventKind, Json);

/// What the events say about when they were recorded.
const RECORDED: &str = "when the job ended";

/// The microVM facts a `vm_started` record carries, when the sandbox reported them.
const VM_FACTS: [&str; 9] = [
    "vm",
    "accelerator",
    "accelerator_source",
    "image_digest",
    "kernel_digest",
    "kernel_release",
    "vcpus",
    "memory_mib",
    "boot_ms",
];

/// `vm_started`, when the sandbox started a virtual machine for the job (it reports the VM's
/// name with its facts from launch on).
pub fn vm_started(facts: &BTreeMap<String, String>) -> Option<JobEvent> {
    facts.get("vm")?;
    let mut data = Map::new();
    for name in VM_FACTS {
        if let Some(value) = facts.get(name) {
            data.insert(name.to_owned(), json!(value));
        }
    }
    data.insert("recorded".to_owned(), json!(RECORDED));
    Some((EventKind::VmStarted, Json::Object(data)))
}

/// `step_started` / `step_finished` records of the steps (and composite steps within them), in
/// the order they ran.
pub fn step_events(steps: &[StepResult], masker: &SharedMasker, out: &mut Vec<JobEvent>) {
    for step in steps {
        let name = masker.mask(&step.name);
        out.push((
            EventKind::StepStarted,
            json!({"step": step.id, "name": name, "recorded": RECORDED}),
        ));
        step_events(&step.steps, masker, out);
        out.push((
            EventKind::StepFinished,
            json!({
                "step": step.id,
                "conclusion": step.conclusion.as_str(),
                "exit_code": step.exit_code,
                "duration_ms": step.duration_ms,
            }),
        ));
    }
}

/// Fields of a denied attempt the `egress_denied` record keeps.
const ATTEMPT_FIELDS: [&str; 7] = [
    "time",
    "protocol",
    "destination",
    "port",
    "name",
    "query_type",
    "repeats",
];

/// One `egress_denied` per denied attempt of the egress report (`egress.json`, as the job's
/// output directory holds it: masked). A report that cannot be read gives none.
pub fn egress_denials(report: &[u8]) -> Vec<JobEvent> {
    let Ok(report) = serde_json::from_slice::<Json>(report) else {
        return Vec::new();
    };
    let mode = report.get("mode").cloned().unwrap_or(Json::Null);
    let Some(attempts) = report.get("attempts").and_then(Json::as_array) else {
        return Vec::new();
    };
    attempts
        .iter()
        .filter(|a| a.get("verdict").and_then(Json::as_str) == Some("denied"))
        .map(|attempt| {
            let mut data = Map::new();
            for field in ATTEMPT_FIELDS {
                if let Some(value) = attempt.get(field) {
                    data.insert(field.to_owned(), value.clone());
                }
            }
            data.insert(
                "reason".to_owned(),
                attempt.get("reason").cloned().unwrap_or(Json::Null),
            );
            data.insert("mode".to_owned(), mode.clone());
            (EventKind::EgressDenied, Json::Object(data))
        })
        .collect()
}

/// One `secret_finding` per finding: the rule and where (the value named, the line and column
/// inside it), never the value.
pub fn secret_findings(findings: &[Finding], masker: &SharedMasker) -> Vec<JobEvent> {
    findings
        .iter()
        .map(|f| {
            (
                EventKind::SecretFinding,
                json!({
                    "rule": f.rule,
                    "source": masker.mask(&f.source),
                    "line": f.line,
                    "column": f.column,
                    "end_line": f.end_line,
                    "end_column": f.end_column,
                    "encoding": f.encoding,
                }),
            )
        })
        .collect()
}

/// One `secret_finding` per finding of a step's process sweeps: the step, the process (pid as
/// the step saw it, name), where (variable or argument index) and what (secret name or rule and
/// fingerprint), never the value.
pub fn sweep_findings(findings: &[ProcessFinding], masker: &SharedMasker) -> Vec<JobEvent> {
    findings
        .iter()
        .map(|f| {
            let mut data = serde_json::to_value(&f.finding).unwrap_or(Json::Null);
            if let Some(object) = data.as_object_mut() {
                object.insert("step".to_owned(), json!(f.step));
                object.insert("source".to_owned(), json!("process sweep"));
            }
            let text = masker.mask_document(&data.to_string());
            (
                EventKind::SecretFinding,
                serde_json::from_str(&text).unwrap_or(Json::Null),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hermetic::scan::{RulePack, Scanner};

    #[test]
    fn vm_started_carries_the_accelerator_and_image_digest() {
        let facts = BTreeMap::from([
            ("vm".to_owned(), "hrun-1-0".to_owned()),
            ("accelerator".to_owned(), "tcg".to_owned()),
            ("image_digest".to_owned(), "ab".repeat(32)),
            ("guest_boot_notes".to_owned(), "not recorded".to_owned()),
        ]);
        let (kind, data) = vm_started(&facts).unwrap();
        assert_eq!(kind, EventKind::VmStarted);
        assert_eq!(data["accelerator"], "tcg");
        assert_eq!(data["image_digest"], json!("ab".repeat(32)));
        assert_eq!(data["vm"], "hrun-1-0");
        assert!(data.get("guest_boot_notes").is_none());
    }

    #[test]
    fn no_vm_started_without_a_vm() {
        let facts = BTreeMap::from([("sandbox".to_owned(), "namespace".to_owned())]);
        assert_eq!(vm_started(&facts), None);
    }

    #[test]
    fn one_egress_denied_per_denied_attempt() {
        let report = json!({
            "mode": "block",
            "allowlist": [],
            "ipv6": false,
            "attempts": [
                {"time": "t1", "protocol": "tcp", "source": "10.0.0.2", "destination": "198.51.100.7",
                 "port": 80, "verdict": "denied", "reason": "not in the allowlist", "repeats": 2},
                {"time": "t2", "protocol": "dns", "source": "10.0.0.2", "destination": "10.0.0.1",
                 "port": 53, "name": "pypi.org", "verdict": "allowed", "reason": "pypi.org:443"},
                {"time": "t3", "protocol": "dns", "source": "10.0.0.2", "destination": "10.0.0.1",
                 "port": 53, "name": "evil.example", "query_type": "A", "verdict": "denied",
                 "reason": "no entry for the name"}
            ],
            "unrecorded": 0
        });
        let events = egress_denials(report.to_string().as_bytes());
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|(k, _)| *k == EventKind::EgressDenied));
        assert_eq!(events[0].1["destination"], "198.51.100.7");
        assert_eq!(events[0].1["port"], 80);
        assert_eq!(events[0].1["repeats"], 2);
        assert_eq!(events[0].1["mode"], "block");
        assert_eq!(events[1].1["name"], "evil.example");
        assert_eq!(events[1].1["reason"], "no entry for the name");
        assert!(egress_denials(b"not json").is_empty());
    }

    #[test]
    fn a_secret_finding_record_names_rule_and_place_but_not_the_value() {
        let token = format!("ghp_{}", "Zx9Qw3Er5Ty7Ui1Op2As4Df6Gh8Jk0LmNbVc");
        let scanner = Scanner::new(RulePack::builtin());
        let findings =
            scanner.scan_bytes(format!("x\n  {token}\n").as_bytes(), "step make output t");
        assert!(!findings.is_empty(), "the scanner finds the token");
        let events = secret_findings(&findings, &SharedMasker::default());
        let (kind, data) = &events[0];
        assert_eq!(*kind, EventKind::SecretFinding);
        assert_eq!(data["source"], "step make output t");
        assert_eq!(data["line"], 2);
        assert_eq!(data["column"], 3);
        assert!(data["rule"].as_str().is_some_and(|r| !r.is_empty()));
        let text = data.to_string();
        assert!(!text.contains(&token[4..]), "{text}");
        assert!(!text.contains(findings[0].fingerprint.as_str()), "{text}");
    }
}
