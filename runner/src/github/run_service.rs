//! The run service: where a job is acquired, kept (renewed) and completed.
//!
//! `POST {run_service_url}/acquirejob` with the runner's token and `{jobMessageId, runnerOS,
//! billingOwnerId}` answers the job request message; `POST {url}/renewjob` with the job's token
//! (from the message's `SystemVssConnection` endpoint) and `{planId, jobId}` keeps the job
//! (`{lockedUntil}`); `POST {url}/completejob` with `CompleteJobRequest` (`planId`, `jobId`,
//! `conclusion`, `outputs`, `stepResults`, `annotations`) reports its end.

use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use super::http::{join, Answer, Auth, Body, HttpClient, HttpError};

/// What `acquirejob` may answer besides a job.
#[derive(Debug, thiserror::Error)]
pub enum RunServiceError {
    #[error("the job is gone (HTTP 404): {0}")]
    NotFound(String),
    #[error("the job was acquired by another runner (HTTP 409): {0}")]
    Conflict(String),
    #[error("the job cannot be processed (HTTP 422): {0}")]
    Unprocessable(String),
    #[error(transparent)]
    Http(HttpError),
}

fn classify(e: HttpError) -> RunServiceError {
    match e.status() {
        Some(StatusCode::NOT_FOUND) => RunServiceError::NotFound(e.to_string()),
        Some(StatusCode::CONFLICT) => RunServiceError::Conflict(e.to_string()),
        Some(StatusCode::UNPROCESSABLE_ENTITY) => RunServiceError::Unprocessable(e.to_string()),
        _ => RunServiceError::Http(e),
    }
}

/// A step's result in `completejob` (snake_case, as the run service reads them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResultRecord {
    pub external_id: String,
    pub number: u32,
    pub name: String,
    pub status: String,
    pub conclusion: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_log_lines: Option<u64>,
}

/// An annotation in `completejob`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnnotationRecord {
    /// `NOTICE`, `WARNING` or `FAILURE`.
    pub level: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_line: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub end_line: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_column: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub end_column: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub step_number: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `completejob`'s body, kept on disk until GitHub accepts it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Completion {
    pub plan_id: String,
    pub job_id: String,
    /// `succeeded`, `failed`, `canceled`, `skipped`.
    pub conclusion: String,
    pub outputs: serde_json::Map<String, Json>,
    pub step_results: Vec<StepResultRecord>,
    pub annotations: Vec<AnnotationRecord>,
    /// Where to send it and with which token (not part of the request body).
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub run_service_url: String,
}

/// The run service, for one job or for acquiring.
#[derive(Debug, Clone)]
pub struct RunServiceClient {
    http: HttpClient,
}

impl RunServiceClient {
    pub fn new(http: HttpClient) -> RunServiceClient {
        RunServiceClient { http }
    }

    /// Acquires the job of a `RunnerJobRequest`; answers the job message's JSON.
    pub async fn acquire_job(
        &self,
        run_service_url: &str,
        runner_token: &str,
        message_id: &str,
        billing_owner_id: &str,
    ) -> Result<Answer, RunServiceError> {
        let mut body = json!({"jobMessageId": message_id, "runnerOS": "Linux"});
        if !billing_owner_id.is_empty() {
            body["billingOwnerId"] = json!(billing_owner_id);
        }
        self.http
            .send(
                Method::POST,
                &join(run_service_url, "acquirejob"),
                &Auth::Bearer(runner_token.to_owned()),
                Body::Json(body),
                &[],
            )
            .await
            .map_err(classify)
    }

    /// Keeps the job; answers until when it is held.
    pub async fn renew_job(
        &self,
        url: &str,
        job_token: &str,
        plan_id: &str,
        job_id: &str,
    ) -> Result<String, RunServiceError> {
        let answer = self
            .http
            .send(
                Method::POST,
                &join(url, "renewjob"),
                &Auth::Bearer(job_token.to_owned()),
                Body::Json(json!({"planId": plan_id, "jobId": job_id})),
                &[],
            )
            .await
            .map_err(classify)?;
        let value = answer.json().unwrap_or(Json::Null);
        Ok(value["lockedUntil"].as_str().unwrap_or_default().to_owned())
    }

    /// Reports the job's end.
    pub async fn complete_job(
        &self,
        job_token: &str,
        completion: &Completion,
    ) -> Result<(), RunServiceError> {
        let mut body = serde_json::to_value(completion).unwrap_or(Json::Null);
        if let Some(b) = body.as_object_mut() {
            b.remove("runServiceUrl");
            b.remove("jobToken");
        }
        self.http
            .send(
                Method::POST,
                &join(&completion.run_service_url, "completejob"),
                &Auth::Bearer(job_token.to_owned()),
                Body::Json(body),
                &[],
            )
            .await
            .map(|_| ())
            .map_err(classify)
    }
}
