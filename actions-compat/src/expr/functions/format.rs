//! `format('Hello {0}, {1}', a, b)`: `{N}` is replaced by argument N converted to a string,
//! `{{` and `}}` are literal braces. As in GitHub, the whole format string is checked first, and
//! only the arguments it refers to are evaluated, each once, in the order first referred to.

use super::super::eval::coerce::to_string;
use super::super::eval::memory::string_size;
use super::super::eval::val::Val;
use super::super::eval::Evaluator;
use super::super::{Expr, ExprError};

enum Piece {
    Text(String),
    Arg { index: usize, specifiers: String },
}

pub(super) fn format<'a>(
    ev: &mut Evaluator<'a>,
    node: &'a Expr,
    args: &'a [Expr],
    level: usize,
) -> Result<Val<'a>, ExprError> {
    let Some(first) = args.first() else {
        return Ok(Val::string(""));
    };
    let format = to_string(&ev.eval(first, level + 1)?).into_owned();
    let mut counter = ev.counter();
    let mut pieces = Vec::new();
    for piece in scan(&format, args.len())? {
        if let Piece::Text(text) = &piece {
            if text.is_empty() {
                continue;
            }
            ev.meter(&mut counter, node, string_size(text))?;
        }
        pieces.push(piece);
    }
    let mut cache: Vec<Option<(String, &'static str)>> = vec![None; args.len()];
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(&text),
            Piece::Arg { index, specifiers } => {
                let (text, kind) = match cache.get(index).cloned().flatten() {
                    Some(cached) => cached,
                    None => {
                        let value = match args.get(index + 1) {
                            Some(expr) => ev.eval(expr, level + 1)?,
                            None => Val::Null,
                        };
                        let entry = (to_string(&value).into_owned(), value.kind_name());
                        if let Some(slot) = cache.get_mut(index) {
                            *slot = Some(entry.clone());
                        }
                        entry
                    }
                };
                if !specifiers.is_empty() {
                    return Err(ExprError::evaluation(format!(
                        "The format specifiers '{specifiers}' are not valid for objects of type '{kind}'"
                    )));
                }
                if !text.is_empty() {
                    ev.meter(&mut counter, node, string_size(&text))?;
                }
                out.push_str(&text);
            }
        }
    }
    Ok(Val::string(out))
}

fn invalid(format: &str) -> ExprError {
    ExprError::evaluation(format!("The following format string is invalid: {format}"))
}

/// Splits a format string into text and argument references; `parameters` counts the format
/// string itself and its arguments.
fn scan(format: &str, parameters: usize) -> Result<Vec<Piece>, ExprError> {
    let chars: Vec<char> = format.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let find = |c: char, from: usize| {
        chars[from.min(chars.len())..]
            .iter()
            .position(|x| *x == c)
            .map(|p| p + from)
    };
    let text = |from: usize, to: usize| chars[from..to].iter().collect::<String>();
    let mut pieces = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let lbrace = find('{', index);
        let rbrace = find('}', index);
        match (lbrace, rbrace) {
            (Some(l), r) if r.is_none_or(|r| r > l) => {
                if at(l + 1) == '{' {
                    pieces.push(Piece::Text(text(index, l + 1)));
                    index = l + 2;
                    continue;
                }
                let reference = r
                    .filter(|r| *r > l + 1)
                    .and_then(|_| read_arg_index(&chars, l + 1))
                    .and_then(|(arg, end)| {
                        read_specifiers(&chars, end + 1).map(|(spec, close)| (arg, spec, close))
                    });
                let Some((arg, specifiers, close)) = reference else {
                    return Err(invalid(format));
                };
                if arg + 2 > parameters {
                    return Err(ExprError::evaluation(format!(
                        "The following format string references more arguments than were supplied: {format}"
                    )));
                }
                if l > index {
                    pieces.push(Piece::Text(text(index, l)));
                }
                pieces.push(Piece::Arg {
                    index: arg,
                    specifiers,
                });
                index = close + 1;
            }
            (_, Some(r)) => {
                if at(r + 1) != '}' {
                    return Err(invalid(format));
                }
                pieces.push(Piece::Text(text(index, r + 1)));
                index = r + 2;
            }
            (_, None) => {
                pieces.push(Piece::Text(text(index, chars.len())));
                break;
            }
        }
    }
    Ok(pieces)
}

/// Reads the digits of an argument index (at most 255); returns it and its last position.
fn read_arg_index(chars: &[char], start: usize) -> Option<(usize, usize)> {
    let digits = chars[start.min(chars.len())..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if digits == 0 {
        return None;
    }
    let text: String = chars[start..start + digits].iter().collect();
    let value: u8 = text.parse().ok()?;
    Some((usize::from(value), start + digits - 1))
}

/// Reads `}` or `:specifiers}` (with `}}` standing for `}`); returns the specifiers and the
/// position of the closing brace.
fn read_specifiers(chars: &[char], start: usize) -> Option<(String, usize)> {
    match chars.get(start) {
        Some('}') => return Some((String::new(), start)),
        Some(':') => {}
        _ => return None,
    }
    let mut specifiers = String::new();
    let mut i = start + 1;
    loop {
        let c = *chars.get(i)?;
        if c != '}' {
            specifiers.push(c);
            i += 1;
        } else if chars.get(i + 1) == Some(&'}') {
            specifiers.push('}');
            i += 2;
        } else {
            return Some((specifiers, i));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::expr::{evaluate, parse, EvalContext, ParseOptions, Value};

    fn run(source: &str) -> Result<Value, String> {
        let expr = parse(source, &ParseOptions::default()).map_err(|e| e.message)?;
        let contexts = Value::Null;
        evaluate(&expr, &EvalContext::new(&contexts)).map_err(|e| e.message)
    }

    fn text(source: &str) -> String {
        match run(source) {
            Ok(Value::String(s)) => s,
            other => panic!("{source}: {other:?}"),
        }
    }

    #[test]
    fn replaces_arguments_and_unescapes_braces() {
        assert_eq!(text("format('{0} and {1}, {0}', 'a', 2)"), "a and 2, a");
        assert_eq!(text("format('{{0}}', 'x')"), "{0}");
        assert_eq!(text("format('}}{{}}', 'x')"), "}{}");
        assert_eq!(text("format('{0}', null)"), "");
        assert_eq!(text("format('{0}', fromJSON('[]'))"), "Array");
    }

    #[test]
    fn reports_invalid_format_strings_like_github() {
        for bad in ["{0", "{0}}", "0}", "{{0}", "}0{", "{0}{", "{a}", "{256}"] {
            assert_eq!(
                run(&format!("format('{bad}', 1)")),
                Err(format!("The following format string is invalid: {bad}")),
            );
        }
        assert_eq!(
            run("format('{0}{1}', 'a')"),
            Err(
                "The following format string references more arguments than were supplied: {0}{1}"
                    .into()
            )
        );
    }

    #[test]
    fn evaluates_only_referenced_arguments() {
        assert_eq!(text("format('no refs', fromJSON('not json'))"), "no refs");
    }

    #[test]
    fn format_specifiers_are_refused() {
        assert_eq!(
            run("format('{0:x}', 1)"),
            Err("The format specifiers 'x' are not valid for objects of type 'Number'".into())
        );
    }
}
