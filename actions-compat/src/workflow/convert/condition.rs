//! `if:` conditions: GitHub reads a bare condition (`if: github.ref == 'x'`) as an expression
//! and, unless it calls a status function, runs it only after success
//! (`success() && (github.ref == 'x')`).

use crate::expr::{Expr, ExprKind};
use crate::schema::strings::check_expression;
use crate::schema::token::{Token, TokenKind};
use crate::schema::Allowed;
use crate::workflow::model::{Condition, Spanned};

const STATUS_FUNCTIONS: [&str; 4] = ["success", "failure", "cancelled", "always"];

/// The condition of a job or step, checked against what `allowed` allows. `Err` is GitHub's
/// message for an expression it refuses, to be reported at the token.
pub(crate) fn condition(token: Option<&Token>, allowed: &[Allowed]) -> Result<Condition, String> {
    let Some(token) = token else {
        return Ok(default_condition());
    };
    let (text, written) = match &token.kind {
        TokenKind::Expression(e) => (e.expr.clone(), e.source.clone()),
        TokenKind::String(s) => (s.trim().to_owned(), s.clone()),
        _ => {
            let s = token.to_display_string();
            (s.trim().to_owned(), s)
        }
    };
    let expression = if text.is_empty() {
        "success()".to_owned()
    } else {
        match check_expression(&text, allowed) {
            Ok(ast) if !calls_status_function(&ast) => format!("success() && ({text})"),
            // Either it already decides on status, or it does not parse: the check below then
            // reports the error on the condition as written.
            _ => text,
        }
    };
    check_expression(&expression, allowed)?;
    Ok(Condition {
        expression,
        written: Some(Spanned::new(written, token.line, token.col)),
    })
}

/// The condition of a job or step that has none.
pub(crate) fn default_condition() -> Condition {
    Condition {
        expression: "success()".to_owned(),
        written: None,
    }
}

/// Whether the expression calls `success()`, `failure()`, `cancelled()` or `always()` anywhere.
fn calls_status_function(ast: &Expr) -> bool {
    let mut todo = vec![ast];
    while let Some(e) = todo.pop() {
        match &e.kind {
            ExprKind::Call { name, args } => {
                if STATUS_FUNCTIONS
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case(name))
                {
                    return true;
                }
                todo.extend(args);
            }
            ExprKind::Binary { lhs, rhs, .. } => {
                todo.push(lhs);
                todo.push(rhs);
            }
            ExprKind::Not(operand) => todo.push(operand),
            ExprKind::Index { target, index } => {
                todo.push(target);
                todo.push(index);
            }
            ExprKind::Property { target, .. } | ExprKind::Wildcard { target } => todo.push(target),
            ExprKind::Null
            | ExprKind::Bool(_)
            | ExprKind::Number(_)
            | ExprKind::String(_)
            | ExprKind::NamedValue(_) => {}
        }
    }
    false
}
