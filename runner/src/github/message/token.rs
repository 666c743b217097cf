//! Template tokens: how a job message carries values that may still hold expressions (a step's
//! inputs, env, display name, `continue-on-error`, the job's outputs and defaults).
//!
//! The encoding, as GitHub's services write it: a literal may stand bare (a JSON string, number,
//! boolean or `null`); otherwise an object whose `type` says what it is — 0 string (`lit`),
//! 1 sequence (`seq`), 2 mapping (`map`: a list of `{Key, Value}` pairs), 3 expression
//! (`expr`: the expression text, without `${{ }}`), 4 insert directive (`directive`),
//! 5 boolean (`bool`), 6 number (`num`), 7 null — and may carry `file` (an index into the
//! message's file table), `line` and `col`. An object without `type` is a string.

use serde_json::Value as Json;

use super::json::{each, with_field, DecodeError, DecodeErrorKind, Node, MAX_DEPTH};

/// Where a token was written: an index into the message's file table, a line and a column
/// (1-based; 0 when the message does not say).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    pub file: Option<usize>,
    pub line: usize,
    pub col: usize,
}

/// A template token.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Null(Position),
    Bool(bool, Position),
    Number(f64, Position),
    String(String, Position),
    /// An expression to evaluate when the job runs: the text inside `${{ }}` (GitHub has already
    /// turned a string with embedded expressions into one `format(...)` call).
    Expression(String, Position),
    /// `${{ insert }}`: merges a mapping into the one it is a key of.
    Insert(String, Position),
    Sequence(Vec<Token>, Position),
    Mapping(Vec<(Token, Token)>, Position),
}

impl Token {
    pub fn position(&self) -> Position {
        match self {
            Token::Null(p)
            | Token::Bool(_, p)
            | Token::Number(_, p)
            | Token::String(_, p)
            | Token::Expression(_, p)
            | Token::Insert(_, p)
            | Token::Sequence(_, p)
            | Token::Mapping(_, p) => *p,
        }
    }

    /// The literal string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Token::String(s, _) => Some(s),
            _ => None,
        }
    }

    /// What kind of token this is, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Token::Null(_) => "null",
            Token::Bool(..) => "a boolean",
            Token::Number(..) => "a number",
            Token::String(..) => "a string",
            Token::Expression(..) => "an expression",
            Token::Insert(..) => "an insert directive",
            Token::Sequence(..) => "a sequence",
            Token::Mapping(..) => "a mapping",
        }
    }

    /// Reads a token.
    pub fn decode(node: Node<'_>) -> Result<Token, DecodeError> {
        if node.depth() > MAX_DEPTH {
            return Err(node.error(DecodeErrorKind::TooDeep));
        }
        let here = Position::default();
        match node.value {
            Json::Null => return Ok(Token::Null(here)),
            Json::Bool(b) => return Ok(Token::Bool(*b, here)),
            Json::Number(n) => return Ok(Token::Number(n.as_f64().unwrap_or(0.0), here)),
            Json::String(s) => return Ok(Token::String(s.clone(), here)),
            Json::Array(_) => {
                return Err(node.error(DecodeErrorKind::WrongType {
                    expected: "a template token",
                    found: "an array",
                }))
            }
            Json::Object(_) => {}
        }
        let kind = with_field(node, "type", |t| t.as_i64())?.unwrap_or(0);
        let position = Position {
            file: with_field(node, "file", |f| f.as_i64())?.and_then(|f| usize::try_from(f).ok()),
            line: with_field(node, "line", |l| l.as_i64())?
                .and_then(|l| usize::try_from(l).ok())
                .unwrap_or(0),
            col: with_field(node, "col", |c| c.as_i64())?
                .and_then(|c| usize::try_from(c).ok())
                .unwrap_or(0),
        };
        Ok(match kind {
            0 => Token::String(
                with_field(node, "lit", |l| l.as_text())?.unwrap_or_default(),
                position,
            ),
            1 => Token::Sequence(
                with_field(node, "seq", |s| each(s, Token::decode))?.unwrap_or_default(),
                position,
            ),
            2 => Token::Mapping(
                with_field(node, "map", |m| each(m, decode_pair))?.unwrap_or_default(),
                position,
            ),
            3 => Token::Expression(
                with_field(node, "expr", |e| e.as_text())?.unwrap_or_default(),
                position,
            ),
            4 => Token::Insert(
                with_field(node, "directive", |d| d.as_text())?.unwrap_or_default(),
                position,
            ),
            5 => Token::Bool(
                with_field(node, "bool", |b| b.as_bool())?.unwrap_or(false),
                position,
            ),
            6 => Token::Number(
                with_field(node, "num", |n| match n.value {
                    Json::Number(x) => Ok(x.as_f64().unwrap_or(0.0)),
                    _ => Err(n.error(DecodeErrorKind::WrongType {
                        expected: "a number",
                        found: super::json::kind_name(n.value),
                    })),
                })?
                .unwrap_or(0.0),
                position,
            ),
            7 => Token::Null(position),
            other => {
                return Err(node.error(DecodeErrorKind::UnknownTokenType(other)));
            }
        })
    }
}

/// One `{Key, Value}` pair of a mapping.
fn decode_pair(node: Node<'_>) -> Result<(Token, Token), DecodeError> {
    let key = with_field(node, "key", Token::decode)?
        .ok_or_else(|| node.error(DecodeErrorKind::Missing("Key")))?;
    match key {
        Token::String(..) | Token::Expression(..) | Token::Insert(..) => {}
        other => {
            return Err(node.error(DecodeErrorKind::WrongType {
                expected: "a string, expression or insert key",
                found: other.kind_name(),
            }))
        }
    }
    let value =
        with_field(node, "value", Token::decode)?.unwrap_or(Token::Null(Position::default()));
    Ok((key, value))
}

#[cfg(test)]
mod tests {
    use super::super::json::ROOT;
    use super::*;
    use serde_json::json;

    fn decode(doc: Json) -> Result<Token, DecodeError> {
        Token::decode(Node::new(&doc, &ROOT))
    }

    #[test]
    fn reads_bare_literals_and_typed_objects_with_positions() {
        assert_eq!(
            decode(json!("hi")).unwrap(),
            Token::String("hi".into(), Position::default())
        );
        let t = decode(json!({"type": 3, "file": 1, "line": 12, "col": 9, "expr": "matrix.os"}))
            .unwrap();
        assert_eq!(
            t,
            Token::Expression(
                "matrix.os".into(),
                Position {
                    file: Some(1),
                    line: 12,
                    col: 9
                }
            )
        );
        assert_eq!(
            decode(json!({"type": 5, "bool": true})).unwrap(),
            Token::Bool(true, Position::default())
        );
        assert_eq!(
            decode(json!({"type": 6, "num": 2.5})).unwrap(),
            Token::Number(2.5, Position::default())
        );
        assert_eq!(
            decode(json!({"type": 7})).unwrap(),
            Token::Null(Position::default())
        );
    }

    #[test]
    fn reads_mappings_with_either_case_of_key_and_value() {
        let t = decode(json!({"type": 2, "map": [
            {"Key": "script", "Value": "echo hi"},
            {"key": "shell", "value": {"type": 0, "lit": "bash"}}
        ]}))
        .unwrap();
        let Token::Mapping(pairs, _) = t else {
            panic!("mapping expected")
        };
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[1].0.as_str(), Some("shell"));
        assert_eq!(pairs[1].1.as_str(), Some("bash"));
    }

    #[test]
    fn rejects_unknown_token_type_with_its_path() {
        let err = decode(json!({"type": 1, "seq": ["a", {"type": 42}]})).unwrap_err();
        assert_eq!(err.path, "$.seq[1]");
        assert_eq!(err.kind, DecodeErrorKind::UnknownTokenType(42));
    }

    #[test]
    fn rejects_a_mapping_key_that_is_a_sequence() {
        let err =
            decode(json!({"type": 2, "map": [{"Key": {"type": 1}, "Value": 1}]})).unwrap_err();
        assert_eq!(err.path, "$.map[0]");
    }

    #[test]
    fn refuses_tokens_nested_too_deep() {
        let mut doc = json!("leaf");
        for _ in 0..(MAX_DEPTH + 5) / 2 {
            doc = json!({"type": 1, "seq": [doc]});
        }
        let err = decode(doc).unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::TooDeep);
    }
}
