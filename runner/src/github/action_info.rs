//! The job's action download endpoint: which commit each `owner/repo@ref` a job uses resolves
//! to, and where to download its tarball with which token.
//!
//! In the broker flow the endpoint is the launch service named by the job's variable
//! `system.github.launch_endpoint`, asked with the job's token (`SystemVssConnection`'s
//! `AccessToken`): `POST /actions/build/{planId}/jobs/{jobId}/runnerresolve/actions` on that
//! service's origin, body `{"actions": [{"action", "version", "path"}]}`, answer `{"actions":
//! {"<owner/repo>@<ref>": {"name", "resolved_name", "resolved_sha", "tar_url", "version",
//! "authentication": {"token", "expires_at"}, ...}}}`; a 422 names the actions it cannot resolve
//! in `{"errors": {"<key>": {"message"}}}`. Members this runner has no use for are ignored.
//!
//! The answer is hostile input: it is read into typed values with an error naming the entry, and
//! nothing in it can panic or recurse without bound. The token it holds is never shown.

use std::time::Duration;

use http::{Method, StatusCode};
use indexmap::IndexMap;
use serde_json::{json, Value as Json};

use super::backoff::Backoff;
use super::http::{percent_encode, Auth, Body, HttpClient, HttpError};

/// Attempts of one request when the service answers 5xx or cannot be reached.
const ATTEMPTS: u32 = 5;

/// One action to resolve: `owner/repo`, the ref as written, the path inside the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionReference {
    pub name_with_owner: String,
    pub git_ref: String,
    pub path: String,
}

impl ActionReference {
    /// How the service names the action in its answer: `owner/repo@ref`.
    pub fn key(&self) -> String {
        format!("{}@{}", self.name_with_owner, self.git_ref)
    }
}

/// What the service says of one action.
#[derive(Clone, PartialEq, Eq)]
pub struct DownloadInfo {
    pub name_with_owner: String,
    /// The repository's current name (it differs after a rename).
    pub resolved_name_with_owner: String,
    /// The commit the ref resolves to.
    pub resolved_sha: String,
    pub tarball_url: String,
    /// The token to download the tarball with; empty when the service gave none.
    pub token: String,
}

impl std::fmt::Debug for DownloadInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DownloadInfo")
            .field("name_with_owner", &self.name_with_owner)
            .field("resolved_name_with_owner", &self.resolved_name_with_owner)
            .field("resolved_sha", &self.resolved_sha)
            .field("tarball_url", &self.tarball_url)
            .field("token", &if self.token.is_empty() { "" } else { "***" })
            .finish()
    }
}

/// Why the download info could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ActionInfoError {
    #[error("the action download endpoint `{0}` is not an http(s) URL")]
    BadEndpoint(String),
    /// A 422: GitHub cannot resolve these actions (missing, private, or refused by the
    /// organization's policy).
    #[error("GitHub cannot resolve {0}")]
    Unresolvable(String),
    #[error("the action download endpoint failed: {0}")]
    Http(#[from] HttpError),
    #[error("the action download info is not what GitHub sends: {0}")]
    Answer(String),
}

/// The URL of the request: the path on the launch service's origin (as GitHub's runner resolves
/// it against the endpoint).
pub fn endpoint_url(launch: &str, plan_id: &str, job_id: &str) -> Result<String, ActionInfoError> {
    let bad = || ActionInfoError::BadEndpoint(launch.to_owned());
    let uri: http::Uri = launch.parse().map_err(|_| bad())?;
    let scheme = match uri.scheme_str() {
        Some(s @ ("http" | "https")) => s,
        _ => return Err(bad()),
    };
    let authority = uri.authority().ok_or_else(bad)?;
    Ok(format!(
        "{scheme}://{authority}/actions/build/{}/jobs/{}/runnerresolve/actions",
        percent_encode(plan_id),
        percent_encode(job_id)
    ))
}

/// The request's body.
pub fn request_body(actions: &[ActionReference]) -> Json {
    let list: Vec<Json> = actions
        .iter()
        .map(|a| {
            let mut entry = json!({"action": a.name_with_owner, "version": a.git_ref});
            if !a.path.is_empty() {
                entry["path"] = json!(a.path);
            }
            entry
        })
        .collect();
    json!({ "actions": list })
}

/// Reads the answer: download info by key, as the service names them.
pub fn parse_answer(body: &[u8]) -> Result<IndexMap<String, DownloadInfo>, ActionInfoError> {
    let bad = |m: String| ActionInfoError::Answer(m);
    let doc: Json = serde_json::from_slice(body).map_err(|e| bad(format!("not JSON: {e}")))?;
    let Some(actions) = doc.get("actions") else {
        return Err(bad("it has no `actions`".into()));
    };
    let Some(actions) = actions.as_object() else {
        return Err(bad("`actions` is not an object".into()));
    };
    let mut out = IndexMap::new();
    for (key, entry) in actions {
        let Some(entry) = entry.as_object() else {
            return Err(bad(format!("`actions.{key}` is not an object")));
        };
        let text = |member: &str| -> Result<String, ActionInfoError> {
            match entry.get(member) {
                None | Some(Json::Null) => Ok(String::new()),
                Some(Json::String(s)) => Ok(s.clone()),
                Some(_) => Err(bad(format!("`actions.{key}.{member}` is not a string"))),
            }
        };
        let token = match entry.get("authentication") {
            None | Some(Json::Null) => String::new(),
            Some(Json::Object(auth)) => match auth.get("token") {
                None | Some(Json::Null) => String::new(),
                Some(Json::String(t)) => t.clone(),
                Some(_) => {
                    return Err(bad(format!(
                        "`actions.{key}.authentication.token` is not a string"
                    )))
                }
            },
            Some(_) => {
                return Err(bad(format!(
                    "`actions.{key}.authentication` is not an object"
                )))
            }
        };
        out.insert(
            key.clone(),
            DownloadInfo {
                name_with_owner: text("name")?,
                resolved_name_with_owner: text("resolved_name")?,
                resolved_sha: text("resolved_sha")?,
                tarball_url: text("tar_url")?,
                token,
            },
        );
    }
    Ok(out)
}

/// The messages of a 422's `errors`, by key; the body as text when it is not that shape.
pub fn parse_unresolvable(body: &str) -> String {
    let messages: Option<Vec<String>> = serde_json::from_str::<Json>(body)
        .ok()
        .and_then(|doc| {
            let errors = doc.get("errors")?.as_object()?;
            Some(
                errors
                    .iter()
                    .map(|(key, e)| {
                        let message = e.get("message").and_then(Json::as_str).unwrap_or("");
                        format!("`{key}`: {message}")
                    })
                    .collect(),
            )
        })
        .filter(|m: &Vec<String>| !m.is_empty());
    match messages {
        Some(m) => m.join("; "),
        None if body.trim().is_empty() => "the actions (HTTP 422)".to_owned(),
        None => format!("the actions (HTTP 422): {}", body.trim()),
    }
}

/// Where and how to ask.
#[derive(Debug, Clone)]
pub struct ActionInfoClient {
    pub http: HttpClient,
    /// [`endpoint_url`]'s answer.
    pub url: String,
    /// The job's token.
    pub token: String,
    /// The first wait between attempts.
    pub retry_base: Duration,
}

impl ActionInfoClient {
    /// Asks for `actions` in one request, retried with backoff while the service answers 5xx
    /// or cannot be reached.
    pub async fn resolve(
        &self,
        actions: &[ActionReference],
    ) -> Result<IndexMap<String, DownloadInfo>, ActionInfoError> {
        let mut backoff = Backoff::new(self.retry_base, Duration::from_secs(30));
        let auth = Auth::Bearer(self.token.clone());
        loop {
            let sent = self
                .http
                .send(
                    Method::POST,
                    &self.url,
                    &auth,
                    Body::Json(request_body(actions)),
                    &[],
                )
                .await;
            match sent {
                Ok(answer) => return parse_answer(&answer.body),
                Err(e) if e.status() == Some(StatusCode::UNPROCESSABLE_ENTITY) => {
                    return Err(ActionInfoError::Unresolvable(parse_unresolvable(
                        e.body().unwrap_or_default(),
                    )))
                }
                Err(e) if e.is_transient() && backoff.failures() + 1 < ATTEMPTS => {
                    let wait = backoff.next_delay();
                    tracing::warn!(error = %e, ?wait, "action download info failed; retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../tests/fixtures/github/action_download_info.json");

    #[test]
    fn reads_the_answer_of_the_fixture_by_key() {
        let infos = parse_answer(FIXTURE.as_bytes()).unwrap();
        let key = "octo/outer@1111111111111111111111111111111111111111";
        let info = &infos[key];
        assert_eq!(info.name_with_owner, "octo/outer");
        assert_eq!(info.resolved_name_with_owner, "octo/outer");
        assert_eq!(
            info.resolved_sha,
            "1111111111111111111111111111111111111111"
        );
        assert!(info
            .tarball_url
            .ends_with("/tarball/1111111111111111111111111111111111111111"));
        assert_eq!(info.token, "ghs_download_token_1");
        assert!(!format!("{info:?}").contains("ghs_download_token_1"));
        assert_eq!(infos.len(), 2);
        assert_eq!(infos[1].token, "", "no authentication member");
    }

    #[test]
    fn the_request_names_each_action_with_its_version_and_path() {
        let body = request_body(&[
            ActionReference {
                name_with_owner: "octo/a".into(),
                git_ref: "abc".into(),
                path: String::new(),
            },
            ActionReference {
                name_with_owner: "octo/b".into(),
                git_ref: "def".into(),
                path: "sub/dir".into(),
            },
        ]);
        assert_eq!(
            body,
            json!({"actions": [{"action": "octo/a", "version": "abc"},
                               {"action": "octo/b", "version": "def", "path": "sub/dir"}]})
        );
    }

    #[test]
    fn the_endpoint_path_sits_on_the_launch_services_origin() {
        assert_eq!(
            endpoint_url("https://launch.example/some/path/", "p-1", "j/2").unwrap(),
            "https://launch.example/actions/build/p-1/jobs/j%2F2/runnerresolve/actions"
        );
        assert!(endpoint_url("ftp://x", "p", "j").is_err());
        assert!(endpoint_url("not a url", "p", "j").is_err());
        assert!(endpoint_url("/relative", "p", "j").is_err());
    }

    #[test]
    fn answers_of_the_wrong_shape_are_errors_naming_the_member() {
        for (body, says) in [
            ("", "not JSON"),
            ("[]", "no `actions`"),
            (r#"{"actions": 3}"#, "`actions` is not an object"),
            (
                r#"{"actions": {"a@b": []}}"#,
                "`actions.a@b` is not an object",
            ),
            (
                r#"{"actions": {"a@b": {"resolved_sha": 1}}}"#,
                "`actions.a@b.resolved_sha`",
            ),
            (
                r#"{"actions": {"a@b": {"authentication": "t"}}}"#,
                "authentication",
            ),
            (
                r#"{"actions": {"a@b": {"authentication": {"token": []}}}}"#,
                "token",
            ),
        ] {
            let err = parse_answer(body.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(says), "{body}: {err}");
        }
        assert!(parse_answer(br#"{"actions": {}}"#).unwrap().is_empty());
    }

    #[test]
    fn unresolvable_answers_name_each_action_or_keep_the_body() {
        let m = parse_unresolvable(
            r#"{"errors": {"octo/x@v1": {"message": "Unable to resolve action `octo/x@v1`, repository not found"}}}"#,
        );
        assert_eq!(
            m,
            "`octo/x@v1`: Unable to resolve action `octo/x@v1`, repository not found"
        );
        assert_eq!(parse_unresolvable("nope"), "the actions (HTTP 422): nope");
        assert_eq!(parse_unresolvable(""), "the actions (HTTP 422)");
    }

    #[test]
    fn garbage_never_panics() {
        // Deterministic pseudo-random bytes and mutations of the fixture: errors, never panics.
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let fixture = FIXTURE.as_bytes();
        for round in 0..2000 {
            let mut bytes = fixture.to_vec();
            if round % 2 == 0 {
                let len = (next() % 256) as usize;
                bytes = (0..len).map(|_| (next() % 256) as u8).collect();
            } else {
                for _ in 0..(next() % 8 + 1) {
                    let at = (next() as usize) % bytes.len().max(1);
                    if let Some(b) = bytes.get_mut(at) {
                        *b = b"{}[]\":,0a \\"[(next() % 11) as usize];
                    }
                }
            }
            let _ = parse_answer(&bytes);
            let _ = parse_unresolvable(&String::from_utf8_lossy(&bytes));
        }
        let deep = "[".repeat(100_000);
        assert!(parse_answer(deep.as_bytes()).is_err());
    }
}
