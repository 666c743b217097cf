//! The policy gate that `hrun lint` runs before anything is allowed to run.
//!
//! It reads workflow and action files and applies the built-in rules ([`BuiltinRule`]: no
//! `pull_request_target` trigger, every `uses:` pinned to a commit SHA or image digest, no
//! attacker-controlled event text expanded into a script), then the repository's custom Rego
//! rules ([`rego`]), adjusted by its policy file ([`Policy`]). The result is a [`LintReport`]
//! whose [`LintReport::exit_code`] is 0 (nothing denied), 1 (denied by policy) or 2 (could not
//! evaluate), and which renders as text, JSON or SARIF ([`OutputFormat`]).
//!
//! ```no_run
//! use actions_compat::policy::{lint_paths, LintOptions, OutputFormat};
//! let report = lint_paths(&[".".into()], &LintOptions::default());
//! print!("{}", report.render(OutputFormat::Human));
//! std::process::exit(report.exit_code().into());
//! ```
//!
//! This module reads the files it is pointed at and nothing else; it never runs anything.

pub mod checks;
pub mod discover;
pub mod extract;
pub mod finding;
pub mod injection;
mod lint;
pub mod policy_file;
pub mod rego;
mod render;
pub mod report;
pub mod rules;
#[cfg(test)]
mod test_tree;

pub use discover::{FileKind, LintTarget};
pub use finding::{Finding, Location, Severity};
pub use lint::{lint_paths, LintOptions};
pub use policy_file::{Policy, PolicyFileError, POLICY_FILE_PATH};
pub use rego::{RegoError, RegoPolicy};
pub use render::{OutputFormat, RenderOptions, UnknownFormat};
pub use report::{LintError, LintReport, Outcome, SourceFile};
pub use rules::{BuiltinRule, RuleInfo};
