//! The order of a run's jobs: `needs` first, independent jobs in parallel (at most `--jobs N`
//! runner jobs at once; a job calling a reusable workflow holds no slot while its jobs run), and
//! each job's `if` evaluated with GitHub's job-level status before it starts.
//!
//! A failed dependency, direct or through skipped jobs, makes `failure()` hold for a job; a
//! dependency that was only skipped makes neither `success()` nor `failure()` hold; after a
//! Ctrl-C `cancelled()` holds. A job whose `if` does not hold is skipped (cancelled after a
//! Ctrl-C).

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::{json, Value as Json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use actions_compat::expr::JobStatus;
use actions_compat::workflow::{Job, JobKind, Workflow};
use hermetic::{select_executor, HostIdentity, SandboxChoice, SandboxConfig};

use super::call::run_call;
use super::contexts::{single_job_strategy, Contexts};
use super::execute::{run_job, JobSetup, RunCancel};
use super::job::{GivenContexts, JobDescription, Secrets};
use super::output::LiveLog;
use super::plan::Plan;
use super::result::{Conclusion, JobSummary};
use super::run::{hermetic_hostname, RunOptions};
use super::workspace::{prepare_job, Owner};
use super::SharedMasker;

/// The run's shared state, read by every job.
pub(super) struct Shared {
    pub(super) options: RunOptions,
    pub(super) plan: Plan,
    pub(super) masker: SharedMasker,
    pub(super) live: Arc<LiveLog>,
    pub(super) cancel: RunCancel,
    pub(super) permits: Arc<Semaphore>,
    pub(super) out_dir: PathBuf,
    pub(super) work_root: PathBuf,
    pub(super) github: Json,
    pub(super) sandbox: SandboxChoice,
    pub(super) owner: Owner,
    pub(super) identity: Option<HostIdentity>,
    pub(super) base_path: String,
    pub(super) slots: AtomicU64,
    pub(super) exclude: Vec<PathBuf>,
}

/// A job's end as its dependants and callers see it.
#[derive(Debug, Clone)]
pub(super) struct Finished {
    pub(super) conclusion: Conclusion,
    pub(super) outputs: IndexMap<String, String>,
    /// Every job result this produced (one, or the called workflow's), by key.
    pub(super) summaries: Vec<(String, JobSummary)>,
}

pub(super) type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What a workflow run at one level is given: its `inputs`, `secrets` and the key prefix of its
/// jobs.
#[derive(Debug, Clone)]
pub(super) struct Call {
    pub(super) inputs: Json,
    pub(super) secrets: Secrets,
    pub(super) prefix: String,
}

/// Runs the `selected` jobs of `workflow` in `needs` order; their ends by id.
pub(super) fn run_workflow(
    shared: Arc<Shared>,
    workflow: Arc<Workflow>,
    selected: Vec<String>,
    call: Call,
) -> Boxed<IndexMap<String, Finished>> {
    Box::pin(async move {
        let mut done: IndexMap<String, Finished> = IndexMap::new();
        let mut pending: Vec<Job> = workflow
            .jobs
            .iter()
            .filter(|j| selected.contains(&j.id.value))
            .cloned()
            .collect();
        let mut running: JoinSet<(String, Finished)> = JoinSet::new();
        loop {
            let mut started_any = true;
            while started_any {
                started_any = false;
                let mut i = 0;
                while i < pending.len() {
                    let ready = pending
                        .get(i)
                        .is_some_and(|j| j.needs.iter().all(|n| done.contains_key(&n.value)));
                    if !ready {
                        i += 1;
                        continue;
                    }
                    let job = pending.remove(i);
                    started_any = true;
                    match decide(&shared, &workflow, &job, &call, &done) {
                        Decision::Run(needs) => {
                            let shared = Arc::clone(&shared);
                            let workflow = Arc::clone(&workflow);
                            let call = call.clone();
                            running.spawn(async move {
                                let id = job.id.value.clone();
                                let f = start_job(shared, workflow, job, call, needs).await;
                                (id, f)
                            });
                        }
                        Decision::Done(f) => {
                            done.insert(job.id.value.clone(), f);
                        }
                    }
                }
            }
            match running.join_next().await {
                Some(Ok((id, f))) => {
                    done.insert(id, f);
                }
                Some(Err(e)) => {
                    shared
                        .live
                        .note(&format!("hrun: a job's task ended abnormally: {e}"));
                }
                None => break,
            }
        }
        // Jobs whose needs never finished (a task ended abnormally) did not run.
        for job in pending {
            done.insert(
                job.id.value.clone(),
                Finished {
                    conclusion: Conclusion::Skipped,
                    outputs: IndexMap::new(),
                    summaries: Vec::new(),
                },
            );
        }
        done
    })
}

enum Decision {
    /// Start it, with this `needs` context.
    Run(Json),
    /// It does not run.
    Done(Finished),
}

/// Evaluates a job's `if` against its needs.
fn decide(
    shared: &Shared,
    workflow: &Workflow,
    job: &Job,
    call: &Call,
    done: &IndexMap<String, Finished>,
) -> Decision {
    let key = format!("{}{}", call.prefix, job.id.value);
    let mut needs = serde_json::Map::new();
    for n in &job.needs {
        if let Some(f) = done.get(&n.value) {
            needs.insert(
                n.value.clone(),
                json!({"result": f.conclusion.as_str(), "outputs": f.outputs}),
            );
        }
    }
    let status = job_status(shared.cancel.first.is_cancelled(), workflow, job, done);
    let mut contexts = Contexts::default();
    contexts.set_json("github", shared.github.clone());
    contexts.set_json("needs", Json::Object(needs.clone()));
    contexts.set_json("vars", json!(shared.options.vars));
    contexts.set_json("inputs", call.inputs.clone());
    let holds = contexts
        .eval(status, None, &workflow.file)
        .condition(&job.condition);
    let not_run = |conclusion: Conclusion| {
        let summary = JobSummary {
            conclusion,
            outputs: IndexMap::new(),
            result: String::new(),
        };
        Decision::Done(Finished {
            conclusion,
            outputs: IndexMap::new(),
            summaries: vec![(key.clone(), summary)],
        })
    };
    match holds {
        Ok(true) => Decision::Run(Json::Object(needs)),
        Ok(false) => {
            let conclusion = if status == JobStatus::Cancelled {
                Conclusion::Cancelled
            } else {
                Conclusion::Skipped
            };
            shared.live.note(&format!(
                "[{key}] ○ job {} ({})",
                job.id.value,
                conclusion.as_str()
            ));
            not_run(conclusion)
        }
        Err(e) => {
            shared.live.note(&format!("[{key}] ✗ {e}"));
            not_run(Conclusion::Failure)
        }
    }
}

/// The status a job's `if` sees: cancelled, a dependency (direct or not) failed, a direct
/// dependency did not succeed, or all succeeded.
fn job_status(
    cancelled: bool,
    workflow: &Workflow,
    job: &Job,
    done: &IndexMap<String, Finished>,
) -> JobStatus {
    if cancelled {
        return JobStatus::Cancelled;
    }
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = job.needs.iter().map(|n| n.value.clone()).collect();
    let mut failed = false;
    while let Some(id) = todo.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        if done
            .get(&id)
            .is_some_and(|f| f.conclusion == Conclusion::Failure)
        {
            failed = true;
        }
        if let Some(j) = workflow.jobs.iter().find(|j| j.id.value == id) {
            todo.extend(j.needs.iter().map(|n| n.value.clone()));
        }
    }
    let all_succeeded = job.needs.iter().all(|n| {
        done.get(&n.value)
            .is_some_and(|f| f.conclusion == Conclusion::Success)
    });
    if failed {
        JobStatus::Failure
    } else if all_succeeded {
        JobStatus::Success
    } else {
        JobStatus::NeedsSkipped
    }
}

async fn start_job(
    shared: Arc<Shared>,
    workflow: Arc<Workflow>,
    job: Job,
    call: Call,
    needs: Json,
) -> Finished {
    let key = format!("{}{}", call.prefix, job.id.value);
    match &job.kind {
        JobKind::Runner(runner) => {
            let Ok(_permit) = Arc::clone(&shared.permits).acquire_owned().await else {
                return failed(&key);
            };
            let given = GivenContexts {
                github: shared.github.clone(),
                inputs: call.inputs.clone(),
                vars: json!(shared.options.vars),
                needs,
                matrix: Json::Null,
                strategy: single_job_strategy(),
                secrets: call.secrets.clone(),
            };
            let desc =
                JobDescription::from_workflow_job(key.clone(), &workflow, &job, runner, given);
            run_runner_job(&shared, desc).await
        }
        JobKind::Reusable(reusable) => {
            run_call(&shared, &workflow, key, reusable, &call, needs).await
        }
    }
}

pub(super) fn failed(key: &str) -> Finished {
    Finished {
        conclusion: Conclusion::Failure,
        outputs: IndexMap::new(),
        summaries: vec![(
            key.to_owned(),
            JobSummary {
                conclusion: Conclusion::Failure,
                outputs: IndexMap::new(),
                result: String::new(),
            },
        )],
    }
}

/// Prepares a job's directories and executor, runs it, and reports its end.
async fn run_runner_job(shared: &Shared, desc: JobDescription) -> Finished {
    let key = desc.key.clone();
    let out_rel = format!("jobs/{key}");
    let out_dir = shared.out_dir.join(&out_rel);
    let slot = shared.slots.fetch_add(1, Ordering::SeqCst).to_string();
    let dirs = match prepare_job(
        &shared.work_root,
        &slot,
        &shared.plan.repo_root,
        &shared.exclude,
        shared.owner,
    ) {
        Ok(d) => d,
        Err(e) => {
            shared.live.note(&format!(
                "[{key}] ✗ cannot prepare the job's directories: {e}"
            ));
            return failed(&key);
        }
    };
    let config = SandboxConfig {
        writable: dirs.writable(),
        read_only: Vec::new(),
        tmp_dir: Some(dirs.tmp.clone()),
        network: shared.options.network,
        hostname: hermetic_hostname(),
        identity: shared.identity,
    };
    let executor = match select_executor(shared.sandbox, config) {
        Ok(s) => s.executor,
        Err(e) => {
            shared
                .live
                .note(&format!("[{key}] ✗ cannot start the sandbox: {e}"));
            let _ = std::fs::remove_dir_all(&dirs.root);
            return failed(&key);
        }
    };
    let setup = JobSetup {
        desc,
        executor,
        dirs,
        owner: shared.owner,
        masker: shared.masker.clone(),
        live: Arc::clone(&shared.live),
        out_dir,
        out_rel: out_rel.clone(),
        cancel: shared.cancel.clone(),
        debug: shared.options.debug,
        base_path: shared.base_path.clone(),
        runner_name: "hrun".to_owned(),
        cancel_grace: shared.options.cancel_grace,
    };
    let ended = run_job(setup).await;
    let summary = JobSummary {
        conclusion: ended.result.conclusion,
        outputs: ended.result.outputs.clone(),
        result: format!("{out_rel}/result.json"),
    };
    Finished {
        conclusion: ended.conclusion,
        outputs: ended.outputs,
        summaries: vec![(key, summary)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(conclusion: Conclusion) -> Finished {
        Finished {
            conclusion,
            outputs: IndexMap::new(),
            summaries: Vec::new(),
        }
    }

    #[test]
    fn job_status_sees_failures_through_skipped_jobs() {
        let wf = actions_compat::workflow::parse(
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{run: 'true'}]\n  b:\n    needs: a\n    runs-on: x\n    steps: [{run: 'true'}]\n  c:\n    needs: b\n    runs-on: x\n    steps: [{run: 'true'}]\n",
            "ci.yml",
        )
        .unwrap();
        let c = &wf.jobs[2];
        let mut done = IndexMap::new();
        done.insert("a".to_owned(), finished(Conclusion::Failure));
        done.insert("b".to_owned(), finished(Conclusion::Skipped));
        assert_eq!(job_status(false, &wf, c, &done), JobStatus::Failure);
        done.insert("a".to_owned(), finished(Conclusion::Success));
        assert_eq!(job_status(false, &wf, c, &done), JobStatus::NeedsSkipped);
        done.insert("b".to_owned(), finished(Conclusion::Success));
        assert_eq!(job_status(false, &wf, c, &done), JobStatus::Success);
        assert_eq!(job_status(true, &wf, c, &done), JobStatus::Cancelled);
    }
}
