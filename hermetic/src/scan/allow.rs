//! Allowlists: what a rule (or every rule) lets pass, as gitleaks defines it.
//!
//! An allowlist has criteria, `paths` (regexes on the file's path), `regexes` (on the secret, the
//! whole match or the line, per `regexTarget`) and `stopwords` (substrings of the secret, any
//! case), combined by `condition`: `OR` (the default) lets a finding pass when any criterion
//! holds, `AND` when all that are given hold. `commits` name git commits; a scan of files has no
//! commit, so under `AND` an allowlist with commits never holds and under `OR` they are ignored.

/// How an allowlist's criteria combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Or,
    And,
}

/// What an allowlist's `regexes` are matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegexTarget {
    /// The secret (the rule's secret group).
    Secret,
    /// The whole regex match.
    Match,
    /// The line(s) the match is on.
    Line,
}

/// One allowlist, compiled.
#[derive(Debug, Clone)]
pub struct Allowlist {
    pub description: String,
    pub condition: Condition,
    pub(crate) has_commits: bool,
    pub paths: Vec<regex::Regex>,
    pub regex_target: RegexTarget,
    pub regexes: Vec<regex::bytes::Regex>,
    /// Lower case.
    pub stopwords: Vec<String>,
    /// For a global allowlist: the rules it applies to (all when empty).
    pub target_rules: Vec<String>,
}

/// A match about to become a finding (its path was judged by [`Allowlist::path_verdict`]).
pub(crate) struct Candidate<'a> {
    pub secret: &'a [u8],
    pub matched: &'a [u8],
    pub line: &'a [u8],
}

/// What an allowlist says about a whole file before any content is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathVerdict {
    /// Everything in the file passes (an `OR` path criterion holds, or an `AND` allowlist has
    /// nothing but paths and they hold).
    AllowsFile,
    /// The allowlist can never hold in this file (`AND` with paths that do not match, or with
    /// commits).
    Inactive,
    /// It depends on each match.
    PerMatch,
}

impl Allowlist {
    /// Whether this global allowlist applies to the rule `id`.
    pub(crate) fn targets(&self, id: &str) -> bool {
        self.target_rules.is_empty() || self.target_rules.iter().any(|t| t == id)
    }

    fn has_content_criteria(&self) -> bool {
        !self.regexes.is_empty() || !self.stopwords.is_empty()
    }

    /// What the allowlist decides for `path` alone.
    pub(crate) fn path_verdict(&self, path: &str) -> PathVerdict {
        let path_holds = if self.paths.is_empty() {
            None
        } else {
            Some(self.paths.iter().any(|p| p.is_match(path)))
        };
        match self.condition {
            Condition::Or => {
                if path_holds == Some(true) {
                    PathVerdict::AllowsFile
                } else if self.has_content_criteria() {
                    PathVerdict::PerMatch
                } else {
                    PathVerdict::Inactive
                }
            }
            Condition::And => {
                if self.has_commits || path_holds == Some(false) {
                    PathVerdict::Inactive
                } else if self.has_content_criteria() {
                    PathVerdict::PerMatch
                } else if path_holds == Some(true) {
                    PathVerdict::AllowsFile
                } else {
                    PathVerdict::Inactive
                }
            }
        }
    }

    /// Whether the candidate passes. Only called when [`Allowlist::path_verdict`] said
    /// `PerMatch` for the candidate's path, so the path criterion is already known to hold
    /// (`AND`) or to not hold (`OR`).
    pub(crate) fn allows(&self, c: &Candidate<'_>) -> bool {
        let target = match self.regex_target {
            RegexTarget::Secret => c.secret,
            RegexTarget::Match => c.matched,
            RegexTarget::Line => c.line,
        };
        let regex = if self.regexes.is_empty() {
            None
        } else {
            Some(self.regexes.iter().any(|r| r.is_match(target)))
        };
        let stopword = if self.stopwords.is_empty() {
            None
        } else {
            let lower = c.secret.to_ascii_lowercase();
            Some(
                self.stopwords
                    .iter()
                    .any(|w| memchr::memmem::find(&lower, w.as_bytes()).is_some()),
            )
        };
        match self.condition {
            Condition::Or => regex == Some(true) || stopword == Some(true),
            Condition::And => regex != Some(false) && stopword != Some(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowlist(
        condition: Condition,
        paths: &[&str],
        regexes: &[&str],
        stop: &[&str],
    ) -> Allowlist {
        Allowlist {
            description: String::new(),
            condition,
            has_commits: false,
            paths: paths
                .iter()
                .map(|p| regex::Regex::new(p).unwrap())
                .collect(),
            regex_target: RegexTarget::Secret,
            regexes: regexes
                .iter()
                .map(|p| regex::bytes::Regex::new(p).unwrap())
                .collect(),
            stopwords: stop.iter().map(|s| s.to_string()).collect(),
            target_rules: Vec::new(),
        }
    }

    fn candidate(secret: &str) -> Candidate<'_> {
        Candidate {
            secret: secret.as_bytes(),
            matched: secret.as_bytes(),
            line: secret.as_bytes(),
        }
    }

    #[test]
    fn or_allows_the_file_when_a_path_matches() {
        let a = allowlist(Condition::Or, &[r"\.lock$"], &["x"], &[]);
        assert_eq!(a.path_verdict("Cargo.lock"), PathVerdict::AllowsFile);
        assert_eq!(a.path_verdict("main.rs"), PathVerdict::PerMatch);
    }

    #[test]
    fn and_needs_every_given_criterion() {
        let a = allowlist(Condition::And, &["^tests/"], &["^EXAMPLE"], &["fake"]);
        assert_eq!(a.path_verdict("src/x"), PathVerdict::Inactive);
        assert_eq!(a.path_verdict("tests/x"), PathVerdict::PerMatch);
        assert!(a.allows(&candidate("EXAMPLE-FAKE-1")));
        assert!(!a.allows(&candidate("EXAMPLE-real-1")));
    }

    #[test]
    fn stopwords_match_the_secret_in_any_case() {
        let a = allowlist(Condition::Or, &[], &[], &["example"]);
        assert!(a.allows(&candidate("AKIAIOSFODNN7EXAMPLE")));
        assert!(!a.allows(&candidate("AKIAIOSFODNN7ABCDEFG")));
    }

    #[test]
    fn an_and_allowlist_with_commits_never_holds_on_files() {
        let mut a = allowlist(Condition::And, &[], &["x"], &[]);
        a.has_commits = true;
        assert_eq!(a.path_verdict("any"), PathVerdict::Inactive);
    }
}
