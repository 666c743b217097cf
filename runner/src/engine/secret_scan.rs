//! The secret scan of what a job hands out: each step's outputs and summary, the job's outputs,
//! its artifacts, and what the run-time sweeps found in the step's processes.
//!
//! Masking hides the values the runner knows (the job's secrets, `::add-mask::`); the scan finds
//! the ones it does not know, by their shape (a token a step fetched, a key it generated), and
//! the job's own secrets where masking does not reach (an artifact, another process's
//! environment). Every finding becomes an annotation naming the rule and the place (`step build
//! output token`, line and column inside the value; `artifact dist/app.env`; the process, its
//! variable or argument) and is written to `secret-scan.json` beside the job's `result.json`,
//! one of the job's evidence members. With `--secret-scan fail` the job fails, a job output
//! holding a finding is not handed to other jobs, and an artifact holding one is kept out of the
//! job's artifacts and its provenance's subjects; with `report` (the default) the findings are
//! warnings.
//!
//! `secret-scan.json`: `policy`, `scanned` (values), `findings` (outputs, summaries, artifacts:
//! [`Finding`]s), `processes` (`steps`: what each step's sweeps did; `findings`: each a
//! [`SweepFinding`] with its `step`), `artifacts` (`scanned`, `bytes`, `withheld`, `errors`).
//!
//! Must never: put a scanned value, or any part of it, in an annotation, a log line or
//! `secret-scan.json` (findings carry a fingerprint or a secret's name, never the value).

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use hermetic::scan::{Finding, Scanner};
use hermetic::sweep::{SweepFinding, SweepReport};

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
    sweeps: Vec<StepSweeps>,
    process_findings: Vec<ProcessFinding>,
    artifacts: ArtifactScan,
}

/// What one step's sweeps did (their findings are in `processes.findings`).
#[derive(Debug, Clone, Serialize)]
pub struct StepSweeps {
    pub step: String,
    pub sweeps: u64,
    pub processes: u64,
    pub unreadable: u64,
    pub truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A finding of a step's sweeps.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessFinding {
    pub step: String,
    #[serde(flatten)]
    pub finding: SweepFinding,
}

/// What the scan of `$HRUN_ARTIFACTS` did (its findings are in `findings`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ArtifactScan {
    /// Regular files scanned, and their bytes.
    pub scanned: u64,
    pub bytes: u64,
    /// Artifacts kept out of the job's artifacts and provenance (`--secret-scan fail`).
    pub withheld: Vec<String>,
    /// Artifacts that could not be scanned (and why): the scan is incomplete.
    pub errors: Vec<String>,
}

/// `secret-scan.json`.
#[derive(Debug, Serialize)]
struct ScanRecord<'a> {
    policy: &'static str,
    /// Values scanned: step outputs, step summaries and job outputs.
    scanned: u64,
    /// Where each finding is: `source` names the value (`step build output token`) or the
    /// artifact (`artifact dist/app.env`), `line` and `column` are inside it.
    findings: &'a [Finding],
    processes: ProcessRecord<'a>,
    artifacts: &'a ArtifactScan,
}

#[derive(Debug, Serialize)]
struct ProcessRecord<'a> {
    steps: &'a [StepSweeps],
    findings: &'a [ProcessFinding],
}

impl JobScan {
    pub fn new(scanner: Arc<Scanner>, policy: ScanPolicy) -> JobScan {
        JobScan {
            scanner,
            policy,
            scanned: 0,
            findings: Vec::new(),
            sweeps: Vec::new(),
            process_findings: Vec::new(),
            artifacts: ArtifactScan::default(),
        }
    }

    pub fn policy(&self) -> ScanPolicy {
        self.policy
    }

    /// The run's scanner.
    pub fn scanner(&self) -> Arc<Scanner> {
        Arc::clone(&self.scanner)
    }

    /// Records what the sweeps of step `step` found; returns the new findings.
    pub fn add_sweeps(&mut self, step: &str, report: SweepReport) -> &[ProcessFinding] {
        self.sweeps.push(StepSweeps {
            step: step.to_owned(),
            sweeps: report.sweeps,
            processes: report.processes,
            unreadable: report.unreadable,
            truncated: report.truncated,
            note: report.note,
        });
        let start = self.process_findings.len();
        self.process_findings
            .extend(report.findings.into_iter().map(|finding| ProcessFinding {
                step: step.to_owned(),
                finding,
            }));
        self.process_findings.get(start..).unwrap_or_default()
    }

    /// Records findings of the artifact scan (already labelled `artifact <name>`).
    pub fn add_artifact_findings(&mut self, findings: Vec<Finding>) {
        self.findings.extend(findings);
    }

    /// What the artifact scan did.
    pub fn artifacts_mut(&mut self) -> &mut ArtifactScan {
        &mut self.artifacts
    }

    pub fn process_findings(&self) -> &[ProcessFinding] {
        &self.process_findings
    }

    /// Every finding: values, artifacts and processes.
    pub fn total(&self) -> usize {
        self.findings.len() + self.process_findings.len()
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
        self.policy == ScanPolicy::Fail && self.total() > 0
    }

    /// What the scans of outputs, summaries and artifacts found (not the process sweeps').
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Writes `secret-scan.json` at `path`.
    pub fn write(&self, path: &Path, masker: &SharedMasker) -> Result<(), ResultError> {
        let record = ScanRecord {
            policy: self.policy.as_str(),
            scanned: self.scanned,
            findings: &self.findings,
            processes: ProcessRecord {
                steps: &self.sweeps,
                findings: &self.process_findings,
            },
            artifacts: &self.artifacts,
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

/// The annotation text for a finding of a step's sweeps.
pub fn describe_sweep(finding: &SweepFinding, policy: ScanPolicy) -> String {
    let consequence = match policy {
        ScanPolicy::Report => "",
        ScanPolicy::Fail => " The job fails (--secret-scan fail).",
    };
    format!("Secret sweep: {finding} (the value is not shown).{consequence}")
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
    fn sweep_findings_fail_the_job_and_are_written_with_their_step() {
        use hermetic::sweep::{SweepLocation, SweepMatch, SweepPhase};
        let mut scan = JobScan::new(
            Arc::new(Scanner::new(RulePack::builtin())),
            ScanPolicy::Fail,
        );
        assert!(!scan.fails_job());
        let finding = SweepFinding {
            pid: 7,
            comm: "sleep".into(),
            location: SweepLocation::Environ {
                variable: "LEAKED".into(),
            },
            found: SweepMatch::Secret {
                name: "TOKEN".into(),
            },
            phase: SweepPhase::AfterExit,
        };
        let report = SweepReport {
            sweeps: 3,
            processes: 2,
            findings: vec![finding.clone()],
            ..SweepReport::default()
        };
        let added = scan.add_sweeps("bg", report);
        assert_eq!(added.len(), 1);
        let text = describe_sweep(&added[0].finding, ScanPolicy::Fail);
        assert_eq!(
            text,
            "Secret sweep: secret `TOKEN` in the environment variable `LEAKED` of process 7 (sleep), \
             after the step's main process ended (the value is not shown). The job fails (--secret-scan fail)."
        );
        assert!(scan.fails_job());
        assert_eq!(scan.process_findings().len(), 1);
        scan.artifacts_mut().withheld = vec!["leak.txt".into()];

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret-scan.json");
        scan.write(&path, &SharedMasker::default()).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(json["processes"]["steps"][0]["step"], "bg");
        assert_eq!(json["processes"]["steps"][0]["sweeps"], 3);
        let written = &json["processes"]["findings"][0];
        assert_eq!(written["step"], "bg");
        assert_eq!(written["location"]["variable"], "LEAKED");
        assert_eq!(written["found"]["name"], "TOKEN");
        assert_eq!(json["artifacts"]["withheld"][0], "leak.txt");
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
