//! Errors from lexing, parsing and evaluating expressions.

/// Which stage refused the expression; the names match GitHub's test data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExprErrorKind {
    Lexing,
    Parsing,
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

impl ExprError {
    pub(crate) fn not_built(source: &str) -> Self {
        ExprError {
            kind: ExprErrorKind::Parsing,
            message: format!("the expression engine is not built yet: cannot parse {source:?}"),
            position: None,
        }
    }
}
