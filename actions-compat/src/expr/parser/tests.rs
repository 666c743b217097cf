//! Tests of the parser: trees, error messages and positions, limits.

use crate::expr::{parse, BinaryOp, Expr, ExprErrorKind, ExprKind, FunctionSig, ParseOptions};

fn options() -> ParseOptions {
    ParseOptions::with_named_values(["github", "foo"])
}

fn error(source: &str) -> (ExprErrorKind, String) {
    match parse(source, &options()) {
        Ok(expr) => panic!("{source:?} parsed as {expr:?}"),
        Err(e) => (e.kind, e.message),
    }
}

fn height(expr: &Expr) -> usize {
    match &expr.kind {
        ExprKind::Binary {
            op: op @ (BinaryOp::And | BinaryOp::Or),
            ..
        } => {
            1 + expr
                .logical_operands(*op)
                .iter()
                .map(|e| height(e))
                .max()
                .unwrap_or(0)
        }
        ExprKind::Binary { lhs, rhs, .. } => 1 + height(lhs).max(height(rhs)),
        ExprKind::Not(e) => 1 + height(e),
        ExprKind::Property { target, .. } | ExprKind::Wildcard { target } => 1 + height(target),
        ExprKind::Index { target, index } => 1 + height(target).max(height(index)),
        ExprKind::Call { args, .. } => 1 + args.iter().map(height).max().unwrap_or(0),
        _ => 1,
    }
}

#[test]
fn builds_the_expected_tree() {
    let expr = parse("!github.a[0].* == 'x'", &options()).expect("parses");
    assert_eq!(expr.to_string(), "(!github.a[0].* == 'x')");
    assert_eq!(expr.pos, 1);
}

#[test]
fn an_empty_expression_is_null() {
    let expr = parse("  ", &options()).expect("parses");
    assert_eq!(expr.kind, ExprKind::Null);
}

#[test]
fn reports_the_first_bad_token_with_its_position() {
    assert_eq!(
        error("1 2 @"),
        (
            ExprErrorKind::Parsing,
            "Unexpected symbol: '2'. Located at position 3 within expression: 1 2 @".into()
        )
    );
    assert_eq!(
        error("1 @ 2"),
        (
            ExprErrorKind::Lexing,
            "Unexpected symbol: '@'. Located at position 3 within expression: 1 @ 2".into()
        )
    );
    assert_eq!(
        error("'😊' == nope").1,
        "Unrecognized named-value: 'nope'. Located at position 9 within expression: '😊' == nope",
        "positions count UTF-16 units, as GitHub does"
    );
}

#[test]
fn reports_unclosed_and_dangling_ends() {
    assert_eq!(
        error("(1 == 2").1,
        "Unexpected end of expression: '2'. Located at position 7 within expression: (1 == 2"
    );
    assert_eq!(
        error("github.a &&").1,
        "Unexpected end of expression: '&&'. Located at position 10 within expression: github.a &&"
    );
    assert_eq!(
        error("foo[1").1,
        "Unexpected end of expression: '1'. Located at position 5 within expression: foo[1"
    );
}

#[test]
fn checks_functions_and_their_arguments() {
    assert_eq!(
        error("hashFiles('x')").1,
        "Unrecognized function: 'hashFiles'. Located at position 1 within expression: hashFiles('x')"
    );
    let with_hash = ParseOptions {
        functions: vec![FunctionSig::hash_files()],
        ..options()
    };
    assert!(parse("HASHFILES('x')", &with_hash).is_ok());
    assert_eq!(
        error("case(true, 1, 2, 3)").1,
        "Even number of parameters supplied, requires an odd number of parameters: 'case'. Located at position 1 within expression: case(true, 1, 2, 3)"
    );
    assert_eq!(
        error("toJSON(1, 2)").1,
        "Too many parameters supplied: 'toJSON'. Located at position 1 within expression: toJSON(1, 2)"
    );
    assert_eq!(
        error("format(1,)").1,
        "Unexpected symbol: ')'. Located at position 10 within expression: format(1,)"
    );
}

#[test]
fn named_values_are_case_insensitive() {
    assert!(parse("GITHUB.sha", &options()).is_ok());
}

#[test]
fn enforces_the_depth_limit() {
    let at_limit = format!("{}true", "!".repeat(49));
    assert!(parse(&at_limit, &options()).is_ok());
    let over = format!("{}true", "!".repeat(50));
    assert_eq!(error(&over).1, "Exceeded max expression depth 50");
    let shallow = ParseOptions {
        max_depth: 3,
        ..options()
    };
    assert!(parse("!!true", &shallow).is_ok());
    assert_eq!(
        parse("!!!true", &shallow).map_err(|e| e.message),
        Err("Exceeded max expression depth 3".into())
    );
}

#[test]
fn a_later_syntax_error_wins_over_depth() {
    let source = format!("{}true 1", "!".repeat(60));
    assert!(error(&source).1.starts_with("Unexpected symbol: '1'"));
}

#[test]
fn logical_chains_count_as_one_level_and_stay_shallow() {
    let chain = (1..=2000)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(" && ");
    let expr = parse(&chain, &options()).expect("parses");
    assert_eq!(height(&expr), 2);
    assert_eq!(expr.logical_operands(BinaryOp::And).len(), 2000);
    let nested = parse("(1 && 2) && (3 && (4 || 5))", &options()).expect("parses");
    assert_eq!(nested.logical_operands(BinaryOp::And).len(), 4);
}

#[test]
fn hostile_nesting_is_refused_without_recursion() {
    for source in [
        "(".repeat(20_000) + "1" + &")".repeat(20_000),
        "!".repeat(20_999) + "1",
        "foo".to_string() + &"[1]".repeat(6_000),
        "format(".repeat(3_000) + "1" + &")".repeat(3_000),
        "[".repeat(20_000),
    ] {
        let _ = parse(&source, &options());
    }
    assert!(parse(
        &("(".repeat(10_000) + "1" + &")".repeat(10_000)),
        &options()
    )
    .is_ok());
}

#[test]
fn refuses_expressions_longer_than_githubs_limit() {
    let long = "1".repeat(21_001);
    assert_eq!(error(&long).1, "Exceeded max expression length 21000");
}

#[test]
fn a_star_used_as_a_value_is_the_string_star() {
    let expr = parse("foo[* == '*']", &options()).expect("parses");
    match expr.kind {
        ExprKind::Index { index, .. } => assert_eq!(index.to_string(), "('*' == '*')"),
        other => panic!("unexpected {other:?}"),
    }
}
