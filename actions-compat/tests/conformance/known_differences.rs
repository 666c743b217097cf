//! Workflow-parser cases where we deliberately differ from GitHub, each with the reason. A case
//! listed here that fails is reported as a known difference; one that passes is reported as a
//! failure, so the list cannot go stale.

/// Each case's file name and why we differ.
const KNOWN: &[(&str, &str)] = &[];

/// The reason we differ on `case`, if we do on purpose.
pub fn reason(case: &str) -> Option<&'static str> {
    KNOWN
        .iter()
        .find(|(name, _)| *name == case)
        .map(|(_, reason)| *reason)
}
