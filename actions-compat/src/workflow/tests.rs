use super::*;
use crate::diagnostic::{Diagnostic, LoadError};

const FILE: &str = ".github/workflows/ci.yml";

fn ok(src: &str) -> Workflow {
    match parse(src, FILE) {
        Ok(w) => w,
        Err(e) => panic!("expected the workflow to parse, got:\n{e}"),
    }
}

fn errors(src: &str) -> Vec<Diagnostic> {
    let mut errors = parse(src, FILE).expect_err("expected errors").0;
    errors.sort();
    errors
}

/// (line, col, message) of each error, sorted.
fn located(src: &str) -> Vec<(usize, usize, String)> {
    errors(src)
        .into_iter()
        .map(|d| (d.line, d.col, d.message))
        .collect()
}

fn runner(job: &Job) -> &RunnerJob {
    match &job.kind {
        JobKind::Runner(r) => r,
        JobKind::Reusable(_) => panic!("expected a runner job"),
    }
}

const JOBS: &str =
    "jobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n";

#[test]
fn rejects_unknown_step_key_with_position_and_githubs_hint() {
    let src = "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - runn: echo hi\n";
    assert_eq!(
        located(src),
        [
            (6, 9, "There's not enough info to determine what you meant. Add one of these properties: parallel, run, shell, uses, with, working-directory".to_owned()),
            (6, 9, "Unexpected value 'runn'".to_owned()),
        ]
    );
}

#[test]
fn errors_display_in_githubs_format() {
    let e = parse("on: push\n", FILE).unwrap_err();
    assert_eq!(
        e.to_string(),
        ".github/workflows/ci.yml (Line: 1, Col: 1): Required property is missing: jobs"
    );
}

#[test]
fn rejects_unknown_top_level_and_job_keys() {
    let src = format!("on: push\nfoo: 1\n{JOBS}    bar: 2\n");
    assert_eq!(
        located(&src),
        [
            (2, 1, "Unexpected value 'foo'".to_owned()),
            (8, 5, "Unexpected value 'bar'".to_owned())
        ]
    );
}

#[test]
fn rejects_wrong_types_where_github_does() {
    let src = format!("name:\n  - a\non: push\n{JOBS}");
    assert_eq!(
        located(&src),
        [(2, 3, "A sequence was not expected".to_owned())]
    );
    let src = "on: push\njobs:\n  build:\n    runs-on: x\n    steps:\n      not: a-sequence\n";
    assert_eq!(
        located(src),
        [(6, 7, "A mapping was not expected".to_owned())]
    );
}

#[test]
fn reports_keys_defined_twice_without_regard_to_case() {
    let src = "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{run: x}]\n  A:\n    runs-on: x\n    steps: [{run: x}]\n";
    assert_eq!(located(src), [(6, 3, "'A' is already defined".to_owned())]);
}

#[test]
fn reads_on_as_a_single_event() {
    let w = ok(&format!("on: push\n{JOBS}"));
    assert_eq!(w.on.events.keys().collect::<Vec<_>>(), ["push"]);
    assert_eq!((w.on.line, w.on.col), (1, 5));
}

#[test]
fn reads_on_as_a_list_of_events() {
    let w = ok(&format!("on: [push, workflow_dispatch, schedule]\n{JOBS}"));
    assert_eq!(
        w.on.events.keys().collect::<Vec<_>>(),
        ["push", "workflow_dispatch", "schedule"]
    );
    assert!(w.on.workflow_dispatch.is_some());
    assert!(w.on.schedule.is_empty());
}

#[test]
fn reads_on_as_a_mapping_with_filters_and_types() {
    let src = format!(
        "on:\n  push:\n    branches: main\n    tags-ignore: ['v*']\n    paths: [src/**]\n  pull_request_target:\n    types: [opened, synchronize]\n  issues:\n  schedule:\n    - cron: '0 */12 * * *'\n{JOBS}"
    );
    let w = ok(&src);
    let push = &w.on.events["push"];
    let branches: Vec<&str> = push
        .branches
        .as_ref()
        .unwrap()
        .iter()
        .map(|b| b.value.as_str())
        .collect();
    assert_eq!(branches, ["main"]);
    assert_eq!(push.tags_ignore.as_ref().unwrap()[0].value, "v*");
    assert_eq!(push.paths.as_ref().unwrap()[0].value, "src/**");
    let types = w.on.events["pull_request_target"].types.as_ref().unwrap();
    assert_eq!((types[1].value.as_str(), types[1].line), ("synchronize", 7));
    assert!(w.on.events["issues"].types.is_none());
    assert_eq!(w.on.schedule[0].cron.value, "0 */12 * * *");
}

#[test]
fn rejects_unknown_events_activity_types_and_filters() {
    let src = format!("on: pushh\n{JOBS}");
    assert_eq!(
        located(&src),
        [(1, 5, "Unexpected value 'pushh'".to_owned())]
    );
    let src = format!("on:\n  issues:\n    types: [opened, bogus]\n{JOBS}");
    assert_eq!(
        located(&src),
        [(3, 21, "Unexpected value 'bogus'".to_owned())]
    );
    let src = format!("on:\n  push:\n    inputs: {{}}\n{JOBS}");
    assert_eq!(
        located(&src),
        [(3, 5, "Unexpected value 'inputs'".to_owned())]
    );
}

#[test]
fn rejects_invalid_cron_at_its_position() {
    let src = format!("on:\n  schedule:\n    - cron: '61 * * * *'\n{JOBS}");
    assert_eq!(located(&src)[0].0, 3);
    assert_eq!(located(&src)[0].1, 13);
}

#[test]
fn reads_workflow_dispatch_inputs_and_checks_choices() {
    let src = format!(
        "on:\n  workflow_dispatch:\n    inputs:\n      level:\n        type: choice\n        options: [info, debug]\n        required: true\n      flag:\n        type: boolean\n        default: true\n{JOBS}"
    );
    let w = ok(&src);
    let inputs = &w.on.workflow_dispatch.as_ref().unwrap().inputs;
    assert_eq!(inputs["level"].input_type, InputType::Choice);
    assert!(inputs["level"].required);
    assert_eq!(inputs["level"].options.len(), 2);
    assert_eq!(
        inputs["flag"].default.as_ref().unwrap().value,
        Value::Bool(true)
    );

    let src = format!(
        "on:\n  workflow_dispatch:\n    inputs:\n      level:\n        type: choice\n{JOBS}"
    );
    assert_eq!(
        located(&src),
        [(5, 9, "Missing 'options' for choice input".to_owned())]
    );
}

#[test]
fn reads_workflow_call_inputs_secrets_and_outputs() {
    let src = format!(
        "on:\n  workflow_call:\n    inputs:\n      name:\n        type: string\n        required: true\n    secrets:\n      token:\n        required: true\n      other:\n{JOBS}"
    );
    let w = ok(&src);
    let call = w.on.workflow_call.as_ref().unwrap();
    assert_eq!(call.inputs["name"].input_type, InputType::String);
    assert!(call.inputs["name"].required);
    assert!(call.secrets["token"].required);
    assert!(!call.secrets["other"].required);
    let src =
        format!("on:\n  workflow_call:\n    inputs:\n      name:\n        required: true\n{JOBS}");
    assert_eq!(
        located(&src),
        [(5, 9, "Required property is missing: type".to_owned())]
    );
}

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
fn generates_step_ids_as_github_does() {
    let src = "on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@v4\n      - run: a\n      - uses: docker://alpine:latest\n      - run: b\n        id: mine\n      - run: c\n      - uses: ./local\n      - uses: actions/checkout@v4\n";
    let w = ok(src);
    let ids: Vec<(&str, bool)> = runner(&w.jobs[0])
        .steps
        .iter()
        .map(|s| (s.id.value.as_str(), s.generated_id))
        .collect();
    assert_eq!(
        ids,
        [
            ("__actions_checkout", true),
            ("__run", true),
            ("__alpine_latest", true),
            ("mine", false),
            ("__run_2", true),
            ("__self", true),
            ("__actions_checkout_2", true),
        ]
    );
}

#[test]
fn rejects_step_ids_used_twice_and_reserved() {
    let src = "on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n      - {id: a, run: x}\n      - {id: A, run: x}\n      - {id: __b, run: x}\n";
    let found = located(src);
    assert_eq!(
        found[0],
        (
            7,
            14,
            "The identifier 'A' may not be used more than once within the same scope.".to_owned()
        )
    );
    assert_eq!(found[1].0, 8);
}

#[test]
fn reads_step_kinds_and_fields() {
    let src = "on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n      - name: Build\n        run: make\n        shell: bash\n        working-directory: src\n        timeout-minutes: 5\n        continue-on-error: true\n        env: {A: b}\n      - uses: actions/setup-node@v4\n        with:\n          node-version: 20\n";
    let w = ok(src);
    let steps = &runner(&w.jobs[0]).steps;
    let StepKind::Run {
        run,
        shell,
        working_directory,
        ..
    } = &steps[0].kind
    else {
        panic!("a run step")
    };
    assert_eq!(run.as_literal().map(String::as_str), Some("make"));
    assert_eq!(
        shell.as_ref().unwrap().as_literal().map(String::as_str),
        Some("bash")
    );
    assert_eq!(working_directory.as_ref().unwrap().line, 9);
    assert_eq!(
        steps[0].timeout_minutes.as_ref().unwrap().as_literal(),
        Some(&5.0)
    );
    assert_eq!(
        steps[0].continue_on_error.as_ref().unwrap().as_literal(),
        Some(&true)
    );
    let StepKind::Uses { action, with, .. } = &steps[1].kind else {
        panic!("a uses step")
    };
    assert!(
        matches!(action, UsesRef::Repository { owner, repo, .. } if owner == "actions" && repo == "setup-node")
    );
    // Numbers read as strings where a string is wanted, written as GitHub writes them.
    let with = with.as_ref().unwrap().as_literal().unwrap();
    assert_eq!(
        with["node-version"].as_literal().map(String::as_str),
        Some("20")
    );
}

#[test]
fn rejects_malformed_step_uses_at_its_position() {
    let src = "on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n      - uses: badrepo@invalid\n";
    assert_eq!(
        located(src),
        [(
            6,
            15,
            "Expected format {org}/{repo}[/path]@ref. Actual 'badrepo@invalid'".to_owned()
        )]
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
        matches!(&call.workflow, UsesRef::Repository { path: Some(p), .. } if p == ".github/workflows/w.yml")
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

#[test]
fn refuses_background_steps_unless_enabled() {
    let src = "on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n      - id: server\n        run: npm start\n        background: true\n      - wait: server\n";
    let found = located(src);
    assert!(found.contains(&(8, 9, "Unexpected value 'background'".to_owned())));
    let options = ParseOptions {
        background_steps: true,
        ..ParseOptions::default()
    };
    let w = parse_with(src, FILE, &options).unwrap();
    let steps = &runner(&w.jobs[0]).steps;
    assert!(matches!(
        &steps[0].kind,
        StepKind::Run {
            background: true,
            ..
        }
    ));
    assert!(matches!(&steps[1].kind, StepKind::Wait { steps } if steps[0].value == "server"));
    assert_eq!(steps[1].id.value, "__wait");
}

#[test]
fn refuses_documents_deeper_than_the_depth_limit() {
    let options = ParseOptions {
        limits: yaml::Limits {
            max_depth: 5,
            ..yaml::Limits::default()
        },
        ..ParseOptions::default()
    };
    let src = "on: push\njobs:\n  build:\n    runs-on: x\n    steps:\n      - uses: a/b@v1\n        with:\n          node-version: 14\n";
    let e = parse_with(src, FILE, &options).unwrap_err();
    assert_eq!(e.0[0].message, "Maximum object depth exceeded");
}

#[test]
fn anchors_and_aliases_reuse_steps() {
    let src = "on: push\njobs:\n  a:\n    runs-on: x\n    steps: &steps\n      - run: one\n  b:\n    runs-on: x\n    steps: *steps\n";
    let w = ok(src);
    assert_eq!(runner(&w.jobs[1]).steps.len(), 1);
    assert_eq!(runner(&w.jobs[1]).steps[0].id.value, "__run");
}

#[test]
fn serializes_literals_and_positions_as_documented() {
    let w = ok(&format!("on: push\nname: CI\n{JOBS}"));
    let json = serde_json::to_value(&w).unwrap();
    assert_eq!(
        json["name"],
        serde_json::json!({"value": "CI", "line": 2, "col": 7})
    );
    let job = &json["jobs"][0];
    assert_eq!(job["type"], "runner");
    assert_eq!(job["if"]["expression"], "success()");
    let step = &job["steps"][0];
    assert_eq!(step["type"], "run");
    assert_eq!(
        step["run"],
        serde_json::json!({"line": 7, "col": 14, "value": "echo hi"})
    );
    assert_eq!(step["id"]["value"], "__run");
}

#[test]
fn parse_file_reports_unreadable_files() {
    let e = parse_file(Path::new("/nonexistent/ci.yml")).unwrap_err();
    assert!(matches!(e, LoadError::Read { .. }));
}

// The cases below use expressions, which the expression engine checks.

#[test]
fn wraps_bare_if_conditions_with_success() {
    let src = "on: push\njobs:\n  a:\n    if: github.ref == 'refs/heads/main'\n    runs-on: x\n    steps:\n      - if: always()\n        run: x\n      - if: ${{ failure() || true }}\n        run: y\n";
    let w = ok(src);
    let job_if = &w.jobs[0].condition;
    assert_eq!(
        job_if.expression,
        "success() && (github.ref == 'refs/heads/main')"
    );
    assert_eq!(
        job_if.written.as_ref().unwrap().value,
        "github.ref == 'refs/heads/main'"
    );
    let steps = &runner(&w.jobs[0]).steps;
    assert_eq!(steps[0].condition.expression, "always()");
    assert_eq!(steps[1].condition.expression, "failure() || true");
    assert_eq!(
        steps[1].condition.written.as_ref().unwrap().value,
        "${{ failure() || true }}"
    );
}

#[test]
fn joins_embedded_expressions_with_format() {
    let src = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo ${{ github.sha }} {x}\n";
    let w = ok(src);
    let StepKind::Run { run, .. } = &runner(&w.jobs[0]).steps[0].kind else {
        panic!("a run step")
    };
    let e = run.as_expression().unwrap();
    assert_eq!(e.expression, "format('echo {0} {{x}}', github.sha)");
    assert_eq!(e.source, "echo ${{ github.sha }} {x}");
}

#[test]
fn refuses_expressions_where_github_allows_none() {
    let src = format!("name: a ${{{{ format('x') }}}}\non: push\n{JOBS}");
    assert_eq!(
        located(&src),
        [(
            1,
            7,
            "A template expression is not allowed in this context".to_owned()
        )]
    );
}

#[test]
fn refuses_contexts_not_available_where_used() {
    let src = "on: push\njobs:\n  a:\n    runs-on: x\n    concurrency: ${{ secrets.foo }}\n    steps: [{run: x}]\n";
    let found = located(src);
    assert_eq!((found[0].0, found[0].1), (5, 18));
    assert!(found[0]
        .2
        .starts_with("Unrecognized named-value: 'secrets'"));
}

#[test]
fn accepts_empty_dispatch_inputs_as_githubs_service_does() {
    let src = format!("on:\n  workflow_dispatch:\n    inputs:\n{JOBS}");
    assert!(ok(&src).on.workflow_dispatch.unwrap().inputs.is_empty());
    let src = format!("on:\n  workflow_dispatch:\n    inputs:\n      name:\n{JOBS}");
    let w = ok(&src);
    let input = &w.on.workflow_dispatch.as_ref().unwrap().inputs["name"];
    assert_eq!(input.input_type, InputType::String);
}

#[test]
fn never_panics_on_mutated_workflows() {
    let seed = "name: CI\non:\n  push:\n    branches: [main]\n  workflow_dispatch:\n    inputs:\n      x: {type: choice, options: [a]}\njobs:\n  a: &job\n    runs-on: [x]\n    if: ${{ github.ref }}\n    strategy:\n      matrix: {os: [1, 2], include: [{os: 3}]}\n    steps:\n      - uses: a/b@v1\n        with: {k: v}\n      - run: |\n          echo ${{ matrix.os }}\n        id: s\n  b:\n    needs: a\n    uses: ./.github/workflows/x.yml\n    secrets: inherit\n";
    let alphabet: Vec<char> = " \n:-[]{}$&*!|>#'\"a,?%@\t".chars().collect();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..1500 {
        let mut chars: Vec<char> = seed.chars().collect();
        for _ in 0..(1 + next() % 4) {
            let at = (next() as usize) % (chars.len() + 1);
            match next() % 3 {
                0 if at < chars.len() => {
                    chars.remove(at);
                }
                _ => chars.insert(at, alphabet[(next() as usize) % alphabet.len()]),
            }
        }
        let text: String = chars.into_iter().collect();
        let _ = parse(&text, FILE);
        let _ = crate::action::parse(&text, "action.yml");
    }
}
