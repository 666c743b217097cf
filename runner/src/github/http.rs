//! The one HTTP client of the runner protocol: JSON and form requests to GitHub's services, with
//! a timeout on every request and a cap on what a response may hold.
//!
//! HTTPS goes through rustls (ring) with the system's trust store (GHES hosts often add their own
//! CA there); plain HTTP is accepted too, because GHES can be configured without TLS and the
//! tests' fake service listens on loopback. Errors say which request failed and keep the status
//! and a short, bounded part of the body, never the request's authorization.

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

/// The most a response body may hold (a job message with large contexts stays well below).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// How much of an error body is kept in messages.
const ERROR_BODY_SHOWN: usize = 400;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{method} {url}: invalid request: {message}")]
    Invalid {
        method: Method,
        url: String,
        message: String,
    },
    #[error("{method} {url}: cannot connect: {message}")]
    Connect {
        method: Method,
        url: String,
        message: String,
    },
    #[error("{method} {url}: no answer within {seconds} s")]
    Timeout {
        method: Method,
        url: String,
        seconds: u64,
    },
    #[error("{method} {url}: HTTP {status}: {body}")]
    Status {
        method: Method,
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("{method} {url}: unexpected answer: {message}")]
    Body {
        method: Method,
        url: String,
        message: String,
    },
}

impl HttpError {
    /// The HTTP status, when the service answered with an error.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether trying again may help: no connection, a timeout, a 5xx or a 429.
    pub fn is_transient(&self) -> bool {
        match self {
            HttpError::Connect { .. } | HttpError::Timeout { .. } => true,
            HttpError::Status { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            HttpError::Invalid { .. } | HttpError::Body { .. } => false,
        }
    }

    /// The body of an error answer, as far as it was kept.
    pub fn body(&self) -> Option<&str> {
        match self {
            HttpError::Status { body, .. } => Some(body),
            _ => None,
        }
    }
}

/// How a request authenticates.
#[derive(Clone)]
pub enum Auth {
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `Authorization: RemoteAuth <token>`: a registration or removal token.
    Registration(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::None => "Auth::None",
            Auth::Bearer(_) => "Auth::Bearer(***)",
            Auth::Registration(_) => "Auth::Registration(***)",
        })
    }
}

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    Empty,
    Json(Json),
    /// `application/x-www-form-urlencoded`.
    Form(Vec<(String, String)>),
    /// Raw bytes with their content type.
    Bytes(Bytes, &'static str),
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON (`null` when empty).
    pub fn json(&self) -> Result<Json, serde_json::Error> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Json::Null);
        }
        serde_json::from_slice(&self.body)
    }
}

/// The protocol's HTTP client. Cheap to clone.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
    user_agent: HeaderValue,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The `User-Agent` the runner sends: GitHub's services read the runner's version from it.
pub fn user_agent() -> String {
    format!(
        "GitHubActionsRunner-hrun/{} hrun/{}",
        super::RUNNER_VERSION,
        env!("CARGO_PKG_VERSION")
    )
}

impl HttpClient {
    /// A client whose requests time out after `timeout`.
    pub fn new(timeout: Duration) -> Result<HttpClient, String> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| format!("cannot read the system's trusted certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(HttpClient {
            client,
            timeout,
            user_agent: HeaderValue::from_str(&user_agent())
                .unwrap_or_else(|_| HeaderValue::from_static("hrun")),
        })
    }

    /// This client with another timeout (long polls wait longer than other calls).
    pub fn with_timeout(&self, timeout: Duration) -> HttpClient {
        HttpClient {
            timeout,
            ..self.clone()
        }
    }

    /// Sends a request; an answer that is not 2xx is an [`HttpError::Status`].
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        auth: &Auth,
        body: Body,
        headers: &[(&str, &str)],
    ) -> Result<Answer, HttpError> {
        let invalid = |message: String| HttpError::Invalid {
            method: method.clone(),
            url: url.to_owned(),
            message,
        };
        let mut builder = Request::builder()
            .method(method.clone())
            .uri(url)
            .header(header::USER_AGENT, self.user_agent.clone())
            .header(header::ACCEPT, "application/json");
        match auth {
            Auth::None => {}
            Auth::Bearer(t) => {
                builder = builder.header(header::AUTHORIZATION, format!("Bearer {t}"))
            }
            Auth::Registration(t) => {
                builder = builder.header(header::AUTHORIZATION, format!("RemoteAuth {t}"))
            }
        }
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let bytes = match body {
            Body::Empty => Bytes::new(),
            Body::Json(json) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(&json).map_err(|e| invalid(e.to_string()))?)
            }
            Body::Form(pairs) => {
                builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Bytes::from(form_encode(&pairs))
            }
            Body::Bytes(b, content_type) => {
                builder = builder.header(header::CONTENT_TYPE, content_type);
                b
            }
        };
        let request = builder
            .body(Full::new(bytes))
            .map_err(|e| invalid(e.to_string()))?;
        let timeout = self.timeout;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| HttpError::Connect {
                    method: method.clone(),
                    url: url.to_owned(),
                    message: error_chain(&e),
                })?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| HttpError::Body {
                    method: method.clone(),
                    url: url.to_owned(),
                    message: e.to_string(),
                })?
                .to_bytes();
            Ok::<_, HttpError>(Answer {
                status: parts.status,
                body,
            })
        };
        let answer = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| HttpError::Timeout {
                method: method.clone(),
                url: url.to_owned(),
                seconds: timeout.as_secs(),
            })??;
        if !answer.status.is_success() {
            let text = String::from_utf8_lossy(&answer.body);
            let shown: String = text.chars().take(ERROR_BODY_SHOWN).collect();
            return Err(HttpError::Status {
                method,
                url: url.to_owned(),
                status: answer.status,
                body: shown,
            });
        }
        Ok(answer)
    }

    /// Sends a request and reads the answer as `T`.
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &str,
        auth: &Auth,
        body: Body,
    ) -> Result<T, HttpError> {
        let answer = self.send(method.clone(), url, auth, body, &[]).await?;
        let body = if answer.body.iter().all(u8::is_ascii_whitespace) {
            Bytes::from_static(b"null")
        } else {
            answer.body
        };
        serde_json::from_slice(&body).map_err(|e| HttpError::Body {
            method,
            url: url.to_owned(),
            message: e.to_string(),
        })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `application/x-www-form-urlencoded` encoding of pairs.
pub fn form_encode(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `base` and `path` joined with exactly one `/`.
pub fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_escapes_reserved_characters() {
        let pairs = vec![
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            (
                "client_assertion_type".to_owned(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
        ];
        assert_eq!(
            form_encode(&pairs),
            "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
        );
    }

    #[test]
    fn join_puts_one_slash_between() {
        assert_eq!(join("http://x/a/", "/b"), "http://x/a/b");
        assert_eq!(join("http://x/a", "b"), "http://x/a/b");
    }

    #[test]
    fn only_connection_errors_5xx_and_429_are_transient() {
        let status = |s: u16| HttpError::Status {
            method: Method::GET,
            url: "u".into(),
            status: StatusCode::from_u16(s).unwrap(),
            body: String::new(),
        };
        assert!(status(503).is_transient());
        assert!(status(429).is_transient());
        assert!(!status(404).is_transient());
        assert!(!status(401).is_transient());
    }
}
