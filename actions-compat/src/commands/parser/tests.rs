use proptest::prelude::*;

use super::*;
use crate::commands::{Annotation, AnnotationLevel};

fn command(parser: &mut CommandParser, line: &str) -> CommandLine {
    match parser.parse_line(line) {
        ParsedLine::Command(c) => c,
        ParsedLine::Output(o) => panic!("{line:?} was output {o:?}"),
    }
}

fn output(parser: &mut CommandParser, line: &str) -> String {
    match parser.parse_line(line) {
        ParsedLine::Output(o) => o,
        ParsedLine::Command(c) => panic!("{line:?} was a command {c:?}"),
    }
}

fn echoing() -> CommandParser {
    CommandParser::new(ParserOptions {
        echo: true,
        ..ParserOptions::default()
    })
}

#[test]
fn plain_lines_are_output_without_their_line_ending() {
    let mut p = CommandParser::default();
    assert_eq!(output(&mut p, "hello\n"), "hello");
    assert_eq!(output(&mut p, "hello\r\n"), "hello");
    assert_eq!(output(&mut p, "hello\r"), "hello");
    assert_eq!(output(&mut p, "a\rb"), "a\rb");
    assert_eq!(output(&mut p, ""), "");
}

#[test]
fn unknown_commands_are_output_as_written() {
    let mut p = CommandParser::default();
    assert_eq!(output(&mut p, "::frobnicate::x\n"), "::frobnicate::x");
    assert_eq!(
        output(&mut p, "::set-outputs name=a::x"),
        "::set-outputs name=a::x"
    );
    assert_eq!(
        output(&mut p, "::internal-set-repo-path::x"),
        "::internal-set-repo-path::x"
    );
    assert_eq!(output(&mut p, "::"), "::");
    assert_eq!(output(&mut p, "::debug"), "::debug");
}

#[test]
fn commands_parse_with_crlf_endings() {
    let mut p = CommandParser::default();
    let c = command(&mut p, "::set-output name=a::1\r\n");
    assert_eq!(
        c.result,
        Ok(WorkflowCommand::SetOutput {
            name: "a".into(),
            value: "1".into()
        })
    );
    assert_eq!(c.name, "set-output");
}

#[test]
fn command_names_ignore_case_and_report_github_spelling() {
    let mut p = CommandParser::default();
    let c = command(&mut p, "::WARNING::careful");
    assert_eq!(c.name, "warning");
    assert!(matches!(
        c.result,
        Ok(WorkflowCommand::Annotation(Annotation {
            level: AnnotationLevel::Warning,
            ..
        }))
    ));
}

#[test]
fn legacy_form_is_still_a_command() {
    let mut p = CommandParser::default();
    let c = command(&mut p, "##[group]Legacy");
    assert_eq!(
        c.result,
        Ok(WorkflowCommand::Group {
            title: "Legacy".into()
        })
    );
    let c = command(&mut p, "text before ##[error]bad");
    assert!(matches!(c.result, Ok(WorkflowCommand::Annotation(_))));
}

#[test]
fn legacy_form_is_tried_when_the_double_colon_form_is_unknown() {
    let mut p = CommandParser::default();
    let c = command(&mut p, "::nope::##[debug]x");
    assert_eq!(
        c.result,
        Ok(WorkflowCommand::Debug {
            message: "x".into()
        })
    );
}

#[test]
fn echo_is_off_by_default_and_follows_the_echo_command() {
    let mut p = CommandParser::default();
    assert!(!p.echo());
    let c = command(&mut p, "::group::g");
    assert_eq!(c.echo, None);
    // Turning echo on is not itself echoed; turning it off is.
    assert_eq!(command(&mut p, "::echo::on").echo, None);
    assert!(p.echo());
    assert_eq!(
        command(&mut p, "::group::g\n").echo.as_deref(),
        Some("::group::g")
    );
    assert_eq!(
        command(&mut p, "::echo::off").echo.as_deref(),
        Some("::echo::off")
    );
    assert!(!p.echo());
}

#[test]
fn invalid_echo_value_keeps_the_echo_state() {
    let mut p = echoing();
    let c = command(&mut p, "::echo::loud");
    assert!(c.result.is_err());
    assert!(p.echo());
}

#[test]
fn echo_never_shows_debug_annotations_or_mask_values() {
    let mut p = echoing();
    assert_eq!(command(&mut p, "::debug::d").echo, None);
    assert_eq!(command(&mut p, "::error::e").echo, None);
    assert_eq!(command(&mut p, "::warning::w").echo, None);
    assert_eq!(command(&mut p, "::notice::n").echo, None);
    assert_eq!(
        command(&mut p, "::add-mask::hunter2").echo.as_deref(),
        Some("::add-mask::***")
    );
    assert_eq!(command(&mut p, "::add-mask:: ").echo, None);
}

#[test]
fn echo_shows_refused_commands_too() {
    let mut p = echoing();
    let c = command(&mut p, "::set-env name=A::1");
    assert_eq!(c.echo.as_deref(), Some("::set-env name=A::1"));
    assert_eq!(c.result, Err(CommandError::Disabled { command: "set-env" }));
}

#[test]
fn stop_commands_turns_every_line_into_output_until_the_token() {
    let mut p = CommandParser::default();
    let c = command(&mut p, "::stop-commands::pause-123");
    assert_eq!(c.echo.as_deref(), Some("::stop-commands::pause-123"));
    assert_eq!(
        c.result,
        Ok(WorkflowCommand::StopCommands {
            token: "pause-123".into()
        })
    );
    assert!(p.is_stopped());
    assert_eq!(
        output(&mut p, "::set-output name=a::1"),
        "::set-output name=a::1"
    );
    assert_eq!(output(&mut p, "::add-mask::x"), "::add-mask::x");
    assert_eq!(
        output(&mut p, "::stop-commands::other"),
        "::stop-commands::other"
    );
    assert_eq!(output(&mut p, "##[error]x"), "##[error]x");
    assert_eq!(output(&mut p, "::pause-1234::"), "::pause-1234::");
    let c = command(&mut p, "::PAUSE-123::\r\n");
    assert_eq!(c.echo.as_deref(), Some("::PAUSE-123::"));
    assert_eq!(
        c.result,
        Ok(WorkflowCommand::ResumeCommands {
            token: "pause-123".into()
        })
    );
    assert!(!p.is_stopped());
    assert!(matches!(
        command(&mut p, "::set-output name=a::1").result,
        Ok(WorkflowCommand::SetOutput { .. })
    ));
}

#[test]
fn stop_token_is_echoed_even_with_echo_off_and_resumes_in_legacy_form() {
    let mut p = CommandParser::default();
    command(&mut p, "::stop-commands::tok");
    let c = command(&mut p, "##[tok]");
    assert!(matches!(
        c.result,
        Ok(WorkflowCommand::ResumeCommands { .. })
    ));
    assert_eq!(c.echo.as_deref(), Some("##[tok]"));
}

#[test]
fn a_command_before_the_token_in_the_same_line_does_not_resume() {
    let mut p = CommandParser::default();
    command(&mut p, "::stop-commands::tok");
    assert_eq!(output(&mut p, "::debug::##[tok]"), "::debug::##[tok]");
    assert!(p.is_stopped());
}

#[test]
fn stop_tokens_that_are_empty_reserved_or_command_names_are_refused() {
    for token in [
        "",
        "pause-logging",
        "PAUSE-LOGGING",
        "set-output",
        "stop-commands",
    ] {
        let mut p = echoing();
        let c = command(&mut p, &format!("::stop-commands::{token}"));
        assert_eq!(
            c.result,
            Err(CommandError::InvalidStopToken {
                token: token.into()
            }),
            "{token}"
        );
        assert!(c.result.as_ref().unwrap_err().fails_step());
        assert_eq!(c.echo, None);
        assert!(!p.is_stopped());
    }
}

#[test]
fn unsecure_stop_tokens_are_accepted_when_allowed() {
    let mut p = CommandParser::new(ParserOptions {
        allow: Allowances {
            unsecure_stop_tokens: true,
            ..Allowances::default()
        },
        ..ParserOptions::default()
    });
    command(&mut p, "::stop-commands::debug");
    assert!(p.is_stopped());
    assert!(matches!(
        command(&mut p, "::debug::x").result,
        Ok(WorkflowCommand::ResumeCommands { .. })
    ));
    // An empty token can never be resumed.
    command(&mut p, "::stop-commands::");
    assert!(p.is_stopped());
    assert_eq!(output(&mut p, "::::"), "::::");
    assert!(p.is_stopped());
}

#[test]
fn debug_output_of_the_parser_hides_the_stop_token() {
    let mut p = CommandParser::default();
    command(&mut p, "::stop-commands::very-secret-token");
    let shown = format!("{p:?}");
    assert!(!shown.contains("very-secret-token"), "{shown}");
}

#[test]
fn set_output_with_escaped_multiline_value() {
    let mut p = CommandParser::default();
    let c = command(&mut p, "::set-output name=notes::50%25%0Adone%0D%0A");
    assert_eq!(
        c.result,
        Ok(WorkflowCommand::SetOutput {
            name: "notes".into(),
            value: "50%\ndone\r\n".into()
        })
    );
}

proptest! {
    #[test]
    fn no_line_makes_the_parser_panic(lines in proptest::collection::vec(".*", 1..20)) {
        let mut p = CommandParser::new(ParserOptions {
            echo: true,
            allow: Allowances { unsecure_commands: true, unsecure_stop_tokens: true },
        });
        for line in &lines {
            let _ = p.parse_line(line);
        }
    }

    #[test]
    fn command_like_lines_never_panic(
        name in "(add-mask|set-output|error|stop-commands|echo|x|)",
        props in "[a-zA-Z=,:%0-9 ]{0,20}",
        data in "[%:,;=\\]\\[a-z0-9 ]{0,20}",
    ) {
        let mut p = CommandParser::default();
        let _ = p.parse_line(&format!("::{name} {props}::{data}"));
        let _ = p.parse_line(&format!("##[{name} {props}]{data}"));
        let _ = p.parse_line(&format!("::{data}::"));
    }

    #[test]
    fn plain_text_without_markers_is_output_unchanged(line in "[^:#\r\n]*") {
        let mut p = CommandParser::default();
        prop_assert_eq!(p.parse_line(&line), ParsedLine::Output(line.clone()));
    }
}
