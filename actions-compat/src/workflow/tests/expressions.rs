//! Expressions in workflows: if conditions, embedded expressions, where contexts are allowed.

use super::*;

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
