//! `hrun lint` end to end: the acceptance checks of the policy gate, run as a user runs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SHA: &str = "11bd71901bbe5b1630ceea73d27597364c9af683";

fn hrun(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hrun"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("hrun runs")
}

/// A repository with one workflow file, `.github/workflows/ci.yml`.
fn repo_with(workflow: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let wf_dir = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&wf_dir).expect("mkdir");
    let file = wf_dir.join("ci.yml");
    std::fs::write(&file, workflow).expect("write workflow");
    (dir, file)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn denies_pull_request_target_naming_file_line_col() {
    let (dir, _) = repo_with(
        "name: t\non: pull_request_target\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: true\n",
    );
    let out = hrun(&["lint", "."], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("pull-request-target"), "{text}");
    assert!(text.contains(".github/workflows/ci.yml:2:5"), "{text}");
}

#[test]
fn denies_tag_pinned_action() {
    let (dir, _) = repo_with(
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@v4\n",
    );
    let out = hrun(&["lint", "."], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("ci.yml:6:15"), "{}", stdout(&out));
}

#[test]
fn allows_sha_pinned_action() {
    let (dir, _) = repo_with(&format!(
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@{SHA}\n"
    ));
    let out = hrun(&["lint", "."], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn invalid_yaml_exits_2_with_position() {
    let (dir, file) = repo_with("on: push\njobs:\n  a: [unclosed\n");
    let out = hrun(&["lint", file.to_str().expect("utf-8 path")], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("ci.yml:4:1"), "{text}");
}

#[test]
fn unreadable_path_exits_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = hrun(&["lint", "no/such/file.yml"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
}

#[test]
fn json_and_sarif_formats_are_json_with_the_finding() {
    let (dir, _) = repo_with(
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@v4\n",
    );
    let json = hrun(&["lint", "--format", "json", "."], dir.path());
    assert_eq!(json.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json output");
    assert_eq!(report["findings"][0]["rule_id"], "unpinned-uses");

    let sarif = hrun(&["lint", "--format", "sarif", "."], dir.path());
    assert_eq!(sarif.status.code(), Some(1));
    let log: serde_json::Value = serde_json::from_slice(&sarif.stdout).expect("sarif output");
    assert_eq!(log["version"], "2.1.0");
    let result = &log["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "unpinned-uses");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["region"]["startLine"],
        6
    );
}

#[test]
fn policy_file_allows_owner_with_reason() {
    let (dir, _) = repo_with(
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@v4\n",
    );
    std::fs::write(
        dir.path().join(".github/hrun-policy.toml"),
        "[[allow]]\nowner = \"actions\"\nreason = \"GitHub's own actions are trusted here\"\n",
    )
    .expect("write policy");
    let out = hrun(&["lint", "."], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn unknown_format_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = hrun(&["lint", "--format", "xml", "."], dir.path());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn rego_rule_from_policy_file_denies_at_the_path_it_names() {
    let (dir, _) = repo_with(
        "on: push\njobs:\n  build:\n    runs-on: self-hosted\n    steps:\n      - run: true\n",
    );
    std::fs::write(
        dir.path().join(".github/runners.rego"),
        r#"package hrun.runners
deny contains {"msg": "bare self-hosted runner", "path": ["jobs", i, "runs_on"]} if {
    some i, job in input.jobs
    some label in job.runs_on.value.labels
    label.value == "self-hosted"
    count(job.runs_on.value.labels) == 1
}
"#,
    )
    .expect("write rego");
    std::fs::write(
        dir.path().join(".github/hrun-policy.toml"),
        "rego = [\"runners.rego\"]\n",
    )
    .expect("write policy");
    let out = hrun(&["lint", "."], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("error[rego/runners]: bare self-hosted runner"),
        "{text}"
    );
    assert!(text.contains("ci.yml:4:14"), "{text}");
}

#[test]
fn broken_rego_exits_2_not_1() {
    let (dir, _) = repo_with(
        "on: pull_request_target\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: true\n",
    );
    std::fs::write(
        dir.path().join(".github/bad.rego"),
        "package hrun\ndeny contains x if { x := 1 + }\n",
    )
    .expect("write rego");
    std::fs::write(
        dir.path().join(".github/hrun-policy.toml"),
        "rego = [\"bad.rego\"]\n",
    )
    .expect("write policy");
    let out = hrun(&["lint", "."], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
}
