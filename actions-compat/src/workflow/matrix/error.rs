//! Why a strategy could not be expanded, in GitHub's words where GitHub has words for it.
//!
//! Every error carries the 1-based line and column of the value it is about: the value as
//! written, or the `${{ }}` expression that computed it.

use crate::diagnostic::Diagnostic;
use crate::expr::{ExprError, Value};

/// A strategy that cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatrixError {
    /// An expression in the strategy does not parse (a context the strategy may not read, such
    /// as `matrix` or `secrets`) or fails to evaluate (`fromJSON` of text that is not JSON).
    #[error("{error}")]
    Expression {
        /// The expression as evaluated (the text inside `${{ }}`).
        expression: String,
        error: ExprError,
        line: usize,
        col: usize,
    },
    /// A value of the wrong kind, typically computed by an expression: `what` names the place
    /// and `expected`/`found` the kinds, as GitHub's template reader names them.
    #[error("Unexpected type '{found}' encountered while reading '{what}'. The type '{expected}' was expected.")]
    UnexpectedType {
        what: &'static str,
        expected: &'static str,
        found: &'static str,
        line: usize,
        col: usize,
    },
    /// A key a strategy computed by an expression may not have.
    #[error("Unexpected value '{key}'")]
    UnexpectedKey {
        key: String,
        line: usize,
        col: usize,
    },
    /// A vector with no values.
    #[error("Matrix vector '{name}' does not contain any values")]
    EmptyVector {
        name: String,
        line: usize,
        col: usize,
    },
    /// A matrix with neither a vector nor an `include` entry.
    #[error("Matrix must define at least one vector")]
    NoVectors { line: usize, col: usize },
    /// Two keys that differ only in case (GitHub's keys ignore case), from an expression.
    #[error("'{key}' is already defined")]
    DuplicateKey {
        key: String,
        line: usize,
        col: usize,
    },
    /// An `include` entry with no keys.
    #[error("Matrix include mapping does not contain any values")]
    EmptyInclude { line: usize, col: usize },
    /// An `exclude` entry with no keys.
    #[error("Matrix exclude filter must not be empty")]
    EmptyExclude { line: usize, col: usize },
    /// An `exclude` entry naming a key that is not a vector.
    #[error("Matrix exclude key '{key}' does not match any key within the matrix")]
    UnknownExcludeKey {
        key: String,
        line: usize,
        col: usize,
    },
    /// More than [`super::MAX_CONFIGURATIONS`] jobs. `job` is the job's id when known.
    #[error("{}", too_many(.job.as_deref(), *.count))]
    TooManyConfigurations {
        job: Option<String>,
        count: usize,
        line: usize,
        col: usize,
    },
    /// A matrix larger than hrun walks through: its vectors combine into more than
    /// [`super::MAX_CROSS_PRODUCT`] configurations, or they and the `include` and `exclude`
    /// entries make more than [`super::MAX_COMPARISONS`] comparisons. GitHub has no such limit of
    /// its own, but no exclude list brings such a matrix down to 256 jobs.
    #[error("The matrix is too large to expand: its vectors combine into more than {} configurations, or its include and exclude entries are too many for its size", super::MAX_CROSS_PRODUCT)]
    TooLargeToExpand { line: usize, col: usize },
    /// A value nested deeper than [`super::MAX_VALUE_DEPTH`] levels.
    #[error("A matrix value is nested more than {limit} levels deep")]
    TooDeep {
        limit: usize,
        line: usize,
        col: usize,
    },
}

fn too_many(job: Option<&str>, count: usize) -> String {
    let max = super::MAX_CONFIGURATIONS;
    match job {
        Some(job) => format!(
            "Strategy for job '{job}' produced {count} configurations which exceeds the maximum of {max} configurations"
        ),
        None => format!(
            "Strategy produced {count} configurations which exceeds the maximum of {max} configurations"
        ),
    }
}

impl MatrixError {
    /// The 1-based line of the value the error is about.
    pub fn line(&self) -> usize {
        self.position().0
    }

    /// The 1-based column of the value the error is about.
    pub fn col(&self) -> usize {
        self.position().1
    }

    fn position(&self) -> (usize, usize) {
        match self {
            MatrixError::Expression { line, col, .. }
            | MatrixError::UnexpectedType { line, col, .. }
            | MatrixError::UnexpectedKey { line, col, .. }
            | MatrixError::EmptyVector { line, col, .. }
            | MatrixError::NoVectors { line, col }
            | MatrixError::DuplicateKey { line, col, .. }
            | MatrixError::EmptyInclude { line, col }
            | MatrixError::EmptyExclude { line, col }
            | MatrixError::UnknownExcludeKey { line, col, .. }
            | MatrixError::TooManyConfigurations { line, col, .. }
            | MatrixError::TooLargeToExpand { line, col }
            | MatrixError::TooDeep { line, col, .. } => (*line, *col),
        }
    }

    /// The error as a diagnostic about `file` (`FILE (Line: L, Col: C): MESSAGE`).
    pub fn to_diagnostic(&self, file: &str) -> Diagnostic {
        Diagnostic::new(file, self.line(), self.col(), self.to_string())
    }
}

/// GitHub's name for the kind of token a value would be.
pub(super) fn token_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "NullToken",
        Value::Bool(_) => "BooleanToken",
        Value::Number(_) => "NumberToken",
        Value::String(_) => "StringToken",
        Value::Array(_) => "SequenceToken",
        Value::Object(_) => "MappingToken",
    }
}
