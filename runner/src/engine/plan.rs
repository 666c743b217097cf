//! Before anything runs: reading the workflow, the reusable workflows it calls and the local
//! actions its steps use, picking the jobs asked for, and refusing what cannot run.
//!
//! Refused here, so that no job starts only to fail later: docker actions (`docker://` and
//! `runs.using: docker`), remote actions (`owner/repo@ref`: the action store is not wired in
//! yet), job containers and services, matrices (`strategy.matrix`: not wired in yet), remote
//! reusable workflows, and local actions or called workflows that are missing or invalid.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use actions_compat::action::RunsKind;
use actions_compat::workflow::{
    self, check_reusable_call, Job, JobKind, Step, StepKind, UsesRef, Workflow,
};

use super::actions::load_local;

/// How deep reusable workflows may call each other (GitHub allows four levels).
pub const MAX_CALL_DEPTH: usize = 4;
/// How deep local composite actions are followed when checking them.
const MAX_ACTION_DEPTH: usize = 10;

/// What cannot run, found before anything runs.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The workflow (or a called one) has errors; each rendered with its line and caret.
    #[error("{0}")]
    Invalid(String),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file} has no job `{job}` (jobs: {known})")]
    UnknownJob {
        file: String,
        job: String,
        known: String,
    },
    #[error("job `{job}`: {what} not supported yet")]
    Unsupported { job: String, what: String },
    #[error("job `{job}`: a matrix (`strategy.matrix`) is not supported yet")]
    Matrix { job: String },
    #[error("job `{job}`, step `{step}`: {message}")]
    Step {
        job: String,
        step: String,
        message: String,
    },
    #[error("job `{job}`: {message}")]
    Call { job: String, message: String },
}

/// A workflow ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub repo_root: PathBuf,
    pub workflow: Arc<Workflow>,
    /// The called workflows by their `uses:` (`./.github/workflows/x.yml`).
    pub called: HashMap<String, Arc<Workflow>>,
    /// The ids of the top workflow's jobs to run, in the file's order.
    pub selected: Vec<String>,
}

/// Reads a workflow file, as diagnostics name it: relative to the repository root.
pub fn read_workflow(repo_root: &Path, path: &Path) -> Result<Workflow, PlanError> {
    let source = std::fs::read_to_string(path).map_err(|source| PlanError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path
        .strip_prefix(repo_root)
        .unwrap_or(path)
        .display()
        .to_string();
    workflow::parse(&source, &name).map_err(|errors| {
        let rendered: Vec<String> = errors.iter().map(|d| d.render(Some(&source))).collect();
        PlanError::Invalid(rendered.join("\n"))
    })
}

/// Plans a run of `workflow_path` (all jobs, or `job` and the jobs it needs).
pub fn plan(repo_root: &Path, workflow_path: &Path, job: Option<&str>) -> Result<Plan, PlanError> {
    let workflow = read_workflow(repo_root, workflow_path)?;
    let selected = select(&workflow, job)?;
    let mut called = HashMap::new();
    let mut stack = vec![workflow.file.clone()];
    check_jobs(repo_root, &workflow, &selected, &mut called, &mut stack)?;
    Ok(Plan {
        repo_root: repo_root.to_path_buf(),
        workflow: Arc::new(workflow),
        called,
        selected,
    })
}

/// The jobs to run: all, or `job` with every job it needs (directly or not).
pub fn select(workflow: &Workflow, job: Option<&str>) -> Result<Vec<String>, PlanError> {
    let Some(wanted) = job else {
        return Ok(workflow.jobs.iter().map(|j| j.id.value.clone()).collect());
    };
    let find = |id: &str| workflow.jobs.iter().find(|j| j.id.value == id);
    if find(wanted).is_none() {
        return Err(PlanError::UnknownJob {
            file: workflow.file.clone(),
            job: wanted.to_owned(),
            known: workflow
                .jobs
                .iter()
                .map(|j| j.id.value.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let mut keep = BTreeSet::new();
    let mut todo = vec![wanted.to_owned()];
    while let Some(id) = todo.pop() {
        if !keep.insert(id.clone()) {
            continue;
        }
        if let Some(j) = find(&id) {
            todo.extend(j.needs.iter().map(|n| n.value.clone()));
        }
    }
    Ok(workflow
        .jobs
        .iter()
        .map(|j| j.id.value.clone())
        .filter(|id| keep.contains(id))
        .collect())
}

fn check_jobs(
    repo_root: &Path,
    workflow: &Workflow,
    selected: &[String],
    called: &mut HashMap<String, Arc<Workflow>>,
    stack: &mut Vec<String>,
) -> Result<(), PlanError> {
    for job in workflow
        .jobs
        .iter()
        .filter(|j| selected.contains(&j.id.value))
    {
        check_job(repo_root, workflow, job, called, stack)?;
    }
    Ok(())
}

fn check_job(
    repo_root: &Path,
    workflow: &Workflow,
    job: &Job,
    called: &mut HashMap<String, Arc<Workflow>>,
    stack: &mut Vec<String>,
) -> Result<(), PlanError> {
    let id = job.id.value.clone();
    // SEAM(matrix): replaced by `actions_compat::workflow::matrix::expand` once merged.
    if job
        .strategy
        .as_ref()
        .is_some_and(|s| s.as_literal().is_none_or(|s| s.matrix.is_some()))
    {
        return Err(PlanError::Matrix { job: id });
    }
    match &job.kind {
        JobKind::Runner(runner) => {
            if runner.container.is_some() {
                return Err(PlanError::Unsupported {
                    job: id,
                    what: "job containers (`container:`) are".to_owned(),
                });
            }
            if runner.services.is_some() {
                return Err(PlanError::Unsupported {
                    job: id,
                    what: "service containers (`services:`) are".to_owned(),
                });
            }
            check_steps(repo_root, &id, &runner.steps, 0)
        }
        JobKind::Reusable(call) => {
            let UsesRef::Local { path } = &call.workflow else {
                return Err(PlanError::Unsupported {
                    job: id,
                    what: format!(
                        "reusable workflows from other repositories (`{}`) are",
                        call.uses.value
                    ),
                });
            };
            if stack.len() > MAX_CALL_DEPTH {
                return Err(PlanError::Call {
                    job: id,
                    message: format!("reusable workflows nest deeper than {MAX_CALL_DEPTH} levels"),
                });
            }
            let file = super::actions::local_dir(repo_root, path).map_err(|e| PlanError::Call {
                job: id.clone(),
                message: e.to_string(),
            })?;
            let callee = read_workflow(repo_root, &file)?;
            if stack.contains(&callee.file) {
                return Err(PlanError::Call {
                    job: id,
                    message: format!("`{path}` calls itself"),
                });
            }
            let problems = check_reusable_call(workflow, job, &callee);
            if !problems.is_empty() {
                let rendered: Vec<String> = problems.iter().map(ToString::to_string).collect();
                return Err(PlanError::Invalid(rendered.join("\n")));
            }
            let all: Vec<String> = callee.jobs.iter().map(|j| j.id.value.clone()).collect();
            stack.push(callee.file.clone());
            check_jobs(repo_root, &callee, &all, called, stack)?;
            stack.pop();
            called.insert(path.clone(), Arc::new(callee));
            Ok(())
        }
    }
}

fn check_steps(repo_root: &Path, job: &str, steps: &[Step], depth: usize) -> Result<(), PlanError> {
    let fail = |step: &Step, message: String| PlanError::Step {
        job: job.to_owned(),
        step: step.id.value.clone(),
        message,
    };
    for step in steps {
        let StepKind::Uses { action, uses, .. } = &step.kind else {
            continue;
        };
        match action {
            UsesRef::Docker { .. } => {
                return Err(fail(
                    step,
                    format!("docker actions are not supported yet (`{}`)", uses.value),
                ))
            }
            // SEAM(actionstore): resolved by `ActionStore::resolve` once merged.
            UsesRef::Repository { .. } => {
                return Err(fail(
                    step,
                    format!(
                        "remote actions are not supported yet (`{}`): only local actions \
                         (`uses: ./path`) run until the action store is wired in",
                        uses.value
                    ),
                ))
            }
            UsesRef::Local { path } => {
                let action = load_local(repo_root, path).map_err(|e| fail(step, e.to_string()))?;
                match &action.action.runs.kind {
                    RunsKind::Docker(_) => {
                        return Err(fail(
                            step,
                            format!("docker actions are not supported yet (`{}`)", action.file),
                        ))
                    }
                    RunsKind::Composite(c) if depth < MAX_ACTION_DEPTH => {
                        check_steps(repo_root, job, &c.steps, depth + 1)?
                    }
                    RunsKind::Composite(_) => {
                        return Err(fail(
                            step,
                            format!("composite actions nest deeper than {MAX_ACTION_DEPTH}"),
                        ))
                    }
                    RunsKind::Node(_) => {}
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    const WF: &str = ".github/workflows/ci.yml";

    #[test]
    fn selects_a_job_with_everything_it_needs() {
        let dir = repo(&[(
            WF,
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{run: 'true'}]\n  b:\n    needs: a\n    runs-on: x\n    steps: [{run: 'true'}]\n  c:\n    needs: b\n    runs-on: x\n    steps: [{run: 'true'}]\n  d:\n    runs-on: x\n    steps: [{run: 'true'}]\n",
        )]);
        let p = plan(dir.path(), &dir.path().join(WF), Some("c")).unwrap();
        assert_eq!(p.selected, ["a", "b", "c"]);
        let all = plan(dir.path(), &dir.path().join(WF), None).unwrap();
        assert_eq!(all.selected.len(), 4);
        assert!(matches!(
            plan(dir.path(), &dir.path().join(WF), Some("zz")),
            Err(PlanError::UnknownJob { .. })
        ));
    }

    #[test]
    fn refuses_docker_actions_before_anything_runs() {
        let dir = repo(&[
            (
                WF,
                "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: ./act\n",
            ),
            (
                "act/action.yml",
                "name: d\ndescription: d\nruns:\n  using: docker\n  image: Dockerfile\n",
            ),
        ]);
        let err = plan(dir.path(), &dir.path().join(WF), None).unwrap_err();
        assert!(
            err.to_string()
                .contains("docker actions are not supported yet"),
            "{err}"
        );
    }

    #[test]
    fn refuses_docker_actions_nested_in_composites() {
        let dir = repo(&[
            (
                WF,
                "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: ./outer\n",
            ),
            (
                "outer/action.yml",
                "name: o\ndescription: o\nruns:\n  using: composite\n  steps:\n    - uses: docker://alpine\n",
            ),
        ]);
        let err = plan(dir.path(), &dir.path().join(WF), None).unwrap_err();
        assert!(err.to_string().contains("docker actions"), "{err}");
    }

    #[test]
    fn matrix_waits_for_its_merge() {
        let dir = repo(&[(
            WF,
            "on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n      matrix:\n        v: [1, 2]\n    steps: [{run: 'true'}]\n",
        )]);
        let err = plan(dir.path(), &dir.path().join(WF), None).unwrap_err();
        assert!(err.to_string().contains("matrix"), "{err}");
    }

    #[test]
    fn reads_called_workflows_and_checks_the_call() {
        let dir = repo(&[
            (
                WF,
                "on: push\njobs:\n  call:\n    uses: ./.github/workflows/r.yml\n    with:\n      who: x\n",
            ),
            (
                ".github/workflows/r.yml",
                "on:\n  workflow_call:\n    inputs:\n      who:\n        type: string\n        required: true\njobs:\n  inner:\n    runs-on: x\n    steps: [{run: 'true'}]\n",
            ),
        ]);
        let p = plan(dir.path(), &dir.path().join(WF), None).unwrap();
        assert!(p.called.contains_key("./.github/workflows/r.yml"));
    }

    #[test]
    fn refuses_remote_actions_until_the_store_is_wired() {
        let dir = repo(&[(
            WF,
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683\n",
        )]);
        let err = plan(dir.path(), &dir.path().join(WF), None).unwrap_err();
        assert!(err.to_string().contains("not supported yet"), "{err}");
    }
}
