//! Walks a YAML tree against a schema definition, as GitHub's template reader does, collecting
//! every error rather than stopping at the first.

use std::collections::HashSet;

use super::builtin::ANY;
use super::strings::read_string;
use super::token::{Token, TokenKind};
use super::{inherit, Allowed, Def, Kind, Mapping, Text};
use crate::diagnostic::{Diagnostic, ParseErrors};
use crate::yaml::{CoreValue, Limits, Node, NodeKind};

/// Keys of the experimental background steps, refused unless they are enabled.
const BACKGROUND_STEP_KEYS: [&str; 4] = ["background", "wait", "wait-all", "cancel"];
/// Keys only background-step definitions have, left out of "Add one of these properties".
const BACKGROUND_ONLY_KEYS: [&str; 3] = ["wait", "wait-all", "cancel"];
/// How deep one-of definitions may nest inside each other; our tables nest two deep at most.
const MAX_ONE_OF_NESTING: usize = 8;

/// Reads a document's text as `def`: builds its YAML tree within `limits`, then checks it. The
/// errors are every one of the first of the two steps that found any, as GitHub reports them.
pub(crate) fn read_source(
    source: &str,
    file: &str,
    limits: &Limits,
    def: &'static Def,
    background_steps: bool,
) -> Result<Token, ParseErrors> {
    let root = crate::yaml::parse(source, file, limits)?;
    let (token, errors) = read(&root, def, file, background_steps);
    if errors.is_empty() {
        Ok(token)
    } else {
        Err(ParseErrors(errors))
    }
}

/// Reads `root` as `def`, returning the token tree and every error found.
pub(crate) fn read(
    root: &Node,
    def: &'static Def,
    file: &str,
    background_steps: bool,
) -> (Token, Vec<Diagnostic>) {
    let mut reader = Reader {
        file,
        background_steps,
        errors: Vec::new(),
    };
    let allowed = inherit(&[], def);
    let token = reader.value(root, def, &allowed);
    (token, reader.errors)
}

struct Reader<'f> {
    file: &'f str,
    background_steps: bool,
    errors: Vec<Diagnostic>,
}

impl Reader<'_> {
    fn error(&mut self, line: usize, col: usize, message: impl Into<String>) {
        self.errors
            .push(Diagnostic::new(self.file, line, col, message));
    }

    /// Reads a node as `def`, where `allowed` is what expressions may use (already including
    /// `def`'s own contexts).
    fn value(&mut self, node: &Node, def: &'static Def, allowed: &[Allowed]) -> Token {
        match &node.kind {
            NodeKind::Scalar(_) => {
                let token = self.scalar(node, allowed);
                self.validate(token, def, allowed)
            }
            NodeKind::Sequence(items) => {
                let tokens = match of_kind(def, |k| matches!(k, Kind::Sequence(_))).first() {
                    Some(Def {
                        kind: Kind::Sequence(item),
                        ..
                    }) => {
                        let item_allowed = inherit(allowed, item);
                        items
                            .iter()
                            .map(|i| self.value(i, item, &item_allowed))
                            .collect()
                    }
                    _ => {
                        self.error(node.line, node.col, "A sequence was not expected");
                        Vec::new()
                    }
                };
                Token::new(node.line, node.col, TokenKind::Sequence(tokens))
            }
            NodeKind::Mapping(_) => {
                let mappings: Vec<&'static Mapping> =
                    of_kind(def, |k| matches!(k, Kind::Mapping(_)))
                        .into_iter()
                        .filter_map(|d| match &d.kind {
                            Kind::Mapping(m) => Some(m),
                            _ => None,
                        })
                        .collect();
                let entries = match mappings.as_slice() {
                    [] => {
                        self.error(node.line, node.col, "A mapping was not expected");
                        Vec::new()
                    }
                    [only] if only.properties.is_empty() && only.loose.is_some() => {
                        self.loose_mapping(node, only, allowed)
                    }
                    _ => self.known_mapping(node, mappings, allowed),
                };
                Token::new(node.line, node.col, TokenKind::Mapping(entries))
            }
        }
    }

    /// A scalar as a literal (typed by the core schema), or as an expression when it is a
    /// string holding `${{ }}`.
    fn scalar(&mut self, node: &Node, allowed: &[Allowed]) -> Token {
        let kind = match node.as_scalar().map(|s| s.resolve()) {
            Some(Ok(CoreValue::Null)) => TokenKind::Null,
            Some(Ok(CoreValue::Bool(b))) => TokenKind::Bool(b),
            Some(Ok(CoreValue::Number(n))) => TokenKind::Number(n),
            Some(Ok(CoreValue::String(s))) => {
                let mut messages = Vec::new();
                let kind = read_string(&s, allowed, &mut messages);
                for m in messages {
                    self.error(node.line, node.col, m);
                }
                kind
            }
            // Tag errors were reported when the tree was built.
            Some(Err(_)) | None => TokenKind::String(
                node.as_scalar()
                    .map(|s| s.value.clone())
                    .unwrap_or_default(),
            ),
        };
        Token::new(node.line, node.col, kind)
    }

    /// Checks a scalar token against the scalar definitions `def` allows, turning a literal into
    /// a string where only a string fits (`runs-on: 1` is the label "1").
    fn validate(&mut self, token: Token, def: &'static Def, allowed: &[Allowed]) -> Token {
        if token.is_expression() {
            if allowed.is_empty() {
                self.error(
                    token.line,
                    token.col,
                    "A template expression is not allowed in this context",
                );
            }
            return token;
        }
        let scalars = scalar_defs(def);
        if scalars.iter().any(|d| is_match(d, &token.kind)) {
            return token;
        }
        if !matches!(token.kind, TokenKind::String(_)) {
            let text = token.clone().into_string_token();
            if scalars.iter().any(|d| is_match(d, &text.kind)) {
                return text;
            }
        }
        let message = format!("Unexpected value '{}'", token.to_display_string());
        self.error(token.line, token.col, message);
        token
    }

    /// A mapping whose keys are all free.
    fn loose_mapping(
        &mut self,
        node: &Node,
        mapping: &Mapping,
        allowed: &[Allowed],
    ) -> Vec<(Token, Token)> {
        let Some(loose) = &mapping.loose else {
            return Vec::new();
        };
        let key_allowed = inherit(allowed, loose.key);
        let value_allowed = inherit(allowed, loose.value);
        let mut seen = HashSet::new();
        let mut entries = Vec::new();
        for entry in node.as_mapping().unwrap_or_default() {
            let key = self.scalar(&entry.key, allowed);
            if key.is_expression() {
                if allowed.is_empty() {
                    self.error(
                        key.line,
                        key.col,
                        "A template expression is not allowed in this context",
                    );
                } else {
                    let value = self.value(&entry.value, loose.value, &value_allowed);
                    entries.push((key, value));
                }
                continue;
            }
            let key = key.into_string_token();
            if !self.first_time(&key, &mut seen) {
                continue;
            }
            let key = self.validate(key, loose.key, &key_allowed);
            let value = self.value(&entry.value, loose.value, &value_allowed);
            entries.push((key, value));
        }
        entries
    }

    /// A mapping with known properties, matched against one or more mapping definitions (those
    /// of a one-of); each known key narrows the candidates to the definitions that have it.
    fn known_mapping(
        &mut self,
        node: &Node,
        mut candidates: Vec<&'static Mapping>,
        allowed: &[Allowed],
    ) -> Vec<(Token, Token)> {
        let loose = candidates.first().and_then(|m| m.loose.as_ref());
        let mut seen = HashSet::new();
        let mut has_expression_key = false;
        let mut entries = Vec::new();
        for entry in node.as_mapping().unwrap_or_default() {
            let key = self.scalar(&entry.key, allowed);
            if key.is_expression() {
                has_expression_key = true;
                if allowed.is_empty() {
                    self.error(
                        key.line,
                        key.col,
                        "A template expression is not allowed in this context",
                    );
                } else {
                    let value = self.value(&entry.value, &ANY, &inherit(allowed, &ANY));
                    entries.push((key, value));
                }
                continue;
            }
            let key = key.into_string_token();
            if !self.first_time(&key, &mut seen) {
                continue;
            }
            let name = key.as_str().unwrap_or_default().to_owned();
            if let Some(def) = match_property(&mut candidates, &name) {
                if !self.background_steps && BACKGROUND_STEP_KEYS.contains(&name.as_str()) {
                    self.error(key.line, key.col, format!("Unexpected value '{name}'"));
                    continue;
                }
                let value = self.value(&entry.value, def, &inherit(allowed, def));
                entries.push((key, value));
                continue;
            }
            if let Some(loose) = loose {
                let key = self.validate(key, loose.key, &inherit(allowed, loose.key));
                let value = self.value(&entry.value, loose.value, &inherit(allowed, loose.value));
                entries.push((key, value));
                continue;
            }
            self.error(key.line, key.col, format!("Unexpected value '{name}'"));
        }
        if candidates.len() > 1 {
            let mut names: Vec<&str> = candidates
                .iter()
                .flat_map(|m| m.properties.iter().map(|p| p.name))
                .collect();
            names.sort_unstable();
            // Properties several candidates share do not tell them apart.
            let mut distinct: Vec<&str> = names
                .iter()
                .copied()
                .filter(|n| names.iter().filter(|m| *m == n).count() == 1)
                .filter(|n| self.background_steps || !BACKGROUND_ONLY_KEYS.contains(n))
                .collect();
            distinct.dedup();
            self.error(
                node.line,
                node.col,
                format!(
                    "There's not enough info to determine what you meant. Add one of these properties: {}",
                    distinct.join(", ")
                ),
            );
        } else if let [only] = candidates.as_slice() {
            if !has_expression_key {
                for p in only.properties.iter().filter(|p| p.required) {
                    if !seen.contains(&p.name.to_uppercase()) {
                        self.error(
                            node.line,
                            node.col,
                            format!("Required property is missing: {}", p.name),
                        );
                    }
                }
            }
        }
        entries
    }

    /// Records a key, reporting it if it was seen before (keys compare without case).
    fn first_time(&mut self, key: &Token, seen: &mut HashSet<String>) -> bool {
        let name = key.as_str().unwrap_or_default();
        if name.is_empty() {
            return true;
        }
        if seen.insert(name.to_uppercase()) {
            return true;
        }
        self.error(key.line, key.col, format!("'{name}' is already defined"));
        false
    }
}

/// The definition of property `name` in any of the candidates; when some candidates have it and
/// others do not, those without it are dropped.
fn match_property(candidates: &mut Vec<&'static Mapping>, name: &str) -> Option<&'static Def> {
    let found = candidates
        .iter()
        .find_map(|m| m.properties.iter().find(|p| p.name == name))
        .map(|p| p.def)?;
    candidates.retain(|m| m.properties.iter().any(|p| p.name == name));
    Some(found)
}

/// `def` itself if it has the kind, or the members of a one-of that have it (one level, as
/// GitHub's reader looks).
fn of_kind(def: &'static Def, wanted: fn(&Kind) -> bool) -> Vec<&'static Def> {
    if wanted(&def.kind) {
        return vec![def];
    }
    match &def.kind {
        Kind::OneOf(members) => members
            .iter()
            .copied()
            .filter(|d| wanted(&d.kind))
            .collect(),
        _ => Vec::new(),
    }
}

/// Every scalar definition `def` allows, through nested one-ofs.
fn scalar_defs(def: &'static Def) -> Vec<&'static Def> {
    let mut found = Vec::new();
    let mut todo = vec![(def, 0)];
    while let Some((d, depth)) = todo.pop() {
        match &d.kind {
            Kind::Null | Kind::Boolean | Kind::Number | Kind::String(_) => found.push(d),
            Kind::OneOf(members) if depth < MAX_ONE_OF_NESTING => {
                todo.extend(members.iter().rev().map(|m| (*m, depth + 1)));
            }
            _ => {}
        }
    }
    found
}

fn is_match(def: &Def, token: &TokenKind) -> bool {
    match (&def.kind, token) {
        (Kind::Null, TokenKind::Null)
        | (Kind::Boolean, TokenKind::Bool(_))
        | (Kind::Number, TokenKind::Number(_)) => true,
        (Kind::String(text), TokenKind::String(s)) => match text {
            Text::Any => true,
            Text::NonEmpty => !s.is_empty(),
            Text::OneOf(values) => values.contains(&s.as_str()),
        },
        _ => false,
    }
}
