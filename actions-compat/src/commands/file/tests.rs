use proptest::prelude::*;

use super::*;

const OUT: FileCommandKind = FileCommandKind::Output;

fn entries(text: &str) -> Vec<(String, String, usize)> {
    key_values(OUT, text, LineEndings::Lf)
        .map(|e| e.map(|e| (e.name, e.value, e.line)))
        .collect::<Result<_, _>>()
        .unwrap()
}

fn error(text: &str) -> FileCommandError {
    parse_key_values(OUT, text, LineEndings::Lf)
        .error
        .expect("an error")
}

fn kv(name: &str, value: &str, line: usize) -> (String, String, usize) {
    (name.into(), value.into(), line)
}

#[test]
fn name_value_lines_split_at_the_first_equals() {
    assert_eq!(
        entries("a=1\nb=x=y\nc=\n"),
        [kv("a", "1", 1), kv("b", "x=y", 2), kv("c", "", 3)]
    );
}

#[test]
fn names_and_values_are_not_trimmed() {
    assert_eq!(entries(" a = 1 "), [kv(" a ", " 1 ", 1)]);
}

#[test]
fn empty_lines_are_skipped_but_count_for_line_numbers() {
    assert_eq!(
        entries("\n\na=1\n\n\nb=2"),
        [kv("a", "1", 3), kv("b", "2", 6)]
    );
    assert!(entries("").is_empty());
    assert!(entries("\n\n").is_empty());
}

#[test]
fn heredoc_value_spans_lines_up_to_the_delimiter() {
    let text = "notes<<EOF\nline 1\n\nline 3\nEOF\nafter=1\n";
    assert_eq!(
        entries(text),
        [kv("notes", "line 1\n\nline 3", 1), kv("after", "1", 6)]
    );
}

#[test]
fn heredoc_may_be_empty_or_hold_one_empty_line() {
    assert_eq!(entries("a<<EOF\nEOF\n"), [kv("a", "", 1)]);
    assert_eq!(entries("a<<EOF\n\nEOF\n"), [kv("a", "", 1)]);
    assert_eq!(entries("a<<EOF\n\n\nEOF\n"), [kv("a", "\n", 1)]);
}

#[test]
fn heredoc_delimiter_line_may_end_the_file_without_newline() {
    assert_eq!(entries("a<<EOF\nv\nEOF"), [kv("a", "v", 1)]);
}

#[test]
fn heredoc_delimiter_must_match_exactly() {
    let text = "a<<EOF\nEOF \n eof\nEOFX\nEOF\n";
    assert_eq!(entries(text), [kv("a", "EOF \n eof\nEOFX", 1)]);
    // The delimiter keeps its own spaces too.
    assert_eq!(entries("a<<END \nx\nEND \n"), [kv("a", "x", 1)]);
}

#[test]
fn heredoc_value_may_contain_equals_and_markers() {
    assert_eq!(entries("a<<X\nb=c\nd<<e\nX\n"), [kv("a", "b=c\nd<<e", 1)]);
}

#[test]
fn the_earlier_of_equals_and_heredoc_decides_the_form() {
    assert_eq!(entries("a=b<<c"), [kv("a", "b<<c", 1)]);
    assert_eq!(entries("a<<B=C\nv\nB=C\n"), [kv("a", "v", 1)]);
}

#[test]
fn unterminated_heredoc_names_its_first_line() {
    let err = error("x=1\nnotes<<EOF\nline\n");
    assert_eq!(
        err,
        FileCommandError::UnterminatedHeredoc {
            file: OUT,
            line: 2,
            name: "notes".into(),
            delimiter: "EOF".into()
        }
    );
    assert_eq!(err.line(), 2);
    assert_eq!(
        err.to_string(),
        "GITHUB_OUTPUT line 2: the value of `notes` is never closed: no line after it is \
         exactly \"EOF\" (a final delimiter line needs no line ending, every value line does)"
    );
}

#[test]
fn heredoc_whose_last_value_line_has_no_newline_is_unterminated() {
    assert!(matches!(
        error("a<<EOF\nvalue"),
        FileCommandError::UnterminatedHeredoc { line: 1, .. }
    ));
    assert!(matches!(
        error("a<<EOF"),
        FileCommandError::UnterminatedHeredoc { line: 1, .. }
    ));
}

#[test]
fn heredoc_without_delimiter_is_an_error() {
    assert_eq!(
        error("\nname<<\n"),
        FileCommandError::MissingDelimiter {
            file: OUT,
            line: 2,
            name: "name".into()
        }
    );
}

#[test]
fn empty_names_are_errors() {
    assert_eq!(
        error("<<EOF\nx\nEOF\n"),
        FileCommandError::EmptyName { file: OUT, line: 1 }
    );
    assert_eq!(
        error("a=1\n=2\n"),
        FileCommandError::EmptyName { file: OUT, line: 2 }
    );
}

#[test]
fn a_line_without_equals_or_heredoc_is_an_error_with_its_text() {
    let err = error("a=1\n\njust text\n");
    assert_eq!(
        err,
        FileCommandError::InvalidLine {
            file: OUT,
            line: 3,
            text: "just text".into()
        }
    );
    assert!(err.to_string().starts_with("GITHUB_OUTPUT line 3:"));
    let long = "x".repeat(500);
    match error(&long) {
        FileCommandError::InvalidLine { text, .. } => assert_eq!(text.len(), 80),
        other => panic!("{other:?}"),
    }
}

#[test]
fn entries_before_an_error_are_kept_and_reading_stops_there() {
    let file = parse_key_values(FileCommandKind::Env, "a=1\nbad\nb=2\n", LineEndings::Lf);
    assert_eq!(file.entries.len(), 1);
    assert_eq!(file.entries[0].name, "a");
    assert!(matches!(
        file.error,
        Some(FileCommandError::InvalidLine {
            file: FileCommandKind::Env,
            line: 2,
            ..
        })
    ));
    let mut it = key_values(OUT, "bad\na=1\n", LineEndings::Lf);
    assert!(matches!(it.next(), Some(Err(_))));
    assert!(it.next().is_none());
}

#[test]
fn lf_mode_keeps_carriage_returns_as_github_linux_does() {
    assert_eq!(
        entries("a=1\r\nb=2\r\n"),
        [kv("a", "1\r", 1), kv("b", "2\r", 2)]
    );
    // The delimiter line "EOF\r" is not "EOF"...
    assert!(matches!(
        error("a<<EOF\nv\r\nEOF\r\n"),
        FileCommandError::UnterminatedHeredoc { .. }
    ));
    // ...but a heredoc written wholly with \r\n closes, its delimiter being "EOF\r".
    assert_eq!(entries("a<<EOF\r\nv\r\nEOF\r\n"), [kv("a", "v\r", 1)]);
    // A line holding only "\r" is not empty.
    assert!(matches!(
        error("\r\n"),
        FileCommandError::InvalidLine { .. }
    ));
}

#[test]
fn crlf_mode_accepts_windows_line_endings() {
    let file = parse_key_values(
        OUT,
        "a=1\r\n\r\nb<<EOF\r\nx\r\ny\r\nEOF\r\nc=3\n",
        LineEndings::CrLf,
    );
    assert_eq!(file.error, None);
    let got: Vec<_> = file
        .entries
        .iter()
        .map(|e| (e.name.as_str(), e.value.as_str(), e.line))
        .collect();
    assert_eq!(got, [("a", "1", 1), ("b", "x\r\ny", 3), ("c", "3", 7)]);
}

#[test]
fn decode_drops_a_byte_order_mark_and_replaces_bad_bytes() {
    assert_eq!(decode(b"\xEF\xBB\xBFa=1\n"), "a=1\n");
    assert_eq!(decode(b"a=\xFF\n"), "a=\u{FFFD}\n");
}

#[test]
fn file_kinds_name_their_variables_and_case_rules() {
    assert_eq!(FileCommandKind::Env.to_string(), "GITHUB_ENV");
    assert_eq!(FileCommandKind::State.env_var(), "GITHUB_STATE");
    assert_eq!(FileCommandKind::Path.env_var(), "GITHUB_PATH");
    assert!(!FileCommandKind::Env.names_ignore_case());
    assert!(FileCommandKind::Output.names_ignore_case());
    assert!(FileCommandKind::State.names_ignore_case());
}

#[test]
fn path_file_has_one_directory_per_line_of_any_ending() {
    assert_eq!(
        path_entries("/a\n\n/b c\r\n/d\r/e \n"),
        ["/a", "/b c", "/d", "/e "]
    );
    assert!(path_entries("").is_empty());
}

#[test]
fn prepend_path_puts_the_latest_first_and_moves_repeats() {
    let mut p = PrependPath::default();
    assert_eq!(p.path_value("/usr/bin"), "/usr/bin");
    p.add("/a");
    p.add("/b");
    p.add("/a");
    assert_eq!(p.dirs().collect::<Vec<_>>(), ["/a", "/b"]);
    assert_eq!(p.path_value("/usr/bin:/bin"), "/a:/b:/usr/bin:/bin");
    assert_eq!(p.path_value(""), "/a:/b");
}

proptest! {
    #[test]
    fn no_text_makes_the_reader_panic(text in "(.|\n|\r|<<|=){0,200}") {
        for endings in [LineEndings::Lf, LineEndings::CrLf] {
            let file = parse_key_values(OUT, &text, endings);
            if let Some(err) = file.error {
                prop_assert!(err.line() >= 1);
            }
        }
        let _ = path_entries(&text);
    }

    #[test]
    fn heredoc_returns_any_value_without_the_delimiter(
        lines in proptest::collection::vec("[a-z =<]{0,10}", 0..6)
    ) {
        let value = lines.join("\n");
        let text = format!("v<<DELIM\n{value}\nDELIM\n");
        let got = entries(&text);
        prop_assert_eq!(got, vec![kv("v", &value, 1)]);
    }
}
