//! Jobs: those that run steps on a runner and those that call a reusable workflow, and what they
//! share (`needs`, `if`, `strategy`, `permissions`, `concurrency`).

use indexmap::IndexMap;
use serde::{Serialize, Serializer};

use super::step::Step;
use super::UsesRef;
use super::{Env, Spanned, Templated, Value};

/// One job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    /// The job's key under `jobs:`.
    pub id: Spanned<String>,
    /// Where the job's mapping starts.
    pub line: usize,
    pub col: usize,
    /// `name:`; GitHub shows the id when there is none.
    pub name: Option<Templated<String>>,
    /// The ids of the jobs this one waits for.
    pub needs: Vec<Spanned<String>>,
    #[serde(rename = "if")]
    pub condition: Condition,
    pub strategy: Option<Templated<Strategy>>,
    pub permissions: Option<Spanned<Permissions>>,
    pub concurrency: Option<Templated<Concurrency>>,
    #[serde(flatten)]
    pub kind: JobKind,
}

/// What a job does. Serialized with `"type": "runner"` or `"type": "reusable"`.
// A workflow has few jobs: their size does not matter, and unboxed variants are simpler to match.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobKind {
    /// Runs steps on a runner.
    Runner(RunnerJob),
    /// Calls a reusable workflow (`uses:` at job level).
    Reusable(ReusableWorkflowCall),
}

/// A job that runs steps on a runner.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunnerJob {
    pub runs_on: Templated<RunsOn>,
    pub env: Option<Templated<Env>>,
    pub environment: Option<Templated<Environment>>,
    pub outputs: Env,
    pub defaults: Option<Defaults>,
    pub timeout_minutes: Option<Templated<f64>>,
    pub cancel_timeout_minutes: Option<Templated<f64>>,
    pub continue_on_error: Option<Templated<bool>>,
    pub container: Option<Templated<Container>>,
    /// Service containers by name.
    pub services: Option<Templated<IndexMap<String, Templated<Container>>>>,
    pub steps: Vec<Step>,
    pub snapshot: Option<Snapshot>,
}

/// A job that calls a reusable workflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReusableWorkflowCall {
    /// The workflow called, as written.
    pub uses: Spanned<String>,
    /// The workflow called, parsed: a local path or a repository, path and ref.
    pub workflow: UsesRef,
    /// Inputs passed (`with:`): strings, booleans, numbers or expressions.
    pub with: IndexMap<String, Templated<Value>>,
    pub secrets: Option<CallSecrets>,
}

/// The secrets a reusable-workflow job passes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallSecrets {
    /// `secrets: inherit`: every secret of the caller.
    Inherit(Spanned<String>),
    /// Named secrets.
    Map(IndexMap<String, Templated<Value>>),
}

/// An `if:` condition, as written and as GitHub evaluates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    /// The expression evaluated. GitHub adds `success() && (...)` when the condition calls no
    /// status function (`success()`, `failure()`, `cancelled()`, `always()`), and uses
    /// `success()` when there is no condition.
    pub expression: String,
    /// The condition as written (without the YAML quoting), or `None` when there was none.
    pub written: Option<Spanned<String>>,
}

/// `strategy:`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Strategy {
    pub matrix: Option<Templated<Matrix>>,
    pub fail_fast: Option<Templated<bool>>,
    pub max_parallel: Option<Templated<f64>>,
}

/// `strategy.matrix:`: vectors of values, and combinations to add or remove.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Matrix {
    /// Each vector by name, in the order written.
    pub vectors: IndexMap<String, Templated<Vec<Templated<Value>>>>,
    pub include: Option<Templated<Vec<Templated<Value>>>>,
    pub exclude: Option<Templated<Vec<Templated<Value>>>>,
}

/// `runs-on:`: labels and a runner group, whichever form was written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunsOn {
    pub labels: Vec<Templated<String>>,
    pub group: Option<Templated<String>>,
}

/// `environment:`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Environment {
    pub name: Templated<String>,
    pub url: Option<Templated<String>>,
    pub deployment: Option<Templated<bool>>,
}

/// `concurrency:`; the string form is the group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Concurrency {
    pub group: Templated<String>,
    pub cancel_in_progress: Option<Templated<bool>>,
    /// `single` or `max`.
    pub queue: Option<Templated<String>>,
}

/// `defaults:`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Defaults {
    pub run: Option<Templated<RunDefaults>>,
}

/// `defaults.run:`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunDefaults {
    pub shell: Option<Templated<String>>,
    pub working_directory: Option<Templated<String>>,
}

/// A job container or a service container; the string form is the image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Container {
    pub image: Templated<String>,
    pub options: Option<Templated<String>>,
    pub env: Option<Templated<Env>>,
    pub ports: Option<Templated<Vec<Templated<String>>>>,
    pub volumes: Option<Templated<Vec<Templated<String>>>>,
    pub credentials: Option<Templated<Credentials>>,
    /// Services only.
    pub entrypoint: Option<Templated<String>>,
    /// Services only.
    pub command: Option<Templated<String>>,
}

/// Registry credentials of a container.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Credentials {
    pub username: Option<Templated<String>>,
    pub password: Option<Templated<String>>,
}

/// `snapshot:`: an image to make from the runner after the job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub image_name: Spanned<String>,
    pub version: Option<Spanned<String>>,
    #[serde(rename = "if")]
    pub condition: Option<Templated<String>>,
}

/// `permissions:` of the `GITHUB_TOKEN`. Serialized as `"read-all"`, `"write-all"`, or an object
/// of scope to level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permissions {
    ReadAll,
    WriteAll,
    /// Levels by scope; scopes not written have no access.
    Scopes(IndexMap<PermissionScope, Spanned<PermissionLevel>>),
}

impl Serialize for Permissions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Permissions::ReadAll => serializer.serialize_str("read-all"),
            Permissions::WriteAll => serializer.serialize_str("write-all"),
            Permissions::Scopes(scopes) => scopes.serialize(serializer),
        }
    }
}

/// A permission scope of the `GITHUB_TOKEN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PermissionScope {
    Actions,
    ArtifactMetadata,
    Attestations,
    Checks,
    CodeQuality,
    Contents,
    CopilotRequests,
    Deployments,
    Discussions,
    Drives,
    IdToken,
    Issues,
    Models,
    Packages,
    Pages,
    PullRequests,
    RepositoryProjects,
    SecurityEvents,
    Statuses,
    VulnerabilityAlerts,
}

impl PermissionScope {
    /// Every scope, with its name in workflow files.
    pub const ALL: [(PermissionScope, &'static str); 20] = [
        (PermissionScope::Actions, "actions"),
        (PermissionScope::ArtifactMetadata, "artifact-metadata"),
        (PermissionScope::Attestations, "attestations"),
        (PermissionScope::Checks, "checks"),
        (PermissionScope::CodeQuality, "code-quality"),
        (PermissionScope::Contents, "contents"),
        (PermissionScope::CopilotRequests, "copilot-requests"),
        (PermissionScope::Deployments, "deployments"),
        (PermissionScope::Discussions, "discussions"),
        (PermissionScope::Drives, "drives"),
        (PermissionScope::IdToken, "id-token"),
        (PermissionScope::Issues, "issues"),
        (PermissionScope::Models, "models"),
        (PermissionScope::Packages, "packages"),
        (PermissionScope::Pages, "pages"),
        (PermissionScope::PullRequests, "pull-requests"),
        (PermissionScope::RepositoryProjects, "repository-projects"),
        (PermissionScope::SecurityEvents, "security-events"),
        (PermissionScope::Statuses, "statuses"),
        (PermissionScope::VulnerabilityAlerts, "vulnerability-alerts"),
    ];

    /// The scope a workflow file names.
    pub fn from_name(name: &str) -> Option<PermissionScope> {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(scope, _)| *scope)
    }

    /// The name in workflow files.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(scope, _)| *scope == self)
            .map_or("", |(_, n)| n)
    }
}

/// An access level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PermissionLevel {
    None,
    Read,
    Write,
}
