//! Action definitions (`action.yml` / `action.yaml`) as a typed [`Action`]: JavaScript, Docker
//! and composite actions, with the same diagnostics as workflow files.
//!
//! Read in the same three steps as workflows ([`crate::workflow`]): YAML, schema, conversion.
//! Composite steps are [`crate::workflow::Step`]s, checked like a job's steps (ids, `if`, `uses`).
//!
//! ```
//! use actions_compat::action::{self, RunsKind};
//! let src = "name: hello\ndescription: says hello\nruns:\n  using: node20\n  main: index.js\n";
//! let action = action::parse(src, "action.yml").unwrap();
//! assert!(matches!(action.runs.kind, RunsKind::Node(_)));
//! ```

mod convert;
mod model;
mod schema;

pub use model::{
    Action, ActionInput, ActionOutput, Branding, CompositeRuns, DockerRuns, NodeRuns, NodeVersion,
    Runs, RunsKind,
};

use std::path::Path;

use crate::diagnostic::{LoadError, ParseErrors};
use crate::schema::reader::read_source;
use crate::workflow::ParseOptions;

/// Reads an action file's text; `file_name` names it in diagnostics.
pub fn parse(source: &str, file_name: &str) -> Result<Action, ParseErrors> {
    parse_with(source, file_name, &ParseOptions::default())
}

/// [`parse`] with options (limits; background steps do not apply to actions).
pub fn parse_with(
    source: &str,
    file_name: &str,
    options: &ParseOptions,
) -> Result<Action, ParseErrors> {
    let token = read_source(
        source,
        file_name,
        &options.limits,
        &schema::ACTION_ROOT,
        false,
    )?;
    convert::action(&token, file_name)
}

/// Reads an action file from disk; diagnostics name it by `path` as given.
pub fn parse_file(path: &Path) -> Result<Action, LoadError> {
    crate::diagnostic::parse_file(path, parse)
}

#[cfg(test)]
mod tests;
