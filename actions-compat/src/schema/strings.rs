//! Strings that hold `${{ }}`: checking their expressions against the contexts allowed where the
//! string stands, and keeping what the model needs of them (the expression GitHub evaluates, and
//! the context paths it reads).

use super::token::{ExprToken, TokenKind};
use super::Allowed;
use crate::expr::template::Segment;
use crate::expr::{self, FunctionSig, ParseOptions, Template};

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

/// Reads a string that may hold `${{ }}`, with [`Template`] (the expression engine's reading of
/// such strings, GitHub's rules). A problem is pushed to `errors` (GitHub's message, to be
/// reported at the string's position) and the string then stays a literal.
///
/// GitHub reports every bad expression of a string; [`Template::parse`] stops at the first. All
/// would be reported at the string's position, so only their number differs.
pub(crate) fn read_string(raw: &str, allowed: &[Allowed], errors: &mut Vec<String>) -> TokenKind {
    if !Template::contains_expression(raw) {
        return TokenKind::String(raw.to_owned());
    }
    let template = match Template::parse(raw, &parse_options(allowed)) {
        Ok(template) => template,
        Err(e) => {
            errors.push(e.to_string());
            return TokenKind::String(raw.to_owned());
        }
    };
    if let Some(text) = template.literal() {
        return TokenKind::String(text.to_owned());
    }
    let (expr, insert) = match (template.directive(), template.segments()) {
        (Some(directive), _) => (directive.name().to_owned(), true),
        (None, [Segment::Expression { source, .. }]) => (source.clone(), false),
        (None, segments) => (format_text(segments), false),
    };
    TokenKind::Expression(ExprToken {
        expr,
        source: raw.to_owned(),
        insert,
        paths: template.context_paths(),
    })
}

/// The text of the `format(...)` expression GitHub builds for a string of several parts
/// (`echo ${{ github.sha }}` is `format('echo {0}', github.sha)`): what the model shows.
fn format_text(segments: &[Segment]) -> String {
    let mut format = String::new();
    let mut args = String::new();
    let mut index = 0;
    for segment in segments {
        match segment {
            Segment::Literal { text, .. } => {
                for c in text.chars() {
                    match c {
                        '\'' => format.push_str("''"),
                        '{' => format.push_str("{{"),
                        '}' => format.push_str("}}"),
                        c => format.push(c),
                    }
                }
            }
            Segment::Expression { source, .. } => {
                format.push_str(&format!("{{{index}}}"));
                index += 1;
                args.push_str(", ");
                args.push_str(source);
            }
        }
    }
    format!("format('{format}'{args})")
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

    #[test]
    fn joins_parts_as_githubs_format_and_keeps_context_paths() {
        let mut errors = Vec::new();
        let allowed = [Allowed::Context("github")];
        let kind = read_string(
            "echo '${{ github.event.issue.title }}' {x}",
            &allowed,
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let TokenKind::Expression(e) = kind else {
            panic!("an expression")
        };
        assert_eq!(
            e.expr,
            "format('echo ''{0}'' {{x}}', github.event.issue.title)"
        );
        assert_eq!(e.paths, ["github.event.issue.title"]);
    }

    #[test]
    fn refuses_contexts_not_allowed_here() {
        let (kind, errors) = read("${{ secrets.x }}");
        assert_eq!(kind, TokenKind::String("${{ secrets.x }}".into()));
        assert!(
            errors[0].starts_with("Unrecognized named-value: 'secrets'"),
            "{errors:?}"
        );
    }
}
