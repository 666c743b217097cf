//! `hrun lint --format sarif` checked against the official SARIF 2.1.0 schema and GitHub code
//! scanning's ingestion rules, with validators installed by `ci/setup-sarif-validator.sh`:
//! Microsoft's SARIF Multitool (`validate --rule-kind Gh;Sarif`) and Python's `jsonschema` on the
//! schema file the Multitool ships. Each check skips, saying why, when its tool is absent.
//! Nothing is fetched from the network: the Multitool's rule that tries to reach URIs is off.

use actions_compat::policy::{
    lint_paths, Finding, LintError, LintOptions, LintReport, Location, OutputFormat, Policy,
    Severity, SourceFile,
};
use std::path::{Path, PathBuf};
use std::process::Command;

fn tools_dir() -> PathBuf {
    let cache = std::env::var_os("HRUN_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache/hrun")))
        .unwrap_or_else(|| PathBuf::from(".cache/hrun"));
    cache.join("tools")
}

fn multitool_package() -> PathBuf {
    tools_dir().join("sarif-multitool/node_modules/@microsoft/sarif-multitool-linux")
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hrun-sarif-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

const WORKFLOW: &str = "name: pr\non: pull_request_target\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: echo \"${{ github.event.pull_request.title }}\"\n      - uses: docker://alpine:3.20\n";

/// A report with every kind of content SARIF output has: built-in and custom rules, both
/// levels, a file path needing URI escaping, and a failure to evaluate.
fn reports(scratch: &str) -> Vec<(&'static str, LintReport)> {
    let file = PathBuf::from("repo/.github/workflows/pr #1.yml");
    let at = |line, col| Location::new(&file, line, col);
    let finding = |rule: &str, severity, line, col, message: &str| Finding {
        rule_id: rule.into(),
        severity,
        message: message.into(),
        location: at(line, col),
        help: "do the right thing".into(),
    };
    let denied = LintReport {
        findings: vec![
            finding(
                "pull-request-target",
                Severity::Deny,
                2,
                5,
                "`pull_request_target` trigger",
            ),
            finding(
                "unpinned-uses",
                Severity::Deny,
                7,
                15,
                "`actions/checkout@v4` is not pinned",
            ),
            finding(
                "template-injection",
                Severity::Warn,
                8,
                21,
                "title in a script",
            ),
            finding(
                "unpinned-uses",
                Severity::Deny,
                9,
                15,
                "`docker://alpine:3.20` has no digest",
            ),
            finding("rego/runners", Severity::Warn, 5, 14, "custom rule"),
        ],
        errors: Vec::new(),
        files: vec![SourceFile {
            path: file.clone(),
            repo_relative: ".github/workflows/pr #1.yml".into(),
            text: WORKFLOW.into(),
        }],
        files_checked: 1,
    };
    let policy_error = Policy::parse(
        "[[allow]]\nowner = \"actions\"\n",
        Path::new("repo/.github/hrun-policy.toml"),
    )
    .expect_err("reason is missing");
    let failed = LintReport {
        errors: vec![
            LintError::Policy(policy_error),
            LintError::Parse {
                at: at(3, 1),
                message: "unexpected value".into(),
            },
        ],
        ..reports_clean()
    };
    vec![
        ("denied", denied),
        ("failed", failed),
        ("clean", reports_clean()),
        ("linted", linted_repository(scratch)),
    ]
}

/// A real run of the gate over a scratch repository with a policy file and a Rego rule.
fn linted_repository(scratch: &str) -> LintReport {
    let root = scratch_dir(&format!("{scratch}-repository"));
    let write = |relative: &str, text: &str| {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    write(".git/HEAD", "ref: refs/heads/main\n");
    write(".github/workflows/pr.yml", WORKFLOW);
    write(
        ".github/policies/names.rego",
        "package hrun.names\nwarn contains {\"msg\": \"job has no name\", \"path\": [\"jobs\", i]} if {\n  some i, job in input.jobs\n  job.name == null\n}\n",
    );
    write(
        ".github/hrun-policy.toml",
        "rego = [\"policies/names.rego\"]\n",
    );
    let report = lint_paths(&[root], &LintOptions::default());
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.denied() >= 3, "{:?}", report.findings);
    assert!(report.warnings() >= 1, "{:?}", report.findings);
    report
}

fn reports_clean() -> LintReport {
    LintReport {
        files_checked: 2,
        ..LintReport::default()
    }
}

fn write_logs(dir: &Path) -> Vec<PathBuf> {
    let scratch = dir.file_name().unwrap_or_default().to_string_lossy();
    reports(&scratch)
        .into_iter()
        .map(|(name, report)| {
            let path = dir.join(format!("{name}.sarif"));
            std::fs::write(&path, report.render(OutputFormat::Sarif)).expect("write sarif");
            path
        })
        .collect()
}

/// Turns off SARIF2006, the one Multitool rule that reaches for the network (it GETs every URI).
const MULTITOOL_CONFIG: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<Properties>
  <Properties Key="SARIF2006.UrisShouldBeReachable.Options">
    <Property Key="RuleEnabled" Value="Disabled" Type="Driver.RuleEnabledState" />
  </Properties>
</Properties>
"#;

fn multitool() -> Option<PathBuf> {
    let tool = multitool_package().join("Sarif.Multitool");
    if tool.is_file() {
        Some(tool)
    } else {
        println!(
            "SKIP sarif: SARIF Multitool not found at {} (install it with ci/setup-sarif-validator.sh)",
            tool.display()
        );
        None
    }
}

/// Runs the Multitool's `validate` on one log and returns every problem that matters: results at
/// level error, and any result of a GH rule (GitHub code scanning's ingestion requirements).
/// Notes and other warnings are printed.
fn multitool_problems(tool: &Path, log: &Path) -> Vec<String> {
    let dir = log.parent().unwrap_or(Path::new("."));
    let config = dir.join("validation.xml");
    std::fs::write(&config, MULTITOOL_CONFIG).expect("write config");
    let out = log.with_extension("validation.sarif");
    let run = Command::new(tool)
        .arg("validate")
        .arg(log)
        .arg("--json-schema")
        .arg(multitool_package().join("sarif-2.1.0.json"))
        .args(["--rule-kind", "Gh;Sarif", "--level", "Error;Warning;Note"])
        .args(["--log", "ForceOverwrite"])
        .arg("--config")
        .arg(&config)
        .arg("--output")
        .arg(&out)
        // .NET needs no ICU to validate JSON; without this it refuses to start on machines
        // that lack libicu.
        .env("DOTNET_SYSTEM_GLOBALIZATION_INVARIANT", "1")
        .output()
        .expect("run the SARIF Multitool");
    assert!(
        run.status.success() && out.is_file(),
        "Multitool failed on {}:\n{}{}",
        log.display(),
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(&out).expect("read validation log");
    let validation: serde_json::Value =
        serde_json::from_str(&text).expect("validation log is JSON");
    let run = &validation["runs"][0];
    assert_eq!(
        run["invocations"][0]["executionSuccessful"],
        true,
        "Multitool could not validate {}: {text}",
        log.display()
    );
    let rules = run["tool"]["driver"]["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut problems = Vec::new();
    for result in run["results"].as_array().into_iter().flatten() {
        let rule_level = result["ruleIndex"]
            .as_u64()
            .and_then(|i| rules.get(usize::try_from(i).ok()?))
            .and_then(|rule| rule["defaultConfiguration"]["level"].as_str());
        let level = result["level"].as_str().or(rule_level).unwrap_or("warning");
        let rule_id = result["ruleId"].as_str().unwrap_or("?");
        let line = format!(
            "{} {level} {rule_id}: {} {}",
            log.file_name().unwrap_or_default().to_string_lossy(),
            result["message"]["id"].as_str().unwrap_or("?"),
            result["message"]["arguments"]
        );
        println!("{line}");
        if level == "error" || rule_id.starts_with("GH") {
            problems.push(line);
        }
    }
    problems
}

#[test]
fn sarif_output_passes_microsofts_validator_with_github_rules() {
    let Some(tool) = multitool() else { return };
    let dir = scratch_dir("multitool");
    let problems: Vec<String> = write_logs(&dir)
        .iter()
        .flat_map(|log| multitool_problems(&tool, log))
        .collect();
    assert!(
        problems.is_empty(),
        "SARIF validation problems:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_multitool_check_catches_what_github_requires() {
    let Some(tool) = multitool() else { return };
    let dir = scratch_dir("multitool-negative");
    let (_, report) = reports("multitool-negative-run")
        .into_iter()
        .next()
        .expect("a report");
    let mut sarif: serde_json::Value =
        serde_json::from_str(&report.render(OutputFormat::Sarif)).expect("sarif is JSON");
    if let Some(rule) = sarif["runs"][0]["tool"]["driver"]["rules"][0].as_object_mut() {
        rule.remove("help");
    }
    let path = dir.join("no-help.sarif");
    std::fs::write(&path, sarif.to_string()).expect("write");
    let problems = multitool_problems(&tool, &path);
    assert!(
        problems.iter().any(|p| p.contains("GH")),
        "a rule without help was accepted: {problems:?}"
    );
}

const JSONSCHEMA_CHECK: &str = r#"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
validator = cls(schema)
failed = False
for path in sys.argv[2:]:
    for error in validator.iter_errors(json.load(open(path))):
        failed = True
        print(f"{path}: {'/'.join(map(str, error.absolute_path))}: {error.message}")
sys.exit(1 if failed else 0)
"#;

#[test]
fn sarif_output_matches_the_sarif_2_1_0_json_schema() {
    let python = tools_dir().join("sarif-venv/bin/python");
    let schema = multitool_package().join("sarif-2.1.0.json");
    if !python.is_file() || !schema.is_file() {
        println!(
            "SKIP sarif_output_matches_the_sarif_2_1_0_json_schema: need {} and {} (install them with ci/setup-sarif-validator.sh)",
            python.display(),
            schema.display()
        );
        return;
    }
    let dir = scratch_dir("jsonschema");
    let logs = write_logs(&dir);
    let output = Command::new(&python)
        .arg("-c")
        .arg(JSONSCHEMA_CHECK)
        .arg(&schema)
        .args(&logs)
        .output()
        .expect("run python jsonschema");
    assert!(
        output.status.success(),
        "schema violations:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_jsonschema_check_catches_a_bad_level() {
    let python = tools_dir().join("sarif-venv/bin/python");
    let schema = multitool_package().join("sarif-2.1.0.json");
    if !python.is_file() || !schema.is_file() {
        println!("SKIP sarif: validators not installed (ci/setup-sarif-validator.sh)");
        return;
    }
    let dir = scratch_dir("negative");
    let (_, report) = reports("jsonschema-negative-run")
        .into_iter()
        .next()
        .expect("a report");
    let bad = report
        .render(OutputFormat::Sarif)
        .replace("\"level\": \"error\"", "\"level\": \"fatal\"");
    let path = dir.join("bad.sarif");
    std::fs::write(&path, bad).expect("write");
    let output = Command::new(&python)
        .arg("-c")
        .arg(JSONSCHEMA_CHECK)
        .arg(&schema)
        .arg(&path)
        .output()
        .expect("run python jsonschema");
    assert!(!output.status.success(), "a level of `fatal` was accepted");
}
