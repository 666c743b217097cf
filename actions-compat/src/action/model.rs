//! The typed action: what an `action.yml` says, with the position of every value. Serializes to
//! JSON like the workflow model (see [`crate::workflow::model`]).

use indexmap::IndexMap;
use serde::Serialize;

use crate::workflow::{Condition, Env, Spanned, Step, Templated};

/// A parsed `action.yml` / `action.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    pub file: String,
    pub name: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    pub author: Option<Spanned<String>>,
    pub inputs: IndexMap<String, ActionInput>,
    pub outputs: IndexMap<String, ActionOutput>,
    pub runs: Runs,
    pub branding: Option<Branding>,
}

/// One input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionInput {
    pub line: usize,
    pub col: usize,
    pub description: Option<Spanned<String>>,
    /// `required: true` (or the string `'true'`, which GitHub's runner also accepts).
    pub required: bool,
    pub default: Option<Templated<String>>,
    /// Shown to users who still set a deprecated input.
    pub deprecation_message: Option<Spanned<String>>,
}

/// One output; composite actions compute theirs with `value`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionOutput {
    pub line: usize,
    pub col: usize,
    pub description: Option<Spanned<String>>,
    pub value: Option<Templated<String>>,
}

/// `runs:`: how the action runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Runs {
    pub line: usize,
    pub col: usize,
    /// As written: `node20`, `docker`, `composite`...
    pub using: Spanned<String>,
    #[serde(flatten)]
    pub kind: RunsKind,
}

/// The three kinds of action. Serialized with `"type": "node"`, `"docker"` or `"composite"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunsKind {
    /// A JavaScript action.
    Node(NodeRuns),
    /// A Docker container action.
    Docker(DockerRuns),
    /// Steps run in the calling job.
    Composite(CompositeRuns),
}

/// The Node.js versions an action can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeVersion {
    Node12,
    Node16,
    Node20,
    Node24,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeRuns {
    pub version: NodeVersion,
    pub main: Spanned<String>,
    pub pre: Option<Spanned<String>>,
    pub pre_if: Option<Condition>,
    pub post: Option<Spanned<String>>,
    pub post_if: Option<Condition>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DockerRuns {
    /// `Dockerfile`, a path to one, or `docker://image`.
    pub image: Spanned<String>,
    pub entrypoint: Option<Spanned<String>>,
    pub args: Vec<Templated<String>>,
    pub env: Env,
    pub pre_entrypoint: Option<Spanned<String>>,
    pub pre_if: Option<Condition>,
    pub post_entrypoint: Option<Spanned<String>>,
    pub post_if: Option<Condition>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompositeRuns {
    pub steps: Vec<Step>,
}

/// How the action appears on GitHub Marketplace. Not checked: GitHub's runner ignores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Branding {
    pub icon: Option<Spanned<String>>,
    pub color: Option<Spanned<String>>,
}
