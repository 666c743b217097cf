//! From the checked token tree to the typed [`Action`], with the checks on `using`.

use indexmap::IndexMap;

use super::model::{
    Action, ActionInput, ActionOutput, Branding, CompositeRuns, DockerRuns, NodeRuns, NodeVersion,
    Runs, RunsKind,
};
use super::schema::{RUNS_IF_CONTEXT, STEP_IF_CONTEXT};
use crate::diagnostic::ParseErrors;
use crate::schema::token::{Token, TokenKind};
use crate::workflow::values::{entries, get, key_text, spanned_string, string, string_map};
use crate::workflow::{condition, Condition, Converter, Spanned};

pub(super) fn action(root: &Token, file: &str) -> Result<Action, ParseErrors> {
    let mut converter = Converter::new(file);
    let runs = get(root, "runs").and_then(|r| runs(&mut converter, r));
    let action = runs.map(|runs| Action {
        file: file.to_owned(),
        name: get(root, "name").map(spanned_string),
        description: get(root, "description").map(spanned_string),
        author: get(root, "author").map(spanned_string),
        inputs: get(root, "inputs").map_or_else(IndexMap::new, inputs),
        outputs: get(root, "outputs").map_or_else(IndexMap::new, outputs),
        runs,
        branding: get(root, "branding").map(|b| Branding {
            icon: get(b, "icon").map(spanned_string),
            color: get(b, "color").map(spanned_string),
        }),
    });
    match action {
        Some(action) if converter.errors.is_empty() => Ok(action),
        _ => Err(ParseErrors(converter.errors)),
    }
}

fn inputs(t: &Token) -> IndexMap<String, ActionInput> {
    entries(t)
        .iter()
        .map(|(name, input)| {
            let required = match get(input, "required").map(|r| &r.kind) {
                Some(TokenKind::Bool(b)) => *b,
                Some(TokenKind::String(s)) => s.eq_ignore_ascii_case("true"),
                _ => false,
            };
            let config = ActionInput {
                line: input.line,
                col: input.col,
                description: get(input, "description").map(spanned_string),
                required,
                default: get(input, "default").map(string),
                deprecation_message: get(input, "deprecationMessage").map(spanned_string),
            };
            (key_text(name), config)
        })
        .collect()
}

fn outputs(t: &Token) -> IndexMap<String, ActionOutput> {
    entries(t)
        .iter()
        .map(|(name, output)| {
            let config = ActionOutput {
                line: output.line,
                col: output.col,
                description: get(output, "description").map(spanned_string),
                value: get(output, "value").map(string),
            };
            (key_text(name), config)
        })
        .collect()
}

/// `runs:`: which of the three kinds the schema matched, and whether `using` says the same.
fn runs(c: &mut Converter<'_>, t: &Token) -> Option<Runs> {
    let using = spanned_string(get(t, "using")?);
    let name = using.value.as_str();
    let kind = if let Some(main) = get(t, "main") {
        let Some(version) = node_version(name) else {
            unsupported(c, &using);
            return None;
        };
        RunsKind::Node(NodeRuns {
            version,
            main: spanned_string(main),
            pre: get(t, "pre").map(spanned_string),
            pre_if: runs_condition(c, get(t, "pre-if")),
            post: get(t, "post").map(spanned_string),
            post_if: runs_condition(c, get(t, "post-if")),
        })
    } else if let Some(image) = get(t, "image") {
        if name != "docker" {
            unsupported(c, &using);
            return None;
        }
        RunsKind::Docker(DockerRuns {
            image: spanned_string(image),
            entrypoint: get(t, "entrypoint").map(spanned_string),
            args: get(t, "args").map_or_else(Vec::new, |a| match &a.kind {
                TokenKind::Sequence(items) => items.iter().map(string).collect(),
                _ => Vec::new(),
            }),
            env: get(t, "env").map_or_else(IndexMap::new, string_map),
            pre_entrypoint: get(t, "pre-entrypoint").map(spanned_string),
            pre_if: runs_condition(c, get(t, "pre-if")),
            post_entrypoint: get(t, "post-entrypoint").map(spanned_string),
            post_if: runs_condition(c, get(t, "post-if")),
        })
    } else if let Some(steps) = get(t, "steps") {
        if name != "composite" {
            unsupported(c, &using);
            return None;
        }
        RunsKind::Composite(CompositeRuns {
            steps: c.steps(steps, STEP_IF_CONTEXT),
        })
    } else {
        return None;
    };
    Some(Runs {
        line: t.line,
        col: t.col,
        using,
        kind,
    })
}

fn node_version(using: &str) -> Option<NodeVersion> {
    match using {
        "node12" => Some(NodeVersion::Node12),
        "node16" => Some(NodeVersion::Node16),
        "node20" => Some(NodeVersion::Node20),
        "node24" => Some(NodeVersion::Node24),
        _ => None,
    }
}

/// A `using:` that does not match the keys beside it, or that names no runtime we know.
fn unsupported(c: &mut Converter<'_>, using: &Spanned<String>) {
    c.error(
        using.line,
        using.col,
        format!(
            "`using: {}` is not supported here: use 'node12', 'node16', 'node20' or 'node24' with \
             `main`, 'docker' with `image`, or 'composite' with `steps`",
            using.value
        ),
    );
}

fn runs_condition(c: &mut Converter<'_>, t: Option<&Token>) -> Option<Condition> {
    let t = t?;
    match condition(Some(t), RUNS_IF_CONTEXT) {
        Ok(condition) => Some(condition),
        Err(message) => {
            c.error_at(t, message);
            None
        }
    }
}
