//! The environment files a step writes for the runner to read after it ends.
//!
//! - `GITHUB_ENV`, `GITHUB_OUTPUT` and `GITHUB_STATE` hold `NAME=VALUE` lines and `NAME<<DELIMITER`
//!   heredocs whose value runs up to a line that is exactly `DELIMITER`; empty lines are skipped.
//!   [`key_values`] reads them lazily and stops at the first error, so the engine can apply what
//!   came before it and then fail the step, which is what GitHub does.
//! - `GITHUB_PATH` holds one directory per line: [`path_entries`], and [`PrependPath`] for how
//!   GitHub orders them in `PATH`.
//!
//! Rules kept from GitHub's runner: the name is everything before the first `=` or `<<`, whichever
//! comes first, and is not trimmed; a value is not trimmed; the delimiter line must match exactly
//! (trailing spaces count). On Linux and macOS only `\n` ends a line, so a `\r` before it is part
//! of the line ([`LineEndings::Lf`]); GitHub's Windows runner also accepts `\r\n`
//! ([`LineEndings::CrLf`]). Names in `GITHUB_OUTPUT` and `GITHUB_STATE` are compared ignoring case,
//! environment variable names are not ([`FileCommandKind::names_ignore_case`]); `GITHUB_ENV` may not
//! set the names in [`super::BLOCKED_ENV_NAMES`] ([`super::is_blocked_env_name`]: GitHub reports an
//! error annotation and skips the line without failing the step), and the runner's own
//! `GITHUB_*`/`RUNNER_*` defaults are set again for every step, so writing one has no effect on them.
//!
//! One deliberate difference: a line `=value` (empty name) is an error here, where GitHub's runner
//! lets it through by mistake and sets a variable with an empty name.

use std::borrow::Cow;
use std::fmt;

use thiserror::Error;

/// Which environment file is being read; shown in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileCommandKind {
    Env,
    Output,
    State,
    Path,
}

impl FileCommandKind {
    /// The environment variable that holds the file's path.
    pub fn env_var(self) -> &'static str {
        match self {
            FileCommandKind::Env => "GITHUB_ENV",
            FileCommandKind::Output => "GITHUB_OUTPUT",
            FileCommandKind::State => "GITHUB_STATE",
            FileCommandKind::Path => "GITHUB_PATH",
        }
    }

    /// Whether two names differing only in case name the same entry: true for outputs and state,
    /// false for environment variables (as on GitHub's Linux and macOS runners).
    pub fn names_ignore_case(self) -> bool {
        matches!(self, FileCommandKind::Output | FileCommandKind::State)
    }
}

impl fmt::Display for FileCommandKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.env_var())
    }
}

/// What ends a line in a key-value file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LineEndings {
    /// Only `\n`, as GitHub's Linux and macOS runners read these files.
    #[default]
    Lf,
    /// `\r\n` or `\n`, as GitHub's Windows runner reads them.
    CrLf,
}

/// One `NAME=VALUE` line or `NAME<<DELIMITER` heredoc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub value: String,
    /// The 1-based line on which the entry starts.
    pub line: usize,
}

/// Why a key-value file could not be read to its end.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FileCommandError {
    #[error("{file} line {line}: expected `NAME=VALUE` or `NAME<<DELIMITER`, found {text:?}")]
    InvalidLine {
        file: FileCommandKind,
        line: usize,
        /// The start of the line (at most 80 characters).
        text: String,
    },
    #[error("{file} line {line}: the name before `=` or `<<` is empty")]
    EmptyName { file: FileCommandKind, line: usize },
    #[error("{file} line {line}: `{name}<<` needs a delimiter after `<<`")]
    MissingDelimiter {
        file: FileCommandKind,
        line: usize,
        name: String,
    },
    #[error(
        "{file} line {line}: the value of `{name}` is never closed: no line after it is exactly \
         {delimiter:?} (a final delimiter line needs no line ending, every value line does)"
    )]
    UnterminatedHeredoc {
        file: FileCommandKind,
        line: usize,
        name: String,
        delimiter: String,
    },
}

impl FileCommandError {
    /// The 1-based line the error is about.
    pub fn line(&self) -> usize {
        match self {
            FileCommandError::InvalidLine { line, .. }
            | FileCommandError::EmptyName { line, .. }
            | FileCommandError::MissingDelimiter { line, .. }
            | FileCommandError::UnterminatedHeredoc { line, .. } => *line,
        }
    }
}

/// Turns a file's bytes into text as GitHub's runner reads it: a UTF-8 byte order mark is
/// dropped and bytes that are not UTF-8 become U+FFFD.
pub fn decode(bytes: &[u8]) -> Cow<'_, str> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    String::from_utf8_lossy(bytes)
}

/// Reads the entries of a `GITHUB_ENV`, `GITHUB_OUTPUT` or `GITHUB_STATE` file in order; after the
/// first error the iterator ends.
///
/// ```
/// use actions_compat::commands::file::{key_values, FileCommandKind, LineEndings};
/// let text = "a=1\nnotes<<EOF\nline 1\nline 2\nEOF\n";
/// let entries: Vec<_> = key_values(FileCommandKind::Output, text, LineEndings::Lf)
///     .collect::<Result<_, _>>()
///     .unwrap();
/// assert_eq!(entries[1].value, "line 1\nline 2");
/// ```
pub fn key_values(kind: FileCommandKind, text: &str, endings: LineEndings) -> KeyValues<'_> {
    KeyValues {
        kind,
        lines: Lines {
            text,
            pos: 0,
            number: 0,
            endings,
        },
        done: false,
    }
}

/// All entries up to the first error, and that error.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyValueFile {
    pub entries: Vec<Entry>,
    pub error: Option<FileCommandError>,
}

/// Reads a whole key-value file: the entries GitHub would apply and the error that stops it.
pub fn parse_key_values(kind: FileCommandKind, text: &str, endings: LineEndings) -> KeyValueFile {
    let mut file = KeyValueFile::default();
    for entry in key_values(kind, text, endings) {
        match entry {
            Ok(entry) => file.entries.push(entry),
            Err(error) => file.error = Some(error),
        }
    }
    file
}

/// The iterator [`key_values`] returns.
#[derive(Debug, Clone)]
pub struct KeyValues<'a> {
    kind: FileCommandKind,
    lines: Lines<'a>,
    done: bool,
}

impl Iterator for KeyValues<'_> {
    type Item = Result<Entry, FileCommandError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_entry();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

impl KeyValues<'_> {
    fn next_entry(&mut self) -> Option<Result<Entry, FileCommandError>> {
        let file = self.kind;
        let header = loop {
            let (line, _) = self.lines.next_line()?;
            if !line.is_empty() {
                break line;
            }
        };
        let line = self.lines.number;
        let equals = header.find('=');
        let heredoc = header.find("<<");
        let form = match (equals, heredoc) {
            (Some(eq), Some(hd)) if hd < eq => header.split_once("<<").map(|p| (p, true)),
            (Some(_), _) => header.split_once('=').map(|p| (p, false)),
            (None, Some(_)) => header.split_once("<<").map(|p| (p, true)),
            (None, None) => None,
        };
        let result = match form {
            Some((("", _), _)) => Err(FileCommandError::EmptyName { file, line }),
            Some(((name, value), false)) => Ok(Entry {
                name: name.to_owned(),
                value: value.to_owned(),
                line,
            }),
            Some(((name, delimiter), true)) => {
                if delimiter.is_empty() {
                    Err(FileCommandError::MissingDelimiter {
                        file,
                        line,
                        name: name.to_owned(),
                    })
                } else {
                    self.heredoc_value(name, delimiter, line)
                        .map(|value| Entry {
                            name: name.to_owned(),
                            value,
                            line,
                        })
                }
            }
            None => Err(FileCommandError::InvalidLine {
                file,
                line,
                text: header.chars().take(80).collect(),
            }),
        };
        Some(result)
    }

    /// Reads value lines up to the delimiter line; the line ending before it is not part of the
    /// value, the ones between value lines are.
    fn heredoc_value(
        &mut self,
        name: &str,
        delimiter: &str,
        line: usize,
    ) -> Result<String, FileCommandError> {
        let unterminated = || FileCommandError::UnterminatedHeredoc {
            file: self.kind,
            line,
            name: name.to_owned(),
            delimiter: delimiter.to_owned(),
        };
        let start = self.lines.pos;
        let mut end = start;
        loop {
            let Some((text, ending)) = self.lines.next_line() else {
                return Err(unterminated());
            };
            if text == delimiter {
                break;
            }
            if ending == 0 {
                return Err(unterminated());
            }
            end = self.lines.pos - ending;
        }
        Ok(self.lines.text.get(start..end).unwrap_or("").to_owned())
    }
}

/// Splits text into lines the way GitHub's runner does for key-value files.
#[derive(Debug, Clone)]
struct Lines<'a> {
    text: &'a str,
    pos: usize,
    /// The 1-based number of the line last returned.
    number: usize,
    endings: LineEndings,
}

impl<'a> Lines<'a> {
    /// The next line and the length of the line ending that followed it (0 at the end of text).
    fn next_line(&mut self) -> Option<(&'a str, usize)> {
        let rest = self.text.get(self.pos..).filter(|r| !r.is_empty())?;
        self.number += 1;
        let Some(lf) = rest.find('\n') else {
            self.pos = self.text.len();
            return Some((rest, 0));
        };
        self.pos += lf + 1;
        let line = rest.get(..lf).unwrap_or(rest);
        if self.endings == LineEndings::CrLf {
            if let Some(stripped) = line.strip_suffix('\r') {
                return Some((stripped, 2));
            }
        }
        Some((line, 1))
    }
}

/// The directories in a `GITHUB_PATH` file, in the order written: a line ends at `\n`, `\r\n` or
/// `\r`; empty lines are skipped and nothing is trimmed.
pub fn path_entries(text: &str) -> Vec<String> {
    text.split('\n')
        .flat_map(|line| line.split('\r'))
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The directories that steps added to `PATH`, kept as GitHub keeps them: adding one again moves
/// it to the front, and the most recently added comes first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrependPath {
    /// Oldest first.
    added: Vec<String>,
}

impl PrependPath {
    /// Adds a directory in front of the ones added before.
    pub fn add(&mut self, dir: impl Into<String>) {
        let dir = dir.into();
        self.added.retain(|d| *d != dir);
        self.added.push(dir);
    }

    /// The added directories, first in `PATH` first.
    pub fn dirs(&self) -> impl Iterator<Item = &str> {
        self.added.iter().rev().map(String::as_str)
    }

    /// `PATH` for a step: the added directories, then `original` (joined by `:`).
    pub fn path_value(&self, original: &str) -> String {
        let mut parts: Vec<&str> = self.dirs().collect();
        if !original.is_empty() {
            parts.push(original);
        }
        parts.join(":")
    }
}

#[cfg(test)]
mod tests;
