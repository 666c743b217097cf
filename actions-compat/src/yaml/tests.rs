use super::*;

fn parse_ok(src: &str) -> Node {
    parse(src, "f.yml", &Limits::default()).unwrap()
}

fn parse_err(src: &str) -> Vec<Diagnostic> {
    parse(src, "f.yml", &Limits::default()).unwrap_err().0
}

fn scalar(node: &Node) -> &str {
    &node.as_scalar().unwrap().value
}

#[test]
fn keeps_positions_of_nodes_and_keys() {
    let root = parse_ok("on: push\njobs:\n  build:\n    steps:\n      - run: echo\n");
    assert_eq!((root.line, root.col), (1, 1));
    let entries = root.as_mapping().unwrap();
    assert_eq!((entries[0].key.line, entries[0].key.col), (1, 1));
    assert_eq!((entries[0].value.line, entries[0].value.col), (1, 5));
    let jobs = &entries[1].value;
    assert_eq!((jobs.line, jobs.col), (3, 3));
    let steps = jobs.get("build").unwrap().get("steps").unwrap();
    assert_eq!((steps.line, steps.col), (5, 7));
    let step = &steps.as_sequence().unwrap()[0];
    assert_eq!((step.line, step.col), (5, 9));
    let run = step.as_mapping().unwrap()[0].value.clone();
    assert_eq!((run.line, run.col), (5, 14));
    assert_eq!(&*run.file, "f.yml");
}

#[test]
fn places_block_scalars_at_their_header() {
    let root = parse_ok("a:\n  - run: |\n      echo 1\n  - >-\n    folded\n");
    let items = root.get("a").unwrap().as_sequence().unwrap();
    let run = items[0].get("run").unwrap();
    assert_eq!((run.line, run.col), (2, 10));
    assert_eq!(run.as_scalar().unwrap().style, ScalarStyle::Literal);
    assert_eq!((items[1].line, items[1].col), (4, 5));
    assert_eq!(scalar(&items[1]), "folded");
}

#[test]
fn flow_collections_start_at_their_bracket() {
    let root = parse_ok("jobs: {}\nx: [1, 2]\n");
    let jobs = root.get("jobs").unwrap();
    assert_eq!((jobs.line, jobs.col), (1, 7));
    let x = root.get("x").unwrap();
    assert_eq!((x.line, x.col), (2, 4));
}

#[test]
fn resolves_aliases_to_copies_of_the_anchored_node() {
    let root = parse_ok("a: &steps\n  - run: one\nb: *steps\n");
    let a = root.get("a").unwrap();
    let b = root.get("b").unwrap();
    assert_eq!(a.as_sequence().unwrap().len(), 1);
    assert_eq!(a.kind, b.kind);
    // The copy starts at the alias; its inside keeps the anchored text's positions.
    assert_eq!((b.line, b.col), (3, 4));
    assert_eq!(b.as_sequence().unwrap()[0].line, 2);
}

#[test]
fn anchored_scalars_keep_their_value() {
    let root = parse_ok("a: &x hello\nb: *x\n");
    assert_eq!(scalar(root.get("b").unwrap()), "hello");
}

#[test]
fn refuses_alias_bombs() {
    let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        src.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let errors = parse_err(&src);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].message.contains("more than 250000 nodes"),
        "{}",
        errors[0]
    );
}

#[test]
fn refuses_aliases_inside_their_own_anchor() {
    let errors = parse_err("a: &a [*a]\n");
    assert!(errors[0].message.contains("not complete"), "{}", errors[0]);
}

#[test]
fn refuses_nesting_deeper_than_the_limit() {
    let limits = Limits {
        max_depth: 3,
        ..Limits::default()
    };
    assert!(parse("a: {b: {c: 1}}", "f.yml", &limits).is_ok());
    let errors = parse("a: {b: {c: [1]}}", "f.yml", &limits).unwrap_err().0;
    assert_eq!(errors[0].message, "Maximum object depth exceeded");
    assert_eq!((errors[0].line, errors[0].col), (1, 12));
}

#[test]
fn refuses_aliases_that_would_nest_too_deep() {
    let limits = Limits {
        max_depth: 3,
        ..Limits::default()
    };
    let errors = parse("a: &x {b: {c: 1}}\nd: {e: *x}\n", "f.yml", &limits)
        .unwrap_err()
        .0;
    assert_eq!(errors[0].message, "Maximum object depth exceeded");
}

#[test]
fn deep_flow_nesting_is_refused_without_overflowing_the_stack() {
    // Either our depth limit or the scanner's own flow-level limit refuses it first.
    let src = "[".repeat(100_000);
    let errors = parse_err(&src);
    assert_eq!(errors.len(), 1);
    let src = "- ".repeat(10_000);
    let errors = parse_err(&src);
    assert_eq!(errors[0].message, "Maximum object depth exceeded");
}

#[test]
fn depth_limit_is_capped() {
    let limits = Limits {
        max_depth: usize::MAX,
        ..Limits::default()
    };
    let src = "[".repeat(Limits::DEPTH_CEILING + 1);
    let errors = parse(&src, "f.yml", &limits).unwrap_err().0;
    assert_eq!(errors[0].message, "Maximum object depth exceeded");
}

#[test]
fn refuses_duplicate_keys_at_the_second_key() {
    let errors = parse_err("jobs:\n  build:\n    runs-on: a\n    runs-on: b\n");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].message, "'runs-on' is already defined");
    assert_eq!((errors[0].line, errors[0].col), (4, 5));
}

#[test]
fn refuses_files_over_the_size_limit() {
    let limits = Limits {
        max_chars: 10,
        ..Limits::default()
    };
    let errors = parse("on: push\njobs: {}\n", "f.yml", &limits)
        .unwrap_err()
        .0;
    assert_eq!(
        errors[0].to_string(),
        "f.yml: The maximum file size of 10 characters has been exceeded"
    );
}

#[test]
fn reports_syntax_errors_with_line_and_column() {
    let errors = parse_err("a: b\n  c: d\n");
    assert_eq!(errors.len(), 1);
    assert_eq!((errors[0].line, errors[0].col), (2, 4));
    assert!(errors[0].message.contains("mapping values are not allowed"));
}

#[test]
fn accepts_flow_sequences_closed_left_of_their_items() {
    // As GitHub's parser does: inside brackets, indentation means nothing.
    let written =
        "matrix:\n  BUILD_PROP:\n    - [\n      \"a\",\n      \"b\"\n    ]\n  os: [\n    x,\n  ]\n";
    let tidy = "matrix:\n  BUILD_PROP:\n    - [\n      \"a\",\n      \"b\"\n     ]\n  os: [\n    x,\n   ]\n";
    let root = parse_ok(written);
    assert_eq!(root, parse_ok(tidy));
    let matrix = root.get("matrix").unwrap();
    let items = matrix.get("BUILD_PROP").unwrap().as_sequence().unwrap();
    let item = items[0].as_sequence().unwrap();
    assert_eq!((item[1].line, item[1].col), (5, 7));
    assert_eq!(scalar(&item[1]), "b");
    let os = matrix.get("os").unwrap();
    assert_eq!((os.line, os.col), (7, 7));
}

#[test]
fn positions_on_a_moved_line_are_those_written() {
    // `2` and `x` start lines left of where YAML 1.2 wants them; each is moved, then mapped back.
    let root = parse_ok("a:\n  b: [\n    1,\n  2]\n  c: {\n  x: 1}\n");
    let a = root.get("a").unwrap();
    let two = &a.get("b").unwrap().as_sequence().unwrap()[1];
    assert_eq!((two.line, two.col), (4, 3));
    let x = &a.get("c").unwrap().as_mapping().unwrap()[0].key;
    assert_eq!((x.line, x.col), (6, 3));
    let errors = parse_err("a:\n  b: [\n    1,\n  ] x\n");
    assert_eq!((errors[0].line, errors[0].col), (4, 5));
}

#[test]
fn block_indentation_errors_are_still_errors() {
    let errors = parse_err("a:\n  b: 1\n c: 2\n");
    assert_eq!((errors[0].line, errors[0].col), (3, 2));
    assert!(parse("a:\n  b: [\n    1,\n\t]\n", "f.yml", &Limits::default()).is_err());
}

#[test]
fn refuses_unknown_aliases_and_second_documents() {
    assert_eq!(parse_err("a: *nope\n").len(), 1);
    let errors = parse_err("a: 1\n---\nb: 2\n");
    assert_eq!(errors[0].line, 2);
}

#[test]
fn refuses_non_scalar_keys() {
    let errors = parse_err("? [a]\n: b\n");
    assert_eq!(errors[0].message, "A mapping key must be a scalar");
}

#[test]
fn reports_bad_tags_at_the_tag() {
    let errors = parse_err("on: push\njobs:\n  x:\n    runs-on: !!bool test\n");
    assert_eq!(
        errors[0].message,
        "The value 'test' on line 4 and column 14 is invalid for the type 'tag:yaml.org,2002:bool'"
    );
    let errors = parse_err("a: !!timestamp 2022-10-26\nb: !!set {}\n");
    assert_eq!(errors.len(), 2);
}

#[test]
fn keeps_style_and_tag() {
    let root = parse_ok("a: 'x'\nb: !!str 1\n");
    let a = root.get("a").unwrap().as_scalar().unwrap();
    assert_eq!(a.style, ScalarStyle::SingleQuoted);
    let b = root.get("b").unwrap().as_scalar().unwrap();
    assert_eq!(b.tag.as_deref(), Some("tag:yaml.org,2002:str"));
    assert_eq!(b.resolve().unwrap(), CoreValue::String("1".into()));
}

#[test]
fn empty_document_is_a_null_scalar() {
    let root = parse_ok("");
    assert_eq!(
        root.as_scalar().unwrap().resolve().unwrap(),
        CoreValue::Null
    );
}

#[test]
fn never_panics_on_arbitrary_bytes() {
    let samples = [
        "\u{0}",
        "- - - -",
        ":",
        "? ",
        "&",
        "*",
        "!",
        "|",
        ">\n x",
        "'",
        "\"\\u",
        "{[}]",
        "a: |2-\n x",
        "\t",
        "- &a\n- *a",
        "%YAML 1.2\n---\n",
        "key: [a, b: c]",
        "-\n-\n  -\n",
        "a:\n b: [\n]\n",
        "a:\n  - {\n x: [\n]\n}\n",
    ];
    for s in samples {
        let _ = parse(s, "f.yml", &Limits::default());
    }
}
