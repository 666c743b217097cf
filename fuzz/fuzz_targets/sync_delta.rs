//! Any bytes as a delta's tar stream, applied to a scratch directory: never a panic, a hang or
//! a write outside that directory.
#![no_main]
use std::path::PathBuf;

use hermetic::vm::sync::{apply_tar, ApplyOptions};
use libfuzzer_sys::fuzz_target;

fn scratch() -> PathBuf {
    std::env::temp_dir().join(format!("hrun-fuzz-sync-{}", std::process::id()))
}

fuzz_target!(|data: &[u8]| {
    let base = scratch();
    let _ = std::fs::remove_dir_all(&base);
    let root = base.join("root");
    if std::fs::create_dir_all(&root).is_err() {
        return;
    }
    let options = ApplyOptions {
        owner: None,
        max_bytes: 1 << 20,
        max_entries: 1000,
    };
    let _ = apply_tar(&root, data, &options);
    // Nothing may appear beside the root.
    let beside: Vec<_> = std::fs::read_dir(&base)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(beside, vec![std::ffi::OsString::from("root")]);
});
