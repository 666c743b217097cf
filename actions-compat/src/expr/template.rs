//! Strings that hold `${{ }}` parts: `a-${{ x }}-b`, or a whole value `${{ x }}` that keeps its
//! type.
//!
//! Read as GitHub's template reader reads them: the first `}}` outside a single-quoted string
//! closes an expression; the text inside is trimmed; a value that is exactly `${{ insert }}` is
//! the `insert` directive; `${{ 'text' }}` alone is the literal `text`. A string with several parts
//! is evaluated as GitHub evaluates it, as `format('a-{0}-b', x)`, so each part is converted to a
//! string GitHub's way and the combined expression obeys the same depth and size limits.

use super::{evaluate, parse, EvalContext, Expr, ExprError, ParseOptions, Value};

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    segments: Vec<Segment>,
    form: Form,
}

/// One part of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// Text outside `${{ }}`. `offset` is its byte offset in the template's source.
    Literal { text: String, offset: usize },
    /// An expression. `source` is the text between `${{` and `}}`, trimmed; `offset` is the byte
    /// offset of its `${{` and `len` the byte length up to and including its `}}`.
    Expression {
        expr: Expr,
        source: String,
        offset: usize,
        len: usize,
    },
}

/// A directive: a `${{ }}` that is an instruction to the template reader, not an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directive {
    /// `${{ insert }}` as a mapping key: merge the value (a mapping) into the parent mapping.
    Insert,
}

impl Directive {
    pub fn name(self) -> &'static str {
        match self {
            Directive::Insert => "insert",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Form {
    /// Plain text (no `${{`), or `${{ 'text' }}` alone.
    Literal(String),
    /// Exactly one expression: the value keeps its type.
    Single(Expr),
    /// Text and expressions: GitHub's `format(...)` over them.
    Format(Expr),
    Directive(Directive),
}

/// Why a template was refused; the messages are GitHub's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("The expression is not closed. An unescaped ${{{{ sequence was found, but the closing }}}} sequence was not found.")]
    NotClosed { offset: usize },
    #[error("An expression was expected")]
    EmptyExpression { offset: usize },
    #[error("The directive '{directive}' is not allowed in this context. Directives are not supported for expressions that are embedded within a string. Directives are only supported when the entire value is an expression.")]
    DirectiveNotAllowedInline { directive: String, offset: usize },
    #[error("Exactly {expected} parameter(s) were expected following the directive '{directive}'. Actual parameter count: {actual}")]
    DirectiveParameters {
        directive: String,
        expected: usize,
        actual: usize,
        offset: usize,
    },
    /// The expression (or, for a template of several parts, the combined `format(...)`
    /// expression) does not parse.
    #[error("{error}")]
    Expression { error: ExprError, offset: usize },
}

impl TemplateError {
    /// Byte offset in the template of the `${{` the error is about (0 for the whole template).
    pub fn offset(&self) -> usize {
        match self {
            TemplateError::NotClosed { offset }
            | TemplateError::EmptyExpression { offset }
            | TemplateError::DirectiveNotAllowedInline { offset, .. }
            | TemplateError::DirectiveParameters { offset, .. }
            | TemplateError::Expression { offset, .. } => *offset,
        }
    }
}

const OPEN: &str = "${{";
const CLOSE: &str = "}}";

impl Template {
    /// True if `text` holds a `${{`, i.e. is not a plain literal.
    pub fn contains_expression(text: &str) -> bool {
        text.contains(OPEN)
    }

    /// Parses a string that may hold `${{ }}` parts; each expression is parsed with `options`.
    pub fn parse(source: &str, options: &ParseOptions) -> Result<Template, TemplateError> {
        let Some(mut start) = source.find(OPEN) else {
            let segments = if source.is_empty() {
                Vec::new()
            } else {
                vec![Segment::Literal {
                    text: source.to_string(),
                    offset: 0,
                }]
            };
            return Ok(Template {
                segments,
                form: Form::Literal(source.to_string()),
            });
        };
        let bytes = source.as_bytes();
        let mut segments = Vec::new();
        let mut directive = None;
        let mut i = 0;
        loop {
            if i < start {
                segments.push(Segment::Literal {
                    text: source[i..start].to_string(),
                    offset: i,
                });
            }
            // Find the first `}}` outside a quoted string.
            let mut end = None;
            let mut in_string = false;
            let mut j = start + OPEN.len();
            while j < bytes.len() {
                if bytes[j] == b'\'' {
                    in_string = !in_string;
                } else if !in_string && bytes[j] == b'}' && bytes[j - 1] == b'}' {
                    end = Some(j);
                    break;
                }
                j += 1;
            }
            let Some(end) = end else {
                return Err(TemplateError::NotClosed { offset: start });
            };
            let inner_end = end + 1 - CLOSE.len();
            let inner = source
                .get(start + OPEN.len()..inner_end.max(start + OPEN.len()))
                .unwrap_or("");
            let trimmed = inner.trim_matches(super::number::is_whitespace);
            if trimmed.is_empty() {
                return Err(TemplateError::EmptyExpression { offset: start });
            }
            if let Some(found) = match_directive(trimmed, start)? {
                let whole = start == 0 && end + 1 == source.len();
                if !whole {
                    return Err(TemplateError::DirectiveNotAllowedInline {
                        directive: found.name().to_string(),
                        offset: start,
                    });
                }
                directive = Some(found);
            } else {
                let expr = parse(trimmed, options).map_err(|error| TemplateError::Expression {
                    error,
                    offset: start,
                })?;
                segments.push(Segment::Expression {
                    expr,
                    source: trimmed.to_string(),
                    offset: start,
                    len: end + 1 - start,
                });
            }
            i = end + 1;
            match source[i..].find(OPEN) {
                Some(next) => start = i + next,
                None => {
                    if i < source.len() {
                        segments.push(Segment::Literal {
                            text: source[i..].to_string(),
                            offset: i,
                        });
                    }
                    break;
                }
            }
        }
        if let Some(directive) = directive {
            return Ok(Template {
                segments,
                form: Form::Directive(directive),
            });
        }
        let form = match segments.as_slice() {
            [Segment::Expression { expr, source, .. }] => match literal_string(source) {
                Some(text) => Form::Literal(text),
                None => Form::Single(expr.clone()),
            },
            _ => Form::Format(combined(&segments, options)?),
        };
        Ok(Template { segments, form })
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The expressions, in order.
    pub fn expressions(&self) -> impl Iterator<Item = &Expr> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Expression { expr, .. } => Some(expr),
            Segment::Literal { .. } => None,
        })
    }

    /// The text, if GitHub reads this template as a literal: no `${{ }}` at all, or exactly
    /// `${{ 'text' }}` (GitHub's way of escaping `${{` in a value).
    pub fn literal(&self) -> Option<&str> {
        match &self.form {
            Form::Literal(text) => Some(text),
            _ => None,
        }
    }

    /// The expression, if the template is exactly one `${{ }}` (its value keeps its type).
    pub fn single_expression(&self) -> Option<&Expr> {
        match &self.form {
            Form::Single(expr) => Some(expr),
            _ => None,
        }
    }

    /// The directive, if the template is exactly one, such as `${{ insert }}`.
    pub fn directive(&self) -> Option<Directive> {
        match &self.form {
            Form::Directive(d) => Some(*d),
            _ => None,
        }
    }

    /// The context paths the template's expressions read (see [`Expr::context_paths`]).
    pub fn context_paths(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for path in self.expressions().flat_map(Expr::context_paths) {
            if !out.contains(&path) {
                out.push(path);
            }
        }
        out
    }

    /// Evaluates the template: a literal is its text, a single expression keeps its value's type,
    /// anything else is a string (GitHub's `format` over the parts).
    pub fn evaluate(&self, ctx: &EvalContext<'_>) -> Result<Value, ExprError> {
        match &self.form {
            Form::Literal(text) => Ok(Value::String(text.clone())),
            Form::Single(expr) | Form::Format(expr) => evaluate(expr, ctx),
            Form::Directive(d) => Err(ExprError::evaluation(format!(
                "The directive '{}' is not a value",
                d.name()
            ))),
        }
    }
}

/// Recognises a directive (only `insert`) at the start of an expression's text: the word alone
/// or followed by whitespace, with GitHub's parameter count check.
fn match_directive(trimmed: &str, offset: usize) -> Result<Option<Directive>, TemplateError> {
    const INSERT: &str = "insert";
    let Some(rest) = trimmed.strip_prefix(INSERT) else {
        return Ok(None);
    };
    if !(rest.is_empty() || rest.starts_with(super::number::is_whitespace)) {
        return Ok(None);
    }
    let parameters = count_directive_parameters(rest);
    if parameters != 0 {
        return Err(TemplateError::DirectiveParameters {
            directive: INSERT.to_string(),
            expected: 0,
            actual: parameters,
            offset,
        });
    }
    Ok(Some(Directive::Insert))
}

/// Counts whitespace-separated parameters, where whitespace inside quotes or parentheses does not
/// separate (GitHub's directive parameter reader).
fn count_directive_parameters(text: &str) -> usize {
    let mut count = 0;
    let mut in_word = false;
    let mut in_string = false;
    let mut parens: i64 = 0;
    for c in text.chars() {
        if super::number::is_whitespace(c) && !in_string && parens == 0 {
            if in_word {
                count += 1;
            }
            in_word = false;
            continue;
        }
        match c {
            '\'' => in_string = !in_string,
            '(' if !in_string => parens += 1,
            ')' if !in_string => parens -= 1,
            _ => {}
        }
        in_word = true;
    }
    if in_word {
        count += 1;
    }
    count
}

/// The text of an expression that is nothing but a single-quoted string (`'a''b'` is `a'b`).
fn literal_string(trimmed: &str) -> Option<String> {
    let mut out = String::new();
    let mut in_string = false;
    for (i, c) in trimmed.char_indices() {
        if c == '\'' {
            in_string = !in_string;
            if in_string && i != 0 {
                out.push(c);
            }
        } else if !in_string {
            return None;
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// The `format('...', a, b)` expression GitHub builds for a template of several parts.
fn combined(segments: &[Segment], options: &ParseOptions) -> Result<Expr, TemplateError> {
    let mut format = String::new();
    let mut args = String::new();
    let mut index = 0;
    for segment in segments {
        match segment {
            Segment::Literal { text, .. } => format.push_str(
                &text
                    .replace('\'', "''")
                    .replace('{', "{{")
                    .replace('}', "}}"),
            ),
            Segment::Expression { source, .. } => {
                format.push_str(&format!("{{{index}}}"));
                index += 1;
                args.push_str(", ");
                args.push_str(source);
            }
        }
    }
    let text = format!("format('{format}'{args})");
    parse(&text, options).map_err(|error| TemplateError::Expression { error, offset: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn options() -> ParseOptions {
        ParseOptions::allow_all(["github", "matrix"])
    }

    fn eval(source: &str) -> Value {
        let contexts = Value::from_json(json!({
            "github": {"event_name": "push", "run_number": 7, "labels": ["a"]},
            "matrix": {"n": 1.5}
        }));
        let template = Template::parse(source, &options()).expect("template parses");
        template
            .evaluate(&EvalContext::new(&contexts))
            .expect("template evaluates")
    }

    #[test]
    fn a_single_expression_keeps_its_type() {
        assert_eq!(eval("${{ github.run_number }}"), Value::Number(7.0));
        assert_eq!(eval("${{ github.labels }}"), Value::from_json(json!(["a"])));
        assert_eq!(eval("  ${{ true }}"), Value::String("  true".into()));
    }

    #[test]
    fn several_parts_become_a_string() {
        assert_eq!(
            eval("run ${{ github.run_number }} on {${{ github.event_name }}} n=${{ matrix.n }} ${{ github.labels }}"),
            Value::String("run 7 on {push} n=1.5 Array".into())
        );
        assert_eq!(eval("it's ${{ null }}!"), Value::String("it's !".into()));
    }

    #[test]
    fn plain_text_and_quoted_literals_are_literals() {
        let plain = Template::parse("no expressions", &options()).expect("parses");
        assert_eq!(plain.literal(), Some("no expressions"));
        let quoted = Template::parse("${{ '{{ it''s }}' }}", &options()).expect("parses");
        assert_eq!(quoted.literal(), Some("{{ it's }}"));
        assert_eq!(eval("${{ '${{' }}"), Value::String("${{".into()));
    }

    #[test]
    fn closing_braces_inside_strings_do_not_close() {
        let t = Template::parse("a${{ format('}}{0}', 'x') }}b", &options()).expect("parses");
        assert_eq!(t.segments().len(), 3);
        assert_eq!(
            eval("a${{ format('}}{0}', 'x') }}b"),
            Value::String("a}xb".into())
        );
    }

    #[test]
    fn reports_githubs_template_errors() {
        let err = |s: &str| {
            Template::parse(s, &options())
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            err("echo ${{ github.event_name"),
            Err("The expression is not closed. An unescaped ${{ sequence was found, but the closing }} sequence was not found.".into())
        );
        assert_eq!(err("echo ${{ }}"), Err("An expression was expected".into()));
        assert_eq!(err("${{}}"), Err("An expression was expected".into()));
        assert_eq!(
            err("${{ contains('a', 'b' }}"),
            Err("Unexpected end of expression: ''b''. Located at position 15 within expression: contains('a', 'b'".into())
        );
        assert_eq!(
            err("x ${{ insert }}"),
            Err("The directive 'insert' is not allowed in this context. Directives are not supported for expressions that are embedded within a string. Directives are only supported when the entire value is an expression.".into())
        );
        assert_eq!(
            err("${{ insert x }}"),
            Err("Exactly 0 parameter(s) were expected following the directive 'insert'. Actual parameter count: 1".into())
        );
    }

    #[test]
    fn insert_alone_is_a_directive() {
        let t = Template::parse("${{ insert }}", &options()).expect("parses");
        assert_eq!(t.directive(), Some(Directive::Insert));
    }

    #[test]
    fn segments_record_their_offsets() {
        let t = Template::parse("ab${{ x.y }}c", &ParseOptions::allow_all(["x"])).expect("parses");
        match t.segments() {
            [Segment::Literal { offset: 0, .. }, Segment::Expression {
                offset: 2,
                len: 10,
                source,
                ..
            }, Segment::Literal { offset: 12, text }] => {
                assert_eq!(source, "x.y");
                assert_eq!(text, "c");
            }
            other => panic!("unexpected segments {other:?}"),
        }
        assert_eq!(t.context_paths(), ["x.y"]);
    }

    #[test]
    fn the_combined_expression_is_one_level_deeper() {
        let deep = format!("{}true", "!".repeat(49));
        assert!(Template::parse(&format!("${{{{ {deep} }}}}"), &options()).is_ok());
        let err = Template::parse(&format!("x ${{{{ {deep} }}}}"), &options()).err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some("Exceeded max expression depth 50".into())
        );
    }
}
