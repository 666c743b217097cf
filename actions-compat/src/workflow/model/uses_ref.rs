//! What a `uses:` value refers to (a step's action, a job's reusable workflow), as a type that
//! can only hold a reference GitHub accepts, classified by how firmly it pins the code it names.
//! The workflow and action models hold it; the policy gate reads it from them.
//!
//! The forms are exactly those GitHub's parser accepts:
//!
//! - `./path` (or `.\path`): a path in the workspace, where an earlier step checked it out;
//! - `$/path`: GitHub's self-repository reference, the repository of the file that says it, at
//!   the commit being run, with no checkout. It works wherever `./` does (steps, composite
//!   action steps, reusable workflow calls); `$/` alone is the repository's root;
//! - `docker://image[:tag][@sha256:digest]`;
//! - `owner/repo[/path]@ref`: one `@`, a non-empty ref, and at least two non-empty segments
//!   separated by `/` or `\` (empty segments are skipped, as GitHub skips them). Under
//!   `.github/workflows/` the path names a reusable workflow.
//!
//! GitHub's parser checks that shape and nothing more: an owner or repository name no GitHub
//! repository can have (`org with space`, GitHub's own test data has one) is accepted, and the
//! job fails when it runs. So does this type, which never refuses a file GitHub accepts;
//! whoever resolves a reference to code checks the names it builds paths and URLs from. What
//! decides pinning is typed: a full commit SHA is a [`CommitSha`] and an image digest a
//! [`Sha256Digest`], each buildable only from a valid value.

use std::fmt;

use serde::Serialize;

/// Why a `uses:` value is not a reference (GitHub refuses each of these when it parses).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsesRefError {
    #[error("`uses` is empty")]
    Empty,
    #[error("expected `owner/repo[/path]@ref`, but there is no `@ref`")]
    MissingRef,
    #[error("expected `owner/repo[/path]@ref`, but there is more than one `@`")]
    SeveralRefs,
    #[error("expected `owner/repo[/path]@ref`, but the ref after `@` is empty")]
    EmptyRef,
    #[error("expected `owner/repo[/path]@ref`, but there is no `/repo`")]
    MissingRepository,
}

impl UsesRefError {
    /// GitHub's error for a step's malformed `uses: {uses}`.
    pub fn github_message(uses: &str) -> String {
        format!("Expected format {{org}}/{{repo}}[/path]@ref. Actual '{uses}'")
    }
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

    /// The directory (action) or file (reusable workflow) inside the repository, if any, with
    /// `/` separators.
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
    /// Everything after `docker://` (empty when nothing follows: GitHub's parser accepts that,
    /// and the job fails when it runs).
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
    /// `./path` (or `.\path`), as written: in the workspace.
    Local(String),
    /// `$/path`: the same repository, at the commit being run; holds the path after `$/`.
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
        if text.starts_with("./") || text.starts_with(".\\") {
            return Ok(UsesRef::Local(text.to_string()));
        }
        if let Some(path) = text.strip_prefix("$/") {
            return Ok(UsesRef::SameRepository(path.to_string()));
        }
        if let Some(image) = UsesRef::docker_image(text) {
            return Ok(image);
        }
        parse_repository(text).map(UsesRef::Repository)
    }

    /// A docker action's `runs.image` when it names an image (`docker://...`), not a
    /// `Dockerfile` in the repository.
    pub fn docker_image(image: &str) -> Option<UsesRef> {
        strip_prefix_ignore_case(image, "docker://").map(|rest| UsesRef::Docker(parse_docker(rest)))
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

/// How Rego and `hrun parse` see a reference: `{"kind": "repository", "owner", "repo", "path",
/// "git_ref"}`, `{"kind": "docker", "image"}`, `{"kind": "local", "path"}` (as written) or
/// `{"kind": "same_repository", "path"}` (after `$/`).
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Serialized<'a> {
    Docker {
        image: &'a str,
    },
    Local {
        path: &'a str,
    },
    SameRepository {
        path: &'a str,
    },
    Repository {
        owner: &'a str,
        repo: &'a str,
        path: Option<&'a str>,
        git_ref: &'a str,
    },
}

impl Serialize for UsesRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            UsesRef::Local(path) => Serialized::Local { path },
            UsesRef::SameRepository(path) => Serialized::SameRepository { path },
            UsesRef::Docker(image) => Serialized::Docker {
                image: &image.reference,
            },
            UsesRef::Repository(repo) => Serialized::Repository {
                owner: &repo.owner,
                repo: &repo.repo,
                path: repo.path.as_deref(),
                git_ref: repo.git_ref.as_str(),
            },
        }
        .serialize(serializer)
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text.get(prefix.len()..))
        .flatten()
}

fn parse_docker(image: &str) -> DockerImageRef {
    // A digest can only come last: `name[:tag]@sha256:hex`. Anything else after `@` (another
    // algorithm, a short digest) leaves the image unpinned.
    let digest = image
        .rsplit_once('@')
        .and_then(|(_, digest)| digest.strip_prefix("sha256:"))
        .and_then(Sha256Digest::parse);
    DockerImageRef {
        reference: image.to_string(),
        digest,
    }
}

fn parse_repository(text: &str) -> Result<RepositoryRef, UsesRefError> {
    let (target, git_ref) = text.split_once('@').ok_or(UsesRefError::MissingRef)?;
    if git_ref.contains('@') {
        return Err(UsesRefError::SeveralRefs);
    }
    if git_ref.is_empty() {
        return Err(UsesRefError::EmptyRef);
    }
    let mut segments = target.split(['/', '\\']).filter(|s| !s.is_empty());
    let (Some(owner), Some(repo)) = (segments.next(), segments.next()) else {
        return Err(UsesRefError::MissingRepository);
    };
    let path: Vec<&str> = segments.collect();
    Ok(RepositoryRef {
        owner: owner.to_string(),
        repo: repo.to_string(),
        path: (!path.is_empty()).then(|| path.join("/")),
        git_ref: GitRef::classify(git_ref),
    })
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
    fn parses_githubs_forms_of_uses() {
        assert_eq!(
            UsesRef::parse("./.github/actions/x"),
            Ok(UsesRef::Local("./.github/actions/x".into()))
        );
        assert_eq!(
            UsesRef::parse("$/.github/actions/setup-tox"),
            Ok(UsesRef::SameRepository(".github/actions/setup-tox".into()))
        );
        assert_eq!(UsesRef::parse("$/"), Ok(UsesRef::SameRepository("".into())));
        let Ok(UsesRef::Docker(image)) = UsesRef::parse("docker://alpine:3.8") else {
            panic!("a docker reference");
        };
        assert_eq!(image.reference(), "alpine:3.8");
        let Ok(UsesRef::Repository(repo)) = UsesRef::parse("actions/aws/ec2@main") else {
            panic!("a repository reference");
        };
        assert_eq!(
            (
                repo.owner(),
                repo.repo(),
                repo.path(),
                repo.git_ref().as_str()
            ),
            ("actions", "aws", Some("ec2"), "main")
        );
    }

    #[test]
    fn reads_separators_as_github_does() {
        // Either slash separates; empty segments are skipped.
        let Ok(UsesRef::Repository(repo)) = UsesRef::parse("octo\\repo//sub\\dir@v1") else {
            panic!("a repository reference");
        };
        assert_eq!(
            (repo.owner(), repo.repo(), repo.path()),
            ("octo", "repo", Some("sub/dir"))
        );
        // GitHub accepts names no repository can have, and `docker://` with nothing after it;
        // the job fails when it runs.
        let Ok(UsesRef::Repository(repo)) = UsesRef::parse("org with space/repo with space@v2")
        else {
            panic!("a repository reference");
        };
        assert_eq!(
            (repo.owner(), repo.repo()),
            ("org with space", "repo with space")
        );
        assert_eq!(pin("docker://"), PinStatus::Unpinned);
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
        assert_eq!(pin("$/"), PinStatus::Exempt);
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
        assert_eq!(UsesRef::parse("a/b@v1@v2"), Err(UsesRefError::SeveralRefs));
        assert_eq!(
            UsesRef::parse("checkout@v4"),
            Err(UsesRefError::MissingRepository)
        );
        assert_eq!(
            UsesRef::parse("/b@v1"),
            Err(UsesRefError::MissingRepository)
        );
        for githubs_own_cases in ["$$docker://alpine:3.8", "...docker://alpine:3.8"] {
            assert_eq!(
                UsesRef::parse(githubs_own_cases),
                Err(UsesRefError::MissingRef)
            );
        }
        assert_eq!(
            UsesRef::parse("badrepo@invalid"),
            Err(UsesRefError::MissingRepository)
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
    fn serializes_with_its_kind() {
        let json = |text: &str| serde_json::to_value(UsesRef::parse(text).unwrap()).unwrap();
        assert_eq!(
            json("octo/ci/.github/workflows/b.yml@v1"),
            serde_json::json!({"kind": "repository", "owner": "octo", "repo": "ci",
                "path": ".github/workflows/b.yml", "git_ref": "v1"})
        );
        assert_eq!(
            json("$/.github/actions/x"),
            serde_json::json!({"kind": "same_repository", "path": ".github/actions/x"})
        );
        assert_eq!(
            json("./x"),
            serde_json::json!({"kind": "local", "path": "./x"})
        );
        assert_eq!(
            json("docker://alpine"),
            serde_json::json!({"kind": "docker", "image": "alpine"})
        );
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
            "@@",
            "\\\\@x",
        ] {
            let _ = UsesRef::parse(text);
        }
    }
}
