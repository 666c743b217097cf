//! Context data: how a job message carries the contexts GitHub computed for the job (`github`,
//! `matrix`, `strategy`, `needs`, `inputs`, `vars`, ...), read into plain JSON for the engine.
//!
//! The encoding, as GitHub's services write it: strings, booleans and numbers stand bare;
//! otherwise an object whose `t` says what it is — 0 string (`s`), 1 array (`a`), 2 dictionary
//! and 5 case-sensitive dictionary (`d`: a list of `{k, v}` pairs), 3 boolean (`b`), 4 number
//! (`n`). An object without `t` is a string; a missing value member is the type's empty value.

use serde_json::{Map, Value as Json};

use super::json::{each, required, with_field, DecodeError, DecodeErrorKind, Node, MAX_DEPTH};

/// Reads one context value as JSON.
pub fn decode(node: Node<'_>) -> Result<Json, DecodeError> {
    if node.depth() > MAX_DEPTH {
        return Err(node.error(DecodeErrorKind::TooDeep));
    }
    match node.value {
        Json::Null | Json::Bool(_) | Json::Number(_) | Json::String(_) => {
            return Ok(node.value.clone())
        }
        Json::Array(_) => {
            return Err(node.error(DecodeErrorKind::WrongType {
                expected: "context data",
                found: "an array",
            }))
        }
        Json::Object(_) => {}
    }
    let kind = with_field(node, "t", |t| t.as_i64())?.unwrap_or(0);
    Ok(match kind {
        0 => Json::String(with_field(node, "s", |s| s.as_text())?.unwrap_or_default()),
        1 => Json::Array(with_field(node, "a", |a| each(a, decode))?.unwrap_or_default()),
        2 | 5 => {
            let mut map = Map::new();
            let pairs = with_field(node, "d", |d| {
                each(d, |pair| {
                    let key = required(pair, "k", |k| k.as_text())?;
                    let value = with_field(pair, "v", decode)?.unwrap_or(Json::Null);
                    Ok((key, value))
                })
            })?;
            for (k, v) in pairs.unwrap_or_default() {
                map.insert(k, v);
            }
            Json::Object(map)
        }
        3 => Json::Bool(with_field(node, "b", |b| b.as_bool())?.unwrap_or(false)),
        4 => with_field(node, "n", |n| match n.value {
            Json::Number(_) => Ok(n.value.clone()),
            _ => Err(n.error(DecodeErrorKind::WrongType {
                expected: "a number",
                found: super::json::kind_name(n.value),
            })),
        })?
        .unwrap_or_else(|| Json::from(0)),
        other => return Err(node.error(DecodeErrorKind::UnknownContextType(other))),
    })
}

#[cfg(test)]
mod tests {
    use super::super::json::ROOT;
    use super::*;
    use serde_json::json;

    fn read(doc: Json) -> Result<Json, DecodeError> {
        decode(Node::new(&doc, &ROOT))
    }

    #[test]
    fn reads_dictionaries_arrays_and_scalars() {
        let doc = json!({"t": 2, "d": [
            {"k": "event_name", "v": "push"},
            {"k": "run_attempt", "v": {"t": 4, "n": 1}},
            {"k": "flags", "v": {"t": 1, "a": [true, {"t": 3, "b": false}, {"s": "x"}]}},
            {"k": "empty", "v": {"t": 2}}
        ]});
        assert_eq!(
            read(doc).unwrap(),
            json!({"event_name": "push", "run_attempt": 1, "flags": [true, false, "x"], "empty": {}})
        );
    }

    #[test]
    fn case_sensitive_dictionaries_keep_both_keys() {
        let doc = json!({"t": 5, "d": [{"k": "A", "v": "1"}, {"k": "a", "v": "2"}]});
        assert_eq!(read(doc).unwrap(), json!({"A": "1", "a": "2"}));
    }

    #[test]
    fn rejects_unknown_type_and_missing_key_with_paths() {
        let err = read(json!({"t": 2, "d": [{"k": "x", "v": {"t": 9}}]})).unwrap_err();
        assert_eq!(err.path, "$.d[0].v");
        assert_eq!(err.kind, DecodeErrorKind::UnknownContextType(9));
        let err = read(json!({"t": 2, "d": [{"v": "x"}]})).unwrap_err();
        assert_eq!(err.to_string(), "$.d[0]: required member `k` is missing");
    }
}
