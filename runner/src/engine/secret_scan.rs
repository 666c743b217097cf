//! The secret scan of what a job hands out: each step's outputs and summary, and the job's
//! outputs, searched with the rule pack of [`hermetic::scan`] before they leave the job.
//!
//! Masking hides the values the runner knows (the job's secrets, `::add-mask::`); the scan finds
//! the ones it does not know, by their shape (a token a step fetched, a key it generated). Every
//! finding becomes an annotation naming the rule and the place (`step build output token`, line
//! and column inside the value) and is written to `secret-scan.json` beside the job's
//! `result.json`. With `--secret-scan fail` the job fails and a job output holding a finding is
//! not handed to other jobs; with `report` (the default) the findings are warnings.
//!
//! Must never: put a scanned value, or any part of it, in an annotation, a log line or
//! `secret-scan.json` (findings carry a fingerprint, never the value).

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use hermetic::scan::{Finding, Scanner};

use super::result::{write_json, ResultError};
use super::SharedMasker;

/// What a finding does to the job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanPolicy {
    /// Warn and record; the job's result is unchanged.
    #[default]
    Report,
    /// Record, fail the job, and keep job outputs with findings from other jobs.
    Fail,
}

impl ScanPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanPolicy::Report => "report",
            ScanPolicy::Fail => "fail",
        }
    }
}

/// The scan of one job: the scanner shared by the run, the policy, and what was found so far.
#[derive(Debug, Clone)]
pub struct JobScan {
    scanner: Arc<Scanner>,
    policy: ScanPolicy,
    /// How many values were scanned (outputs and summaries).
    scanned: u64,
    findings: Vec<Finding>,
}

/// `secret-scan.json`.
#[derive(Debug, Serialize)]
struct ScanRecord<'a> {
    policy: &'static str,
    /// Values scanned: step outputs, step summaries and job outputs.
    scanned: u64,
    /// Where each finding is: `source` names the value (`step build output token`), `line` and
    /// `column` are inside it.
    findings: &'a [Finding],
}

impl JobScan {
    pub fn new(scanner: Arc<Scanner>, policy: ScanPolicy) -> JobScan {
        JobScan {
            scanner,
            policy,
            scanned: 0,
            findings: Vec::new(),
        }
    }

    pub fn policy(&self) -> ScanPolicy {
        self.policy
    }

    /// Scans `text`, named `place`, and returns the findings it adds.
    pub fn scan(&mut self, place: &str, text: &str) -> &[Finding] {
        self.scanned += 1;
        let start = self.findings.len();
        self.findings
            .extend(self.scanner.scan_bytes(text.as_bytes(), place));
        self.findings.get(start..).unwrap_or_default()
    }

    /// The policy is `fail` and something was found.
    pub fn fails_job(&self) -> bool {
        self.policy == ScanPolicy::Fail && !self.findings.is_empty()
    }

    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Writes `secret-scan.json` at `path`.
    pub fn write(&self, path: &Path, masker: &SharedMasker) -> Result<(), ResultError> {
        let record = ScanRecord {
            policy: self.policy.as_str(),
            scanned: self.scanned,
            findings: &self.findings,
        };
        write_json(path, &record, "the secret scan", masker)
    }
}

/// The annotation text for a finding: rule, place, position and fingerprint, never the value.
pub fn describe(finding: &Finding, policy: ScanPolicy) -> String {
    let consequence = match policy {
        ScanPolicy::Report => "",
        ScanPolicy::Fail => " The job fails (--secret-scan fail).",
    };
    format!(
        "Secret scan: {} ({}) in {} at line {}, column {} (fingerprint {}; the value is not shown).{consequence}",
        finding.rule,
        finding.description,
        finding.source,
        finding.line,
        finding.column,
        finding.fingerprint
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hermetic::scan::RulePack;

    fn token() -> String {
        // Synthetic: the shape of a Slack bot token, not a real one.
        format!(
            "xoxb-{}-{}-{}",
            "1234567890", "9876543210", "Qw3Er5Ty7Ui9Op1As3Df5Gh7"
        )
    }

    #[test]
    fn findings_name_the_place_and_never_the_value() {
        let mut scan = JobScan::new(
            Arc::new(Scanner::new(RulePack::builtin())),
            ScanPolicy::Fail,
        );
        assert!(scan.scan("step `a` output `x`", "nothing").is_empty());
        let found = scan.scan(
            "step `b` output `y`",
            &format!("line one\nkey {}\n", token()),
        );
        assert_eq!(found.len(), 1);
        let text = describe(&found[0], ScanPolicy::Fail);
        assert!(
            text.contains("slack-bot-token")
                && text.contains("step `b` output `y` at line 2, column 5"),
            "{text}"
        );
        assert!(!text.contains("Qw3Er5"), "{text}");
        assert!(scan.fails_job());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret-scan.json");
        scan.write(&path, &SharedMasker::default()).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(json["policy"], "fail");
        assert_eq!(json["scanned"], 2);
        assert_eq!(json["findings"][0]["rule"], "slack-bot-token");
        assert!(!json.to_string().contains("Qw3Er5"));
    }

    #[test]
    fn report_policy_never_fails_the_job() {
        let mut scan = JobScan::new(
            Arc::new(Scanner::new(RulePack::builtin())),
            ScanPolicy::Report,
        );
        scan.scan("job output `t`", &token());
        assert_eq!(scan.findings().len(), 1);
        assert!(!scan.fails_job());
    }
}
