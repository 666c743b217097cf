//! Finds GitHub's conformance data: `$HRUN_CONFORMANCE_DIR`, or `shared/conformance/languageservices`
//! beside the checkout (CI clones the project next to `shared/`).

use std::path::{Path, PathBuf};

pub fn conformance_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("HRUN_CONFORMANCE_DIR") {
        let dir = PathBuf::from(dir);
        return if dir.is_dir() {
            Ok(dir)
        } else {
            Err(format!(
                "HRUN_CONFORMANCE_DIR={} is not a directory",
                dir.display()
            ))
        };
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    for ancestor in manifest.ancestors() {
        let candidate = ancestor.join("shared/conformance/languageservices");
        if candidate.is_dir() {
            return Ok(candidate);
        }
    }
    Err(format!(
        "GitHub's conformance data was not found: looked for shared/conformance/languageservices \
         above {}; set HRUN_CONFORMANCE_DIR to its path",
        manifest.display()
    ))
}
