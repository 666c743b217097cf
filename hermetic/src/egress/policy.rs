//! An egress policy (a mode and an allowlist) and how a workflow's policy narrows the runner's.
//!
//! The runner's configuration sets the widest policy; a workflow file may only narrow it: each
//! of its entries must be covered by one of the runner's, and its mode may only be as strict or
//! stricter. Anything else is an error that names the entry, so a workflow can never widen what
//! the machine it runs on allows.
//!
//! Must never: widen the runner's allowlist or loosen its mode when narrowing.

use std::fmt;
use std::str::FromStr;

use super::allowlist::{AllowEntry, EntryError};

/// What happens to a connection attempt the allowlist does not cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EgressMode {
    /// Logged and let through: to learn what a workflow needs before enforcing.
    Audit,
    /// Logged and dropped.
    Block,
    /// Logged and dropped, and the job fails with an annotation for each denied attempt.
    BlockAndFail,
}

impl EgressMode {
    /// The mode's name as written in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            EgressMode::Audit => "audit",
            EgressMode::Block => "block",
            EgressMode::BlockAndFail => "block-and-fail",
        }
    }

    /// Whether attempts outside the allowlist are dropped.
    pub fn blocks(self) -> bool {
        self != EgressMode::Audit
    }
}

impl fmt::Display for EgressMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EgressMode {
    type Err = PolicyError;

    fn from_str(text: &str) -> Result<Self, PolicyError> {
        match text.trim() {
            "audit" => Ok(EgressMode::Audit),
            "block" => Ok(EgressMode::Block),
            "block-and-fail" => Ok(EgressMode::BlockAndFail),
            other => Err(PolicyError::UnknownMode(other.to_string())),
        }
    }
}

/// Why a policy could not be built or narrowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The mode is not `audit`, `block` or `block-and-fail`.
    #[error("unknown egress mode `{0}` (expected `audit`, `block` or `block-and-fail`)")]
    UnknownMode(String),
    /// An entry could not be read.
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// A workflow's entry allows something the runner's allowlist does not.
    #[error(
        "egress entry `{entry}` of the workflow is not covered by the runner's allowlist; \
         a workflow may only narrow it (ask the runner's administrator to allow it)"
    )]
    NotCovered {
        /// The workflow's entry, in canonical form.
        entry: String,
    },
    /// A workflow asks for a looser mode than the runner's.
    #[error(
        "egress mode `{workflow}` of the workflow is looser than the runner's `{runner}`; \
         a workflow may only keep or tighten it"
    )]
    LooserMode {
        /// The runner's mode.
        runner: EgressMode,
        /// The workflow's mode.
        workflow: EgressMode,
    },
}

/// A mode and an allowlist. An empty allowlist means no network at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressPolicy {
    /// What happens to attempts the allowlist does not cover.
    pub mode: EgressMode,
    /// What may be reached.
    pub allow: Vec<AllowEntry>,
}

impl EgressPolicy {
    /// Reads a policy from its mode and its entries as written (see [`AllowEntry`] for the
    /// forms). Duplicate entries are kept once.
    pub fn parse<I, S>(mode: EgressMode, entries: I) -> Result<Self, PolicyError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut allow: Vec<AllowEntry> = Vec::new();
        for text in entries {
            let entry: AllowEntry = text.as_ref().parse()?;
            if !allow.contains(&entry) {
                allow.push(entry);
            }
        }
        Ok(EgressPolicy { mode, allow })
    }

    /// Whether the job gets a network at all (its allowlist is not empty). Without one the VM
    /// gets no network device and no [`JobNetwork`](super::JobNetwork) is made.
    pub fn needs_network(&self) -> bool {
        !self.allow.is_empty()
    }

    /// The policy a job runs with when its workflow file declares `workflow`: the workflow's
    /// entries, each of which must be covered by one of `self`'s, and the workflow's mode, which
    /// must be as strict as `self`'s or stricter.
    pub fn narrow(&self, workflow: &EgressPolicy) -> Result<EgressPolicy, PolicyError> {
        if workflow.mode < self.mode {
            return Err(PolicyError::LooserMode {
                runner: self.mode,
                workflow: workflow.mode,
            });
        }
        for entry in &workflow.allow {
            if !self.allow.iter().any(|mine| mine.covers(entry)) {
                return Err(PolicyError::NotCovered {
                    entry: entry.to_string(),
                });
            }
        }
        Ok(EgressPolicy {
            mode: workflow.mode,
            allow: workflow.allow.clone(),
        })
    }

    /// The entries in canonical form.
    pub fn entries_as_text(&self) -> Vec<String> {
        self.allow.iter().map(ToString::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(mode: EgressMode, entries: &[&str]) -> EgressPolicy {
        EgressPolicy::parse(mode, entries).unwrap()
    }

    #[test]
    fn reads_modes_by_their_names() {
        assert_eq!("audit".parse::<EgressMode>().unwrap(), EgressMode::Audit);
        assert_eq!("block".parse::<EgressMode>().unwrap(), EgressMode::Block);
        assert_eq!(
            "block-and-fail".parse::<EgressMode>().unwrap(),
            EgressMode::BlockAndFail
        );
        let message = "deny".parse::<EgressMode>().unwrap_err().to_string();
        assert!(message.contains("`deny`") && message.contains("block-and-fail"));
    }

    #[test]
    fn parse_keeps_duplicates_once_and_names_a_bad_entry() {
        let parsed = policy(
            EgressMode::Block,
            &["example.org", "EXAMPLE.org.", "10.0.0.0/8"],
        );
        assert_eq!(parsed.entries_as_text(), ["example.org", "10.0.0.0/8"]);
        let message = EgressPolicy::parse(EgressMode::Block, ["10.0.0.0/8", "10.1.2.3/8"])
            .unwrap_err()
            .to_string();
        assert!(message.contains("`10.1.2.3/8`"), "{message}");
    }

    #[test]
    fn empty_allowlist_means_no_network() {
        assert!(!policy(EgressMode::Audit, &[]).needs_network());
        assert!(policy(EgressMode::Audit, &["10.0.0.0/8"]).needs_network());
    }

    #[test]
    fn narrowing_keeps_the_workflows_covered_entries_and_mode() {
        let runner = policy(
            EgressMode::Block,
            &["10.0.0.0/8", "*.example.org", "[2001:db8::/32]:443"],
        );
        let workflow = policy(
            EgressMode::BlockAndFail,
            &["10.1.2.3:443", "api.example.org", "[2001:db8::1]:443"],
        );
        let narrowed = runner.narrow(&workflow).unwrap();
        assert_eq!(narrowed, workflow);
    }

    #[test]
    fn narrowing_rejects_an_entry_not_covered_naming_it() {
        let runner = policy(EgressMode::Block, &["10.0.0.0/8", "*.example.org:443"]);
        for widening in ["11.0.0.1", "example.org", "api.example.org", "10.0.0.0/7"] {
            let workflow = policy(EgressMode::Block, &["10.1.0.0/16", widening]);
            let err = runner.narrow(&workflow).unwrap_err();
            assert_eq!(
                err,
                PolicyError::NotCovered {
                    entry: widening.to_string()
                }
            );
            assert!(err.to_string().contains(&format!("`{widening}`")));
        }
    }

    #[test]
    fn narrowing_rejects_a_looser_mode() {
        let runner = policy(EgressMode::Block, &["10.0.0.0/8"]);
        let workflow = policy(EgressMode::Audit, &["10.0.0.0/8"]);
        let message = runner.narrow(&workflow).unwrap_err().to_string();
        assert!(
            message.contains("`audit`") && message.contains("`block`"),
            "{message}"
        );
    }

    #[test]
    fn narrowing_to_an_empty_allowlist_removes_the_network() {
        let runner = policy(EgressMode::Audit, &["10.0.0.0/8"]);
        let narrowed = runner.narrow(&policy(EgressMode::Block, &[])).unwrap();
        assert!(!narrowed.needs_network());
    }
}
