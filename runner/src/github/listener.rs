//! The runner's main loop (`hrun run`): a broker session, the long poll for messages, one job
//! at a time, and what signals do.
//!
//! - `RunnerJobRequest`: acknowledged when asked, acquired from the run service with the
//!   runner's token, then run ([`super::jobs`]) while the poll goes on with status `Busy`, so a
//!   `JobCancellation` for it cancels it.
//! - `ForceTokenRefresh`: the runner's token is fetched again.
//! - A 5xx or a lost connection waits with exponential backoff and jitter; a lost session is
//!   opened again; a 401 fetches a new token (in [`super::broker`]).
//! - SIGTERM or a first SIGINT: no new job is taken; the running job finishes and is reported,
//!   then the runner exits. A second SIGINT cancels the running job (it is reported cancelled)
//!   and stops retrying its completion, which stays on disk.
//! - `--ephemeral` (or an ephemeral registration): the runner exits after one job.
//!
//! The pool-session flow of older GHES (`_apis/distributedtask/pools/.../sessions`, messages
//! carried whole, timeline records and log upload, `BrokerMigration`) is not supported yet:
//! such a registration is refused with that message.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;
use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinHandle;

use super::auth::TokenSource;
use super::backoff::Backoff;
use super::broker::{BrokerClient, BrokerError, BrokerMessage, RunnerJobRequestRef, RunnerStatus};
use super::identity::Identity;
use super::jobs::{run_job_message, send_leftovers, JobContext, JobOutcome};
use super::run_service::{RunServiceClient, RunServiceError};
use crate::engine::execute::RunCancel;

/// Why the runner stopped without being asked to.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("{0} not supported yet")]
    Unsupported(String),
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

/// How the runner listens.
#[derive(Debug, Clone)]
pub struct ListenOptions {
    pub ephemeral: bool,
    /// The waits after a failed poll start below this (tests shorten it).
    pub retry_base: Duration,
}

struct Running {
    job_id: Option<String>,
    cancel: RunCancel,
    handle: JoinHandle<JobOutcome>,
}

/// Runs the runner until it is asked to stop (or, ephemeral, after one job). Returns how many
/// jobs were completed.
pub async fn listen(
    identity: Identity,
    ctx: JobContext,
    options: ListenOptions,
) -> Result<usize, ListenError> {
    let settings = identity.settings.clone();
    if !settings.use_v2_flow || settings.server_url_v2.is_empty() {
        return Err(ListenError::Unsupported(
            "the pool-session flow of older GitHub Enterprise Server (this registration has no broker URL)"
                .into(),
        ));
    }
    let tokens = Arc::new(TokenSource::new(
        ctx.http.clone(),
        identity.credentials.data.client_id.clone(),
        identity.credentials.data.authorization_url.clone(),
        identity.key.clone(),
    ));
    let broker = BrokerClient::new(
        ctx.http.clone(),
        settings.server_url_v2.clone(),
        Arc::clone(&tokens),
    );
    send_leftovers(&ctx).await;

    let mut sigterm =
        signal(SignalKind::terminate()).map_err(|e| ListenError::Unsupported(e.to_string()))?;
    let mut sigint =
        signal(SignalKind::interrupt()).map_err(|e| ListenError::Unsupported(e.to_string()))?;
    let ephemeral = options.ephemeral || settings.ephemeral;
    let mut backoff = Backoff::new(options.retry_base, Duration::from_secs(60));
    let mut session: Option<String> = None;
    let mut running: Option<Running> = None;
    let mut stopping = false;
    let mut interrupts = 0;
    let mut completed = 0;

    loop {
        if stopping && running.is_none() {
            break;
        }
        let Some(session_id) = session.clone() else {
            tokio::select! {
                created = broker.create_session(&settings) => match created {
                    Ok(id) => {
                        tracing::info!(runner = %settings.agent_name, "connected to GitHub; listening for jobs");
                        backoff.reset();
                        session = Some(id);
                    }
                    Err(e) if e.is_transient() || matches!(&e, BrokerError::Http(h) if h.status() == Some(http::StatusCode::CONFLICT)) => {
                        let wait = backoff.next_delay();
                        tracing::warn!(error = %e, ?wait, "cannot open a session; retrying");
                        tokio::time::sleep(wait).await;
                    }
                    Err(e) => return Err(e.into()),
                },
                _ = sigterm.recv() => { stopping = true; }
                _ = sigint.recv() => { stopping = true; interrupts += 1; }
            }
            continue;
        };
        let status = if running.is_some() {
            RunnerStatus::Busy
        } else {
            RunnerStatus::Online
        };
        let job_done = async {
            match running.as_mut() {
                Some(r) => (&mut r.handle).await.ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            outcome = job_done => {
                running = None;
                if let Some(JobOutcome::Completed(c)) = &outcome {
                    completed += 1;
                    tracing::info!(conclusion = %c, "job done");
                } else {
                    tracing::warn!(?outcome, "job ended without a completion");
                }
                if ephemeral {
                    stopping = true;
                }
            }
            polled = broker.get_message(&session_id, status), if !stopping => match polled {
                Ok(None) => backoff.reset(),
                Ok(Some(message)) => {
                    backoff.reset();
                    handle_message(&broker, &tokens, &ctx, &session_id, message, &mut running, stopping).await;
                }
                Err(BrokerError::SessionGone) => {
                    tracing::warn!("the session expired; opening a new one");
                    session = None;
                }
                Err(e) if e.is_transient() => {
                    let wait = backoff.next_delay();
                    tracing::warn!(error = %e, ?wait, "polling failed; retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => {
                    let wait = backoff.next_delay();
                    tracing::error!(error = %e, ?wait, "polling failed");
                    if matches!(e, BrokerError::RunnerGone(_)) {
                        return Err(e.into());
                    }
                    tokio::time::sleep(wait).await;
                }
            },
            _ = sigterm.recv() => {
                tracing::info!("SIGTERM: finishing the running job, taking no new one");
                stopping = true;
            }
            _ = sigint.recv() => {
                interrupts += 1;
                stopping = true;
                if interrupts >= 2 {
                    tracing::warn!("second SIGINT: cancelling the running job");
                    if let Some(r) = &running {
                        r.cancel.first.cancel();
                        r.cancel.second.cancel();
                    }
                    ctx.shutdown.cancel();
                } else {
                    tracing::info!("SIGINT: finishing the running job (SIGINT again cancels it)");
                }
            }
        }
    }
    if session.is_some() {
        if let Err(e) = broker.delete_session().await {
            tracing::warn!(error = %e, "cannot close the session");
        }
    }
    Ok(completed)
}

async fn handle_message(
    broker: &BrokerClient,
    tokens: &TokenSource,
    ctx: &JobContext,
    session_id: &str,
    message: BrokerMessage,
    running: &mut Option<Running>,
    stopping: bool,
) {
    let kind = message.message_type.as_str();
    tracing::debug!(message_type = kind, id = message.message_id, "message");
    if kind.eq_ignore_ascii_case("RunnerJobRequest") {
        if running.is_some() || stopping {
            tracing::warn!("a job request came while busy or stopping; it is left to GitHub");
            return;
        }
        let reference: RunnerJobRequestRef = match serde_json::from_str(&message.body) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "unreadable job request reference");
                return;
            }
        };
        if reference.should_acknowledge {
            if let Err(e) = broker
                .acknowledge(session_id, &reference.runner_request_id)
                .await
            {
                tracing::warn!(error = %e, "acknowledging the job request failed (best effort)");
            }
        }
        if reference.run_service_url.is_empty() {
            tracing::error!("job requests without a run service URL are not supported yet");
            return;
        }
        let job = match acquire(ctx, tokens, &reference).await {
            Some(j) => j,
            None => return,
        };
        let job_id = serde_json::from_str::<Json>(&job)
            .ok()
            .and_then(|j| j["jobId"].as_str().map(str::to_owned));
        let cancel = RunCancel::default();
        let ctx = ctx.clone();
        let job_cancel = cancel.clone();
        let handle = tokio::spawn(async move { run_job_message(&ctx, &job, job_cancel).await });
        *running = Some(Running {
            job_id,
            cancel,
            handle,
        });
    } else if kind.eq_ignore_ascii_case("JobCancellation") {
        let body: Json = serde_json::from_str(&message.body).unwrap_or(Json::Null);
        let job_id = body["jobId"].as_str().unwrap_or_default();
        match running.as_ref() {
            Some(r)
                if r.job_id
                    .as_deref()
                    .is_some_and(|j| j.eq_ignore_ascii_case(job_id)) =>
            {
                tracing::info!(job_id, "GitHub cancelled the job");
                r.cancel.first.cancel();
            }
            _ => tracing::info!(job_id, "a cancellation for a job not running here"),
        }
    } else if kind.eq_ignore_ascii_case("ForceTokenRefresh") {
        tokens.invalidate().await;
    } else if kind.eq_ignore_ascii_case("BrokerMigration") {
        tracing::warn!("BrokerMigration came over the broker; ignored");
    } else {
        tracing::warn!(
            message_type = kind,
            "message type not supported yet; ignored"
        );
    }
}

/// Acquires the job; `None` when it is gone or taken (logged).
async fn acquire(
    ctx: &JobContext,
    tokens: &TokenSource,
    reference: &RunnerJobRequestRef,
) -> Option<String> {
    let client = RunServiceClient::new(ctx.http.clone());
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    for _ in 0..8 {
        let token = match tokens.token().await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "no token to acquire the job");
                tokio::time::sleep(backoff.next_delay()).await;
                continue;
            }
        };
        match client
            .acquire_job(
                &reference.run_service_url,
                &token,
                &reference.runner_request_id,
                &reference.billing_owner_id,
            )
            .await
        {
            Ok(answer) => return Some(String::from_utf8_lossy(&answer.body).into_owned()),
            Err(
                e @ (RunServiceError::NotFound(_)
                | RunServiceError::Conflict(_)
                | RunServiceError::Unprocessable(_)),
            ) => {
                tracing::info!(error = %e, "skipping the job");
                return None;
            }
            Err(RunServiceError::Http(e)) if e.status() == Some(http::StatusCode::UNAUTHORIZED) => {
                tokens.invalidate().await;
            }
            Err(e) => {
                let wait = backoff.next_delay();
                tracing::warn!(error = %e, ?wait, "acquiring the job failed; retrying");
                tokio::time::sleep(wait).await;
            }
        }
    }
    tracing::error!("the job could not be acquired");
    None
}
