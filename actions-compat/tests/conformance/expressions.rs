//! Runs every case of GitHub's expression test data (`expressions/testdata/*.json`) against
//! `actions_compat::expr`.
//!
//! Each case names an expression, optionally contexts, and either a result (kind and value) or an
//! error (stage and message). The named values allowed are the contexts' keys; `hashFiles` and
//! the status functions are allowed too. Results compare kind and value (numbers numerically);
//! errors compare stage and message. A case GitHub's data marks as skipped for its TypeScript
//! implementation is run all the same: those cases test the runner's behaviour (positions counted
//! across lines, the memory limit), which this engine follows.
//!
//! A few expected messages in the data are only the start of GitHub's message (GitHub's own
//! harness checks that its message contains the expected text); such cases pass when our message
//! starts with the expected text, and are counted and listed separately.

use crate::Tally;
use actions_compat::expr::{evaluate, parse, EvalContext, ExprErrorKind, ParseOptions, Value};
use std::path::Path;

/// Cases deliberately not run: (file, case name, expression, reason). Printed and counted, never
/// passed. Empty: every case runs.
const SKIPPED: &[(&str, &str, &str, &str)] = &[];

pub fn run(root: &Path) -> Tally {
    let mut tally = Tally::default();
    let dir = root.join("expressions/testdata");
    let mut files: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect(),
        Err(e) => {
            tally
                .failures
                .push(format!("cannot read {}: {e}", dir.display()));
            return tally;
        }
    };
    files.sort();
    if files.is_empty() {
        tally
            .failures
            .push(format!("no test data in {}", dir.display()));
    }
    let mut by_prefix = Vec::new();
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let data: serde_json::Value = match std::fs::read_to_string(&file)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
        {
            Ok(data) => data,
            Err(e) => {
                tally.failures.push(format!("{name}: unreadable: {e}"));
                continue;
            }
        };
        let Some(groups) = data.as_object() else {
            tally
                .failures
                .push(format!("{name}: not an object of cases"));
            continue;
        };
        for (group, cases) in groups {
            for case in cases.as_array().into_iter().flatten() {
                let expr = case.get("expr").and_then(|e| e.as_str()).unwrap_or("");
                let label = format!("{name} / {group} / {expr:?}");
                if let Some((_, _, _, why)) = SKIPPED
                    .iter()
                    .find(|(f, g, e, _)| *f == name && *g == group.as_str() && *e == expr)
                {
                    tally.known.push(format!("skipped {label}: {why}"));
                    continue;
                }
                match check(case) {
                    Outcome::Pass => tally.passed += 1,
                    Outcome::PassByPrefix(ours) => {
                        tally.passed += 1;
                        by_prefix.push(format!("{label}: ours is {ours:?}"));
                    }
                    Outcome::Fail(why) => tally.failures.push(format!("{label}: {why}")),
                }
            }
        }
    }
    if !by_prefix.is_empty() {
        println!(
            "expressions: {} cases hold only the start of GitHub's message and matched as a prefix:",
            by_prefix.len()
        );
        for line in &by_prefix {
            println!("  {line}");
        }
    }
    if !SKIPPED.is_empty() {
        println!("expressions: {} cases skipped", SKIPPED.len());
    }
    tally
}

enum Outcome {
    Pass,
    /// The expected message is a prefix of ours; carries ours.
    PassByPrefix(String),
    Fail(String),
}

fn check(case: &serde_json::Value) -> Outcome {
    let source = case.get("expr").and_then(|e| e.as_str()).unwrap_or("");
    let contexts_json = case
        .get("contexts")
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    let names: Vec<String> = contexts_json
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let contexts = Value::from_json(contexts_json);
    let options = ParseOptions::allow_all(names);
    let outcome =
        parse(source, &options).and_then(|expr| evaluate(&expr, &EvalContext::new(&contexts)));

    if let Some(err) = case.get("err") {
        let kind = err.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        let message = err.get("value").and_then(|v| v.as_str()).unwrap_or("");
        return match outcome {
            Ok(value) => Outcome::Fail(format!("expected {kind} error {message:?}, got {value:?}")),
            Err(e) => {
                let our_kind = match e.kind {
                    ExprErrorKind::Lexing => "lexing",
                    ExprErrorKind::Parsing => "parsing",
                    ExprErrorKind::Evaluation => "evaluation",
                };
                if our_kind != kind {
                    Outcome::Fail(format!(
                        "expected {kind} error {message:?}, got {our_kind} error {:?}",
                        e.message
                    ))
                } else if e.message == message {
                    Outcome::Pass
                } else if e.message.starts_with(message) {
                    Outcome::PassByPrefix(e.message)
                } else {
                    Outcome::Fail(format!("expected message {message:?}, got {:?}", e.message))
                }
            }
        };
    }

    let Some(result) = case.get("result") else {
        return Outcome::Fail("case has neither result nor err".into());
    };
    let kind = result.get("kind").and_then(|k| k.as_str()).unwrap_or("");
    let expected = result
        .get("value")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    match outcome {
        Err(e) => Outcome::Fail(format!(
            "expected {kind} {expected}, got error {:?}",
            e.message
        )),
        Ok(value) if value.kind_name() != kind => Outcome::Fail(format!(
            "expected {kind} {expected}, got {} {value:?}",
            value.kind_name()
        )),
        Ok(value) if !same(&value, &expected) => {
            Outcome::Fail(format!("expected {kind} {expected}, got {value:?}"))
        }
        Ok(_) => Outcome::Pass,
    }
}

/// Deep comparison; numbers compare numerically, object keys in order.
fn same(value: &Value, expected: &serde_json::Value) -> bool {
    match (value, expected) {
        (Value::Null, serde_json::Value::Null) => true,
        (Value::Bool(a), serde_json::Value::Bool(b)) => a == b,
        (Value::Number(a), serde_json::Value::Number(b)) => b.as_f64() == Some(*a),
        (Value::String(a), serde_json::Value::String(b)) => a == b,
        (Value::Array(a), serde_json::Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Value::Object(a), serde_json::Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        _ => false,
    }
}
