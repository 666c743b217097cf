use super::*;
use crate::commands::syntax::parse_v2;

fn run(line: &str) -> Result<WorkflowCommand, CommandError> {
    run_with(line, Allowances::default())
}

fn run_with(line: &str, allow: Allowances) -> Result<WorkflowCommand, CommandError> {
    let raw = parse_v2(line, |n| CommandName::parse(n).is_some()).expect("a known command");
    let name = CommandName::parse(&raw.name).expect("a known name");
    interpret(name, raw, allow)
}

fn annotation_of(line: &str) -> Annotation {
    match run(line) {
        Ok(WorkflowCommand::Annotation(a)) => a,
        other => panic!("not an annotation: {other:?}"),
    }
}

const UNSECURE: Allowances = Allowances {
    unsecure_commands: true,
    unsecure_stop_tokens: false,
};

#[test]
fn command_names_ignore_case_and_round_trip() {
    assert_eq!(
        CommandName::parse("SET-OUTPUT"),
        Some(CommandName::SetOutput)
    );
    assert_eq!(CommandName::parse("set_output"), None);
    for (name, command) in CommandName::ALL {
        assert_eq!(command.as_str(), name);
    }
}

#[test]
fn add_mask_carries_the_value() {
    assert_eq!(
        run("::add-mask::s3cret"),
        Ok(WorkflowCommand::AddMask(MaskValue("s3cret".into())))
    );
}

#[test]
fn add_mask_of_blank_value_is_a_warning_that_keeps_the_step() {
    let err = run("::add-mask:: \t").unwrap_err();
    assert_eq!(err, CommandError::EmptyMask);
    assert!(!err.fails_step());
    assert_eq!(err.level(), AnnotationLevel::Warning);
    assert_eq!(run("::add-mask::"), Err(CommandError::EmptyMask));
}

#[test]
fn mask_value_debug_hides_the_secret() {
    let shown = format!("{:?}", run("::add-mask::hunter2"));
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[test]
fn add_mask_and_long_stop_tokens_are_values_to_mask() {
    let cmd = run("::add-mask::a%0Ab").unwrap();
    assert_eq!(cmd.values_to_mask(), ["a\nb"]);
    let long = WorkflowCommand::StopCommands {
        token: "abcdefg".into(),
    };
    assert_eq!(long.values_to_mask(), ["abcdefg"]);
    let short = WorkflowCommand::StopCommands {
        token: "abcdef".into(),
    };
    assert!(short.values_to_mask().is_empty());
}

#[test]
fn group_and_endgroup() {
    assert_eq!(
        run("::group::Build %25 test"),
        Ok(WorkflowCommand::Group {
            title: "Build % test".into()
        })
    );
    assert_eq!(run("::endgroup::ignored"), Ok(WorkflowCommand::EndGroup));
}

#[test]
fn debug_carries_its_message() {
    assert_eq!(
        run("::debug::a%0Ab"),
        Ok(WorkflowCommand::Debug {
            message: "a\nb".into()
        })
    );
}

#[test]
fn error_with_every_location_property() {
    let a = annotation_of(
        "::error file=src/a.rs,line=3,endLine=3,col=5,endColumn=9,title=Bad %3A thing::it broke",
    );
    assert_eq!(
        a,
        Annotation {
            level: AnnotationLevel::Error,
            message: "it broke".into(),
            file: Some("src/a.rs".into()),
            title: Some("Bad : thing".into()),
            line: Some(3),
            end_line: Some(3),
            col: Some(5),
            end_column: Some(9),
        }
    );
}

#[test]
fn warning_and_notice_levels() {
    assert_eq!(
        annotation_of("::warning::w").level,
        AnnotationLevel::Warning
    );
    assert_eq!(annotation_of("::notice::n").level, AnnotationLevel::Notice);
    assert_eq!(AnnotationLevel::Notice.command_name(), "notice");
}

#[test]
fn annotation_property_names_ignore_case() {
    let a = annotation_of("::error FILE=x,LINE=2,ENDLINE=4::m");
    assert_eq!(
        (a.file.as_deref(), a.line, a.end_line),
        (Some("x"), Some(2), Some(4))
    );
}

#[test]
fn annotation_numbers_follow_int_parsing() {
    let a = annotation_of("::error line= +7 ,col=x,endColumn=-1::m");
    assert_eq!((a.line, a.col, a.end_column), (Some(7), None, None));
    let a = annotation_of("::error line=99999999999::m");
    assert_eq!(a.line, None);
}

#[test]
fn end_line_alone_becomes_the_line() {
    let a = annotation_of("::error endLine=8::m");
    assert_eq!((a.line, a.end_line), (Some(8), Some(8)));
}

#[test]
fn end_column_alone_becomes_the_column() {
    let a = annotation_of("::error line=1,endColumn=4::m");
    assert_eq!((a.col, a.end_column), (Some(4), Some(4)));
}

#[test]
fn columns_without_a_line_are_dropped() {
    let a = annotation_of("::error col=2,endColumn=5::m");
    assert_eq!((a.line, a.col, a.end_column), (None, None, None));
}

#[test]
fn columns_across_several_lines_are_dropped() {
    let a = annotation_of("::error line=1,endLine=3,col=2,endColumn=5::m");
    assert_eq!((a.line, a.end_line), (Some(1), Some(3)));
    assert_eq!((a.col, a.end_column), (None, None));
}

#[test]
fn end_before_start_drops_both() {
    let a = annotation_of("::error line=5,endLine=2::m");
    assert_eq!((a.line, a.end_line), (None, None));
    let a = annotation_of("::error line=5,col=9,endColumn=3::m");
    assert_eq!((a.line, a.col, a.end_column), (Some(5), None, None));
}

#[test]
fn echo_takes_on_or_off_in_any_case_and_spacing() {
    assert_eq!(
        run("::echo:: ON "),
        Ok(WorkflowCommand::Echo { enabled: true })
    );
    assert_eq!(
        run("::echo::off"),
        Ok(WorkflowCommand::Echo { enabled: false })
    );
    let err = run("::echo::maybe").unwrap_err();
    assert_eq!(
        err,
        CommandError::InvalidEcho {
            value: "maybe".into()
        }
    );
    assert!(err.fails_step());
    assert!(run("::echo::").is_err());
}

#[test]
fn set_output_is_parsed_and_flagged_deprecated() {
    let cmd = run("::set-output name=result::a%0Ab").unwrap();
    assert_eq!(
        cmd,
        WorkflowCommand::SetOutput {
            name: "result".into(),
            value: "a\nb".into()
        }
    );
    assert!(cmd.is_deprecated());
}

#[test]
fn set_output_without_name_fails_the_step() {
    let err = run("::set-output::v").unwrap_err();
    assert_eq!(
        err,
        CommandError::MissingName {
            command: "set-output"
        }
    );
    assert!(err.fails_step());
    assert_eq!(err.level(), AnnotationLevel::Error);
    assert!(run("::set-output name=::v").is_err());
}

#[test]
fn save_state_is_parsed_and_flagged_deprecated() {
    let cmd = run("::save-state name=pid::42").unwrap();
    assert_eq!(
        cmd,
        WorkflowCommand::SaveState {
            name: "pid".into(),
            value: "42".into()
        }
    );
    assert!(cmd.is_deprecated());
    assert!(!WorkflowCommand::EndGroup.is_deprecated());
    assert_eq!(
        run("::save-state::42"),
        Err(CommandError::MissingName {
            command: "save-state"
        })
    );
}

#[test]
fn set_env_and_add_path_are_disabled_by_default() {
    let err = run("::set-env name=A::1").unwrap_err();
    assert_eq!(err, CommandError::Disabled { command: "set-env" });
    assert!(err.fails_step());
    assert!(err.to_string().contains(ALLOW_UNSECURE_COMMANDS_ENV));
    assert!(err.to_string().contains("GITHUB_ENV"));
    assert_eq!(
        run("::add-path::/opt/bin"),
        Err(CommandError::Disabled {
            command: "add-path"
        })
    );
}

#[test]
fn set_env_and_add_path_work_when_the_job_allows_them() {
    assert_eq!(
        run_with("::set-env name=A::1", UNSECURE),
        Ok(WorkflowCommand::SetEnv {
            name: "A".into(),
            value: "1".into()
        })
    );
    assert_eq!(
        run_with("::add-path::/opt/bin", UNSECURE),
        Ok(WorkflowCommand::AddPath {
            path: "/opt/bin".into()
        })
    );
    assert_eq!(
        run_with("::add-path::", UNSECURE),
        Err(CommandError::EmptyPath)
    );
    assert_eq!(
        run_with("::set-env::1", UNSECURE),
        Err(CommandError::MissingName { command: "set-env" })
    );
}

#[test]
fn set_env_refuses_node_options_without_failing_the_step() {
    let err = run_with("::set-env name=node_options::--require x", UNSECURE).unwrap_err();
    assert_eq!(
        err,
        CommandError::BlockedEnvName {
            name: "node_options".into()
        }
    );
    assert!(!err.fails_step());
    assert_eq!(err.level(), AnnotationLevel::Error);
}

#[test]
fn blocked_env_names_ignore_case() {
    assert!(is_blocked_env_name("NODE_OPTIONS"));
    assert!(is_blocked_env_name("Node_Options"));
    assert!(!is_blocked_env_name("NODE_OPTIONS_X"));
}

#[test]
fn matcher_commands() {
    assert_eq!(
        run("::add-matcher::.github/m.json"),
        Ok(WorkflowCommand::AddMatcher {
            file: ".github/m.json".into()
        })
    );
    assert_eq!(
        run("::add-matcher::"),
        Err(CommandError::MissingMatcherFile)
    );
    assert_eq!(
        run("::remove-matcher owner=eslint::"),
        Ok(WorkflowCommand::RemoveMatcher(MatcherRef::Owner(
            "eslint".into()
        )))
    );
    assert_eq!(
        run("::remove-matcher::m.json"),
        Ok(WorkflowCommand::RemoveMatcher(MatcherRef::File(
            "m.json".into()
        )))
    );
    let err = run("::remove-matcher owner=a::m.json").unwrap_err();
    assert_eq!(err, CommandError::AmbiguousMatcher);
    assert!(!err.fails_step());
    assert_eq!(run("::remove-matcher::"), Err(CommandError::MissingMatcher));
}
