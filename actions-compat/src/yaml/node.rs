//! The YAML tree: nodes that know where they were written.

use std::sync::Arc;

/// One YAML node with the file, line and column (1-based, in characters) where it starts.
///
/// A node copied from an anchor by an alias starts where the alias was written; the nodes inside
/// it keep the positions of the anchored text.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub file: Arc<str>,
    pub line: usize,
    pub col: usize,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Scalar(Scalar),
    Sequence(Vec<Node>),
    /// Entries in the order written. Keys are always scalar nodes, and no two are equal.
    Mapping(Vec<Entry>),
}

/// One `key: value` pair of a mapping; the key keeps its own position.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: Node,
    pub value: Node,
}

/// A scalar as written: its text after YAML unquoting and folding, its style and its tag, so
/// that the YAML 1.2 core schema can be applied to it ([`Scalar::resolve`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar {
    pub value: String,
    pub style: ScalarStyle,
    /// The tag in full form (`tag:yaml.org,2002:int` for `!!int`, `!` for the non-specific tag),
    /// or `None` when the scalar has none.
    pub tag: Option<String>,
}

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    /// `|`
    Literal,
    /// `>`
    Folded,
}

impl ScalarStyle {
    /// The name GitHub uses for the style in its error messages.
    pub fn name(self) -> &'static str {
        match self {
            ScalarStyle::Plain => "Plain",
            ScalarStyle::SingleQuoted => "SingleQuoted",
            ScalarStyle::DoubleQuoted => "DoubleQuoted",
            ScalarStyle::Literal => "Literal",
            ScalarStyle::Folded => "Folded",
        }
    }
}

impl Node {
    /// The scalar, if this node is one.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The mapping's entries, if this node is a mapping.
    pub fn as_mapping(&self) -> Option<&[Entry]> {
        match &self.kind {
            NodeKind::Mapping(m) => Some(m),
            _ => None,
        }
    }

    /// The sequence's items, if this node is a sequence.
    pub fn as_sequence(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Sequence(s) => Some(s),
            _ => None,
        }
    }

    /// The value of the entry whose key is exactly `key`, if this node is a mapping that has one.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_mapping()?
            .iter()
            .find(|e| e.key.as_scalar().is_some_and(|k| k.value == key))
            .map(|e| &e.value)
    }
}
