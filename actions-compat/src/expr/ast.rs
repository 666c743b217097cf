//! The parsed form of an expression, and its canonical text.

use super::lexer::is_legal_keyword;
use super::number::format_g15;
use std::fmt;

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

impl BinaryOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::And => "&&",
            BinaryOp::Or => "||",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
        }
    }
}

/// The expression in GitHub's canonical form (what the runner logs as "Evaluating: ..." and quotes
/// in its memory-limit error): literals normalised, `&&`/`||` chains and comparisons parenthesised,
/// `x['name']` written `x.name`.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Null => f.write_str("null"),
            ExprKind::Bool(b) => write!(f, "{b}"),
            ExprKind::Number(n) => f.write_str(&format_g15(*n)),
            ExprKind::String(s) => write_quoted(f, s),
            ExprKind::NamedValue(name) => f.write_str(name),
            ExprKind::Property { target, name } => write_member(f, target, name),
            ExprKind::Index { target, index } => match &index.kind {
                ExprKind::String(s) => write_member(f, target, s),
                _ => write!(f, "{target}[{index}]"),
            },
            ExprKind::Wildcard { target } => write!(f, "{target}.*"),
            ExprKind::Not(operand) => write!(f, "!{operand}"),
            ExprKind::Binary { op, lhs, rhs } => match op {
                BinaryOp::And | BinaryOp::Or => {
                    f.write_str("(")?;
                    for (i, arg) in self.logical_operands(*op).iter().enumerate() {
                        if i > 0 {
                            write!(f, " {} ", op.symbol())?;
                        }
                        write!(f, "{arg}")?;
                    }
                    f.write_str(")")
                }
                _ => write!(f, "({lhs} {} {rhs})", op.symbol()),
            },
            ExprKind::Call { name, args } => {
                write!(f, "{name}(")?;
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{arg}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl Expr {
    /// The operands of a chain of `op` (`&&` or `||`) rooted here, left to right: GitHub treats
    /// `a && (b && c)` as one `&&` of three operands. Anything else is its own single operand.
    pub(crate) fn logical_operands(&self, op: BinaryOp) -> Vec<&Expr> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            match &e.kind {
                ExprKind::Binary { op: o, lhs, rhs } if *o == op => {
                    stack.push(rhs);
                    stack.push(lhs);
                }
                _ => out.push(e),
            }
        }
        out
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    write!(f, "'{}'", s.replace('\'', "''"))
}

fn write_member(f: &mut fmt::Formatter<'_>, target: &Expr, name: &str) -> fmt::Result {
    if is_legal_keyword(name) {
        write!(f, "{target}.{name}")
    } else {
        write!(f, "{target}[")?;
        write_quoted(f, name)?;
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use crate::expr::{parse, ParseOptions};

    fn canonical(source: &str) -> String {
        let options = ParseOptions::allow_all(["github", "foo"]);
        match parse(source, &options) {
            Ok(expr) => expr.to_string(),
            Err(e) => panic!("{source}: {e}"),
        }
    }

    #[test]
    fn prints_the_canonical_form_github_logs() {
        assert_eq!(canonical("github['sha']"), "github.sha");
        assert_eq!(canonical("github['a b']"), "github['a b']");
        assert_eq!(canonical("foo[*].x"), "foo.*.x");
        assert_eq!(
            canonical("github.a == 1 && (foo.b || 'x''y') && !foo"),
            "((github.a == 1) && (foo.b || 'x''y') && !foo)"
        );
        assert_eq!(
            canonical("format('{0}', 1.50, null)"),
            "format('{0}', 1.5, null)"
        );
    }
}
