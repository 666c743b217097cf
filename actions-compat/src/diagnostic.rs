//! Errors about a user's file, located by line and column, in GitHub's format.
//!
//! Every parser in this crate (YAML, workflow, action) reports problems in a file as
//! [`Diagnostic`]s, and a failed parse returns all of them at once as [`ParseErrors`], so that a
//! user sees every problem GitHub would show, not only the first. Reading a file from disk adds
//! one more way to fail, [`LoadError`].

use std::fmt;

/// One problem in a file.
///
/// `line` and `col` are 1-based; `col` counts characters. A `line` of 0 means the problem concerns
/// the whole file (for example, the file is too large), and it is then printed without a position.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl Diagnostic {
    /// A problem at a position in `file`.
    pub fn new(
        file: impl Into<String>,
        line: usize,
        col: usize,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file: file.into(),
            line,
            col,
            message: message.into(),
        }
    }

    /// A problem with the whole file, printed without a position.
    pub fn whole_file(file: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic::new(file, 0, 0, message)
    }

    /// Whether the diagnostic points at a position (rather than the whole file).
    pub fn has_position(&self) -> bool {
        self.line > 0
    }

    /// The diagnostic as rustc prints errors: a headline, ` --> file:line:col`, the quoted line
    /// from `source` (the file's text) and a caret under the column.
    pub fn render(&self, source: Option<&str>) -> String {
        let mut out = format!("error: {}\n", self.message);
        if !self.has_position() {
            out.push_str(&format!(" --> {}\n", self.file));
            return out;
        }
        out.push_str(&format!(" --> {}:{}:{}\n", self.file, self.line, self.col));
        if let Some(text) = source.and_then(|s| crate::source_text::line_text(s, self.line)) {
            let gutter = " ".repeat(self.line.to_string().len());
            let pad = crate::source_text::caret_pad(text, self.col);
            out.push_str(&format!(
                "{gutter} |\n{} | {text}\n{gutter} | {pad}^\n",
                self.line
            ));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    /// `FILE (Line: L, Col: C): MESSAGE`, as GitHub prints workflow errors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.has_position() {
            write!(
                f,
                "{} (Line: {}, Col: {}): {}",
                self.file, self.line, self.col, self.message
            )
        } else {
            write!(f, "{}: {}", self.file, self.message)
        }
    }
}

/// All the problems found in a file; a parse that finds any returns this instead of a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseErrors(pub Vec<Diagnostic>);

impl ParseErrors {
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Diagnostic> for ParseErrors {
    fn from(d: Diagnostic) -> Self {
        ParseErrors(vec![d])
    }
}

impl IntoIterator for ParseErrors {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Display for ParseErrors {
    /// One diagnostic a line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Why a file could not be loaded: it could not be read, or it was read and has problems.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Parse(#[from] ParseErrors),
}

/// Reads the file at `path` and parses its text with `parse`, which names the file in
/// diagnostics by `path` as given.
pub(crate) fn parse_file<T>(
    path: &std::path::Path,
    parse: impl FnOnce(&str, &str) -> Result<T, ParseErrors>,
) -> Result<T, LoadError> {
    let source = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(parse(&source, &path.display().to_string())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_quoted_line_with_caret_under_column() {
        let d = Diagnostic::new("w.yml", 2, 5, "Unexpected value 'runn'");
        let text = d.render(Some("on: push\njobs: x\n"));
        assert_eq!(
            text,
            "error: Unexpected value 'runn'\n --> w.yml:2:5\n  |\n2 | jobs: x\n  |     ^\n"
        );
    }

    #[test]
    fn renders_whole_file_problem_without_position() {
        let d = Diagnostic::whole_file("w.yml", "too large");
        assert_eq!(d.render(Some("x")), "error: too large\n --> w.yml\n");
    }

    #[test]
    fn displays_in_githubs_format() {
        let d = Diagnostic::new(".github/workflows/ci.yml", 7, 9, "Unexpected value 'runn'");
        assert_eq!(
            d.to_string(),
            ".github/workflows/ci.yml (Line: 7, Col: 9): Unexpected value 'runn'"
        );
    }

    #[test]
    fn whole_file_diagnostic_has_no_position() {
        let d = Diagnostic::whole_file("a.yml", "too big");
        assert_eq!(d.to_string(), "a.yml: too big");
    }

    #[test]
    fn parse_errors_print_one_per_line() {
        let e = ParseErrors(vec![
            Diagnostic::new("a.yml", 1, 2, "x"),
            Diagnostic::new("a.yml", 3, 4, "y"),
        ]);
        assert_eq!(
            e.to_string(),
            "a.yml (Line: 1, Col: 2): x\na.yml (Line: 3, Col: 4): y"
        );
    }
}
