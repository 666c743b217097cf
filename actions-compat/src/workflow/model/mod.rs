//! The typed workflow: what a workflow file says, with the position of every value.
//!
//! Values that may be computed when the workflow runs are [`Templated`]: either the literal
//! written in the file or the [`Expression`] to evaluate. Values that GitHub never lets an
//! expression compute (step `uses`, job ids, event filters...) are [`Spanned`] literals.
//!
//! Everything here serializes to JSON (field names as in Rust, `snake_case`), which is what
//! `hrun parse` prints and what the policy gate gives Rego as `input`:
//!
//! - a [`Spanned`] value is `{"value": V, "line": L, "col": C}`;
//! - a [`Templated`] value is `{"line": L, "col": C, "value": V}` when literal and
//!   `{"line": L, "col": C, "expression": "github.sha", "source": "${{ github.sha }}",
//!   "paths": ["github.sha"]}` when computed, so `expression` tells the two apart without
//!   ambiguity.

mod job;
mod on;
mod step;
mod uses_ref;

pub use job::{
    CallSecrets, Concurrency, Condition, Container, Credentials, Defaults, Environment, Job,
    JobKind, Matrix, PermissionLevel, PermissionScope, Permissions, ReusableWorkflowCall,
    RunDefaults, RunnerJob, RunsOn, Snapshot, Strategy,
};
pub use on::{
    DispatchInput, EventConfig, InputType, On, Schedule, WorkflowCallInput, WorkflowCallOutput,
    WorkflowCallSecret, WorkflowCallTrigger, WorkflowDispatch,
};
pub use step::{Step, StepKind};
pub use uses_ref::{
    CommitSha, DockerImageRef, GitRef, PinStatus, RepositoryRef, Sha256Digest, UsesRef,
    UsesRefError,
};

use indexmap::IndexMap;
use serde::Serialize;

/// A parsed workflow file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workflow {
    /// The file name given to the parser, as it appears in diagnostics.
    pub file: String,
    pub name: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    pub run_name: Option<Templated<String>>,
    pub on: On,
    pub permissions: Option<Spanned<Permissions>>,
    pub env: Option<Templated<Env>>,
    pub defaults: Option<Defaults>,
    pub concurrency: Option<Templated<Concurrency>>,
    /// In the order written.
    pub jobs: Vec<Job>,
}

/// Environment variables (or any name-to-string map: `with:`, `outputs:`), in the order written.
/// A key written as an expression (`${{ insert }}`) is kept as written.
pub type Env = IndexMap<String, Templated<String>>;

/// A literal value and where it was written (1-based line and column, in characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Spanned<T> {
    pub value: T,
    pub line: usize,
    pub col: usize,
}

/// A value as written at a position: a literal, or an expression evaluated when the workflow
/// runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Templated<T> {
    pub line: usize,
    pub col: usize,
    #[serde(flatten)]
    pub value: OrExpr<T>,
}

/// A literal of type `T`, or an expression that computes one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum OrExpr<T> {
    Literal { value: T },
    Expression(Expression),
}

/// An expression to evaluate when the workflow runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expression {
    /// The expression: the text inside `${{ }}` when it is the whole value, or the `format(...)`
    /// call GitHub builds when expressions are embedded in a string
    /// (`echo ${{ github.sha }}` is `format('echo {0}', github.sha)`).
    pub expression: String,
    /// The value as written, with its `${{ }}`.
    pub source: String,
    /// The context paths the expression reads, as the expression engine lists them
    /// ([`crate::expr::Expr::context_paths`]): `github.event.issue.title`,
    /// `github.event.commits.*.message`. What policy rules look at to find untrusted input.
    pub paths: Vec<String>,
}

/// Any value: where GitHub accepts any YAML (matrix values, `with:` of reusable workflows).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Sequence(Vec<Templated<Value>>),
    Mapping(IndexMap<String, Templated<Value>>),
}

impl<T> Spanned<T> {
    pub fn new(value: T, line: usize, col: usize) -> Self {
        Spanned { value, line, col }
    }
}

impl<T> Templated<T> {
    pub fn literal(value: T, line: usize, col: usize) -> Self {
        Templated {
            line,
            col,
            value: OrExpr::Literal { value },
        }
    }

    pub fn expression(expression: Expression, line: usize, col: usize) -> Self {
        Templated {
            line,
            col,
            value: OrExpr::Expression(expression),
        }
    }

    /// The literal, if the value is not computed.
    pub fn as_literal(&self) -> Option<&T> {
        match &self.value {
            OrExpr::Literal { value } => Some(value),
            OrExpr::Expression(_) => None,
        }
    }

    /// The expression, if the value is computed.
    pub fn as_expression(&self) -> Option<&Expression> {
        match &self.value {
            OrExpr::Literal { .. } => None,
            OrExpr::Expression(e) => Some(e),
        }
    }
}
