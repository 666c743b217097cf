//! What expressions read: the contexts (`github`, `env`, `steps`, `needs`, ...) and the evaluation
//! of the values a workflow computes when it runs.
//!
//! [`Contexts`] holds the named values; [`Contexts::eval`] pairs them with the status that
//! `success()`/`failure()`/`cancelled()` report and the workspace `hashFiles` reads, and evaluates
//! [`Templated`] values, `if:` conditions and `env:` maps as GitHub's runner does. The parser has
//! already checked which contexts each place may use, so evaluation offers them all.

use std::path::Path;

use indexmap::IndexMap;
use serde_json::{json, Value as Json};

use actions_compat::expr::{self, EvalContext, JobStatus, ParseOptions, Value};
use actions_compat::workflow::{self, Condition, Env, OrExpr, Templated};

/// Every context name GitHub has.
pub const CONTEXT_NAMES: [&str; 12] = [
    "github", "env", "vars", "job", "jobs", "steps", "runner", "secrets", "strategy", "matrix",
    "needs", "inputs",
];

/// An expression that could not be evaluated, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file} (Line: {line}, Col: {col}): {message}")]
pub struct EvalError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// The named values expressions read.
#[derive(Debug, Clone, PartialEq)]
pub struct Contexts(Value);

impl Default for Contexts {
    fn default() -> Self {
        Contexts(Value::Object(IndexMap::new()))
    }
}

impl Contexts {
    /// Sets (or replaces) a context.
    pub fn set(&mut self, name: &str, value: Value) {
        if let Value::Object(map) = &mut self.0 {
            map.insert(name.to_owned(), value);
        }
    }

    /// Sets one field of an object context (`github.action`), in place.
    pub fn set_field(&mut self, context: &str, key: &str, value: Value) {
        if let Value::Object(map) = &mut self.0 {
            if let Some(Value::Object(inner)) = map.get_mut(context) {
                inner.insert(key.to_owned(), value);
            }
        }
    }

    /// Sets a context from JSON.
    pub fn set_json(&mut self, name: &str, value: Json) {
        self.set(name, Value::from_json(value));
    }

    /// A context, if set.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// An evaluator over these contexts with the given status; `file` names the workflow or
    /// action file in errors.
    pub fn eval<'a>(
        &'a self,
        status: JobStatus,
        workspace: Option<&'a Path>,
        file: &'a str,
    ) -> Evaluator<'a> {
        Evaluator {
            contexts: self,
            status,
            workspace,
            file,
        }
    }
}

/// Evaluates values written in one file against a set of contexts.
#[derive(Debug, Clone, Copy)]
pub struct Evaluator<'a> {
    contexts: &'a Contexts,
    status: JobStatus,
    workspace: Option<&'a Path>,
    file: &'a str,
}

impl Evaluator<'_> {
    fn error(&self, line: usize, col: usize, message: impl Into<String>) -> EvalError {
        EvalError {
            file: self.file.to_owned(),
            line,
            col,
            message: message.into(),
        }
    }

    /// Evaluates an expression's text (without `${{ }}`).
    pub fn expression(&self, text: &str, line: usize, col: usize) -> Result<Value, EvalError> {
        let options = ParseOptions::allow_all(CONTEXT_NAMES);
        let ast = expr::parse(text, &options).map_err(|e| self.error(line, col, e.to_string()))?;
        let mut ctx = EvalContext::new(&self.contexts.0);
        ctx.status = self.status;
        ctx.workspace = self.workspace;
        expr::evaluate(&ast, &ctx).map_err(|e| self.error(line, col, e.to_string()))
    }

    /// Whether an `if:` condition holds.
    pub fn condition(&self, condition: &Condition) -> Result<bool, EvalError> {
        let (line, col) = condition
            .written
            .as_ref()
            .map_or((0, 0), |w| (w.line, w.col));
        Ok(self
            .expression(&condition.expression, line, col)?
            .is_truthy())
    }

    /// A computed value of any type.
    fn templated<'v, T>(&self, value: &'v Templated<T>) -> Result<Result<&'v T, Value>, EvalError> {
        match &value.value {
            OrExpr::Literal { value } => Ok(Ok(value)),
            OrExpr::Expression(e) => self
                .expression(&e.expression, value.line, value.col)
                .map(Err),
        }
    }

    /// A string value.
    pub fn string(&self, value: &Templated<String>) -> Result<String, EvalError> {
        Ok(match self.templated(value)? {
            Ok(s) => s.clone(),
            Err(v) => v.to_expr_string(),
        })
    }

    /// A boolean value (`continue-on-error`): an expression's result counts by its truthiness,
    /// and the strings `true`/`false` by their meaning.
    pub fn boolean(&self, value: &Templated<bool>) -> Result<bool, EvalError> {
        Ok(match self.templated(value)? {
            Ok(b) => *b,
            Err(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
            Err(v) => v.is_truthy(),
        })
    }

    /// A number (`timeout-minutes`).
    pub fn number(&self, value: &Templated<f64>) -> Result<f64, EvalError> {
        match self.templated(value)? {
            Ok(n) => Ok(*n),
            Err(Value::Number(n)) => Ok(n),
            Err(Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| self.error(value.line, value.col, format!("Unexpected value '{s}'"))),
            Err(other) => Err(self.error(
                value.line,
                value.col,
                format!("Unexpected type '{}', expected a number", other.kind_name()),
            )),
        }
    }

    /// An `env:` (or `with:`, `outputs:`) map, each value a string.
    pub fn env(&self, env: &Templated<Env>) -> Result<IndexMap<String, String>, EvalError> {
        match self.templated(env)? {
            Ok(map) => self.env_map(map),
            Err(Value::Object(map)) => Ok(map
                .into_iter()
                .map(|(k, v)| (k, v.to_expr_string()))
                .collect()),
            Err(Value::Null) => Ok(IndexMap::new()),
            Err(other) => Err(self.error(
                env.line,
                env.col,
                format!(
                    "Unexpected type '{}', expected a mapping",
                    other.kind_name()
                ),
            )),
        }
    }

    /// Each value of a literal map, evaluated.
    pub fn env_map(&self, map: &Env) -> Result<IndexMap<String, String>, EvalError> {
        map.iter()
            .map(|(k, v)| Ok((k.clone(), self.string(v)?)))
            .collect()
    }

    /// A value of any YAML type (`with:` of a reusable workflow, matrix values).
    pub fn value(&self, value: &Templated<workflow::Value>) -> Result<Value, EvalError> {
        Ok(match self.templated(value)? {
            Err(v) => v,
            Ok(workflow::Value::Null) => Value::Null,
            Ok(workflow::Value::Bool(b)) => Value::Bool(*b),
            Ok(workflow::Value::Number(n)) => Value::Number(*n),
            Ok(workflow::Value::String(s)) => Value::String(s.clone()),
            Ok(workflow::Value::Sequence(items)) => Value::Array(
                items
                    .iter()
                    .map(|i| self.value(i))
                    .collect::<Result<_, _>>()?,
            ),
            Ok(workflow::Value::Mapping(map)) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.value(v)?)))
                    .collect::<Result<_, EvalError>>()?,
            ),
        })
    }
}

/// A map of strings as a context value.
pub fn string_map(map: &IndexMap<String, String>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// What the `github` context is built from.
#[derive(Debug, Clone, Default)]
pub struct GithubFacts {
    pub event_name: String,
    pub event: Json,
    pub repository: String,
    pub repository_owner: String,
    pub sha: String,
    pub git_ref: String,
    pub ref_name: String,
    pub ref_type: String,
    pub actor: String,
    pub run_id: String,
    pub run_number: String,
    pub workflow: String,
    pub workflow_ref: String,
    pub token: String,
    pub head_ref: String,
    pub base_ref: String,
}

/// The `github` context common to every job of a run (without `job`, `workspace`, `action`).
pub fn github_context(facts: &GithubFacts) -> Json {
    json!({
        "action": "",
        "action_path": "",
        "action_ref": "",
        "action_repository": "",
        "action_status": "",
        "actor": facts.actor,
        "actor_id": "0",
        "api_url": "https://api.github.com",
        "base_ref": facts.base_ref,
        "env": "",
        "event": facts.event,
        "event_name": facts.event_name,
        "event_path": "",
        "graphql_url": "https://api.github.com/graphql",
        "head_ref": facts.head_ref,
        "job": "",
        "path": "",
        "ref": facts.git_ref,
        "ref_name": facts.ref_name,
        "ref_protected": false,
        "ref_type": facts.ref_type,
        "repository": facts.repository,
        "repository_id": "0",
        "repository_owner": facts.repository_owner,
        "repository_owner_id": "0",
        "repositoryUrl": format!("git://github.com/{}.git", facts.repository),
        "retention_days": "0",
        "run_attempt": "1",
        "run_id": facts.run_id,
        "run_number": facts.run_number,
        "secret_source": "Actions",
        "server_url": "https://github.com",
        "sha": facts.sha,
        "token": facts.token,
        "triggering_actor": facts.actor,
        "workflow": facts.workflow,
        "workflow_ref": facts.workflow_ref,
        "workflow_sha": facts.sha,
        "workspace": "",
    })
}

/// The `runner` context of a job.
pub fn runner_context(name: &str, temp: &Path, tool_cache: &Path, debug: bool) -> Json {
    let mut runner = json!({
        "name": name,
        "os": runner_os(),
        "arch": runner_arch(),
        "temp": temp.display().to_string(),
        "tool_cache": tool_cache.display().to_string(),
        "environment": "self-hosted",
    });
    if debug {
        if let Some(map) = runner.as_object_mut() {
            map.insert("debug".to_owned(), json!("1"));
        }
    }
    runner
}

/// `RUNNER_OS` as GitHub spells it.
pub fn runner_os() -> &'static str {
    match std::env::consts::OS {
        "macos" => "macOS",
        "windows" => "Windows",
        _ => "Linux",
    }
}

/// `RUNNER_ARCH` as GitHub spells it.
pub fn runner_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "X64",
        "aarch64" => "ARM64",
        "arm" => "ARM",
        "x86" => "X86",
        _ => "X64",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actions_compat::workflow::JobKind;

    fn contexts() -> Contexts {
        let mut c = Contexts::default();
        c.set_json(
            "github",
            json!({"ref": "refs/heads/main", "event_name": "push"}),
        );
        c.set_json("env", json!({"GREETING": "hi"}));
        c.set_json(
            "steps",
            json!({"s": {"outputs": {"v": "42"}, "outcome": "success"}}),
        );
        c
    }

    fn first_step(src: &str) -> workflow::Step {
        let wf = workflow::parse(src, "ci.yml").unwrap();
        let JobKind::Runner(r) = &wf.jobs[0].kind else {
            panic!("runner job expected")
        };
        r.steps[0].clone()
    }

    #[test]
    fn evaluates_strings_with_embedded_expressions() {
        let step = first_step(
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo ${{ env.GREETING }} ${{ steps.s.outputs.v }}\n",
        );
        let workflow::StepKind::Run { run, .. } = &step.kind else {
            panic!("run step expected")
        };
        let c = contexts();
        let ev = c.eval(JobStatus::Success, None, "ci.yml");
        assert_eq!(ev.string(run).unwrap(), "echo hi 42");
    }

    #[test]
    fn conditions_follow_the_job_status() {
        let step = first_step(
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: x\n        if: github.ref == 'refs/heads/main'\n",
        );
        let c = contexts();
        assert!(c
            .eval(JobStatus::Success, None, "ci.yml")
            .condition(&step.condition)
            .unwrap());
        assert!(!c
            .eval(JobStatus::Failure, None, "ci.yml")
            .condition(&step.condition)
            .unwrap());
    }

    #[test]
    fn evaluation_errors_name_file_line_and_column() {
        let step = first_step(
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: x\n        if: fromJSON('{')\n",
        );
        let c = contexts();
        let err = c
            .eval(JobStatus::Success, None, "ci.yml")
            .condition(&step.condition)
            .unwrap_err();
        assert_eq!((err.file.as_str(), err.line), ("ci.yml", 7));
    }

    #[test]
    fn env_maps_evaluate_each_value_in_order() {
        let step = first_step(
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: x\n        env:\n          B: ${{ env.GREETING }}!\n          A: plain\n",
        );
        let c = contexts();
        let env = c
            .eval(JobStatus::Success, None, "ci.yml")
            .env(step.env.as_ref().unwrap())
            .unwrap();
        assert_eq!(
            env.into_iter().collect::<Vec<_>>(),
            [("B".into(), "hi!".into()), ("A".into(), "plain".into())]
        );
    }

    #[test]
    fn set_field_changes_one_field_of_a_context() {
        let mut c = contexts();
        c.set_field("github", "action", Value::String("__run".into()));
        let ev = c.eval(JobStatus::Success, None, "ci.yml");
        assert_eq!(
            ev.expression("github.action", 1, 1).unwrap(),
            Value::String("__run".into())
        );
        assert_eq!(
            ev.expression("github.ref", 1, 1).unwrap(),
            Value::String("refs/heads/main".into())
        );
    }

    #[test]
    fn numbers_accept_fractions_and_numeric_strings() {
        let c = contexts();
        let ev = c.eval(JobStatus::Success, None, "ci.yml");
        assert_eq!(ev.number(&Templated::literal(0.05, 1, 1)).unwrap(), 0.05);
        assert_eq!(
            ev.expression("'1.5'", 1, 1).unwrap(),
            Value::String("1.5".into())
        );
    }

    #[test]
    fn github_context_carries_event_and_names() {
        let facts = GithubFacts {
            event_name: "push".into(),
            event: json!({"after": "abc"}),
            repository: "o/r".into(),
            ..GithubFacts::default()
        };
        let g = github_context(&facts);
        assert_eq!(g["event"]["after"], "abc");
        assert_eq!(g["repository"], "o/r");
        assert_eq!(g["repositoryUrl"], "git://github.com/o/r.git");
    }
}
