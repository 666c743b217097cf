//! One job from GitHub, from its message to its accepted completion.
//!
//! 1. The message is decoded ([`super::message`]); where to report and with which token come
//!    from its `SystemVssConnection` endpoint.
//! 2. The job is renewed before anything runs, then every renewal interval while it runs; a job
//!    whose renewal is lost (the service says it is gone, or renewals keep failing) is
//!    abandoned: its steps are stopped and nothing is reported for it.
//! 3. The policy gate ([`super::gate`]): every action a step uses must be pinned to a full
//!    commit SHA (GitHub's `unpinned-uses` rule of `hrun lint`), or the job is reported failed
//!    with the policy's message and nothing runs. Its remote actions, nested ones included, are
//!    then resolved and fetched into the action store ([`super::job_actions`]), each at exactly
//!    its pinned commit, or the job fails the same way.
//! 4. The engine runs it ([`super::worker`]); step states and logs go to the results service.
//! 5. The completion is written to `pending/<job id>.json` (mode 0600) before it is sent, sent
//!    until GitHub accepts it (or says the job is gone), and removed only then; `hrun run` sends
//!    what a previous run left there before it takes a new job.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use actions_compat::policy::Policy;

use super::backoff::Backoff;
use super::gate::{policy_gate, policy_report};
use super::http::HttpClient;
use super::identity::{ensure_dir, write_private};
use super::job_actions::prepare_job_actions;
use super::message::{to_job_description, DecodedJob, JobRequest};
use super::results::{
    ResultsClient, StepState, STATUS_COMPLETED, STATUS_IN_PROGRESS, STATUS_PENDING,
};
use super::run_service::{
    AnnotationRecord, Completion, RunServiceClient, RunServiceError, StepResultRecord,
};
use super::worker::{run_decoded, EngineOptions, JobOrigin};
use crate::engine::execute::RunCancel;
use crate::engine::result::{Conclusion, StepResult};

/// `yyyy-MM-ddTHH:mm:ss.fffZ`, as GitHub's services take times.
pub fn timestamp() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// How jobs are run and reported on this runner.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub http: HttpClient,
    pub engine: EngineOptions,
    /// The runner's directory (`pending/` is under it).
    pub dir: PathBuf,
    pub renew_interval: Duration,
    /// The first wait before a failed call of the job (the action download endpoint) is retried.
    pub retry_base: Duration,
    /// The policy file's allowances (`hrun lint`'s), if one was given.
    pub policy: Policy,
    /// Fired when the runner must stop retrying (a second SIGINT): pending completions stay on
    /// disk.
    pub shutdown: CancellationToken,
}

/// How a job ended for the listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Reported to GitHub (the conclusion sent).
    Completed(String),
    /// Kept on disk: GitHub did not accept it before the runner stopped.
    Pending,
    /// Nothing reported: the job was lost (renewal) or the message named no job.
    Abandoned(String),
}

/// A completion and the token it is sent with, as kept in `pending/`.
#[derive(Serialize, Deserialize)]
struct PendingCompletion {
    completion: Completion,
    job_token: String,
}

fn pending_path(dir: &Path, job_id: &str) -> PathBuf {
    let safe: String = job_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    dir.join(super::identity::PENDING_DIR)
        .join(format!("{safe}.json"))
}

/// Runs the job of a message (the JSON `acquirejob` answered, or a message's body).
pub async fn run_job_message(ctx: &JobContext, message: &str, cancel: RunCancel) -> JobOutcome {
    let request = match JobRequest::from_json_text(message) {
        Ok(r) => r,
        Err(e) => {
            // Without the message's ids and token nothing can be reported.
            tracing::error!(error = %e, "the job message could not be read");
            return JobOutcome::Abandoned(format!("the job message could not be read: {e}"));
        }
    };
    let Some(endpoint) = request.endpoint(super::message::job_request::SYSTEM_CONNECTION) else {
        return JobOutcome::Abandoned("the job message has no SystemVssConnection endpoint".into());
    };
    let run_service_url = endpoint.url.clone();
    let job_token = request.access_token().unwrap_or_default().to_owned();
    let plan_id = request.plan.plan_id.clone();
    let job_id = request.job_id.clone();
    tracing::info!(job = %request.job_display_name, job_id = %job_id, "job received");
    let run_service = RunServiceClient::new(ctx.http.clone());

    // The first renewal must succeed before anything runs.
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
    loop {
        match run_service
            .renew_job(&run_service_url, &job_token, &plan_id, &job_id)
            .await
        {
            Ok(until) => {
                tracing::info!(locked_until = %until, "job renewed");
                break;
            }
            Err(RunServiceError::NotFound(m)) => return JobOutcome::Abandoned(m),
            Err(e) if backoff.failures() < 5 => {
                let wait = backoff.next_delay();
                tracing::warn!(error = %e, ?wait, "first renewal failed; retrying");
                tokio::time::sleep(wait).await;
            }
            Err(e) => return JobOutcome::Abandoned(format!("the job could not be renewed: {e}")),
        }
    }
    let abandoned = Arc::new(AtomicBool::new(false));
    let renewal_stop = CancellationToken::new();
    let renewal = tokio::spawn(renew_loop(
        run_service.clone(),
        run_service_url.clone(),
        job_token.clone(),
        plan_id.clone(),
        job_id.clone(),
        ctx.renew_interval,
        Arc::clone(&abandoned),
        cancel.clone(),
        renewal_stop.clone(),
    ));

    let results_url = request
        .variable("system.github.results_endpoint")
        .map(str::to_owned)
        .or_else(|| endpoint.data.get("ResultsServiceUrl").cloned())
        .filter(|u| !u.is_empty());
    let mut results = results_url.map(|url| {
        ResultsClient::new(
            ctx.http.clone(),
            url,
            job_token.clone(),
            plan_id.clone(),
            job_id.clone(),
        )
    });

    let mut completion = Completion {
        plan_id: plan_id.clone(),
        job_id: job_id.clone(),
        conclusion: "failed".to_owned(),
        outputs: serde_json::Map::new(),
        step_results: Vec::new(),
        annotations: Vec::new(),
        run_service_url: run_service_url.clone(),
    };
    let ready = match to_job_description(&request) {
        Err(e) => {
            tracing::error!(error = %e, "the job cannot run");
            Err(format!("hrun cannot run this job: {e}"))
        }
        Ok(job) => match policy_gate(&job, &ctx.policy) {
            Some(denied) => {
                tracing::warn!(message = %denied, "the policy gate refused the job");
                Err(denied)
            }
            None => match prepare_job_actions(ctx, &request, &job, &cancel).await {
                Ok(()) => Ok(job),
                Err(None) => {
                    completion.conclusion = "canceled".to_owned();
                    Err("the job was cancelled while its actions were fetched".to_owned())
                }
                Err(Some(refused)) => {
                    tracing::warn!(message = %refused, "the job's actions are not ready");
                    Err(refused.to_string())
                }
            },
        },
    };
    match ready {
        Err(message) => completion.annotations.push(failure(message)),
        Ok(job) => {
            let origin = JobOrigin {
                job_id: job_id.clone(),
                policy: policy_report(&job, &ctx.policy),
            };
            run_and_report(
                ctx,
                job,
                origin,
                cancel.clone(),
                &mut results,
                &mut completion,
            )
            .await;
        }
    }
    renewal_stop.cancel();
    let _ = renewal.await;
    if abandoned.load(Ordering::SeqCst) {
        return JobOutcome::Abandoned("the job's renewal was lost".into());
    }
    complete(ctx, &run_service, completion, job_token).await
}

fn failure(message: String) -> AnnotationRecord {
    AnnotationRecord {
        level: "FAILURE".to_owned(),
        message,
        title: None,
        path: None,
        start_line: 0,
        end_line: 0,
        start_column: 0,
        end_column: 0,
        step_number: 0,
    }
}

#[allow(clippy::too_many_arguments)]
async fn renew_loop(
    client: RunServiceClient,
    url: String,
    token: String,
    plan_id: String,
    job_id: String,
    interval: Duration,
    abandoned: Arc<AtomicBool>,
    cancel: RunCancel,
    stop: CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_secs(1), interval.max(Duration::from_secs(1)));
    let mut wait = interval;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        match client.renew_job(&url, &token, &plan_id, &job_id).await {
            Ok(_) => {
                backoff.reset();
                wait = interval;
            }
            Err(e) => {
                let lost = matches!(e, RunServiceError::NotFound(_)) || backoff.failures() >= 10;
                if lost {
                    tracing::error!(error = %e, "the job's renewal is lost: abandoning the job");
                    abandoned.store(true, Ordering::SeqCst);
                    cancel.first.cancel();
                    cancel.second.cancel();
                    return;
                }
                wait = backoff.next_delay();
                tracing::warn!(error = %e, ?wait, "renewal failed; retrying");
            }
        }
    }
}

fn result_code(c: Conclusion) -> (&'static str, u8) {
    match c {
        Conclusion::Success => ("succeeded", 2),
        Conclusion::Failure => ("failed", 3),
        Conclusion::Cancelled => ("canceled", 4),
        Conclusion::Skipped => ("skipped", 7),
    }
}

async fn run_and_report(
    ctx: &JobContext,
    job: DecodedJob,
    origin: JobOrigin,
    cancel: RunCancel,
    results: &mut Option<ResultsClient>,
    completion: &mut Completion,
) {
    let step_ids = job.step_ids.clone();
    let names: Vec<String> = job
        .description
        .steps
        .iter()
        .map(|s| s.id.value.clone())
        .collect();
    let started = timestamp();
    if let Some(r) = results.as_mut() {
        let states: Vec<StepState> = step_ids
            .iter()
            .enumerate()
            .map(|(i, (name, guid))| StepState {
                external_id: guid.clone(),
                number: i as u32 + 1,
                name: name.clone(),
                status: if i == 0 {
                    STATUS_IN_PROGRESS
                } else {
                    STATUS_PENDING
                },
                conclusion: 0,
                started_at: (i == 0).then(|| started.clone()),
                completed_at: None,
            })
            .collect();
        if let Err(e) = r.update_steps(&states).await {
            tracing::warn!(error = %e, "cannot send the step states");
        }
    }
    let run = match run_decoded(job, origin, &ctx.engine, cancel).await {
        Ok(run) => run,
        Err(e) => {
            completion
                .annotations
                .push(failure(format!("hrun could not start the job: {e}")));
            return;
        }
    };
    let finished = timestamp();
    let ended = &run.ended;
    completion.conclusion = result_code(ended.conclusion).0.to_owned();
    for (k, v) in &ended.outputs {
        completion
            .outputs
            .insert(k.clone(), json!({"value": v, "isSecret": false}));
    }
    for a in &ended.result.annotations {
        completion.annotations.push(AnnotationRecord {
            level: match a.level {
                "error" => "FAILURE",
                "warning" => "WARNING",
                _ => "NOTICE",
            }
            .to_owned(),
            message: a.message.clone(),
            title: a.title.clone(),
            path: a.file.clone(),
            start_line: a.line.map_or(0, u64::from),
            end_line: a.end_line.or(a.line).map_or(0, u64::from),
            start_column: a.col.map_or(0, u64::from),
            end_column: a.end_column.or(a.col).map_or(0, u64::from),
            step_number: a
                .step
                .as_ref()
                .and_then(|s| names.iter().position(|n| n == s))
                .map_or(0, |i| i as u64 + 1),
        });
    }
    let logs = split_log(&run.log, &ended.result.steps);
    let mut states = Vec::new();
    for (i, (name, guid)) in step_ids.iter().enumerate() {
        let result = ended.result.steps.iter().find(|s| &s.id == name);
        let (conclusion, code) = result.map_or(("skipped", 7), |s| result_code(s.conclusion));
        let display = result.map_or_else(|| name.clone(), |s| s.name.clone());
        let log = logs
            .iter()
            .find(|(id, _)| id == name)
            .map(|(_, l)| l.as_str());
        completion.step_results.push(StepResultRecord {
            external_id: guid.clone(),
            number: i as u32 + 1,
            name: display.clone(),
            status: "completed".to_owned(),
            conclusion: conclusion.to_owned(),
            started_at: Some(started.clone()),
            completed_at: Some(finished.clone()),
            completed_log_lines: log.map(|l| l.lines().count() as u64),
        });
        states.push(StepState {
            external_id: guid.clone(),
            number: i as u32 + 1,
            name: display,
            status: STATUS_COMPLETED,
            conclusion: code,
            started_at: Some(started.clone()),
            completed_at: Some(finished.clone()),
        });
        if let (Some(r), Some(text)) = (results.as_ref(), log) {
            if let Err(e) = r.upload_log(Some(guid), text).await {
                tracing::warn!(error = %e, step = %name, "cannot upload the step's log");
            }
        }
    }
    if let Some(r) = results.as_mut() {
        if let Err(e) = r.upload_log(None, &run.log).await {
            tracing::warn!(error = %e, "cannot upload the job's log");
        }
        if let Err(e) = r.update_steps(&states).await {
            tracing::warn!(error = %e, "cannot send the step states");
        }
    }
}

/// The job's log cut at each top-level step's header (`##[group]<name>`, or `Skipping step:
/// <name>` for a step that did not run), by step id. Lines before the first step belong to the
/// job's log only.
pub fn split_log(log: &str, steps: &[StepResult]) -> Vec<(String, String)> {
    let lines: Vec<&str> = log.lines().collect();
    let mut starts = Vec::new();
    let mut from = 0;
    for step in steps {
        let header = format!("##[group]{}", step.name);
        let skipped = format!("Skipping step: {}", step.name);
        if let Some(offset) = lines
            .get(from..)
            .unwrap_or_default()
            .iter()
            .position(|l| strip_time(l) == header || strip_time(l) == skipped)
        {
            starts.push((step.id.clone(), from + offset));
            from += offset + 1;
        }
    }
    let mut out = Vec::new();
    for (i, (id, start)) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map_or(lines.len(), |(_, s)| *s);
        let text = lines.get(*start..end).unwrap_or_default().join("\n");
        out.push((id.clone(), text + "\n"));
    }
    out
}

/// A log line without a leading timestamp, if it has one.
fn strip_time(line: &str) -> &str {
    match line.split_once(' ') {
        Some((first, rest)) if first.len() > 20 && first.ends_with('Z') && first.contains('T') => {
            rest
        }
        _ => line,
    }
}

/// Writes the completion to `pending/`, sends it until accepted, and removes it then.
async fn complete(
    ctx: &JobContext,
    client: &RunServiceClient,
    completion: Completion,
    job_token: String,
) -> JobOutcome {
    let path = pending_path(&ctx.dir, &completion.job_id);
    let pending = PendingCompletion {
        completion,
        job_token,
    };
    if let Err(e) = ensure_dir(&ctx.dir.join(super::identity::PENDING_DIR)).and_then(|()| {
        write_private(
            &path,
            &serde_json::to_vec_pretty(&pending).unwrap_or_default(),
        )
    }) {
        tracing::error!(error = %e, "cannot keep the completion on disk; sending it anyway");
    }
    send_pending(ctx, client, &path, pending).await
}

async fn send_pending(
    ctx: &JobContext,
    client: &RunServiceClient,
    path: &Path,
    pending: PendingCompletion,
) -> JobOutcome {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
    loop {
        match client
            .complete_job(&pending.job_token, &pending.completion)
            .await
        {
            Ok(()) => {
                let _ = std::fs::remove_file(path);
                tracing::info!(conclusion = %pending.completion.conclusion, job_id = %pending.completion.job_id, "job completed");
                return JobOutcome::Completed(pending.completion.conclusion.clone());
            }
            Err(RunServiceError::NotFound(m)) => {
                let _ = std::fs::remove_file(path);
                tracing::warn!(message = %m, "GitHub no longer knows the job; its completion is dropped");
                return JobOutcome::Abandoned(m);
            }
            Err(e) => {
                let wait = backoff.next_delay();
                tracing::warn!(error = %e, ?wait, "completion not accepted; retrying");
                tokio::select! {
                    () = ctx.shutdown.cancelled() => {
                        tracing::warn!(path = %path.display(), "stopping: the completion stays on disk and is sent by the next `hrun run`");
                        return JobOutcome::Pending;
                    }
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

/// Sends the completions a previous run left in `pending/`.
pub async fn send_leftovers(ctx: &JobContext) {
    let dir = ctx.dir.join(super::identity::PENDING_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let client = RunServiceClient::new(ctx.http.clone());
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let pending: PendingCompletion = match std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            Some(p) => p,
            None => {
                tracing::warn!(path = %path.display(), "an unreadable pending completion is left as is");
                continue;
            }
        };
        tracing::info!(job_id = %pending.completion.job_id, "sending a completion left by a previous run");
        send_pending(ctx, &client, &path, pending).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexMap;

    fn step(id: &str, name: &str) -> StepResult {
        StepResult {
            id: id.into(),
            name: name.into(),
            outcome: Conclusion::Success,
            conclusion: Conclusion::Success,
            duration_ms: 0,
            exit_code: None,
            timed_out: false,
            outputs: IndexMap::new(),
            steps: Vec::new(),
        }
    }

    #[test]
    fn the_log_is_cut_at_each_steps_header() {
        let log = "##[section]Run job build\n##[group]Run a\n##[endgroup]\nout a\n##[group]nested\n##[endgroup]\nSkipping step: b\n##[group]Run c\nout c\n##[section]Job success\n";
        let parts = split_log(
            log,
            &[step("a", "Run a"), step("b", "b"), step("c", "Run c")],
        );
        assert_eq!(parts.len(), 3);
        assert!(parts[0].1.contains("out a") && parts[0].1.contains("nested"));
        assert_eq!(parts[1].1, "Skipping step: b\n");
        assert!(parts[2].1.starts_with("##[group]Run c\nout c"));
    }

    #[test]
    fn pending_file_names_keep_only_safe_characters() {
        let p = pending_path(Path::new("/r"), "../x-1/2");
        assert_eq!(p, Path::new("/r/pending/x-12.json"));
    }
}
