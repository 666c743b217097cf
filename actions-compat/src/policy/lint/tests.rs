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
          ref: ${{ github.event.pull_request.head.sha }}
      - run: echo \"${{ github.event.pull_request.title }}\"
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
            ("template-injection".into(), Severity::Warn, 10, 20),
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
fn same_repository_references_are_exempt_and_followed() {
    let tree = repo("lint-same-repository");
    let workflow = tree.write(
        ".github/workflows/ci.yml",
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: $/.github/actions/setup\n      - uses: $/\n",
    );
    tree.write(
        ".github/actions/setup/action.yml",
        "name: s\ndescription: d\nruns:\n  using: composite\n  steps:\n    - run: echo hi\n      shell: bash\n",
    );
    tree.write(
        "action.yml",
        "name: r\ndescription: d\nruns:\n  using: composite\n  steps:\n    - uses: actions/cache@v4\n",
    );
    let report = lint_paths(&[workflow], &LintOptions::default());
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.files_checked, 3, "{:?}", report.files);
    // The `$/` steps need no pin; the root action they reach is checked.
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
    assert!(report.findings[0].location.file.ends_with("action.yml"));
    assert_eq!(report.findings[0].location.line, 6);
}

#[test]
fn checks_uses_and_scripts_inside_parallel_blocks() {
    let tree = repo("lint-parallel");
    tree.write(
        ".github/workflows/ci.yml",
        "on: issues\njobs:\n  a:\n    runs-on: x\n    steps:\n      - parallel:\n          - uses: actions/cache@v4\n          - run: echo ${{ github.event.issue.title }}\n",
    );
    let report = lint(&tree);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        summary(&report),
        [
            ("unpinned-uses".into(), Severity::Deny, 7, 19),
            ("template-injection".into(), Severity::Warn, 8, 23),
        ]
    );
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
            ("template-injection".into(), Severity::Warn, 10, 20),
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
        [
            ("pull-request-target".into(), Severity::Deny, 2, 5),
            ("template-injection".into(), Severity::Warn, 10, 20),
        ]
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

fn injections(name: &str, workflow: &str) -> Vec<(usize, usize, String)> {
    let tree = repo(name);
    tree.write(".github/workflows/ci.yml", workflow);
    let report = lint(&tree);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    report
        .findings
        .iter()
        .filter(|f| f.rule_id == "template-injection")
        .map(|f| (f.location.line, f.location.col, f.message.clone()))
        .collect()
}

const STEPS: &str = "on: issues\njobs:\n  a:\n    runs-on: x\n    steps:\n";

#[test]
fn warns_on_each_attacker_controlled_expression_in_a_block_script_at_its_position() {
    let found = injections(
        "warns_on_each_attacker_controlled_expression_in_a_block_script_at_its_position",
        &format!(
        "{STEPS}      - run: |\n          echo ${{{{ github.sha }}}}\n          echo ${{{{ github.event.issue.title }}}}\n          echo ${{{{ github.event.issue.body }}}} ${{{{ github.head_ref }}}}\n"
        ),
    );
    let positions: Vec<(usize, usize)> = found.iter().map(|(l, c, _)| (*l, *c)).collect();
    assert_eq!(positions, [(8, 16), (9, 16), (9, 47)], "{found:?}");
    assert!(
        found[0].2.contains("`github.event.issue.title`"),
        "{}",
        found[0].2
    );
}

#[test]
fn the_same_expression_twice_is_found_twice() {
    let found = injections(
        "the_same_expression_twice_is_found_twice",
        &format!(
            "{STEPS}      - run: echo ${{{{ github.head_ref }}}} ${{{{ github.head_ref }}}}\n"
        ),
    );
    let positions: Vec<(usize, usize)> = found.iter().map(|(l, c, _)| (*l, *c)).collect();
    assert_eq!(positions, [(6, 19), (6, 42)]);
}

#[test]
fn warns_on_whole_event_objects_and_indexed_commits() {
    let found = injections(
        "warns_on_whole_event_objects_and_indexed_commits",
        &format!(
        "{STEPS}      - run: echo '${{{{ toJSON(github.event) }}}}'\n      - run: echo \"${{{{ github.event.commits[0].message }}}}\"\n"
        ),
    );
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].2.contains("contains attacker-controlled text"),
        "{}",
        found[0].2
    );
    assert!(
        found[1].2.contains("github.event.commits.*.message"),
        "{}",
        found[1].2
    );
}

#[test]
fn warns_on_github_script_inputs() {
    let found = injections(
        "warns_on_github_script_inputs",
        &format!(
        "{STEPS}      - uses: actions/github-script@{SHA}\n        with:\n          script: console.log('${{{{ github.event.comment.body }}}}')\n"
        ),
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].0, found[0].1), (8, 32));
    assert!(found[0].2.contains("JavaScript"), "{}", found[0].2);
}

#[test]
fn passing_event_text_through_env_is_not_injection() {
    let found = injections(
        "passing_event_text_through_env_is_not_injection",
        &format!(
        "{STEPS}      - env:\n          TITLE: ${{{{ github.event.issue.title }}}}\n        run: echo \"$TITLE\" ${{{{ github.sha }}}} ${{{{ matrix.os }}}}\n"
        ),
    );
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn warns_inside_local_composite_actions() {
    let tree = repo("lint-composite-injection");
    tree.write(
        ".github/workflows/ci.yml",
        &format!("{STEPS}      - uses: ./.github/actions/greet\n"),
    );
    tree.write(
        ".github/actions/greet/action.yml",
        "name: g\ndescription: d\nruns:\n  using: composite\n  steps:\n    - run: echo ${{ github.event.issue.title }}\n      shell: bash\n",
    );
    let report = lint(&tree);
    assert_eq!(
        summary(&report),
        [("template-injection".into(), Severity::Warn, 6, 17)]
    );
    assert!(report.findings[0]
        .location
        .file
        .ends_with(".github/actions/greet/action.yml"));
}

#[test]
fn rego_rules_see_action_files_through_the_action_model() {
    let tree = repo("lint-rego-action");
    tree.write(
        "action.yml",
        "name: n\ndescription: d\nruns:\n  using: node16\n  main: index.js\n",
    );
    tree.write(
        ".github/node.rego",
        "package hrun.node\ndeny contains {\"msg\": \"node16 is end-of-life\", \"path\": [\"runs\", \"using\"]} if {\n  data.lint.file.kind == \"action\"\n  input.runs.using.value == \"node16\"\n}\n",
    );
    tree.write(".github/hrun-policy.toml", "rego = [\"node.rego\"]\n");
    let report = lint(&tree);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        summary(&report),
        [("rego/node".into(), Severity::Deny, 4, 10)]
    );
}
