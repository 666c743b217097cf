//! Any text as a string with `${{ }}` parts: splitting and evaluating it must never panic.
#![no_main]
use actions_compat::expr::{template, EvalContext, ParseOptions, Value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let contexts = Value::from_json(serde_json::json!({"github": {"ref": "main"}, "env": {}}));
    let options = ParseOptions::allow_all(["github", "env"]);
    if let Ok(t) = template::Template::parse(text, &options) {
        let _ = t.evaluate(&EvalContext::new(&contexts));
    }
});
