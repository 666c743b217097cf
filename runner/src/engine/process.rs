//! Starting one process of a step through the job's executor, and applying what it left: the
//! workflow commands in its output, its environment files, its exit status.
//!
//! Every process of a job (a `run:` script, a node action's `pre`, `main` or `post`) starts
//! here, and only here, with the exact environment built by [`JobRun::process_env`].

use std::collections::BTreeMap;

use indexmap::IndexMap;

use actions_compat::commands::ParserOptions;
use hermetic::{Ending, ExitStatus, StepSpec};

use super::execute::JobRun;
use super::result::{AnnotationRecord, Conclusion};
use super::step::{Process, Ran};
use super::stream::StepStream;

impl JobRun {
    /// The environment every process of the job starts from: `PATH` (with `GITHUB_PATH`
    /// entries), `HOME`, `CI`, the deterministic values ([`super::determinism`]:
    /// `SOURCE_DATE_EPOCH`, `TZ`, `LC_ALL`), then `env` (the job's and the step's, which win),
    /// then GitHub's default variables, which a step cannot override, and what moves the clock
    /// in a rebuild. Sorted by name, as every backend passes it on.
    pub(super) fn process_env(
        &self,
        env: &IndexMap<String, String>,
        action: &str,
        action_path: Option<&std::path::Path>,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        out.insert("PATH".to_owned(), self.base_path.clone());
        out.insert("HOME".to_owned(), self.dirs.home.display().to_string());
        out.insert("CI".to_owned(), "true".to_owned());
        self.determinism.defaults(&mut out);
        for (k, v) in env {
            out.insert(k.clone(), v.clone());
        }
        let original = out.get("PATH").cloned().unwrap_or_default();
        out.insert("PATH".to_owned(), self.path.path_value(&original));
        let github = self.contexts.get("github");
        let g = |key: &str| {
            github
                .and_then(|g| g.get(key))
                .map(|v| v.to_expr_string())
                .unwrap_or_default()
        };
        let runner = self.contexts.get("runner");
        let r = |key: &str| {
            runner
                .and_then(|r| r.get(key))
                .map(|v| v.to_expr_string())
                .unwrap_or_default()
        };
        let defaults = [
            ("GITHUB_ACTIONS", "true".to_owned()),
            ("GITHUB_ACTION", action.to_owned()),
            ("GITHUB_ACTION_REPOSITORY", String::new()),
            ("GITHUB_ACTOR", g("actor")),
            ("GITHUB_ACTOR_ID", g("actor_id")),
            ("GITHUB_API_URL", g("api_url")),
            ("GITHUB_BASE_REF", g("base_ref")),
            ("GITHUB_EVENT_NAME", g("event_name")),
            ("GITHUB_EVENT_PATH", g("event_path")),
            ("GITHUB_GRAPHQL_URL", g("graphql_url")),
            ("GITHUB_HEAD_REF", g("head_ref")),
            ("GITHUB_JOB", g("job")),
            ("GITHUB_REF", g("ref")),
            ("GITHUB_REF_NAME", g("ref_name")),
            ("GITHUB_REF_PROTECTED", g("ref_protected")),
            ("GITHUB_REF_TYPE", g("ref_type")),
            ("GITHUB_REPOSITORY", g("repository")),
            ("GITHUB_REPOSITORY_ID", g("repository_id")),
            ("GITHUB_REPOSITORY_OWNER", g("repository_owner")),
            ("GITHUB_REPOSITORY_OWNER_ID", g("repository_owner_id")),
            ("GITHUB_RETENTION_DAYS", g("retention_days")),
            ("GITHUB_RUN_ATTEMPT", g("run_attempt")),
            ("GITHUB_RUN_ID", g("run_id")),
            ("GITHUB_RUN_NUMBER", g("run_number")),
            ("GITHUB_SERVER_URL", g("server_url")),
            ("GITHUB_SHA", g("sha")),
            ("GITHUB_TRIGGERING_ACTOR", g("triggering_actor")),
            ("GITHUB_WORKFLOW", g("workflow")),
            ("GITHUB_WORKFLOW_REF", g("workflow_ref")),
            ("GITHUB_WORKFLOW_SHA", g("workflow_sha")),
            ("GITHUB_WORKSPACE", g("workspace")),
            ("RUNNER_ARCH", r("arch")),
            ("RUNNER_ENVIRONMENT", r("environment")),
            ("RUNNER_NAME", r("name")),
            ("RUNNER_OS", r("os")),
            ("RUNNER_TEMP", r("temp")),
            ("RUNNER_TOOL_CACHE", r("tool_cache")),
            ("HRUN_ARTIFACTS", self.dirs.artifacts.display().to_string()),
        ];
        for (k, v) in defaults {
            out.insert(k.to_owned(), v);
        }
        if self.debug {
            out.insert("RUNNER_DEBUG".to_owned(), "1".to_owned());
        }
        if let Some(p) = action_path {
            out.insert("GITHUB_ACTION_PATH".to_owned(), p.display().to_string());
        }
        self.determinism.clock_env(&mut out);
        out
    }

    /// Starts one process and applies what it left: commands, files, annotations.
    pub(super) async fn run_process(&mut self, p: Process) -> Ran {
        if let Err(e) = self.files.prepare() {
            {
                self.error(
                    &format!("cannot prepare the environment files: {e}"),
                    Some(&p.step_key),
                );
                return Ran {
                    outcome: Some(Conclusion::Failure),
                    ..Ran::default()
                };
            }
        }
        let mut env: BTreeMap<String, String> =
            self.process_env(&p.env, &p.action, p.action_path.as_deref());
        for (k, v) in self.files.env_vars() {
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
        spec = spec.sweep(self.sweep.clone());
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
        let (mut outcome, ()) = tokio::join!(run, pump);
        let effects = std::mem::take(stream.finish());
        drop(stream);
        if let Some(report) = outcome.as_mut().ok().and_then(|o| o.sweep.take()) {
            self.record_sweep(&p.step_key, report);
        }

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
        let collected = self.files.collect();
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
        ran.outputs = effects.outputs;
        for (k, v) in collected.outputs {
            super::files::insert_ignoring_case(&mut ran.outputs, k, v);
        }
        for (name, value) in &ran.outputs {
            let place = format!("step `{}` output `{name}`", p.step_key);
            self.scan_value(&place, value, Some(&p.step_key));
        }
        if collected.summary_too_large {
            self.warning(&format!(
                "$GITHUB_STEP_SUMMARY upload aborted, supports content up to a size of {}k, got more",
                super::files::SUMMARY_LIMIT / 1024
            ));
        } else if !collected.summary.is_empty() {
            let place = format!("step `{}` summary", p.step_key);
            self.scan_value(&place, &collected.summary, Some(&p.step_key));
            self.summary
                .push_str(&self.masker.mask_document(&collected.summary));
            if !self.summary.ends_with('\n') {
                self.summary.push('\n');
            }
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
}
