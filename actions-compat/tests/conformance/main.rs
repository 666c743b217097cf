//! Runs GitHub's own test data for its workflow parser and expression evaluator (read from
//! `../shared/conformance/languageservices/`, never copied into this repository) against this
//! crate, and prints `N passed, N failed` for each suite and in total.
//!
//! It fails when any expression case fails, or when a parser case fails that is not listed, with
//! its reason, in `known_differences.rs`.

mod data;
mod expressions;
mod workflow_parser;

use std::process::ExitCode;

/// The outcome of one suite.
#[derive(Debug, Default)]
pub struct Tally {
    pub passed: usize,
    /// Failures with a description each, which are printed.
    pub failures: Vec<String>,
    /// Failures that match a documented, deliberate difference; printed, not counted as failing.
    pub known: Vec<String>,
}

fn main() -> ExitCode {
    let root = match data::conformance_dir() {
        Ok(dir) => dir,
        Err(why) => {
            eprintln!("conformance: {why}");
            return ExitCode::FAILURE;
        }
    };
    let suites = [
        ("expressions", expressions::run(&root)),
        ("workflow-parser", workflow_parser::run(&root)),
    ];
    let mut passed = 0;
    let mut failed = 0;
    for (name, tally) in &suites {
        for f in &tally.failures {
            println!("FAIL {name}: {f}");
        }
        for k in &tally.known {
            println!("KNOWN DIFFERENCE {name}: {k}");
        }
        println!(
            "{name}: {} passed, {} failed ({} known differences)",
            tally.passed,
            tally.failures.len(),
            tally.known.len()
        );
        passed += tally.passed;
        failed += tally.failures.len();
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
