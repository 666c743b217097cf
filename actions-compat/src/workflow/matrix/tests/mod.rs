//! Matrix expansion through the parser: a strategy written in YAML, expanded as GitHub expands it.
//! `docs.rs` holds one test per example of GitHub's documentation, `limits.rs` the errors and
//! limits; this file the rest.

mod docs;
mod limits;

use serde_json::json;

use super::*;
use crate::workflow::model::OrExpr;
use crate::workflow::{parse, Workflow};

/// A workflow whose job `build` has the strategy `strategy` (written from column 1; it lands at
/// line 6, column 7).
fn workflow(strategy: &str) -> Workflow {
    let body: String = strategy.lines().map(|l| format!("      {l}\n")).collect();
    let src = format!(
        "on: push\njobs:\n  build:\n    runs-on: x\n    strategy:\n{body}    steps: [{{run: x}}]\n"
    );
    match parse(&src, "ci.yml") {
        Ok(w) => w,
        Err(e) => panic!("{e}\n{src}"),
    }
}

fn plan_with(strategy: &str, contexts: serde_json::Value) -> Result<StrategyPlan, MatrixError> {
    let w = workflow(strategy);
    StrategyPlan::for_job(&w.jobs[0], &Value::from_json(contexts))
}

fn plan(strategy: &str) -> StrategyPlan {
    match plan_with(strategy, json!({})) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

fn error(strategy: &str) -> MatrixError {
    match plan_with(strategy, json!({})) {
        Ok(p) => panic!("expanded: {p:?}"),
        Err(e) => e,
    }
}

/// Checks the combinations' values, keys in order, against `expected` (a JSON array of objects).
fn assert_values(plan: &StrategyPlan, expected: serde_json::Value) {
    let Value::Array(expected) = Value::from_json(expected) else {
        panic!("expected an array");
    };
    let actual: Vec<Value> = plan.combinations.iter().map(|c| c.context()).collect();
    assert_eq!(actual, expected, "values");
    for (combination, expected) in plan.combinations.iter().zip(&expected) {
        let Value::Object(expected) = expected else {
            continue;
        };
        let keys: Vec<&String> = combination.values.keys().collect();
        assert_eq!(keys, expected.keys().collect::<Vec<_>>(), "key order");
    }
}

fn names(plan: &StrategyPlan) -> Vec<String> {
    plan.combinations
        .iter()
        .map(|c| c.display_name("build"))
        .collect()
}

#[test]
fn product_varies_the_last_vector_fastest() {
    let p = plan("matrix:\n  a: [1, 2]\n  b: [x, y]\n  c: [true]");
    assert_values(
        &p,
        json!([
            {"a": 1, "b": "x", "c": true},
            {"a": 1, "b": "y", "c": true},
            {"a": 2, "b": "x", "c": true},
            {"a": 2, "b": "y", "c": true},
        ]),
    );
}

#[test]
fn names_list_vector_values_in_order() {
    let p = plan("matrix:\n  os: [ubuntu]\n  python: ['3.11', 3.10]");
    assert_eq!(names(&p), ["build (ubuntu, 3.11)", "build (ubuntu, 3.1)"]);
    assert_eq!(p.combinations[0].name_suffix, "ubuntu, 3.11");
}

#[test]
fn names_leave_out_values_include_added_but_show_all_of_a_new_combination() {
    let p = plan("matrix:\n  os: [linux]\n  include:\n    - os: linux\n      extra: yes\n    - os: mac\n      arch: arm");
    assert_eq!(names(&p), ["build (linux)", "build (mac, arm)"]);
}

#[test]
fn names_flatten_objects_and_arrays_and_skip_nulls() {
    let p =
        plan("matrix:\n  cfg:\n    - {name: a, flags: [x, '', 2]}\n    - {name: null, on: false}");
    assert_eq!(names(&p), ["build (a, x, 2)", "build (false)"]);
}

#[test]
fn long_names_are_cut_to_100_units_as_github_cuts_them() {
    let long = "v".repeat(120);
    let p = plan(&format!("matrix:\n  x: [{long}]"));
    let name = &names(&p)[0];
    assert_eq!(name.encode_utf16().count(), 100);
    assert!(name.starts_with("build (vvv"));
    assert!(name.ends_with("v..."));
    let wide = "😀".repeat(60);
    let cut = MatrixCombination {
        values: IndexMap::new(),
        name_suffix: wide,
    }
    .display_name("b");
    assert!(cut.encode_utf16().count() <= 100);
    assert!(cut.ends_with("😀..."));
}

#[test]
fn exclude_matches_partially_and_compares_like_expressions() {
    let p = plan("matrix:\n  os: [Linux, mac]\n  v: [12, 14]\n  exclude:\n    - os: linux\n      v: '12'\n    - os: MAC");
    assert_values(&p, json!([{"os": "Linux", "v": 14}]));
}

#[test]
fn exclude_matches_objects_in_vectors_by_the_keys_it_names() {
    let p = plan(
        "matrix:\n  node:\n    - {version: 14, env: a}\n    - {version: 20}\n  exclude:\n    - node: {version: 14}",
    );
    assert_values(&p, json!([{"node": {"version": 20}}]));
}

#[test]
fn exclude_removing_everything_leaves_one_job_without_a_matrix() {
    let p = plan("matrix:\n  os: [a]\n  exclude:\n    - os: a");
    assert_eq!(p.combinations, [MatrixCombination::default()]);
    assert!(!p.is_matrix());
    assert_eq!(p.combinations[0].context(), Value::Null);
}

#[test]
fn include_never_overwrites_an_original_value_but_overwrites_added_ones() {
    let p = plan("matrix:\n  os: [a, b]\n  include:\n    - tag: one\n    - os: a\n      tag: two\n    - os: a\n      tag: three");
    assert_values(
        &p,
        json!([{"os": "a", "tag": "three"}, {"os": "b", "tag": "one"}]),
    );
}

#[test]
fn include_keys_ignore_case_and_keep_the_first_spelling() {
    let p =
        plan("matrix:\n  os: [a]\n  include:\n    - Color: green\n    - OS: a\n      color: pink");
    assert_values(&p, json!([{"os": "a", "Color": "pink"}]));
}

#[test]
fn unmatched_include_lists_vector_keys_first() {
    let p = plan("matrix:\n  fruit: [apple]\n  include:\n    - shape: round\n      fruit: pear");
    assert_values(
        &p,
        json!([{"fruit": "apple"}, {"fruit": "pear", "shape": "round"}]),
    );
}

#[test]
fn include_matching_only_an_excluded_combination_becomes_its_own() {
    let p =
        plan("matrix:\n  os: [a, b]\n  exclude:\n    - os: a\n  include:\n    - os: a\n      x: 1");
    assert_values(&p, json!([{"os": "b"}, {"os": "a", "x": 1}]));
}

#[test]
fn matrix_from_an_expression_is_expanded() {
    let contexts = json!({"needs": {"setup": {"outputs": {
        "m": "{\"os\": [\"a\", \"b\"], \"include\": [{\"os\": \"c\"}], \"exclude\": [{\"os\": \"a\"}]}"
    }}}});
    let p = plan_with("matrix: ${{ fromJSON(needs.setup.outputs.m) }}", contexts).unwrap();
    assert_values(&p, json!([{"os": "b"}, {"os": "c"}]));
}

#[test]
fn vectors_values_and_filters_may_each_be_expressions() {
    let p = plan_with(
        "matrix:\n  os: [a, '${{ github.event_name }}-b']\n  v: ${{ fromJSON(needs.a.outputs.v) }}\n  include: ${{ fromJSON(vars.extra) }}\n  exclude:\n    - v: ${{ fromJSON('2') }}",
        json!({
            "github": {"event_name": "push"},
            "vars": {"extra": "[{\"os\": \"push-b\", \"big\": true}]"},
            "needs": {"a": {"outputs": {"v": "[1, 2]"}}},
        }),
    )
    .unwrap();
    assert_values(
        &p,
        json!([{"os": "a", "v": 1}, {"os": "push-b", "v": 1, "big": true}]),
    );
}

#[test]
fn whole_strategy_may_be_an_expression() {
    let contexts = json!({"needs": {"a": {"outputs": {"s": "{\"fail-fast\": false, \"max-parallel\": 3, \"matrix\": {\"x\": [1, 2]}}"}}}});
    let p = plan_with("${{ fromJSON(needs.a.outputs.s) }}", contexts).unwrap();
    assert!(!p.fail_fast);
    assert_eq!(p.max_parallel, Some(3));
    assert_values(&p, json!([{"x": 1}, {"x": 2}]));
}

#[test]
fn fail_fast_and_max_parallel_may_be_expressions() {
    let p = plan_with(
        "fail-fast: ${{ github.event_name != 'push' }}\nmax-parallel: ${{ fromJSON(vars.n) }}\nmatrix:\n  x: [1]",
        json!({"github": {"event_name": "push"}, "vars": {"n": "4"}}),
    )
    .unwrap();
    assert!(!p.fail_fast);
    assert_eq!(p.max_parallel, Some(4));
}

#[test]
fn no_strategy_or_no_matrix_runs_the_job_once_without_values() {
    let w = parse(
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{run: x}]\n",
        "ci.yml",
    )
    .unwrap();
    let p = StrategyPlan::for_job(&w.jobs[0], &Value::Null).unwrap();
    assert_eq!(p.combinations, [MatrixCombination::default()]);
    assert!(p.fail_fast);
    assert_eq!(p.combinations[0].display_name("a"), "a");
    let p = plan("fail-fast: false\nmax-parallel: 3");
    assert_eq!(p.combinations.len(), 1);
    assert!(!p.fail_fast);
    assert!(!p.is_matrix());
    let strategy = w.jobs[0].strategy.as_ref().map(|s| &s.value);
    assert!(strategy.is_none());
    let none = Strategy {
        matrix: None,
        fail_fast: None,
        max_parallel: None,
    };
    assert_eq!(
        expand(&none, &Value::Null).unwrap(),
        [MatrixCombination::default()]
    );
}

#[test]
fn max_parallel_is_cut_to_a_whole_number_and_needs_to_be_positive() {
    assert_eq!(
        plan("max-parallel: 2.7\nmatrix:\n  x: [1]").max_parallel,
        Some(2)
    );
    assert_eq!(
        plan("max-parallel: 0\nmatrix:\n  x: [1]").max_parallel,
        None
    );
    assert_eq!(
        plan("max-parallel: -3\nmatrix:\n  x: [1]").max_parallel,
        None
    );
    assert_eq!(plan("matrix:\n  x: [1]").max_parallel, None);
}

#[test]
fn strategy_context_reports_index_total_and_limits() {
    let p = plan("fail-fast: false\nmax-parallel: 2\nmatrix:\n  x: [1, 2, 3]");
    assert_eq!(
        p.strategy_context(1),
        Value::from_json(
            json!({"fail-fast": false, "job-index": 1, "job-total": 3, "max-parallel": 2})
        )
    );
    let unlimited = plan("matrix:\n  x: [1, 2, 3]");
    assert_eq!(
        unlimited.strategy_context(0).get("max-parallel"),
        Some(&Value::Number(3.0))
    );
    let single = plan("max-parallel: 5");
    assert_eq!(
        single.strategy_context(0),
        Value::from_json(
            json!({"fail-fast": true, "job-index": 0, "job-total": 1, "max-parallel": 1})
        )
    );
}

#[test]
fn expand_gives_the_combinations_of_a_strategy() {
    let w = workflow("matrix:\n  os: [a, b]");
    let Some(OrExpr::Literal { value }) = w.jobs[0].strategy.as_ref().map(|s| &s.value) else {
        panic!("no literal strategy");
    };
    let combinations = expand(value, &Value::Null).unwrap();
    assert_eq!(combinations.len(), 2);
    assert_eq!(combinations[1].display_name("build"), "build (b)");
}
