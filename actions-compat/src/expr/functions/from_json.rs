//! `fromJSON(text)`: reads JSON as leniently as GitHub's reader (Newtonsoft.Json) does by default:
//! comments, single-quoted strings, unquoted keys, trailing commas, `NaN`/`Infinity`, hex numbers,
//! and text after the first complete value is ignored. Nesting deeper than 64 is refused, as
//! Newtonsoft refuses it. Keys are case-insensitive: a repeated key keeps its first spelling and
//! position and takes the last value. Any failure is GitHub's "Error parsing fromJson".

use super::super::casing::eq_ignore_case;
use super::super::eval::val::{Arr, Obj, Val};
use super::super::ExprError;
use indexmap::IndexMap;
use std::rc::Rc;

/// Newtonsoft.Json's default `MaxDepth`.
const MAX_NESTING: usize = 64;

pub(super) fn parse<'a>(text: &str) -> Result<Val<'a>, ExprError> {
    let mut reader = Reader {
        chars: text.chars().collect(),
        pos: 0,
    };
    reader
        .value(0)
        .ok_or_else(|| ExprError::evaluation("Error parsing fromJson"))
}

struct Reader {
    chars: Vec<char>,
    pos: usize,
}

impl Reader {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Skips whitespace and comments; `None` on an unterminated block comment.
    fn skip(&mut self) -> Option<()> {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => self.pos += 1,
                Some('/') => match self.chars.get(self.pos + 1) {
                    Some('/') => {
                        while self.peek().is_some_and(|c| c != '\n' && c != '\r') {
                            self.pos += 1;
                        }
                    }
                    Some('*') => {
                        self.pos += 2;
                        loop {
                            match self.bump()? {
                                '*' if self.eat('/') => break,
                                _ => {}
                            }
                        }
                    }
                    _ => return None,
                },
                _ => return Some(()),
            }
        }
    }

    fn value<'a>(&mut self, depth: usize) -> Option<Val<'a>> {
        self.skip()?;
        match self.peek()? {
            '{' => self.object(depth + 1),
            '[' => self.array(depth + 1),
            '"' | '\'' => self.string().map(Val::string),
            c if c.is_ascii_digit() || c == '-' || c == '.' => self.number(),
            c if c.is_ascii_alphabetic() => {
                let word = self.word();
                match word.as_str() {
                    "true" => Some(Val::Bool(true)),
                    "false" => Some(Val::Bool(false)),
                    "null" | "undefined" => Some(Val::Null),
                    "NaN" => Some(Val::Number(f64::NAN)),
                    "Infinity" => Some(Val::Number(f64::INFINITY)),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn word(&mut self) -> String {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$')
        {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn object<'a>(&mut self, depth: usize) -> Option<Val<'a>> {
        if depth > MAX_NESTING {
            return None;
        }
        self.pos += 1;
        let mut map: IndexMap<String, Val<'a>> = IndexMap::new();
        loop {
            self.skip()?;
            if self.eat('}') {
                return Some(Val::Object(Obj::Owned(Rc::new(map))));
            }
            let key = match self.peek()? {
                '"' | '\'' => self.string()?,
                c if c.is_alphanumeric() || c == '_' || c == '$' => self.word(),
                _ => return None,
            };
            self.skip()?;
            if !self.eat(':') {
                return None;
            }
            let value = self.value(depth)?;
            match map.keys().position(|k| eq_ignore_case(k, &key)) {
                Some(i) => {
                    if let Some((_, slot)) = map.get_index_mut(i) {
                        *slot = value;
                    }
                }
                None => {
                    map.insert(key, value);
                }
            }
            self.skip()?;
            if !self.eat(',') && self.peek() != Some('}') {
                return None;
            }
        }
    }

    fn array<'a>(&mut self, depth: usize) -> Option<Val<'a>> {
        if depth > MAX_NESTING {
            return None;
        }
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip()?;
            if self.eat(']') {
                return Some(Val::Array(Arr::Owned(Rc::new(items))));
            }
            items.push(self.value(depth)?);
            self.skip()?;
            if !self.eat(',') && self.peek() != Some(']') {
                return None;
            }
        }
    }

    fn string(&mut self) -> Option<String> {
        let quote = self.bump()?;
        let mut out = String::new();
        let mut pending_high: Option<u32> = None;
        loop {
            let c = self.bump()?;
            if c == quote {
                break;
            }
            if c != '\\' {
                flush_surrogate(&mut out, &mut pending_high);
                out.push(c);
                continue;
            }
            let escaped = match self.bump()? {
                '"' => '"',
                '\'' => '\'',
                '\\' => '\\',
                '/' => '/',
                'b' => '\u{8}',
                'f' => '\u{c}',
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                'u' => {
                    let mut code = 0u32;
                    for _ in 0..4 {
                        code = code * 16 + self.bump()?.to_digit(16)?;
                    }
                    match code {
                        0xD800..=0xDBFF => {
                            flush_surrogate(&mut out, &mut pending_high);
                            pending_high = Some(code);
                            continue;
                        }
                        0xDC00..=0xDFFF => {
                            if let Some(high) = pending_high.take() {
                                let combined = 0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00);
                                out.push(char::from_u32(combined).unwrap_or('\u{FFFD}'));
                            } else {
                                out.push('\u{FFFD}');
                            }
                            continue;
                        }
                        _ => char::from_u32(code).unwrap_or('\u{FFFD}'),
                    }
                }
                _ => return None,
            };
            flush_surrogate(&mut out, &mut pending_high);
            out.push(escaped);
        }
        flush_surrogate(&mut out, &mut pending_high);
        Some(out)
    }

    fn number<'a>(&mut self) -> Option<Val<'a>> {
        let start = self.pos;
        if self.peek() == Some('-') && self.chars.get(self.pos + 1) == Some(&'I') {
            self.pos += 1;
            return (self.word() == "Infinity").then_some(Val::Number(f64::NEG_INFINITY));
        }
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        {
            self.pos += 1;
        }
        // A number must end at a delimiter, as Newtonsoft checks.
        if self
            .peek()
            .is_some_and(|c| !(c.is_whitespace() || matches!(c, ',' | ']' | '}' | '/' | ')')))
        {
            return None;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        parse_json_number(&text).map(Val::Number)
    }
}

fn flush_surrogate(out: &mut String, pending: &mut Option<u32>) {
    if pending.take().is_some() {
        out.push('\u{FFFD}');
    }
}

/// A JSON number, also `.5`, `0x1F` and leading-zero octal as Newtonsoft reads them.
fn parse_json_number(text: &str) -> Option<f64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let sign = if negative { -1.0 } else { 1.0 };
    if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        return u64::from_str_radix(hex, 16).ok().map(|v| sign * v as f64);
    }
    let bytes = digits.as_bytes();
    if bytes.len() > 1 && bytes[0] == b'0' && bytes.iter().all(u8::is_ascii_digit) {
        return u64::from_str_radix(digits, 8).ok().map(|v| sign * v as f64);
    }
    let valid = !digits.is_empty()
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && digits
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_digit() || b == b'.');
    if !valid {
        return None;
    }
    digits.parse::<f64>().ok().map(|v| sign * v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Option<crate::expr::Value> {
        parse(text).ok().map(|v| v.to_value())
    }

    fn expect(text: &str, expected: serde_json::Value) {
        assert_eq!(
            json(text),
            Some(crate::expr::Value::from_json(expected)),
            "{text}"
        );
    }

    #[test]
    fn reads_standard_json() {
        expect(
            r#"{"a": [1, -2.5e1, "x\u00e9\n", true, null]}"#,
            serde_json::json!({"a": [1, -25, "xé\n", true, null]}),
        );
        expect("\"\\ud83d\\ude0a\"", serde_json::json!("😊"));
    }

    #[test]
    fn reads_what_newtonsoft_tolerates() {
        expect(
            "{'a': 1, b: [2, 3,], /* note */ c: 0x10} trailing",
            serde_json::json!({"a": 1, "b": [2, 3], "c": 16}),
        );
        expect("// lead\n.5", serde_json::json!(0.5));
        expect("1 2", serde_json::json!(1));
    }

    #[test]
    fn repeated_keys_keep_the_first_spelling_and_the_last_value() {
        expect(
            r#"{"Key": 1, "other": 2, "KEY": 3}"#,
            serde_json::json!({"Key": 3, "other": 2}),
        );
    }

    #[test]
    fn refuses_malformed_json_with_githubs_message() {
        for bad in [
            "",
            "{",
            "[1 2]",
            "1x",
            "'open",
            "tru",
            "{\"a\" 1}",
            "\"\\q\"",
        ] {
            assert_eq!(
                parse(bad).err().map(|e| e.message),
                Some("Error parsing fromJson".to_string()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn refuses_nesting_deeper_than_64() {
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(parse(&ok).is_ok());
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert!(parse(&deep).is_err());
        let hostile = "[".repeat(100_000);
        assert!(parse(&hostile).is_err());
    }
}
