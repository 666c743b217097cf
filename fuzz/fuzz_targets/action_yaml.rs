//! Any bytes as an `action.yml`: parsing must return an action or errors, never panic or hang.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = actions_compat::action::parse(text, "action.yml");
    }
});
