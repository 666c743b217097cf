//! The broker: where the runner holds a session and long-polls for messages (the current flow).
//!
//! `POST {broker}/session` opens a session for the runner (`TaskAgentSession`: `sessionId`,
//! `ownerName`, `agent{id, name, version, osDescription}`), `GET {broker}/message?sessionId=&
//! status=&runnerVersion=&os=&architecture=&disableUpdate=` waits up to about a minute for a
//! message (`TaskAgentMessage`: `messageId`, `messageType`, `body` as JSON text),
//! `POST {broker}/acknowledge?sessionId=...` with `{runnerRequestId}` says a job request was
//! seen, `DELETE {broker}/session` closes the session. Every call carries the runner's OAuth
//! token; a 401 fetches a new one and tries once more.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value as Json};

use super::auth::TokenSource;
use super::http::{join, percent_encode, Auth, Body, HttpClient, HttpError};
use super::identity::RunnerSettings;
use super::RUNNER_VERSION;

/// How long a long poll may take before the runner gives up on it and asks again.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(90);

/// Why a broker call failed.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Auth(#[from] super::auth::AuthError),
    #[error("the broker no longer knows this runner's session")]
    SessionGone,
    #[error("the runner is no longer registered with GitHub: {0}")]
    RunnerGone(String),
    #[error("unexpected answer from the broker: {0}")]
    Answer(String),
}

impl BrokerError {
    /// Whether trying again (after a wait) may help.
    pub fn is_transient(&self) -> bool {
        match self {
            BrokerError::Http(e) => e.is_transient(),
            BrokerError::Auth(e) => e.is_transient(),
            BrokerError::SessionGone | BrokerError::RunnerGone(_) | BrokerError::Answer(_) => false,
        }
    }
}

/// A message from the broker.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerMessage {
    #[serde(default)]
    pub message_id: i64,
    #[serde(default)]
    pub message_type: String,
    #[serde(default)]
    pub body: String,
}

/// The body of a `RunnerJobRequest` message.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RunnerJobRequestRef {
    pub id: String,
    pub runner_request_id: String,
    pub should_acknowledge: bool,
    pub run_service_url: String,
    pub billing_owner_id: String,
}

/// The runner's status, as the broker is told with each poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunnerStatus {
    Online,
    Busy,
}

impl RunnerStatus {
    fn as_str(self) -> &'static str {
        match self {
            RunnerStatus::Online => "Online",
            RunnerStatus::Busy => "Busy",
        }
    }
}

/// A client of the broker for one runner.
#[derive(Debug, Clone)]
pub struct BrokerClient {
    http: HttpClient,
    base: String,
    tokens: Arc<TokenSource>,
}

/// The architecture as GitHub's runner names it.
pub fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "X64",
        "aarch64" => "ARM64",
        "arm" => "ARM",
        _ => "X64",
    }
}

impl BrokerClient {
    pub fn new(http: HttpClient, base: String, tokens: Arc<TokenSource>) -> BrokerClient {
        BrokerClient { http, base, tokens }
    }

    /// Sends a request with the runner's token; a 401 gets a new token and one more try.
    async fn call(
        &self,
        http: &HttpClient,
        method: Method,
        url: &str,
        body: Body,
    ) -> Result<super::http::Answer, BrokerError> {
        for attempt in 0..2 {
            let token = self.tokens.token().await?;
            match http
                .send(method.clone(), url, &Auth::Bearer(token), body.clone(), &[])
                .await
            {
                Err(e) if e.status() == Some(StatusCode::UNAUTHORIZED) && attempt == 0 => {
                    tracing::info!("the broker refused the token (401): fetching a new one");
                    self.tokens.invalidate().await;
                }
                Err(e) => return Err(broker_error(e)),
                Ok(a) => return Ok(a),
            }
        }
        Err(BrokerError::Answer(
            "refused the runner's token twice".into(),
        ))
    }

    /// Opens a session; returns its id.
    pub async fn create_session(&self, settings: &RunnerSettings) -> Result<String, BrokerError> {
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "RUNNER".to_owned());
        let body = json!({
            "sessionId": "00000000-0000-0000-0000-000000000000",
            "ownerName": format!("{host} (PID: {})", std::process::id()),
            "agent": {
                "id": settings.agent_id,
                "name": settings.agent_name,
                "version": RUNNER_VERSION,
                "osDescription": std::env::consts::OS,
            },
            "useFipsEncryption": false,
        });
        let answer = self
            .call(
                &self.http,
                Method::POST,
                &join(&self.base, "session"),
                Body::Json(body),
            )
            .await?;
        let session: Json = answer
            .json()
            .map_err(|e| BrokerError::Answer(format!("session: {e}")))?;
        session["sessionId"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| BrokerError::Answer("the session has no `sessionId`".into()))
    }

    /// Closes the session.
    pub async fn delete_session(&self) -> Result<(), BrokerError> {
        self.call(
            &self.http,
            Method::DELETE,
            &join(&self.base, "session"),
            Body::Empty,
        )
        .await
        .map(|_| ())
    }

    fn query(&self, session_id: &str, status: RunnerStatus) -> String {
        format!(
            "sessionId={}&status={}&runnerVersion={}&os=Linux&architecture={}&disableUpdate=true",
            percent_encode(session_id),
            status.as_str(),
            RUNNER_VERSION,
            architecture()
        )
    }

    /// Waits for the next message; `None` when the poll ended without one.
    pub async fn get_message(
        &self,
        session_id: &str,
        status: RunnerStatus,
    ) -> Result<Option<BrokerMessage>, BrokerError> {
        let url = format!(
            "{}?{}",
            join(&self.base, "message"),
            self.query(session_id, status)
        );
        let http = self.http.with_timeout(POLL_TIMEOUT);
        let answer = self.call(&http, Method::GET, &url, Body::Empty).await?;
        if answer.status == StatusCode::NO_CONTENT
            || answer.body.iter().all(u8::is_ascii_whitespace)
        {
            return Ok(None);
        }
        let value = answer
            .json()
            .map_err(|e| BrokerError::Answer(format!("message: {e}")))?;
        if value.is_null() {
            return Ok(None);
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| BrokerError::Answer(format!("message: {e}")))
    }

    /// Says that a job request was seen (best effort: the caller logs a failure).
    pub async fn acknowledge(
        &self,
        session_id: &str,
        runner_request_id: &str,
    ) -> Result<(), BrokerError> {
        let url = format!(
            "{}?{}",
            join(&self.base, "acknowledge"),
            self.query(session_id, RunnerStatus::Busy)
        );
        self.call(
            &self.http,
            Method::POST,
            &url,
            Body::Json(json!({"runnerRequestId": runner_request_id})),
        )
        .await
        .map(|_| ())
    }
}

/// The broker's error answers name their kind (`errorKind`) when they come from its listener.
fn broker_error(e: HttpError) -> BrokerError {
    if let Some(body) = e.body() {
        if let Ok(v) = serde_json::from_str::<Json>(body) {
            match v["errorKind"].as_str() {
                Some("RunnerSessionInvalid") => return BrokerError::SessionGone,
                Some("RunnerNotFound") => {
                    return BrokerError::RunnerGone(
                        v["errorMessage"].as_str().unwrap_or_default().to_owned(),
                    )
                }
                _ => {}
            }
        }
    }
    BrokerError::Http(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_request_reference_reads_githubs_member_names() {
        let r: RunnerJobRequestRef = serde_json::from_str(
            r#"{"id":"m1","runner_request_id":"r1","should_acknowledge":true,"run_service_url":"http://x/run/","billing_owner_id":"o"}"#,
        )
        .unwrap();
        assert_eq!(r.runner_request_id, "r1");
        assert!(r.should_acknowledge);
        assert_eq!(r.run_service_url, "http://x/run/");
    }

    #[test]
    fn broker_error_kinds_are_recognised() {
        let e = HttpError::Status {
            method: Method::GET,
            url: "u".into(),
            status: StatusCode::NOT_FOUND,
            body: r#"{"source":"actions-broker-listener","errorKind":"RunnerSessionInvalid"}"#
                .into(),
        };
        assert!(matches!(broker_error(e), BrokerError::SessionGone));
    }
}
