//! The policy gate over a job from GitHub: every action a step uses must be pinned to a full
//! commit SHA (the `unpinned-uses` rule of `hrun lint`, with the policy file's allowances), or
//! the job is refused before anything runs. What the gate found is also the job's
//! `policy.json` in its evidence.

use std::path::PathBuf;

use serde_json::json;

use actions_compat::policy::checks::check_uses;
use actions_compat::policy::{Finding, Location, Policy, Severity};
use actions_compat::workflow::StepKind;

use super::message::DecodedJob;

/// What the rule finds in the job's steps, with each step's id, in step order.
fn findings(job: &DecodedJob, policy: &Policy) -> Vec<(String, Finding)> {
    let file = PathBuf::from(&job.description.workflow_file);
    let mut found = Vec::new();
    for step in &job.description.steps {
        let StepKind::Uses { uses, action, .. } = &step.kind else {
            continue;
        };
        let at = Location {
            file: file.clone(),
            line: step.line,
            col: step.col,
        };
        if let Some(f) = check_uses(action, &uses.value, &at, policy) {
            found.push((step.id.value.clone(), f));
        }
    }
    found
}

/// The message of the first denial, if any.
pub fn policy_gate(job: &DecodedJob, policy: &Policy) -> Option<String> {
    findings(job, policy)
        .into_iter()
        .find(|(_, f)| f.severity == Severity::Deny)
        .map(|(step, f)| {
            format!(
                "The policy gate refused the job: [{}] step `{step}`: {}. Help: {}",
                f.rule_id, f.message, f.help
            )
        })
}

/// The gate's report on a job it allowed (`policy.json` of the job's evidence): the rule it
/// applies and what it found (warnings only, or it would not have allowed the job).
pub fn policy_report(job: &DecodedJob, policy: &Policy) -> Vec<u8> {
    let found: Vec<_> = findings(job, policy)
        .into_iter()
        .map(|(step, f)| {
            json!({
                "rule": f.rule_id,
                "severity": f.severity.label(),
                "step": step,
                "message": f.message,
            })
        })
        .collect();
    let report = json!({
        "gate": "hrun run",
        "workflow": job.description.workflow_file,
        "rules": ["unpinned-uses"],
        "decision": "allowed",
        "findings": found,
    });
    serde_json::to_vec_pretty(&report).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::message::{to_job_description, JobRequest};

    fn job(git_ref: &str) -> DecodedJob {
        let doc = json!({"jobId": "j", "fileTable": ["ci.yml"], "steps": [{"id": "g", "contextName": "co",
            "reference": {"type": "repository", "name": "actions/checkout", "ref": git_ref, "repositoryType": "GitHub"}}]});
        to_job_description(&JobRequest::decode(&doc).unwrap()).unwrap()
    }

    #[test]
    fn an_unpinned_action_is_denied_and_a_pinned_one_allowed() {
        let denied = policy_gate(&job("v4"), &Policy::default()).unwrap();
        assert!(
            denied.contains("unpinned-uses") && denied.contains("actions/checkout@v4"),
            "{denied}"
        );
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(policy_gate(&job(sha), &Policy::default()), None);
    }

    #[test]
    fn the_report_of_an_allowed_job_names_the_rule_and_its_decision() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let report: serde_json::Value =
            serde_json::from_slice(&policy_report(&job(sha), &Policy::default())).unwrap();
        assert_eq!(report["decision"], "allowed");
        assert_eq!(report["rules"], json!(["unpinned-uses"]));
        assert_eq!(report["findings"], json!([]));
    }
}
