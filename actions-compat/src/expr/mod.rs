//! The `${{ }}` expression language.
//!
//! Written by hand: no maintained crate implements GitHub's expression grammar with its coercion
//! rules, case-insensitive comparison and error messages, and we must match them exactly (the
//! conformance test runs GitHub's own cases against this module).
//!
//! The public surface, which the workflow parser, the policy gate and the job engine depend on:
//! - [`parse`] turns an expression's text into an [`Expr`], checking that every named value
//!   (context) and function is allowed where the expression stands ([`ParseOptions`]).
//! - [`evaluate`] computes an [`Expr`] to a [`Value`] against the contexts in an [`EvalContext`].
//! - [`template`] splits a string holding `${{ }}` parts and evaluates it.

mod ast;
mod error;
pub mod template;
mod value;

pub use ast::{BinaryOp, Expr, ExprKind};
pub use error::{ExprError, ExprErrorKind};
pub use value::Value;

/// A function that a [`ParseOptions`] allows besides the built-in ones, with its arity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSig {
    /// The name as GitHub spells it (`hashFiles`, `success`); matched case-insensitively.
    pub name: String,
    pub min_args: usize,
    pub max_args: usize,
}

/// What an expression may refer to where it stands.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// Named values (contexts) allowed, e.g. `github`, `matrix`; matched case-insensitively.
    pub named_values: Vec<String>,
    /// Functions allowed besides the always-available built-ins (`contains`, `format`, ...):
    /// the status functions and `hashFiles` are allowed only in some places.
    pub functions: Vec<FunctionSig>,
    /// Largest nesting depth accepted before a parse error (guards the stack against hostile input).
    pub max_depth: usize,
}

impl ParseOptions {
    /// Options that allow the given named values and only the always-available functions.
    pub fn with_named_values<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ParseOptions {
            named_values: names.into_iter().map(Into::into).collect(),
            functions: Vec::new(),
            max_depth: 50,
        }
    }
}

/// What an evaluation reads: the contexts and the job's state for the status functions.
#[derive(Debug, Clone)]
pub struct EvalContext<'a> {
    /// An object whose keys are the context names (`github`, `env`, ...).
    pub contexts: &'a Value,
    /// The state that `success()`, `failure()`, `cancelled()` report.
    pub status: JobStatus,
    /// The workspace directory `hashFiles` reads; `None` makes `hashFiles` an evaluation error.
    pub workspace: Option<&'a std::path::Path>,
}

impl<'a> EvalContext<'a> {
    pub fn new(contexts: &'a Value) -> Self {
        EvalContext {
            contexts,
            status: JobStatus::default(),
            workspace: None,
        }
    }
}

/// The state of the job (or composite action) that the status functions look at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum JobStatus {
    #[default]
    Success,
    Failure,
    Cancelled,
}

/// Parses an expression (without the `${{ }}` around it).
pub fn parse(source: &str, options: &ParseOptions) -> Result<Expr, ExprError> {
    let _ = options;
    Err(ExprError::not_built(source))
}

/// Evaluates a parsed expression.
pub fn evaluate(expr: &Expr, ctx: &EvalContext<'_>) -> Result<Value, ExprError> {
    let _ = (expr, ctx);
    Err(ExprError::not_built(""))
}
