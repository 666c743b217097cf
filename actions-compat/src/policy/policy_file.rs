//! The policy file (`.github/hrun-policy.toml`, or the one `--policy` names): which unpinned
//! references are allowed, which rules are turned off or changed in level, and which Rego files
//! add custom rules.
//!
//! ```toml
//! rego = ["policies/runners.rego"]          # relative to this file
//!
//! [[allow]]                                 # unpinned refs from this owner are accepted
//! owner = "my-org"
//! reason = "our own actions, released from protected tags"
//!
//! [[allow]]                                 # this exact reference is accepted
//! uses = "docker://alpine:3.19"
//! reason = "base image rebuilt nightly on purpose"
//!
//! [rules.template-injection]                # level: "deny", "warn" or "off"
//! level = "deny"
//! reason = "we treat injection as a blocker"
//! ```
//!
//! Every exception carries a `reason`: an entry without one is an error in the file, reported
//! at its line and column, and the gate cannot evaluate (exit 2). Unknown keys and unknown rule
//! ids are errors too, so a typo never silently weakens the policy.

use super::finding::{Location, Severity};
use super::rules::{BuiltinRule, CUSTOM_RULE_PREFIX};
use crate::source_text::line_col;
use crate::workflow::{UsesRef, UsesRefError};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The conventional place of the policy file inside a repository.
pub const POLICY_FILE_PATH: &str = ".github/hrun-policy.toml";

/// A policy file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyFileError {
    #[error("cannot read policy file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not TOML, or not the shape described in the module docs (unknown key, wrong type).
    #[error("{at}: {message}")]
    Syntax { at: Location, message: String },
    /// An `[[allow]]` or `[rules.*]` entry with no `reason`, or an empty one.
    #[error("{at}: this {entry} has no `reason`: every exception to the policy must say why")]
    MissingReason { at: Location, entry: &'static str },
    #[error("{at}: `[[allow]]` must name exactly one of `owner` or `uses`")]
    AllowTarget { at: Location },
    #[error("{at}: `{owner}` is not a GitHub owner name")]
    InvalidOwner { at: Location, owner: String },
    #[error("{at}: `{uses}` is not a valid `uses` reference: {source}")]
    InvalidUses {
        at: Location,
        uses: String,
        #[source]
        source: UsesRefError,
    },
    #[error("{at}: `{uses}` is local to the repository and needs no allowance")]
    LocalUses { at: Location, uses: String },
    #[error(
        "{at}: unknown rule `{id}`: expected one of {known} or a custom rule id starting with `{CUSTOM_RULE_PREFIX}`"
    )]
    UnknownRule {
        at: Location,
        id: String,
        known: String,
    },
}

impl PolicyFileError {
    /// Where in the policy file the problem is, when it is in the file's text.
    pub fn location(&self) -> Option<&Location> {
        match self {
            PolicyFileError::Read { .. } => None,
            PolicyFileError::Syntax { at, .. }
            | PolicyFileError::MissingReason { at, .. }
            | PolicyFileError::AllowTarget { at }
            | PolicyFileError::InvalidOwner { at, .. }
            | PolicyFileError::InvalidUses { at, .. }
            | PolicyFileError::LocalUses { at, .. }
            | PolicyFileError::UnknownRule { at, .. } => Some(at),
        }
    }

    /// What to do about it.
    pub fn help(&self) -> &'static str {
        match self {
            PolicyFileError::Read { .. } => "check the path given to --policy",
            PolicyFileError::Syntax { .. } => {
                "the file takes `rego = [...]`, `[[allow]]` entries with `owner` or `uses` and \
                 `reason`, and `[rules.<id>]` tables with `level` and `reason`"
            }
            PolicyFileError::MissingReason { .. } => {
                "add `reason = \"...\"` saying why this exception is safe"
            }
            PolicyFileError::AllowTarget { .. } => {
                "write `owner = \"org\"` to allow an owner, or `uses = \"org/repo@ref\"` to allow one reference"
            }
            PolicyFileError::InvalidOwner { .. } => {
                "an owner is a user or organization name such as `actions`"
            }
            PolicyFileError::InvalidUses { .. } => {
                "write the reference exactly as it appears after `uses:`"
            }
            PolicyFileError::LocalUses { .. } => "remove this entry",
            PolicyFileError::UnknownRule { .. } => "check the rule id against `hrun lint`'s output",
        }
    }
}

/// A rule's level as the policy file sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Deny,
    Warn,
    Off,
}

/// What an `[[allow]]` entry accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowTarget {
    /// Every repository of this owner (compared ignoring case, as GitHub does).
    Owner(String),
    /// Exactly this reference.
    Uses(UsesRef),
}

/// One `[[allow]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowance {
    pub target: AllowTarget,
    pub reason: String,
    /// Where the entry is written, for reports that cite it.
    pub at: Location,
}

/// One `[rules.<id>]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleOverride {
    pub level: Level,
    pub reason: String,
    pub at: Location,
}

/// A validated policy. The default policy allows nothing and overrides nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// The file it was read from, if any.
    pub source: Option<PathBuf>,
    pub allow: Vec<Allowance>,
    pub rules: BTreeMap<String, RuleOverride>,
    /// Rego files, resolved against the policy file's directory.
    pub rego: Vec<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    rego: Vec<String>,
    #[serde(default)]
    allow: Vec<Spanned<RawAllow>>,
    #[serde(default)]
    rules: BTreeMap<String, Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllow {
    owner: Option<Spanned<String>>,
    uses: Option<Spanned<String>>,
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    level: Level,
    reason: Option<String>,
}

impl Policy {
    /// Reads and validates a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Policy::parse(&text, path)
    }

    /// Validates a policy file's text; `path` names it in errors and anchors `rego` paths.
    pub fn parse(text: &str, path: &Path) -> Result<Policy, PolicyFileError> {
        let at = |offset: usize| {
            let (line, col) = line_col(text, offset);
            Location::new(path, line, col)
        };
        let raw: RawPolicy = toml::from_str(text).map_err(|err| PolicyFileError::Syntax {
            at: at(err.span().map_or(0, |span| span.start)),
            message: err.message().trim_end().to_string(),
        })?;

        let mut allow = Vec::with_capacity(raw.allow.len());
        for entry in &raw.allow {
            let entry_at = at(entry.span().start);
            let value = entry.get_ref();
            let target = match (&value.owner, &value.uses) {
                (Some(owner), None) => {
                    if !is_owner_name(owner.get_ref()) {
                        return Err(PolicyFileError::InvalidOwner {
                            at: at(owner.span().start),
                            owner: owner.get_ref().clone(),
                        });
                    }
                    AllowTarget::Owner(owner.get_ref().clone())
                }
                (None, Some(uses)) => {
                    let uses_at = at(uses.span().start);
                    let parsed = UsesRef::parse(uses.get_ref()).map_err(|source| {
                        PolicyFileError::InvalidUses {
                            at: uses_at.clone(),
                            uses: uses.get_ref().clone(),
                            source,
                        }
                    })?;
                    if matches!(parsed, UsesRef::Local(_) | UsesRef::SameRepository(_)) {
                        return Err(PolicyFileError::LocalUses {
                            at: uses_at,
                            uses: uses.get_ref().clone(),
                        });
                    }
                    AllowTarget::Uses(parsed)
                }
                _ => return Err(PolicyFileError::AllowTarget { at: entry_at }),
            };
            let reason = required_reason(&value.reason, &entry_at, "`[[allow]]` entry")?;
            allow.push(Allowance {
                target,
                reason,
                at: entry_at,
            });
        }

        let mut rules = BTreeMap::new();
        for (id, rule) in &raw.rules {
            let rule_at = at(rule.span().start);
            if BuiltinRule::from_id(id).is_none() && !is_custom_rule_id(id) {
                return Err(PolicyFileError::UnknownRule {
                    at: rule_at,
                    id: id.clone(),
                    known: BuiltinRule::ALL
                        .iter()
                        .map(|r| format!("`{}`", r.id()))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            let value = rule.get_ref();
            let reason = required_reason(&value.reason, &rule_at, "`[rules.*]` table")?;
            rules.insert(
                id.clone(),
                RuleOverride {
                    level: value.level,
                    reason,
                    at: rule_at,
                },
            );
        }

        let base = path.parent().unwrap_or(Path::new(""));
        Ok(Policy {
            source: Some(path.to_path_buf()),
            allow,
            rules,
            rego: raw.rego.iter().map(|file| base.join(file)).collect(),
        })
    }

    /// The allowance that accepts this reference without a pin, if any.
    pub fn allowance_for(&self, uses: &UsesRef) -> Option<&Allowance> {
        self.allow
            .iter()
            .find(|allowance| match (&allowance.target, uses) {
                (AllowTarget::Owner(owner), UsesRef::Repository(repo)) => {
                    owner.eq_ignore_ascii_case(repo.owner())
                }
                (AllowTarget::Uses(allowed), _) => same_reference(allowed, uses),
                _ => false,
            })
    }

    /// The severity a finding of this rule gets, or `None` when the policy turns the rule off.
    pub fn severity_for(&self, rule_id: &str, default: Severity) -> Option<Severity> {
        match self.rules.get(rule_id).map(|rule| rule.level) {
            None => Some(default),
            Some(Level::Deny) => Some(Severity::Deny),
            Some(Level::Warn) => Some(Severity::Warn),
            Some(Level::Off) => None,
        }
    }
}

/// GitHub user and organization names: letters, digits and hyphens (enterprise-managed users
/// add `_`).
fn is_owner_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_custom_rule_id(id: &str) -> bool {
    id.strip_prefix(CUSTOM_RULE_PREFIX)
        .is_some_and(|rest| !rest.is_empty())
}

fn required_reason(
    reason: &Option<String>,
    at: &Location,
    entry: &'static str,
) -> Result<String, PolicyFileError> {
    match reason {
        Some(reason) if !reason.trim().is_empty() => Ok(reason.trim().to_string()),
        _ => Err(PolicyFileError::MissingReason {
            at: at.clone(),
            entry,
        }),
    }
}

/// Repository owners and names compare ignoring case, as GitHub resolves them; paths and refs
/// exactly.
fn same_reference(a: &UsesRef, b: &UsesRef) -> bool {
    match (a, b) {
        (UsesRef::Repository(a), UsesRef::Repository(b)) => {
            a.owner().eq_ignore_ascii_case(b.owner())
                && a.repo().eq_ignore_ascii_case(b.repo())
                && a.path() == b.path()
                && a.git_ref() == b.git_ref()
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy, PolicyFileError> {
        Policy::parse(text, Path::new("repo/.github/hrun-policy.toml"))
    }

    fn uses(text: &str) -> UsesRef {
        UsesRef::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn empty_file_is_the_default_policy() {
        let policy = parse("").unwrap();
        assert!(policy.allow.is_empty() && policy.rules.is_empty() && policy.rego.is_empty());
    }

    #[test]
    fn policy_exception_without_reason_is_an_error() {
        let text = "[[allow]]\nowner = \"actions\"\n\n[[allow]]\nuses = \"a/b@v1\"\n";
        match parse(text) {
            Err(PolicyFileError::MissingReason { at, .. }) => {
                assert_eq!((at.line, at.col), (1, 1));
                assert_eq!(at.file, Path::new("repo/.github/hrun-policy.toml"));
            }
            other => panic!("expected MissingReason, got {other:?}"),
        }
    }

    #[test]
    fn rule_override_without_reason_is_an_error_at_its_table() {
        let text = "rego = []\n\n[rules.unpinned-uses]\nlevel = \"warn\"\n";
        match parse(text) {
            Err(PolicyFileError::MissingReason { at, entry }) => {
                assert_eq!(entry, "`[rules.*]` table");
                assert_eq!(at.line, 3, "{at}");
            }
            other => panic!("expected MissingReason, got {other:?}"),
        }
    }

    #[test]
    fn blank_reason_counts_as_missing() {
        let text = "[[allow]]\nowner = \"actions\"\nreason = \"   \"\n";
        assert!(matches!(
            parse(text),
            Err(PolicyFileError::MissingReason { .. })
        ));
    }

    #[test]
    fn inline_table_without_reason_points_at_the_entry() {
        let text = "allow = [\n  { owner = \"a\", reason = \"ok\" },\n  { owner = \"b\" },\n]\n";
        match parse(text) {
            Err(PolicyFileError::MissingReason { at, .. }) => {
                assert_eq!((at.line, at.col), (3, 3), "{at}");
            }
            other => panic!("expected MissingReason, got {other:?}"),
        }
    }

    #[test]
    fn rejects_unknown_key_with_position() {
        let text = "[[allow]]\nowner = \"a\"\nreason = \"x\"\nbranch = \"main\"\n";
        match parse(text) {
            Err(PolicyFileError::Syntax { at, message }) => {
                assert_eq!(at.line, 4, "{at}");
                assert!(message.contains("branch"), "{message}");
            }
            other => panic!("expected Syntax, got {other:?}"),
        }
    }

    #[test]
    fn rejects_bad_level_and_bad_toml_with_position() {
        let text = "[rules.unpinned-uses]\nlevel = \"loud\"\nreason = \"x\"\n";
        match parse(text) {
            Err(PolicyFileError::Syntax { at, .. }) => assert_eq!((at.line, at.col), (2, 9)),
            other => panic!("expected Syntax, got {other:?}"),
        }
        match parse("rego = [\n\"a\",\n=\n") {
            Err(PolicyFileError::Syntax { at, .. }) => assert_eq!(at.line, 3),
            other => panic!("expected Syntax, got {other:?}"),
        }
    }

    #[test]
    fn rejects_unknown_rule_ids_but_accepts_custom_ones() {
        let text = "[rules.unpined-uses]\nlevel = \"off\"\nreason = \"x\"\n";
        assert!(matches!(
            parse(text),
            Err(PolicyFileError::UnknownRule { ref id, .. }) if id == "unpined-uses"
        ));
        let text = "[rules.\"rego/no-self-hosted\"]\nlevel = \"warn\"\nreason = \"x\"\n";
        let policy = parse(text).unwrap();
        assert_eq!(
            policy.severity_for("rego/no-self-hosted", Severity::Deny),
            Some(Severity::Warn)
        );
    }

    #[test]
    fn allow_needs_exactly_one_target() {
        for text in [
            "[[allow]]\nreason = \"x\"\n",
            "[[allow]]\nowner = \"a\"\nuses = \"a/b@v1\"\nreason = \"x\"\n",
        ] {
            assert!(
                matches!(parse(text), Err(PolicyFileError::AllowTarget { .. })),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_invalid_owner_and_uses_values() {
        assert!(matches!(
            parse("[[allow]]\nowner = \"a/b\"\nreason = \"x\"\n"),
            Err(PolicyFileError::InvalidOwner { .. })
        ));
        assert!(matches!(
            parse("[[allow]]\nuses = \"a/b\"\nreason = \"x\"\n"),
            Err(PolicyFileError::InvalidUses { .. })
        ));
        assert!(matches!(
            parse("[[allow]]\nuses = \"./local\"\nreason = \"x\"\n"),
            Err(PolicyFileError::LocalUses { .. })
        ));
    }

    #[test]
    fn owner_allowance_matches_any_repository_of_the_owner_ignoring_case() {
        let policy = parse("[[allow]]\nowner = \"Actions\"\nreason = \"GitHub's own\"\n").unwrap();
        assert!(policy.allowance_for(&uses("actions/checkout@v4")).is_some());
        assert!(policy
            .allowance_for(&uses("actions/cache/save@v4"))
            .is_some());
        assert!(policy
            .allowance_for(&uses("actionsx/checkout@v4"))
            .is_none());
        assert!(policy
            .allowance_for(&uses("docker://actions/x:1"))
            .is_none());
    }

    #[test]
    fn exact_ref_allowance_matches_only_that_ref() {
        let text = "[[allow]]\nuses = \"docker/build-push-action@v5\"\nreason = \"x\"\n\
                    [[allow]]\nuses = \"docker://alpine:3.19\"\nreason = \"y\"\n";
        let policy = parse(text).unwrap();
        assert!(policy
            .allowance_for(&uses("Docker/Build-Push-Action@v5"))
            .is_some());
        assert!(policy
            .allowance_for(&uses("docker/build-push-action@v6"))
            .is_none());
        assert!(policy
            .allowance_for(&uses("docker://alpine:3.19"))
            .is_some());
        assert!(policy
            .allowance_for(&uses("docker://alpine:3.20"))
            .is_none());
    }

    #[test]
    fn levels_override_defaults_and_off_disables() {
        let text = "[rules.template-injection]\nlevel = \"deny\"\nreason = \"x\"\n\
                    [rules.pull-request-target]\nlevel = \"off\"\nreason = \"y\"\n";
        let policy = parse(text).unwrap();
        assert_eq!(
            policy.severity_for("template-injection", Severity::Warn),
            Some(Severity::Deny)
        );
        assert_eq!(
            policy.severity_for("pull-request-target", Severity::Deny),
            None
        );
        assert_eq!(
            policy.severity_for("unpinned-uses", Severity::Deny),
            Some(Severity::Deny)
        );
    }

    #[test]
    fn rego_paths_are_relative_to_the_policy_file() {
        let policy = parse("rego = [\"policies/a.rego\"]\n").unwrap();
        assert_eq!(policy.rego, [PathBuf::from("repo/.github/policies/a.rego")]);
    }
}
