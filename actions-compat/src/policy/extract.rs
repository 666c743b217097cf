//! What the built-in rules look at, pulled out of a parsed file with each item's position: the
//! triggers, every `uses:`, and every script into which `${{ }}` expressions are expanded
//! (`run:` and `actions/github-script`'s `script`); and, for Rego, the way back from a path
//! into the JSON input to a line and column.
//!
//! Files are read through the typed models ([`crate::workflow`], [`crate::action`]), which have
//! validated them and keep every value's position.

use super::checks::ScriptKind;
use super::finding::Location;
use super::rego::PathSegment;
use crate::action::{Action, RunsKind};
use crate::workflow::{JobKind, Spanned, Step, StepKind, Templated, UsesRef, Workflow};
use std::path::Path;

/// A string value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    pub value: String,
    pub at: Location,
}

/// A `uses:` value: as written, as parsed, and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Uses {
    pub written: String,
    pub reference: UsesRef,
    pub at: Location,
}

impl Uses {
    fn new(written: &Spanned<String>, reference: UsesRef, file: &Path) -> Uses {
        Uses {
            written: written.value.clone(),
            reference,
            at: Location::new(file, written.line, written.col),
        }
    }
}

/// A script body into which `${{ }}` expressions are expanded before it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// The script as written (after YAML unquoting), `${{ }}` parts included.
    pub text: String,
    pub at: Location,
    pub kind: ScriptKind,
}

/// Everything the built-in rules check in one file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LintView {
    /// Event names under `on:` (workflows only).
    pub triggers: Vec<Located>,
    /// Every `uses:`: reusable workflows called by jobs, actions used by steps, and a docker
    /// action's `runs.image` when it is a `docker://` reference.
    pub uses: Vec<Uses>,
    /// Scripts that expand at least one expression.
    pub scripts: Vec<Script>,
}

/// The rules' inputs in a parsed workflow. `file` is the path findings cite and `source` the
/// text the workflow was parsed from.
pub fn from_workflow(workflow: &Workflow, source: &str, file: &Path) -> LintView {
    let at = |line, col| Location::new(file, line, col);
    let mut view = LintView::default();
    for (event, config) in &workflow.on.events {
        // The model places an event at its configuration; the rules point at its name, which
        // is written between `on:` and there.
        let (line, col) = find_word_after(source, workflow.on.line, workflow.on.col, event)
            .filter(|&found| found <= (config.line, config.col))
            .unwrap_or((config.line, config.col));
        view.triggers.push(Located {
            value: event.clone(),
            at: at(line, col),
        });
    }
    for job in &workflow.jobs {
        match &job.kind {
            JobKind::Reusable(call) => {
                view.uses
                    .push(Uses::new(&call.uses, call.workflow.clone(), file));
            }
            JobKind::Runner(runner) => {
                for step in &runner.steps {
                    step_items(step, file, &mut view);
                }
            }
        }
    }
    view
}

fn step_items(step: &Step, file: &Path, view: &mut LintView) {
    let script = |value: &Templated<String>, kind| {
        value.as_expression().map(|expression| Script {
            text: expression.source.clone(),
            at: Location::new(file, value.line, value.col),
            kind,
        })
    };
    match &step.kind {
        StepKind::Run { run, .. } => view.scripts.extend(script(run, ScriptKind::Run)),
        StepKind::Uses {
            uses, action, with, ..
        } => {
            view.uses.push(Uses::new(uses, action.clone(), file));
            if is_github_script(action) {
                let input = with
                    .as_ref()
                    .and_then(Templated::as_literal)
                    .and_then(|with| with.get("script"));
                if let Some(input) = input {
                    view.scripts.extend(script(input, ScriptKind::GithubScript));
                }
            }
        }
        // The model refuses a block inside a block, so this goes one level deep.
        StepKind::Parallel { steps } => {
            for step in steps {
                step_items(step, file, view);
            }
        }
        StepKind::Wait { .. } | StepKind::WaitAll | StepKind::Cancel { .. } => {}
    }
}

/// The rules' inputs in a parsed action: the steps of a composite action and the image of a
/// docker action when it is a `docker://` reference.
pub fn from_action(action: &Action, file: &Path) -> LintView {
    let mut view = LintView::default();
    match &action.runs.kind {
        RunsKind::Composite(composite) => {
            for step in &composite.steps {
                step_items(step, file, &mut view);
            }
        }
        RunsKind::Docker(docker) => {
            // `Dockerfile` or a path to one is built from the repository: nothing to pin.
            if let Some(reference) = UsesRef::docker_image(&docker.image.value) {
                view.uses.push(Uses::new(&docker.image, reference, file));
            }
        }
        RunsKind::Node(_) => {}
    }
    view
}

fn is_github_script(action: &UsesRef) -> bool {
    matches!(action, UsesRef::Repository(repo)
        if repo.owner().eq_ignore_ascii_case("actions")
            && repo.repo().eq_ignore_ascii_case("github-script")
            && repo.path().is_none())
}

/// The line and column a path into a JSON input points at: the position recorded by the deepest
/// object on the path that has one (the model gives every value a `line` and `col`). A path
/// that leaves the document points at the deepest position it reached.
pub fn locate(input: &serde_json::Value, path: &[PathSegment]) -> Option<(usize, usize)> {
    let position = |value: &serde_json::Value| {
        let line = value.get("line")?.as_u64()?;
        let col = value.get("col")?.as_u64()?;
        Some((usize::try_from(line).ok()?, usize::try_from(col).ok()?))
    };
    let mut node = input;
    let mut found = position(node);
    for segment in path {
        let next = match segment {
            PathSegment::Key(key) => node.get(key.as_str()),
            PathSegment::Index(index) => node.get(*index),
        };
        let Some(next) = next else { break };
        node = next;
        found = position(node).or(found);
    }
    found.filter(|(line, _)| *line > 0)
}

/// Where the word `word` (not part of a longer name: `pull_request` is not found in
/// `pull_request_target`) is first written at or after the 1-based `line`:`col`.
fn find_word_after(source: &str, line: usize, col: usize, word: &str) -> Option<(usize, usize)> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let (mut line, mut col) = (line, col);
    // Each miss moves past the match; bounded by the number of matches in the file.
    while let Some((found_line, found_col)) = find(source, line, col, word, usize::MAX, true) {
        let text = source.split('\n').nth(found_line - 1).unwrap_or_default();
        let mut chars = text.chars().skip(found_col - 1);
        let before = text.chars().nth(found_col.wrapping_sub(2));
        let after = chars.nth(word.chars().count());
        if !before.is_some_and(is_name) && !after.is_some_and(is_name) {
            return Some((found_line, found_col));
        }
        (line, col) = (found_line, found_col + 1);
    }
    None
}

/// Where `needle` appears in `source` at or after the 1-based `line`:`col`, within `window`
/// lines, ignoring ASCII case (contexts are case-insensitive); `None` if it does not.
pub fn find_after(
    source: &str,
    line: usize,
    col: usize,
    needle: &str,
    window: usize,
) -> Option<(usize, usize)> {
    find(source, line, col, needle, window, false)
}

fn find(
    source: &str,
    line: usize,
    col: usize,
    needle: &str,
    window: usize,
    exact_case: bool,
) -> Option<(usize, usize)> {
    if needle.is_empty() {
        return None;
    }
    let needle = if exact_case {
        needle.to_string()
    } else {
        needle.to_ascii_lowercase()
    };
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
        // ASCII lowercasing keeps byte offsets, so a match maps back to `text`.
        let searched = if exact_case {
            std::borrow::Cow::Borrowed(text)
        } else {
            std::borrow::Cow::Owned(text.to_ascii_lowercase())
        };
        if let Some(found) = searched.get(start..).and_then(|rest| rest.find(&needle)) {
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
    use serde_json::json;

    fn values(items: &[Located]) -> Vec<(&str, usize, usize)> {
        items
            .iter()
            .map(|l| (l.value.as_str(), l.at.line, l.at.col))
            .collect()
    }

    fn uses(items: &[Uses]) -> Vec<(&str, usize, usize)> {
        items
            .iter()
            .map(|u| (u.written.as_str(), u.at.line, u.at.col))
            .collect()
    }

    fn workflow(text: &str) -> Workflow {
        crate::workflow::parse(text, "wf.yml").unwrap_or_else(|e| panic!("{e}"))
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
      - run: echo hello
      - uses: actions/github-script@v7
        with:
          script: console.log('hi')
";

    #[test]
    fn finds_triggers_and_uses_in_a_workflow_with_positions() {
        let view = from_workflow(&workflow(WORKFLOW), WORKFLOW, Path::new("wf.yml"));
        assert_eq!(
            values(&view.triggers),
            [("pull_request_target", 2, 3), ("push", 4, 3)]
        );
        assert_eq!(
            uses(&view.uses),
            [
                ("octo/ci/.github/workflows/b.yml@main", 7, 11),
                ("actions/checkout@v4", 11, 15),
                ("actions/github-script@v7", 13, 15)
            ]
        );
        // Scripts without expressions expand nothing.
        assert!(view.scripts.is_empty());
    }

    #[test]
    fn reads_triggers_written_as_a_string_or_a_list() {
        let jobs = "jobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo\n";
        let one = format!("on: pull_request_target\n{jobs}");
        let view = from_workflow(&workflow(&one), &one, Path::new("a"));
        assert_eq!(values(&view.triggers), [("pull_request_target", 1, 5)]);
        let list = format!("on: [pull_request_target, pull_request]\n{jobs}");
        let view = from_workflow(&workflow(&list), &list, Path::new("a"));
        assert_eq!(
            values(&view.triggers),
            [("pull_request_target", 1, 6), ("pull_request", 1, 27)]
        );
    }

    fn action(text: &str) -> Action {
        crate::action::parse(text, "action.yml").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn finds_composite_steps_scripts_and_docker_images_in_actions() {
        let composite = "name: a\ndescription: d\nruns:\n  using: composite\n  steps:\n    - uses: actions/cache@v4\n    - run: echo ${{ github.head_ref }}\n      shell: bash\n    - run: echo plain\n      shell: bash\n";
        let view = from_action(&action(composite), Path::new("action.yml"));
        assert_eq!(uses(&view.uses), [("actions/cache@v4", 6, 13)]);
        assert_eq!(
            view.scripts,
            [Script {
                text: "echo ${{ github.head_ref }}".into(),
                at: Location::new("action.yml", 7, 12),
                kind: ScriptKind::Run,
            }]
        );
        let docker =
            "name: a\ndescription: d\nruns:\n  using: docker\n  image: docker://alpine:3\n";
        let view = from_action(&action(docker), Path::new("action.yml"));
        assert_eq!(uses(&view.uses), [("docker://alpine:3", 5, 10)]);
        let dockerfile = "name: a\ndescription: d\nruns:\n  using: docker\n  image: Dockerfile\n";
        assert!(from_action(&action(dockerfile), Path::new("a"))
            .uses
            .is_empty());
    }

    #[test]
    fn locates_paths_through_the_models_positions() {
        let input = serde_json::to_value(workflow(WORKFLOW)).unwrap();
        let key = |k: &str| PathSegment::Key(k.into());
        let index = PathSegment::Index;
        assert_eq!(
            locate(&input, &[key("jobs"), index(1), key("runs_on")]),
            Some((9, 14))
        );
        assert_eq!(
            locate(
                &input,
                &[key("jobs"), index(1), key("steps"), index(0), key("uses")]
            ),
            Some((11, 15))
        );
        // Off the document: the deepest position reached.
        assert_eq!(
            locate(&input, &[key("jobs"), index(1), key("nope")]),
            Some((9, 5))
        );
        // Nothing on the path has a position.
        assert_eq!(locate(&json!({"a": {"b": 1}}), &[key("a"), key("b")]), None);
    }

    #[test]
    fn finds_whole_words_only() {
        let source = "on:\n  pull_request_target:\n  pull_request:\n";
        assert_eq!(find_word_after(source, 1, 1, "pull_request"), Some((3, 3)));
        assert_eq!(
            find_word_after(source, 1, 1, "pull_request_target"),
            Some((2, 3))
        );
        assert_eq!(find_word_after(source, 1, 1, "push"), None);
        assert_eq!(find_word_after("a-push push", 1, 1, "push"), Some((1, 8)));
    }

    #[test]
    fn finds_an_expression_in_the_source_after_a_position_ignoring_case() {
        let source = "run: |\n  echo a\n  echo ${{ GitHub.Head_Ref }}\n";
        assert_eq!(
            find_after(source, 1, 6, "github.head_ref", 10),
            Some((3, 12))
        );
        assert_eq!(find_after(source, 1, 6, "github.sha", 10), None);
        assert_eq!(find_after(source, 1, 6, "github.head_ref", 2), None);
        assert_eq!(find_after("é ${{ x }}", 1, 1, "${{ x }}", 1), Some((1, 3)));
    }
}
