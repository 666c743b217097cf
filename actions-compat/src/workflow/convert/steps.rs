//! Steps: their ids (checked, or generated as GitHub generates them), conditions, and kinds.
//! Shared by jobs and composite actions.

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
        for step in steps.iter_mut().filter(|s| s.generated_id) {
            let base = match &step.kind {
                StepKind::Uses { action, .. } => generated_action_id(action),
                StepKind::Wait { .. } => "wait".to_owned(),
                StepKind::WaitAll => "wait-all".to_owned(),
                StepKind::Cancel { .. } => "cancel".to_owned(),
                StepKind::Run { .. } => String::new(),
            };
            let base = if base.is_empty() {
                "run".to_owned()
            } else {
                base
            };
            step.id.value = ids.generate(&format!("__{base}"));
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
        } else {
            self.error_at(
                token,
                "Expected one of uses, run, wait, wait-all, or cancel to be defined",
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

/// The base of the id GitHub generates for an action step: the image of a Docker action,
/// `self` for one in the workspace or the same repository, `owner/repo` for one in a repository.
fn generated_action_id(action: &UsesRef) -> String {
    match action {
        UsesRef::Docker(image) => image.reference().to_owned(),
        UsesRef::Local(_) | UsesRef::SameRepository(_) => "self".to_owned(),
        UsesRef::Repository(repo) => format!("{}/{}", repo.owner(), repo.repo()),
    }
}
