//! The results service: a job's step states and its logs, as GitHub's UI shows them.
//!
//! All calls are Twirp JSON posts to the job's results endpoint (the message's variable
//! `system.github.results_endpoint`) with the job's token, members in snake_case:
//! `WorkflowStepUpdateService/WorkflowStepsUpdate` (`steps[{external_id, number, name, status,
//! started_at, completed_at, conclusion}]`, `change_order`, the run's and job's backend ids),
//! and for each log `Receiver/GetStepLogsSignedBlobURL` (or `GetJobLogsSignedBlobURL`), a `PUT`
//! of the log to the signed URL it answers, then `Receiver/CreateStepLogsMetadata` (or
//! `CreateJobLogsMetadata`) with the line count, answered `{ok: true}`.
//!
//! The live console feed (a websocket to the endpoint's `FeedStreamUrl`) is not supported yet:
//! step logs are uploaded when each step's job ends.

use http::Method;
use serde_json::{json, Value as Json};

use super::http::{join, Auth, Body, HttpClient, HttpError};

const RECEIVER: &str = "twirp/results.services.receiver.Receiver/";
const STEP_UPDATE: &str =
    "twirp/github.actions.results.api.v1.WorkflowStepUpdateService/WorkflowStepsUpdate";
const AZURE_BLOB: &str = "BLOB_STORAGE_TYPE_AZURE";

/// A step's state as the results service takes it: `status` 3 in progress, 5 pending,
/// 6 completed; `conclusion` 0 unknown, 2 success, 3 failure, 4 cancelled, 7 skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct StepState {
    pub external_id: String,
    pub number: u32,
    pub name: String,
    pub status: u8,
    pub conclusion: u8,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
}

pub const STATUS_IN_PROGRESS: u8 = 3;
pub const STATUS_PENDING: u8 = 5;
pub const STATUS_COMPLETED: u8 = 6;

/// Why an upload failed.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("the results service: {0}")]
    Answer(String),
}

/// The results service of one job.
#[derive(Debug, Clone)]
pub struct ResultsClient {
    http: HttpClient,
    base: String,
    token: String,
    plan_id: String,
    job_id: String,
    change_order: u64,
}

impl ResultsClient {
    pub fn new(
        http: HttpClient,
        base: String,
        token: String,
        plan_id: String,
        job_id: String,
    ) -> ResultsClient {
        ResultsClient {
            http,
            base,
            token,
            plan_id,
            job_id,
            change_order: 0,
        }
    }

    async fn post(&self, method: &str, body: Json) -> Result<Json, ResultsError> {
        let answer = self
            .http
            .send(
                Method::POST,
                &join(&self.base, method),
                &Auth::Bearer(self.token.clone()),
                Body::Json(body),
                &[],
            )
            .await?;
        answer
            .json()
            .map_err(|e| ResultsError::Answer(format!("{method}: {e}")))
    }

    /// Sends the states of the job's steps.
    pub async fn update_steps(&mut self, steps: &[StepState]) -> Result<(), ResultsError> {
        self.change_order += 1;
        let steps: Vec<Json> = steps
            .iter()
            .map(|s| {
                let mut step = json!({
                    "external_id": s.external_id,
                    "number": s.number,
                    "name": s.name,
                    "status": s.status,
                    "conclusion": s.conclusion,
                });
                if let Some(t) = &s.started_at {
                    step["started_at"] = json!(t);
                }
                if let Some(t) = &s.completed_at {
                    step["completed_at"] = json!(t);
                }
                step
            })
            .collect();
        self.post(
            STEP_UPDATE,
            json!({
                "steps": steps,
                "change_order": self.change_order,
                "workflow_job_run_backend_id": self.job_id,
                "workflow_run_backend_id": self.plan_id,
            }),
        )
        .await
        .map(|_| ())
    }

    /// Uploads a step's log (`step_id` its GUID), or the job's log when `step_id` is `None`.
    pub async fn upload_log(&self, step_id: Option<&str>, text: &str) -> Result<(), ResultsError> {
        let mut ids = json!({
            "workflow_job_run_backend_id": self.job_id,
            "workflow_run_backend_id": self.plan_id,
        });
        if let Some(step) = step_id {
            ids["step_backend_id"] = json!(step);
        }
        let (url_method, metadata_method) = if step_id.is_some() {
            ("GetStepLogsSignedBlobURL", "CreateStepLogsMetadata")
        } else {
            ("GetJobLogsSignedBlobURL", "CreateJobLogsMetadata")
        };
        let signed = self
            .post(&format!("{RECEIVER}{url_method}"), ids.clone())
            .await?;
        let url = signed["logs_url"]
            .as_str()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| ResultsError::Answer(format!("{url_method}: no `logs_url`")))?;
        let mut headers = vec![];
        if signed["blob_storage_type"].as_str() == Some(AZURE_BLOB) {
            headers.push(("x-ms-blob-type", "BlockBlob"));
        }
        self.http
            .send(
                Method::PUT,
                url,
                &Auth::None,
                Body::Bytes(bytes::Bytes::from(text.to_owned()), "text/plain"),
                &headers,
            )
            .await?;
        let mut metadata = ids;
        metadata["uploaded_at"] = json!(super::jobs::timestamp());
        metadata["line_count"] = json!(text.lines().count());
        let answer = self
            .post(&format!("{RECEIVER}{metadata_method}"), metadata)
            .await?;
        if answer["ok"].as_bool() != Some(true) {
            return Err(ResultsError::Answer(format!(
                "{metadata_method} did not answer ok"
            )));
        }
        Ok(())
    }
}
