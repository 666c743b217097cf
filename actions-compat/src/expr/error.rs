//! Errors from lexing, parsing and evaluating expressions, worded as GitHub words them.

use std::fmt;

/// Which stage refused the expression; the names match GitHub's test data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExprErrorKind {
    /// A token is malformed: an unclosed string, a bad number, an illegal identifier or operator.
    Lexing,
    /// The tokens do not form an expression, or name a context or function not allowed here.
    Parsing,
    /// The expression parsed but computing it failed (bad `format` string, memory limit, ...).
    Evaluation,
}

/// An expression error. `message` is GitHub's wording, e.g. "Unexpected symbol: '2'. Located at
/// position 3 within expression: 1 2".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub kind: ExprErrorKind,
    pub message: String,
    /// 1-based character position in the expression, where the error has one.
    pub position: Option<usize>,
}

/// What a parse error is about; each maps to GitHub's description of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParseProblem {
    UnexpectedSymbol,
    UnexpectedEnd,
    UnrecognizedNamedValue,
    UnrecognizedFunction,
    TooFewParameters,
    TooManyParameters,
    EvenParameters,
}

impl fmt::Display for ParseProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseProblem::UnexpectedSymbol => "Unexpected symbol",
            ParseProblem::UnexpectedEnd => "Unexpected end of expression",
            ParseProblem::UnrecognizedNamedValue => "Unrecognized named-value",
            ParseProblem::UnrecognizedFunction => "Unrecognized function",
            ParseProblem::TooFewParameters => "Too few parameters supplied",
            ParseProblem::TooManyParameters => "Too many parameters supplied",
            ParseProblem::EvenParameters => {
                "Even number of parameters supplied, requires an odd number of parameters"
            }
        })
    }
}

impl ExprError {
    /// An error about one token: "{problem}: '{raw}'. Located at position {pos} within expression:
    /// {source}". `position` is 1-based, in UTF-16 code units as GitHub counts.
    pub(crate) fn at_token(
        kind: ExprErrorKind,
        problem: ParseProblem,
        raw: &str,
        position: usize,
        source: &str,
    ) -> Self {
        ExprError {
            kind,
            message: format!(
                "{problem}: '{raw}'. Located at position {position} within expression: {source}"
            ),
            position: Some(position),
        }
    }

    pub(crate) fn max_depth(max: usize) -> Self {
        ExprError {
            kind: ExprErrorKind::Parsing,
            message: format!("Exceeded max expression depth {max}"),
            position: None,
        }
    }

    pub(crate) fn max_length(max: usize) -> Self {
        ExprError {
            kind: ExprErrorKind::Parsing,
            message: format!("Exceeded max expression length {max}"),
            position: None,
        }
    }

    pub(crate) fn evaluation(message: impl Into<String>) -> Self {
        ExprError {
            kind: ExprErrorKind::Evaluation,
            message: message.into(),
            position: None,
        }
    }

    /// GitHub's memory-limit error; `expression` is the canonical text of the node that overran.
    pub(crate) fn memory_exceeded(expression: &str) -> Self {
        ExprError::evaluation(format!(
            "The maximum allowed memory size was exceeded while evaluating the following expression: {expression}"
        ))
    }
}
