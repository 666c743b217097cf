//! What the reader produces: the YAML tree with scalars typed by the core schema and strings that
//! hold `${{ }}` turned into expressions.

use crate::expr::Value;

/// One value with its 1-based position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub line: usize,
    pub col: usize,
    pub kind: TokenKind,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Expression(ExprToken),
    Sequence(Vec<Token>),
    /// Keys are strings or expressions.
    Mapping(Vec<(Token, Token)>),
}

/// A value computed when the workflow runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExprToken {
    /// The expression to evaluate: the text inside `${{ }}` when it is the whole value, or a
    /// `format(...)` call joining the literal parts and the expressions when it is embedded in a
    /// string, as GitHub builds it.
    pub expr: String,
    /// The string as written, with its `${{ }}`.
    pub source: String,
    /// `${{ insert }}`: the directive that inserts a mapping's entries in place.
    pub insert: bool,
    /// The context paths the expressions read (`github.event.issue.title`).
    pub paths: Vec<String>,
}

impl Token {
    pub fn new(line: usize, col: usize, kind: TokenKind) -> Token {
        Token { line, col, kind }
    }

    pub fn is_expression(&self) -> bool {
        matches!(self.kind, TokenKind::Expression(_))
    }

    /// The string, if this token is one.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            TokenKind::String(s) => Some(s),
            _ => None,
        }
    }

    /// How a literal reads as a string: null is empty, booleans are `true`/`false`, numbers are
    /// written as GitHub writes them (`3.10` is `3.1`, `1e20` is `1E+20`). Expressions read as
    /// written.
    pub fn to_display_string(&self) -> String {
        match &self.kind {
            TokenKind::Null => String::new(),
            TokenKind::Bool(b) => b.to_string(),
            TokenKind::Number(n) => Value::Number(*n).to_expr_string(),
            TokenKind::String(s) => s.clone(),
            TokenKind::Expression(e) => e.source.clone(),
            TokenKind::Sequence(_) => "Sequence".to_owned(),
            TokenKind::Mapping(_) => "Mapping".to_owned(),
        }
    }

    /// The same token as a string literal, for a literal read where a string is wanted.
    pub fn into_string_token(self) -> Token {
        let text = self.to_display_string();
        Token::new(self.line, self.col, TokenKind::String(text))
    }
}
