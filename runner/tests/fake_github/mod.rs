//! A fake GitHub for the end-to-end tests: one hyper server on loopback that speaks the
//! endpoints `hrun register` and `hrun run` call (registration, OAuth, broker, run service,
//! results service, blob upload, the action download endpoint and the tarballs it names), with
//! the JSON shapes of GitHub's public runner sources (see `tests/fixtures/github/SOURCES.md`),
//! and faults to inject: 5xx storms, tokens that expire, completions that fail first,
//! cancellations, actions that resolve to another commit, tarballs that are missing.

#![allow(dead_code)]

pub mod cli;
pub mod tarball;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value as Json};

/// What the fake was asked, and how it answers.
#[derive(Default)]
pub struct State {
    pub base: String,
    /// The job message `acquirejob` answers (with `__SERVER__`, `__JOB_TOKEN__` replaced).
    pub job: String,
    /// Messages waiting for the runner's next poll.
    pub messages: VecDeque<Json>,
    /// How long issued runner tokens are valid.
    pub token_lifetime: Duration,
    pub tokens: Vec<(String, Instant)>,
    pub token_requests: usize,
    pub unauthorized: usize,
    /// The next this many broker and run-service requests answer 503.
    pub storm: usize,
    pub storm_served: usize,
    /// The next this many completions answer 500.
    pub completion_failures: usize,
    pub completion_attempts: usize,
    pub completions: Vec<Json>,
    pub renewals: usize,
    pub acknowledged: Vec<String>,
    pub registered: Option<Json>,
    pub removed: bool,
    pub blobs: Vec<(String, String)>,
    pub step_updates: Vec<Json>,
    pub log_metadata: Vec<Json>,
    /// Send a `JobCancellation` once the job was renewed this many times.
    pub cancel_after_renewals: Option<usize>,
    pub polls_busy: usize,
    /// The repositories the action download endpoint knows.
    pub actions: Vec<FakeAction>,
    /// The bodies of the action download info requests.
    pub resolve_requests: Vec<Json>,
    /// Tarball requests: path and `Authorization` header.
    pub tarball_requests: Vec<(String, String)>,
}

/// An action repository at one commit, as the fake serves it.
#[derive(Debug, Clone)]
pub struct FakeAction {
    /// `owner/repo`.
    pub name: String,
    /// The ref a job asks for (a commit SHA when pinned).
    pub version: String,
    /// What the download info says it resolves to.
    pub resolved_sha: String,
    /// The `.tar.gz` served.
    pub tarball: Vec<u8>,
    /// 200 serves the tarball (after a redirect); anything else is answered as is.
    pub tarball_status: u16,
}

impl FakeAction {
    /// A repository pinned to `sha` that resolves to it and serves `tarball`.
    pub fn pinned(name: &str, sha: &str, tarball: Vec<u8>) -> FakeAction {
        FakeAction {
            name: name.to_owned(),
            version: sha.to_owned(),
            resolved_sha: sha.to_owned(),
            tarball,
            tarball_status: 200,
        }
    }

    /// The token the download info hands out for this repository.
    pub fn token(&self) -> String {
        format!("ghs_dl_{}", self.name.replace('/', "_"))
    }
}

pub type Shared = Arc<Mutex<State>>;

pub struct FakeGithub {
    pub state: Shared,
    pub addr: SocketAddr,
}

impl FakeGithub {
    pub async fn start(job: String) -> FakeGithub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(State {
            base: format!("http://{addr}"),
            job,
            token_lifetime: Duration::from_secs(3600),
            ..State::default()
        }));
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = Arc::clone(&shared);
                        async move { Ok::<_, Infallible>(handle(shared, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeGithub { state, addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}/octo/hello", self.addr)
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Queues a job request for the runner.
    pub fn queue_job(&self) {
        self.with(|s| {
            let id = s.messages.len() as i64 + 1;
            let base = s.base.clone();
            s.messages.push_back(json!({
                "messageId": id,
                "messageType": "RunnerJobRequest",
                "body": json!({
                    "id": format!("msg-{id}"),
                    "runner_request_id": format!("req-{id}"),
                    "should_acknowledge": true,
                    "run_service_url": format!("{base}/run/"),
                    "billing_owner_id": "",
                }).to_string(),
            }));
        });
    }
}

fn answer(status: StatusCode, body: Json) -> Response<Full<Bytes>> {
    let text = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(text)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn raw(status: StatusCode, headers: &[(&str, &str)], body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(status);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// `POST /actions/build/{plan}/jobs/{job}/runnerresolve/actions`: download info for the actions
/// the fake knows, 422 naming the others.
fn resolve_actions(s: &mut State, base: &str, token: &str, json: Json) -> Response<Full<Bytes>> {
    if token != "job-token-1" {
        return answer(StatusCode::UNAUTHORIZED, Json::Null);
    }
    s.resolve_requests.push(json.clone());
    let mut infos = serde_json::Map::new();
    let mut errors = serde_json::Map::new();
    for asked in json["actions"].as_array().cloned().unwrap_or_default() {
        let name = asked["action"].as_str().unwrap_or_default();
        let version = asked["version"].as_str().unwrap_or_default();
        let key = format!("{name}@{version}");
        match s
            .actions
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name) && a.version == version)
        {
            Some(a) => {
                infos.insert(
                    key,
                    json!({
                        "name": a.name, "resolved_name": a.name, "resolved_sha": a.resolved_sha,
                        "version": a.version,
                        "tar_url": format!("{base}/api/v3/repos/{}/tarball/{}", a.name, a.resolved_sha),
                        "zip_url": format!("{base}/api/v3/repos/{}/zipball/{}", a.name, a.resolved_sha),
                        "authentication": {"token": a.token(), "expires_at": "2099-01-01T00:00:00Z"}
                    }),
                );
            }
            None => {
                errors.insert(
                    key.clone(),
                    json!({"message": format!("Unable to resolve action `{key}`, repository not found")}),
                );
            }
        }
    }
    if !errors.is_empty() {
        return answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "errors": errors }),
        );
    }
    ok(json!({ "actions": infos }))
}

/// `GET /api/v3/repos/{owner}/{repo}/tarball/{sha}` redirects to `/codeload/...`, which serves
/// the tarball.
fn tarball(s: &mut State, path: &str, query: &str, authorization: String) -> Response<Full<Bytes>> {
    s.tarball_requests.push((path.to_owned(), authorization));
    let (codeload, rest) = match path.strip_prefix("/codeload/") {
        Some(rest) => (true, rest),
        None => (
            false,
            path.strip_prefix("/api/v3/repos/").unwrap_or_default(),
        ),
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let (name, sha) = match parts.as_slice() {
        [owner, repo, _, sha] => (format!("{owner}/{repo}"), sha.to_string()),
        _ => return answer(StatusCode::NOT_FOUND, json!({"message": "Not Found"})),
    };
    let Some(action) = s
        .actions
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(&name) && a.resolved_sha == sha)
    else {
        return answer(StatusCode::NOT_FOUND, json!({"message": "Not Found"}));
    };
    if action.tarball_status != 200 {
        let status = StatusCode::from_u16(action.tarball_status)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return answer(status, json!({"message": "Not Found"}));
    }
    if !codeload {
        let location = format!("/codeload/{name}/legacy.tar.gz/{sha}?token=signed");
        return raw(
            StatusCode::FOUND,
            &[("location", location.as_str())],
            Vec::new(),
        );
    }
    if query != "token=signed" {
        return answer(StatusCode::FORBIDDEN, json!({"message": "unsigned"}));
    }
    raw(
        StatusCode::OK,
        &[("content-type", "application/x-gzip")],
        action.tarball.clone(),
    )
}

fn ok(body: Json) -> Response<Full<Bytes>> {
    answer(StatusCode::OK, body)
}

fn bearer(req: &Request<Incoming>) -> String {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned()
}

fn runner_token_valid(s: &State, token: &str) -> bool {
    s.tokens
        .iter()
        .any(|(t, until)| t == token && Instant::now() < *until)
}

async fn handle(shared: Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let token = bearer(&req);
    let remote = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body).into_owned();
    let json: Json = serde_json::from_str(&text).unwrap_or(Json::Null);

    // A token is checked when the request arrives, as a service does.
    let valid_at_arrival = {
        let s = shared.lock().unwrap_or_else(|e| e.into_inner());
        runner_token_valid(&s, &token)
    };
    // The long poll waits a little for a message, outside the lock.
    if path == "/broker/message" && valid_at_arrival {
        for _ in 0..20 {
            let ready = {
                let s = shared.lock().unwrap_or_else(|e| e.into_inner());
                !s.messages.is_empty() || s.storm > 0
            };
            if ready {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
    let base = s.base.clone();
    let storm_path = path.starts_with("/broker/") || path.starts_with("/run/");
    if storm_path && s.storm > 0 {
        s.storm -= 1;
        s.storm_served += 1;
        return answer(StatusCode::SERVICE_UNAVAILABLE, json!({"message": "storm"}));
    }
    if path.starts_with("/broker/") && !valid_at_arrival {
        s.unauthorized += 1;
        return answer(StatusCode::UNAUTHORIZED, Json::Null);
    }
    match (method.as_str(), path.as_str()) {
        ("POST", "/api/v3/actions/runner-registration") => {
            if !remote.starts_with("RemoteAuth ") {
                return answer(StatusCode::UNAUTHORIZED, Json::Null);
            }
            ok(
                json!({"url": format!("{base}/pipelines/"), "token": "tenant-token",
                      "token_schema": "OAuthAccessToken", "use_v2_flow": true}),
            )
        }
        ("GET", "/api/v3/repos/octo/hello/actions/runner-groups") => ok(json!({
            "total_count": 1,
            "runner_groups": [{"id": 1, "name": "Default", "default": true, "is_hosted": false}]
        })),
        ("GET", "/api/v3/repos/octo/hello/actions/runners") => {
            ok(json!({"total_count": 0, "runners": []}))
        }
        ("POST", "/api/v3/actions/runners/register") => {
            s.registered = Some(json.clone());
            ok(json!({"id": 42, "name": json["name"], "authorization": {
                "authorization_url": format!("{base}/oauth/token"),
                "server_url": format!("{base}/broker/"),
                "client_id": "client-42"
            }}))
        }
        ("DELETE", "/api/v3/repos/octo/hello/actions/runners/42") => {
            s.removed = true;
            answer(StatusCode::NO_CONTENT, Json::Null)
        }
        ("POST", "/oauth/token") => {
            let form_ok = text.contains("grant_type=client_credentials")
                && text.contains("client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer")
                && text.contains("client_assertion=");
            if !form_ok {
                return answer(StatusCode::BAD_REQUEST, json!({"error": "invalid_request"}));
            }
            s.token_requests += 1;
            let t = format!("runner-token-{}", s.token_requests);
            let until = Instant::now() + s.token_lifetime;
            s.tokens.push((t.clone(), until));
            ok(json!({"access_token": t, "token_type": "bearer",
                      "expires_in": s.token_lifetime.as_secs().max(1)}))
        }
        ("POST", "/broker/session") => ok(json!({
            "sessionId": "5e55107e-0000-4000-8000-000000000001",
            "ownerName": json["ownerName"], "agent": json["agent"]
        })),
        ("DELETE", "/broker/session") => ok(Json::Null),
        ("GET", "/broker/message") => {
            if query.contains("status=Busy") {
                s.polls_busy += 1;
            }
            if let Some(n) = s.cancel_after_renewals {
                if s.renewals >= n {
                    s.cancel_after_renewals = None;
                    let id = s.messages.len() as i64 + 100;
                    s.messages.push_back(json!({"messageId": id, "messageType": "JobCancellation",
                        "body": json!({"jobId": "a0b1c2d3-0000-4000-8000-000000000002", "timeout": "00:05:00"}).to_string()}));
                }
            }
            match s.messages.pop_front() {
                Some(m) => ok(m),
                None => answer(StatusCode::OK, Json::Null),
            }
        }
        ("POST", "/broker/acknowledge") => {
            s.acknowledged.push(
                json["runnerRequestId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
            ok(Json::Null)
        }
        ("POST", "/run/acquirejob") => {
            if !runner_token_valid(&s, &token) {
                return answer(StatusCode::UNAUTHORIZED, Json::Null);
            }
            let job = s
                .job
                .replace("__WS_SERVER__", &base.replace("http://", "ws://"))
                .replace("__SERVER__", &base)
                .replace("__JOB_TOKEN__", "job-token-1");
            answer(
                StatusCode::OK,
                serde_json::from_str(&job).unwrap_or(Json::Null),
            )
        }
        ("POST", "/run/renewjob") => {
            if token != "job-token-1" {
                return answer(StatusCode::UNAUTHORIZED, Json::Null);
            }
            s.renewals += 1;
            ok(json!({"lockedUntil": "2099-01-01T00:00:00Z"}))
        }
        ("POST", "/run/completejob") => {
            if token != "job-token-1" {
                return answer(StatusCode::UNAUTHORIZED, Json::Null);
            }
            s.completion_attempts += 1;
            if s.completion_failures > 0 {
                s.completion_failures -= 1;
                return answer(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"message": "try later"}),
                );
            }
            s.completions.push(json);
            ok(Json::Null)
        }
        ("POST", p)
            if p.starts_with("/actions/build/") && p.ends_with("/runnerresolve/actions") =>
        {
            resolve_actions(&mut s, &base, &token, json)
        }
        ("GET", p) if p.starts_with("/api/v3/repos/") || p.starts_with("/codeload/") => {
            tarball(&mut s, p, &query, remote)
        }
        ("POST", p) if p.starts_with("/results/twirp/results.services.receiver.Receiver/Get") => {
            let name = json["step_backend_id"].as_str().unwrap_or("job").to_owned();
            ok(json!({"logs_url": format!("{base}/blob/{name}?sig=x"),
                      "blob_storage_type": "BLOB_STORAGE_TYPE_AZURE"}))
        }
        ("POST", p)
            if p.starts_with("/results/twirp/results.services.receiver.Receiver/Create") =>
        {
            s.log_metadata.push(json);
            ok(json!({"ok": true}))
        }
        ("POST", p) if p.ends_with("/WorkflowStepsUpdate") => {
            s.step_updates.push(json);
            ok(json!({}))
        }
        ("PUT", p) if p.starts_with("/blob/") => {
            s.blobs
                .push((p.trim_start_matches("/blob/").to_owned(), text));
            answer(StatusCode::CREATED, Json::Null)
        }
        _ => answer(
            StatusCode::NOT_FOUND,
            json!({"message": format!("no route {method} {path}")}),
        ),
    }
}
