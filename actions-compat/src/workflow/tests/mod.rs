//! Tests of workflow parsing, by topic; the helpers here are shared.

mod expressions;
mod jobs;
mod on;
mod steps;

use super::*;
use crate::diagnostic::{Diagnostic, LoadError};

const FILE: &str = ".github/workflows/ci.yml";

fn ok(src: &str) -> Workflow {
    match parse(src, FILE) {
        Ok(w) => w,
        Err(e) => panic!("expected the workflow to parse, got:\n{e}"),
    }
}

fn errors(src: &str) -> Vec<Diagnostic> {
    let mut errors = parse(src, FILE).expect_err("expected errors").0;
    errors.sort();
    errors
}

/// (line, col, message) of each error, sorted.
fn located(src: &str) -> Vec<(usize, usize, String)> {
    errors(src)
        .into_iter()
        .map(|d| (d.line, d.col, d.message))
        .collect()
}

fn runner(job: &Job) -> &RunnerJob {
    match &job.kind {
        JobKind::Runner(r) => r,
        JobKind::Reusable(_) => panic!("expected a runner job"),
    }
}

const JOBS: &str =
    "jobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n";

#[test]
fn rejects_unknown_step_key_with_position_and_githubs_hint() {
    let src = "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - runn: echo hi\n";
    assert_eq!(
        located(src),
        [
            (6, 9, "There's not enough info to determine what you meant. Add one of these properties: cancel, parallel, run, shell, uses, wait, wait-all, with, working-directory".to_owned()),
            (6, 9, "Unexpected value 'runn'".to_owned()),
        ]
    );
}

#[test]
fn errors_display_in_githubs_format() {
    let e = parse("on: push\n", FILE).unwrap_err();
    assert_eq!(
        e.to_string(),
        ".github/workflows/ci.yml (Line: 1, Col: 1): Required property is missing: jobs"
    );
}

#[test]
fn rejects_unknown_top_level_and_job_keys() {
    let src = format!("on: push\nfoo: 1\n{JOBS}    bar: 2\n");
    assert_eq!(
        located(&src),
        [
            (2, 1, "Unexpected value 'foo'".to_owned()),
            (8, 5, "Unexpected value 'bar'".to_owned())
        ]
    );
}

#[test]
fn rejects_wrong_types_where_github_does() {
    let src = format!("name:\n  - a\non: push\n{JOBS}");
    assert_eq!(
        located(&src),
        [(2, 3, "A sequence was not expected".to_owned())]
    );
    let src = "on: push\njobs:\n  build:\n    runs-on: x\n    steps:\n      not: a-sequence\n";
    assert_eq!(
        located(src),
        [(6, 7, "A mapping was not expected".to_owned())]
    );
}

#[test]
fn reports_keys_defined_twice_without_regard_to_case() {
    let src = "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{run: x}]\n  A:\n    runs-on: x\n    steps: [{run: x}]\n";
    assert_eq!(located(src), [(6, 3, "'A' is already defined".to_owned())]);
}

#[test]
fn refuses_documents_deeper_than_the_depth_limit() {
    let options = ParseOptions {
        limits: yaml::Limits {
            max_depth: 5,
            ..yaml::Limits::default()
        },
        ..ParseOptions::default()
    };
    let src = "on: push\njobs:\n  build:\n    runs-on: x\n    steps:\n      - uses: a/b@v1\n        with:\n          node-version: 14\n";
    let e = parse_with(src, FILE, &options).unwrap_err();
    assert_eq!(e.0[0].message, "Maximum object depth exceeded");
}

#[test]
fn serializes_literals_and_positions_as_documented() {
    let w = ok(&format!("on: push\nname: CI\n{JOBS}"));
    let json = serde_json::to_value(&w).unwrap();
    assert_eq!(
        json["name"],
        serde_json::json!({"value": "CI", "line": 2, "col": 7})
    );
    let job = &json["jobs"][0];
    assert_eq!(job["type"], "runner");
    assert_eq!(job["if"]["expression"], "success()");
    let step = &job["steps"][0];
    assert_eq!(step["type"], "run");
    assert_eq!(
        step["run"],
        serde_json::json!({"line": 7, "col": 14, "value": "echo hi"})
    );
    assert_eq!(step["id"]["value"], "__run");
}

#[test]
fn parse_file_reports_unreadable_files() {
    let e = parse_file(Path::new("/nonexistent/ci.yml")).unwrap_err();
    assert!(matches!(e, LoadError::Read { .. }));
}

// The cases below use expressions, which the expression engine checks.

#[test]
fn never_panics_on_mutated_workflows() {
    let seed = "name: CI\non:\n  push:\n    branches: [main]\n  workflow_dispatch:\n    inputs:\n      x: {type: choice, options: [a]}\njobs:\n  a: &job\n    runs-on: [x]\n    if: ${{ github.ref }}\n    strategy:\n      matrix: {os: [1, 2], include: [{os: 3}]}\n    steps:\n      - uses: a/b@v1\n        with: {k: v}\n      - run: |\n          echo ${{ matrix.os }}\n        id: s\n  b:\n    needs: a\n    uses: ./.github/workflows/x.yml\n    secrets: inherit\n";
    let alphabet: Vec<char> = " \n:-[]{}$&*!|>#'\"a,?%@\t".chars().collect();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..1500 {
        let mut chars: Vec<char> = seed.chars().collect();
        for _ in 0..(1 + next() % 4) {
            let at = (next() as usize) % (chars.len() + 1);
            match next() % 3 {
                0 if at < chars.len() => {
                    chars.remove(at);
                }
                _ => chars.insert(at, alphabet[(next() as usize) % alphabet.len()]),
            }
        }
        let text: String = chars.into_iter().collect();
        let _ = parse(&text, FILE);
        let _ = crate::action::parse(&text, "action.yml");
    }
}

#[test]
fn reads_documents_at_the_depth_ceiling_without_exhausting_the_stack() {
    // Test threads have small stacks; the reader's recursion must stay well within them.
    let options = ParseOptions {
        limits: yaml::Limits {
            max_depth: usize::MAX,
            ..yaml::Limits::default()
        },
        ..ParseOptions::default()
    };
    let depth = yaml::Limits::DEPTH_CEILING - 8;
    let nested = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    let src = format!(
        "on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n      matrix:\n        v: [{nested}]\n    steps: [{{run: x}}]\n"
    );
    let w = parse_with(&src, FILE, &options).unwrap();
    assert!(w.jobs[0].strategy.is_some());
    // The model serializes at that depth too.
    assert!(serde_json::to_string(&w).is_ok());
}
