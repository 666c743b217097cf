//! Workflow files (`.github/workflows/*.yml`) as a typed [`Workflow`], read as GitHub reads them.
//!
//! Reading goes in three steps, each reporting every problem it finds, in GitHub's words and at
//! GitHub's positions:
//!
//! 1. [`crate::yaml`] builds the YAML tree (syntax, duplicate keys, tags, size and depth limits);
//! 2. the crate's schema reader checks it against GitHub's workflow syntax, written as our own
//!    table in `workflow/schema.rs` and `workflow/events.rs`: unknown keys, wrong types, missing
//!    required keys, and expressions where GitHub allows none or that use contexts GitHub does
//!    not allow there;
//! 3. the converter builds the [`Workflow`] and makes GitHub's remaining checks: job and step ids,
//!    `needs` (unknown jobs, cycles), `if` conditions, containers, matrices, `runs-on` groups,
//!    cron schedules and `uses` references (parsed into [`UsesRef`], which the policy gate
//!    reads from the model rather than parsing again).
//!
//! As GitHub does, a step that finds problems stops the next from running, so the errors
//! returned are those of the first step that found any.
//!
//! This module reads only the file it is given: reusable workflows a job calls are checked
//! against their definition by [`check_reusable_call`] when the caller has both.
//!
//! For running a workflow, [`graph`] orders its jobs by `needs:` and [`matrix`] expands a job's
//! `strategy:` into the jobs GitHub would run.
//!
//! ```
//! let src = "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n";
//! let workflow = actions_compat::workflow::parse(src, ".github/workflows/ci.yml").unwrap();
//! assert_eq!(workflow.jobs[0].id.value, "build");
//!
//! let errors = actions_compat::workflow::parse("on: push\n", "ci.yml").unwrap_err();
//! assert_eq!(errors.to_string(), "ci.yml (Line: 1, Col: 1): Required property is missing: jobs");
//! ```

mod convert;
mod events;
pub mod graph;
pub mod matrix;
pub mod model;
mod reusable;
pub(crate) mod schema;

pub use graph::JobGraph;
pub use matrix::{MatrixCombination, MatrixError, StrategyPlan};
pub use model::*;
pub use reusable::check_reusable_call;

pub(crate) use convert::{condition, values, Converter};

use std::path::Path;

use crate::diagnostic::{LoadError, ParseErrors};
use crate::schema::reader::read_source;
use crate::yaml;

/// How to read a workflow file.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// Size and depth limits; see [`yaml::Limits`] for the defaults.
    pub limits: yaml::Limits,
    /// Accept background steps (`background:`, `wait:`, `wait-all:`, `cancel:`). On by default:
    /// GitHub's workflow syntax documents them. GitHub's parser keeps them behind a feature flag
    /// (`allowBackgroundSteps`), which its test data sets per case, so `false` reads as it did
    /// before they were released.
    pub background_steps: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            limits: yaml::Limits::default(),
            background_steps: true,
        }
    }
}

/// Reads a workflow file's text. `file_name` names it in diagnostics (GitHub uses the path from
/// the repository root, `.github/workflows/ci.yml`).
pub fn parse(source: &str, file_name: &str) -> Result<Workflow, ParseErrors> {
    parse_with(source, file_name, &ParseOptions::default())
}

/// [`parse`] with options.
pub fn parse_with(
    source: &str,
    file_name: &str,
    options: &ParseOptions,
) -> Result<Workflow, ParseErrors> {
    let token = read_source(
        source,
        file_name,
        &options.limits,
        &schema::WORKFLOW_ROOT,
        options.background_steps,
    )?;
    let mut converter = Converter::new(file_name);
    let workflow = converter.workflow(&token);
    if !converter.errors.is_empty() {
        return Err(ParseErrors(converter.errors));
    }
    Ok(workflow)
}

/// Reads a workflow file from disk; diagnostics name it by `path` as given.
pub fn parse_file(path: &Path) -> Result<Workflow, LoadError> {
    crate::diagnostic::parse_file(path, parse)
}

#[cfg(test)]
mod tests;
