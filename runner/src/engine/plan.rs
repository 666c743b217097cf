//! Before anything runs: reading the workflow, the reusable workflows it calls and the local
//! actions its steps use, picking the jobs asked for, and refusing what cannot run.
//!
//! Refused here, so that no job starts only to fail later: docker actions (`docker://` and
//! `runs.using: docker`), remote actions missing from the action store (the message names the
//! `hrun actions pull` that fetches them), job containers and services, reusable workflows of
//! other repositories, and actions or called workflows that are missing or invalid.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use actions_compat::action::RunsKind;
use actions_compat::workflow::{
    self, check_reusable_call, Job, JobKind, Step, StepKind, UsesRef, Workflow,
};

use super::actions::{local_dir, resolve};
use crate::actions::ActionStore;

/// How deep reusable workflows may call each other (GitHub allows four levels).
pub const MAX_CALL_DEPTH: usize = 4;
/// How deep local composite actions are followed when checking them.
pub const MAX_ACTION_DEPTH: usize = 10;

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
    /// The called workflows by their `uses:` as written (`./.github/workflows/x.yml`).
    pub called: HashMap<String, Arc<Workflow>>,
    /// The store trees of the remote actions the jobs use (steps may read them).
    pub action_trees: Vec<PathBuf>,
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

/// Plans a run of `workflow_path` (all jobs, or `job` and the jobs it needs); remote actions
/// are looked up in `store` (never fetched).
pub fn plan(
    repo_root: &Path,
    workflow_path: &Path,
    job: Option<&str>,
    store: &ActionStore,
) -> Result<Plan, PlanError> {
    let workflow = read_workflow(repo_root, workflow_path)?;
    let selected = select(&workflow, job)?;
    let mut planner = Planner {
        repo_root,
        store,
        called: HashMap::new(),
        stack: vec![workflow.file.clone()],
        trees: BTreeSet::new(),
    };
    planner.check_jobs(&workflow, &selected)?;
    Ok(Plan {
        repo_root: repo_root.to_path_buf(),
        workflow: Arc::new(workflow),
        called: planner.called,
        selected,
        action_trees: planner.trees.into_iter().collect(),
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

/// What planning has found so far.
struct Planner<'a> {
    repo_root: &'a Path,
    store: &'a ActionStore,
    called: HashMap<String, Arc<Workflow>>,
    /// The workflow files being checked, outermost first (to refuse a call cycle).
    stack: Vec<String>,
    /// The store trees of the remote actions used.
    trees: BTreeSet<PathBuf>,
}

impl Planner<'_> {
    fn check_jobs(&mut self, workflow: &Workflow, selected: &[String]) -> Result<(), PlanError> {
        for job in workflow
            .jobs
            .iter()
            .filter(|j| selected.contains(&j.id.value))
        {
            self.check_job(workflow, job)?;
        }
        Ok(())
    }

    fn check_job(&mut self, workflow: &Workflow, job: &Job) -> Result<(), PlanError> {
        let id = job.id.value.clone();
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
                self.check_steps(&id, &runner.steps, None, 0)
            }
            JobKind::Reusable(call) => {
                let path = match &call.workflow {
                    UsesRef::Local(path) | UsesRef::SameRepository(path) => path.clone(),
                    _ => {
                        return Err(PlanError::Unsupported {
                            job: id,
                            what: format!(
                                "reusable workflows from other repositories (`{}`) are",
                                call.uses.value
                            ),
                        })
                    }
                };
                if self.stack.len() > MAX_CALL_DEPTH {
                    return Err(PlanError::Call {
                        job: id,
                        message: format!(
                            "reusable workflows nest deeper than {MAX_CALL_DEPTH} levels"
                        ),
                    });
                }
                let file = local_dir(self.repo_root, &path).map_err(|e| PlanError::Call {
                    job: id.clone(),
                    message: e.to_string(),
                })?;
                let callee = read_workflow(self.repo_root, &file)?;
                if self.stack.contains(&callee.file) {
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
                self.stack.push(callee.file.clone());
                self.check_jobs(&callee, &all)?;
                self.stack.pop();
                self.called
                    .insert(call.uses.value.clone(), Arc::new(callee));
                Ok(())
            }
        }
    }

    /// Checks the actions `steps` use; `tree` is the remote action's tree they belong to, if any.
    fn check_steps(
        &mut self,
        job: &str,
        steps: &[Step],
        tree: Option<&Path>,
        depth: usize,
    ) -> Result<(), PlanError> {
        let fail = |step: &Step, message: String| PlanError::Step {
            job: job.to_owned(),
            step: step.id.value.clone(),
            message,
        };
        for step in steps {
            let background = match &step.kind {
                StepKind::Run { background, .. } | StepKind::Uses { background, .. } => *background,
                _ => true,
            };
            if background {
                return Err(fail(
                    step,
                    "background and parallel steps (`background:`, `wait:`, `wait-all:`, \
                     `cancel:`, `parallel:`) are not supported yet"
                        .to_owned(),
                ));
            }
            let StepKind::Uses { action, .. } = &step.kind else {
                continue;
            };
            let found =
                resolve(self.store, action, self.repo_root, tree).map_err(|e| fail(step, e))?;
            if let Some(t) = &found.tree {
                if matches!(action, UsesRef::Repository(_)) {
                    self.trees.insert(t.clone());
                }
            }
            match &found.action.runs.kind {
                RunsKind::Docker(_) => {
                    return Err(fail(
                        step,
                        format!("docker actions are not supported yet (`{}`)", found.file),
                    ))
                }
                RunsKind::Composite(c) if depth < MAX_ACTION_DEPTH => {
                    self.check_steps(job, &c.steps, found.tree.as_deref(), depth + 1)?
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
        Ok(())
    }
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

    fn store(dir: &tempfile::TempDir) -> ActionStore {
        ActionStore::new(dir.path().join(".cache"))
    }

    #[test]
    fn selects_a_job_with_everything_it_needs() {
        let dir = repo(&[(
            WF,
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{run: 'true'}]\n  b:\n    needs: a\n    runs-on: x\n    steps: [{run: 'true'}]\n  c:\n    needs: b\n    runs-on: x\n    steps: [{run: 'true'}]\n  d:\n    runs-on: x\n    steps: [{run: 'true'}]\n",
        )]);
        let p = plan(dir.path(), &dir.path().join(WF), Some("c"), &store(&dir)).unwrap();
        assert_eq!(p.selected, ["a", "b", "c"]);
        let all = plan(dir.path(), &dir.path().join(WF), None, &store(&dir)).unwrap();
        assert_eq!(all.selected.len(), 4);
        assert!(matches!(
            plan(dir.path(), &dir.path().join(WF), Some("zz"), &store(&dir)),
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
        let err = plan(dir.path(), &dir.path().join(WF), None, &store(&dir)).unwrap_err();
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
        let err = plan(dir.path(), &dir.path().join(WF), None, &store(&dir)).unwrap_err();
        assert!(err.to_string().contains("docker actions"), "{err}");
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
        let p = plan(dir.path(), &dir.path().join(WF), None, &store(&dir)).unwrap();
        assert!(p.called.contains_key("./.github/workflows/r.yml"));
    }

    #[test]
    fn refuses_remote_actions_missing_from_the_store_naming_the_pull() {
        let dir = repo(&[(
            WF,
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683\n",
        )]);
        let err = plan(dir.path(), &dir.path().join(WF), None, &store(&dir)).unwrap_err();
        assert!(
            err.to_string()
                .contains("hrun actions pull actions/checkout@"),
            "{err}"
        );
    }
}
