//! The registry of built-in rules: their ids, descriptions, help and default levels.
//!
//! Every id the gate can emit for a built-in rule is here and nowhere else; the policy file is
//! checked against this list and the SARIF renderer describes rules from it.

use super::finding::Severity;

/// A built-in rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BuiltinRule {
    PullRequestTarget,
    UnpinnedUses,
    TemplateInjection,
}

/// What a rule is, for the policy file, the human report and SARIF's `tool.driver.rules`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    /// The id findings carry and the policy file names (`unpinned-uses`).
    pub id: String,
    /// A PascalCase name (SARIF's `name`).
    pub name: String,
    /// One line.
    pub short_description: String,
    /// Why the rule exists.
    pub full_description: String,
    /// How to fix a finding.
    pub help: String,
    pub default_severity: Severity,
    /// GitHub code scanning's `security-severity` (0.0 to 10.0), for built-in rules.
    pub security_severity: Option<&'static str>,
}

impl BuiltinRule {
    pub const ALL: [BuiltinRule; 3] = [
        BuiltinRule::PullRequestTarget,
        BuiltinRule::UnpinnedUses,
        BuiltinRule::TemplateInjection,
    ];

    pub fn id(self) -> &'static str {
        match self {
            BuiltinRule::PullRequestTarget => "pull-request-target",
            BuiltinRule::UnpinnedUses => "unpinned-uses",
            BuiltinRule::TemplateInjection => "template-injection",
        }
    }

    /// The rule with this id, if it is a built-in one.
    pub fn from_id(id: &str) -> Option<BuiltinRule> {
        BuiltinRule::ALL.into_iter().find(|rule| rule.id() == id)
    }

    pub fn default_severity(self) -> Severity {
        match self {
            BuiltinRule::PullRequestTarget | BuiltinRule::UnpinnedUses => Severity::Deny,
            BuiltinRule::TemplateInjection => Severity::Warn,
        }
    }

    pub fn info(self) -> RuleInfo {
        let (name, short, full, help, security) = match self {
            BuiltinRule::PullRequestTarget => (
                "PullRequestTarget",
                "Workflow is triggered by pull_request_target",
                "pull_request_target runs in the context of the base repository, with its secrets \
                 and a write token, on events that anyone who can open a pull request controls; a \
                 job that checks out or runs the pull request's code gives that code those secrets.",
                "trigger on `pull_request` instead; if the job needs to write back (labels, \
                 comments), do that from a separate `workflow_run` workflow that never runs the \
                 pull request's code",
                "8.8",
            ),
            BuiltinRule::UnpinnedUses => (
                "UnpinnedUses",
                "Action, reusable workflow or image not pinned to an immutable reference",
                "A tag or branch can be moved to other code at any time by whoever controls the \
                 repository it names; only a full 40-character commit SHA (or, for docker:// \
                 images, an @sha256: digest) names exactly the code that was reviewed.",
                "pin to the full commit SHA the tag points to and keep the tag as a comment, e.g. \
                 `uses: owner/repo@<40-hex sha> # v4`; pin docker:// images as \
                 `docker://image@sha256:<64-hex digest>`",
                "7.5",
            ),
            BuiltinRule::TemplateInjection => (
                "TemplateInjection",
                "Attacker-controlled event data expanded into a script",
                "`${{ }}` is expanded into the script text before the shell runs it, so a pull \
                 request title, issue body, commit message or branch name containing shell syntax \
                 runs as code in the job.",
                "pass the value through an environment variable and quote it in the script: \
                 `env: TITLE: ${{ github.event.issue.title }}` and `run: echo \"$TITLE\"`",
                "8.0",
            ),
        };
        RuleInfo {
            id: self.id().to_string(),
            name: name.to_string(),
            short_description: short.to_string(),
            full_description: full.to_string(),
            help: help.to_string(),
            default_severity: self.default_severity(),
            security_severity: Some(security),
        }
    }
}

/// The prefix of every custom (Rego) rule id, which keeps them apart from built-in ones.
pub const CUSTOM_RULE_PREFIX: &str = "rego/";

/// A description for a custom rule, which only its Rego source knows more about.
pub fn custom_rule_info(id: &str, default_severity: Severity) -> RuleInfo {
    RuleInfo {
        id: id.to_string(),
        name: custom_rule_name(id),
        short_description: format!("Custom policy rule {id}"),
        full_description: format!(
            "A rule from the repository's Rego policy ({id}); see its source for what it checks."
        ),
        help: "see the message and the Rego policy that produced it".to_string(),
        default_severity,
        security_severity: None,
    }
}

/// `rego/no-self-hosted` → `RegoNoSelfHosted`.
fn custom_rule_name(id: &str) -> String {
    id.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_rule_round_trips_through_its_id() {
        for rule in BuiltinRule::ALL {
            assert_eq!(BuiltinRule::from_id(rule.id()), Some(rule));
            assert_eq!(rule.info().id, rule.id());
        }
        assert_eq!(BuiltinRule::from_id("no-such-rule"), None);
    }

    #[test]
    fn template_injection_is_a_warning_by_default_and_the_others_deny() {
        assert_eq!(
            BuiltinRule::TemplateInjection.default_severity(),
            Severity::Warn
        );
        assert_eq!(BuiltinRule::UnpinnedUses.default_severity(), Severity::Deny);
        assert_eq!(
            BuiltinRule::PullRequestTarget.default_severity(),
            Severity::Deny
        );
    }

    #[test]
    fn custom_rule_names_are_pascal_case() {
        assert_eq!(
            custom_rule_info("rego/no-self_hosted", Severity::Deny).name,
            "RegoNoSelfHosted"
        );
    }
}
