//! SARIF 2.1.0, in the shape GitHub code scanning ingests: one run whose `tool.driver.rules`
//! describe every rule, results with a level, a message, a location relative to the
//! repository root (`%SRCROOT%`) and a `partialFingerprints` entry that follows the finding
//! when lines move; failures to evaluate become error notifications of a run whose
//! `executionSuccessful` is false.

use crate::policy::finding::{Location, Severity};
use crate::policy::report::{LintReport, Sources};
use crate::policy::rules::RuleInfo;
use crate::source_text::line_text;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
const ROOT: &str = "%SRCROOT%";
const FINGERPRINT_KEY: &str = "hrunFindingHash/v1";

pub(super) fn render(report: &LintReport) -> String {
    let rules = report.rules();
    let sources = report.sources();
    let mut occurrences: HashMap<(String, String, String), usize> = HashMap::new();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|finding| {
            let (uri, line) = artifact(&sources, &finding.location);
            let key = (finding.rule_id.clone(), uri.clone(), line.trim().to_string());
            let occurrence = occurrences.entry(key.clone()).or_insert(0);
            *occurrence += 1;
            let mut result = Map::new();
            result.insert("ruleId".into(), json!(finding.rule_id));
            if let Some(index) = rules.iter().position(|rule| rule.id == finding.rule_id) {
                result.insert("ruleIndex".into(), json!(index));
            }
            result.insert("level".into(), json!(level(finding.severity)));
            result.insert(
                "message".into(),
                json!({ "text": format!("{}. Help: {}", finding.message.trim_end_matches('.'), finding.help) }),
            );
            result.insert(
                "locations".into(),
                json!([physical_location(&uri, &finding.location)]),
            );
            result.insert(
                "partialFingerprints".into(),
                json!({ FINGERPRINT_KEY: fingerprint(&key, *occurrence) }),
            );
            Value::Object(result)
        })
        .collect();

    let notifications: Vec<Value> = report
        .errors
        .iter()
        .map(|error| {
            let mut notification = Map::new();
            notification.insert("level".into(), json!("error"));
            notification.insert("message".into(), json!({ "text": error.to_string() }));
            notification.insert(
                "descriptor".into(),
                json!({ "id": format!("hrun/{}", error.kind()) }),
            );
            if let Some(at) = error.location() {
                let (uri, _) = artifact(&sources, at);
                notification.insert("locations".into(), json!([physical_location(&uri, at)]));
            }
            Value::Object(notification)
        })
        .collect();
    let mut invocation = Map::new();
    invocation.insert(
        "executionSuccessful".into(),
        json!(report.errors.is_empty()),
    );
    if !notifications.is_empty() {
        invocation.insert("toolExecutionNotifications".into(), json!(notifications));
    }

    let document = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "hrun",
                    "fullName": "Hermetic Runner policy gate (hrun lint)",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "informationUri": env!("CARGO_PKG_REPOSITORY"),
                    "rules": rules.iter().map(rule_descriptor).collect::<Vec<_>>(),
                }
            },
            "originalUriBaseIds": {
                ROOT: { "description": { "text": "The root of the repository that was linted." } }
            },
            "columnKind": "unicodeCodePoints",
            "invocations": [Value::Object(invocation)],
            "results": results,
        }]
    });
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Deny => "error",
        Severity::Warn => "warning",
    }
}

fn rule_descriptor(rule: &RuleInfo) -> Value {
    let mut properties = Map::new();
    properties.insert("tags".into(), json!(["security", "ci"]));
    if let Some(score) = rule.security_severity {
        properties.insert("security-severity".into(), json!(score));
    }
    json!({
        "id": rule.id,
        "name": rule.name,
        "shortDescription": { "text": rule.short_description },
        "fullDescription": { "text": rule.full_description },
        "help": {
            "text": format!("{} To fix: {}.", rule.full_description, rule.help),
            "markdown": format!("{}\n\n**To fix:** {}.", rule.full_description, rule.help),
        },
        "defaultConfiguration": { "level": level(rule.default_severity) },
        "properties": Value::Object(properties),
    })
}

/// The repository-relative URI of the location's file and the text of its line.
fn artifact(sources: &Sources<'_>, at: &Location) -> (String, String) {
    match sources.get(&at.file) {
        Some(file) => (
            encode_uri(&file.repo_relative),
            line_text(&file.text, at.line)
                .unwrap_or_default()
                .to_string(),
        ),
        None => {
            let path = at.file.to_string_lossy().replace('\\', "/");
            let path = path.trim_start_matches("./").to_string();
            (encode_uri(&path), String::new())
        }
    }
}

fn physical_location(uri: &str, at: &Location) -> Value {
    json!({
        "physicalLocation": {
            "artifactLocation": { "uri": uri, "uriBaseId": ROOT },
            "region": { "startLine": at.line.max(1), "startColumn": at.col.max(1) },
        }
    })
}

/// Stable across runs and across lines moving: the rule, the file, the line's text (trimmed)
/// and which occurrence of that triple this is.
fn fingerprint(key: &(String, String, String), occurrence: usize) -> String {
    let mut hasher = Sha256::new();
    for part in [&key.0, &key.1, &key.2] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{hex}:{occurrence}")
}

/// Percent-encodes what may not stand in a relative URI reference's path.
fn encode_uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'/' | b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;

    fn sarif(report: &LintReport) -> Value {
        serde_json::from_str(&render(report)).unwrap()
    }

    #[test]
    fn describes_every_rule_for_code_scanning() {
        let value = sarif(&fixtures::report());
        assert_eq!(value["version"], "2.1.0");
        let rules = value["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap();
        assert_eq!(rules.len(), 3);
        for rule in rules {
            for key in ["id", "shortDescription", "fullDescription", "help"] {
                assert!(!rule[key].is_null(), "{key} missing in {rule}");
            }
            assert!(matches!(
                rule["defaultConfiguration"]["level"].as_str(),
                Some("error" | "warning")
            ));
        }
    }

    #[test]
    fn results_carry_rule_level_relative_uri_region_and_fingerprint() {
        let value = sarif(&fixtures::report());
        let result = &value["runs"][0]["results"][0];
        assert_eq!(result["ruleId"], "unpinned-uses");
        assert_eq!(result["ruleIndex"], 1);
        assert_eq!(result["level"], "error");
        let location = &result["locations"][0]["physicalLocation"];
        assert_eq!(
            location["artifactLocation"]["uri"],
            ".github/workflows/ci.yml"
        );
        assert_eq!(location["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        assert_eq!(location["region"]["startLine"], 6);
        assert_eq!(location["region"]["startColumn"], 15);
        let print = result["partialFingerprints"][FINGERPRINT_KEY]
            .as_str()
            .unwrap();
        assert!(print.ends_with(":1") && print.len() == 34, "{print}");
        assert_eq!(value["runs"][0]["results"][1]["level"], "warning");
    }

    #[test]
    fn fingerprints_survive_a_line_moving_but_not_the_line_changing() {
        let before = sarif(&fixtures::report());
        let mut moved = fixtures::report();
        moved.files[0].text = format!("# a comment\n{}", moved.files[0].text);
        moved.findings[0].location.line += 1;
        let after = sarif(&moved);
        let print = |v: &Value| v["runs"][0]["results"][0]["partialFingerprints"].clone();
        assert_eq!(print(&before), print(&after));
        let mut changed = fixtures::report();
        changed.files[0].text = changed.files[0].text.replace("@v4", "@v3");
        assert_ne!(print(&before), print(&sarif(&changed)));
    }

    #[test]
    fn failures_make_the_run_unsuccessful_with_notifications() {
        let value = sarif(&fixtures::failed_report());
        let invocation = &value["runs"][0]["invocations"][0];
        assert_eq!(invocation["executionSuccessful"], false);
        let notification = &invocation["toolExecutionNotifications"][0];
        assert_eq!(notification["level"], "error");
        assert_eq!(
            notification["locations"][0]["physicalLocation"]["region"]["startLine"],
            3
        );
    }

    #[test]
    fn encodes_uri_special_characters() {
        assert_eq!(encode_uri("a b/ç#.yml"), "a%20b/%C3%A7%23.yml");
    }
}
