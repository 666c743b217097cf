//! The built-in rules as pure functions over what they look at: a trigger's name, a `uses:`
//! value, the context paths of an expression expanded into a script. Each returns findings with
//! the policy file's allowances and levels already applied; none reads a file.

use super::finding::{Finding, Location};
use super::injection::{attacker_controlled, Taint};
use super::policy_file::Policy;
use super::rules::BuiltinRule;
use crate::workflow::{GitRef, PinStatus, UsesRef};

/// A finding of a built-in rule at the level the policy gives it, or `None` when the policy
/// turns the rule off.
fn finding(
    policy: &Policy,
    rule: BuiltinRule,
    message: String,
    location: &Location,
    help: String,
) -> Option<Finding> {
    let severity = policy.severity_for(rule.id(), rule.default_severity())?;
    Some(Finding {
        rule_id: rule.id().to_string(),
        severity,
        message,
        location: location.clone(),
        help,
    })
}

/// `pull-request-target`: the workflow is triggered by `pull_request_target`.
pub fn check_trigger(event: &str, at: &Location, policy: &Policy) -> Option<Finding> {
    if event != "pull_request_target" {
        return None;
    }
    finding(
        policy,
        BuiltinRule::PullRequestTarget,
        "`pull_request_target` runs with the base repository's secrets and write token on \
         events any pull request author controls"
            .to_string(),
        at,
        "trigger on `pull_request` instead, and do privileged follow-up work (labels, comments) \
         in a separate `workflow_run` workflow that never runs the pull request's code"
            .to_string(),
    )
}

/// `unpinned-uses`: an action, reusable workflow or image not pinned to a commit SHA or digest,
/// unless the policy allows it. `uses` is the reference as written, for the message.
pub fn check_uses(parsed: &UsesRef, uses: &str, at: &Location, policy: &Policy) -> Option<Finding> {
    if parsed.pin_status() != PinStatus::Unpinned || policy.allowance_for(parsed).is_some() {
        return None;
    }
    let (message, help) = match parsed {
        UsesRef::Docker(image) => (
            format!(
                "`{uses}` is not pinned to an image digest: the tag can be moved to another image"
            ),
            format!(
                "pin the image by digest: `docker://{}@sha256:<64-hex digest>` (the digest \
                 `docker buildx imagetools inspect` prints), or allow it in the policy file with \
                 a reason",
                image.reference().split('@').next().unwrap_or_default()
            ),
        ),
        UsesRef::Repository(repo) => {
            let what = if repo.is_reusable_workflow() {
                "reusable workflow"
            } else {
                "action"
            };
            let target = format!(
                "{}/{}{}",
                repo.owner(),
                repo.repo(),
                repo.path().map(|p| format!("/{p}")).unwrap_or_default()
            );
            let reference = match repo.git_ref() {
                GitRef::Other(r) => r.as_str(),
                GitRef::FullSha(sha) => sha.as_str(),
            };
            (
                format!(
                    "{what} `{uses}` is not pinned to a full commit SHA: `{reference}` can be moved to other code"
                ),
                format!(
                    "pin it to the commit `{reference}` points to and keep the name as a comment: \
                     `uses: {target}@<40-hex sha> # {reference}`, or allow the owner `{}` in the \
                     policy file with a reason",
                    repo.owner()
                ),
            )
        }
        UsesRef::Local(_) | UsesRef::SameRepository(_) => return None,
    };
    finding(policy, BuiltinRule::UnpinnedUses, message, at, help)
}

/// Where an expression is expanded, for the template-injection message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptKind {
    /// A step's `run:`.
    Run,
    /// The `script` input of `actions/github-script`.
    GithubScript,
}

/// `template-injection`: the context paths one `${{ }}` expression reads, expanded into a
/// script at `at`. One finding per expression (naming its first attacker-controlled path).
pub fn check_expansion(
    context_paths: &[String],
    at: &Location,
    kind: ScriptKind,
    policy: &Policy,
) -> Option<Finding> {
    let (path, taint) = context_paths
        .iter()
        .find_map(|path| attacker_controlled(path).map(|taint| (path, taint)))?;
    let what = match taint {
        Taint::Field(_) => format!("`{path}` is attacker-controlled"),
        Taint::Contains(field) => {
            format!("`{path}` contains attacker-controlled text (such as `{field}`)")
        }
    };
    let (message, help) = match kind {
        ScriptKind::Run => (
            format!("{what} and is expanded into a `run:` script, where it can run as shell code"),
            "pass it through an environment variable and quote it: `env: VALUE: ${{ ... }}` \
             on the step, `\"$VALUE\"` in the script"
                .to_string(),
        ),
        ScriptKind::GithubScript => (
            format!(
                "{what} and is expanded into an `actions/github-script` script, where it can run \
                 as JavaScript"
            ),
            "pass it through an environment variable and read `process.env.VALUE` in the script"
                .to_string(),
        ),
    };
    finding(policy, BuiltinRule::TemplateInjection, message, at, help)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::finding::Severity;
    use std::path::Path;

    const SHA: &str = "b4ffde65f46336ab88eb53be808477a3936bae11";

    fn at() -> Location {
        Location::new(".github/workflows/ci.yml", 7, 15)
    }

    fn policy(text: &str) -> Policy {
        Policy::parse(text, Path::new(".github/hrun-policy.toml")).unwrap()
    }

    fn check(text: &str, policy: &Policy) -> Option<Finding> {
        let parsed = UsesRef::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        check_uses(&parsed, text, &at(), policy)
    }

    fn uses(text: &str) -> Option<Finding> {
        check(text, &Policy::default())
    }

    #[test]
    fn denies_pull_request_target() {
        let f = check_trigger("pull_request_target", &at(), &Policy::default()).unwrap();
        assert_eq!(f.rule_id, "pull-request-target");
        assert_eq!(f.severity, Severity::Deny);
        assert_eq!(f.location, at());
        assert!(check_trigger("pull_request", &at(), &Policy::default()).is_none());
        assert!(check_trigger("push", &at(), &Policy::default()).is_none());
    }

    #[test]
    fn denies_tag_pinned_action() {
        let f = uses("actions/checkout@v4").unwrap();
        assert_eq!(f.rule_id, "unpinned-uses");
        assert_eq!(f.severity, Severity::Deny);
        assert!(f.message.contains("`actions/checkout@v4`"), "{}", f.message);
        assert!(
            f.help.contains("actions/checkout@<40-hex sha> # v4"),
            "{}",
            f.help
        );
    }

    #[test]
    fn denies_branch_pinned_reusable_workflow() {
        let f = uses("octo/ci/.github/workflows/build.yml@main").unwrap();
        assert!(f.message.starts_with("reusable workflow"), "{}", f.message);
    }

    #[test]
    fn allows_sha_pinned_action() {
        assert_eq!(uses(&format!("actions/checkout@{SHA}")), None);
        assert_eq!(
            uses(&format!("octo/ci/.github/workflows/b.yml@{SHA}")),
            None
        );
    }

    #[test]
    fn exempts_local_action() {
        assert_eq!(uses("./.github/actions/setup"), None);
        assert_eq!(uses("./.github/workflows/reusable.yml"), None);
        assert_eq!(uses("$/.github/actions/setup"), None);
    }

    #[test]
    fn docker_uses_needs_sha256_digest() {
        let f = uses("docker://alpine:3.20").unwrap();
        assert!(f.message.contains("image digest"), "{}", f.message);
        assert!(
            f.help.contains("docker://alpine:3.20@sha256:"),
            "{}",
            f.help
        );
        let digest = "c5b1261d6d3e43071626931fc004f70149baeba2c8ec672bd4f27761f8e1ad6b";
        assert_eq!(uses(&format!("docker://alpine:3.20@sha256:{digest}")), None);
    }

    #[test]
    fn policy_allowances_accept_owners_and_exact_refs() {
        let policy = policy(
            "[[allow]]\nowner = \"actions\"\nreason = \"GitHub's\"\n\
             [[allow]]\nuses = \"docker://alpine:3.20\"\nreason = \"nightly rebuilt\"\n",
        );
        assert_eq!(check("actions/checkout@v4", &policy), None);
        assert_eq!(check("docker://alpine:3.20", &policy), None);
        assert!(check("docker://alpine:3.21", &policy).is_some());
        assert!(check("octo/x@v1", &policy).is_some());
    }

    #[test]
    fn policy_levels_lower_or_disable_rules() {
        let policy = policy(
            "[rules.unpinned-uses]\nlevel = \"warn\"\nreason = \"migrating\"\n\
             [rules.pull-request-target]\nlevel = \"off\"\nreason = \"label-only workflows\"\n",
        );
        let f = check("actions/checkout@v4", &policy).unwrap();
        assert_eq!(f.severity, Severity::Warn);
        assert_eq!(check_trigger("pull_request_target", &at(), &policy), None);
    }

    #[test]
    fn warns_on_attacker_controlled_text_in_run() {
        let paths = vec!["github.event.issue.title".to_string()];
        let f = check_expansion(&paths, &at(), ScriptKind::Run, &Policy::default()).unwrap();
        assert_eq!(f.rule_id, "template-injection");
        assert_eq!(f.severity, Severity::Warn);
        assert!(
            f.message.contains("`github.event.issue.title`"),
            "{}",
            f.message
        );
    }

    #[test]
    fn warns_on_attacker_controlled_text_in_github_script() {
        let paths = vec!["github.head_ref".to_string()];
        let f =
            check_expansion(&paths, &at(), ScriptKind::GithubScript, &Policy::default()).unwrap();
        assert!(f.message.contains("JavaScript"), "{}", f.message);
    }

    #[test]
    fn ignores_safe_contexts_in_run() {
        let paths = vec!["github.sha".to_string(), "matrix.os".to_string()];
        assert_eq!(
            check_expansion(&paths, &at(), ScriptKind::Run, &Policy::default()),
            None
        );
    }

    #[test]
    fn template_injection_can_be_raised_to_deny() {
        let policy = policy("[rules.template-injection]\nlevel = \"deny\"\nreason = \"strict\"\n");
        let paths = vec!["github.event.pull_request.body".to_string()];
        let f = check_expansion(&paths, &at(), ScriptKind::Run, &policy).unwrap();
        assert_eq!(f.severity, Severity::Deny);
    }
}
