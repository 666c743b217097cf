//! Steps that use a local action: a composite action's steps in a scope of their own, a node
//! action's `main` with the machine's `node`, and the `pre` and `post` steps of node actions.
//!
//! A node action's `pre` runs before the job's first step (the workspace is already there, so
//! local actions get theirs too, where GitHub's runner skips them), its `post` after the last
//! step, last registered first, each when its `pre-if`/`post-if` (default `always()`) holds.
//! `GITHUB_STATE` written by one of the three is `STATE_<name>` for the later ones.

use std::path::Path;
use std::time::{Duration, Instant};

use indexmap::IndexMap;

use actions_compat::action::RunsKind;
use actions_compat::expr::JobStatus;
use actions_compat::workflow::{Env, Step, StepKind, Templated, UsesRef};

use super::actions::{input_env_name, inputs, resolve, LocalAction};
use super::execute::JobRun;
use super::result::{AnnotationRecord, Conclusion, StepResult};
use super::shell::on_path;
use super::step::{always, PostStep, Process, Ran, Scope, MAX_COMPOSITE_DEPTH};

impl JobRun {
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
    pub(super) async fn run_action(
        &mut self,
        step: &Step,
        scope: &mut Scope,
        key: &str,
        title: &str,
        status: JobStatus,
        env: IndexMap<String, String>,
        timeout: Option<Duration>,
        uses: &UsesRef,
        with: &Option<Templated<Env>>,
    ) -> Ran {
        let action = match resolve(
            &self.store,
            uses,
            &self.dirs.workspace,
            scope.tree.as_deref(),
        ) {
            Ok(a) => a,
            Err(e) => return self.fail_before_start(title, key, &e),
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
                    id: self.new_scope_id(),
                    steps: IndexMap::new(),
                    rewrites: 0,
                    failed: false,
                    inputs: Some(values),
                    action_dir: Some(action.dir.clone()),
                    tree: action.tree.clone(),
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
                action: uses, with, ..
            } = &step.kind
            else {
                continue;
            };
            let Ok(action) = resolve(
                &self.store,
                uses,
                &self.dirs.workspace,
                scope.tree.as_deref(),
            ) else {
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
            results.push(self.side_step_result(format!("pre-{key}"), &title, &ran, took));
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
            results.push(self.side_step_result(
                format!("post-{}", post.key),
                &post.title,
                &ran,
                took,
            ));
        }
        results
    }

    /// The result of a `pre:` or `post:` step: no outputs, no children, the title masked.
    fn side_step_result(&self, id: String, title: &str, ran: &Ran, took: Duration) -> StepResult {
        let outcome = ran.outcome();
        StepResult {
            id,
            name: self.masker.mask(title),
            outcome,
            conclusion: outcome,
            duration_ms: took.as_millis() as u64,
            exit_code: ran.exit_code,
            timed_out: ran.timed_out,
            outputs: IndexMap::new(),
            steps: Vec::new(),
        }
    }
}
