//! A YAML tree in which every node keeps its file, line and column.
//!
//! Built on `saphyr-parser`: the maintained successor of `yaml-rust`, it is a pure-Rust event
//! parser without `unsafe` whose events carry spans, which is what we need to point every error
//! at the line and column GitHub points at. (`serde_yaml` is deprecated and drops positions.)
//!
//! This module only builds the tree and applies YAML's own rules: anchors and aliases (an alias
//! becomes a copy of its anchored node), duplicate keys, tags, and the limits in [`Limits`] that
//! keep hostile input from exhausting memory or stack. What a scalar means (null, boolean,
//! number, string) is decided by the YAML 1.2 core schema in [`Scalar::resolve`], as GitHub does.
//! It knows nothing of workflows.
//!
//! Merge keys (`<<: *anchor`) are not expanded: GitHub's parser does not expand them either, so
//! `<<` is an ordinary key.
//!
//! One deliberate leniency over `saphyr-parser`: a line inside a flow collection may start left
//! of the column YAML 1.2 requires (a closing `]` under its key, as in `key: [` ... `]`), because
//! GitHub's YAML parser accepts it and real workflows do it. Such a line is moved right and the
//! document parsed again, with positions mapped back to the text as written; `reindent` holds
//! the details and the bounds.

mod build;
mod core_schema;
mod node;
mod reindent;

pub use core_schema::{CoreValue, TagError};
pub use node::{Entry, Node, NodeKind, Scalar, ScalarStyle};

use crate::diagnostic::{Diagnostic, ParseErrors};

/// Bounds on what a document may cost to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest document accepted, in characters. GitHub refuses workflow files over a cap with
    /// "The maximum file size of N characters has been exceeded"; our default is 1 MiB
    /// (1,048,576 characters), far above any real workflow.
    pub max_chars: usize,
    /// Deepest nesting of sequences and mappings accepted, the root collection counting as 1.
    /// GitHub's default is 50 ("Maximum object depth exceeded"). Values above
    /// [`Limits::DEPTH_CEILING`] are lowered to it, so that every recursive walk over the tree
    /// stays far from the stack's end.
    pub max_depth: usize,
    /// Most nodes (scalars, keys, collections) a document may have, counting every alias as a
    /// full copy of its anchor. This is what refuses "billion laughs" documents.
    pub max_nodes: usize,
}

impl Limits {
    /// The highest `max_depth` honoured.
    pub const DEPTH_CEILING: usize = 200;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_chars: 1024 * 1024,
            max_depth: 50,
            max_nodes: 250_000,
        }
    }
}

/// Parses one YAML document into a tree. `file` names the document in diagnostics.
///
/// Errors: YAML syntax errors (with the position the parser reports), more than one document,
/// keys that are not scalars, duplicate keys, unsupported tags or values invalid for their tag,
/// and exceeded [`Limits`].
pub fn parse(source: &str, file: &str, limits: &Limits) -> Result<Node, ParseErrors> {
    // Characters are at most as many as bytes, so counting is needed only for large inputs.
    if source.len() > limits.max_chars && source.chars().count() > limits.max_chars {
        return Err(Diagnostic::whole_file(
            file,
            format!(
                "The maximum file size of {} characters has been exceeded",
                limits.max_chars
            ),
        )
        .into());
    }
    let limits = Limits {
        max_depth: limits.max_depth.min(Limits::DEPTH_CEILING),
        ..*limits
    };
    build::build(source, file, limits)
}

#[cfg(test)]
mod tests;
