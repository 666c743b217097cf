//! Placeholder until this suite is written; it reports one failure so the test cannot pass empty.

use crate::Tally;
use std::path::Path;

pub fn run(_root: &Path) -> Tally {
    Tally {
        failures: vec!["the expressions suite is not written yet".into()],
        ..Tally::default()
    }
}
