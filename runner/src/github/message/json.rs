//! Reading a JSON document that came from GitHub, with the place of every value: a [`Node`] is a
//! value and its path (`$.steps[2].inputs`), so that every error says where in the message it is.
//!
//! GitHub's services write these documents with .NET's JSON serializer and read them back
//! ignoring the case of member names, so [`Node::field`] ignores case too. Nothing here panics on
//! any input: a missing member, a wrong type or a document nested too deep is a
//! [`DecodeError`].

use serde_json::Value as Json;

/// How deep a template token or context value may nest. serde_json already refuses documents
/// nested deeper than 128 levels while parsing; this bounds our own recursion below that.
pub const MAX_DEPTH: usize = 100;

/// Why a job message (or a part of it) could not be read, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {kind}")]
pub struct DecodeError {
    /// Where in the document: `$.steps[1].reference.type`.
    pub path: String,
    pub kind: DecodeErrorKind,
}

/// What was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("required member `{0}` is missing")]
    Missing(&'static str),
    #[error("expected {expected}, found {found}")]
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    #[error("unknown template token type {0}")]
    UnknownTokenType(i64),
    #[error("unknown context data type {0}")]
    UnknownContextType(i64),
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("{0}")]
    Invalid(String),
    /// Something GitHub may send that this runner does not run yet; the job is refused.
    #[error("{0} not supported yet")]
    Unsupported(String),
}

/// A value of the document and where it is.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    pub value: &'a Json,
    path: &'a Path<'a>,
}

/// A path, built only when an error needs it.
#[derive(Debug, Clone, Copy)]
pub enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn render(&self) -> String {
        let mut parts = Vec::new();
        let mut at = self;
        loop {
            match at {
                Path::Root => break,
                Path::Field(parent, name) => {
                    parts.push(format!(".{name}"));
                    at = parent;
                }
                Path::Index(parent, i) => {
                    parts.push(format!("[{i}]"));
                    at = parent;
                }
            }
        }
        parts.reverse();
        format!("${}", parts.concat())
    }

    fn depth(&self) -> usize {
        let mut n = 0;
        let mut at = self;
        loop {
            match at {
                Path::Root => return n,
                Path::Field(parent, _) | Path::Index(parent, _) => {
                    n += 1;
                    at = parent;
                }
            }
        }
    }
}

/// The root path.
pub const ROOT: Path<'static> = Path::Root;

/// The name of a JSON value's type, for messages.
pub fn kind_name(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

impl<'a> Node<'a> {
    pub fn new(value: &'a Json, path: &'a Path<'a>) -> Node<'a> {
        Node { value, path }
    }

    /// An error at this node.
    pub fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError {
            path: self.path.render(),
            kind,
        }
    }

    /// How many levels below the document's root this node is.
    pub fn depth(&self) -> usize {
        self.path.depth()
    }

    fn wrong(&self, expected: &'static str) -> DecodeError {
        self.error(DecodeErrorKind::WrongType {
            expected,
            found: kind_name(self.value),
        })
    }

    /// The member `name` (any case), if this is an object that has it and it is not `null`.
    pub fn get(&self, name: &str) -> Option<(&'a str, &'a Json)> {
        let map = self.value.as_object()?;
        map.iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(name) && !v.is_null())
            .map(|(k, v)| (k.as_str(), v))
    }

    pub fn as_object(&self) -> Result<&'a serde_json::Map<String, Json>, DecodeError> {
        self.value
            .as_object()
            .ok_or_else(|| self.wrong("an object"))
    }

    pub fn as_array(&self) -> Result<&'a Vec<Json>, DecodeError> {
        self.value.as_array().ok_or_else(|| self.wrong("an array"))
    }

    pub fn as_bool(&self) -> Result<bool, DecodeError> {
        match self.value {
            Json::Bool(b) => Ok(*b),
            // .NET writes some booleans as strings ("True").
            Json::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
            Json::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
            _ => Err(self.wrong("a boolean")),
        }
    }

    pub fn as_i64(&self) -> Result<i64, DecodeError> {
        match self.value {
            Json::Number(n) => n.as_i64().ok_or_else(|| self.wrong("an integer")),
            Json::String(s) => s.trim().parse().map_err(|_| self.wrong("an integer")),
            _ => Err(self.wrong("an integer")),
        }
    }

    /// A string, or a number written as its text (ids are numbers in some messages).
    pub fn as_text(&self) -> Result<String, DecodeError> {
        match self.value {
            Json::String(s) => Ok(s.clone()),
            Json::Number(n) => Ok(n.to_string()),
            _ => Err(self.wrong("a string")),
        }
    }
}

/// Runs `f` on the member `name` of `node` when it is there (and not `null`).
pub fn with_field<T>(
    node: Node<'_>,
    name: &str,
    f: impl FnOnce(Node<'_>) -> Result<T, DecodeError>,
) -> Result<Option<T>, DecodeError> {
    match node.get(name) {
        Some((key, value)) => {
            let path = Path::Field(node.path, key);
            f(Node::new(value, &path)).map(Some)
        }
        None => Ok(None),
    }
}

/// Runs `f` on the member `name` of `node`, which must be there.
pub fn required<T>(
    node: Node<'_>,
    name: &'static str,
    f: impl FnOnce(Node<'_>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    with_field(node, name, f)?.ok_or_else(|| node.error(DecodeErrorKind::Missing(name)))
}

/// Runs `f` on each item of the array `node`.
pub fn each<T>(
    node: Node<'_>,
    mut f: impl FnMut(Node<'_>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let items = node.as_array()?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = Path::Index(node.path, i);
        out.push(f(Node::new(item, &path))?);
    }
    Ok(out)
}

/// Runs `f` on each member of the object `node`, with its name.
pub fn each_member<T>(
    node: Node<'_>,
    mut f: impl FnMut(&str, Node<'_>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let map = node.as_object()?;
    let mut out = Vec::with_capacity(map.len());
    for (key, value) in map {
        let path = Path::Field(node.path, key);
        out.push(f(key, Node::new(value, &path))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_the_path_of_the_value() {
        let doc = json!({"steps": [{"id": 1}, {"reference": {"type": true}}]});
        let root = Node::new(&doc, &ROOT);
        let err = required(root, "steps", |steps| {
            each(steps, |step| {
                with_field(step, "Reference", |r| required(r, "type", |t| t.as_text()))
            })
        })
        .unwrap_err();
        assert_eq!(err.path, "$.steps[1].reference.type");
        assert_eq!(
            err.to_string(),
            "$.steps[1].reference.type: expected a string, found a boolean"
        );
    }

    #[test]
    fn members_are_found_ignoring_case_and_null_counts_as_absent() {
        let doc = json!({"JobId": "x", "plan": null});
        let root = Node::new(&doc, &ROOT);
        assert_eq!(root.get("jobId").map(|(k, _)| k), Some("JobId"));
        assert!(root.get("plan").is_none());
        let err = required(root, "plan", |p| p.as_text()).unwrap_err();
        assert_eq!(err.to_string(), "$: required member `plan` is missing");
    }
}
