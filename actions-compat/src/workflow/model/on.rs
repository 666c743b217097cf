//! `on:`: the events that trigger a workflow and their configuration.

use indexmap::IndexMap;
use serde::Serialize;

use super::{Spanned, Templated, Value};

/// The workflow's triggers, whichever of the three forms (`on: push`, `on: [push, fork]`, or a
/// mapping) was written.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct On {
    pub line: usize,
    pub col: usize,
    /// Every event named, in the order written, with its filters (empty for events written
    /// without configuration). `schedule`, `workflow_dispatch` and `workflow_call` are here too;
    /// their configuration is in the fields below.
    pub events: IndexMap<String, EventConfig>,
    /// `schedule:` entries.
    pub schedule: Vec<Schedule>,
    pub workflow_dispatch: Option<WorkflowDispatch>,
    pub workflow_call: Option<WorkflowCallTrigger>,
}

/// An event's activity types and filters, each `None` when not written. A single string is read
/// as a list of one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct EventConfig {
    pub line: usize,
    pub col: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub types: Option<Vec<Spanned<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branches: Option<Vec<Spanned<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branches_ignore: Option<Vec<Spanned<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Spanned<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags_ignore: Option<Vec<Spanned<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<Spanned<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paths_ignore: Option<Vec<Spanned<String>>>,
    /// `workflow_run`: the workflows to follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflows: Option<Vec<Spanned<String>>>,
    /// `image_version`: image names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<Spanned<String>>>,
    /// `image_version`: versions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<Spanned<String>>>,
}

/// One `schedule:` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Schedule {
    pub cron: Spanned<String>,
    pub timezone: Option<Spanned<String>>,
}

/// `workflow_dispatch:`: a run started by hand, with its inputs.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct WorkflowDispatch {
    pub inputs: IndexMap<String, DispatchInput>,
}

/// The type of an input; `workflow_call` inputs are `string`, `boolean` or `number`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputType {
    String,
    Boolean,
    Number,
    Environment,
    Choice,
}

/// One `workflow_dispatch` input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DispatchInput {
    pub line: usize,
    pub col: usize,
    pub description: Option<Spanned<String>>,
    /// `string` when not written.
    pub input_type: InputType,
    pub required: bool,
    pub default: Option<Spanned<Value>>,
    /// The choices of a `choice` input.
    pub options: Vec<Spanned<String>>,
}

/// `workflow_call:`: the workflow can be called by others, with these inputs, secrets and
/// outputs.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct WorkflowCallTrigger {
    pub inputs: IndexMap<String, WorkflowCallInput>,
    pub secrets: IndexMap<String, WorkflowCallSecret>,
    pub outputs: IndexMap<String, WorkflowCallOutput>,
}

/// One input of a callable workflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowCallInput {
    pub line: usize,
    pub col: usize,
    pub description: Option<Spanned<String>>,
    pub input_type: InputType,
    pub required: bool,
    pub default: Option<Templated<Value>>,
}

/// One secret of a callable workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkflowCallSecret {
    pub line: usize,
    pub col: usize,
    pub description: Option<Spanned<String>>,
    pub required: bool,
}

/// One output of a callable workflow, computed from its jobs' outputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowCallOutput {
    pub line: usize,
    pub col: usize,
    pub description: Option<Spanned<String>>,
    pub value: Templated<String>,
}
