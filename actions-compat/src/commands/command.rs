//! The workflow commands GitHub's runner acts on, as typed values, and the reasons it refuses one.
//!
//! This module gives each recognised command its meaning (which properties count, how line and
//! column numbers are checked) but keeps no state: stopping and resuming commands and the echo
//! switch live in [`super::CommandParser`].

use thiserror::Error;

use super::syntax::RawCommand;

/// The commands GitHub's runner recognises (a pending stop token aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum CommandName {
    StopCommands,
    SetEnv,
    SetOutput,
    SaveState,
    AddMask,
    AddPath,
    AddMatcher,
    RemoveMatcher,
    Debug,
    Warning,
    Error,
    Notice,
    Group,
    EndGroup,
    Echo,
}

impl CommandName {
    const ALL: [(&'static str, CommandName); 15] = [
        ("stop-commands", CommandName::StopCommands),
        ("set-env", CommandName::SetEnv),
        ("set-output", CommandName::SetOutput),
        ("save-state", CommandName::SaveState),
        ("add-mask", CommandName::AddMask),
        ("add-path", CommandName::AddPath),
        ("add-matcher", CommandName::AddMatcher),
        ("remove-matcher", CommandName::RemoveMatcher),
        ("debug", CommandName::Debug),
        ("warning", CommandName::Warning),
        ("error", CommandName::Error),
        ("notice", CommandName::Notice),
        ("group", CommandName::Group),
        ("endgroup", CommandName::EndGroup),
        ("echo", CommandName::Echo),
    ];

    /// The name as GitHub spells it.
    pub(crate) fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("", |(n, _)| n)
    }

    /// The command a name refers to, ignoring ASCII case as GitHub does.
    pub(crate) fn parse(name: &str) -> Option<CommandName> {
        Self::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, c)| *c)
    }

    /// Whether GitHub's runner leaves the command line out of the log even with echo on (it
    /// prints what the command does instead).
    pub(crate) fn omits_echo(self) -> bool {
        matches!(
            self,
            CommandName::AddMask
                | CommandName::Debug
                | CommandName::Warning
                | CommandName::Error
                | CommandName::Notice
        )
    }
}

/// Environment variables that GitHub's runner refuses to let a step set for later steps (through
/// `GITHUB_ENV` or `::set-env::`), compared ignoring ASCII case.
pub const BLOCKED_ENV_NAMES: &[&str] = &["NODE_OPTIONS"];

/// Whether GitHub's runner refuses to let a step set `name` for later steps.
pub fn is_blocked_env_name(name: &str) -> bool {
    BLOCKED_ENV_NAMES
        .iter()
        .any(|blocked| blocked.eq_ignore_ascii_case(name))
}

/// The environment variable with which a job opts back into `set-env` and `add-path`.
pub const ALLOW_UNSECURE_COMMANDS_ENV: &str = "ACTIONS_ALLOW_UNSECURE_COMMANDS";

/// The environment variable with which a job allows any token for `stop-commands`.
pub const ALLOW_UNSECURE_STOP_TOKENS_ENV: &str = "ACTIONS_ALLOW_UNSECURE_STOPCOMMAND_TOKENS";

/// A stop token longer than this many characters is registered as a secret, as GitHub does, so
/// that a step cannot read it back from the log to forge the resume line.
pub const STOP_TOKEN_MASK_MIN_LEN: usize = 7;

/// How severe an annotation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnnotationLevel {
    Error,
    Warning,
    Notice,
}

impl AnnotationLevel {
    /// The command name that creates an annotation of this level.
    pub fn command_name(self) -> &'static str {
        match self {
            AnnotationLevel::Error => "error",
            AnnotationLevel::Warning => "warning",
            AnnotationLevel::Notice => "notice",
        }
    }
}

/// An `::error`, `::warning` or `::notice` command.
///
/// Line and column numbers are already checked as GitHub checks them: an `endLine` alone becomes
/// `line`, an `endColumn` alone becomes `col`, columns without a line or spanning several lines are
/// dropped, and an end before its start drops both. `file` is as written; making it relative to
/// the workspace is the engine's business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub level: AnnotationLevel,
    pub message: String,
    pub file: Option<String>,
    pub title: Option<String>,
    pub line: Option<u32>,
    pub end_line: Option<u32>,
    pub col: Option<u32>,
    pub end_column: Option<u32>,
}

/// The value of an `::add-mask::` command. Its `Debug` output never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct MaskValue(pub String);

impl std::fmt::Debug for MaskValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MaskValue(<{} bytes>)", self.0.len())
    }
}

/// What `::remove-matcher` names: an owner or a matcher file, never both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatcherRef {
    Owner(String),
    File(String),
}

/// A workflow command that the runner acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkflowCommand {
    /// `::add-mask::value`: register `value` (and each of its lines) as a secret.
    AddMask(MaskValue),
    /// `::group::title`: start a foldable group in the log.
    Group { title: String },
    /// `::endgroup::`: end the current group.
    EndGroup,
    /// `::error`, `::warning`, `::notice`.
    Annotation(Annotation),
    /// `::debug::message`: shown only when step debug logging is on.
    Debug { message: String },
    /// `::stop-commands::token`: nothing is a command until a line `::token::`.
    StopCommands { token: String },
    /// `::token::` after a `stop-commands`: commands are processed again.
    ResumeCommands { token: String },
    /// `::echo::on|off`: whether command lines are echoed to the log.
    Echo { enabled: bool },
    /// `::save-state name=..::value`; deprecated in favour of `GITHUB_STATE`.
    SaveState { name: String, value: String },
    /// `::set-output name=..::value`; deprecated in favour of `GITHUB_OUTPUT`.
    SetOutput { name: String, value: String },
    /// `::set-env name=..::value`; only when the job opted into unsecure commands.
    SetEnv { name: String, value: String },
    /// `::add-path::dir`; only when the job opted into unsecure commands.
    AddPath { path: String },
    /// `::add-matcher::file.json`: register problem matchers.
    AddMatcher { file: String },
    /// `::remove-matcher owner=..::` or `::remove-matcher::file.json`.
    RemoveMatcher(MatcherRef),
}

impl WorkflowCommand {
    /// Whether GitHub has deprecated the command in favour of an environment file.
    pub fn is_deprecated(&self) -> bool {
        matches!(
            self,
            WorkflowCommand::SetOutput { .. } | WorkflowCommand::SaveState { .. }
        )
    }

    /// The values the engine must register with the secret masker before printing anything else:
    /// an `add-mask` value, and a stop token long enough to be worth hiding.
    pub fn values_to_mask(&self) -> Vec<&str> {
        match self {
            WorkflowCommand::AddMask(value) => vec![value.0.as_str()],
            WorkflowCommand::StopCommands { token }
                if token.chars().count() >= STOP_TOKEN_MASK_MIN_LEN =>
            {
                vec![token.as_str()]
            }
            _ => Vec::new(),
        }
    }
}

/// Why the runner would not act on a recognised command.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CommandError {
    #[error("`::add-mask::` needs a value; an empty or blank mask is ignored")]
    EmptyMask,
    #[error("`::{command}::` needs a `name` property")]
    MissingName { command: &'static str },
    #[error(
        "`::{command}::` is disabled: write to the environment files (GITHUB_ENV, GITHUB_PATH) \
         instead, or set `{ALLOW_UNSECURE_COMMANDS_ENV}` to `true` to allow it"
    )]
    Disabled { command: &'static str },
    #[error("`::set-env::` cannot set `{name}`")]
    BlockedEnvName { name: String },
    #[error("`::add-path::` needs a directory")]
    EmptyPath,
    #[error("`::echo::` takes `on` or `off`, not `{value}`")]
    InvalidEcho { value: String },
    #[error(
        "`::stop-commands::` needs a token that is not empty, not `pause-logging` and not the name \
         of a workflow command; set `{ALLOW_UNSECURE_STOP_TOKENS_ENV}` to `true` to allow `{token}`"
    )]
    InvalidStopToken { token: String },
    #[error("`::add-matcher::` needs the path of a matcher file")]
    MissingMatcherFile,
    #[error("`::remove-matcher::` takes either an `owner` property or a file, not both")]
    AmbiguousMatcher,
    #[error("`::remove-matcher::` needs an `owner` property or a file")]
    MissingMatcher,
}

impl CommandError {
    /// Whether GitHub fails the step over this error (it always reports it as an annotation).
    pub fn fails_step(&self) -> bool {
        !matches!(
            self,
            CommandError::EmptyMask
                | CommandError::BlockedEnvName { .. }
                | CommandError::MissingMatcherFile
                | CommandError::AmbiguousMatcher
                | CommandError::MissingMatcher
        )
    }

    /// The level of the annotation GitHub reports the error with.
    pub fn level(&self) -> AnnotationLevel {
        match self {
            CommandError::EmptyMask
            | CommandError::MissingMatcherFile
            | CommandError::AmbiguousMatcher
            | CommandError::MissingMatcher => AnnotationLevel::Warning,
            _ => AnnotationLevel::Error,
        }
    }
}

/// What the job allows that GitHub disables by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allowances {
    /// `ACTIONS_ALLOW_UNSECURE_COMMANDS=true`: `set-env` and `add-path` work.
    pub unsecure_commands: bool,
    /// `ACTIONS_ALLOW_UNSECURE_STOPCOMMAND_TOKENS=true`: any `stop-commands` token is accepted.
    pub unsecure_stop_tokens: bool,
}

/// Gives a recognised command (other than `stop-commands` and a resume token) its meaning.
pub(crate) fn interpret(
    name: CommandName,
    raw: RawCommand,
    allow: Allowances,
) -> Result<WorkflowCommand, CommandError> {
    match name {
        CommandName::AddMask => {
            if raw.data.trim().is_empty() {
                Err(CommandError::EmptyMask)
            } else {
                Ok(WorkflowCommand::AddMask(MaskValue(raw.data)))
            }
        }
        CommandName::Group => Ok(WorkflowCommand::Group { title: raw.data }),
        CommandName::EndGroup => Ok(WorkflowCommand::EndGroup),
        CommandName::Debug => Ok(WorkflowCommand::Debug { message: raw.data }),
        CommandName::Error => Ok(annotation(AnnotationLevel::Error, &raw)),
        CommandName::Warning => Ok(annotation(AnnotationLevel::Warning, &raw)),
        CommandName::Notice => Ok(annotation(AnnotationLevel::Notice, &raw)),
        CommandName::Echo => echo(&raw),
        CommandName::SaveState => {
            let name = required_name(&raw, "save-state")?;
            Ok(WorkflowCommand::SaveState {
                name,
                value: raw.data,
            })
        }
        CommandName::SetOutput => {
            let name = required_name(&raw, "set-output")?;
            Ok(WorkflowCommand::SetOutput {
                name,
                value: raw.data,
            })
        }
        CommandName::SetEnv => {
            if !allow.unsecure_commands {
                return Err(CommandError::Disabled { command: "set-env" });
            }
            let name = required_name(&raw, "set-env")?;
            if is_blocked_env_name(&name) {
                return Err(CommandError::BlockedEnvName { name });
            }
            Ok(WorkflowCommand::SetEnv {
                name,
                value: raw.data,
            })
        }
        CommandName::AddPath => {
            if !allow.unsecure_commands {
                return Err(CommandError::Disabled {
                    command: "add-path",
                });
            }
            if raw.data.is_empty() {
                return Err(CommandError::EmptyPath);
            }
            Ok(WorkflowCommand::AddPath { path: raw.data })
        }
        CommandName::AddMatcher => {
            if raw.data.is_empty() {
                Err(CommandError::MissingMatcherFile)
            } else {
                Ok(WorkflowCommand::AddMatcher { file: raw.data })
            }
        }
        CommandName::RemoveMatcher => {
            let owner = raw.property("owner").filter(|o| !o.is_empty());
            match (owner, raw.data.is_empty()) {
                (Some(_), false) => Err(CommandError::AmbiguousMatcher),
                (None, true) => Err(CommandError::MissingMatcher),
                (Some(owner), true) => Ok(WorkflowCommand::RemoveMatcher(MatcherRef::Owner(
                    owner.to_owned(),
                ))),
                (None, false) => Ok(WorkflowCommand::RemoveMatcher(MatcherRef::File(raw.data))),
            }
        }
        // The parser handles stop and resume itself; reaching here means a token was written
        // where one is not expected, which starts a stop as GitHub would.
        CommandName::StopCommands => Ok(WorkflowCommand::StopCommands { token: raw.data }),
    }
}

fn required_name(raw: &RawCommand, command: &'static str) -> Result<String, CommandError> {
    raw.property("name")
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .ok_or(CommandError::MissingName { command })
}

fn echo(raw: &RawCommand) -> Result<WorkflowCommand, CommandError> {
    let value = raw.data.trim();
    if value.eq_ignore_ascii_case("on") {
        Ok(WorkflowCommand::Echo { enabled: true })
    } else if value.eq_ignore_ascii_case("off") {
        Ok(WorkflowCommand::Echo { enabled: false })
    } else {
        Err(CommandError::InvalidEcho {
            value: raw.data.clone(),
        })
    }
}

/// Parses a number as .NET's `int.TryParse` reads one (white space and a `+` sign allowed);
/// negative and out-of-range numbers count as absent.
fn parse_number(text: &str) -> Option<u32> {
    let text = text.trim();
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits
        .parse::<u32>()
        .ok()
        .filter(|n| i32::try_from(*n).is_ok())
}

fn annotation(level: AnnotationLevel, raw: &RawCommand) -> WorkflowCommand {
    let number = |key: &str| raw.property(key).and_then(parse_number);
    let text = |key: &str| raw.property(key).map(str::to_owned);
    let mut a = Annotation {
        level,
        message: raw.data.clone(),
        file: text("file"),
        title: text("title"),
        line: number("line"),
        end_line: number("endLine"),
        col: number("col"),
        end_column: number("endColumn"),
    };
    let had_column = a.col.is_some() || a.end_column.is_some();
    if a.line.is_none() && a.end_line.is_some() {
        a.line = a.end_line;
    }
    if a.col.is_none() && a.end_column.is_some() {
        a.col = a.end_column;
    }
    if a.line.is_none() && had_column {
        a.col = None;
        a.end_column = None;
    }
    if a.end_line.is_some() && a.end_line != a.line && had_column {
        a.col = None;
        a.end_column = None;
    }
    if let (Some(line), Some(end)) = (a.line, a.end_line) {
        if end < line {
            a.line = None;
            a.end_line = None;
        }
    }
    if let (Some(col), Some(end)) = (a.col, a.end_column) {
        if end < col {
            a.col = None;
            a.end_column = None;
        }
    }
    WorkflowCommand::Annotation(a)
}

#[cfg(test)]
mod tests;
