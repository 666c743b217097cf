//! Any text as an expression, parsed and, when it parses, evaluated against a small fixed set of
//! contexts: never a panic, a hang or unbounded memory.
#![no_main]
use actions_compat::expr::{self, EvalContext, ParseOptions, Value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let contexts = Value::from_json(serde_json::json!({
        "github": {"event": {"issue": {"title": "t", "labels": [{"name": "bug"}]}}, "ref": "refs/heads/main"},
        "matrix": {"os": ["linux", "mac"], "n": 3},
        "env": {"A": "1"}
    }));
    let options = ParseOptions::allow_all(["github", "matrix", "env"]);
    if let Ok(ast) = expr::parse(text, &options) {
        let _ = expr::evaluate(&ast, &EvalContext::new(&contexts));
    }
});
