//! Checking a call to a reusable workflow against the workflow called: its `workflow_call`
//! trigger, the inputs it requires and their types, and its secrets.
//!
//! Parsing a workflow never fetches the workflows it calls (this crate does no I/O beyond
//! reading the file it is given); whoever has both files calls [`check_reusable_call`].

use crate::diagnostic::Diagnostic;
use crate::expr;
use crate::workflow::model::{CallSecrets, InputType, Job, JobKind, Templated, Value, Workflow};

/// The problems GitHub reports when `job` of `caller` calls `callee`, positioned in the caller.
/// Empty when the job is not a reusable-workflow job or the call is fine.
pub fn check_reusable_call(caller: &Workflow, job: &Job, callee: &Workflow) -> Vec<Diagnostic> {
    let JobKind::Reusable(call) = &job.kind else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    let mut error = |line, col, message: String| {
        errors.push(Diagnostic::new(&caller.file, line, col, message));
    };
    let (uses_line, uses_col) = (call.uses.line, call.uses.col);
    let Some(trigger) = &callee.on.workflow_call else {
        error(
            uses_line,
            uses_col,
            "workflow_call key is not defined in the referenced workflow.".to_owned(),
        );
        return errors;
    };
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);

    for (name, input) in &trigger.inputs {
        if input.required && !call.with.keys().any(|k| same(k, name)) {
            error(
                uses_line,
                uses_col,
                format!("Input {name} is required, but not provided while calling."),
            );
        }
    }
    for (name, value) in &call.with {
        match trigger.inputs.iter().find(|(n, _)| same(n, name)) {
            None => error(
                value.line,
                value.col,
                format!("Invalid input, {name} is not defined in the referenced workflow."),
            ),
            Some((_, input)) => {
                if let Some(wrong) = mistyped(value, input.input_type) {
                    error(value.line, value.col, format!("Unexpected value '{wrong}'"));
                }
            }
        }
    }

    let provided = match &call.secrets {
        Some(CallSecrets::Inherit(_)) => return errors,
        Some(CallSecrets::Map(map)) => Some(map),
        None => None,
    };
    for (name, secret) in &trigger.secrets {
        if secret.required && !provided.is_some_and(|p| p.keys().any(|k| same(k, name))) {
            error(
                uses_line,
                uses_col,
                format!("Secret {name} is required, but not provided while calling."),
            );
        }
    }
    for (name, value) in provided.into_iter().flatten() {
        if !trigger.secrets.keys().any(|n| same(n, name)) {
            error(
                value.line,
                value.col,
                format!("Invalid secret, {name} is not defined in the referenced workflow."),
            );
        }
    }
    errors
}

/// The literal, as written, when it cannot be an input of type `input_type`. Strings accept any
/// scalar (GitHub turns it into a string); expressions are checked when they run.
fn mistyped(value: &Templated<Value>, input_type: InputType) -> Option<String> {
    let literal = value.as_literal()?;
    let fits = match input_type {
        InputType::Boolean => matches!(literal, Value::Bool(_)),
        InputType::Number => matches!(literal, Value::Number(_)),
        InputType::String | InputType::Environment | InputType::Choice => true,
    };
    if fits {
        return None;
    }
    Some(match literal {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => expr::Value::Number(*n).to_expr_string(),
        Value::String(s) => s.clone(),
        Value::Sequence(_) => "Sequence".to_owned(),
        Value::Mapping(_) => "Mapping".to_owned(),
    })
}
