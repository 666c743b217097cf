//! Reading checked tokens as model values. The reader has already checked every token against
//! the schema, so these conversions only map shapes; where a shape the schema rules out turns
//! up anyway they fall back to a neutral value rather than fail.

use indexmap::IndexMap;

use crate::schema::token::{ExprToken, Token, TokenKind};
use crate::workflow::model::{Env, Expression, Spanned, Templated, Value};

pub(crate) fn expression(e: &ExprToken) -> Expression {
    Expression {
        expression: e.expr.clone(),
        source: e.source.clone(),
        paths: e.paths.clone(),
    }
}

/// The entries of a mapping token (none for any other token).
pub(crate) fn entries(t: &Token) -> &[(Token, Token)] {
    match &t.kind {
        TokenKind::Mapping(entries) => entries,
        _ => &[],
    }
}

/// The items of a sequence token (none for any other token).
pub(crate) fn items(t: &Token) -> &[Token] {
    match &t.kind {
        TokenKind::Sequence(items) => items,
        _ => &[],
    }
}

/// A key as a string: its text, or an expression key as written.
pub(crate) fn key_text(key: &Token) -> String {
    key.to_display_string()
}

/// The value of the entry with key `name`.
pub(crate) fn get<'t>(t: &'t Token, name: &str) -> Option<&'t Token> {
    entries(t)
        .iter()
        .find(|(k, _)| k.as_str() == Some(name))
        .map(|(_, v)| v)
}

pub(crate) fn spanned_string(t: &Token) -> Spanned<String> {
    Spanned::new(t.to_display_string(), t.line, t.col)
}

pub(crate) fn string(t: &Token) -> Templated<String> {
    match &t.kind {
        TokenKind::Expression(e) => Templated::expression(expression(e), t.line, t.col),
        _ => Templated::literal(t.to_display_string(), t.line, t.col),
    }
}

/// A boolean; a literal that is not one reads as `false`.
pub(crate) fn boolean(t: &Token) -> Templated<bool> {
    match &t.kind {
        TokenKind::Expression(e) => Templated::expression(expression(e), t.line, t.col),
        TokenKind::Bool(b) => Templated::literal(*b, t.line, t.col),
        _ => Templated::literal(false, t.line, t.col),
    }
}

/// A number; a literal that is not one reads as NaN.
pub(crate) fn number(t: &Token) -> Templated<f64> {
    match &t.kind {
        TokenKind::Expression(e) => Templated::expression(expression(e), t.line, t.col),
        TokenKind::Number(n) => Templated::literal(*n, t.line, t.col),
        _ => Templated::literal(f64::NAN, t.line, t.col),
    }
}

/// Any value, as written.
pub(crate) fn value(t: &Token) -> Templated<Value> {
    let literal = |v| Templated::literal(v, t.line, t.col);
    match &t.kind {
        TokenKind::Expression(e) => Templated::expression(expression(e), t.line, t.col),
        TokenKind::Null => literal(Value::Null),
        TokenKind::Bool(b) => literal(Value::Bool(*b)),
        TokenKind::Number(n) => literal(Value::Number(*n)),
        TokenKind::String(s) => literal(Value::String(s.clone())),
        TokenKind::Sequence(items) => literal(Value::Sequence(items.iter().map(value).collect())),
        TokenKind::Mapping(entries) => literal(Value::Mapping(
            entries
                .iter()
                .map(|(k, v)| (key_text(k), value(v)))
                .collect(),
        )),
    }
}

/// A literal scalar as a value.
pub(crate) fn scalar_value(t: &Token) -> Spanned<Value> {
    let v = match &t.kind {
        TokenKind::Bool(b) => Value::Bool(*b),
        TokenKind::Number(n) => Value::Number(*n),
        TokenKind::Null => Value::Null,
        _ => Value::String(t.to_display_string()),
    };
    Spanned::new(v, t.line, t.col)
}

/// A map of values (reusable-workflow `with:` and `secrets:`).
pub(crate) fn value_map(t: &Token) -> IndexMap<String, Templated<Value>> {
    entries(t)
        .iter()
        .map(|(k, v)| (key_text(k), value(v)))
        .collect()
}

/// A name-to-string map, or an expression computing one.
pub(crate) fn env(t: &Token) -> Templated<Env> {
    match &t.kind {
        TokenKind::Expression(e) => Templated::expression(expression(e), t.line, t.col),
        _ => Templated::literal(string_map(t), t.line, t.col),
    }
}

/// A name-to-string map.
pub(crate) fn string_map(t: &Token) -> Env {
    entries(t)
        .iter()
        .map(|(k, v)| (key_text(k), string(v)))
        .collect()
}

/// A string or a sequence of strings, as a list.
pub(crate) fn string_list(t: &Token) -> Vec<Spanned<String>> {
    match &t.kind {
        TokenKind::Sequence(items) => items.iter().map(spanned_string).collect(),
        _ => vec![spanned_string(t)],
    }
}

/// A sequence of strings, or an expression computing one.
pub(crate) fn templated_string_list(t: &Token) -> Templated<Vec<Templated<String>>> {
    match &t.kind {
        TokenKind::Expression(e) => Templated::expression(expression(e), t.line, t.col),
        _ => Templated::literal(items(t).iter().map(string).collect(), t.line, t.col),
    }
}

/// A sequence of values, or an expression computing one.
pub(crate) fn value_list(t: &Token) -> Templated<Vec<Templated<Value>>> {
    match &t.kind {
        TokenKind::Expression(e) => Templated::expression(expression(e), t.line, t.col),
        _ => Templated::literal(items(t).iter().map(value).collect(), t.line, t.col),
    }
}

/// Whether the token or anything inside it is an expression.
pub(crate) fn contains_expression(t: &Token) -> bool {
    let mut todo = vec![t];
    while let Some(t) = todo.pop() {
        match &t.kind {
            TokenKind::Expression(_) => return true,
            TokenKind::Sequence(items) => todo.extend(items),
            TokenKind::Mapping(entries) => {
                for (k, v) in entries {
                    todo.push(k);
                    todo.push(v);
                }
            }
            _ => {}
        }
    }
    false
}
