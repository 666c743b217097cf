//! The JSON format: one object with the outcome, the exit code, the findings and the errors.
//!
//! ```json
//! {"version": 1, "outcome": "denied", "exit_code": 1,
//!  "summary": {"files_checked": 1, "denied": 1, "warnings": 0, "errors": 0},
//!  "findings": [{"rule_id": "unpinned-uses", "severity": "deny", "message": "...",
//!                "help": "...", "location": {"file": "...", "line": 6, "col": 15}}],
//!  "errors": [{"kind": "parse", "message": "...", "location": null, "file": "..."}]}
//! ```
//! Field names are a stable interface; new fields may be added, none renamed or removed
//! without bumping `version`.

use crate::policy::finding::Location;
use crate::policy::report::LintReport;
use serde_json::{json, Value};

pub(super) fn render(report: &LintReport) -> String {
    let findings: Vec<Value> = report
        .findings
        .iter()
        .map(|finding| {
            json!({
                "rule_id": finding.rule_id,
                "severity": finding.severity,
                "message": finding.message,
                "help": finding.help,
                "location": location(&finding.location),
            })
        })
        .collect();
    let errors: Vec<Value> = report
        .errors
        .iter()
        .map(|error| {
            json!({
                "kind": error.kind(),
                "message": error.to_string(),
                "help": error.help(),
                "file": error.file().map(|f| f.display().to_string()),
                "location": error.location().map(location),
            })
        })
        .collect();
    let document = json!({
        "version": 1,
        "outcome": report.outcome().as_str(),
        "exit_code": report.exit_code(),
        "summary": {
            "files_checked": report.files_checked,
            "denied": report.denied(),
            "warnings": report.warnings(),
            "errors": report.errors.len(),
        },
        "findings": findings,
        "errors": errors,
    });
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}

fn location(at: &Location) -> Value {
    json!({ "file": at.file.display().to_string(), "line": at.line, "col": at.col })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;

    #[test]
    fn lists_findings_with_locations_and_the_exit_code() {
        let value: Value = serde_json::from_str(&render(&fixtures::report())).unwrap();
        assert_eq!(value["version"], 1);
        assert_eq!(value["outcome"], "denied");
        assert_eq!(value["exit_code"], 1);
        assert_eq!(value["summary"]["denied"], 1);
        assert_eq!(value["summary"]["warnings"], 1);
        let first = &value["findings"][0];
        assert_eq!(first["rule_id"], "unpinned-uses");
        assert_eq!(first["severity"], "deny");
        assert_eq!(
            first["location"],
            json!({"file": ".github/workflows/ci.yml", "line": 6, "col": 15})
        );
        assert_eq!(value["findings"][1]["severity"], "warn");
    }

    #[test]
    fn failures_appear_as_errors_and_exit_two() {
        let value: Value = serde_json::from_str(&render(&fixtures::failed_report())).unwrap();
        assert_eq!(value["outcome"], "failed");
        assert_eq!(value["exit_code"], 2);
        assert_eq!(value["errors"][0]["kind"], "parse");
        assert_eq!(value["errors"][0]["location"]["line"], 3);
    }
}
