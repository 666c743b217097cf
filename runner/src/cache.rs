//! Where Hermetic Runner keeps what outlives a run (action store, guest images, downloads):
//! `$HRUN_CACHE`, or `$HOME/.cache/hrun` when it is unset or empty.

use std::path::PathBuf;

/// The cache directory, or `None` when neither `HRUN_CACHE` nor `HOME` is set.
pub fn cache_dir() -> Option<PathBuf> {
    let non_empty = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = non_empty("HRUN_CACHE") {
        return Some(PathBuf::from(dir));
    }
    non_empty("HOME").map(|home| PathBuf::from(home).join(".cache/hrun"))
}
