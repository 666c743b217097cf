//! [`PinnedRepo`]: a repository at a full commit SHA, the only kind of reference the action
//! store holds. Tags and branches move; a commit does not, so what ran can be named exactly.

use std::fmt;

use actions_compat::workflow::UsesRef;

/// Why a reference cannot name an entry of the action store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("{0}")]
    Malformed(String),
    #[error("`{0}` is not a repository: expected owner/repo@<40-hex commit sha>")]
    NotARepository(String),
    #[error("`{0}` is not a valid GitHub owner name")]
    InvalidOwner(String),
    #[error("`{0}` is not a valid GitHub repository name")]
    InvalidRepository(String),
    #[error(
        "`{owner}/{repo}@{git_ref}`: `{git_ref}` is not a full 40-hex commit SHA; the action store \
         holds only commits, which cannot move (`git ls-remote https://github.com/{owner}/{repo} \
         {git_ref}` shows the SHA to pin)"
    )]
    NotACommitSha {
        owner: String,
        repo: String,
        git_ref: String,
    },
}

/// `owner/repo@<40-hex sha>`: names are kept as written (GitHub compares them without regard
/// to case, and so does the store), the SHA in lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PinnedRepo {
    owner: String,
    repo: String,
    sha: String,
}

impl PinnedRepo {
    pub fn new(owner: &str, repo: &str, git_ref: &str) -> Result<PinnedRepo, PinError> {
        if !is_owner_name(owner) {
            return Err(PinError::InvalidOwner(owner.to_string()));
        }
        if !is_repository_name(repo) {
            return Err(PinError::InvalidRepository(repo.to_string()));
        }
        if !(git_ref.len() == 40 && git_ref.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(PinError::NotACommitSha {
                owner: owner.to_string(),
                repo: repo.to_string(),
                git_ref: git_ref.to_string(),
            });
        }
        Ok(PinnedRepo {
            owner: owner.to_string(),
            repo: repo.to_string(),
            sha: git_ref.to_ascii_lowercase(),
        })
    }

    /// Reads `owner/repo[/path]@sha` as written in `uses:`; returns the path inside the
    /// repository too, if any.
    pub fn parse(text: &str) -> Result<(PinnedRepo, Option<String>), PinError> {
        match UsesRef::parse(text).map_err(|e| PinError::Malformed(e.to_string()))? {
            UsesRef::Repository(r) => Ok((
                PinnedRepo::new(r.owner(), r.repo(), r.git_ref().as_str())?,
                r.path().map(str::to_string),
            )),
            UsesRef::Local(_) | UsesRef::SameRepository(_) | UsesRef::Docker(_) => {
                Err(PinError::NotARepository(text.to_string()))
            }
        }
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn repo(&self) -> &str {
        &self.repo
    }

    /// 40 lowercase hex digits.
    pub fn sha(&self) -> &str {
        &self.sha
    }

    /// Whether both name the same commit of the same repository (names compared as GitHub does).
    pub fn same_as(&self, other: &PinnedRepo) -> bool {
        self.owner.eq_ignore_ascii_case(&other.owner)
            && self.repo.eq_ignore_ascii_case(&other.repo)
            && self.sha == other.sha
    }
}

impl fmt::Display for PinnedRepo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}@{}", self.owner, self.repo, self.sha)
    }
}

/// GitHub user and organization names: letters, digits and hyphens (enterprise-managed users
/// add `_`).
fn is_owner_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_repository_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "8E5E7E5AB8B370D6C329EC480221332ADA57F0AB";

    #[test]
    fn parses_a_pinned_reference_with_a_path_and_lowercases_the_sha() {
        let (pin, path) =
            PinnedRepo::parse(&format!("github/codeql-action/init@{SHA}")).expect("pinned");
        assert_eq!(pin.owner(), "github");
        assert_eq!(pin.repo(), "codeql-action");
        assert_eq!(pin.sha(), SHA.to_ascii_lowercase());
        assert_eq!(path.as_deref(), Some("init"));
        assert_eq!(
            pin.to_string(),
            format!("github/codeql-action@{}", SHA.to_ascii_lowercase())
        );
    }

    #[test]
    fn refuses_tags_branches_and_short_shas_naming_the_fix() {
        for git_ref in ["v4", "main", "8e5e7e5"] {
            let err = PinnedRepo::parse(&format!("actions/checkout@{git_ref}")).expect_err(git_ref);
            assert!(matches!(err, PinError::NotACommitSha { .. }), "{err}");
            let text = err.to_string();
            assert!(text.contains("not a full 40-hex commit SHA"), "{text}");
            assert!(
                text.contains(&format!("actions/checkout {git_ref}")),
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_local_docker_and_malformed_references() {
        assert!(matches!(
            PinnedRepo::parse("./x"),
            Err(PinError::NotARepository(_))
        ));
        assert!(matches!(
            PinnedRepo::parse("docker://alpine"),
            Err(PinError::NotARepository(_))
        ));
        assert!(matches!(
            PinnedRepo::parse("actions/checkout"),
            Err(PinError::Malformed(_))
        ));
        assert!(matches!(
            PinnedRepo::parse(&format!("../x@{SHA}")),
            Err(PinError::InvalidOwner(_))
        ));
        assert!(matches!(
            PinnedRepo::parse(&format!("o/..@{SHA}")),
            Err(PinError::InvalidRepository(_))
        ));
    }

    #[test]
    fn compares_names_without_regard_to_case() {
        let a = PinnedRepo::new("Actions", "Checkout", SHA).expect("pin");
        let b = PinnedRepo::new("actions", "checkout", &SHA.to_ascii_lowercase()).expect("pin");
        assert!(a.same_as(&b));
    }
}
