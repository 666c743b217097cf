//! Any bytes as a workflow file: parsing must return a workflow or errors, never panic or hang.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = actions_compat::workflow::parse(text, ".github/workflows/fuzz.yml");
    }
});
