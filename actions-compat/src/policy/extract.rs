//! What the rules look at, pulled out of a parsed file's YAML tree with each item's position:
//! the triggers, every `uses:`, every script (`run:` and `actions/github-script`'s `script`),
//! and the whole document as JSON for Rego, with a way back from a JSON path to a position.
//!
//! Working on the YAML tree keeps every position exactly where the user wrote it (the typed
//! models validate the file first; see `lint`).

use super::checks::ScriptKind;
use super::discover::FileKind;
use super::finding::Location;
use super::rego::PathSegment;
use crate::yaml::{CoreValue, Node, NodeKind};
use std::path::Path;

/// A string value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    pub value: String,
    pub at: Location,
}

/// A script body into which `${{ }}` expressions are expanded before it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub text: String,
    pub at: Location,
    pub kind: ScriptKind,
}

/// Everything the built-in rules check in one file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LintView {
    /// Event names under `on:` (workflows only).
    pub triggers: Vec<Located>,
    /// `jobs.*.uses`, `jobs.*.steps[*].uses`, `runs.steps[*].uses`, and a docker action's
    /// `runs.image` when it is a `docker://` reference.
    pub uses: Vec<Located>,
    pub scripts: Vec<Script>,
}

/// Pulls the rules' inputs out of a workflow's or action's tree. `file` is the path findings cite.
pub fn extract(root: &Node, kind: FileKind, file: &Path) -> LintView {
    let mut view = LintView::default();
    let at = |node: &Node| Location::new(file, node.line, node.col);
    let string = |node: &Node| match node.as_scalar()?.resolve().ok()? {
        CoreValue::String(s) => Some(s),
        _ => None,
    };
    let located = |node: &Node| {
        string(node).map(|value| Located {
            value,
            at: at(node),
        })
    };
    match kind {
        FileKind::Workflow => {
            if let Some(on) = get(root, "on") {
                match &on.kind {
                    NodeKind::Scalar(_) => view.triggers.extend(located(on)),
                    NodeKind::Sequence(items) => {
                        view.triggers.extend(items.iter().filter_map(located))
                    }
                    NodeKind::Mapping(entries) => view
                        .triggers
                        .extend(entries.iter().filter_map(|e| located(&e.key))),
                }
            }
            for job in get(root, "jobs")
                .and_then(Node::as_mapping)
                .unwrap_or_default()
            {
                if let Some(uses) = get(&job.value, "uses") {
                    view.uses.extend(located(uses));
                }
                steps(get(&job.value, "steps"), &mut view, &located);
            }
        }
        FileKind::Action => {
            if let Some(runs) = get(root, "runs") {
                steps(get(runs, "steps"), &mut view, &located);
                if let Some(image) = get(runs, "image").and_then(located) {
                    if image.value.to_ascii_lowercase().starts_with("docker://") {
                        view.uses.push(image);
                    }
                }
            }
        }
    }
    view
}

fn steps(steps: Option<&Node>, view: &mut LintView, located: &dyn Fn(&Node) -> Option<Located>) {
    for step in steps.and_then(Node::as_sequence).unwrap_or_default() {
        let uses = get(step, "uses").and_then(located);
        if let Some(run) = get(step, "run").and_then(located) {
            view.scripts.push(Script {
                text: run.value,
                at: run.at,
                kind: ScriptKind::Run,
            });
        }
        if let Some(uses) = uses {
            if is_github_script(&uses.value) {
                if let Some(script) = get(step, "with")
                    .and_then(|with| get(with, "script"))
                    .and_then(located)
                {
                    view.scripts.push(Script {
                        text: script.value,
                        at: script.at,
                        kind: ScriptKind::GithubScript,
                    });
                }
            }
            view.uses.push(uses);
        }
    }
}

fn is_github_script(uses: &str) -> bool {
    uses.split('@')
        .next()
        .is_some_and(|target| target.eq_ignore_ascii_case("actions/github-script"))
}

/// GitHub's keys are matched exactly (`runs-on`, not `Runs-On`).
fn get<'a>(node: &'a Node, key: &str) -> Option<&'a Node> {
    node.get(key)
}

/// The deepest a JSON conversion goes; the YAML parser's own depth ceiling is lower.
const MAX_JSON_DEPTH: usize = 256;

/// The document as JSON, scalars resolved by the YAML 1.2 core schema (the shape `input` has in
/// Rego). A scalar whose tag cannot be applied becomes its text.
pub fn to_json(node: &Node) -> serde_json::Value {
    to_json_at(node, 0)
}

fn to_json_at(node: &Node, depth: usize) -> serde_json::Value {
    use serde_json::Value;
    if depth > MAX_JSON_DEPTH {
        return Value::Null;
    }
    match &node.kind {
        NodeKind::Scalar(scalar) => match scalar.resolve() {
            Ok(CoreValue::Null) => Value::Null,
            Ok(CoreValue::Bool(b)) => Value::Bool(b),
            Ok(CoreValue::Number(n)) => {
                if n.fract() == 0.0 && n.abs() < 9.0e15 {
                    // Whole numbers stay integers, as Rego policies compare them.
                    Value::from(n as i64)
                } else {
                    serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
                }
            }
            Ok(CoreValue::String(s)) => Value::String(s),
            Err(_) => Value::String(scalar.value.clone()),
        },
        NodeKind::Sequence(items) => {
            Value::Array(items.iter().map(|i| to_json_at(i, depth + 1)).collect())
        }
        NodeKind::Mapping(entries) => Value::Object(
            entries
                .iter()
                .map(|e| {
                    let key = e
                        .key
                        .as_scalar()
                        .map(|s| s.value.clone())
                        .unwrap_or_default();
                    (key, to_json_at(&e.value, depth + 1))
                })
                .collect(),
        ),
    }
}

/// The line and column a JSON path points at: the value when it is a scalar, the key when it is
/// a collection (a block collection starts on the line after its key). A path that leaves the
/// tree points at the deepest node it reached.
pub fn locate(root: &Node, path: &[PathSegment]) -> (usize, usize) {
    let mut node = root;
    let mut position = (root.line, root.col);
    for segment in path {
        let next = match (segment, &node.kind) {
            (PathSegment::Key(key), NodeKind::Mapping(entries)) => entries
                .iter()
                .find(|e| e.key.as_scalar().is_some_and(|k| &k.value == key))
                .map(|e| (&e.key, &e.value)),
            (PathSegment::Index(index), NodeKind::Sequence(items)) => {
                items.get(*index).map(|item| (item, item))
            }
            _ => None,
        };
        let Some((anchor, value)) = next else { break };
        position = match value.kind {
            NodeKind::Scalar(_) => (value.line, value.col),
            _ => (anchor.line, anchor.col),
        };
        node = value;
    }
    position
}

/// Where `needle` (an expression as written, `${{ ... }}`) appears in `source` at or after the
/// 1-based `line`:`col`, within `window` lines; `None` if it does not (a folded or escaped
/// scalar may not contain it verbatim).
pub fn find_after(
    source: &str,
    line: usize,
    col: usize,
    needle: &str,
    window: usize,
) -> Option<(usize, usize)> {
    if needle.is_empty() {
        return None;
    }
    for (index, text) in source
        .split('\n')
        .enumerate()
        .skip(line.saturating_sub(1))
        .take(window.max(1))
    {
        let number = index + 1;
        let skip_chars = if number == line {
            col.saturating_sub(1)
        } else {
            0
        };
        let start = text
            .char_indices()
            .nth(skip_chars)
            .map_or(text.len(), |(i, _)| i);
        if let Some(found) = text.get(start..).and_then(|rest| rest.find(needle)) {
            let byte = start + found;
            let col = text.get(..byte).map_or(1, |s| s.chars().count() + 1);
            return Some((number, col));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{self, Limits};
    use serde_json::json;

    fn tree(text: &str) -> Node {
        yaml::parse(text, "wf.yml", &Limits::default()).unwrap()
    }

    fn values(items: &[Located]) -> Vec<(&str, usize, usize)> {
        items
            .iter()
            .map(|l| (l.value.as_str(), l.at.line, l.at.col))
            .collect()
    }

    const WORKFLOW: &str = "\
on:
  pull_request_target:
    types: [opened]
  push:
jobs:
  call:
    uses: octo/ci/.github/workflows/b.yml@main
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo ${{ github.head_ref }}
      - uses: actions/github-script@v7
        with:
          script: console.log('${{ github.event.issue.title }}')
";

    #[test]
    fn finds_triggers_uses_and_scripts_with_positions() {
        let view = extract(&tree(WORKFLOW), FileKind::Workflow, Path::new("wf.yml"));
        assert_eq!(
            values(&view.triggers),
            [("pull_request_target", 2, 3), ("push", 4, 3)]
        );
        assert_eq!(
            values(&view.uses),
            [
                ("octo/ci/.github/workflows/b.yml@main", 7, 11),
                ("actions/checkout@v4", 11, 15),
                ("actions/github-script@v7", 13, 15)
            ]
        );
        let scripts: Vec<(ScriptKind, usize)> =
            view.scripts.iter().map(|s| (s.kind, s.at.line)).collect();
        assert_eq!(
            scripts,
            [(ScriptKind::Run, 12), (ScriptKind::GithubScript, 15)]
        );
    }

    #[test]
    fn reads_triggers_written_as_a_string_or_a_list() {
        let one = extract(
            &tree("on: pull_request_target\njobs: {}\n"),
            FileKind::Workflow,
            Path::new("a"),
        );
        assert_eq!(values(&one.triggers), [("pull_request_target", 1, 5)]);
        let list = extract(
            &tree("on: [push, pull_request_target]\n"),
            FileKind::Workflow,
            Path::new("a"),
        );
        assert_eq!(list.triggers.len(), 2);
    }

    #[test]
    fn finds_composite_steps_and_docker_images_in_actions() {
        let action = "runs:\n  using: composite\n  steps:\n    - uses: actions/cache@v4\n    - run: echo hi\n      shell: bash\n";
        let view = extract(&tree(action), FileKind::Action, Path::new("action.yml"));
        assert_eq!(values(&view.uses), [("actions/cache@v4", 4, 13)]);
        assert_eq!(view.scripts.len(), 1);
        let docker = "runs:\n  using: docker\n  image: docker://alpine:3\n";
        let view = extract(&tree(docker), FileKind::Action, Path::new("action.yml"));
        assert_eq!(values(&view.uses), [("docker://alpine:3", 3, 10)]);
        let dockerfile = "runs:\n  using: docker\n  image: Dockerfile\n";
        assert!(extract(&tree(dockerfile), FileKind::Action, Path::new("a"))
            .uses
            .is_empty());
    }

    #[test]
    fn converts_to_json_with_core_schema_values() {
        let json = to_json(&tree(
            "on: push\nn: 3\nf: 1.5\nb: true\nz: null\nl: [a, '1']\n",
        ));
        assert_eq!(
            json,
            json!({"on": "push", "n": 3, "f": 1.5, "b": true, "z": null, "l": ["a", "1"]})
        );
    }

    #[test]
    fn locates_json_paths_in_the_tree() {
        let root = tree(WORKFLOW);
        let key = |k: &str| PathSegment::Key(k.into());
        assert_eq!(
            locate(&root, &[key("jobs"), key("build"), key("runs-on")]),
            (9, 14)
        );
        assert_eq!(locate(&root, &[key("jobs"), key("build")]), (8, 3));
        assert_eq!(
            locate(
                &root,
                &[
                    key("jobs"),
                    key("build"),
                    key("steps"),
                    PathSegment::Index(1),
                    key("run")
                ]
            ),
            (12, 14)
        );
        // Off the tree: the deepest node reached.
        assert_eq!(locate(&root, &[key("jobs"), key("nope"), key("x")]), (5, 1));
        assert_eq!(locate(&root, &[]), (root.line, root.col));
    }

    #[test]
    fn finds_an_expression_in_the_source_after_a_position() {
        let source = "run: |\n  echo a\n  echo ${{ x }}\n";
        assert_eq!(find_after(source, 1, 6, "${{ x }}", 10), Some((3, 8)));
        assert_eq!(find_after(source, 1, 6, "${{ y }}", 10), None);
        assert_eq!(find_after(source, 1, 6, "${{ x }}", 2), None);
        assert_eq!(find_after("é ${{ x }}", 1, 1, "${{ x }}", 1), Some((1, 3)));
    }
}
