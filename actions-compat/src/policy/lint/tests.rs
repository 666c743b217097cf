//! End-to-end tests of `lint_paths` over scratch repositories.

use super::*;
use crate::policy::finding::Severity;
use crate::policy::report::Outcome;
use crate::policy::test_tree::TestTree;
use crate::policy::OutputFormat;

const SHA: &str = "b4ffde65f46336ab88eb53be808477a3936bae11";

/// The project's own example of a workflow the gate refuses.
const UNSAFE: &str = "\
name: pr
on: pull_request_target
jobs:
  test:
    runs-on: [self-hosted, hermetic]
    steps:
      - uses: actions/checkout@v4
        with:
          ref: refs/pull/1/merge
      - run: make test
      - uses: docker://alpine:3.20
";

fn repo(name: &str) -> TestTree {
    let tree = TestTree::new(name);
    tree.write(".git/HEAD", "ref: refs/heads/main\n");
    tree
}

fn lint(tree: &TestTree) -> LintReport {
    lint_paths(&[tree.root().to_path_buf()], &LintOptions::default())
}

fn summary(report: &LintReport) -> Vec<(String, Severity, usize, usize)> {
    report
        .findings
        .iter()
        .map(|f| {
            (
                f.rule_id.clone(),
                f.severity,
                f.location.line,
                f.location.col,
            )
        })
        .collect()
}

#[test]
fn denies_the_unsafe_example_with_positions() {
    let tree = repo("lint-unsafe");
    tree.write(".github/workflows/pr.yml", UNSAFE);
    let report = lint(&tree);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        summary(&report),
        [
            ("pull-request-target".into(), Severity::Deny, 2, 5),
            ("unpinned-uses".into(), Severity::Deny, 7, 15),
            ("unpinned-uses".into(), Severity::Deny, 11, 15),
        ]
    );
    assert_eq!(report.outcome(), Outcome::Denied);
    assert_eq!(report.exit_code(), 1);
    assert_eq!(report.files_checked, 1);
    let human = report.render(OutputFormat::Human);
    assert!(
        human.contains("7 |       - uses: actions/checkout@v4\n  |               ^\n"),
        "{human}"
    );
}

#[test]
fn a_pinned_workflow_passes() {
    let tree = repo("lint-clean");
    tree.write(
        ".github/workflows/ci.yml",
        &format!("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@{SHA}\n      - uses: ./.github/actions/local\n"),
    );
    tree.write(".github/actions/local/action.yml", "name: l\ndescription: d\nruns:\n  using: composite\n  steps:\n    - run: echo hi\n      shell: bash\n");
    let report = lint(&tree);
    assert!(
        report.findings.is_empty() && report.errors.is_empty(),
        "{report:?}"
    );
    assert_eq!(report.exit_code(), 0);
    assert_eq!(report.files_checked, 2);
}

#[test]
fn checks_inside_local_composite_actions_it_uses() {
    let tree = repo("lint-composite");
    let workflow = tree.write(
        ".github/workflows/ci.yml",
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: ./.github/actions/setup\n",
    );
    tree.write(
        ".github/actions/setup/action.yml",
        "name: s\ndescription: d\nruns:\n  using: composite\n  steps:\n    - uses: ./.github/actions/inner\n",
    );
    tree.write(
        ".github/actions/inner/action.yaml",
        "name: i\ndescription: d\nruns:\n  using: composite\n  steps:\n    - uses: actions/cache@v4\n",
    );
    // Only the workflow is named: the actions are reached through `uses:`.
    let report = lint_paths(&[workflow], &LintOptions::default());
    assert_eq!(report.files_checked, 3, "{:?}", report.files);
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
    let finding = &report.findings[0];
    assert_eq!(finding.rule_id, "unpinned-uses");
    assert!(finding
        .location
        .file
        .ends_with(".github/actions/inner/action.yaml"));
    assert_eq!((finding.location.line, finding.location.col), (6, 13));
}

#[test]
fn local_actions_are_not_followed_out_of_the_repository() {
    let tree = repo("lint-escape");
    tree.write(
        ".github/workflows/ci.yml",
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: ./../outside\n",
    );
    let report = lint(&tree);
    assert_eq!(report.files_checked, 1);
}

#[test]
fn a_parse_error_exits_two_with_its_position() {
    let tree = repo("lint-parse");
    tree.write(".github/workflows/bad.yml", "on: push\njobs: [\n");
    tree.write(".github/workflows/pr.yml", UNSAFE);
    let report = lint(&tree);
    assert_eq!(report.outcome(), Outcome::Failed);
    assert_eq!(report.exit_code(), 2);
    assert!(
        matches!(report.errors.as_slice(), [LintError::Parse { .. }]),
        "{:?}",
        report.errors
    );
    // The other file is still evaluated.
    assert_eq!(report.denied(), 3);
}

#[test]
fn policy_exception_without_reason_fails_the_run_at_its_position() {
    let tree = repo("lint-policy-error");
    tree.write(".github/workflows/pr.yml", UNSAFE);
    tree.write(
        ".github/hrun-policy.toml",
        "# allow GitHub's actions\n[[allow]]\nowner = \"actions\"\n",
    );
    let report = lint(&tree);
    assert_eq!(report.exit_code(), 2);
    let [LintError::Policy(error)] = report.errors.as_slice() else {
        panic!("{:?}", report.errors);
    };
    let at = error.location().expect("a position");
    assert_eq!((at.line, at.col), (2, 1));
    assert!(
        report.findings.is_empty(),
        "nothing is judged under a broken policy"
    );
    let human = report.render(OutputFormat::Human);
    assert!(human.contains("2 | [[allow]]\n  | ^\n"), "{human}");
}

#[test]
fn repository_policy_allows_owners_and_lowers_rules() {
    let tree = repo("lint-policy");
    tree.write(".github/workflows/pr.yml", UNSAFE);
    tree.write(
        ".github/hrun-policy.toml",
        "[[allow]]\nowner = \"actions\"\nreason = \"GitHub-maintained\"\n\
         [rules.pull-request-target]\nlevel = \"warn\"\nreason = \"labels only\"\n",
    );
    let report = lint(&tree);
    assert_eq!(
        summary(&report),
        [
            ("pull-request-target".into(), Severity::Warn, 2, 5),
            ("unpinned-uses".into(), Severity::Deny, 11, 15),
        ]
    );
}

#[test]
fn an_explicit_policy_replaces_the_repositorys() {
    let tree = repo("lint-explicit");
    tree.write(".github/workflows/pr.yml", UNSAFE);
    tree.write(".github/hrun-policy.toml", "broken =");
    let explicit = tree.write(
        "strict.toml",
        "[rules.unpinned-uses]\nlevel = \"off\"\nreason = \"checked elsewhere\"\n",
    );
    let options = LintOptions {
        policy: Some(explicit),
        ..LintOptions::default()
    };
    let report = lint_paths(&[tree.root().to_path_buf()], &options);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        summary(&report),
        [("pull-request-target".into(), Severity::Deny, 2, 5)]
    );
}

#[test]
fn a_missing_explicit_policy_is_an_error() {
    let tree = repo("lint-no-policy");
    tree.write(".github/workflows/pr.yml", UNSAFE);
    let options = LintOptions {
        policy: Some(tree.root().join("nope.toml")),
        ..LintOptions::default()
    };
    let report = lint_paths(&[tree.root().to_path_buf()], &options);
    assert_eq!(report.exit_code(), 2);
}

const RUNNERS_REGO: &str = r#"package hrun.runners

deny contains {"msg": sprintf("job %s runs on a bare self-hosted runner", [job.id.value]), "path": ["jobs", i, "runs_on"]} if {
    some i, job in input.jobs
    [label.value | some label in job.runs_on.value.labels] == ["self-hosted"]
}

warn contains "workflow has no name" if {
    data.lint.file.kind == "workflow"
    input.name == null
}
"#;

#[test]
fn rego_rules_from_the_policy_file_become_located_findings() {
    let tree = repo("lint-rego");
    tree.write(
        ".github/workflows/ci.yml",
        &format!("on: push\njobs:\n  build:\n    runs-on: self-hosted\n    steps:\n      - uses: actions/checkout@{SHA}\n"),
    );
    tree.write(".github/policies/runners.rego", RUNNERS_REGO);
    tree.write(
        ".github/hrun-policy.toml",
        "rego = [\"policies/runners.rego\"]\n",
    );
    let report = lint(&tree);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        summary(&report),
        [
            ("rego/runners".into(), Severity::Warn, 1, 1),
            ("rego/runners".into(), Severity::Deny, 4, 14),
        ]
    );
    assert_eq!(
        report.findings[1].message,
        "job build runs on a bare self-hosted runner"
    );
    assert_eq!(report.exit_code(), 1);
    let sarif = report.render(OutputFormat::Sarif);
    assert!(sarif.contains("\"id\": \"rego/runners\""), "{sarif}");
}

#[test]
fn a_broken_rego_policy_exits_two() {
    let tree = repo("lint-rego-broken");
    tree.write(".github/workflows/ci.yml", "on: push\njobs: {}\n");
    tree.write(".github/p.rego", "package hrun\ndeny contains if {\n");
    tree.write(".github/hrun-policy.toml", "rego = [\"p.rego\"]\n");
    let report = lint(&tree);
    assert_eq!(report.exit_code(), 2);
    assert!(
        matches!(report.errors.as_slice(), [LintError::Rego { .. }]),
        "{:?}",
        report.errors
    );
}

#[test]
fn an_invalid_uses_value_exits_two() {
    let tree = repo("lint-invalid-uses");
    tree.write(
        ".github/workflows/ci.yml",
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout\n",
    );
    let report = lint(&tree);
    assert_eq!(report.exit_code(), 2);
    assert_eq!(report.errors[0].location().map(|at| at.line), Some(6));
}

#[test]
fn a_missing_path_exits_two() {
    let tree = repo("lint-missing");
    let report = lint_paths(&[tree.root().join("nope")], &LintOptions::default());
    assert_eq!(report.exit_code(), 2);
}
