//! Builds the [`Node`] tree from `saphyr-parser` events, without recursion.
//!
//! The builder enforces the [`Limits`] as events arrive, so a hostile document is refused before
//! it is built: too deep a nesting, too many nodes (aliases count as copies of what they refer
//! to, which is what stops "billion laughs" documents) and duplicate keys.
//!
//! A line of a flow collection that `saphyr-parser` finds too little indented is moved right and
//! the document parsed again, as [`super::reindent`] explains.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle as SaphyrStyle, ScanError, Span, Tag};

use super::node::{Entry, Node, NodeKind, Scalar, ScalarStyle};
use super::reindent::{is_flow_indentation_error, Reindent};
use super::Limits;
use crate::diagnostic::{Diagnostic, ParseErrors};

/// A collection being built, with what it needs when it is finished.
struct Frame {
    line: usize,
    col: usize,
    /// A flow collection (`[...]`, `{...}`) rather than a block one.
    flow: bool,
    anchor: usize,
    /// Nodes in the collection so far, itself included.
    nodes: usize,
    /// The height of its tallest child so far (a scalar has height 0).
    child_height: usize,
    content: Content,
}

enum Content {
    Sequence(Vec<Node>),
    Mapping {
        entries: Vec<Entry>,
        key: Option<Node>,
        seen: HashSet<String>,
    },
}

/// An anchored node, with its size and height so that aliases to it are checked before copying.
struct Anchored {
    node: Node,
    nodes: usize,
    height: usize,
}

struct Builder<'s> {
    file: Arc<str>,
    /// The text parsed: the document, with the lines [`Reindent`] padded.
    source: &'s str,
    /// Maps positions in `source` back to the document as written.
    reindent: &'s Reindent,
    lines: Option<Vec<&'s str>>,
    limits: Limits,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    root: Option<Node>,
    /// Nodes made so far, copies made by aliases included.
    nodes: usize,
    /// Where the previous event ended, to find the header of a block scalar.
    previous_end: Marker,
    documents: usize,
    /// Problems that do not stop the build (duplicate keys, bad tags).
    errors: Vec<Diagnostic>,
}

/// A problem that stops the build.
struct Fatal(Diagnostic);

/// Why one parse of the text failed.
struct Failure {
    errors: ParseErrors,
    /// For `saphyr-parser`'s indentation error inside a flow collection: the 1-based line, the
    /// 0-based column of the token, and the 0-based column `saphyr-parser` requires.
    underindented: Option<(usize, usize, usize)>,
}

pub(super) fn build(source: &str, file: &str, limits: Limits) -> Result<Node, ParseErrors> {
    let mut reindent = Reindent::default();
    let mut text = Cow::Borrowed(source);
    loop {
        let failure = match build_once(&text, file, limits, &reindent) {
            Ok(node) => return Ok(node),
            Err(failure) => failure,
        };
        let padded = failure
            .underindented
            .and_then(|(line, col, required)| reindent.pad(&text, line, col, required));
        match padded {
            Some(padded) => text = Cow::Owned(padded),
            None => return Err(failure.errors),
        }
    }
}

fn build_once(
    source: &str,
    file: &str,
    limits: Limits,
    reindent: &Reindent,
) -> Result<Node, Failure> {
    let mut builder = Builder {
        file: Arc::from(file),
        source,
        reindent,
        lines: None,
        limits,
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        nodes: 0,
        previous_end: Marker::new(0, 1, 0),
        documents: 0,
        errors: Vec::new(),
    };
    let fail = |errors| Failure {
        errors: ParseErrors(errors),
        underindented: None,
    };
    for event in Parser::new_from_str(source) {
        let (event, span) = match event {
            Ok(event) => event,
            Err(e) => return Err(builder.scan_failure(&e)),
        };
        if let Err(Fatal(d)) = builder.on_event(event, span) {
            builder.errors.push(d);
            return Err(fail(builder.errors));
        }
    }
    if !builder.errors.is_empty() {
        return Err(fail(builder.errors));
    }
    // An empty stream is an empty document: a null scalar.
    Ok(builder.root.unwrap_or_else(|| Node {
        file: builder.file.clone(),
        line: 1,
        col: 1,
        kind: NodeKind::Scalar(Scalar {
            value: String::new(),
            style: ScalarStyle::Plain,
            tag: None,
        }),
    }))
}

impl Builder<'_> {
    /// The build failed on a syntax error of `saphyr-parser`'s.
    fn scan_failure(mut self, e: &ScanError) -> Failure {
        let (line, col) = (e.marker().line(), e.marker().col());
        let underindented = if is_flow_indentation_error(e.info()) {
            self.block_indent().map(|required| (line, col, required))
        } else {
            None
        };
        let (line, col) = self.reindent.original((line, col + 1));
        self.errors
            .push(Diagnostic::new(&*self.file, line, col, e.info()));
        Failure {
            errors: ParseErrors(self.errors),
            underindented,
        }
    }

    /// The 0-based column a line inside a flow collection must reach for `saphyr-parser`: one
    /// past the innermost block collection being built (whose 1-based column that is). Block
    /// collections never start on a padded line, so their columns are those of the text parsed.
    fn block_indent(&self) -> Option<usize> {
        self.stack.iter().rev().find(|f| !f.flow).map(|f| f.col)
    }

    fn on_event(&mut self, event: Event<'_>, span: Span) -> Result<(), Fatal> {
        let raw_line = span.start.line();
        let (line, col) = self.reindent.original((raw_line, span.start.col() + 1));
        let result = match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(self.fatal(
                        line,
                        col,
                        "A workflow or action file holds one YAML document; found a second one",
                    ));
                }
                Ok(())
            }
            Event::Scalar(value, style, anchor, tag) => {
                let style = convert_style(style);
                let untagged = tag.is_none() && anchor == 0;
                let (line, col) =
                    if untagged && matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
                        self.block_header(span.start)
                            .map_or((line, col), |at| self.reindent.original(at))
                    } else if untagged && style == ScalarStyle::Plain && span.start == span.end {
                        // An empty value (`key:`) is placed at the colon; GitHub places it after.
                        let at_colon = self.char_at(raw_line, span.start.col()) == Some(':');
                        (line, if at_colon { col + 1 } else { col })
                    } else {
                        (line, col)
                    };
                let scalar = Scalar {
                    value: value.into_owned(),
                    style,
                    tag: tag.map(|t| full_tag(&t)),
                };
                if let Err(e) = scalar.resolve() {
                    let message = e.message(line, col);
                    self.errors
                        .push(Diagnostic::new(&*self.file, line, col, message));
                }
                let node = self.node(line, col, NodeKind::Scalar(scalar));
                self.count(1, line, col)?;
                self.finish(node, anchor, 1, 0)
            }
            Event::SequenceStart(anchor, tag) => {
                self.check_collection_tag(tag.as_deref(), "seq", line, col);
                let flow = self.char_at(raw_line, span.start.col()) == Some('[');
                self.open(line, col, flow, anchor, Content::Sequence(Vec::new()))
            }
            Event::MappingStart(anchor, tag) => {
                self.check_collection_tag(tag.as_deref(), "map", line, col);
                let flow = self.char_at(raw_line, span.start.col()) == Some('{');
                let content = Content::Mapping {
                    entries: Vec::new(),
                    key: None,
                    seen: HashSet::new(),
                };
                self.open(line, col, flow, anchor, content)
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(),
            Event::Alias(id) => self.alias(id, line, col),
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => Ok(()),
        };
        self.previous_end = span.end;
        result
    }

    fn node(&self, line: usize, col: usize, kind: NodeKind) -> Node {
        Node {
            file: self.file.clone(),
            line,
            col,
            kind,
        }
    }

    fn fatal(&self, line: usize, col: usize, message: impl Into<String>) -> Fatal {
        Fatal(Diagnostic::new(&*self.file, line, col, message))
    }

    fn count(&mut self, nodes: usize, line: usize, col: usize) -> Result<(), Fatal> {
        self.nodes = self.nodes.saturating_add(nodes);
        if self.nodes > self.limits.max_nodes {
            return Err(self.fatal(
                line,
                col,
                format!(
                    "The document has more than {} nodes (aliases count as copies of their anchor)",
                    self.limits.max_nodes
                ),
            ));
        }
        Ok(())
    }

    fn depth_exceeded(&self, line: usize, col: usize) -> Fatal {
        self.fatal(line, col, "Maximum object depth exceeded")
    }

    fn open(
        &mut self,
        line: usize,
        col: usize,
        flow: bool,
        anchor: usize,
        content: Content,
    ) -> Result<(), Fatal> {
        if self.stack.len() + 1 > self.limits.max_depth {
            return Err(self.depth_exceeded(line, col));
        }
        self.count(1, line, col)?;
        self.stack.push(Frame {
            line,
            col,
            flow,
            anchor,
            nodes: 1,
            child_height: 0,
            content,
        });
        Ok(())
    }

    fn close(&mut self) -> Result<(), Fatal> {
        let Some(frame) = self.stack.pop() else {
            return Ok(());
        };
        let kind = match frame.content {
            Content::Sequence(items) => NodeKind::Sequence(items),
            Content::Mapping { entries, .. } => NodeKind::Mapping(entries),
        };
        let node = self.node(frame.line, frame.col, kind);
        self.finish(node, frame.anchor, frame.nodes, frame.child_height + 1)
    }

    fn alias(&mut self, id: usize, line: usize, col: usize) -> Result<(), Fatal> {
        let Some(anchored) = self.anchors.get(&id) else {
            return Err(self.fatal(
                line,
                col,
                "The alias refers to an anchor whose node is not complete (an alias inside its own anchor)",
            ));
        };
        let (nodes, height) = (anchored.nodes, anchored.height);
        if self.stack.len() + height > self.limits.max_depth {
            return Err(self.depth_exceeded(line, col));
        }
        self.count(nodes, line, col)?;
        let Some(anchored) = self.anchors.get(&id) else {
            return Ok(());
        };
        let mut node = anchored.node.clone();
        node.line = line;
        node.col = col;
        self.finish(node, 0, nodes, height)
    }

    /// Records an anchor and places a finished node in its parent (or as the root).
    fn finish(
        &mut self,
        node: Node,
        anchor: usize,
        nodes: usize,
        height: usize,
    ) -> Result<(), Fatal> {
        if anchor != 0 {
            self.anchors.insert(
                anchor,
                Anchored {
                    node: node.clone(),
                    nodes,
                    height,
                },
            );
        }
        let Some(parent) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        parent.nodes = parent.nodes.saturating_add(nodes);
        parent.child_height = parent.child_height.max(height);
        match &mut parent.content {
            Content::Sequence(items) => items.push(node),
            Content::Mapping { entries, key, seen } => match key.take() {
                None => {
                    let Some(scalar) = node.as_scalar() else {
                        return Err(Fatal(Diagnostic::new(
                            &*node.file,
                            node.line,
                            node.col,
                            "A mapping key must be a scalar",
                        )));
                    };
                    if !seen.insert(scalar.value.clone()) {
                        let message = format!("'{}' is already defined", scalar.value);
                        self.errors.push(Diagnostic::new(
                            &*node.file,
                            node.line,
                            node.col,
                            message,
                        ));
                    }
                    *key = Some(node);
                }
                Some(k) => entries.push(Entry {
                    key: k,
                    value: node,
                }),
            },
        }
        Ok(())
    }

    fn check_collection_tag(&mut self, tag: Option<&Tag>, expected: &str, line: usize, col: usize) {
        let Some(tag) = tag else { return };
        let full = full_tag(tag);
        if full != "!" && full != format!("tag:yaml.org,2002:{expected}") {
            self.errors.push(Diagnostic::new(
                &*self.file,
                line,
                col,
                format!("Unexpected tag '{full}'"),
            ));
        }
    }

    /// The character at a 1-based line and 0-based column.
    fn char_at(&mut self, line: usize, col: usize) -> Option<char> {
        let source = self.source;
        let lines = self.lines.get_or_insert_with(|| source.lines().collect());
        lines.get(line.checked_sub(1)?)?.chars().nth(col)
    }

    /// Where the `|` or `>` of an untagged block scalar is: `saphyr-parser` places the scalar at
    /// its content, GitHub at its header. The header is the first `|` or `>` after the previous
    /// event that is not in a comment.
    fn block_header(&mut self, content: Marker) -> Option<(usize, usize)> {
        let source = self.source;
        let lines = self.lines.get_or_insert_with(|| source.lines().collect());
        let from = self.previous_end;
        for line in from.line()..=content.line() {
            let text = lines.get(line.checked_sub(1)?)?;
            let skip = if line == from.line() { from.col() } else { 0 };
            let mut previous_blank = true;
            for (col, c) in text.chars().enumerate().skip(skip) {
                if line == content.line() && col >= content.col() {
                    return None;
                }
                match c {
                    '#' if previous_blank => break,
                    '|' | '>' => return Some((line, col + 1)),
                    _ => previous_blank = c.is_whitespace(),
                }
            }
        }
        None
    }
}

fn convert_style(style: SaphyrStyle) -> ScalarStyle {
    match style {
        SaphyrStyle::Plain => ScalarStyle::Plain,
        SaphyrStyle::SingleQuoted => ScalarStyle::SingleQuoted,
        SaphyrStyle::DoubleQuoted => ScalarStyle::DoubleQuoted,
        SaphyrStyle::Literal => ScalarStyle::Literal,
        SaphyrStyle::Folded => ScalarStyle::Folded,
    }
}

fn full_tag(tag: &Tag) -> String {
    format!("{}{}", tag.handle, tag.suffix)
}
