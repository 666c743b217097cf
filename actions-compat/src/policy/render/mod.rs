//! The three ways a [`LintReport`] is written out: for people (rustc-style, with the offending
//! line and a caret), as JSON for scripts, and as SARIF 2.1.0 for GitHub code scanning.
//!
//! Renderers are pure: they read only the report, which carries the text of every file it
//! quotes.

mod human;
mod json;
mod sarif;

use super::report::LintReport;
use std::fmt;
use std::str::FromStr;

/// An output format of `hrun lint --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    #[default]
    Human,
    Json,
    Sarif,
}

impl OutputFormat {
    pub const ALL: [OutputFormat; 3] =
        [OutputFormat::Human, OutputFormat::Json, OutputFormat::Sarif];

    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Human => "human",
            OutputFormat::Json => "json",
            OutputFormat::Sarif => "sarif",
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `--format` value that is not one of `human`, `json`, `sarif`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown output format `{0}`: expected human, json or sarif")]
pub struct UnknownFormat(pub String);

impl FromStr for OutputFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OutputFormat::ALL
            .into_iter()
            .find(|format| format.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownFormat(s.to_string()))
    }
}

/// How to render, beyond the format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// ANSI colors in the human format (the CLI sets this only on a terminal).
    pub color: bool,
}

impl LintReport {
    /// The report in `format`, without color.
    pub fn render(&self, format: OutputFormat) -> String {
        self.render_with(format, RenderOptions::default())
    }

    pub fn render_with(&self, format: OutputFormat, options: RenderOptions) -> String {
        match format {
            OutputFormat::Human => human::render(self, options),
            OutputFormat::Json => json::render(self),
            OutputFormat::Sarif => sarif::render(self),
        }
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use crate::policy::finding::{Finding, Location, Severity};
    use crate::policy::report::{LintError, LintReport, SourceFile};

    /// A report over one workflow with a denial and a warning.
    pub fn report() -> LintReport {
        let text = "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: echo \"${{ github.event.issue.title }}\"\n";
        LintReport {
            findings: vec![
                Finding {
                    rule_id: "unpinned-uses".into(),
                    severity: Severity::Deny,
                    message: "`actions/checkout@v4` is not pinned to a full commit SHA".into(),
                    location: Location::new(".github/workflows/ci.yml", 6, 15),
                    help: "pin it".into(),
                },
                Finding {
                    rule_id: "template-injection".into(),
                    severity: Severity::Warn,
                    message: "`github.event.issue.title` is expanded into a script".into(),
                    location: Location::new(".github/workflows/ci.yml", 7, 21),
                    help: "use env".into(),
                },
            ],
            errors: Vec::new(),
            files: vec![SourceFile {
                path: ".github/workflows/ci.yml".into(),
                repo_relative: ".github/workflows/ci.yml".into(),
                text: text.into(),
            }],
            files_checked: 1,
        }
    }

    pub fn failed_report() -> LintReport {
        let mut report = report();
        report.errors.push(LintError::Parse {
            at: Location::new(".github/workflows/ci.yml", 3, 3),
            message: "unexpected value 'build'".into(),
        });
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_format_names_ignoring_case() {
        assert_eq!("SARIF".parse(), Ok(OutputFormat::Sarif));
        assert_eq!("json".parse(), Ok(OutputFormat::Json));
        assert_eq!("human".parse(), Ok(OutputFormat::Human));
        assert_eq!(
            "xml".parse::<OutputFormat>(),
            Err(UnknownFormat("xml".into()))
        );
    }
}
