//! What the policy gate reports: a [`Finding`] says which rule fired, how severe it is, where in
//! which file, and what to do about it.

use serde::Serialize;
use std::fmt;
use std::path::PathBuf;

/// How a finding weighs on the gate's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The workflow must not run: `hrun lint` exits 1.
    Deny,
    /// Reported, but does not fail the gate.
    Warn,
}

impl Severity {
    /// The word the human report puts before the rule id (`error[...]`, `warning[...]`).
    pub fn label(self) -> &'static str {
        match self {
            Severity::Deny => "error",
            Severity::Warn => "warning",
        }
    }
}

/// A position in a file the gate read: 1-based line and column (column counted in characters).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The file as it was found (relative to where `hrun lint` ran when given a relative path).
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
}

impl Location {
    pub fn new(file: impl Into<PathBuf>, line: usize, col: usize) -> Self {
        Location {
            file: file.into(),
            line,
            col,
        }
    }

    /// The start of a file, for findings about a whole document.
    pub fn start_of(file: impl Into<PathBuf>) -> Self {
        Location::new(file, 1, 1)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// One rule firing at one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// A built-in rule's id (`unpinned-uses`) or a custom one's (`rego/...`).
    pub rule_id: String,
    /// The severity after the policy file's overrides.
    pub severity: Severity,
    pub message: String,
    pub location: Location,
    /// What to do about it, one sentence.
    pub help: String,
}
