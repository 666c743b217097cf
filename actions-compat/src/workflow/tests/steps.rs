//! Steps: ids, kinds and fields, uses references, background and parallel steps, anchors.

use super::*;

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
        matches!(action, UsesRef::Repository(r) if r.owner() == "actions" && r.repo() == "setup-node")
    );
    // Numbers read as strings where a string is wanted, written as GitHub writes them.
    let with = with.as_ref().unwrap().as_literal().unwrap();
    assert_eq!(
        with["node-version"].as_literal().map(String::as_str),
        Some("20")
    );
}

#[test]
fn reads_same_repository_references_in_steps_and_jobs() {
    // GitHub's `$/` syntax: the workflow's own repository at the running commit.
    let src = "on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n      - uses: $/.github/actions/setup\n      - uses: $/\n  call:\n    uses: $/.github/workflows/w.yml\n";
    let w = ok(src);
    let steps = &runner(&w.jobs[0]).steps;
    let StepKind::Uses { action, .. } = &steps[0].kind else {
        panic!("a uses step")
    };
    assert_eq!(
        action,
        &UsesRef::SameRepository(".github/actions/setup".into())
    );
    assert!(
        matches!(&steps[1].kind, StepKind::Uses { action: UsesRef::SameRepository(path), .. } if path.is_empty())
    );
    // Generated ids name it `self`, as for `./`.
    assert_eq!(
        (steps[0].id.value.as_str(), steps[1].id.value.as_str()),
        ("__self", "__self_2")
    );
    let JobKind::Reusable(call) = &w.jobs[1].kind else {
        panic!("a reusable-workflow job")
    };
    assert_eq!(
        call.workflow,
        UsesRef::SameRepository(".github/workflows/w.yml".into())
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
fn reads_background_steps_by_default_and_refuses_them_when_turned_off() {
    let src = "on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n      - id: server\n        run: npm start\n        background: true\n      - wait: server\n";
    let off = ParseOptions {
        background_steps: false,
        ..ParseOptions::default()
    };
    let found: Vec<_> = parse_with(src, FILE, &off)
        .expect_err("refused when turned off")
        .0
        .into_iter()
        .map(|d| (d.line, d.col, d.message))
        .collect();
    assert!(found.contains(&(8, 9, "Unexpected value 'background'".to_owned())));
    let w = ok(src);
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

const PARALLEL: &str = "on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n      - run: before\n      - parallel:\n          - run: one\n          - id: two\n            uses: actions/cache@v4\n            with:\n              path: x\n          - run: three\n      - run: after\n";

#[test]
fn reads_a_parallel_block_as_one_step_holding_its_steps() {
    let w = ok(PARALLEL);
    let steps = &runner(&w.jobs[0]).steps;
    assert_eq!(steps.len(), 3);
    let StepKind::Parallel { steps: inside } = &steps[1].kind else {
        panic!("a parallel step")
    };
    assert_eq!((steps[1].line, steps[1].col), (7, 9));
    assert!(
        matches!(&inside[0].kind, StepKind::Run { run, .. } if run.as_literal().map(String::as_str) == Some("one"))
    );
    assert!(matches!(
        &inside[1].kind,
        StepKind::Uses {
            action: UsesRef::Repository(_),
            ..
        }
    ));
    // One id scope for the job, generated in document order.
    let ids: Vec<&str> = [
        &steps[0], &steps[1], &inside[0], &inside[1], &inside[2], &steps[2],
    ]
    .iter()
    .map(|s| s.id.value.as_str())
    .collect();
    assert_eq!(
        ids,
        [
            "__run",
            "__parallel",
            "__run_2",
            "two",
            "__run_3",
            "__run_4"
        ]
    );
    let json = serde_json::to_value(&steps[1]).unwrap();
    assert_eq!(json["type"], "parallel");
    assert_eq!(json["steps"][1]["uses"]["value"], "actions/cache@v4");
}

#[test]
fn refuses_steps_a_parallel_block_may_not_hold_at_the_block() {
    let src = "on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n      - id: server\n        run: serve\n        background: true\n      - parallel:\n          - run: a\n            background: true\n          - wait: server\n          - wait-all:\n          - cancel: server\n          - parallel:\n              - run: b\n";
    let options = ParseOptions {
        background_steps: true,
        ..ParseOptions::default()
    };
    let found: Vec<(usize, usize, String)> = parse_with(src, FILE, &options)
        .unwrap_err()
        .iter()
        .map(|d| (d.line, d.col, d.message.clone()))
        .collect();
    assert_eq!(
        found,
        [
            (9, 9, "'background' is not allowed inside a parallel block. Steps in a parallel block are automatically run as background steps.".to_owned()),
            (9, 9, "'wait' is not allowed inside a parallel block.".to_owned()),
            (9, 9, "'wait-all' is not allowed inside a parallel block.".to_owned()),
            (9, 9, "'cancel' is not allowed inside a parallel block.".to_owned()),
            (9, 9, "Nested 'parallel' blocks are not allowed.".to_owned()),
        ]
    );
}

#[test]
fn ids_inside_a_parallel_block_share_the_jobs_scope() {
    let src = "on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n      - id: build\n        run: a\n      - parallel:\n          - id: build\n            run: b\n";
    assert_eq!(
        located(src),
        [(
            9,
            17,
            "The identifier 'build' may not be used more than once within the same scope."
                .to_owned()
        )]
    );
}

#[test]
fn anchors_and_aliases_reuse_steps() {
    let src = "on: push\njobs:\n  a:\n    runs-on: x\n    steps: &steps\n      - run: one\n  b:\n    runs-on: x\n    steps: *steps\n";
    let w = ok(src);
    assert_eq!(runner(&w.jobs[1]).steps.len(), 1);
    assert_eq!(runner(&w.jobs[1]).steps[0].id.value, "__run");
}
