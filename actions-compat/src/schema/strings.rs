//! Strings that hold `${{ }}`: finding the expressions in them, checking each against the
//! contexts allowed where the string stands, and joining them into one expression as GitHub does
//! (`echo ${{ github.sha }}` becomes `format('echo {0}', github.sha)`).

use super::token::{ExprToken, TokenKind};
use super::Allowed;
use crate::expr::{self, FunctionSig, ParseOptions};

const OPEN: &str = "${{";
/// The longest string holding expressions that GitHub accepts, in characters.
const MAX_EXPRESSION_LENGTH: usize = 21_000;
const INSERT: &str = "insert";

/// The options that let an expression use exactly what `allowed` allows.
pub(crate) fn parse_options(allowed: &[Allowed]) -> ParseOptions {
    let mut options = ParseOptions::with_named_values(allowed.iter().filter_map(|a| match a {
        Allowed::Context(name) => Some(*name),
        Allowed::Function(..) => None,
    }));
    options.functions = allowed
        .iter()
        .filter_map(|a| match a {
            Allowed::Function(name, min, max) => Some(FunctionSig {
                name: (*name).to_owned(),
                min_args: *min,
                max_args: *max,
            }),
            Allowed::Context(_) => None,
        })
        .collect();
    options
}

/// Checks an expression's text (without `${{ }}`) against what is allowed, returning GitHub's
/// message when it is refused.
pub(crate) fn check_expression(text: &str, allowed: &[Allowed]) -> Result<expr::Expr, String> {
    expr::parse(text, &parse_options(allowed)).map_err(|e| e.message)
}

/// One piece of a string: literal text, or an expression.
enum Segment {
    Text(String),
    Expression { expr: String, insert: bool },
}

/// Reads a string that may hold `${{ }}`. Problems are pushed to `errors` (GitHub's messages,
/// to be reported at the string's position); a string with problems stays a literal string.
pub(crate) fn read_string(raw: &str, allowed: &[Allowed], errors: &mut Vec<String>) -> TokenKind {
    let literal = || TokenKind::String(raw.to_owned());
    let Some(mut start) = raw.find(OPEN) else {
        return literal();
    };
    if raw.chars().count() > MAX_EXPRESSION_LENGTH {
        errors.push(format!(
            "Exceeded max expression length {MAX_EXPRESSION_LENGTH}"
        ));
        return literal();
    }
    let bytes = raw.as_bytes();
    let mut segments = Vec::new();
    let mut failed = false;
    let mut i = 0;
    loop {
        if i < start {
            segments.push(Segment::Text(raw[i..start].to_owned()));
        }
        // Find the closing `}}`, ignoring braces inside single-quoted strings ('' is an escaped
        // quote and toggles twice, which leaves the state right).
        let mut in_string = false;
        let mut end = None;
        let mut j = start + OPEN.len();
        while j < bytes.len() {
            match bytes[j] {
                b'\'' => in_string = !in_string,
                b'}' if !in_string && bytes[j - 1] == b'}' => {
                    end = Some(j);
                    break;
                }
                _ => {}
            }
            j += 1;
        }
        let Some(end) = end else {
            errors.push(
                "The expression is not closed. An unescaped ${{ sequence was found, but the \
                 closing }} sequence was not found."
                    .to_owned(),
            );
            return literal();
        };
        let inner = raw.get(start + OPEN.len()..end - 1).unwrap_or("");
        i = end + 1;
        match read_expression(inner, allowed) {
            Err(message) => {
                errors.push(message);
                failed = true;
            }
            Ok(Segment::Expression { insert: true, .. }) if start != 0 || i < raw.len() => {
                errors.push(format!(
                    "The directive '{INSERT}' is not allowed in this context. Directives are not \
                     supported for expressions that are embedded within a string. Directives are \
                     only supported when the entire value is an expression."
                ));
                return literal();
            }
            Ok(segment) => segments.push(segment),
        }
        match raw.get(i..).and_then(|rest| rest.find(OPEN)) {
            Some(next) => start = i + next,
            None => {
                if i < raw.len() {
                    segments.push(Segment::Text(raw[i..].to_owned()));
                }
                break;
            }
        }
    }
    if failed {
        return literal();
    }
    let token = |expr: String, insert: bool| {
        TokenKind::Expression(ExprToken {
            expr,
            source: raw.to_owned(),
            insert,
        })
    };
    if let [only] = segments.as_slice() {
        return match only {
            // `${{ '${{ not an expression }}' }}` is how a literal `${{` is written.
            Segment::Expression {
                expr,
                insert: false,
            } => match string_literal(expr) {
                Some(text) => TokenKind::String(text),
                None => token(expr.clone(), false),
            },
            Segment::Expression { expr, insert: true } => token(expr.clone(), true),
            Segment::Text(text) => TokenKind::String(text.clone()),
        };
    }
    let mut format = String::new();
    let mut args = String::new();
    let mut index = 0;
    for segment in &segments {
        match segment {
            Segment::Text(text) => {
                for c in text.chars() {
                    match c {
                        '\'' => format.push_str("''"),
                        '{' => format.push_str("{{"),
                        '}' => format.push_str("}}"),
                        c => format.push(c),
                    }
                }
            }
            Segment::Expression { expr, .. } => {
                format.push_str(&format!("{{{index}}}"));
                index += 1;
                args.push_str(", ");
                args.push_str(expr);
            }
        }
    }
    token(format!("format('{format}'{args})"), false)
}

/// Reads the text between `${{` and `}}`.
fn read_expression(inner: &str, allowed: &[Allowed]) -> Result<Segment, String> {
    let trimmed = inner.trim();
    if trimmed.is_empty() {
        return Err("An expression was expected".to_owned());
    }
    if let Some(rest) = trimmed.strip_prefix(INSERT) {
        if rest.is_empty() {
            return Ok(Segment::Expression {
                expr: INSERT.to_owned(),
                insert: true,
            });
        }
        if rest.starts_with(char::is_whitespace) {
            // GitHub counts everything after the directive as one parameter.
            return Err(format!(
                "Exactly 0 parameter(s) were expected following the directive '{INSERT}'. \
                 Actual parameter count: 1"
            ));
        }
    }
    check_expression(trimmed, allowed)?;
    Ok(Segment::Expression {
        expr: trimmed.to_owned(),
        insert: false,
    })
}

/// The string an expression denotes when it is nothing but one single-quoted string literal.
fn string_literal(expr: &str) -> Option<String> {
    let mut text = String::new();
    let mut in_string = false;
    for (i, c) in expr.chars().enumerate() {
        if c == '\'' {
            in_string = !in_string;
            if in_string && i != 0 {
                text.push(c);
            }
        } else if !in_string {
            return None;
        } else {
            text.push(c);
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(raw: &str) -> (TokenKind, Vec<String>) {
        let mut errors = Vec::new();
        // No contexts: only literals and built-in functions are accepted.
        let kind = read_string(raw, &[], &mut errors);
        (kind, errors)
    }

    #[test]
    fn plain_strings_stay_literal() {
        assert_eq!(read("echo hi").0, TokenKind::String("echo hi".into()));
        assert_eq!(
            read("{{ not ours }}").0,
            TokenKind::String("{{ not ours }}".into())
        );
    }

    #[test]
    fn reports_unclosed_and_empty_expressions() {
        let (kind, errors) = read("echo ${{ github.event_name");
        assert_eq!(kind, TokenKind::String("echo ${{ github.event_name".into()));
        assert!(errors[0].starts_with("The expression is not closed."));
        let (_, errors) = read("echo ${{ }}");
        assert_eq!(errors, ["An expression was expected"]);
    }

    #[test]
    fn closing_braces_inside_quoted_strings_do_not_close() {
        let (_, errors) = read("${{ '}}' ");
        assert!(errors[0].starts_with("The expression is not closed."));
    }

    #[test]
    fn escaped_literal_becomes_a_string() {
        assert_eq!(
            read("${{ '${{ this is an escaped expression }}' }}").0,
            TokenKind::String("${{ this is an escaped expression }}".into())
        );
        assert_eq!(
            read("${{ 'it''s an escaped quote' }}").0,
            TokenKind::String("it's an escaped quote".into())
        );
    }

    #[test]
    fn refuses_insert_inside_a_string() {
        let (_, errors) = read("This is a bad ${{ insert }}");
        assert!(errors[0].starts_with("The directive 'insert' is not allowed in this context."));
        let (kind, errors) = read("${{ insert }}");
        assert!(errors.is_empty());
        assert!(matches!(
            kind,
            TokenKind::Expression(ExprToken { insert: true, .. })
        ));
    }

    #[test]
    fn refuses_overlong_strings_with_expressions() {
        let raw = format!("${{{{ 1 }}}} {}", "x".repeat(21_000));
        let (_, errors) = read(&raw);
        assert_eq!(errors, ["Exceeded max expression length 21000"]);
    }
}
