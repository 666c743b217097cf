//! `toJSON(value)`: GitHub's pretty-printed JSON (two-space indent, `"key": value`, numbers as
//! G15, strings escaped as Newtonsoft.Json escapes them). Written without recursion, piece by
//! piece, so each piece can be charged to the memory budget as GitHub charges it.

use super::super::eval::coerce::to_string;
use super::super::eval::memory::string_size;
use super::super::eval::val::{Arr, Obj, Val};
use super::super::{ExprError, Value};

enum Frame<'a> {
    Array { items: Arr<'a>, next: usize },
    Object { entries: Obj<'a>, next: usize },
}

impl Frame<'_> {
    fn is_first(&self) -> bool {
        match self {
            Frame::Array { next, .. } | Frame::Object { next, .. } => *next == 0,
        }
    }
}

/// Writes `root` as JSON, passing each piece's size to `charge` before appending it.
pub(crate) fn write<'a>(
    root: &Val<'a>,
    mut charge: impl FnMut(u64) -> Result<(), ExprError>,
) -> Result<String, ExprError> {
    let mut out = String::new();
    let mut stack: Vec<Frame<'a>> = Vec::new();
    let mut emit = |piece: String, out: &mut String| -> Result<(), ExprError> {
        charge(string_size(&piece))?;
        out.push_str(&piece);
        Ok(())
    };
    let mut current = root.clone();
    loop {
        // Descend into `current` as far as its first leaf.
        loop {
            match current {
                Val::Array(items) if items.len() > 0 => {
                    emit(prefix("[", &stack, false), &mut out)?;
                    let first = items.get(0).unwrap_or(Val::Null);
                    stack.push(Frame::Array { items, next: 0 });
                    current = first;
                }
                Val::Object(entries) if entries.len() > 0 => {
                    emit(prefix("{", &stack, false), &mut out)?;
                    let (key, value) = match entries.entry(0) {
                        Some((k, v)) => (quote(k), v),
                        None => (quote(""), Val::Null),
                    };
                    stack.push(Frame::Object { entries, next: 0 });
                    emit(prefix(&key, &stack, true), &mut out)?;
                    current = value;
                }
                Val::Array(_) => {
                    emit(prefix("[]", &stack, false), &mut out)?;
                    break;
                }
                Val::Object(_) => {
                    emit(prefix("{}", &stack, false), &mut out)?;
                    break;
                }
                scalar => {
                    emit(prefix(&scalar_text(&scalar), &stack, false), &mut out)?;
                    break;
                }
            }
        }
        // Move to the next sibling, closing finished collections on the way up.
        loop {
            let Some(frame) = stack.last_mut() else {
                return Ok(out);
            };
            let next_item = match frame {
                Frame::Array { items, next } => {
                    *next += 1;
                    items.get(*next).map(|v| (None, v))
                }
                Frame::Object { entries, next } => {
                    *next += 1;
                    entries.entry(*next).map(|(k, v)| (Some(quote(k)), v))
                }
            };
            match next_item {
                Some((key, value)) => {
                    if let Some(key) = key {
                        emit(prefix(&key, &stack, true), &mut out)?;
                    }
                    current = value;
                    break;
                }
                None => {
                    let closing = match stack.pop() {
                        Some(Frame::Array { .. }) => ']',
                        _ => '}',
                    };
                    let indent = " ".repeat(stack.len() * 2);
                    emit(format!("\n{indent}{closing}"), &mut out)?;
                }
            }
        }
    }
}

/// What precedes a value: `": "` after a key, a comma (unless first), newline and indent inside a
/// collection, nothing at the top.
fn prefix(value: &str, stack: &[Frame<'_>], is_key: bool) -> String {
    match stack.last() {
        Some(Frame::Object { .. }) if !is_key => format!(": {value}"),
        Some(parent) => {
            let comma = if parent.is_first() { "" } else { "," };
            let indent = " ".repeat(stack.len() * 2);
            format!("{comma}\n{indent}{value}")
        }
        None => value.to_string(),
    }
}

fn scalar_text(value: &Val<'_>) -> String {
    match value {
        Val::Null => "null".to_string(),
        Val::Str(s) => quote(s.as_str()),
        Val::Array(_) | Val::Object(_) => "{}".to_string(),
        other => to_string(other).into_owned(),
    }
}

/// A JSON string literal, escaped as Newtonsoft.Json escapes by default: quotes, backslashes,
/// control characters, and the line separators U+0085, U+2028 and U+2029.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `toJSON` of a public value, with no memory limit.
pub(crate) fn to_json_text(value: &Value) -> String {
    write(&Val::from_value(value), |_| Ok(())).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pretty(json: serde_json::Value) -> String {
        to_json_text(&Value::from_json(json))
    }

    #[test]
    fn writes_scalars() {
        assert_eq!(pretty(json!(null)), "null");
        assert_eq!(pretty(json!(-0.0)), "0");
        assert_eq!(pretty(json!(1234.5)), "1234.5");
        assert_eq!(pretty(json!("abc\"d\\e")), r#""abc\"d\\e""#);
        assert_eq!(pretty(json!("\u{1}\u{2028}é")), "\"\\u0001\\u2028é\"");
    }

    #[test]
    fn indents_nested_collections_by_two_spaces() {
        assert_eq!(
            pretty(json!({"a": [1, [], {}], "b": {"c": true}})),
            "{\n  \"a\": [\n    1,\n    [],\n    {}\n  ],\n  \"b\": {\n    \"c\": true\n  }\n}"
        );
        assert_eq!(pretty(json!([])), "[]");
        assert_eq!(pretty(json!({})), "{}");
    }
}
