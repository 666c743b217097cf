//! GitHub's workflow-parser cases (`workflow-parser/testdata/reader/*.yml`) against
//! `workflow::parse`.
//!
//! A case's sections are split by a line `---`: options, the workflow, then (for reusable-workflow
//! cases) pairs of a called workflow's reference and text, and last the expected result. When the
//! expected result lists errors we must refuse the workflow with exactly the same set of
//! (line, column) positions; otherwise we must accept it. Error messages are compared too, and
//! differences are printed as information: the pass criterion is acceptance and positions. For
//! accepted cases, job and step ids and normalised `if` expressions are compared with GitHub's
//! expected template, also as information.
//!
//! Cases in `skipped-tests.txt` (GitHub's own list of cases its TypeScript parser does not pass)
//! are counted as skipped, never as passed. Cases in `known_differences.rs` are deliberate
//! differences, reported as known.

#[path = "known_differences.rs"]
mod known_differences;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use actions_compat::diagnostic::Diagnostic;
use actions_compat::workflow::{self, JobKind, ParseOptions};
use actions_compat::yaml::{self, CoreValue};

use crate::Tally;

pub fn run(root: &Path) -> Tally {
    let mut tally = Tally::default();
    let dir = root.join("workflow-parser/testdata");
    let skipped: HashSet<String> = std::fs::read_to_string(dir.join("skipped-tests.txt"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    let mut cases: Vec<_> = match std::fs::read_dir(dir.join("reader")) {
        Ok(entries) => entries.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
        Err(e) => {
            tally
                .failures
                .push(format!("cannot list the reader cases: {e}"));
            return tally;
        }
    };
    cases.sort();
    // HRUN_CONFORMANCE_VERBOSE=1 also prints how we differ on skipped cases.
    let verbose = std::env::var_os("HRUN_CONFORMANCE_VERBOSE").is_some();
    let mut skipped_count = 0;
    let mut skipped_agreeing = 0;
    let mut message_differences = Vec::new();
    for path in cases {
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        if skipped.contains(&name) {
            // Run for information only: a skipped case never counts as passed.
            skipped_count += 1;
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            match run_case(&name, &text, &mut Vec::new()) {
                Ok(()) => skipped_agreeing += 1,
                Err(why) if verbose => println!("INFO workflow-parser skipped case {name}: {why}"),
                Err(_) => {}
            }
            continue;
        }
        let outcome = match std::fs::read_to_string(&path) {
            Ok(text) => run_case(&name, &text, &mut message_differences),
            Err(e) => Err(format!("cannot read: {e}")),
        };
        match (outcome, known_differences::reason(&name)) {
            (Ok(()), None) => tally.passed += 1,
            (Ok(()), Some(_)) => tally.failures.push(format!(
                "{name}: passes but is listed in known_differences.rs"
            )),
            (Err(why), None) => tally.failures.push(format!("{name}: {why}")),
            (Err(why), Some(reason)) => tally.known.push(format!("{name}: {reason} ({why})")),
        }
    }
    println!(
        "workflow-parser: {skipped_count} cases skipped (listed in skipped-tests.txt); for \
         information, we agree with GitHub's expected result on {skipped_agreeing} of them"
    );
    for d in &message_differences {
        println!("INFO workflow-parser differs: {d}");
    }
    tally
}

/// Runs one case: `Err` says how we differ from GitHub.
fn run_case(name: &str, text: &str, message_differences: &mut Vec<String>) -> Result<(), String> {
    let sections = split_sections(text);
    let [options, workflow_text, called @ .., expected] = sections.as_slice() else {
        return Err(format!(
            "expected at least 3 sections, found {}",
            sections.len()
        ));
    };
    let options = parse_options(options)?;
    let expected: serde_json::Value = serde_json::from_str(expected.trim())
        .map_err(|e| format!("expected result is not JSON: {e}"))?;
    let file_name = format!(".github/workflows/{name}");

    let parsed = workflow::parse_with(workflow_text, &file_name, &options);
    let mut errors = match &parsed {
        Ok(parsed) => check_calls(parsed, called, &options),
        Err(e) => e.0.clone(),
    };
    errors.sort();

    let Some(expected_errors) = expected.get("errors").and_then(|e| e.as_array()) else {
        if errors.is_empty() {
            if let Ok(parsed) = &parsed {
                compare_jobs(name, parsed, &expected, message_differences);
            }
            return Ok(());
        }
        let listed: Vec<String> = errors.iter().map(ToString::to_string).collect();
        return Err(format!(
            "GitHub accepts it, we refuse it: {}",
            listed.join(" | ")
        ));
    };
    let expected_messages: Vec<String> = expected_errors
        .iter()
        .filter_map(|e| e.get("Message").and_then(|m| m.as_str()).map(str::to_owned))
        .collect();
    if errors.is_empty() {
        return Err(format!(
            "GitHub refuses it, we accept it; GitHub says: {}",
            expected_messages.join(" | ")
        ));
    }
    let expected_positions: BTreeSet<(usize, usize)> = expected_messages
        .iter()
        .filter_map(|m| position(m))
        .collect();
    let our_positions: BTreeSet<(usize, usize)> = errors
        .iter()
        .filter(|d| d.has_position())
        .map(|d| (d.line, d.col))
        .collect();
    let ours: BTreeSet<String> = errors.iter().map(ToString::to_string).collect();
    let theirs: BTreeSet<String> = expected_messages.iter().cloned().collect();
    if ours != theirs {
        message_differences.push(format!(
            "{name}: ours [{}] GitHub's [{}]",
            ours.difference(&theirs)
                .cloned()
                .collect::<Vec<_>>()
                .join(" | "),
            theirs
                .difference(&ours)
                .cloned()
                .collect::<Vec<_>>()
                .join(" | ")
        ));
    }
    if our_positions != expected_positions {
        return Err(format!(
            "error positions differ: ours {:?}, GitHub's {:?}; our errors: {}",
            our_positions,
            expected_positions,
            ours.into_iter().collect::<Vec<_>>().join(" | ")
        ));
    }
    Ok(())
}

/// For information: compares what GitHub's expected template and our model both say of each job
/// and step: ids (generated ones included) and normalised `if` expressions.
fn compare_jobs(
    name: &str,
    ours: &workflow::Workflow,
    expected: &serde_json::Value,
    differences: &mut Vec<String>,
) {
    let Some(jobs) = expected.get("jobs").and_then(|j| j.as_array()) else {
        return;
    };
    let text = |v: &serde_json::Value, path: &[&str]| {
        path.iter()
            .try_fold(v, |v, key| v.get(key))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    for (theirs, job) in jobs.iter().zip(&ours.jobs) {
        let mut differ = |what: String, ours: Option<String>, theirs: Option<String>| {
            if theirs.is_some() && ours != theirs {
                differences.push(format!(
                    "{name}: {what}: ours {ours:?}, GitHub's {theirs:?}"
                ));
            }
        };
        differ(
            "job id".into(),
            Some(job.id.value.clone()),
            text(theirs, &["id"]),
        );
        differ(
            format!("job {} if", job.id.value),
            Some(job.condition.expression.clone()),
            text(theirs, &["if", "expr"]),
        );
        let JobKind::Runner(runner) = &job.kind else {
            continue;
        };
        let their_steps = theirs.get("steps").and_then(|s| s.as_array());
        for (their_step, step) in their_steps.into_iter().flatten().zip(&runner.steps) {
            differ(
                format!("job {} step id", job.id.value),
                Some(step.id.value.clone()),
                text(their_step, &["id"]),
            );
            differ(
                format!("step {} if", step.id.value),
                Some(step.condition.expression.clone()),
                text(their_step, &["if", "expr"]),
            );
        }
    }
}

/// Splits a case file at lines that are exactly `---`.
fn split_sections(text: &str) -> Vec<String> {
    let mut sections = vec![String::new()];
    for line in text.split_inclusive('\n') {
        if line.trim_end_matches(['\n', '\r']) == "---" {
            sections.push(String::new());
        } else if let Some(last) = sections.last_mut() {
            last.push_str(line);
        }
    }
    sections
}

/// The options a case sets: limits, and experimental features.
fn parse_options(text: &str) -> Result<ParseOptions, String> {
    let mut options = ParseOptions::default();
    let root = yaml::parse(text, "options", &yaml::Limits::default()).map_err(|e| e.to_string())?;
    let number = |key: &str| {
        root.get(key)
            .and_then(|n| n.as_scalar())
            .and_then(|s| match s.resolve() {
                Ok(CoreValue::Number(n)) if n >= 0.0 => Some(n as usize),
                _ => None,
            })
    };
    if let Some(n) = number("max-depth") {
        options.limits.max_depth = n;
    }
    if let Some(n) = number("max-file-size") {
        options.limits.max_chars = n;
    }
    options.background_steps = root
        .get("experimental-features")
        .and_then(|f| f.get("allowBackgroundSteps"))
        .and_then(|b| b.as_scalar())
        .is_some_and(|s| s.resolve() == Ok(CoreValue::Bool(true)));
    Ok(options)
}

/// Checks each reusable-workflow job against the called workflow the case provides (sections
/// of reference, then text).
fn check_calls(
    caller: &workflow::Workflow,
    called: &[String],
    options: &ParseOptions,
) -> Vec<Diagnostic> {
    let mut files = BTreeMap::new();
    for pair in called.chunks(2) {
        if let [reference, text] = pair {
            files.insert(reference.trim().to_owned(), text.as_str());
        }
    }
    let mut errors = Vec::new();
    for job in &caller.jobs {
        let JobKind::Reusable(call) = &job.kind else {
            continue;
        };
        let Some(text) = files.get(call.uses.value.as_str()) else {
            continue;
        };
        match workflow::parse_with(text, &call.uses.value, options) {
            Ok(callee) => errors.extend(workflow::check_reusable_call(caller, job, &callee)),
            Err(e) => errors.extend(e.0),
        }
    }
    errors
}

/// The (line, column) in one of GitHub's messages, `FILE (Line: L, Col: C): ...`.
fn position(message: &str) -> Option<(usize, usize)> {
    let rest = message.split_once("(Line: ")?.1;
    let (line, rest) = rest.split_once(", Col: ")?;
    let (col, _) = rest.split_once(')')?;
    Some((line.trim().parse().ok()?, col.trim().parse().ok()?))
}
