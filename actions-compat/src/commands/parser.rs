//! The stateful reader of a step's output: which lines are workflow commands, and what to print.
//!
//! One [`CommandParser`] serves one step, as in GitHub's runner: `stop-commands` and `echo` last
//! until the step ends (or until the resume line and the next `echo`).

use super::command::{interpret, Allowances, CommandError, CommandName, WorkflowCommand};
use super::syntax::{parse_legacy, parse_v2, RawCommand};

/// How a step's command processing starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParserOptions {
    /// Whether command lines are echoed from the start; GitHub turns this on when step debug
    /// logging (`ACTIONS_STEP_DEBUG`) is on.
    pub echo: bool,
    /// What the job opted into through `ACTIONS_ALLOW_UNSECURE_*` variables.
    pub allow: Allowances,
}

/// What one line of output is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedLine {
    /// Not a command, or commands are stopped: print the line (its line ending removed).
    Output(String),
    /// A recognised command.
    Command(CommandLine),
}

/// A recognised command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// The command's name as GitHub spells it (`set-output`), or the stop token for a resume line.
    pub name: String,
    /// What to print in the log for the line itself, as GitHub does: the line when echo is on
    /// (never for `debug`, annotations and `add-mask`, which print what they do instead;
    /// `add-mask` prints `::add-mask::***`), and always for stop and resume lines.
    pub echo: Option<String>,
    /// The command to act on, or why GitHub refuses it: the engine reports the error as an
    /// annotation of [`CommandError::level`] and fails the step when
    /// [`CommandError::fails_step`].
    pub result: Result<WorkflowCommand, CommandError>,
}

/// Reads a step's output line by line.
///
/// ```
/// use actions_compat::commands::{CommandParser, ParsedLine, WorkflowCommand};
/// let mut parser = CommandParser::default();
/// let ParsedLine::Command(line) = parser.parse_line("::set-output name=x::1\r\n") else {
///     panic!("not a command")
/// };
/// assert_eq!(line.result, Ok(WorkflowCommand::SetOutput { name: "x".into(), value: "1".into() }));
/// assert_eq!(parser.parse_line("::frobnicate::x"), ParsedLine::Output("::frobnicate::x".into()));
/// ```
#[derive(Clone, Default)]
pub struct CommandParser {
    options: ParserOptions,
    echo: bool,
    stop_token: Option<String>,
}

impl CommandParser {
    pub fn new(options: ParserOptions) -> Self {
        CommandParser {
            options,
            echo: options.echo,
            stop_token: None,
        }
    }

    /// Whether command lines are currently echoed.
    pub fn echo(&self) -> bool {
        self.echo
    }

    /// Whether commands are stopped, waiting for their resume token.
    pub fn is_stopped(&self) -> bool {
        self.stop_token.is_some()
    }

    /// Reads one line of output; a trailing `\n`, `\r\n` or `\r` is not part of it.
    pub fn parse_line(&mut self, line: &str) -> ParsedLine {
        let line = strip_line_ending(line);
        match self.stop_token.take() {
            Some(token) => self.parse_while_stopped(line, token),
            None => self.parse_active(line),
        }
    }

    fn parse_while_stopped(&mut self, line: &str, token: String) -> ParsedLine {
        let is_known =
            |name: &str| name.eq_ignore_ascii_case(&token) || CommandName::parse(name).is_some();
        // An empty token (accepted only when unsecure tokens are allowed) never resumes.
        let resumes = !token.is_empty()
            && parse_any(line, is_known).is_some_and(|raw| raw.name.eq_ignore_ascii_case(&token));
        if !resumes {
            self.stop_token = Some(token);
            return ParsedLine::Output(line.to_owned());
        }
        ParsedLine::Command(CommandLine {
            name: token.clone(),
            echo: Some(line.to_owned()),
            result: Ok(WorkflowCommand::ResumeCommands { token }),
        })
    }

    fn parse_active(&mut self, line: &str) -> ParsedLine {
        let Some(raw) = parse_any(line, |name| CommandName::parse(name).is_some()) else {
            return ParsedLine::Output(line.to_owned());
        };
        let Some(name) = CommandName::parse(&raw.name) else {
            return ParsedLine::Output(line.to_owned());
        };
        if name == CommandName::StopCommands {
            return ParsedLine::Command(self.stop(line, raw.data));
        }
        let echo = match name {
            CommandName::AddMask if self.echo && !raw.data.trim().is_empty() => {
                Some(format!("::{}::***", name.as_str()))
            }
            _ if self.echo && !name.omits_echo() => Some(line.to_owned()),
            _ => None,
        };
        let result = interpret(name, raw, self.options.allow);
        if let Ok(WorkflowCommand::Echo { enabled }) = result {
            self.echo = enabled;
        }
        ParsedLine::Command(CommandLine {
            name: name.as_str().to_owned(),
            echo,
            result,
        })
    }

    fn stop(&mut self, line: &str, token: String) -> CommandLine {
        let name = CommandName::StopCommands.as_str().to_owned();
        let refused = token.is_empty()
            || token.eq_ignore_ascii_case("pause-logging")
            || CommandName::parse(&token).is_some();
        if refused && !self.options.allow.unsecure_stop_tokens {
            return CommandLine {
                name,
                echo: None,
                result: Err(CommandError::InvalidStopToken { token }),
            };
        }
        self.stop_token = Some(token.clone());
        CommandLine {
            name,
            echo: Some(line.to_owned()),
            result: Ok(WorkflowCommand::StopCommands { token }),
        }
    }
}

// Leaves the stop token out: a long one is a secret.
impl std::fmt::Debug for CommandParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandParser")
            .field("options", &self.options)
            .field("echo", &self.echo)
            .field("stopped", &self.is_stopped())
            .finish()
    }
}

/// The `::` form first, then the legacy `##[` form, as GitHub's runner tries them.
fn parse_any(line: &str, is_known: impl Fn(&str) -> bool) -> Option<RawCommand> {
    parse_v2(line, &is_known).or_else(|| parse_legacy(line, &is_known))
}

fn strip_line_ending(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

#[cfg(test)]
mod tests;
