//! The one internal description of a job that the engine runs.
//!
//! A job of a local workflow file ([`JobDescription::from_workflow_job`]) and a job
//! message from GitHub (`crate::github::message`) both become a [`JobDescription`]: the job's steps and the values it
//! computes when it starts (name, env, defaults, outputs, timeout), still as written
//! ([`Templated`]), and the contexts it is given from outside (`github`, `needs`, `matrix`,
//! `strategy`, `inputs`, `vars`, `secrets`). Nothing here refers to a file on disk or to how the
//! job was scheduled.

use indexmap::IndexMap;
use serde_json::Value as Json;
use zeroize::Zeroizing;

use actions_compat::expr::Value;
use actions_compat::workflow::{Defaults, Env, Job, RunnerJob, Step, Templated, Workflow};

/// One secret's value: zeroed in memory when dropped, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Zeroizing<String>);

impl SecretValue {
    /// Takes the string over (no copy is left behind).
    pub fn new(value: String) -> SecretValue {
        SecretValue(Zeroizing::new(value))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretValue(<{} bytes>)", self.0.len())
    }
}

/// The secrets a job may read (`secrets` context), held in zeroizing memory. `Debug` shows only
/// the names.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(IndexMap<String, SecretValue>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl Secrets {
    /// Adds (or replaces) a secret, taking the value's string over.
    pub fn insert(&mut self, name: String, value: String) {
        self.0.insert(name, SecretValue::new(value));
    }

    /// The secret of that name, ignoring case as GitHub's `secrets` context does.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.expose())
    }

    /// Each name and value, in the order given (for the secret sweeps and scans).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.expose()))
    }

    /// Every value, for the masker.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.0.values().map(SecretValue::expose)
    }

    /// The `secrets` context. Its strings are copies the expression engine owns, which are not
    /// zeroed: they live as long as the job's contexts.
    pub fn to_context(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.expose().to_owned())))
                .collect(),
        )
    }
}

/// What a job is given from outside: the contexts that do not change while it runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GivenContexts {
    /// `github`, without the per-job and per-step fields (`job`, `action`, ...).
    pub github: Json,
    /// `inputs`: of `workflow_dispatch`, or of the called workflow.
    pub inputs: Json,
    pub vars: Json,
    /// `needs`: each needed job's `result` and `outputs`.
    pub needs: Json,
    /// `matrix`: `null` outside a matrix.
    pub matrix: Json,
    /// `strategy`.
    pub strategy: Json,
    pub secrets: Secrets,
}

/// A job ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct JobDescription {
    /// Unique in the run: the job's id, or `caller/id` for a job of a called workflow. Names the
    /// job's directory under the output directory.
    pub key: String,
    /// The job's id in its workflow (`github.job`).
    pub id: String,
    /// The workflow file the job is written in, as diagnostics name it.
    pub workflow_file: String,
    /// `name:`; the id when there is none.
    pub name: Option<Templated<String>>,
    pub steps: Vec<Step>,
    /// The workflow's `env`, evaluated first.
    pub workflow_env: Option<Templated<Env>>,
    /// The job's `env`, evaluated over the workflow's.
    pub env: Option<Templated<Env>>,
    /// The workflow's `defaults`, then the job's (the job's win).
    pub defaults: Vec<Defaults>,
    /// `outputs:`, evaluated after the steps.
    pub outputs: Env,
    pub timeout_minutes: Option<Templated<f64>>,
    /// `cancel-timeout-minutes`: how long the job may take to end once cancelled or timed out
    /// (bounds its microVM's life with `timeout_minutes`).
    pub cancel_timeout_minutes: Option<Templated<f64>>,
    pub continue_on_error: Option<Templated<bool>>,
    pub given: GivenContexts,
}

impl JobDescription {
    /// The description of a job of a workflow file that runs steps.
    pub fn from_workflow_job(
        key: String,
        workflow: &Workflow,
        job: &Job,
        runner: &RunnerJob,
        given: GivenContexts,
    ) -> JobDescription {
        JobDescription {
            key,
            id: job.id.value.clone(),
            workflow_file: workflow.file.clone(),
            name: job.name.clone(),
            steps: runner.steps.clone(),
            workflow_env: workflow.env.clone(),
            env: runner.env.clone(),
            defaults: workflow
                .defaults
                .iter()
                .chain(runner.defaults.iter())
                .cloned()
                .collect(),
            outputs: runner.outputs.clone(),
            timeout_minutes: runner.timeout_minutes.clone(),
            cancel_timeout_minutes: runner.cancel_timeout_minutes.clone(),
            continue_on_error: runner.continue_on_error.clone(),
            given,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actions_compat::workflow::JobKind;

    #[test]
    fn a_workflow_job_keeps_workflow_then_job_defaults() {
        let src = "on: push\ndefaults:\n  run:\n    shell: sh\njobs:\n  a:\n    runs-on: x\n    defaults:\n      run:\n        working-directory: sub\n    outputs:\n      o: ${{ steps.s.outputs.v }}\n    steps:\n      - run: echo hi\n";
        let wf = actions_compat::workflow::parse(src, "ci.yml").unwrap();
        let job = &wf.jobs[0];
        let JobKind::Runner(runner) = &job.kind else {
            panic!("runner job expected")
        };
        let d = JobDescription::from_workflow_job(
            "a".into(),
            &wf,
            job,
            runner,
            GivenContexts::default(),
        );
        assert_eq!(d.defaults.len(), 2);
        assert_eq!(d.outputs.len(), 1);
        assert_eq!(d.steps.len(), 1);
        assert_eq!(d.workflow_file, "ci.yml");
    }

    #[test]
    fn secrets_debug_shows_names_only() {
        let mut s = Secrets::default();
        s.insert("TOKEN".to_owned(), "hunter2".to_owned());
        assert_eq!(format!("{s:?}"), "[\"TOKEN\"]");
        assert_eq!(s.get("token"), Some("hunter2"));
        assert_eq!(format!("{:?}", s.0["TOKEN"]), "SecretValue(<7 bytes>)");
    }
}
