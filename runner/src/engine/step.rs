//! A job's steps, one after another: `if:`, env, `run:` scripts, local actions (composite steps
//! nested in their own scope, node actions with their pre and post steps), `continue-on-error`,
//! `timeout-minutes`, and what each step leaves for the next (`steps.<id>`, `GITHUB_ENV`,
//! `GITHUB_PATH`, the summary).
//!
//! Processes start in [`super::process`]; steps that use an action are in
//! [`super::action_steps`].

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use serde_json::{json, Value as Json};

use actions_compat::expr::{JobStatus, Value};
use actions_compat::workflow::{Condition, OrExpr, Step, StepKind, Templated};

use super::contexts::{string_map, Contexts};
use super::execute::JobRun;
use super::result::{Conclusion, StepResult};
use super::shell::{on_path, Shell};

/// How deep composite actions may nest.
pub const MAX_COMPOSITE_DEPTH: usize = 10;

/// The steps of a job, or of one composite action: their `steps` context and status.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Tells this scope from every other of the job (see [`JobRun::enter`]).
    pub(super) id: u64,
    /// The `steps` context. Entries are only added, through [`Scope::record`].
    pub(super) steps: IndexMap<String, Json>,
    /// How many entries of `steps` were replaced rather than added.
    pub(super) rewrites: u64,
    /// A step of this scope failed.
    pub(super) failed: bool,
    /// A composite action's `inputs`; `None` at job level.
    pub(super) inputs: Option<IndexMap<String, String>>,
    /// A composite action's directory.
    pub(super) action_dir: Option<PathBuf>,
    /// For the steps of a remote composite action, its repository's tree (what `$/` means).
    pub(super) tree: Option<PathBuf>,
    /// The env of the steps that called the composite actions this scope is in.
    pub(super) env: IndexMap<String, String>,
    /// The file the steps are written in.
    pub(super) file: String,
    /// Prefix of step keys (`outer/`), for state and results.
    pub(super) prefix: String,
    pub(super) depth: usize,
}

impl Scope {
    /// The scope of a job's own steps; `id` differs from every other scope's of the job.
    pub fn job(file: String, id: u64) -> Scope {
        Scope {
            id,
            steps: IndexMap::new(),
            rewrites: 0,
            failed: false,
            inputs: None,
            action_dir: None,
            tree: None,
            env: IndexMap::new(),
            file,
            prefix: String::new(),
            depth: 0,
        }
    }

    /// Records what step `id` gave, for the `steps` context.
    pub(super) fn record(&mut self, id: String, entry: Json) {
        if self.steps.insert(id, entry).is_some() {
            self.rewrites += 1;
        }
    }
}

/// Which scope's `steps` the `steps` context shows ([`JobRun::enter`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepsShown {
    scope: u64,
    rewrites: u64,
    entries: usize,
}

/// Makes the `steps` context show `scope`'s steps; `shown` says what it shows now. Steps are
/// entered twice each and a job may have hundreds, so only the entries added since the context
/// last showed this scope are converted; another scope, or a replaced entry, rebuilds it.
fn show_steps(shown: &mut Option<StepsShown>, contexts: &mut Contexts, scope: &Scope) {
    let current = StepsShown {
        scope: scope.id,
        rewrites: scope.rewrites,
        entries: scope.steps.len(),
    };
    let from = match *shown {
        Some(s)
            if s.scope == current.scope
                && s.rewrites == current.rewrites
                && s.entries <= current.entries =>
        {
            s.entries
        }
        _ => {
            contexts.set("steps", Value::Object(IndexMap::new()));
            0
        }
    };
    for (id, entry) in scope.steps.iter().skip(from) {
        contexts.set_field("steps", id, Value::from_json(entry.clone()));
    }
    *shown = Some(current);
}

/// A node action's `post:`, run after the job's steps.
#[derive(Debug, Clone)]
pub struct PostStep {
    pub(super) title: String,
    pub(super) key: String,
    pub(super) dir: PathBuf,
    pub(super) script: String,
    pub(super) condition: Condition,
    pub(super) file: String,
    pub(super) inputs: IndexMap<String, String>,
    pub(super) env: IndexMap<String, String>,
}

/// What running one step gave.
#[derive(Debug, Default)]
pub(super) struct Ran {
    pub(super) outcome: Option<Conclusion>,
    pub(super) exit_code: Option<i32>,
    pub(super) timed_out: bool,
    pub(super) outputs: IndexMap<String, String>,
    pub(super) state: IndexMap<String, String>,
    pub(super) children: Vec<StepResult>,
}

impl Ran {
    pub(super) fn outcome(&self) -> Conclusion {
        self.outcome.unwrap_or(Conclusion::Failure)
    }
}

/// One process to start for a step.
pub(super) struct Process {
    pub(super) program: String,
    pub(super) args: Vec<String>,
    pub(super) workdir: PathBuf,
    pub(super) env: IndexMap<String, String>,
    pub(super) extra_env: Vec<(String, String)>,
    pub(super) action: String,
    pub(super) action_path: Option<PathBuf>,
    pub(super) timeout: Option<Duration>,
    pub(super) title: String,
    pub(super) step_key: String,
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub(super) fn always() -> Condition {
    Condition {
        expression: "always()".to_owned(),
        written: None,
    }
}

impl JobRun {
    /// Sets `steps`, `inputs`, `env` and `github.action_path` for evaluating in `scope`.
    pub(super) fn enter(&mut self, scope: &Scope, env: &IndexMap<String, String>) {
        show_steps(&mut self.steps_shown, &mut self.contexts, scope);
        let inputs = match &scope.inputs {
            Some(i) => string_map(i),
            None => Value::from_json(self.desc.given.inputs.clone()),
        };
        self.contexts.set("inputs", inputs);
        self.contexts.set("env", string_map(env));
        let status = match self.status_now(scope.failed) {
            JobStatus::Cancelled => "cancelled",
            JobStatus::Failure => "failure",
            _ => "success",
        };
        self.contexts
            .set_json("job", json!({"status": status, "services": {}}));
        let path = scope
            .action_dir
            .as_ref()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        self.set_github("action_path", &path);
    }

    /// A scope id no other scope of this job has.
    pub(super) fn new_scope_id(&mut self) -> u64 {
        self.scopes_made += 1;
        self.scopes_made
    }

    pub(super) fn set_github(&mut self, key: &str, value: &str) {
        self.contexts
            .set_field("github", key, Value::String(value.to_owned()));
    }

    /// The env of a step in `scope`: the job's, the calling steps', then its own.
    pub(super) fn scope_env(&self, scope: &Scope) -> IndexMap<String, String> {
        let mut env = self.env.clone();
        env.extend(scope.env.clone());
        env
    }

    /// Runs steps in order.
    pub(super) fn run_steps<'a>(
        &'a mut self,
        steps: &'a [Step],
        scope: &'a mut Scope,
    ) -> Boxed<'a, Vec<StepResult>> {
        Box::pin(async move {
            let mut results = Vec::new();
            for step in steps {
                results.push(self.run_step(step, scope).await);
            }
            results
        })
    }

    pub(super) fn step_title(&self, step: &Step, status: JobStatus, file: &str) -> String {
        if let Some(name) = &step.name {
            if let Ok(n) = self.contexts.eval(status, None, file).string(name) {
                return n;
            }
        }
        match &step.kind {
            StepKind::Run { run, .. } => {
                let text = match &run.value {
                    OrExpr::Literal { value } => value.clone(),
                    OrExpr::Expression(e) => e.source.clone(),
                };
                let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                format!("Run {}", first.trim())
            }
            StepKind::Uses { uses, .. } => format!("Run {}", uses.value),
            _ => format!("Run {}", step.id.value),
        }
    }

    async fn run_step(&mut self, step: &Step, scope: &mut Scope) -> StepResult {
        let started = Instant::now();
        let key = format!("{}{}", scope.prefix, step.id.value);
        let env = self.scope_env(scope);
        self.enter(scope, &env);
        self.set_github("action", &step.id.value);
        let status = self.status_now(scope.failed);
        let title = self.step_title(step, status, &scope.file);
        let condition = self
            .contexts
            .eval(status, Some(&self.dirs.workspace), &scope.file)
            .condition(&step.condition);
        let mut ran = Ran::default();
        match condition {
            Ok(false) => {
                self.log.step_skipped(&title);
                scope.record(
                    step.id.value.clone(),
                    json!({"outputs": {}, "outcome": "skipped", "conclusion": "skipped"}),
                );
                return StepResult {
                    id: step.id.value.clone(),
                    name: self.masker.mask(&title),
                    outcome: Conclusion::Skipped,
                    conclusion: Conclusion::Skipped,
                    duration_ms: 0,
                    exit_code: None,
                    timed_out: false,
                    outputs: IndexMap::new(),
                    steps: Vec::new(),
                };
            }
            Err(e) => {
                self.log.step_header(&title, &[]);
                self.error(&e.to_string(), Some(&key));
            }
            Ok(true) => {
                ran = self.run_step_body(step, scope, &key, &title, status).await;
            }
        }
        let outcome = ran.outcome();
        let continue_on_error = match &step.continue_on_error {
            Some(c) => self
                .contexts
                .eval(status, None, &scope.file)
                .boolean(c)
                .unwrap_or(false),
            None => false,
        };
        let conclusion = if outcome == Conclusion::Failure && continue_on_error {
            Conclusion::Success
        } else {
            outcome
        };
        if conclusion == Conclusion::Failure {
            scope.failed = true;
        }
        scope.record(
            step.id.value.clone(),
            json!({
                "outputs": ran.outputs,
                "outcome": outcome.as_str(),
                "conclusion": conclusion.as_str(),
            }),
        );
        let took = started.elapsed();
        self.log.step_footer(&title, conclusion, took);
        StepResult {
            id: step.id.value.clone(),
            name: self.masker.mask(&title),
            outcome,
            conclusion,
            duration_ms: took.as_millis() as u64,
            exit_code: ran.exit_code,
            timed_out: ran.timed_out,
            outputs: self.masked(&ran.outputs),
            steps: ran.children,
        }
    }

    pub(super) fn masked(&self, map: &IndexMap<String, String>) -> IndexMap<String, String> {
        map.iter()
            .map(|(k, v)| (k.clone(), self.masker.mask(v)))
            .collect()
    }

    async fn run_step_body(
        &mut self,
        step: &Step,
        scope: &mut Scope,
        key: &str,
        title: &str,
        status: JobStatus,
    ) -> Ran {
        let mut env = self.scope_env(scope);
        let mut own_env = IndexMap::new();
        if let Some(step_env) = &step.env {
            match self
                .contexts
                .eval(status, Some(&self.dirs.workspace), &scope.file)
                .env(step_env)
            {
                Ok(e) => own_env = e,
                Err(e) => return self.fail_before_start(title, key, &e.to_string()),
            }
        }
        env.extend(own_env.clone());
        self.enter(scope, &env);
        let timeout = match &step.timeout_minutes {
            Some(t) => match self.contexts.eval(status, None, &scope.file).number(t) {
                Ok(m) if m.is_finite() && m > 0.0 => {
                    Some(Duration::from_secs_f64((m * 60.0).min(1e9)))
                }
                Ok(_) => None,
                Err(e) => return self.fail_before_start(title, key, &e.to_string()),
            },
            None => None,
        };
        match &step.kind {
            StepKind::Run {
                run,
                shell,
                working_directory,
                ..
            } => {
                self.run_script(
                    step,
                    scope,
                    key,
                    title,
                    status,
                    env,
                    timeout,
                    run,
                    shell,
                    working_directory,
                    &own_env,
                )
                .await
            }
            StepKind::Uses { action, with, .. } => {
                self.run_action(step, scope, key, title, status, env, timeout, action, with)
                    .await
            }
            StepKind::Wait { .. }
            | StepKind::WaitAll
            | StepKind::Cancel { .. }
            | StepKind::Parallel { .. } => self.fail_before_start(
                title,
                key,
                "background and parallel steps are not supported yet",
            ),
        }
    }

    pub(super) fn fail_before_start(&mut self, title: &str, key: &str, message: &str) -> Ran {
        self.log.step_header(title, &[]);
        self.error(message, Some(key));
        Ran {
            outcome: Some(Conclusion::Failure),
            ..Ran::default()
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_script(
        &mut self,
        step: &Step,
        scope: &Scope,
        key: &str,
        title: &str,
        status: JobStatus,
        env: IndexMap<String, String>,
        timeout: Option<Duration>,
        run: &Templated<String>,
        shell: &Option<Templated<String>>,
        working_directory: &Option<Templated<String>>,
        own_env: &IndexMap<String, String>,
    ) -> Ran {
        let at_job_level = scope.depth == 0;
        let ev = self
            .contexts
            .eval(status, Some(&self.dirs.workspace), &scope.file);
        let text = match ev.string(run) {
            Ok(t) => t,
            Err(e) => return self.fail_before_start(title, key, &e.to_string()),
        };
        let shell_name = match shell {
            Some(s) => match ev.string(s) {
                Ok(s) => Some(s),
                Err(e) => return self.fail_before_start(title, key, &e.to_string()),
            },
            None if at_job_level => self.default_shell.clone(),
            None => None,
        };
        let workdir = match working_directory {
            Some(w) => match ev.string(w) {
                Ok(w) => Some(w),
                Err(e) => return self.fail_before_start(title, key, &e.to_string()),
            },
            None if at_job_level => self.default_workdir.clone(),
            None => None,
        };
        let path = self
            .process_env(&env, "", None)
            .get("PATH")
            .cloned()
            .unwrap_or_default();
        let shell = match Shell::resolve(shell_name.as_deref(), &|p| on_path(p, &path)) {
            Ok(s) => s,
            Err(e) => return self.fail_before_start(title, key, &e.to_string()),
        };
        let script = match self.write_script(&shell, &text) {
            Ok(p) => p,
            Err(e) => {
                return self.fail_before_start(title, key, &format!("cannot write the script: {e}"))
            }
        };
        let (program, args) = shell.command(&script);
        let mut details: Vec<String> = text.lines().map(str::to_owned).collect();
        details.push(format!("shell: {}", shell.display));
        if !own_env.is_empty() {
            details.push("env:".to_owned());
            details.extend(own_env.iter().map(|(k, v)| format!("  {k}: {v}")));
        }
        self.log.step_header(title, &details);
        let workdir = self.resolve_workdir(workdir.as_deref());
        let ran = self
            .run_process(Process {
                program,
                args,
                workdir,
                env,
                extra_env: Vec::new(),
                action: step.id.value.clone(),
                action_path: scope.action_dir.clone(),
                timeout,
                title: title.to_owned(),
                step_key: key.to_owned(),
            })
            .await;
        ran
    }

    fn resolve_workdir(&self, dir: Option<&str>) -> PathBuf {
        match dir {
            Some(d) if Path::new(d).is_absolute() => PathBuf::from(d),
            Some(d) => self.dirs.workspace.join(d),
            None => self.dirs.workspace.clone(),
        }
    }

    fn write_script(
        &mut self,
        shell: &Shell,
        text: &str,
    ) -> Result<PathBuf, super::safe_dir::SafeDirError> {
        // One name per extension, made anew for each step (see `FileCommands`).
        self.scripts += 1;
        let name = format!("step-script{}", shell.extension);
        self.files.script(&name, &shell.script(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown_ids(contexts: &Contexts) -> Vec<(String, String)> {
        match contexts.get("steps") {
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| {
                    let outcome = v.get("outcome").map(|o| o.to_expr_string());
                    (k.clone(), outcome.unwrap_or_default())
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    fn entry(outcome: &str) -> Json {
        json!({"outputs": {}, "outcome": outcome, "conclusion": outcome})
    }

    #[test]
    fn steps_context_follows_new_steps_and_switches_between_scopes() {
        let (mut contexts, mut shown) = (Contexts::default(), None);
        let mut job = Scope::job("w.yml".into(), 1);
        job.record("a".into(), entry("success"));
        show_steps(&mut shown, &mut contexts, &job);
        job.record("b".into(), entry("failure"));
        show_steps(&mut shown, &mut contexts, &job);
        let both = [
            ("a".into(), "success".into()),
            ("b".into(), "failure".into()),
        ];
        assert_eq!(shown_ids(&contexts), both);

        // A composite action's scope whose first step has the same id shows only its own.
        let mut inner = Scope::job("action.yml".into(), 2);
        inner.record("a".into(), entry("skipped"));
        show_steps(&mut shown, &mut contexts, &inner);
        assert_eq!(shown_ids(&contexts), [("a".into(), "skipped".into())]);

        show_steps(&mut shown, &mut contexts, &job);
        assert_eq!(shown_ids(&contexts), both);
    }

    #[test]
    fn steps_context_is_rebuilt_when_an_entry_is_replaced() {
        let (mut contexts, mut shown) = (Contexts::default(), None);
        let mut job = Scope::job("w.yml".into(), 1);
        job.record("a".into(), entry("success"));
        show_steps(&mut shown, &mut contexts, &job);
        job.record("a".into(), entry("failure"));
        show_steps(&mut shown, &mut contexts, &job);
        assert_eq!(shown_ids(&contexts), [("a".into(), "failure".into())]);
    }
}
