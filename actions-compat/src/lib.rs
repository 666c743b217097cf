//! GitHub Actions' workflow language, read exactly as GitHub reads it.
//!
//! This crate is pure: apart from reading the files it is asked to read it does no I/O, starts no
//! process and knows nothing of how or where a job runs. Everything else in Hermetic Runner sees
//! workflows through it:
//!
//! - [`yaml`]: a YAML tree in which every node keeps its file, line and column, built on
//!   `saphyr-parser`, with the YAML 1.2 core schema and limits against hostile documents.
//! - [`diagnostic`]: errors about a user's file, `FILE (Line: L, Col: C): MESSAGE`, and their
//!   rustc-style rendering with the quoted line and a caret ([`source_text`] finds the line).
//! - [`expr`]: the `${{ }}` expression language: lexer, parser, evaluator, functions, templates.
//! - [`workflow`] and [`action`]: workflow files and `action.yml` as typed models, with GitHub's
//!   errors (file:line:col) for unknown keys, wrong types and expressions where none are allowed.
//!   [`workflow::graph`] orders a workflow's jobs by `needs:` and [`workflow::matrix`] expands a
//!   job's `strategy:` into the jobs GitHub would run, for the engine to plan with.
//! - [`policy`]: the policy gate that `hrun lint` runs before anything is allowed to run.
//! - [`commands`]: workflow commands in a step's output (`::set-output::`, `::add-mask::`, ...)
//!   and the environment files (`GITHUB_ENV`, `GITHUB_OUTPUT`, ...) a step writes.
//!
//! ```
//! use actions_compat::expr::{self, ParseOptions, Value};
//! let opts = ParseOptions::with_named_values(["github"]);
//! let ast = expr::parse("github.event_name == 'PUSH'", &opts).unwrap();
//! let contexts = Value::from_json(serde_json::json!({"github": {"event_name": "push"}}));
//! let value = expr::evaluate(&ast, &expr::EvalContext::new(&contexts)).unwrap();
//! assert_eq!(value, Value::Bool(true));
//! ```

pub mod action;
pub mod commands;
pub mod diagnostic;
pub mod expr;
pub mod policy;
pub(crate) mod schema;
pub mod source_text;
pub mod workflow;
pub mod yaml;
