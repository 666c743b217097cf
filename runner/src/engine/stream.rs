//! What a step prints, line by line: plain output for the log, and the workflow commands GitHub's
//! runner acts on (`::add-mask::`, `::group::`, annotations, `::debug::`, `::stop-commands::`,
//! `::echo::`, the deprecated `::set-output::`/`::save-state::`, and `::set-env::`/`::add-path::`
//! when the job allows them).
//!
//! Output arrives in chunks of any size; each stream (stdout, stderr) is cut into lines here, so
//! a command or a secret split across chunks is seen whole. `add-mask` values are registered
//! before the next line is printed. A line longer than [`MAX_LINE`] is cut there.

use indexmap::IndexMap;

use actions_compat::commands::{
    Annotation, AnnotationLevel, CommandParser, ParsedLine, ParserOptions, WorkflowCommand,
};
use hermetic::{OutputChunk, OutputStream};

use super::files::insert_ignoring_case;
use super::output::{JobLog, Level};
use super::SharedMasker;

/// The longest line kept whole; longer ones are cut into pieces of this size.
pub const MAX_LINE: usize = 1024 * 1024;

/// What a step's commands asked of the runner, besides printing.
#[derive(Debug, Default)]
pub struct CommandEffects {
    /// Annotations, in order (already masked when logged; masked again when stored).
    pub annotations: Vec<Annotation>,
    /// `::set-output::` values.
    pub outputs: IndexMap<String, String>,
    /// `::save-state::` values.
    pub state: IndexMap<String, String>,
    /// `::set-env::` values (only when allowed).
    pub env: Vec<(String, String)>,
    /// `::add-path::` directories (only when allowed).
    pub paths: Vec<String>,
    /// A refused command that fails the step.
    pub failed: bool,
}

/// Reads one step's output.
pub struct StepStream<'a> {
    parser: CommandParser,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    log: &'a mut JobLog,
    masker: SharedMasker,
    debug: bool,
    pub effects: CommandEffects,
}

impl<'a> StepStream<'a> {
    /// `debug`: show `::debug::` lines (step debug logging is on).
    pub fn new(
        log: &'a mut JobLog,
        masker: SharedMasker,
        options: ParserOptions,
        debug: bool,
    ) -> Self {
        StepStream {
            parser: CommandParser::new(options),
            stdout: Vec::new(),
            stderr: Vec::new(),
            log,
            masker,
            debug,
            effects: CommandEffects::default(),
        }
    }

    /// Takes a chunk of output.
    pub fn feed(&mut self, chunk: &OutputChunk) {
        let mut buffer = match chunk.stream {
            OutputStream::Stdout => std::mem::take(&mut self.stdout),
            OutputStream::Stderr => std::mem::take(&mut self.stderr),
        };
        buffer.extend_from_slice(&chunk.bytes);
        let mut start = 0;
        while let Some(pos) = buffer
            .get(start..)
            .and_then(|rest| rest.iter().position(|b| *b == b'\n'))
        {
            let end = start + pos;
            let line = buffer.get(start..end).unwrap_or_default().to_vec();
            self.line(&line);
            start = end + 1;
        }
        let mut rest = buffer.split_off(start.min(buffer.len()));
        while rest.len() > MAX_LINE {
            let tail = rest.split_off(MAX_LINE);
            self.line(&rest);
            rest = tail;
        }
        match chunk.stream {
            OutputStream::Stdout => self.stdout = rest,
            OutputStream::Stderr => self.stderr = rest,
        }
    }

    /// Takes the last, unterminated lines.
    pub fn finish(&mut self) -> &mut CommandEffects {
        for buffer in [
            std::mem::take(&mut self.stdout),
            std::mem::take(&mut self.stderr),
        ] {
            if !buffer.is_empty() {
                self.line(&buffer);
            }
        }
        &mut self.effects
    }

    fn line(&mut self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        match self.parser.parse_line(&text) {
            ParsedLine::Output(text) => self.log.line(&text),
            ParsedLine::Command(command) => {
                if let Ok(cmd) = &command.result {
                    for value in cmd.values_to_mask() {
                        self.masker.add_mask(value);
                    }
                }
                if let Some(echo) = &command.echo {
                    self.log.line(echo);
                }
                match command.result {
                    Ok(cmd) => self.act(cmd),
                    Err(error) => {
                        let level = level_of(error.level());
                        self.log.annotation(level, &error.to_string(), None);
                        self.effects.annotations.push(Annotation {
                            level: error.level(),
                            message: error.to_string(),
                            file: None,
                            title: None,
                            line: None,
                            end_line: None,
                            col: None,
                            end_column: None,
                        });
                        if error.fails_step() {
                            self.effects.failed = true;
                        }
                    }
                }
            }
        }
    }

    fn act(&mut self, cmd: WorkflowCommand) {
        match cmd {
            WorkflowCommand::AddMask(_)
            | WorkflowCommand::StopCommands { .. }
            | WorkflowCommand::ResumeCommands { .. }
            | WorkflowCommand::Echo { .. }
            | WorkflowCommand::AddMatcher { .. }
            | WorkflowCommand::RemoveMatcher(_) => {}
            WorkflowCommand::Group { title } => self.log.group(&title),
            WorkflowCommand::EndGroup => self.log.end_group(),
            WorkflowCommand::Debug { message } => {
                if self.debug {
                    self.log.annotation(Level::Debug, &message, None);
                }
            }
            WorkflowCommand::Annotation(a) => {
                self.log
                    .annotation(level_of(a.level), &a.message, location(&a).as_deref());
                self.effects.annotations.push(a);
            }
            WorkflowCommand::SetOutput { name, value } => {
                self.deprecated("set-output", "GITHUB_OUTPUT");
                insert_ignoring_case(&mut self.effects.outputs, name, value);
            }
            WorkflowCommand::SaveState { name, value } => {
                self.deprecated("save-state", "GITHUB_STATE");
                insert_ignoring_case(&mut self.effects.state, name, value);
            }
            WorkflowCommand::SetEnv { name, value } => self.effects.env.push((name, value)),
            WorkflowCommand::AddPath { path } => self.effects.paths.push(path),
        }
    }

    fn deprecated(&mut self, command: &str, file: &str) {
        let message = format!(
            "The `{command}` command is deprecated and will be disabled soon. Please upgrade to \
             using Environment Files ({file})."
        );
        self.log.annotation(Level::Warning, &message, None);
        self.effects.annotations.push(Annotation {
            level: AnnotationLevel::Warning,
            message,
            file: None,
            title: None,
            line: None,
            end_line: None,
            col: None,
            end_column: None,
        });
    }
}

fn level_of(level: AnnotationLevel) -> Level {
    match level {
        AnnotationLevel::Error => Level::Error,
        AnnotationLevel::Warning => Level::Warning,
        AnnotationLevel::Notice => Level::Notice,
    }
}

/// `file:line:col` of an annotation, as far as it has one.
pub fn location(a: &Annotation) -> Option<String> {
    let file = a.file.as_deref()?;
    Some(match (a.line, a.col) {
        (Some(l), Some(c)) => format!("{file}:{l}:{c}"),
        (Some(l), None) => format!("{file}:{l}"),
        _ => file.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::output::LiveLog;

    fn chunk(bytes: &[u8]) -> OutputChunk {
        OutputChunk {
            stream: OutputStream::Stdout,
            bytes: bytes.to_vec(),
        }
    }

    fn run(input: &[&[u8]]) -> (String, CommandEffects, SharedMasker) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let masker = SharedMasker::default();
        let mut log =
            JobLog::new("j", LiveLog::new(false, true), Some(&path), masker.clone()).unwrap();
        let effects = {
            let mut stream =
                StepStream::new(&mut log, masker.clone(), ParserOptions::default(), false);
            for piece in input {
                stream.feed(&chunk(piece));
            }
            std::mem::take(stream.finish())
        };
        log.finish().unwrap();
        (std::fs::read_to_string(&path).unwrap(), effects, masker)
    }

    #[test]
    fn masks_an_added_value_written_one_byte_at_a_time() {
        let text = b"::add-mask::sesame\nthe word is sesame\n";
        let pieces: Vec<&[u8]> = text.chunks(1).collect();
        let (log, _, masker) = run(&pieces);
        assert_eq!(log, "the word is ***\n");
        assert!(masker.reveals("sesame"));
    }

    #[test]
    fn annotations_and_groups_reach_the_log() {
        let (log, effects, _) =
            run(&[b"::group::Build\nin group\n::endgroup::\n::error file=a.c,line=3,col=2::bad\n"]);
        assert_eq!(
            log,
            "##[group]Build\nin group\n##[endgroup]\n##[error]a.c:3:2: bad\n"
        );
        assert_eq!(effects.annotations.len(), 1);
        assert_eq!(effects.annotations[0].line, Some(3));
    }

    #[test]
    fn stop_commands_print_commands_verbatim_until_resumed() {
        let (log, effects, _) = run(&[
            b"::stop-commands::pause123\n::error::not a command\n::pause123::\n::warning::real\n",
        ]);
        assert!(log.contains("::error::not a command\n"), "{log}");
        assert!(log.contains("##[warning]real"), "{log}");
        assert_eq!(effects.annotations.len(), 1);
    }

    #[test]
    fn set_output_still_works_with_a_deprecation_warning() {
        let (log, effects, _) = run(&[b"::set-output name=x::1"]);
        assert_eq!(effects.outputs.get("x").map(String::as_str), Some("1"));
        assert!(log.contains("deprecated"), "{log}");
    }

    #[test]
    fn set_env_is_refused_and_fails_the_step_unless_allowed() {
        let (_, effects, _) = run(&[b"::set-env name=A::1\n"]);
        assert!(effects.failed);
        assert!(effects.env.is_empty());
    }

    #[test]
    fn a_line_split_across_chunks_and_streams_stays_whole() {
        let (log, _, _) = run(&[b"hel", b"lo\nwor", b"ld"]);
        assert_eq!(log, "hello\nworld\n");
    }
}
