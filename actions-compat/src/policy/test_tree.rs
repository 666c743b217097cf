//! A scratch directory tree for tests that read files, removed when dropped.

use std::path::{Path, PathBuf};

pub struct TestTree {
    root: PathBuf,
}

impl TestTree {
    /// A fresh, empty directory named for the test and the process.
    pub fn new(name: &str) -> TestTree {
        let root = std::env::temp_dir().join(format!("hrun-policy-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("create test tree");
        TestTree { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes `text` at `relative`, creating directories.
    pub fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.root.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&path, text).expect("write file");
        path
    }
}

impl Drop for TestTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
