//! The human format, after rustc: a headline with the rule id, ` --> file:line:col`, the line
//! with a caret under the column, and what to do.

use super::RenderOptions;
use crate::policy::finding::{Location, Severity};
use crate::policy::report::{LintReport, Outcome, Sources};
use crate::source_text::{caret_pad, line_text};
use std::fmt::Write;

struct Palette {
    color: bool,
}

impl Palette {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn severity(&self, severity: Severity, text: &str) -> String {
        match severity {
            Severity::Deny => self.paint("1;31", text),
            Severity::Warn => self.paint("1;33", text),
        }
    }

    fn frame(&self, text: &str) -> String {
        self.paint("1;34", text)
    }

    fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }
}

pub(super) fn render(report: &LintReport, options: RenderOptions) -> String {
    let palette = Palette {
        color: options.color,
    };
    let sources = report.sources();
    let mut out = String::new();
    for finding in &report.findings {
        let headline = format!("{}[{}]", finding.severity.label(), finding.rule_id);
        let _ = writeln!(
            out,
            "{}{}",
            palette.severity(finding.severity, &headline),
            palette.bold(&format!(": {}", finding.message))
        );
        snippet(
            &mut out,
            &sources,
            &finding.location,
            finding.severity,
            &palette,
        );
        help(
            &mut out,
            &finding.help,
            Some(finding.location.line),
            &palette,
        );
        out.push('\n');
    }
    for error in &report.errors {
        let headline = format!("error[{}]", error.kind());
        let _ = writeln!(
            out,
            "{}{}",
            palette.severity(Severity::Deny, &headline),
            palette.bold(&format!(": {error}"))
        );
        match error.location() {
            Some(at) => snippet(&mut out, &sources, at, Severity::Deny, &palette),
            None => {
                if let Some(file) = error.file() {
                    let _ = writeln!(out, " {} {}", palette.frame("-->"), file.display());
                }
            }
        }
        if let Some(text) = error.help() {
            help(&mut out, text, error.location().map(|at| at.line), &palette);
        }
        out.push('\n');
    }
    summary(&mut out, report, &palette);
    out
}

/// ` --> file:line:col`, then the line and a caret when the file's text is at hand.
fn snippet(
    out: &mut String,
    sources: &Sources<'_>,
    at: &Location,
    severity: Severity,
    palette: &Palette,
) {
    let line = sources
        .get(&at.file)
        .and_then(|file| line_text(&file.text, at.line));
    let number = at.line.to_string();
    let gutter = " ".repeat(number.len());
    let _ = writeln!(out, "{gutter}{} {at}", palette.frame("-->"));
    let Some(line) = line else {
        return;
    };
    let bar = palette.frame("|");
    let _ = writeln!(out, "{gutter} {bar}");
    let _ = writeln!(out, "{} {bar} {line}", palette.frame(&number));
    // Keep tabs so the caret lines up under the same column however the terminal shows them.
    // A column past the end of the line (the line ending) puts the caret just after it.
    let pad = caret_pad(line, at.col);
    let _ = writeln!(
        out,
        "{gutter} {bar} {pad}{}",
        palette.severity(severity, "^")
    );
}

/// The help line, its `=` under the gutter's `|` (`line` is the quoted line's number, if any).
fn help(out: &mut String, text: &str, line: Option<usize>, palette: &Palette) {
    let gutter = " ".repeat(line.map_or(1, |n| n.to_string().len()));
    let _ = writeln!(out, "{gutter} {} {text}", palette.bold("= help:"));
}

fn summary(out: &mut String, report: &LintReport, palette: &Palette) {
    let files = plural(report.files_checked, "file");
    let denied = report.denied();
    let warnings = plural(report.warnings(), "warning");
    let line = match report.outcome() {
        Outcome::Clean => format!("{files} checked: nothing denied, {warnings}"),
        Outcome::Denied => format!("{files} checked: {denied} denied by policy, {warnings}"),
        Outcome::Failed => format!(
            "{files} checked, {} could not be evaluated: {denied} denied, {warnings} in the rest",
            plural(report.errors.len(), "problem")
        ),
    };
    let label = match report.outcome() {
        Outcome::Clean => palette.paint("1;32", "ok"),
        Outcome::Denied | Outcome::Failed => palette.severity(Severity::Deny, "error"),
    };
    let _ = writeln!(out, "{label}: {line}");
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;

    #[test]
    fn shows_rule_location_line_caret_and_help() {
        let out = render(&fixtures::report(), RenderOptions::default());
        let expected = "\
error[unpinned-uses]: `actions/checkout@v4` is not pinned to a full commit SHA
 --> .github/workflows/ci.yml:6:15
  |
6 |       - uses: actions/checkout@v4
  |               ^
  = help: pin it

warning[template-injection]: `github.event.issue.title` is expanded into a script
 --> .github/workflows/ci.yml:7:21
  |
7 |       - run: echo \"${{ github.event.issue.title }}\"
  |                     ^
  = help: use env

error: 1 file checked: 1 denied by policy, 1 warning
";
        assert_eq!(out, expected);
    }

    #[test]
    fn shows_failures_with_their_position_and_the_failed_summary() {
        let out = render(&fixtures::failed_report(), RenderOptions::default());
        assert!(
            out.contains("error[parse]: unexpected value 'build'\n --> .github/workflows/ci.yml:3:3\n  |\n3 |   build:\n  |   ^\n"),
            "{out}"
        );
        assert!(out.ends_with("error: 1 file checked, 1 problem could not be evaluated: 1 denied, 1 warning in the rest\n"), "{out}");
    }

    #[test]
    fn help_lines_up_with_a_wide_gutter() {
        let mut report = fixtures::report();
        report.files[0].text = "x\n".repeat(12);
        report.findings.truncate(1);
        report.findings[0].location.line = 12;
        report.findings[0].location.col = 1;
        let out = render(&report, RenderOptions::default());
        assert!(out.contains("12 | x\n   | ^\n   = help:"), "{out}");
    }

    #[test]
    fn caret_keeps_tabs_and_stops_at_the_end_of_the_line() {
        let mut report = fixtures::report();
        report.files[0].text = "\tab\n".into();
        report.findings.truncate(1);
        report.findings[0].location.line = 1;
        report.findings[0].location.col = 3;
        let out = render(&report, RenderOptions::default());
        assert!(out.contains("1 | \tab\n  | \t ^\n"), "{out:?}");
        report.findings[0].location.col = 9;
        let out = render(&report, RenderOptions::default());
        assert!(out.contains("1 | \tab\n  | \t  ^\n"), "{out:?}");
    }

    #[test]
    fn without_the_source_it_still_names_the_position() {
        let mut report = fixtures::report();
        report.files.clear();
        let out = render(&report, RenderOptions::default());
        assert!(
            out.contains(" --> .github/workflows/ci.yml:6:15\n  = help: pin it\n"),
            "{out}"
        );
    }

    #[test]
    fn color_only_when_asked() {
        let plain = render(&fixtures::report(), RenderOptions { color: false });
        assert!(!plain.contains('\x1b'));
        let colored = render(&fixtures::report(), RenderOptions { color: true });
        assert!(colored.contains("\x1b[1;31merror[unpinned-uses]\x1b[0m"));
    }

    #[test]
    fn clean_report_says_ok() {
        let mut report = fixtures::report();
        report.findings.clear();
        let out = render(&report, RenderOptions::default());
        assert_eq!(out, "ok: 1 file checked: nothing denied, 0 warnings\n");
    }
}
