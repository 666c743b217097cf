//! Steps: their ids (checked, or generated as GitHub generates them), conditions, and kinds.
//! Shared by jobs and composite actions.
//!
//! The steps of a `parallel:` block share the job's id scope: GitHub's reference parser gives
//! them a scope of their own, so that a `__run` inside can repeat one outside, but they run as
//! steps of the job and `steps.<id>` must name one step. Generated ids follow document order.

use std::collections::HashSet;

use super::condition::{condition, default_condition};
use super::ids::IdScope;
use super::values::{boolean, entries, env, number, spanned_string, string, string_list};
use super::Converter;
use crate::schema::token::{Token, TokenKind};
use crate::schema::Allowed;
use crate::workflow::model::{Spanned, Step, StepKind, UsesRef, UsesRefError};

impl Converter<'_> {
    /// Converts a `steps:` sequence; `if_context` is what step conditions may use there.
    pub(crate) fn steps(&mut self, token: &Token, if_context: &[Allowed]) -> Vec<Step> {
        let TokenKind::Sequence(items) = &token.kind else {
            return Vec::new();
        };
        let mut ids = IdScope::default();
        let mut known = HashSet::new();
        let mut steps: Vec<Step> = items
            .iter()
            .filter_map(|item| self.step(item, if_context, &mut ids, &mut known))
            .collect();
        for step in &mut steps {
            generate_id(step, &mut ids);
            if let StepKind::Parallel { steps } = &mut step.kind {
                for step in steps {
                    generate_id(step, &mut ids);
                }
            }
        }
        steps
    }

    /// The steps of a `parallel:` block, with GitHub's errors (at the block) for steps that may
    /// not run in one. A nested block is refused, not converted.
    fn parallel_steps(
        &mut self,
        block: &Token,
        token: &Token,
        if_context: &[Allowed],
        ids: &mut IdScope,
        known: &mut HashSet<String>,
    ) -> Vec<Step> {
        let TokenKind::Sequence(items) = &token.kind else {
            return Vec::new();
        };
        let mut steps = Vec::new();
        for item in items {
            let keys: Vec<&str> = entries(item)
                .iter()
                .filter_map(|(key, _)| key.as_str())
                .collect();
            for (key, message) in NOT_IN_PARALLEL {
                if keys.contains(&key) {
                    self.error_at(block, message);
                }
            }
            if !keys.contains(&"parallel") {
                steps.extend(self.step(item, if_context, ids, known));
            }
        }
        steps
    }

    fn step(
        &mut self,
        token: &Token,
        if_context: &[Allowed],
        ids: &mut IdScope,
        known: &mut HashSet<String>,
    ) -> Option<Step> {
        let mut step = Step {
            id: Spanned::new(String::new(), token.line, token.col),
            generated_id: true,
            line: token.line,
            col: token.col,
            name: None,
            condition: default_condition(),
            continue_on_error: None,
            timeout_minutes: None,
            env: None,
            kind: StepKind::WaitAll,
        };
        let mut run = None;
        let mut uses = None;
        let mut shell = None;
        let mut working_directory = None;
        let mut with = None;
        let mut background = false;
        let mut wait = None;
        let mut wait_all = false;
        let mut cancel = None;
        let mut parallel = None;
        for (key, value) in entries(token) {
            match key.as_str().unwrap_or_default() {
                "id" => {
                    let id = spanned_string(value);
                    match ids.add_known(&id.value) {
                        Ok(()) => {
                            known.insert(id.value.clone());
                        }
                        Err(message) => self.error_at(value, message),
                    }
                    step.id = id;
                    step.generated_id = false;
                }
                "name" => step.name = Some(string(value)),
                "if" => match condition(Some(value), if_context) {
                    Ok(c) => step.condition = c,
                    Err(message) => self.error_at(value, message),
                },
                "continue-on-error" => step.continue_on_error = Some(boolean(value)),
                "timeout-minutes" => step.timeout_minutes = Some(number(value)),
                "env" => step.env = Some(env(value)),
                "run" => run = Some(string(value)),
                "shell" => shell = Some(string(value)),
                "working-directory" => working_directory = Some(string(value)),
                "uses" => uses = Some(value),
                "with" => with = Some(env(value)),
                "background" => background = matches!(value.kind, TokenKind::Bool(true)),
                "wait" => wait = Some(value),
                "wait-all" => {
                    if matches!(value.kind, TokenKind::Bool(false)) {
                        self.error_at(value, "The value of 'wait-all' must be true or omitted");
                    }
                    wait_all = true;
                }
                "cancel" => cancel = Some(value),
                "parallel" => parallel = Some(value),
                _ => {}
            }
        }
        let own_id = (!step.generated_id).then(|| step.id.value.clone());
        step.kind = if let Some(run) = run {
            StepKind::Run {
                run,
                shell,
                working_directory,
                background,
            }
        } else if let Some(uses) = uses {
            let written = spanned_string(uses);
            let Ok(action) = UsesRef::parse(&written.value) else {
                self.error_at(uses, UsesRefError::github_message(&written.value));
                return None;
            };
            StepKind::Uses {
                uses: written,
                action,
                with,
                background,
            }
        } else if let Some(wait) = wait {
            let steps = string_list(wait);
            for target in &steps {
                self.check_target(target, own_id.as_deref(), known);
            }
            StepKind::Wait { steps }
        } else if wait_all {
            StepKind::WaitAll
        } else if let Some(cancel) = cancel {
            let target = spanned_string(cancel);
            self.check_target(&target, own_id.as_deref(), known);
            StepKind::Cancel { step: target }
        } else if let Some(parallel) = parallel {
            let steps = self.parallel_steps(token, parallel, if_context, ids, known);
            StepKind::Parallel { steps }
        } else {
            self.error_at(
                token,
                "Expected one of uses, run, wait, wait-all, cancel, or parallel to be defined",
            );
            return None;
        };
        Some(step)
    }

    /// Checks the step a `wait` or `cancel` names: an earlier step with an id, not itself.
    fn check_target(
        &mut self,
        target: &Spanned<String>,
        own_id: Option<&str>,
        known: &HashSet<String>,
    ) {
        let name = &target.value;
        let message = if name.starts_with("__") {
            format!("The identifier '{name}' is invalid. IDs starting with '__' are reserved.")
        } else if own_id.is_some_and(|own| own.eq_ignore_ascii_case(name)) {
            format!("Step '{name}' cannot reference itself")
        } else if !known.contains(name) {
            format!("Step references unknown step ID '{name}'")
        } else {
            return;
        };
        self.error(target.line, target.col, message);
    }
}

/// Keys a step inside a `parallel:` block may not have, with GitHub's error for each.
const NOT_IN_PARALLEL: [(&str, &str); 5] = [
    (
        "background",
        "'background' is not allowed inside a parallel block. Steps in a parallel block are \
         automatically run as background steps.",
    ),
    ("wait", "'wait' is not allowed inside a parallel block."),
    (
        "wait-all",
        "'wait-all' is not allowed inside a parallel block.",
    ),
    ("cancel", "'cancel' is not allowed inside a parallel block."),
    ("parallel", "Nested 'parallel' blocks are not allowed."),
];

/// Gives `step` the id GitHub generates when none was written: `__` and what it does (`run`,
/// `actions_checkout`, `wait`, `parallel`...), made unique in `ids`.
fn generate_id(step: &mut Step, ids: &mut IdScope) {
    if !step.generated_id {
        return;
    }
    let base = match &step.kind {
        StepKind::Uses { action, .. } => generated_action_id(action),
        StepKind::Wait { .. } => "wait".to_owned(),
        StepKind::WaitAll => "wait-all".to_owned(),
        StepKind::Cancel { .. } => "cancel".to_owned(),
        StepKind::Parallel { .. } => "parallel".to_owned(),
        StepKind::Run { .. } => String::new(),
    };
    let base = if base.is_empty() {
        "run".to_owned()
    } else {
        base
    };
    step.id.value = ids.generate(&format!("__{base}"));
}

/// The base of the id GitHub generates for an action step: the image of a Docker action,
/// `self` for one in the workspace or the same repository, `owner/repo` for one in a repository.
fn generated_action_id(action: &UsesRef) -> String {
    match action {
        UsesRef::Docker(image) => image.reference().to_owned(),
        UsesRef::Local(_) | UsesRef::SameRepository(_) => "self".to_owned(),
        UsesRef::Repository(repo) => format!("{}/{}", repo.owner(), repo.repo()),
    }
}
