//! Steps, of a job or of a composite action.

use serde::Serialize;

use super::job::Condition;
use super::{Env, Spanned, Templated, UsesRef};

/// One step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// The step's id: the one written, or the one GitHub generates (`__run`, `__run_2`,
    /// `__actions_checkout`...) when none was.
    pub id: Spanned<String>,
    /// Whether `id` was generated (it then carries the step's position).
    pub generated_id: bool,
    /// Where the step's mapping starts.
    pub line: usize,
    pub col: usize,
    pub name: Option<Templated<String>>,
    #[serde(rename = "if")]
    pub condition: Condition,
    pub continue_on_error: Option<Templated<bool>>,
    pub timeout_minutes: Option<Templated<f64>>,
    pub env: Option<Templated<Env>>,
    #[serde(flatten)]
    pub kind: StepKind,
}

/// What a step does. Serialized with `"type": "run"`, `"uses"`, `"wait"`, `"wait_all"`,
/// `"cancel"` or `"parallel"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StepKind {
    /// A script.
    Run {
        run: Templated<String>,
        shell: Option<Templated<String>>,
        working_directory: Option<Templated<String>>,
        /// GitHub's experimental background steps.
        background: bool,
    },
    /// An action.
    Uses {
        /// As written.
        uses: Spanned<String>,
        /// Parsed.
        action: UsesRef,
        with: Option<Templated<Env>>,
        background: bool,
    },
    /// Waits for background steps (experimental).
    Wait { steps: Vec<Spanned<String>> },
    /// Waits for every background step (experimental).
    WaitAll,
    /// Cancels a background step (experimental).
    Cancel { step: Spanned<String> },
    /// Runs its steps concurrently and waits for them all (GitHub's `parallel:`, shorthand for
    /// background steps followed by a wait). Its steps run scripts or actions only: never
    /// background, wait, cancel or parallel steps. Their ids share the job's scope.
    Parallel { steps: Vec<Step> },
}
