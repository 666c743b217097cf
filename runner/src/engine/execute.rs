//! One job from start to end: its env, defaults and timeout, the pre steps of its actions, its
//! steps, the post steps, its outputs, its log and its `result.json`.
//!
//! A job is cancelled when the run is (Ctrl-C) or when its `timeout-minutes` pass: the running
//! step gets SIGINT, then SIGKILL after the grace period (the executor does it), and only steps
//! whose `if` holds with `cancelled()` (`always()`, `cancelled()`) run after that; a second
//! Ctrl-C stops those too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use actions_compat::commands::file::PrependPath;
use actions_compat::commands::{
    Allowances, ALLOW_UNSECURE_COMMANDS_ENV, ALLOW_UNSECURE_STOP_TOKENS_ENV,
};
use actions_compat::expr::JobStatus;
use hermetic::scan::KnownSecrets;
use hermetic::sweep::{SweepConfig, SweepReport};
use hermetic::{Executor, SandboxReport};

use crate::actions::ActionStore;
use crate::evidence::job::JobEnd;
use crate::evidence::RunEvidence;

use super::artifact_scan::scan_artifacts;
use super::contexts::{runner_context, string_map, Contexts, EvalError};
use super::determinism::{JobEnvironment, RunEnvironment};
use super::files::FileCommands;
use super::job::JobDescription;
use super::output::{JobLog, Level, LiveLog};
use super::result::{write_json, AnnotationRecord, Conclusion, JobResult, StepResult};
use super::secret_scan::{describe, describe_sweep, JobScan, ScanPolicy};
use super::step::{PostStep, Scope, StepsShown};
use super::workspace::{JobDirs, Owner};
use super::SharedMasker;

/// GitHub's default job timeout.
pub const DEFAULT_JOB_TIMEOUT_MINUTES: f64 = 360.0;

/// The run's two cancellations: the first Ctrl-C cancels jobs, the second also stops the steps
/// that run after a cancellation.
#[derive(Debug, Clone, Default)]
pub struct RunCancel {
    pub first: CancellationToken,
    pub second: CancellationToken,
}

/// Everything a job needs from the run.
pub struct JobSetup {
    pub desc: JobDescription,
    pub executor: Box<dyn Executor>,
    pub dirs: JobDirs,
    pub owner: Owner,
    pub masker: SharedMasker,
    pub live: Arc<LiveLog>,
    /// The job's directory under the output directory.
    pub out_dir: PathBuf,
    /// `out_dir` relative to the run's output directory.
    pub out_rel: String,
    pub cancel: RunCancel,
    /// `RUNNER_DEBUG` / step debug logging.
    pub debug: bool,
    /// `PATH` for steps before any `GITHUB_PATH` entry.
    pub base_path: String,
    pub runner_name: String,
    /// Time between SIGINT and SIGKILL for a cancelled step.
    pub cancel_grace: Duration,
    /// Where remote actions are read from.
    pub store: Arc<ActionStore>,
    /// The run's evidence (provenance, evidence bundle, audit log); `None` writes none.
    pub evidence: Option<Arc<RunEvidence>>,
    /// The secret scan of the job's outputs and summaries.
    pub secret_scan: JobScan,
    /// `SOURCE_DATE_EPOCH`, time zone, locale, hostname and clock of the run's steps.
    pub environment: Arc<RunEnvironment>,
}

/// A job being run; the step loop is in [`super::step`].
pub struct JobRun {
    pub(super) desc: JobDescription,
    pub(super) executor: Box<dyn Executor>,
    pub(super) dirs: JobDirs,
    pub(super) owner: Owner,
    pub(super) masker: SharedMasker,
    pub(super) log: JobLog,
    pub(super) files: FileCommands,
    /// The job-level `env` context: workflow, job, then `GITHUB_ENV`.
    pub(super) env: IndexMap<String, String>,
    pub(super) path: PrependPath,
    pub(super) contexts: Contexts,
    pub(super) default_shell: Option<String>,
    pub(super) default_workdir: Option<String>,
    pub(super) annotations: Vec<AnnotationRecord>,
    pub(super) summary: String,
    pub(super) posts: Vec<PostStep>,
    /// `GITHUB_STATE` of each action step, by the step's key.
    pub(super) states: IndexMap<String, IndexMap<String, String>>,
    /// The job's cancellation (the run's first, or the job's timeout).
    pub(super) job_cancel: CancellationToken,
    pub(super) run_cancel: RunCancel,
    pub(super) debug: bool,
    pub(super) base_path: String,
    pub(super) cancel_grace: Duration,
    pub(super) scripts: u64,
    /// What the `steps` context shows (see `JobRun::enter`).
    pub(super) steps_shown: Option<StepsShown>,
    /// Scopes made so far, for their ids.
    pub(super) scopes_made: u64,
    pub(super) allow: Allowances,
    pub(super) timeout_minutes: f64,
    pub(super) timer: Option<tokio::task::JoinHandle<()>>,
    pub(super) store: Arc<ActionStore>,
    pub(super) secret_scan: JobScan,
    /// The job's secrets, looked for by value in its processes and artifacts.
    pub(super) known: Arc<KnownSecrets>,
    /// What each process of the job is swept for.
    pub(super) sweep: SweepConfig,
    /// The deterministic environment of the job's steps (settled by `prepare`, once the job's
    /// `env` is known).
    pub(super) determinism: JobEnvironment,
    pub(super) run_environment: Arc<RunEnvironment>,
}

/// How a job ended, for the scheduler.
#[derive(Debug, Clone)]
pub struct JobEnded {
    pub result: JobResult,
    /// What dependants see as `needs.<id>.result`.
    pub conclusion: Conclusion,
    pub outputs: IndexMap<String, String>,
}

/// Runs one job and writes its log and `result.json`.
pub async fn run_job(setup: JobSetup) -> JobEnded {
    let started = Instant::now();
    let label = setup.desc.key.clone();
    let log_path = setup.out_dir.join("log.txt");
    let log = match JobLog::new(
        &label,
        Arc::clone(&setup.live),
        Some(&log_path),
        setup.masker.clone(),
    ) {
        Ok(log) => log,
        Err(e) => {
            setup.live.note(&format!(
                "[{label}] cannot write the job's log {}: {e}",
                log_path.display()
            ));
            match JobLog::new(&label, Arc::clone(&setup.live), None, setup.masker.clone()) {
                Ok(log) => log,
                Err(_) => return failed_to_start(&setup, started, "cannot open the job's log"),
            }
        }
    };
    let files = match FileCommands::new(setup.dirs.temp.join("_runner_file_commands"), setup.owner)
    {
        Ok(f) => f,
        Err(e) => {
            return failed_to_start(&setup, started, &format!("cannot prepare RUNNER_TEMP: {e}"))
        }
    };
    let sandbox = setup.executor.name().to_owned();
    let evidence = setup.evidence.clone();
    let recorder = evidence.as_ref().map(|e| e.job_started(&setup.desc.key));
    let mut contexts = Contexts::default();
    let given = &setup.desc.given;
    let mut github = given.github.clone();
    if let Some(g) = github.as_object_mut() {
        g.insert("job".to_owned(), json!(setup.desc.id));
        g.insert(
            "workspace".to_owned(),
            json!(setup.dirs.workspace.display().to_string()),
        );
        g.insert(
            "event_path".to_owned(),
            json!(event_path(&setup.dirs).display().to_string()),
        );
    }
    contexts.set_json("github", github);
    contexts.set_json("inputs", given.inputs.clone());
    contexts.set_json("vars", given.vars.clone());
    contexts.set_json("needs", given.needs.clone());
    contexts.set_json("matrix", given.matrix.clone());
    contexts.set_json("strategy", given.strategy.clone());
    contexts.set("secrets", given.secrets.to_context());
    contexts.set_json(
        "runner",
        runner_context(
            &setup.runner_name,
            &setup.dirs.temp,
            &setup.dirs.tool_cache,
            setup.debug,
        ),
    );
    contexts.set_json("job", json!({"status": "success", "services": {}}));
    contexts.set_json("env", json!({}));
    contexts.set_json("steps", json!({}));

    // A job that starts after the run was cancelled (its `if` holds with `cancelled()`) runs
    // its steps normally, as on GitHub; only the second Ctrl-C stops it.
    let known = {
        let mut known = KnownSecrets::new();
        for (name, value) in setup.desc.given.secrets.iter() {
            known.add(name, value);
        }
        Arc::new(known)
    };
    let sweep = SweepConfig::new(Arc::clone(&known), Some(setup.secret_scan.scanner()));
    let job_cancel = if setup.cancel.first.is_cancelled() {
        setup.cancel.second.child_token()
    } else {
        setup.cancel.first.child_token()
    };
    let mut run = JobRun {
        desc: setup.desc,
        executor: setup.executor,
        dirs: setup.dirs,
        owner: setup.owner,
        masker: setup.masker,
        log,
        files,
        env: IndexMap::new(),
        path: PrependPath::default(),
        contexts,
        default_shell: None,
        default_workdir: None,
        annotations: Vec::new(),
        summary: String::new(),
        posts: Vec::new(),
        states: IndexMap::new(),
        job_cancel,
        run_cancel: setup.cancel,
        debug: setup.debug,
        base_path: setup.base_path,
        cancel_grace: setup.cancel_grace,
        scripts: 0,
        steps_shown: None,
        scopes_made: 0,
        allow: Allowances::default(),
        timeout_minutes: DEFAULT_JOB_TIMEOUT_MINUTES,
        timer: None,
        store: setup.store,
        secret_scan: setup.secret_scan,
        known,
        sweep,
        determinism: setup.environment.for_job(&IndexMap::new()),
        run_environment: Arc::clone(&setup.environment),
    };
    let timed_out = Arc::new(AtomicBool::new(false));
    let (steps, name, prepared) = run.run_all(&timed_out).await;
    if let Some(timer) = run.timer.take() {
        timer.abort();
    }
    let sandbox_report = match run.executor.finish().await {
        Ok(report) => report,
        Err(e) => {
            run.error(
                &format!("The sandbox could not be shut down cleanly: {e}"),
                None,
            );
            SandboxReport::default()
        }
    };
    for failure in &sandbox_report.failures {
        run.error(failure, None);
    }
    let withheld = run.scan_artifacts().await;
    let cancelled = run.job_cancel.is_cancelled();
    let failed = !prepared
        || !sandbox_report.failures.is_empty()
        || steps.iter().any(|s| s.conclusion == Conclusion::Failure);
    let outputs = if prepared {
        run.job_outputs()
    } else {
        IndexMap::new()
    };
    let failed = if run.secret_scan.fails_job() {
        let n = run.secret_scan.total();
        run.error(
            &format!("The secret scan found {n} secret(s) in this job's outputs, summaries, processes or artifacts; the job fails (--secret-scan fail)."),
            None,
        );
        true
    } else {
        failed
    };
    let timed_out = timed_out.load(Ordering::SeqCst);
    if timed_out {
        let minutes = run.timeout_minutes;
        run.error(
            &format!("The job has exceeded the maximum execution time of {minutes} minutes."),
            None,
        );
    }
    let outcome = if cancelled {
        Conclusion::Cancelled
    } else if failed {
        Conclusion::Failure
    } else {
        Conclusion::Success
    };
    let conclusion = if outcome == Conclusion::Failure && run.continue_on_error() {
        Conclusion::Success
    } else {
        outcome
    };
    let took = started.elapsed();
    run.log.job_footer(outcome, took);
    if !run.summary.is_empty() {
        let text = run.masker.mask_document(&run.summary);
        if let Err(e) = std::fs::write(setup.out_dir.join("summary.md"), text) {
            run.log.info(&format!("cannot write the job summary: {e}"));
        }
    }
    let masker = run.masker.clone();
    for (name, bytes) in &sandbox_report.files {
        let text = masker.mask_document(&String::from_utf8_lossy(bytes));
        if let Err(e) = std::fs::write(setup.out_dir.join(name), text) {
            run.log
                .info(&format!("cannot write the sandbox's {name}: {e}"));
        }
    }
    let result = JobResult {
        id: run.desc.id.clone(),
        key: run.desc.key.clone(),
        name: masker.mask(&name),
        outcome,
        conclusion,
        outputs: outputs
            .iter()
            .map(|(k, v)| (k.clone(), masker.mask(v)))
            .collect(),
        steps,
        annotations: std::mem::take(&mut run.annotations),
        sandbox: Some(sandbox),
        sandbox_details: sandbox_report.facts,
        duration_ms: took.as_millis() as u64,
        timed_out,
        log: Some(format!("{}/log.txt", setup.out_rel)),
    };
    let dirs_root = run.dirs.root.clone();
    if let Err(e) = run.log.finish() {
        eprintln!("hrun: cannot write the log of job {}: {e}", result.key);
    }
    if let Err(e) = write_json(
        &setup.out_dir.join("result.json"),
        &result,
        "the job result",
        &masker,
    ) {
        eprintln!("hrun: {e}");
    }
    if let Err(e) = run
        .secret_scan
        .write(&setup.out_dir.join("secret-scan.json"), &masker)
    {
        eprintln!("hrun: {e}");
    }
    if let (Some(evidence), Some(recorder)) = (evidence, recorder) {
        let end = JobEnd {
            key: result.key.clone(),
            out_dir: setup.out_dir.clone(),
            artifacts_dir: run.dirs.artifacts.clone(),
            steps: result.steps.clone(),
            conclusion: conclusion.as_str().to_owned(),
            sandbox: result.sandbox.clone().unwrap_or_default(),
            facts: result.sandbox_details.clone(),
            sandbox_files: sandbox_report.files.keys().cloned().collect(),
            inputs: run.desc.given.inputs.clone(),
            matrix: run.desc.given.matrix.clone(),
            vars: run.desc.given.vars.clone(),
            environment: prepared.then(|| run.determinism.record()),
            secret_findings: run.secret_scan.findings().to_vec(),
            masker: masker.clone(),
            process_findings: run.secret_scan.process_findings().to_vec(),
            withheld,
        };
        let written = tokio::task::spawn_blocking(move || evidence.finish_job(recorder, end)).await;
        let note = match written {
            Ok(Ok(w)) => {
                let mut note = format!(
                    "[{}] evidence: {} artifact(s), {} bytes, {} members, signed in {} ms (provenance.sigstore.json, evidence.tar)",
                    result.key,
                    w.artifacts,
                    w.artifact_bytes,
                    w.members,
                    w.elapsed.as_millis()
                );
                if !w.skipped.is_empty() {
                    note.push_str(&format!(
                        "; not regular files, not recorded: {}",
                        masker.mask(&w.skipped.join(", "))
                    ));
                }
                match &w.receipt {
                    Some(Ok(commit)) => note.push_str(&format!(
                        "; receipt attached to {commit} ({})",
                        provenance::receipt::RECEIPTS_NOTES_REF
                    )),
                    Some(Err(e)) => note.push_str(&format!("; ✗ receipt not attached: {e}")),
                    None => {}
                }
                if !w.withheld.is_empty() {
                    note.push_str(&format!(
                        "; withheld by the secret scan: {}",
                        masker.mask(&w.withheld.join(", "))
                    ));
                }
                note
            }
            Ok(Err(e)) => format!("[{}] ✗ evidence not written: {e:#}", result.key),
            Err(e) => format!("[{}] ✗ evidence not written: {e}", result.key),
        };
        setup.live.note(&note);
    }
    let _ = std::fs::remove_dir_all(&dirs_root);
    JobEnded {
        result,
        conclusion,
        outputs,
    }
}

/// The event payload's path in the job's temp directory (`GITHUB_EVENT_PATH`).
pub fn event_path(dirs: &JobDirs) -> PathBuf {
    dirs.temp.join("_github_workflow").join("event.json")
}

fn failed_to_start(setup: &JobSetup, started: Instant, why: &str) -> JobEnded {
    let result = JobResult {
        id: setup.desc.id.clone(),
        key: setup.desc.key.clone(),
        name: setup.desc.id.clone(),
        outcome: Conclusion::Failure,
        conclusion: Conclusion::Failure,
        outputs: IndexMap::new(),
        steps: Vec::new(),
        annotations: vec![AnnotationRecord {
            level: "error",
            message: why.to_owned(),
            title: None,
            file: None,
            line: None,
            end_line: None,
            col: None,
            end_column: None,
            step: None,
        }],
        sandbox: None,
        sandbox_details: BTreeMap::new(),
        duration_ms: started.elapsed().as_millis() as u64,
        timed_out: false,
        log: None,
    };
    let _ = write_json(
        &setup.out_dir.join("result.json"),
        &result,
        "the job result",
        &setup.masker,
    );
    let _ = std::fs::remove_dir_all(&setup.dirs.root);
    JobEnded {
        result,
        conclusion: Conclusion::Failure,
        outputs: IndexMap::new(),
    }
}

impl JobRun {
    /// Prepares the job and runs pre, main and post steps. Returns the steps' results, the
    /// job's display name, and whether the job could be prepared.
    async fn run_all(&mut self, timed_out: &Arc<AtomicBool>) -> (Vec<StepResult>, String, bool) {
        let name = match &self.desc.name {
            Some(n) => self
                .eval(JobStatus::Success)
                .string(n)
                .unwrap_or_else(|_| self.desc.id.clone()),
            None => self.desc.id.clone(),
        };
        self.log.job_header(&format!("Run job {name}"));
        if let Err(e) = self.prepare(timed_out) {
            self.error(&e.to_string(), None);
            return (Vec::new(), name, false);
        }
        let mut results = Vec::new();
        let id = self.new_scope_id();
        let mut scope = Scope::job(self.desc.workflow_file.clone(), id);
        let steps = self.desc.steps.clone();
        results.extend(self.run_pre_steps(&steps, &scope).await);
        results.extend(self.run_steps(&steps, &mut scope).await);
        results.extend(self.run_post_steps(&mut scope).await);
        let env = self.env.clone();
        self.enter(&scope, &env);
        (results, name, true)
    }

    /// Evaluates the job's env, defaults and timeout; writes the event payload.
    fn prepare(&mut self, timed_out: &Arc<AtomicBool>) -> Result<(), PrepareError> {
        let mut env = IndexMap::new();
        if let Some(wenv) = self.desc.workflow_env.clone() {
            env.extend(self.eval(JobStatus::Success).env(&wenv)?);
        }
        if let Some(jenv) = self.desc.env.clone() {
            env.extend(self.eval(JobStatus::Success).env(&jenv)?);
        }
        self.env = env;
        self.contexts.set("env", string_map(&self.env));
        self.determinism = self.run_environment.for_job(&self.env);
        if let Some(why) = self.determinism.refusal() {
            return Err(PrepareError::Io(why));
        }
        self.allow = Allowances {
            unsecure_commands: self.flag(ALLOW_UNSECURE_COMMANDS_ENV),
            unsecure_stop_tokens: self.flag(ALLOW_UNSECURE_STOP_TOKENS_ENV),
        };
        for defaults in self.desc.defaults.clone() {
            let Some(run) = &defaults.run else { continue };
            let ev = self.eval(JobStatus::Success);
            let run = match run.as_literal() {
                Some(r) => r.clone(),
                None => continue,
            };
            let shell = run.shell.as_ref().map(|s| ev.string(s)).transpose()?;
            let workdir = run
                .working_directory
                .as_ref()
                .map(|w| ev.string(w))
                .transpose()?;
            if shell.is_some() {
                self.default_shell = shell;
            }
            if workdir.is_some() {
                self.default_workdir = workdir;
            }
        }
        let minutes = match self.desc.timeout_minutes.clone() {
            Some(t) => self.eval(JobStatus::Success).number(&t)?,
            None => DEFAULT_JOB_TIMEOUT_MINUTES,
        };
        if minutes.is_finite() && minutes > 0.0 {
            let token = self.job_cancel.clone();
            let flag = Arc::clone(timed_out);
            let limit = Duration::from_secs_f64((minutes * 60.0).min(1e9));
            self.timer = Some(tokio::spawn(async move {
                tokio::select! {
                    () = tokio::time::sleep(limit) => {
                        flag.store(true, Ordering::SeqCst);
                        token.cancel();
                    }
                    () = token.cancelled() => {}
                }
            }));
        }
        self.timeout_minutes = minutes;
        let event = self
            .contexts
            .get("github")
            .and_then(|g| g.get("event"))
            .map(|e| e.to_json())
            .unwrap_or_else(|| json!({}));
        let path = event_path(&self.dirs);
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                self.owner.create_dir(dir)?;
            }
            let text = serde_json::to_vec_pretty(&event).unwrap_or_default();
            self.owner.create_file(&path, &text)
        };
        write().map_err(|e| PrepareError::Io(format!("cannot write the event payload: {e}")))?;
        Ok(())
    }

    fn flag(&self, name: &str) -> bool {
        self.env
            .get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    fn continue_on_error(&self) -> bool {
        match &self.desc.continue_on_error {
            Some(c) => self.eval(JobStatus::Success).boolean(c).unwrap_or(false),
            None => false,
        }
    }

    /// The job's `outputs`, evaluated after its steps; an output that holds a secret is skipped,
    /// as GitHub does.
    fn job_outputs(&mut self) -> IndexMap<String, String> {
        let outputs = self.desc.outputs.clone();
        let mut values = IndexMap::new();
        self.contexts.set("env", string_map(&self.env));
        for (name, value) in &outputs {
            let evaluated = self.eval(self.status_now(false)).string(value);
            match evaluated {
                Ok(v) if self.masker.reveals(&v) => {
                    self.warning(&format!(
                        "Skip output '{name}' since it may contain secret."
                    ));
                }
                Ok(v) => {
                    let found = self.scan_value(&format!("job output `{name}`"), &v, None);
                    if found && self.secret_scan.policy() == ScanPolicy::Fail {
                        self.warning(&format!(
                            "Skip output '{name}' since the secret scan found a secret in it."
                        ));
                    } else {
                        values.insert(name.clone(), v);
                    }
                }
                Err(e) => self.error(&e.to_string(), None),
            }
        }
        values
    }

    /// Scans a value the job hands out (`place` names it); each finding becomes an annotation
    /// (an error under `--secret-scan fail`, else a warning) of `step`, and each value found is
    /// masked from then on, in every log and record. True when any was found.
    pub(super) fn scan_value(&mut self, place: &str, text: &str, step: Option<&str>) -> bool {
        let policy = self.secret_scan.policy();
        let mut messages = Vec::new();
        for f in self.secret_scan.scan(place, text) {
            let start = usize::try_from(f.offset).unwrap_or(usize::MAX);
            let end = start.saturating_add(usize::try_from(f.length).unwrap_or(0));
            if let Some(value) = text.get(start..end) {
                self.masker.add_mask(value);
            }
            messages.push(describe(f, policy));
        }
        for message in &messages {
            match policy {
                ScanPolicy::Fail => self.annotate(Level::Error, "error", message, step),
                ScanPolicy::Report => self.annotate(Level::Warning, "warning", message, step),
            }
        }
        !messages.is_empty()
    }

    /// Records what the sweeps of a step's processes found: each finding becomes an annotation
    /// of the step (an error under `--secret-scan fail`, else a warning) and goes to
    /// `secret-scan.json`; a reason the sweeps were partial is logged.
    pub(super) fn record_sweep(&mut self, step: &str, report: SweepReport) {
        let policy = self.secret_scan.policy();
        if let Some(note) = &report.note {
            self.log
                .info(&format!("secret sweep of step {step}: {note}"));
        }
        let messages: Vec<String> = self
            .secret_scan
            .add_sweeps(step, report)
            .iter()
            .map(|f| describe_sweep(&f.finding, policy))
            .collect();
        for message in &messages {
            match policy {
                ScanPolicy::Fail => self.annotate(Level::Error, "error", message, Some(step)),
                ScanPolicy::Report => self.annotate(Level::Warning, "warning", message, Some(step)),
            }
        }
    }

    /// Scans `$HRUN_ARTIFACTS` (the sandbox has ended) and records what it finds, as
    /// [`scan_value`](Self::scan_value) does; returns the artifacts to withhold (those with a
    /// finding, under `--secret-scan fail`).
    async fn scan_artifacts(&mut self) -> BTreeSet<String> {
        let dir = self.dirs.artifacts.clone();
        let scanner = self.secret_scan.scanner();
        let known = Arc::clone(&self.known);
        let scanned =
            tokio::task::spawn_blocking(move || scan_artifacts(&dir, &scanner, &known)).await;
        let found = match scanned {
            Ok(found) => found,
            Err(e) => {
                self.error(
                    &format!("The artifacts could not be scanned for secrets: {e}"),
                    None,
                );
                return BTreeSet::new();
            }
        };
        let policy = self.secret_scan.policy();
        for error in &found.errors {
            self.warning(&format!(
                "Secret scan: artifact {error}; it was not scanned."
            ));
        }
        let messages: Vec<String> = found.findings.iter().map(|f| describe(f, policy)).collect();
        for message in &messages {
            match policy {
                ScanPolicy::Fail => self.annotate(Level::Error, "error", message, None),
                ScanPolicy::Report => self.annotate(Level::Warning, "warning", message, None),
            }
        }
        let withheld = match policy {
            ScanPolicy::Fail => found.with_findings.clone(),
            ScanPolicy::Report => BTreeSet::new(),
        };
        for name in &withheld {
            self.error(
                &format!("Artifact `{name}` is withheld: it holds a secret, so it is kept out of the job's artifacts and provenance (--secret-scan fail)."),
                None,
            );
        }
        let record = self.secret_scan.artifacts_mut();
        record.scanned = found.files;
        record.bytes = found.bytes;
        record.errors = found.errors;
        record.withheld = withheld.iter().cloned().collect();
        self.secret_scan.add_artifact_findings(found.findings);
        withheld
    }

    /// The job's status for conditions: cancelled, failed so far, or success.
    pub(super) fn status_now(&self, failed: bool) -> JobStatus {
        if self.job_cancel.is_cancelled() {
            JobStatus::Cancelled
        } else if failed {
            JobStatus::Failure
        } else {
            JobStatus::Success
        }
    }

    /// An evaluator over the job's contexts.
    pub(super) fn eval(&self, status: JobStatus) -> super::contexts::Evaluator<'_> {
        self.contexts.eval(
            status,
            Some(self.dirs.workspace.as_path()),
            &self.desc.workflow_file,
        )
    }

    /// Records and logs an error annotation of the runner.
    pub(super) fn error(&mut self, message: &str, step: Option<&str>) {
        self.annotate(Level::Error, "error", message, step);
    }

    /// Records and logs a warning annotation of the runner.
    pub(super) fn warning(&mut self, message: &str) {
        self.annotate(Level::Warning, "warning", message, None);
    }

    fn annotate(&mut self, level: Level, name: &'static str, message: &str, step: Option<&str>) {
        self.log.annotation(level, message, None);
        self.annotations.push(AnnotationRecord {
            level: name,
            message: self.masker.mask(message),
            title: None,
            file: None,
            line: None,
            end_line: None,
            col: None,
            end_column: None,
            step: step.map(str::to_owned),
        });
    }

    /// The job's cancellation for a step that starts now: the job's own while it is not
    /// cancelled, else the run's second Ctrl-C (a step that runs after a cancellation, such as
    /// an `always()` step, can still be stopped).
    pub(super) fn step_cancel(&self) -> CancellationToken {
        if self.job_cancel.is_cancelled() {
            self.run_cancel.second.clone()
        } else {
            self.job_cancel.clone()
        }
    }
}

/// Why a job could not be prepared.
#[derive(Debug, thiserror::Error)]
pub(super) enum PrepareError {
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error("{0}")]
    Io(String),
}
