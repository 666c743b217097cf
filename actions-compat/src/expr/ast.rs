//! The parsed form of an expression.

/// One node of a parsed expression, with where it starts in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    /// 1-based character position of the node's first token in the expression text, as GitHub
    /// counts it in "Located at position N within expression".
    pub pos: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    /// A context (`github`, `matrix`), as written.
    NamedValue(String),
    /// `target.name`
    Property {
        target: Box<Expr>,
        name: String,
    },
    /// `target[index]`
    Index {
        target: Box<Expr>,
        index: Box<Expr>,
    },
    /// `target.*` or `target[*]`
    Wildcard {
        target: Box<Expr>,
    },
    /// `!operand`
    Not(Box<Expr>),
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `name(args...)`, the name as written.
    Call {
        name: String,
        args: Vec<Expr>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    And,
    Or,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}
