//! The order of a run's jobs: `needs` first ([`JobGraph`]: ids compare ignoring case, ties in
//! file order), independent jobs in parallel (at most `--jobs N` runner jobs at once; a job
//! calling a reusable workflow holds no slot while its jobs run), and each job's `if` evaluated
//! with GitHub's job-level status before it starts. A job with a matrix runs as its
//! combinations ([`super::strategy`]).
//!
//! A failed dependency, direct or through skipped jobs, makes `failure()` hold for a job; a
//! dependency that was only skipped makes neither `success()` nor `failure()` hold; after a
//! Ctrl-C `cancelled()` holds. A job whose `if` does not hold is skipped (cancelled after a
//! Ctrl-C).

use std::collections::{BTreeSet, HashSet};
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
use actions_compat::workflow::graph::JobGraph;
use actions_compat::workflow::{Job, Workflow};
use hermetic::scan::Scanner;
use hermetic::{select_executor, HostIdentity, SandboxChoice, SandboxConfig};

use super::contexts::Contexts;
use super::execute::{run_job, JobSetup, RunCancel};
use super::job::{JobDescription, Secrets};
use super::output::LiveLog;
use super::plan::Plan;
use super::result::{Conclusion, JobSummary};
use super::run::RunOptions;
use super::secret_scan::JobScan;
use super::strategy::start_job;
use super::workspace::{prepare_job, Owner};
use super::SharedMasker;
use crate::actions::ActionStore;
use crate::evidence::RunEvidence;

/// The run's shared state, read by every job.
pub(super) struct Shared {
    pub(super) options: RunOptions,
    pub(super) plan: Plan,
    pub(super) store: Arc<ActionStore>,
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
    /// Signing key, audit log and run facts for each job's provenance and evidence.
    pub(super) evidence: Option<Arc<RunEvidence>>,
    /// What each job's VM is made from, when the run uses the microVM sandbox.
    pub(super) vm: Option<super::vm::VmPlan>,
    /// The secret scanner every job's outputs and summaries go through.
    pub(super) scanner: Arc<Scanner>,
    /// `SOURCE_DATE_EPOCH`, time zone, locale, hostname and clock of every step.
    pub(super) environment: Arc<super::determinism::RunEnvironment>,
}

/// A job's end as its dependants and callers see it.
#[derive(Debug, Clone)]
pub(super) struct Finished {
    pub(super) conclusion: Conclusion,
    pub(super) outputs: IndexMap<String, String>,
    /// Every job result this produced (one, a matrix's, or a called workflow's), by key.
    pub(super) summaries: Vec<(String, JobSummary)>,
}

impl Finished {
    /// A job that did not run (or could not start), shown under `key`.
    pub(super) fn not_run(key: &str, conclusion: Conclusion) -> Finished {
        Finished {
            conclusion,
            outputs: IndexMap::new(),
            summaries: vec![(
                key.to_owned(),
                JobSummary {
                    conclusion,
                    outputs: IndexMap::new(),
                    result: String::new(),
                },
            )],
        }
    }
}

pub(super) type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What a workflow run at one level is given: its `inputs` and `secrets`, and where its jobs'
/// keys and directories start (`call/`, `jobs/call/`).
#[derive(Debug, Clone)]
pub(super) struct Call {
    pub(super) inputs: Json,
    pub(super) secrets: Secrets,
    pub(super) prefix: String,
    pub(super) dir: String,
}

/// One job to run: a job, or one combination of its matrix.
#[derive(Debug, Clone)]
pub(super) struct Instance {
    /// The job's key in results and logs: `build`, `build (ubuntu, 3.11)`, `call/build`.
    pub(super) key: String,
    /// Its directory under the output directory: `jobs/build`, `jobs/build/1`.
    pub(super) dir: String,
    pub(super) matrix: Json,
    pub(super) strategy: Json,
    /// What cancels it: the run's Ctrl-C, or its matrix's fail-fast.
    pub(super) cancel: RunCancel,
}

/// Runs the `selected` jobs of `workflow` in `needs` order; their ends by id.
pub(super) fn run_workflow(
    shared: Arc<Shared>,
    workflow: Arc<Workflow>,
    selected: Vec<String>,
    call: Call,
) -> Boxed<IndexMap<String, Finished>> {
    Box::pin(async move {
        let graph = JobGraph::new(&workflow);
        let mut done: IndexMap<String, Finished> = IndexMap::new();
        // Jobs not selected count as finished: nothing selected needs them.
        let mut finished: HashSet<String> = graph
            .ids()
            .into_iter()
            .filter(|id| !selected.iter().any(|s| s == id))
            .map(str::to_owned)
            .collect();
        let mut started: HashSet<String> = HashSet::new();
        let mut running: JoinSet<(String, Finished)> = JoinSet::new();
        loop {
            loop {
                let ready: Vec<String> = graph
                    .ready(&finished)
                    .into_iter()
                    .filter(|id| !started.contains(*id))
                    .map(str::to_owned)
                    .collect();
                if ready.is_empty() {
                    break;
                }
                let mut settled = false;
                for id in ready {
                    started.insert(id.clone());
                    let Some(job) = workflow.jobs.iter().find(|j| j.id.value == id).cloned() else {
                        continue;
                    };
                    match decide(&shared, &workflow, &graph, &job, &call, &done) {
                        Decision::Run(needs) => {
                            let shared = Arc::clone(&shared);
                            let workflow = Arc::clone(&workflow);
                            let call = call.clone();
                            running.spawn(async move {
                                let f = start_job(shared, workflow, job, call, needs).await;
                                (id, f)
                            });
                        }
                        Decision::Done(f) => {
                            done.insert(id.clone(), f);
                            finished.insert(id);
                            settled = true;
                        }
                    }
                }
                if !settled {
                    break;
                }
            }
            match running.join_next().await {
                Some(Ok((id, f))) => {
                    done.insert(id.clone(), f);
                    finished.insert(id);
                }
                Some(Err(e)) => {
                    shared
                        .live
                        .note(&format!("hrun: a job's task ended abnormally: {e}"));
                }
                None => break,
            }
        }
        // Jobs that never became ready (a task ended abnormally) did not run.
        for id in &selected {
            if !done.contains_key(id) {
                let key = format!("{}{id}", call.prefix);
                done.insert(id.clone(), Finished::not_run(&key, Conclusion::Skipped));
            }
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
    graph: &JobGraph,
    job: &Job,
    call: &Call,
    done: &IndexMap<String, Finished>,
) -> Decision {
    let key = format!("{}{}", call.prefix, job.id.value);
    let mut needs = serde_json::Map::new();
    for n in graph.needs(&job.id.value).unwrap_or_default() {
        if let Some(f) = done.get(n) {
            needs.insert(
                n.to_owned(),
                json!({"result": f.conclusion.as_str(), "outputs": f.outputs}),
            );
        }
    }
    let status = job_status(
        shared.cancel.first.is_cancelled(),
        graph,
        &job.id.value,
        done,
    );
    let mut contexts = Contexts::default();
    contexts.set_json("github", shared.github.clone());
    contexts.set_json("needs", Json::Object(needs.clone()));
    contexts.set_json("vars", json!(shared.options.vars));
    contexts.set_json("inputs", call.inputs.clone());
    let holds = contexts
        .eval(status, None, &workflow.file)
        .condition(&job.condition);
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
            Decision::Done(Finished::not_run(&key, conclusion))
        }
        Err(e) => {
            shared.live.note(&format!("[{key}] ✗ {e}"));
            Decision::Done(Finished::not_run(&key, Conclusion::Failure))
        }
    }
}

/// The status a job's `if` sees: cancelled, a dependency (direct or not) failed, a direct
/// dependency did not succeed, or all succeeded.
fn job_status(
    cancelled: bool,
    graph: &JobGraph,
    id: &str,
    done: &IndexMap<String, Finished>,
) -> JobStatus {
    if cancelled {
        return JobStatus::Cancelled;
    }
    let direct = graph.needs(id).unwrap_or_default();
    let mut seen = BTreeSet::new();
    let mut todo: Vec<&str> = direct.clone();
    let mut failed = false;
    while let Some(n) = todo.pop() {
        if !seen.insert(n) {
            continue;
        }
        failed |= done
            .get(n)
            .is_some_and(|f| f.conclusion == Conclusion::Failure);
        todo.extend(graph.needs(n).unwrap_or_default());
    }
    let all_succeeded = direct.iter().all(|n| {
        done.get(*n)
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

/// Prepares a job's directories and executor, runs it, and reports its end.
pub(super) async fn run_runner_job(
    shared: &Shared,
    desc: JobDescription,
    instance: &Instance,
) -> Finished {
    let key = desc.key.clone();
    let out_rel = instance.dir.clone();
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
            return Finished::not_run(&key, Conclusion::Failure);
        }
    };
    let config = SandboxConfig {
        writable: dirs.writable(),
        read_only: shared.plan.action_trees.clone(),
        tmp_dir: Some(dirs.tmp.clone()),
        network: shared.options.network,
        hostname: shared
            .environment
            .hostname
            .clone()
            .unwrap_or_else(|| hermetic::DEFAULT_HOSTNAME.to_owned()),
        identity: shared.identity,
    };
    let vm_setup = match &shared.vm {
        Some(plan) => match super::vm::job_setup(
            plan,
            super::vm::vm_timeout(
                desc.timeout_minutes.as_ref(),
                desc.cancel_timeout_minutes.as_ref(),
            ),
        )
        .await
        {
            Ok(setup) => Some(setup),
            Err(e) => {
                shared
                    .live
                    .note(&format!("[{key}] ✗ cannot prepare the job's VM: {e}"));
                let _ = std::fs::remove_dir_all(&dirs.root);
                return Finished::not_run(&key, Conclusion::Failure);
            }
        },
        None => None,
    };
    let executor = match select_executor(shared.sandbox, config, vm_setup) {
        Ok(s) => s.executor,
        Err(e) => {
            shared
                .live
                .note(&format!("[{key}] ✗ cannot start the sandbox: {e}"));
            let _ = std::fs::remove_dir_all(&dirs.root);
            return Finished::not_run(&key, Conclusion::Failure);
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
        cancel: instance.cancel.clone(),
        debug: shared.options.debug,
        base_path: shared.base_path.clone(),
        runner_name: "hrun".to_owned(),
        cancel_grace: shared.options.cancel_grace,
        store: Arc::clone(&shared.store),
        evidence: shared.evidence.clone(),
        secret_scan: JobScan::new(Arc::clone(&shared.scanner), shared.options.secret_scan),
        environment: Arc::clone(&shared.environment),
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
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{run: 'true'}]\n  b:\n    needs: A\n    runs-on: x\n    steps: [{run: 'true'}]\n  c:\n    needs: b\n    runs-on: x\n    steps: [{run: 'true'}]\n",
            "ci.yml",
        )
        .unwrap();
        let graph = JobGraph::new(&wf);
        let mut done = IndexMap::new();
        done.insert("a".to_owned(), finished(Conclusion::Failure));
        done.insert("b".to_owned(), finished(Conclusion::Skipped));
        assert_eq!(job_status(false, &graph, "c", &done), JobStatus::Failure);
        done.insert("a".to_owned(), finished(Conclusion::Success));
        assert_eq!(
            job_status(false, &graph, "c", &done),
            JobStatus::NeedsSkipped
        );
        done.insert("b".to_owned(), finished(Conclusion::Success));
        assert_eq!(job_status(false, &graph, "c", &done), JobStatus::Success);
        assert_eq!(job_status(true, &graph, "c", &done), JobStatus::Cancelled);
    }
}
