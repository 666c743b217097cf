//! `hrun expr` and `hrun parse` end to end: the debug entry points tests and users script.

use std::process::{Command, Output};

fn hrun(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hrun"))
        .args(args)
        .output()
        .expect("hrun runs")
}

#[test]
fn expr_prints_kind_and_value() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ctx = dir.path().join("ctx.json");
    std::fs::write(
        &ctx,
        r#"{"github": {"event_name": "push", "labels": ["a", "b"]}}"#,
    )
    .expect("write contexts");
    let out = hrun(&[
        "expr",
        "github.event_name == 'PUSH' && join(github.labels, '+')",
        "--contexts",
        ctx.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v, serde_json::json!({"kind": "String", "value": "a+b"}));
}

#[test]
fn expr_syntax_error_names_position_and_exits_2() {
    let out = hrun(&["expr", "1 == )"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Located at position 6"), "{err}");
}

#[test]
fn expr_rejects_contexts_that_are_not_an_object() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ctx = dir.path().join("ctx.json");
    std::fs::write(&ctx, "[1]").expect("write");
    let out = hrun(&["expr", "1", "--contexts", ctx.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn parse_prints_workflow_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wf = dir.path().join("ci.yml");
    std::fs::write(
        &wf,
        "on: push\njobs:\n  build:\n    runs-on: x\n    steps:\n      - run: echo hi\n",
    )
    .expect("write");
    let out = hrun(&["parse", wf.to_str().expect("utf-8 path")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["jobs"][0]["id"]["value"], "build");
}

#[test]
fn parse_reports_unknown_key_with_position_and_exits_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wf = dir.path().join("ci.yml");
    std::fs::write(
        &wf,
        "on: push\njobs:\n  build:\n    runs-on: x\n    stepz: []\n",
    )
    .expect("write");
    let out = hrun(&["parse", wf.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ci.yml:5:5"), "{err}");
    assert!(err.contains("stepz"), "{err}");
}

#[test]
fn parse_reads_an_action_yml_among_workflows_as_a_workflow() {
    let dir = tempfile::tempdir().expect("temp dir");
    let workflows = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&workflows).expect("mkdir");
    let wf = workflows.join("action.yml");
    std::fs::write(
        &wf,
        "on: push\njobs:\n  build:\n    runs-on: x\n    steps:\n      - uses: $/\n",
    )
    .expect("write");
    let out = hrun(&["parse", wf.to_str().expect("utf-8 path")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        v["jobs"][0]["steps"][0]["action"]["kind"],
        "same_repository"
    );
}
