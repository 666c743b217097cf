//! Steps (of a job, or of a composite action) and what `uses:` refers to.

use serde::Serialize;

use super::job::Condition;
use super::{Env, Spanned, Templated};

/// One step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// The step's id: the one written, or the one GitHub generates (`__run`, `__run_2`,
    /// `__actions_checkout`...) when none was.
    pub id: Spanned<String>,
    /// Whether `id` was generated (it then carries the step's position).
    pub generated_id: bool,
    /// Where the step's mapping starts.
    pub line: usize,
    pub col: usize,
    pub name: Option<Templated<String>>,
    #[serde(rename = "if")]
    pub condition: Condition,
    pub continue_on_error: Option<Templated<bool>>,
    pub timeout_minutes: Option<Templated<f64>>,
    pub env: Option<Templated<Env>>,
    #[serde(flatten)]
    pub kind: StepKind,
}

/// What a step does. Serialized with `"type": "run"`, `"uses"`, `"wait"`, `"wait_all"` or
/// `"cancel"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StepKind {
    /// A script.
    Run {
        run: Templated<String>,
        shell: Option<Templated<String>>,
        working_directory: Option<Templated<String>>,
        /// GitHub's experimental background steps.
        background: bool,
    },
    /// An action.
    Uses {
        /// As written.
        uses: Spanned<String>,
        /// Parsed.
        action: UsesRef,
        with: Option<Templated<Env>>,
        background: bool,
    },
    /// Waits for background steps (experimental).
    Wait { steps: Vec<Spanned<String>> },
    /// Waits for every background step (experimental).
    WaitAll,
    /// Cancels a background step (experimental).
    Cancel { step: Spanned<String> },
}

/// What `uses:` refers to, for a step (an action) or a job (a reusable workflow).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UsesRef {
    /// `docker://image`
    Docker { image: String },
    /// `./path` in the workflow's repository.
    Local { path: String },
    /// `owner/repo[/path]@ref`.
    Repository {
        owner: String,
        repo: String,
        /// The path inside the repository, if any.
        path: Option<String>,
        git_ref: String,
    },
}

impl UsesRef {
    /// Parses `uses:` as GitHub does, with GitHub's message when it has the wrong form.
    pub fn parse(uses: &str) -> Result<UsesRef, String> {
        if let Some(image) = uses.strip_prefix("docker://") {
            return Ok(UsesRef::Docker {
                image: image.to_owned(),
            });
        }
        if uses.starts_with("./") || uses.starts_with(".\\") {
            return Ok(UsesRef::Local {
                path: uses.to_owned(),
            });
        }
        let wrong = || format!("Expected format {{org}}/{{repo}}[/path]@ref. Actual '{uses}'");
        let mut at = uses.split('@');
        let (Some(target), Some(git_ref), None) = (at.next(), at.next(), at.next()) else {
            return Err(wrong());
        };
        let segments: Vec<&str> = target.split(['/', '\\']).collect();
        match segments.as_slice() {
            [owner, repo, rest @ ..]
                if !owner.is_empty() && !repo.is_empty() && !git_ref.is_empty() =>
            {
                Ok(UsesRef::Repository {
                    owner: (*owner).to_owned(),
                    repo: (*repo).to_owned(),
                    path: (!rest.is_empty()).then(|| rest.join("/")),
                    git_ref: git_ref.to_owned(),
                })
            }
            _ => Err(wrong()),
        }
    }

    /// Whether the reference is a full-length commit SHA (40 or 64 hex digits), the only ref
    /// that cannot be moved to other code.
    pub fn is_pinned_to_commit(&self) -> bool {
        match self {
            UsesRef::Repository { git_ref, .. } => {
                matches!(git_ref.len(), 40 | 64) && git_ref.chars().all(|c| c.is_ascii_hexdigit())
            }
            UsesRef::Docker { .. } | UsesRef::Local { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms_of_uses() {
        assert_eq!(
            UsesRef::parse("docker://alpine:3.8"),
            Ok(UsesRef::Docker {
                image: "alpine:3.8".into()
            })
        );
        assert_eq!(
            UsesRef::parse("./.github/actions/x"),
            Ok(UsesRef::Local {
                path: "./.github/actions/x".into()
            })
        );
        assert_eq!(
            UsesRef::parse("actions/aws/ec2@main"),
            Ok(UsesRef::Repository {
                owner: "actions".into(),
                repo: "aws".into(),
                path: Some("ec2".into()),
                git_ref: "main".into()
            })
        );
    }

    #[test]
    fn refuses_malformed_uses_with_githubs_message() {
        for bad in [
            "$$docker://alpine:3.8",
            "badrepo@invalid",
            "a/b",
            "a/b@",
            "/b@v1",
            "a/b@v1@v2",
        ] {
            let e = UsesRef::parse(bad).unwrap_err();
            assert_eq!(
                e,
                format!("Expected format {{org}}/{{repo}}[/path]@ref. Actual '{bad}'")
            );
        }
    }

    #[test]
    fn only_full_commit_shas_count_as_pinned() {
        let sha =
            UsesRef::parse("actions/checkout@8e5e7e5ab8b370d6c329ec480221332ada57f0ab").unwrap();
        assert!(sha.is_pinned_to_commit());
        assert!(!UsesRef::parse("actions/checkout@v4")
            .unwrap()
            .is_pinned_to_commit());
        assert!(!UsesRef::parse("actions/checkout@8e5e7e5")
            .unwrap()
            .is_pinned_to_commit());
    }
}
