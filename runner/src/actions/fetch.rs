//! Downloads a repository tarball, streaming the body to a file while hashing it, with octocrab:
//! through the GitHub API (`GET /repos/{owner}/{repo}/tarball/{sha}`, `hrun actions pull`), or
//! from the URL a job's action download info names with the token it came with (`hrun run`).
//!
//! Redirects are followed here rather than inside the HTTP stack so the rules are visible: at
//! most [`MAX_REDIRECTS`] hops, never from `https` down to `http`, and the token goes only to
//! the origin of the first URL (GitHub sends the tarball from another host with a signed URL).
//! The token never appears in an error, a record or a log line, and neither does the query of a
//! URL (where signed URLs carry their credentials).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::{StatusCode, Uri};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

use super::digest::Sha256Hex;
use super::pin::PinnedRepo;

/// GitHub's public API; `GITHUB_API_URL` overrides it, as on GitHub's own runners.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// Hops followed before giving up.
pub const MAX_REDIRECTS: usize = 5;

/// Compressed bytes accepted from the API for one tarball.
pub const MAX_DOWNLOAD_BYTES: u64 = 512 << 20;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a tarball could not be downloaded.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("`{url}` is not an http(s) URL for the GitHub API (set by GITHUB_API_URL)")]
    BadApiUrl { url: String },
    #[error("`{url}` is not an http(s) URL of a tarball")]
    BadTarballUrl { url: String },
    #[error("cannot set up the GitHub API client for {origin}: {}", chain(error))]
    Client {
        origin: String,
        error: octocrab::Error,
    },
    #[error("request to {url} failed: {}", chain(error))]
    Request { url: String, error: octocrab::Error },
    #[error(
        "GitHub has no tarball of {pin} (HTTP 404 from {url}): the repository or the commit does \
         not exist, or the repository is private and {auth}"
    )]
    NotFound {
        pin: String,
        url: String,
        auth: &'static str,
    },
    #[error("GitHub refused the tarball of {pin} (HTTP {status} from {url}): {hint}")]
    Refused {
        pin: String,
        url: String,
        status: u16,
        hint: &'static str,
    },
    #[error("{url} answered HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url} redirected more than {MAX_REDIRECTS} times")]
    TooManyRedirects { url: String },
    #[error("{url} redirected to `{location}`, which hrun does not follow ({why})")]
    BadRedirect {
        url: String,
        location: String,
        why: &'static str,
    },
    #[error("the tarball from {url} is larger than {max} bytes")]
    TooLarge { url: String, max: u64 },
    #[error("cannot read the tarball from {url}: {}", chain(error))]
    Body { url: String, error: octocrab::Error },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where the GitHub API is and the token to show it, if any.
#[derive(Clone)]
pub struct GitHubApi {
    base: Uri,
    token: Option<String>,
}

impl std::fmt::Debug for GitHubApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubApi")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

impl GitHubApi {
    /// `base_url` as `GITHUB_API_URL` holds it (`https://api.github.com`,
    /// `https://ghes.example/api/v3`); an empty token counts as none.
    pub fn new(base_url: &str, token: Option<String>) -> Result<GitHubApi, FetchError> {
        let bad = || FetchError::BadApiUrl {
            url: base_url.to_string(),
        };
        let base: Uri = base_url.trim_end_matches('/').parse().map_err(|_| bad())?;
        let scheme_ok = matches!(base.scheme_str(), Some("http" | "https"));
        if !scheme_ok || base.authority().is_none() || base.query().is_some() {
            return Err(bad());
        }
        Ok(GitHubApi {
            base,
            token: token.filter(|t| !t.is_empty()),
        })
    }

    /// `GITHUB_API_URL` (default [`DEFAULT_API_URL`]) and `GITHUB_TOKEN`.
    pub fn from_env() -> Result<GitHubApi, FetchError> {
        let url = std::env::var("GITHUB_API_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| DEFAULT_API_URL.to_string());
        GitHubApi::new(&url, std::env::var("GITHUB_TOKEN").ok())
    }

    /// The API's URL of the tarball of `pin`.
    pub fn tarball_url(&self, pin: &PinnedRepo) -> String {
        format!(
            "{}/repos/{}/{}/tarball/{}",
            self.base.to_string().trim_end_matches('/'),
            pin.owner(),
            pin.repo(),
            pin.sha()
        )
    }
}

/// How a tarball request authenticates. Sent only to the origin of the first URL.
#[derive(Clone)]
enum Credential {
    None,
    /// `Authorization: Bearer <token>`: the API's token (`GITHUB_TOKEN`).
    Bearer(String),
    /// `Authorization: Basic base64(x-access-token:<token>)`: how GitHub's runner presents the
    /// token of a job's action download info.
    AccessToken(String),
}

/// What a refusal says about the credential, by status.
#[derive(Clone, Copy)]
struct Hints {
    not_found_with_token: &'static str,
    not_found_without_token: &'static str,
    unauthorized: &'static str,
    forbidden: &'static str,
}

const API_HINTS: Hints = Hints {
    not_found_with_token: "GITHUB_TOKEN cannot read it",
    not_found_without_token: "GITHUB_TOKEN is not set",
    unauthorized: "GITHUB_TOKEN is not valid",
    forbidden: "the token lacks access, or the API rate limit is reached (set GITHUB_TOKEN)",
};

const RESOLVED_HINTS: Hints = Hints {
    not_found_with_token: "the job's action download token cannot read it",
    not_found_without_token: "the job's action download info gave no token",
    unauthorized: "the job's action download token is not valid (expired?)",
    forbidden: "the job's action download token lacks access, or a rate limit is reached",
};

/// Where a tarball is downloaded from: its first URL and the credential for that URL's origin.
#[derive(Clone)]
pub struct TarballSource {
    url: Uri,
    credential: Credential,
    hints: Hints,
}

impl std::fmt::Debug for TarballSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TarballSource")
            .field("url", &shown(&self.url))
            .field(
                "credential",
                &match self.credential {
                    Credential::None => "none",
                    Credential::Bearer(_) => "bearer ***",
                    Credential::AccessToken(_) => "x-access-token ***",
                },
            )
            .finish()
    }
}

impl TarballSource {
    /// The API's tarball of `pin`, with the API's token.
    pub fn api(api: &GitHubApi, pin: &PinnedRepo) -> Result<TarballSource, FetchError> {
        let first = api.tarball_url(pin);
        let url: Uri = first
            .parse()
            .map_err(|_| FetchError::BadApiUrl { url: first.clone() })?;
        Ok(TarballSource {
            url,
            credential: api
                .token
                .clone()
                .map_or(Credential::None, Credential::Bearer),
            hints: API_HINTS,
        })
    }

    /// The tarball URL of a job's action download info and its token (an empty one counts as
    /// none), sent as GitHub's runner sends it.
    pub fn resolved(url: &str, token: Option<String>) -> Result<TarballSource, FetchError> {
        let bad = || FetchError::BadTarballUrl {
            url: strip_query(url),
        };
        let parsed: Uri = url.parse().map_err(|_| bad())?;
        let scheme_ok = matches!(parsed.scheme_str(), Some("http" | "https"));
        if !scheme_ok || parsed.authority().is_none() {
            return Err(bad());
        }
        Ok(TarballSource {
            url: parsed,
            credential: token
                .filter(|t| !t.is_empty())
                .map_or(Credential::None, Credential::AccessToken),
            hints: RESOLVED_HINTS,
        })
    }

    /// The first URL without its query: what records and messages show.
    pub fn shown_url(&self) -> String {
        shown(&self.url)
    }
}

/// A tarball written to disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    pub sha256: Sha256Hex,
    pub bytes: u64,
    /// The API URL asked first (before redirects, which may carry signed credentials).
    pub url: String,
}

/// Downloads the tarball of `pin` from `source` into `to` (created, or truncated), at most
/// `max_bytes`.
pub async fn download_from(
    source: &TarballSource,
    pin: &PinnedRepo,
    to: &Path,
    max_bytes: u64,
) -> Result<Downloaded, FetchError> {
    let first = source.shown_url();
    let mut url = source.url.clone();
    for _ in 0..=MAX_REDIRECTS {
        let shown_now = shown(&url);
        let response = get(source, &url).await?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| FetchError::BadRedirect {
                    url: shown_now.clone(),
                    location: String::new(),
                    why: "no readable Location header",
                })?;
            url = follow(&url, location)?;
            continue;
        }
        if status == StatusCode::OK {
            let (sha256, bytes) =
                save_body(response.into_body(), &shown_now, to, max_bytes).await?;
            return Ok(Downloaded {
                sha256,
                bytes,
                url: first,
            });
        }
        let pin = pin.to_string();
        let hints = source.hints;
        return Err(match status {
            StatusCode::NOT_FOUND => FetchError::NotFound {
                pin,
                url: shown_now,
                auth: if matches!(source.credential, Credential::None) {
                    hints.not_found_without_token
                } else {
                    hints.not_found_with_token
                },
            },
            StatusCode::UNAUTHORIZED => FetchError::Refused {
                pin,
                url: shown_now,
                status: status.as_u16(),
                hint: hints.unauthorized,
            },
            StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS => FetchError::Refused {
                pin,
                url: shown_now,
                status: status.as_u16(),
                hint: hints.forbidden,
            },
            other => FetchError::Status {
                url: shown_now,
                status: other.as_u16(),
                body: body_excerpt(response.into_body()).await,
            },
        });
    }
    Err(FetchError::TooManyRedirects { url: first })
}

/// What octocrab hands back as a response body.
type Body = http_body_util::combinators::BoxBody<bytes::Bytes, octocrab::Error>;

/// One GET through a client whose base is `url`'s origin; the credential is attached only when
/// that is the origin of the source's first URL.
async fn get(source: &TarballSource, url: &Uri) -> Result<http::Response<Body>, FetchError> {
    let client = client_for(source, url)?;
    let path = url.path_and_query().map_or("/", |p| p.as_str());
    client
        ._get(path)
        .await
        .map_err(|error| FetchError::Request {
            url: shown(url),
            error,
        })
}

/// A client for `url`'s origin (octocrab's builder is not `Send`: it is kept out of futures).
fn client_for(source: &TarballSource, url: &Uri) -> Result<octocrab::Octocrab, FetchError> {
    let origin = origin_of(url);
    let mut builder = octocrab::Octocrab::builder()
        .set_connect_timeout(Some(CONNECT_TIMEOUT))
        .set_read_timeout(Some(READ_TIMEOUT));
    if same_origin(url, &source.url) {
        match &source.credential {
            Credential::None => {}
            Credential::Bearer(token) => builder = builder.personal_token(token.clone()),
            Credential::AccessToken(token) => {
                builder = builder.basic_auth("x-access-token".to_owned(), token.clone())
            }
        }
    }
    let client_error = |error| FetchError::Client {
        origin: origin.clone(),
        error,
    };
    builder
        .base_uri(origin.as_str())
        .map_err(client_error)?
        .build()
        .map_err(client_error)
}

/// `url` without its query.
fn shown(url: &Uri) -> String {
    strip_query(&url.to_string())
}

fn strip_query(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or_default().to_owned()
}

/// An error and its causes on one line. octocrab's messages already quote their cause, and
/// hyper's repeat theirs, so a cause the line already holds is left out.
fn chain(error: &octocrab::Error) -> String {
    let mut line = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(err) = cause {
        let text = err.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = err.source();
    }
    line
}

fn origin_of(url: &Uri) -> String {
    format!(
        "{}://{}",
        url.scheme_str().unwrap_or("https"),
        url.authority().map_or("", |a| a.as_str())
    )
}

fn same_origin(a: &Uri, b: &Uri) -> bool {
    a.scheme_str() == b.scheme_str() && a.authority() == b.authority()
}

/// The next URL after a redirect from `from` to `location`.
fn follow(from: &Uri, location: &str) -> Result<Uri, FetchError> {
    let bad = |why| FetchError::BadRedirect {
        url: shown(from),
        location: strip_query(location),
        why,
    };
    let absolute = if location.starts_with("//") {
        format!("{}:{location}", from.scheme_str().unwrap_or("https"))
    } else if location.starts_with('/') {
        format!("{}{location}", origin_of(from))
    } else {
        location.to_string()
    };
    let next: Uri = absolute.parse().map_err(|_| bad("not a URL"))?;
    match (from.scheme_str(), next.scheme_str()) {
        (_, Some("https")) | (Some("http"), Some("http")) => {}
        (Some("https"), Some("http")) => return Err(bad("it leaves https for http")),
        _ => return Err(bad("not an http(s) URL")),
    }
    if next.authority().is_none() {
        return Err(bad("no host"));
    }
    Ok(next)
}

async fn save_body(
    mut body: Body,
    url: &str,
    to: &Path,
    max_bytes: u64,
) -> Result<(Sha256Hex, u64), FetchError> {
    let write_error = |source| FetchError::Write {
        path: to.to_path_buf(),
        source,
    };
    // Plain blocking writes: chunks are small and the file is local; the download dominates.
    let mut file = std::fs::File::create(to).map_err(write_error)?;
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| FetchError::Body {
            url: url.to_string(),
            error,
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        bytes = bytes.saturating_add(data.len() as u64);
        if bytes > max_bytes {
            return Err(FetchError::TooLarge {
                url: url.to_string(),
                max: max_bytes,
            });
        }
        hasher.update(&data);
        file.write_all(&data).map_err(write_error)?;
    }
    file.sync_all().map_err(write_error)?;
    Ok((Sha256Hex::from_hasher(hasher), bytes))
}

/// The start of an error response, for the message.
async fn body_excerpt(mut body: Body) -> String {
    let mut text = Vec::new();
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            text.extend_from_slice(&data);
        }
        if text.len() >= 512 {
            break;
        }
    }
    text.truncate(512);
    String::from_utf8_lossy(&text).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(text: &str) -> Uri {
        text.parse().expect("uri")
    }

    #[test]
    fn follows_absolute_root_relative_and_scheme_relative_locations() {
        let from = uri("https://api.github.com/repos/o/r/tarball/x");
        assert_eq!(
            follow(&from, "https://codeload.github.com/o/r/legacy.tar.gz/x")
                .expect("absolute")
                .to_string(),
            "https://codeload.github.com/o/r/legacy.tar.gz/x"
        );
        assert_eq!(
            follow(&from, "/elsewhere?a=1")
                .expect("relative")
                .to_string(),
            "https://api.github.com/elsewhere?a=1"
        );
        assert_eq!(
            follow(&from, "//cdn.example/t")
                .expect("scheme-relative")
                .to_string(),
            "https://cdn.example/t"
        );
    }

    #[test]
    fn refuses_a_redirect_from_https_to_http_or_to_other_schemes() {
        let from = uri("https://api.github.com/x");
        assert!(matches!(
            follow(&from, "http://api.github.com/y"),
            Err(FetchError::BadRedirect { .. })
        ));
        assert!(matches!(
            follow(&from, "file:///etc/passwd"),
            Err(FetchError::BadRedirect { .. })
        ));
        assert!(matches!(
            follow(&from, "relative/path"),
            Err(FetchError::BadRedirect { .. })
        ));
    }

    #[test]
    fn api_url_keeps_its_path_and_hides_the_token_in_debug() {
        let api = GitHubApi::new(
            "https://ghes.example/api/v3/",
            Some("ghp_secret".to_string()),
        )
        .expect("api");
        let pin = PinnedRepo::new("o", "r", &"a".repeat(40)).expect("pin");
        assert_eq!(
            api.tarball_url(&pin),
            format!(
                "https://ghes.example/api/v3/repos/o/r/tarball/{}",
                "a".repeat(40)
            )
        );
        assert!(!format!("{api:?}").contains("ghp_secret"));
        assert!(GitHubApi::new("ftp://x", None).is_err());
        assert!(GitHubApi::new("not a url", None).is_err());
    }

    #[test]
    fn a_resolved_source_hides_its_token_and_the_query_of_its_url() {
        let source = TarballSource::resolved(
            "https://api.github.com/repos/o/r/tarball/abc?sig=s3cret",
            Some("ghs_download".to_string()),
        )
        .expect("source");
        assert_eq!(
            source.shown_url(),
            "https://api.github.com/repos/o/r/tarball/abc"
        );
        let debug = format!("{source:?}");
        assert!(
            !debug.contains("ghs_download") && !debug.contains("s3cret"),
            "{debug}"
        );
        assert!(TarballSource::resolved("file:///etc/passwd", None).is_err());
        assert!(TarballSource::resolved("/relative/path", None).is_err());
        let err = TarballSource::resolved("ftp://x/y?sig=s3cret", None).unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }

    #[test]
    fn token_goes_only_to_the_api_origin() {
        let api = uri("https://api.github.com");
        assert!(same_origin(&uri("https://api.github.com/repos/x"), &api));
        assert!(!same_origin(&uri("https://codeload.github.com/x"), &api));
        assert!(!same_origin(&uri("http://api.github.com/x"), &api));
    }
}
