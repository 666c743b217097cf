//! The value of a `uses:` key, parsed into a type that can only hold a well-formed reference,
//! and classified by how firmly it pins the code it names.
//!
//! The forms are the ones GitHub accepts: a local path (`./dir`), a same-repository path
//! (`$/dir`), a container image (`docker://image[:tag][@sha256:digest]`) and a repository
//! reference (`owner/repo[/path]@ref`), which names an action or, under `.github/workflows/`, a
//! reusable workflow. This module does no I/O.

use std::fmt;

/// Why a `uses:` value is not a reference at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsesRefError {
    #[error("`uses` is empty")]
    Empty,
    #[error("`uses` must not contain whitespace")]
    Whitespace,
    #[error("`uses` must not contain an expression: GitHub resolves it before any context exists")]
    Expression,
    #[error("`docker://` must be followed by an image name")]
    EmptyImage,
    #[error("expected `owner/repo[/path]@ref`, but there is no `@ref`")]
    MissingRef,
    #[error("expected `owner/repo[/path]@ref`, but the ref after `@` is empty")]
    EmptyRef,
    #[error("expected `owner/repo[/path]@ref`, but there is no `/repo`")]
    MissingRepository,
    #[error("`{0}` is not a valid owner name")]
    InvalidOwner(String),
    #[error("`{0}` is not a valid repository name")]
    InvalidRepository(String),
    #[error("the path inside the repository has an empty segment")]
    EmptyPathSegment,
}

/// A full 40-hex-digit git commit SHA, as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommitSha(String);

impl CommitSha {
    pub fn parse(text: &str) -> Option<CommitSha> {
        (text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| CommitSha(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A SHA-256 image digest: 64 lowercase hex digits (the form registries use).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sha256Digest(String);

impl Sha256Digest {
    pub fn parse(hex: &str) -> Option<Sha256Digest> {
        (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Sha256Digest(hex.to_string()))
    }

    /// The 64 hex digits, without `sha256:`.
    pub fn hex(&self) -> &str {
        &self.0
    }
}

/// What follows the `@` of a repository reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GitRef {
    /// A full commit SHA: immutable.
    FullSha(CommitSha),
    /// A tag, a branch or an abbreviated SHA: each can come to name other code.
    Other(String),
}

impl GitRef {
    fn classify(text: &str) -> GitRef {
        match CommitSha::parse(text) {
            Some(sha) => GitRef::FullSha(sha),
            None => GitRef::Other(text.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            GitRef::FullSha(sha) => sha.as_str(),
            GitRef::Other(text) => text,
        }
    }
}

/// `owner/repo[/path]@ref`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepositoryRef {
    owner: String,
    repo: String,
    path: Option<String>,
    git_ref: GitRef,
}

impl RepositoryRef {
    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn repo(&self) -> &str {
        &self.repo
    }

    /// The directory (action) or file (reusable workflow) inside the repository, if any.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    pub fn git_ref(&self) -> &GitRef {
        &self.git_ref
    }

    /// Whether this names a reusable workflow rather than an action.
    pub fn is_reusable_workflow(&self) -> bool {
        self.path
            .as_deref()
            .is_some_and(|path| path.starts_with(".github/workflows/"))
    }
}

/// `docker://image[:tag][@sha256:digest]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DockerImageRef {
    /// Everything after `docker://`.
    reference: String,
    digest: Option<Sha256Digest>,
}

impl DockerImageRef {
    pub fn reference(&self) -> &str {
        &self.reference
    }

    pub fn digest(&self) -> Option<&Sha256Digest> {
        self.digest.as_ref()
    }
}

/// A well-formed `uses:` value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UsesRef {
    /// `./path` (or `.\\path`): an action or reusable workflow in the repository being run.
    Local(String),
    /// `$/path`: the same repository, named explicitly.
    SameRepository(String),
    Docker(DockerImageRef),
    Repository(RepositoryRef),
}

/// How firmly a reference pins the code it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinStatus {
    /// Comes from the repository being linted, at the commit being linted.
    Exempt,
    /// A full commit SHA or an image digest.
    Pinned,
    /// A tag, a branch, an abbreviated SHA or an image without a digest.
    Unpinned,
}

impl UsesRef {
    pub fn parse(text: &str) -> Result<UsesRef, UsesRefError> {
        if text.is_empty() {
            return Err(UsesRefError::Empty);
        }
        if text.contains("${{") {
            return Err(UsesRefError::Expression);
        }
        if text.chars().any(char::is_whitespace) {
            return Err(UsesRefError::Whitespace);
        }
        if text.starts_with("./") || text.starts_with(".\\") || text == "." {
            return Ok(UsesRef::Local(text.to_string()));
        }
        if let Some(path) = text.strip_prefix("$/") {
            return Ok(UsesRef::SameRepository(path.to_string()));
        }
        if let Some(image) = strip_prefix_ignore_case(text, "docker://") {
            return parse_docker(image).map(UsesRef::Docker);
        }
        parse_repository(text).map(UsesRef::Repository)
    }

    pub fn pin_status(&self) -> PinStatus {
        match self {
            UsesRef::Local(_) | UsesRef::SameRepository(_) => PinStatus::Exempt,
            UsesRef::Docker(image) if image.digest.is_some() => PinStatus::Pinned,
            UsesRef::Docker(_) => PinStatus::Unpinned,
            UsesRef::Repository(repo) => match repo.git_ref {
                GitRef::FullSha(_) => PinStatus::Pinned,
                GitRef::Other(_) => PinStatus::Unpinned,
            },
        }
    }
}

impl fmt::Display for UsesRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsesRef::Local(path) => f.write_str(path),
            UsesRef::SameRepository(path) => write!(f, "$/{path}"),
            UsesRef::Docker(image) => write!(f, "docker://{}", image.reference),
            UsesRef::Repository(repo) => {
                write!(f, "{}/{}", repo.owner, repo.repo)?;
                if let Some(path) = &repo.path {
                    write!(f, "/{path}")?;
                }
                write!(f, "@{}", repo.git_ref.as_str())
            }
        }
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text.get(prefix.len()..))
        .flatten()
}

fn parse_docker(image: &str) -> Result<DockerImageRef, UsesRefError> {
    if image.is_empty() {
        return Err(UsesRefError::EmptyImage);
    }
    // A digest can only come last: `name[:tag]@sha256:hex`. Anything else after `@` (another
    // algorithm, a short digest) leaves the image unpinned.
    let digest = image
        .rsplit_once('@')
        .and_then(|(_, digest)| digest.strip_prefix("sha256:"))
        .and_then(Sha256Digest::parse);
    Ok(DockerImageRef {
        reference: image.to_string(),
        digest,
    })
}

fn parse_repository(text: &str) -> Result<RepositoryRef, UsesRefError> {
    let (target, git_ref) = text.rsplit_once('@').ok_or(UsesRefError::MissingRef)?;
    if git_ref.is_empty() {
        return Err(UsesRefError::EmptyRef);
    }
    let mut parts = target.splitn(3, '/');
    let owner = parts.next().unwrap_or_default();
    let repo = parts.next().ok_or(UsesRefError::MissingRepository)?;
    let path = parts.next();
    if !is_owner_name(owner) {
        return Err(UsesRefError::InvalidOwner(owner.to_string()));
    }
    if !is_repository_name(repo) {
        return Err(UsesRefError::InvalidRepository(repo.to_string()));
    }
    if let Some(path) = path {
        if path.split('/').any(str::is_empty) {
            return Err(UsesRefError::EmptyPathSegment);
        }
    }
    Ok(RepositoryRef {
        owner: owner.to_string(),
        repo: repo.to_string(),
        path: path.map(str::to_string),
        git_ref: GitRef::classify(git_ref),
    })
}

/// GitHub user and organization names: letters, digits and hyphens (enterprise-managed users
/// add `_`).
pub(crate) fn is_owner_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_repository_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "b4ffde65f46336ab88eb53be808477a3936bae11";
    const DIGEST: &str = "c5b1261d6d3e43071626931fc004f70149baeba2c8ec672bd4f27761f8e1ad6b";

    fn pin(text: &str) -> PinStatus {
        UsesRef::parse(text)
            .map(|r| r.pin_status())
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn tag_pinned_action_is_unpinned() {
        assert_eq!(pin("actions/checkout@v4"), PinStatus::Unpinned);
        assert_eq!(pin("actions/checkout@v4.1.1"), PinStatus::Unpinned);
    }

    #[test]
    fn branch_and_short_sha_are_unpinned() {
        assert_eq!(pin("actions/checkout@main"), PinStatus::Unpinned);
        assert_eq!(pin("actions/checkout@b4ffde6"), PinStatus::Unpinned);
        assert_eq!(
            pin(&format!("actions/checkout@{}", &SHA[..39])),
            PinStatus::Unpinned
        );
    }

    #[test]
    fn full_sha_is_pinned_for_actions_subpaths_and_reusable_workflows() {
        assert_eq!(pin(&format!("actions/checkout@{SHA}")), PinStatus::Pinned);
        assert_eq!(
            pin(&format!("github/codeql-action/init@{SHA}")),
            PinStatus::Pinned
        );
        let reusable = format!("octo/ci/.github/workflows/build.yml@{SHA}");
        assert_eq!(pin(&reusable), PinStatus::Pinned);
        let Ok(UsesRef::Repository(repo)) = UsesRef::parse(&reusable) else {
            panic!("not a repository ref");
        };
        assert!(repo.is_reusable_workflow());
        assert_eq!(repo.path(), Some(".github/workflows/build.yml"));
    }

    #[test]
    fn a_forty_character_ref_that_is_not_hex_is_unpinned() {
        let not_hex = "g".repeat(40);
        assert_eq!(pin(&format!("a/b@{not_hex}")), PinStatus::Unpinned);
    }

    #[test]
    fn local_and_same_repository_refs_are_exempt() {
        assert_eq!(pin("./.github/actions/setup"), PinStatus::Exempt);
        assert_eq!(pin("./"), PinStatus::Exempt);
        assert_eq!(pin(".\\.github\\actions\\setup"), PinStatus::Exempt);
        assert_eq!(pin("$/.github/actions/setup"), PinStatus::Exempt);
    }

    #[test]
    fn docker_needs_a_sha256_digest() {
        assert_eq!(pin("docker://alpine:3.19"), PinStatus::Unpinned);
        assert_eq!(pin("docker://alpine"), PinStatus::Unpinned);
        assert_eq!(
            pin(&format!("docker://alpine@sha256:{DIGEST}")),
            PinStatus::Pinned
        );
        assert_eq!(
            pin(&format!("docker://ghcr.io/o/img:1.0@sha256:{DIGEST}")),
            PinStatus::Pinned
        );
        assert_eq!(pin("docker://alpine@sha256:abc"), PinStatus::Unpinned);
        assert_eq!(
            pin(&format!("docker://alpine@sha512:{DIGEST}{DIGEST}")),
            PinStatus::Unpinned
        );
        assert_eq!(
            pin(&format!("docker://alpine@sha256:{}", DIGEST.to_uppercase())),
            PinStatus::Unpinned
        );
    }

    #[test]
    fn rejects_malformed_references() {
        assert_eq!(UsesRef::parse(""), Err(UsesRefError::Empty));
        assert_eq!(
            UsesRef::parse("actions/checkout"),
            Err(UsesRefError::MissingRef)
        );
        assert_eq!(
            UsesRef::parse("actions/checkout@"),
            Err(UsesRefError::EmptyRef)
        );
        assert_eq!(
            UsesRef::parse("checkout@v4"),
            Err(UsesRefError::MissingRepository)
        );
        assert_eq!(UsesRef::parse("a b/c@v1"), Err(UsesRefError::Whitespace));
        assert_eq!(
            UsesRef::parse("${{ matrix.action }}@v1"),
            Err(UsesRefError::Expression)
        );
        assert_eq!(UsesRef::parse("docker://"), Err(UsesRefError::EmptyImage));
        assert_eq!(
            UsesRef::parse("own:er/repo@v1"),
            Err(UsesRefError::InvalidOwner("own:er".into()))
        );
        assert_eq!(
            UsesRef::parse("owner/../x@v1"),
            Err(UsesRefError::InvalidRepository("..".into()))
        );
        assert_eq!(
            UsesRef::parse("owner/repo//x@v1"),
            Err(UsesRefError::EmptyPathSegment)
        );
    }

    #[test]
    fn displays_as_written() {
        for text in ["./x", "$/x", "docker://alpine:3", "a/b@v1", "a/b/c/d@v1"] {
            assert_eq!(
                UsesRef::parse(text).map(|r| r.to_string()),
                Ok(text.to_string())
            );
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        for text in [
            "@",
            "/@",
            "a/@x",
            "é/ü@v",
            "docker:/",
            "DOCKER://x",
            "$/",
            ".",
        ] {
            let _ = UsesRef::parse(text);
        }
    }
}
