//! The outcome of a lint run: findings, the files that could not be evaluated, and the one exit
//! code they add up to.

use super::finding::{Finding, Location, Severity};
use super::policy_file::PolicyFileError;
use super::rego::RegoError;
use super::rules::{custom_rule_info, BuiltinRule, RuleInfo};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The verdict of a lint run. Each has its own exit code, so a denial and a failure to
/// evaluate can never be mistaken for each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was evaluated and nothing was denied (warnings may remain). Exit code 0.
    Clean,
    /// Everything was evaluated and at least one finding was denied by policy. Exit code 1.
    Denied,
    /// Something could not be evaluated (unreadable file, parse error, bad policy file, Rego
    /// error); findings from what could be evaluated are still reported. Exit code 2, whatever
    /// else was found: an incomplete evaluation never passes for a verdict.
    Failed,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Clean => 0,
            Outcome::Denied => 1,
            Outcome::Failed => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Clean => "clean",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// Something the gate could not evaluate.
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    /// A path given on the command line does not exist or cannot be listed.
    #[error("cannot search {}: {source}", path.display())]
    Search {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The workflow or action file is not valid (as GitHub would reject it).
    #[error("{message}")]
    Parse { at: Location, message: String },
    #[error(transparent)]
    Policy(#[from] PolicyFileError),
    /// A Rego policy failed to load or to evaluate against `file`.
    #[error("{}{error}", file.as_ref().map(|f| format!("while evaluating {}: ", f.display())).unwrap_or_default())]
    Rego {
        error: RegoError,
        file: Option<PathBuf>,
    },
}

impl LintError {
    /// Where in a file the problem is, when it has a position.
    pub fn location(&self) -> Option<&Location> {
        match self {
            LintError::Parse { at, .. } => Some(at),
            LintError::Policy(error) => error.location(),
            LintError::Search { .. } | LintError::Read { .. } | LintError::Rego { .. } => None,
        }
    }

    /// The file the problem is about.
    pub fn file(&self) -> Option<&Path> {
        match self {
            LintError::Search { path, .. } | LintError::Read { path, .. } => Some(path),
            LintError::Rego { error, file } => error.file().or(file.as_deref()),
            LintError::Policy(PolicyFileError::Read { path, .. }) => Some(path),
            _ => self.location().map(|at| at.file.as_path()),
        }
    }

    /// A short machine-readable kind (`parse`, `policy`, ...), for JSON and SARIF.
    pub fn kind(&self) -> &'static str {
        match self {
            LintError::Search { .. } => "search",
            LintError::Read { .. } => "read",
            LintError::Parse { .. } => "parse",
            LintError::Policy(_) => "policy-file",
            LintError::Rego { .. } => "rego",
        }
    }

    /// What to do about it.
    pub fn help(&self) -> Option<&str> {
        match self {
            LintError::Search { .. } => Some("check the path"),
            LintError::Read { .. } => None,
            LintError::Parse { .. } => None,
            LintError::Policy(error) => Some(error.help()),
            LintError::Rego { .. } => {
                Some("fix the Rego policy; see the contract in `hrun lint --help`")
            }
        }
    }
}

/// A file the gate read, kept for the quoted lines of the human report and SARIF's URIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The path as it was found; the same path findings' locations carry.
    pub path: PathBuf,
    /// Relative to the root of the repository it belongs to, with `/` separators.
    pub repo_relative: String,
    pub text: String,
}

/// The files of a report by path (see [`LintReport::sources`]).
#[derive(Debug)]
pub struct Sources<'a>(HashMap<&'a Path, &'a SourceFile>);

impl<'a> Sources<'a> {
    pub fn get(&self, path: &Path) -> Option<&'a SourceFile> {
        self.0.get(path).copied()
    }
}

/// Everything a lint run found.
#[derive(Debug, Default)]
pub struct LintReport {
    pub findings: Vec<Finding>,
    pub errors: Vec<LintError>,
    /// Every workflow, action and policy file read, in the order read.
    pub files: Vec<SourceFile>,
    /// How many workflow and action files were evaluated.
    pub files_checked: usize,
}

impl LintReport {
    pub fn outcome(&self) -> Outcome {
        if !self.errors.is_empty() {
            Outcome::Failed
        } else if self.denied() > 0 {
            Outcome::Denied
        } else {
            Outcome::Clean
        }
    }

    /// 0 nothing denied, 1 denied by policy, 2 could not evaluate (see [`Outcome`]).
    pub fn exit_code(&self) -> u8 {
        self.outcome().exit_code()
    }

    pub fn denied(&self) -> usize {
        self.count(Severity::Deny)
    }

    pub fn warnings(&self) -> usize {
        self.count(Severity::Warn)
    }

    fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// The file read at this path, if any.
    pub fn source(&self, path: &Path) -> Option<&SourceFile> {
        self.files.iter().find(|file| file.path == path)
    }

    /// Every file read, by path, for renderers that look up many locations.
    pub fn sources(&self) -> Sources<'_> {
        Sources(self.files.iter().map(|f| (f.path.as_path(), f)).collect())
    }

    /// Sorts findings by file, line, column and rule, for stable output.
    pub fn sort(&mut self) {
        self.findings.sort_by(|a, b| {
            (&a.location, &a.rule_id, &a.message).cmp(&(&b.location, &b.rule_id, &b.message))
        });
    }

    /// The built-in rules, then every custom rule that produced a finding, sorted by id.
    pub fn rules(&self) -> Vec<RuleInfo> {
        let mut rules: Vec<RuleInfo> = BuiltinRule::ALL.iter().map(|r| r.info()).collect();
        let mut custom: Vec<RuleInfo> = Vec::new();
        for finding in &self.findings {
            if BuiltinRule::from_id(&finding.rule_id).is_none()
                && !custom.iter().any(|rule| rule.id == finding.rule_id)
            {
                custom.push(custom_rule_info(&finding.rule_id, finding.severity));
            }
        }
        custom.sort_by(|a, b| a.id.cmp(&b.id));
        rules.extend(custom);
        rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(severity: Severity) -> Finding {
        Finding {
            rule_id: "unpinned-uses".into(),
            severity,
            message: "m".into(),
            location: Location::new("a.yml", 1, 1),
            help: "h".into(),
        }
    }

    fn parse_error() -> LintError {
        LintError::Parse {
            at: Location::new("b.yml", 2, 3),
            message: "bad".into(),
        }
    }

    #[test]
    fn nothing_found_exits_zero_and_warnings_do_not_deny() {
        let mut report = LintReport::default();
        assert_eq!(report.exit_code(), 0);
        report.findings.push(finding(Severity::Warn));
        assert_eq!(report.outcome(), Outcome::Clean);
        assert_eq!(report.exit_code(), 0);
    }

    #[test]
    fn a_denied_finding_exits_one() {
        let report = LintReport {
            findings: vec![finding(Severity::Warn), finding(Severity::Deny)],
            ..LintReport::default()
        };
        assert_eq!(report.outcome(), Outcome::Denied);
        assert_eq!(report.exit_code(), 1);
    }

    #[test]
    fn a_failure_exits_two_even_with_denials() {
        let report = LintReport {
            findings: vec![finding(Severity::Deny)],
            errors: vec![parse_error()],
            ..LintReport::default()
        };
        assert_eq!(report.outcome(), Outcome::Failed);
        assert_eq!(report.exit_code(), 2);
        assert_ne!(Outcome::Denied.exit_code(), Outcome::Failed.exit_code());
    }

    #[test]
    fn rules_list_builtins_then_custom_rules_that_fired() {
        let mut custom = finding(Severity::Warn);
        custom.rule_id = "rego/runners".into();
        let report = LintReport {
            findings: vec![custom.clone(), custom],
            ..LintReport::default()
        };
        let ids: Vec<String> = report.rules().into_iter().map(|r| r.id).collect();
        assert_eq!(
            ids,
            [
                "pull-request-target",
                "unpinned-uses",
                "template-injection",
                "rego/runners"
            ]
        );
    }
}
