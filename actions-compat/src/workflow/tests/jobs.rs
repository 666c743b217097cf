//! Jobs: needs, matrices, runs-on, permissions, containers, environments, reusable workflows.

use super::*;

#[test]
fn reads_matrix_vectors_include_and_exclude() {
    let src = "on: push\njobs:\n  t:\n    runs-on: x\n    strategy:\n      fail-fast: false\n      max-parallel: 2\n      matrix:\n        os: [linux, mac]\n        node: [18, 20]\n        include:\n          - os: linux\n            extra: true\n        exclude:\n          - os: mac\n            node: 18\n    steps: [{run: x}]\n";
    let w = ok(src);
    let strategy = w.jobs[0].strategy.as_ref().unwrap().as_literal().unwrap();
    assert_eq!(
        strategy.fail_fast.as_ref().unwrap().as_literal(),
        Some(&false)
    );
    assert_eq!(
        strategy.max_parallel.as_ref().unwrap().as_literal(),
        Some(&2.0)
    );
    let matrix = strategy.matrix.as_ref().unwrap().as_literal().unwrap();
    assert_eq!(matrix.vectors.keys().collect::<Vec<_>>(), ["os", "node"]);
    let node = matrix.vectors["node"].as_literal().unwrap();
    assert_eq!(node[1].as_literal(), Some(&Value::Number(20.0)));
    let include = matrix.include.as_ref().unwrap().as_literal().unwrap();
    let Some(Value::Mapping(first)) = include[0].as_literal() else {
        panic!("include items are mappings")
    };
    assert_eq!(first["extra"].as_literal(), Some(&Value::Bool(true)));
    assert_eq!(
        matrix.exclude.as_ref().unwrap().as_literal().unwrap().len(),
        1
    );
}

#[test]
fn rejects_empty_matrix_vector_and_unknown_strategy_key() {
    let src = "on: push\njobs:\n  t:\n    runs-on: x\n    strategy:\n      matrix:\n        os: []\n    steps: [{run: x}]\n";
    assert_eq!(
        located(src),
        [(
            7,
            13,
            "Matrix vector 'os' does not contain any values".to_owned()
        )]
    );
    let src = "on: push\njobs:\n  t:\n    runs-on: x\n    strategy:\n      bad-key: {}\n    steps: [{run: x}]\n";
    assert_eq!(
        located(src),
        [(6, 7, "Unexpected value 'bad-key'".to_owned())]
    );
}

#[test]
fn reports_needs_cycles_at_each_need() {
    let src = "on: push\njobs:\n  one:\n    runs-on: x\n    steps: [{run: x}]\n  two:\n    needs: [one, three]\n    runs-on: x\n    steps: [{run: x}]\n  three:\n    needs: two\n    runs-on: x\n    steps: [{run: x}]\n";
    assert_eq!(
        located(src),
        [
            (
                7,
                18,
                "Job 'two' depends on job 'three' which creates a cycle in the dependency graph."
                    .to_owned()
            ),
            (
                11,
                12,
                "Job 'three' depends on job 'two' which creates a cycle in the dependency graph."
                    .to_owned()
            ),
        ]
    );
}

#[test]
fn reports_unknown_needs_and_workflows_without_a_first_job() {
    let src = "on: push\njobs:\n  one:\n    needs: ghost\n    runs-on: x\n    steps: [{run: x}]\n  two:\n    runs-on: x\n    steps: [{run: x}]\n";
    assert_eq!(
        located(src),
        [(
            4,
            12,
            "Job 'one' depends on unknown job 'ghost'.".to_owned()
        )]
    );
    let src = "on: push\njobs:\n  one:\n    needs: two\n    runs-on: x\n    steps: [{run: x}]\n  two:\n    needs: one\n    runs-on: x\n    steps: [{run: x}]\n";
    assert_eq!(
        located(src),
        [(
            3,
            3,
            "The workflow must contain at least one job with no dependencies.".to_owned()
        )]
    );
}

#[test]
fn reads_needs_in_both_forms() {
    let src = "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{run: x}]\n  b:\n    needs: a\n    runs-on: x\n    steps: [{run: x}]\n  c:\n    needs: [a, b]\n    runs-on: x\n    steps: [{run: x}]\n";
    let w = ok(src);
    assert_eq!(w.jobs[1].needs[0].value, "a");
    assert_eq!(w.jobs[2].needs.len(), 2);
}

#[test]
fn rejects_invalid_job_ids() {
    let src = "on: push\njobs:\n  my.job:\n    runs-on: x\n    steps: [{run: x}]\n  __a:\n    runs-on: x\n    steps: [{run: x}]\n";
    let found = located(src);
    assert_eq!((found[0].0, found[0].1), (3, 3));
    assert!(found[0]
        .2
        .starts_with("The identifier 'my.job' is invalid."));
    assert_eq!(
        found[1],
        (
            6,
            3,
            "The identifier '__a' is invalid. IDs starting with '__' are reserved.".to_owned()
        )
    );
}

#[test]
fn reads_runs_on_forms_and_checks_groups() {
    let src = "on: push\njobs:\n  a:\n    runs-on: [self-hosted, linux]\n    steps: [{run: x}]\n  b:\n    runs-on:\n      group: org/runners\n      labels: gpu\n    steps: [{run: x}]\n";
    let w = ok(src);
    let a = runner(&w.jobs[0]).runs_on.as_literal().unwrap();
    assert_eq!(a.labels.len(), 2);
    let b = runner(&w.jobs[1]).runs_on.as_literal().unwrap();
    assert_eq!(
        b.group.as_ref().unwrap().as_literal().map(String::as_str),
        Some("org/runners")
    );
    assert_eq!(b.labels[0].as_literal().map(String::as_str), Some("gpu"));

    let src = "on: push\njobs:\n  a:\n    runs-on:\n      group: asdf/g\n    steps: [{run: x}]\n";
    let found = located(src);
    assert_eq!((found[0].0, found[0].1), (5, 14));
    assert!(found[0]
        .2
        .starts_with("Invalid runs-on group name 'asdf/g'."));
}

#[test]
fn requires_runs_on_for_runner_jobs_and_refuses_it_with_uses() {
    let src = "on: push\njobs:\n  build:\n    steps:\n      - run: echo hi\n";
    // The job's mapping starts at its first key.
    assert_eq!(
        located(src),
        [(4, 5, "Required property is missing: runs-on".to_owned())]
    );
    let src = "on: push\njobs:\n  build:\n    runs-on: x\n    uses: ./.github/workflows/a.yml\n";
    assert_eq!(located(src), [(5, 5, "Unexpected value 'uses'".to_owned())]);
}

#[test]
fn reads_permissions_in_both_forms_and_rejects_bad_levels() {
    let src = format!("on: push\npermissions: read-all\n{JOBS}");
    assert_eq!(ok(&src).permissions.unwrap().value, Permissions::ReadAll);
    let src = format!("on: push\npermissions:\n  contents: read\n  id-token: write\n{JOBS}");
    let Permissions::Scopes(scopes) = ok(&src).permissions.unwrap().value else {
        panic!("scopes")
    };
    assert_eq!(
        scopes[&PermissionScope::IdToken].value,
        PermissionLevel::Write
    );
    let src = format!("on: push\npermissions:\n  contents: invalid\n{JOBS}");
    assert_eq!(
        located(&src),
        [(3, 13, "Unexpected value 'invalid'".to_owned())]
    );
    let src = format!("on: push\npermissions:\n  id-token: read\n{JOBS}");
    assert_eq!(
        located(&src),
        [(3, 13, "Unexpected value 'read'".to_owned())]
    );
}

#[test]
fn requires_container_images() {
    let src = "on: push\njobs:\n  a:\n    runs-on: x\n    container:\n      options: --cpus 1\n    services:\n      db:\n        ports: ['5432']\n    steps: [{run: x}]\n";
    assert_eq!(
        located(src),
        [
            (6, 7, "Container image cannot be empty".to_owned()),
            (9, 9, "Container image cannot be empty".to_owned())
        ]
    );
    let src = "on: push\njobs:\n  a:\n    runs-on: x\n    container: node:20\n    services:\n      redis: redis:7\n    steps: [{run: x}]\n";
    let w = ok(src);
    let container = runner(&w.jobs[0])
        .container
        .as_ref()
        .unwrap()
        .as_literal()
        .unwrap();
    assert_eq!(
        container.image.as_literal().map(String::as_str),
        Some("node:20")
    );
}

#[test]
fn requires_the_name_of_a_mapped_environment_and_the_group_of_concurrency() {
    let src = "on: push\njobs:\n  a:\n    runs-on: x\n    environment:\n      url: https://x\n    concurrency:\n      cancel-in-progress: true\n    steps: [{run: x}]\n";
    assert_eq!(
        located(src),
        [
            (6, 7, "Required property is missing: name".to_owned()),
            (8, 7, "Required property is missing: group".to_owned())
        ]
    );
}

#[test]
fn reads_reusable_workflow_jobs() {
    let src = "on: push\njobs:\n  call:\n    uses: octo/repo/.github/workflows/w.yml@v1\n    with:\n      flag: true\n    secrets: inherit\n";
    let w = ok(src);
    let JobKind::Reusable(call) = &w.jobs[0].kind else {
        panic!("a reusable-workflow job")
    };
    assert_eq!(call.uses.value, "octo/repo/.github/workflows/w.yml@v1");
    assert!(
        matches!(&call.workflow, UsesRef::Repository(repo) if repo.path() == Some(".github/workflows/w.yml"))
    );
    assert_eq!(call.with["flag"].as_literal(), Some(&Value::Bool(true)));
    assert!(matches!(call.secrets, Some(CallSecrets::Inherit(_))));
    let src = "on: push\njobs:\n  call:\n    uses: x\n    secrets: inhrit\n";
    assert_eq!(located(src)[0].0, 5);
}

#[test]
fn checks_calls_against_the_called_workflow() {
    let caller = ok("on: push\njobs:\n  deploy:\n    uses: o/r/.github/workflows/d.yml@v1\n    with:\n      flag: nope\n      extra: 1\n    secrets:\n      stray: x\n");
    let callee = ok(&format!(
        "on:\n  workflow_call:\n    inputs:\n      flag:\n        type: boolean\n      name:\n        type: string\n        required: true\n    secrets:\n      token:\n        required: true\n{JOBS}"
    ));
    let mut found: Vec<(usize, usize, String)> =
        check_reusable_call(&caller, &caller.jobs[0], &callee)
            .into_iter()
            .map(|d| (d.line, d.col, d.message))
            .collect();
    found.sort();
    assert_eq!(
        found,
        [
            (
                4,
                11,
                "Input name is required, but not provided while calling.".to_owned()
            ),
            (
                4,
                11,
                "Secret token is required, but not provided while calling.".to_owned()
            ),
            (6, 13, "Unexpected value 'nope'".to_owned()),
            (
                7,
                14,
                "Invalid input, extra is not defined in the referenced workflow.".to_owned()
            ),
            (
                9,
                14,
                "Invalid secret, stray is not defined in the referenced workflow.".to_owned()
            ),
        ]
    );
    let not_callable = ok(&format!("on: push\n{JOBS}"));
    let found = check_reusable_call(&caller, &caller.jobs[0], &not_callable);
    assert_eq!(
        found[0].message,
        "workflow_call key is not defined in the referenced workflow."
    );
}
