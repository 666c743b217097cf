//! What the reader produces: the YAML tree with scalars typed by the core schema and strings that
//! hold `${{ }}` turned into expressions.

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
    /// written as GitHub writes them ([`number_to_string`]). Expressions read as written.
    pub fn to_display_string(&self) -> String {
        match &self.kind {
            TokenKind::Null => String::new(),
            TokenKind::Bool(b) => b.to_string(),
            TokenKind::Number(n) => number_to_string(*n),
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

/// Writes a number as GitHub's runner does when a string is wanted (.NET's `G15` format): at most
/// 15 significant digits, in exponent form (`1.58710667238376E+18`) from 1e15 up or below 1e-5.
pub(crate) fn number_to_string(n: f64) -> String {
    if n.is_nan() {
        return "NaN".to_owned();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if n == 0.0 {
        return "0".to_owned();
    }
    // `{:.14e}` gives exactly 15 significant digits, rounded: `-1.23450000000000e-7`.
    let formatted = format!("{:.14e}", n.abs());
    let Some((mantissa, exponent)) = formatted.split_once('e') else {
        return formatted;
    };
    let Ok(exponent) = exponent.parse::<i32>() else {
        return formatted;
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let sign = if n < 0.0 { "-" } else { "" };
    if !(-5..15).contains(&exponent) {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{first}{fraction}E{exp_sign}{:02}", exponent.abs());
    }
    let point = exponent + 1; // digits before the decimal point
    let text = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else {
        let point = point as usize;
        if digits.len() <= point {
            format!("{digits}{}", "0".repeat(point - digits.len()))
        } else {
            let (int, frac) = digits.split_at(point);
            format!("{int}.{frac}")
        }
    };
    format!("{sign}{text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // GitHub's own test value, written with the digits GitHub's test data has.
    #[allow(clippy::excessive_precision)]
    fn writes_numbers_as_githubs_runner_does() {
        assert_eq!(number_to_string(0.84551240822557006), "0.84551240822557");
        assert_eq!(number_to_string(123456.0), "123456");
        assert_eq!(number_to_string(0.123456), "0.123456");
        assert_eq!(number_to_string(123456.123456), "123456.123456");
        assert_eq!(
            number_to_string(1587106672383762434.0),
            "1.58710667238376E+18"
        );
        assert_eq!(number_to_string(3.10), "3.1");
        assert_eq!(number_to_string(-2.5), "-2.5");
        assert_eq!(number_to_string(0.00001), "1E-05");
        assert_eq!(number_to_string(0.0001), "0.0001");
        assert_eq!(number_to_string(255.0), "255");
        assert_eq!(number_to_string(f64::INFINITY), "Infinity");
        assert_eq!(number_to_string(f64::NAN), "NaN");
    }
}
