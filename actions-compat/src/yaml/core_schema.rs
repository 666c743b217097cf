//! The YAML 1.2 core schema: what a scalar means (null, boolean, number or string), read as
//! GitHub reads workflow files.
//!
//! Plain scalars without a tag are resolved by the core schema's patterns (so `on`, `yes` and
//! `12_345` are strings, `0o10` and `0xff` are numbers). Quoted and block scalars are strings.
//! The explicit tags `!!null`, `!!bool`, `!!int`, `!!float` and `!!str` are honoured; any other
//! tag is refused, as GitHub refuses it.

use super::node::{Scalar, ScalarStyle};

const TAG_PREFIX: &str = "tag:yaml.org,2002:";

/// What a scalar means under the core schema. Integers and floats are both numbers: GitHub's
/// expression language has a single number type (a double).
#[derive(Debug, Clone, PartialEq)]
pub enum CoreValue {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
}

/// Why a scalar's tag cannot be applied. The messages are GitHub's; positions are added by the
/// caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagError {
    /// A tag other than the core schema's.
    Unsupported { tag: String },
    /// `!!int "3"`: only plain scalars may carry a non-string core tag.
    Style { style: ScalarStyle, tag: String },
    /// `!!bool maybe`
    Value { value: String, tag: String },
}

impl TagError {
    /// GitHub's message; `line` and `col` are the scalar's position.
    pub fn message(&self, line: usize, col: usize) -> String {
        match self {
            TagError::Unsupported { tag } => format!("Unexpected tag '{tag}'"),
            TagError::Style { style, tag } => format!(
                "The scalar style '{}' on line {line} and column {col} is not valid with the tag '{tag}'",
                style.name()
            ),
            TagError::Value { value, tag } => format!(
                "The value '{value}' on line {line} and column {col} is invalid for the type '{tag}'"
            ),
        }
    }
}

impl Scalar {
    /// Applies the core schema (and the scalar's tag, if any).
    pub fn resolve(&self) -> Result<CoreValue, TagError> {
        let Some(tag) = &self.tag else {
            return Ok(if self.style == ScalarStyle::Plain {
                resolve_plain(&self.value)
            } else {
                CoreValue::String(self.value.clone())
            });
        };
        if tag == "!" || tag == "tag:yaml.org,2002:str" {
            return Ok(CoreValue::String(self.value.clone()));
        }
        let Some(kind) = tag.strip_prefix(TAG_PREFIX) else {
            return Err(TagError::Unsupported { tag: tag.clone() });
        };
        let parse: fn(&str) -> Option<CoreValue> = match kind {
            "null" => parse_null,
            "bool" => parse_bool,
            "int" => |s| parse_int(s).map(CoreValue::Number),
            "float" => |s| {
                parse_float(s)
                    .or_else(|| parse_int(s))
                    .map(CoreValue::Number)
            },
            _ => return Err(TagError::Unsupported { tag: tag.clone() }),
        };
        if self.style != ScalarStyle::Plain {
            return Err(TagError::Style {
                style: self.style,
                tag: tag.clone(),
            });
        }
        parse(&self.value).ok_or_else(|| TagError::Value {
            value: self.value.clone(),
            tag: tag.clone(),
        })
    }
}

/// Resolves an untagged plain scalar.
fn resolve_plain(s: &str) -> CoreValue {
    parse_null(s)
        .or_else(|| parse_bool(s))
        .or_else(|| parse_int(s).map(CoreValue::Number))
        .or_else(|| parse_float(s).map(CoreValue::Number))
        .unwrap_or_else(|| CoreValue::String(s.to_owned()))
}

fn parse_null(s: &str) -> Option<CoreValue> {
    matches!(s, "" | "~" | "null" | "Null" | "NULL").then_some(CoreValue::Null)
}

fn parse_bool(s: &str) -> Option<CoreValue> {
    match s {
        "true" | "True" | "TRUE" => Some(CoreValue::Bool(true)),
        "false" | "False" | "FALSE" => Some(CoreValue::Bool(false)),
        _ => None,
    }
}

/// `[-+]?[0-9]+`, `0o[0-7]+` or `0x[0-9a-fA-F]+`.
fn parse_int(s: &str) -> Option<f64> {
    if let Some(oct) = s.strip_prefix("0o") {
        return digits_value(oct, 8);
    }
    if let Some(hex) = s.strip_prefix("0x") {
        return digits_value(hex, 16);
    }
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let value = digits_value(digits, 10)?;
    Some(if negative { -value } else { value })
}

/// The value of a non-empty run of digits in `radix`; large values lose precision as doubles do.
fn digits_value(digits: &str, radix: u32) -> Option<f64> {
    if digits.is_empty() {
        return None;
    }
    let mut value = 0f64;
    for c in digits.chars() {
        value = value * f64::from(radix) + f64::from(c.to_digit(radix)?);
    }
    Some(value)
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, `[-+]?\.(inf|Inf|INF)`,
/// `\.nan|\.NaN|\.NAN`.
fn parse_float(s: &str) -> Option<f64> {
    if matches!(s, ".nan" | ".NaN" | ".NAN") {
        return Some(f64::NAN);
    }
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if matches!(rest, ".inf" | ".Inf" | ".INF") {
        return Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if !is_core_float(rest) {
        return None;
    }
    let value: f64 = rest.parse().ok()?;
    Some(if negative { -value } else { value })
}

/// Whether an unsigned text matches `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
fn is_core_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_digits = count_digits(&b[i..]);
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = count_digits(&b[i..]);
        i += frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let exp_digits = count_digits(&b[i..]);
        if exp_digits == 0 {
            return false;
        }
        i += exp_digits;
    }
    i == b.len()
}

fn count_digits(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(s: &str) -> CoreValue {
        Scalar {
            value: s.into(),
            style: ScalarStyle::Plain,
            tag: None,
        }
        .resolve()
        .unwrap()
    }

    fn tagged(s: &str, tag: &str, style: ScalarStyle) -> Result<CoreValue, TagError> {
        Scalar {
            value: s.into(),
            style,
            tag: Some(tag.into()),
        }
        .resolve()
    }

    #[test]
    fn resolves_core_schema_nulls_and_booleans() {
        for s in ["", "~", "null", "Null", "NULL"] {
            assert_eq!(plain(s), CoreValue::Null, "{s}");
        }
        assert_eq!(plain("True"), CoreValue::Bool(true));
        assert_eq!(plain("FALSE"), CoreValue::Bool(false));
        // YAML 1.1 booleans are strings in 1.2: `on:` is the key "on".
        assert_eq!(plain("on"), CoreValue::String("on".into()));
        assert_eq!(plain("yes"), CoreValue::String("yes".into()));
    }

    #[test]
    fn resolves_core_schema_numbers() {
        assert_eq!(plain("0755"), CoreValue::Number(755.0));
        assert_eq!(plain("-0000"), CoreValue::Number(0.0));
        assert_eq!(plain("0xff"), CoreValue::Number(255.0));
        assert_eq!(plain("0o10"), CoreValue::Number(8.0));
        assert_eq!(plain("+.5"), CoreValue::Number(0.5));
        assert_eq!(plain("-1.2E+2"), CoreValue::Number(-120.0));
        assert_eq!(plain("-.INF"), CoreValue::Number(f64::NEG_INFINITY));
        assert!(matches!(plain(".NaN"), CoreValue::Number(n) if n.is_nan()));
    }

    #[test]
    fn keeps_non_core_forms_as_strings() {
        for s in [
            "12_345",
            "23_456.789_321",
            "inf",
            "nan",
            "+0x10",
            "1e",
            ".",
            "1.2.3",
            "3.10x",
        ] {
            assert_eq!(plain(s), CoreValue::String(s.into()), "{s}");
        }
    }

    #[test]
    fn quoted_scalars_are_strings() {
        let s = Scalar {
            value: "8".into(),
            style: ScalarStyle::SingleQuoted,
            tag: None,
        };
        assert_eq!(s.resolve().unwrap(), CoreValue::String("8".into()));
    }

    #[test]
    fn honours_explicit_core_tags() {
        let t = |k: &str| format!("tag:yaml.org,2002:{k}");
        assert_eq!(
            tagged("FALSE", &t("bool"), ScalarStyle::Plain),
            Ok(CoreValue::Bool(false))
        );
        assert_eq!(
            tagged("0o10", &t("int"), ScalarStyle::Plain),
            Ok(CoreValue::Number(8.0))
        );
        assert_eq!(
            tagged("123456", &t("float"), ScalarStyle::Plain),
            Ok(CoreValue::Number(123456.0))
        );
        assert_eq!(
            tagged("~", &t("null"), ScalarStyle::Plain),
            Ok(CoreValue::Null)
        );
        assert_eq!(
            tagged("true", &t("str"), ScalarStyle::Plain),
            Ok(CoreValue::String("true".into()))
        );
    }

    #[test]
    fn rejects_bad_values_styles_and_unknown_tags_with_githubs_messages() {
        let e = tagged("test", "tag:yaml.org,2002:bool", ScalarStyle::Plain).unwrap_err();
        assert_eq!(
            e.message(4, 14),
            "The value 'test' on line 4 and column 14 is invalid for the type 'tag:yaml.org,2002:bool'"
        );
        let e = tagged("300", "tag:yaml.org,2002:int", ScalarStyle::DoubleQuoted).unwrap_err();
        assert_eq!(
            e.message(5, 29),
            "The scalar style 'DoubleQuoted' on line 5 and column 29 is not valid with the tag 'tag:yaml.org,2002:int'"
        );
        let e = tagged("2022", "tag:yaml.org,2002:timestamp", ScalarStyle::Plain).unwrap_err();
        assert_eq!(
            e.message(1, 1),
            "Unexpected tag 'tag:yaml.org,2002:timestamp'"
        );
        assert!(tagged("x", "!custom", ScalarStyle::Plain).is_err());
    }
}
