//! What a strategy may not do: GitHub's errors, its 256-job limit, and hrun's own bounds against
//! hostile matrices.

use serde_json::json;

use super::{error, parse, plan, plan_with, workflow};
use crate::expr::Value;
use crate::workflow::matrix::*;
use crate::workflow::model::{self, Matrix, OrExpr, Strategy, Templated};
use indexmap::IndexMap;

#[test]
fn strategy_expression_with_an_unknown_key_is_refused() {
    let contexts = json!({"vars": {"s": "{\"matrx\": {}}"}});
    let e = plan_with("${{ fromJSON(vars.s) }}", contexts).unwrap_err();
    assert_eq!(e.to_string(), "Unexpected value 'matrx'");
    assert_eq!((e.line(), e.col()), (6, 7));
}

#[test]
fn fail_fast_expression_must_give_a_boolean() {
    let e = plan_with(
        "fail-fast: ${{ vars.ff }}\nmatrix:\n  x: [1]",
        json!({"vars": {"ff": "false"}}),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Unexpected type 'StringToken' encountered while reading 'strategy fail-fast'. The type 'BooleanToken' was expected."
    );
    assert_eq!((e.line(), e.col()), (6, 18));
}

#[test]
fn vector_expression_must_give_a_sequence() {
    let e = plan_with(
        "matrix:\n  os: ${{ vars.os }}",
        json!({"vars": {"os": "linux"}}),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Unexpected type 'StringToken' encountered while reading 'matrix vector value'. The type 'SequenceToken' was expected."
    );
    assert_eq!((e.line(), e.col()), (7, 13));
}

#[test]
fn include_entries_must_be_mappings() {
    let e = plan_with(
        "matrix:\n  include: ${{ fromJSON(vars.i) }}",
        json!({"vars": {"i": "[1]"}}),
    )
    .unwrap_err();
    assert!(matches!(
        e,
        MatrixError::UnexpectedType {
            what: "matrix includes item",
            expected: "MappingToken",
            found: "NumberToken",
            ..
        }
    ));
}

#[test]
fn expression_errors_carry_the_expression_and_its_position() {
    let e = plan_with(
        "matrix:\n  os: ${{ fromJSON(vars.os) }}",
        json!({"vars": {"os": "not json"}}),
    )
    .unwrap_err();
    let MatrixError::Expression {
        expression,
        line,
        col,
        ..
    } = &e
    else {
        panic!("{e:?}");
    };
    assert_eq!(expression, "fromJSON(vars.os)");
    assert_eq!((*line, *col), (7, 13));
    assert_eq!(e.to_diagnostic("ci.yml").line, 7);
}

#[test]
fn expressions_may_not_read_contexts_a_strategy_cannot_see() {
    // The parser refuses `matrix` in a strategy; a strategy built by hand reaches the evaluator.
    let mut w = workflow("matrix:\n  os: ${{ vars.os }}");
    let Some(strategy) = w.jobs[0].strategy.as_mut() else {
        panic!("no strategy");
    };
    let OrExpr::Literal { value } = &mut strategy.value else {
        panic!("strategy is an expression");
    };
    let Some(OrExpr::Literal { value: matrix }) = value.matrix.as_mut().map(|m| &mut m.value)
    else {
        panic!("matrix is an expression");
    };
    let Some(OrExpr::Expression(e)) = matrix.vectors.get_mut("os").map(|v| &mut v.value) else {
        panic!("vector is literal");
    };
    e.expression = "secrets.token".to_owned();
    let err = StrategyPlan::for_job(&w.jobs[0], &Value::Null).unwrap_err();
    assert!(err
        .to_string()
        .starts_with("Unrecognized named-value: 'secrets'"));
}

#[test]
fn empty_vector_from_an_expression_is_refused() {
    let e = plan_with("matrix:\n  os: ${{ fromJSON('[]') }}", json!({})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Matrix vector 'os' does not contain any values"
    );
}

#[test]
fn matrix_needs_a_vector_or_an_include() {
    let e = error("matrix:\n  exclude:\n    - os: a");
    assert_eq!(e.to_string(), "Matrix must define at least one vector");
    assert_eq!((e.line(), e.col()), (7, 9));
}

#[test]
fn exclude_keys_must_name_vectors() {
    let e = error("matrix:\n  os: [a]\n  exclude:\n    - arch: x64");
    assert_eq!(
        e.to_string(),
        "Matrix exclude key 'arch' does not match any key within the matrix"
    );
    assert_eq!((e.line(), e.col()), (9, 13));
}

#[test]
fn empty_include_and_exclude_entries_are_refused() {
    let include = error("matrix:\n  os: [a]\n  include:\n    - {}");
    assert_eq!(
        include.to_string(),
        "Matrix include mapping does not contain any values"
    );
    let exclude = error("matrix:\n  os: [a]\n  exclude:\n    - {}");
    assert_eq!(
        exclude.to_string(),
        "Matrix exclude filter must not be empty"
    );
}

#[test]
fn vectors_differing_only_in_case_are_refused() {
    let e = plan_with(
        "matrix: ${{ github.event.client_payload }}",
        json!({"github": {"event": {"client_payload": {"os": [1], "OS": [2]}}}}),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "'OS' is already defined");
}

#[test]
fn exactly_256_combinations_are_allowed() {
    let sixteen = (1..=16)
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let p = plan(&format!("matrix:\n  a: [{sixteen}]\n  b: [{sixteen}]"));
    assert_eq!(p.combinations.len(), 256);
}

#[test]
fn more_than_256_combinations_is_githubs_error() {
    let sixteen = (1..=16)
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let e = error(&format!(
        "matrix:\n  a: [{sixteen}]\n  b: [{sixteen}]\n  include:\n    - a: 99"
    ));
    assert_eq!(
        e.to_string(),
        "Strategy for job 'build' produced 257 configurations which exceeds the maximum of 256 configurations"
    );
    assert_eq!((e.line(), e.col()), (6, 7));
    let seventeen = (1..=17)
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let e = error(&format!("matrix:\n  a: [{seventeen}]\n  b: [{sixteen}]"));
    assert!(matches!(
        e,
        MatrixError::TooManyConfigurations { count: 272, .. }
    ));
}

#[test]
fn the_limit_counts_after_exclude() {
    let seventeen = (1..=17)
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let sixteen = (1..=16)
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let p = plan(&format!(
        "matrix:\n  a: [{seventeen}]\n  b: [{sixteen}]\n  exclude:\n    - a: 17"
    ));
    assert_eq!(p.combinations.len(), 256);
}

#[test]
fn huge_cross_products_are_refused_without_walking_them() {
    let twenty = (1..=20)
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let vectors: String = (0..5).map(|i| format!("  v{i}: [{twenty}]\n")).collect();
    let e = error(&format!("matrix:\n{vectors}"));
    assert!(matches!(e, MatrixError::TooLargeToExpand { .. }));
}

#[test]
fn many_filters_over_a_large_product_are_refused_without_walking_it() {
    let thousand = (1..=1000)
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let excludes: String = (0..100).map(|i| format!("    - a: {i}\n")).collect();
    let e = error(&format!(
        "matrix:\n  a: [{thousand}]\n  b: [{thousand}]\n  exclude:\n{excludes}"
    ));
    assert!(matches!(e, MatrixError::TooLargeToExpand { .. }));
}

#[test]
fn expand_words_the_limit_without_a_job() {
    let sixteen = (1..=16)
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let w = workflow(&format!("matrix:\n  a: [{sixteen}]\n  b: [{sixteen}, 17]"));
    let Some(OrExpr::Literal { value }) = w.jobs[0].strategy.as_ref().map(|s| &s.value) else {
        panic!("no literal strategy");
    };
    let e = expand(value, &Value::Null).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Strategy produced 272 configurations which exceeds the maximum of 256 configurations"
    );
}

#[test]
fn values_nested_too_deep_are_refused_without_recursing_further() {
    let mut value = model::Value::Null;
    for _ in 0..(MAX_VALUE_DEPTH + 10) {
        value = model::Value::Sequence(vec![Templated::literal(value, 1, 1)]);
    }
    let mut vectors = IndexMap::new();
    vectors.insert(
        "deep".to_owned(),
        Templated::literal(vec![Templated::literal(value, 3, 4)], 3, 4),
    );
    let strategy = Strategy {
        matrix: Some(Templated::literal(
            Matrix {
                vectors,
                include: None,
                exclude: None,
            },
            2,
            3,
        )),
        fail_fast: None,
        max_parallel: None,
    };
    let e = expand(&strategy, &Value::Null).unwrap_err();
    assert!(matches!(e, MatrixError::TooDeep { .. }));
}

/// A small deterministic generator (xorshift), so the matrices below are the same every run.
struct Garbage(u64);

impl Garbage {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 1_000_003) as usize
    }

    fn pick<'t>(&mut self, items: &[&'t str]) -> &'t str {
        items[self.next() % items.len()]
    }
}

#[test]
fn random_strategies_expand_or_fail_without_panicking() {
    const VECTORS: &[&str] = &["os", "node", "v", "x"];
    const KEYS: &[&str] = &["os", "OS", "node", "v", "x", "y"];
    const VALUES: &[&str] = &[
        "a",
        "A",
        "1",
        "'1'",
        "1.0",
        "true",
        "null",
        "''",
        "{}",
        "[]",
        "{v: 1}",
        "{v: [1, {w: x}]}",
        "[1, 2]",
    ];
    let mut garbage = Garbage(0x2545_F491_4F6C_DD1D);
    let contexts = Value::from_json(json!({"github": {"x": [1, {"v": 1}]}}));
    let (mut expanded, mut refused) = (0, 0);
    for _ in 0..400 {
        let mut yaml = String::from("matrix:\n");
        let first = garbage.next();
        for k in 0..(garbage.next() % 4) {
            let name = VECTORS[(first + k) % VECTORS.len()];
            if garbage.next() % 4 == 0 {
                yaml.push_str(&format!("  {name}: ${{{{ github.x }}}}\n"));
                continue;
            }
            let values: Vec<&str> = (0..1 + garbage.next() % 3)
                .map(|_| garbage.pick(VALUES))
                .collect();
            yaml.push_str(&format!("  {name}: [{}]\n", values.join(", ")));
        }
        if garbage.next() % 3 == 0 {
            yaml.push_str("  y: ${{ fromJSON('[1, {\"v\": [1]}]') }}\n");
        }
        for list in ["include", "exclude"] {
            if garbage.next() % 2 == 0 {
                continue;
            }
            yaml.push_str(&format!("  {list}:\n"));
            for _ in 0..(1 + garbage.next() % 3) {
                let entry: Vec<String> = (0..garbage.next() % 3)
                    .map(|_| format!("{}: {}", garbage.pick(KEYS), garbage.pick(VALUES)))
                    .collect();
                yaml.push_str(&format!("    - {{{}}}\n", entry.join(", ")));
            }
        }
        let body: String = yaml.lines().map(|l| format!("      {l}\n")).collect();
        let src = format!(
            "on: push\njobs:\n  build:\n    runs-on: x\n    strategy:\n{body}    steps: [{{run: x}}]\n"
        );
        let Ok(w) = parse(&src, "ci.yml") else {
            continue;
        };
        let Ok(plan) = StrategyPlan::for_job(&w.jobs[0], &contexts) else {
            refused += 1;
            continue;
        };
        expanded += 1;
        assert!(!plan.combinations.is_empty());
        assert!(plan.combinations.len() <= MAX_CONFIGURATIONS);
        for (i, c) in plan.combinations.iter().enumerate() {
            let _ = c.display_name("build");
            let _ = plan.strategy_context(i);
        }
    }
    // Both paths are walked, not just the parser's refusals.
    assert!(
        expanded > 50 && refused > 50,
        "{expanded} expanded, {refused} refused"
    );
}
