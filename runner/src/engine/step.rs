//! A job's steps, one after another: `if:`, env, `run:` scripts, local actions (composite steps
//! nested in their own scope, node actions with their pre and post steps), `continue-on-error`,
//! `timeout-minutes`, and what each step leaves for the next (`steps.<id>`, `GITHUB_ENV`,
//! `GITHUB_PATH`, the summary).
//!
//! Every process starts through the job's [`hermetic::Executor`]; the step's output goes through
//! [`super::stream::StepStream`] into the job's log.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use serde_json::{json, Value as Json};

use actions_compat::action::RunsKind;
use actions_compat::commands::ParserOptions;
use actions_compat::expr::{JobStatus, Value};
use actions_compat::workflow::{Condition, Env, OrExpr, Step, StepKind, Templated, UsesRef};
use hermetic::{Ending, ExitStatus, StepSpec};

use super::actions::{input_env_name, inputs, load_local, LocalAction};
use super::contexts::string_map;
use super::execute::JobRun;
use super::result::{AnnotationRecord, Conclusion, StepResult};
use super::shell::{on_path, Shell};
use super::stream::StepStream;

/// How deep composite actions may nest.
pub const MAX_COMPOSITE_DEPTH: usize = 10;

/// The steps of a job, or of one composite action: their `steps` context and status.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The `steps` context.
    steps: IndexMap<String, Json>,
    /// A step of this scope failed.
    failed: bool,
    /// A composite action's `inputs`; `None` at job level.
    inputs: Option<IndexMap<String, String>>,
    /// A composite action's directory.
    action_dir: Option<PathBuf>,
    /// The env of the steps that called the composite actions this scope is in.
    env: IndexMap<String, String>,
    /// The file the steps are written in.
    file: String,
    /// Prefix of step keys (`outer/`), for state and results.
    prefix: String,
    depth: usize,
}

impl Scope {
    /// The scope of a job's own steps.
    pub fn job(file: String) -> Scope {
        Scope {
            steps: IndexMap::new(),
            failed: false,
            inputs: None,
            action_dir: None,
            env: IndexMap::new(),
            file,
            prefix: String::new(),
            depth: 0,
        }
    }
}

/// A node action's `post:`, run after the job's steps.
#[derive(Debug, Clone)]
pub struct PostStep {
    title: String,
    key: String,
    dir: PathBuf,
    script: String,
    condition: Condition,
    file: String,
    inputs: IndexMap<String, String>,
    env: IndexMap<String, String>,
}

/// What running one step gave.
#[derive(Debug, Default)]
struct Ran {
    outcome: Option<Conclusion>,
    exit_code: Option<i32>,
    timed_out: bool,
    outputs: IndexMap<String, String>,
    state: IndexMap<String, String>,
    children: Vec<StepResult>,
}

impl Ran {
    fn outcome(&self) -> Conclusion {
        self.outcome.unwrap_or(Conclusion::Failure)
    }
}

/// One process to start for a step.
struct Process {
    program: String,
    args: Vec<String>,
    workdir: PathBuf,
    env: IndexMap<String, String>,
    extra_env: Vec<(String, String)>,
    action: String,
    action_path: Option<PathBuf>,
    timeout: Option<Duration>,
    title: String,
    step_key: String,
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

fn always() -> Condition {
    Condition {
        expression: "always()".to_owned(),
        written: None,
    }
}

impl JobRun {
    /// Sets `steps`, `inputs`, `env` and `github.action_path` for evaluating in `scope`.
    pub(super) fn enter(&mut self, scope: &Scope, env: &IndexMap<String, String>) {
        self.contexts.set_json(
            "steps",
            Json::Object(scope.steps.clone().into_iter().collect()),
        );
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

    fn set_github(&mut self, key: &str, value: &str) {
        if let Some(Value::Object(mut g)) = self.contexts.get("github").cloned() {
            g.insert(key.to_owned(), Value::String(value.to_owned()));
            self.contexts.set("github", Value::Object(g));
        }
    }

    /// The env of a step in `scope`: the job's, the calling steps', then its own.
    fn scope_env(&self, scope: &Scope) -> IndexMap<String, String> {
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

    fn step_title(&self, step: &Step, status: JobStatus, file: &str) -> String {
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
                scope.steps.insert(
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
        scope.steps.insert(
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

    fn masked(&self, map: &IndexMap<String, String>) -> IndexMap<String, String> {
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
            StepKind::Uses {
                action: UsesRef::Local { path },
                with,
                ..
            } => {
                self.run_local_action(step, scope, key, title, status, env, timeout, path, with)
                    .await
            }
            StepKind::Uses {
                action: UsesRef::Repository { .. },
                uses,
                ..
            } => self.fail_before_start(
                title,
                key,
                &format!(
                    "remote actions are not supported yet (`{}`): the action store is not \
                     wired into the engine",
                    uses.value
                ),
            ),
            StepKind::Uses {
                action: UsesRef::Docker { .. },
                ..
            } => self.fail_before_start(title, key, "docker actions are not supported yet"),
            StepKind::Wait { .. } | StepKind::WaitAll | StepKind::Cancel { .. } => {
                self.fail_before_start(title, key, "background steps are not supported yet")
            }
        }
    }

    fn fail_before_start(&mut self, title: &str, key: &str, message: &str) -> Ran {
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
        let _ = std::fs::remove_file(&script);
        ran
    }

    fn resolve_workdir(&self, dir: Option<&str>) -> PathBuf {
        match dir {
            Some(d) if Path::new(d).is_absolute() => PathBuf::from(d),
            Some(d) => self.dirs.workspace.join(d),
            None => self.dirs.workspace.clone(),
        }
    }

    fn write_script(&mut self, shell: &Shell, text: &str) -> std::io::Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        self.scripts += 1;
        let path = self
            .dirs
            .temp
            .join(format!("step-{}{}", self.scripts, shell.extension));
        self.owner
            .create_file(&path, shell.script(text).as_bytes())?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))?;
        Ok(path)
    }

    /// Starts one process and applies what it left: commands, files, annotations.
    async fn run_process(&mut self, p: Process) -> Ran {
        let files = match self.files.create() {
            Ok(f) => f,
            Err(e) => {
                self.error(
                    &format!("cannot prepare the environment files: {e}"),
                    Some(&p.step_key),
                );
                return Ran {
                    outcome: Some(Conclusion::Failure),
                    ..Ran::default()
                };
            }
        };
        let mut env: BTreeMap<String, String> =
            self.process_env(&p.env, &p.action, p.action_path.as_deref());
        for (k, v) in files.env_vars() {
            env.insert(k.to_owned(), v);
        }
        for (k, v) in &p.extra_env {
            env.insert(k.clone(), v.clone());
        }
        let mut spec =
            StepSpec::new(p.program.clone(), p.workdir.clone()).cancel_grace(self.cancel_grace);
        for a in &p.args {
            spec = spec.arg(a);
        }
        for (k, v) in env {
            spec = spec.env(k, v);
        }
        if let Some(t) = p.timeout {
            spec = spec.timeout(t);
        }
        let cancel = self.step_cancel();
        let options = ParserOptions {
            echo: self.debug,
            allow: self.allow,
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let executor = &self.executor;
        let mut stream = StepStream::new(&mut self.log, self.masker.clone(), options, self.debug);
        let run = executor.run(spec, tx, cancel);
        let pump = async {
            while let Some(chunk) = rx.recv().await {
                stream.feed(&chunk);
            }
        };
        let (outcome, ()) = tokio::join!(run, pump);
        let effects = std::mem::take(stream.finish());
        drop(stream);

        let mut ran = Ran::default();
        let mut failed = effects.failed;
        for a in &effects.annotations {
            self.annotations.push(AnnotationRecord {
                level: a.level.command_name(),
                message: self.masker.mask(&a.message),
                title: a.title.as_ref().map(|t| self.masker.mask(t)),
                file: a.file.as_ref().map(|f| self.masker.mask(f)),
                line: a.line,
                end_line: a.end_line,
                col: a.col,
                end_column: a.end_column,
                step: Some(p.step_key.clone()),
            });
        }
        let collected = files.collect();
        for (k, v) in effects.env.into_iter().chain(collected.env) {
            self.env.insert(k, v);
        }
        for dir in effects.paths.into_iter().chain(collected.paths) {
            self.path.add(dir);
        }
        for name in &collected.blocked {
            self.error(
                &format!("Can't store {name} output parameter using '$GITHUB_ENV' command."),
                Some(&p.step_key),
            );
        }
        for e in &collected.errors {
            self.error(&e.to_string(), Some(&p.step_key));
            failed = true;
        }
        for e in &collected.unreadable {
            self.error(&format!("cannot read {e}"), Some(&p.step_key));
            failed = true;
        }
        if collected.summary_too_large {
            self.warning(&format!(
                "$GITHUB_STEP_SUMMARY upload aborted, supports content up to a size of {}k, got more",
                super::files::SUMMARY_LIMIT / 1024
            ));
        } else if !collected.summary.is_empty() {
            self.summary
                .push_str(&self.masker.mask_document(&collected.summary));
            if !self.summary.ends_with('\n') {
                self.summary.push('\n');
            }
        }
        ran.outputs = effects.outputs;
        for (k, v) in collected.outputs {
            super::files::insert_ignoring_case(&mut ran.outputs, k, v);
        }
        ran.state = effects.state;
        ran.state.extend(collected.state);

        let outcome = match outcome {
            Err(e) => {
                self.error(&e.to_string(), Some(&p.step_key));
                Conclusion::Failure
            }
            Ok(o) => match o.ending {
                Ending::Cancelled => {
                    self.error("The operation was canceled.", Some(&p.step_key));
                    Conclusion::Cancelled
                }
                Ending::TimedOut => {
                    ran.timed_out = true;
                    let minutes = p.timeout.map_or(0.0, |t| t.as_secs_f64() / 60.0);
                    self.error(
                        &format!(
                            "The action '{}' has timed out after {minutes} minutes.",
                            p.title
                        ),
                        Some(&p.step_key),
                    );
                    Conclusion::Failure
                }
                Ending::Exited => match o.status {
                    ExitStatus::Code(0) if !failed => Conclusion::Success,
                    ExitStatus::Code(0) => Conclusion::Failure,
                    ExitStatus::Code(code) => {
                        ran.exit_code = Some(code);
                        self.error(
                            &format!("Process completed with exit code {code}."),
                            Some(&p.step_key),
                        );
                        Conclusion::Failure
                    }
                    ExitStatus::Signal(sig) => {
                        ran.exit_code = Some(128 + sig);
                        self.error(
                            &format!("Process was ended by signal {sig}."),
                            Some(&p.step_key),
                        );
                        Conclusion::Failure
                    }
                },
            },
        };
        ran.outcome = Some(outcome);
        ran
    }

    /// Evaluates `with:` and the action's input defaults.
    fn action_inputs(
        &mut self,
        action: &LocalAction,
        with: &Option<Templated<Env>>,
        status: JobStatus,
        file: &str,
        key: &str,
    ) -> Result<IndexMap<String, String>, String> {
        let given = match with {
            Some(w) => self
                .contexts
                .eval(status, Some(&self.dirs.workspace), file)
                .env(w)
                .map_err(|e| e.to_string())?,
            None => IndexMap::new(),
        };
        let mut defaults = IndexMap::new();
        for (name, input) in &action.action.inputs {
            if let Some(d) = &input.default {
                let v = self
                    .contexts
                    .eval(status, Some(&self.dirs.workspace), &action.file)
                    .string(d)
                    .map_err(|e| e.to_string())?;
                defaults.insert(name.clone(), v);
            }
        }
        let (values, warnings) = inputs(&action.action, &given, &defaults);
        for w in warnings {
            self.annotations.push(AnnotationRecord {
                level: "warning",
                message: self.masker.mask(&w),
                title: None,
                file: None,
                line: None,
                end_line: None,
                col: None,
                end_column: None,
                step: Some(key.to_owned()),
            });
            self.log.annotation(super::output::Level::Warning, &w, None);
        }
        Ok(values)
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_local_action(
        &mut self,
        step: &Step,
        scope: &mut Scope,
        key: &str,
        title: &str,
        status: JobStatus,
        env: IndexMap<String, String>,
        timeout: Option<Duration>,
        path: &str,
        with: &Option<Templated<Env>>,
    ) -> Ran {
        let action = match load_local(&self.dirs.workspace, path) {
            Ok(a) => a,
            Err(e) => return self.fail_before_start(title, key, &e.to_string()),
        };
        let values = match self.action_inputs(&action, with, status, &scope.file, key) {
            Ok(v) => v,
            Err(e) => return self.fail_before_start(title, key, &e),
        };
        match &action.action.runs.kind {
            RunsKind::Docker(_) => {
                self.fail_before_start(title, key, "docker actions are not supported yet")
            }
            RunsKind::Node(node) => {
                self.log
                    .step_header(title, &[format!("node action {}", action.file)]);
                let state = self.states.get(key).cloned().unwrap_or_default();
                let mut ran = self
                    .run_node(
                        &action.dir,
                        &node.main.value,
                        &values,
                        &state,
                        env.clone(),
                        key,
                        title,
                        timeout,
                    )
                    .await;
                self.states
                    .entry(key.to_owned())
                    .or_default()
                    .extend(std::mem::take(&mut ran.state));
                if let Some(post) = &node.post {
                    self.posts.push(PostStep {
                        title: format!("Post {title}"),
                        key: key.to_owned(),
                        dir: action.dir.clone(),
                        script: post.value.clone(),
                        condition: node.post_if.clone().unwrap_or_else(always),
                        file: action.file.clone(),
                        inputs: values,
                        env,
                    });
                }
                ran
            }
            RunsKind::Composite(composite) => {
                self.log
                    .step_header(title, &[format!("composite action {}", action.file)]);
                if scope.depth >= MAX_COMPOSITE_DEPTH {
                    self.error(
                        &format!("composite actions nest deeper than {MAX_COMPOSITE_DEPTH}"),
                        Some(key),
                    );
                    return Ran {
                        outcome: Some(Conclusion::Failure),
                        ..Ran::default()
                    };
                }
                let mut caller_env = scope.env.clone();
                if let Some(own) = step.env.as_ref() {
                    if let Ok(own) = self
                        .contexts
                        .eval(status, Some(&self.dirs.workspace), &scope.file)
                        .env(own)
                    {
                        caller_env.extend(own);
                    }
                }
                let mut inner = Scope {
                    steps: IndexMap::new(),
                    failed: false,
                    inputs: Some(values),
                    action_dir: Some(action.dir.clone()),
                    env: caller_env,
                    file: action.file.clone(),
                    prefix: format!("{key}/"),
                    depth: scope.depth + 1,
                };
                let steps = composite.steps.clone();
                let children = self.run_steps(&steps, &mut inner).await;
                let inner_env = self.scope_env(&inner);
                self.enter(&inner, &inner_env);
                let mut outputs = IndexMap::new();
                for (name, output) in &action.action.outputs {
                    let Some(value) = &output.value else { continue };
                    let status = self.status_now(inner.failed);
                    match self
                        .contexts
                        .eval(status, Some(&self.dirs.workspace), &action.file)
                        .string(value)
                    {
                        Ok(v) => {
                            outputs.insert(name.clone(), v);
                        }
                        Err(e) => {
                            self.error(&e.to_string(), Some(key));
                            inner.failed = true;
                        }
                    }
                }
                let outcome = if self.job_cancel.is_cancelled() {
                    Conclusion::Cancelled
                } else if inner.failed {
                    Conclusion::Failure
                } else {
                    Conclusion::Success
                };
                let caller_env = self.scope_env(scope);
                self.enter(scope, &caller_env);
                Ran {
                    outcome: Some(outcome),
                    outputs,
                    children,
                    ..Ran::default()
                }
            }
        }
    }

    /// Runs a script of a node action (`main`, `pre` or `post`) with the machine's `node`.
    #[allow(clippy::too_many_arguments)]
    async fn run_node(
        &mut self,
        dir: &Path,
        script: &str,
        values: &IndexMap<String, String>,
        state: &IndexMap<String, String>,
        env: IndexMap<String, String>,
        key: &str,
        title: &str,
        timeout: Option<Duration>,
    ) -> Ran {
        let path = self
            .process_env(&env, "", None)
            .get("PATH")
            .cloned()
            .unwrap_or_default();
        if !on_path("node", &path) {
            self.error(
                "node actions need `node` (Node.js 20 or later) on the PATH, and none was found",
                Some(key),
            );
            return Ran {
                outcome: Some(Conclusion::Failure),
                ..Ran::default()
            };
        }
        let mut extra: Vec<(String, String)> = values
            .iter()
            .map(|(k, v)| (input_env_name(k), v.clone()))
            .collect();
        extra.extend(state.iter().map(|(k, v)| (format!("STATE_{k}"), v.clone())));
        let main = dir.join(script);
        self.run_process(Process {
            program: "node".to_owned(),
            args: vec![main.display().to_string()],
            workdir: self.dirs.workspace.clone(),
            env,
            extra_env: extra,
            action: key.rsplit('/').next().unwrap_or(key).to_owned(),
            action_path: Some(dir.to_path_buf()),
            timeout,
            title: title.to_owned(),
            step_key: key.to_owned(),
        })
        .await
    }

    /// Runs the `pre:` of each node action among the job's steps whose `pre-if` holds.
    pub(super) async fn run_pre_steps(&mut self, steps: &[Step], scope: &Scope) -> Vec<StepResult> {
        let mut results = Vec::new();
        for step in steps {
            let StepKind::Uses {
                action: UsesRef::Local { path },
                with,
                ..
            } = &step.kind
            else {
                continue;
            };
            let Ok(action) = load_local(&self.dirs.workspace, path) else {
                continue;
            };
            let RunsKind::Node(node) = &action.action.runs.kind else {
                continue;
            };
            let Some(pre) = &node.pre else { continue };
            let started = Instant::now();
            let key = step.id.value.clone();
            let mut env = self.scope_env(scope);
            self.enter(scope, &env);
            let status = self.status_now(false);
            let title = format!("Pre {}", self.step_title(step, status, &scope.file));
            let condition = node.pre_if.clone().unwrap_or_else(always);
            match self
                .contexts
                .eval(status, Some(&self.dirs.workspace), &action.file)
                .condition(&condition)
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    self.error(&e.to_string(), Some(&key));
                    continue;
                }
            }
            if let Some(step_env) = &step.env {
                if let Ok(e) = self
                    .contexts
                    .eval(status, Some(&self.dirs.workspace), &scope.file)
                    .env(step_env)
                {
                    env.extend(e);
                }
            }
            let values = match self.action_inputs(&action, with, status, &scope.file, &key) {
                Ok(v) => v,
                Err(e) => {
                    self.error(&e, Some(&key));
                    continue;
                }
            };
            self.log.step_header(&title, &[]);
            let mut ran = self
                .run_node(
                    &action.dir,
                    &pre.value,
                    &values,
                    &IndexMap::new(),
                    env,
                    &key,
                    &title,
                    None,
                )
                .await;
            self.states
                .entry(key.clone())
                .or_default()
                .extend(std::mem::take(&mut ran.state));
            let took = started.elapsed();
            let outcome = ran.outcome();
            self.log.step_footer(&title, outcome, took);
            results.push(StepResult {
                id: format!("pre-{key}"),
                name: self.masker.mask(&title),
                outcome,
                conclusion: outcome,
                duration_ms: took.as_millis() as u64,
                exit_code: ran.exit_code,
                timed_out: ran.timed_out,
                outputs: IndexMap::new(),
                steps: Vec::new(),
            });
        }
        results
    }

    /// Runs the registered `post:` steps, last registered first, each whose `post-if` holds.
    pub(super) async fn run_post_steps(&mut self, scope: &mut Scope) -> Vec<StepResult> {
        let mut results = Vec::new();
        let posts: Vec<PostStep> = self.posts.drain(..).rev().collect();
        for post in posts {
            let started = Instant::now();
            let env = self.scope_env(scope);
            self.enter(scope, &env);
            let status = self.status_now(scope.failed);
            match self
                .contexts
                .eval(status, Some(&self.dirs.workspace), &post.file)
                .condition(&post.condition)
            {
                Ok(true) => {}
                Ok(false) => {
                    self.log.step_skipped(&post.title);
                    continue;
                }
                Err(e) => {
                    self.error(&e.to_string(), Some(&post.key));
                    continue;
                }
            }
            self.log.step_header(&post.title, &[]);
            let state = self.states.get(&post.key).cloned().unwrap_or_default();
            let ran = self
                .run_node(
                    &post.dir,
                    &post.script,
                    &post.inputs,
                    &state,
                    post.env.clone(),
                    &post.key,
                    &post.title,
                    None,
                )
                .await;
            let outcome = ran.outcome();
            if outcome == Conclusion::Failure {
                scope.failed = true;
            }
            let took = started.elapsed();
            self.log.step_footer(&post.title, outcome, took);
            results.push(StepResult {
                id: format!("post-{}", post.key),
                name: self.masker.mask(&post.title),
                outcome,
                conclusion: outcome,
                duration_ms: took.as_millis() as u64,
                exit_code: ran.exit_code,
                timed_out: ran.timed_out,
                outputs: IndexMap::new(),
                steps: Vec::new(),
            });
        }
        results
    }
}
