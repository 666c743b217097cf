//! Definitions every schema shares: the basic types, `any`, and the names of contexts.

use super::{Allowed, Def};

pub(crate) static NULL: Def = Def::null("null");
pub(crate) static BOOLEAN: Def = Def::boolean("boolean");
pub(crate) static NUMBER: Def = Def::number("number");
pub(crate) static STRING: Def = Def::string("string");
pub(crate) static NON_EMPTY_STRING: Def = Def::non_empty_string("non-empty-string");
/// A sequence of anything.
pub(crate) static SEQUENCE: Def = Def::sequence("sequence", &ANY);
/// A mapping from strings to anything.
pub(crate) static MAPPING: Def = Def::loose_mapping("mapping", &STRING, &ANY);
/// Any value at all.
pub(crate) static ANY: Def = Def::one_of(
    "any",
    &[&NULL, &BOOLEAN, &NUMBER, &STRING, &SEQUENCE, &MAPPING],
);
pub(crate) static SEQUENCE_OF_NON_EMPTY_STRING: Def =
    Def::sequence("sequence-of-non-empty-string", &NON_EMPTY_STRING);
pub(crate) static SEQUENCE_OF_STRING: Def = Def::sequence("sequence-of-string", &STRING);
/// A non-empty string or a sequence of them (branch filters, labels, `needs`...).
pub(crate) static STRING_OR_SEQUENCE: Def = Def::one_of(
    "non-empty-string-or-sequence",
    &[&NON_EMPTY_STRING, &SEQUENCE_OF_NON_EMPTY_STRING],
);

pub(crate) const GITHUB: Allowed = Allowed::Context("github");
pub(crate) const INPUTS: Allowed = Allowed::Context("inputs");
pub(crate) const VARS: Allowed = Allowed::Context("vars");
pub(crate) const NEEDS: Allowed = Allowed::Context("needs");
pub(crate) const STRATEGY: Allowed = Allowed::Context("strategy");
pub(crate) const MATRIX: Allowed = Allowed::Context("matrix");
pub(crate) const SECRETS: Allowed = Allowed::Context("secrets");
pub(crate) const STEPS: Allowed = Allowed::Context("steps");
pub(crate) const JOB: Allowed = Allowed::Context("job");
pub(crate) const JOBS: Allowed = Allowed::Context("jobs");
pub(crate) const RUNNER: Allowed = Allowed::Context("runner");
pub(crate) const ENV: Allowed = Allowed::Context("env");
pub(crate) const HASH_FILES: Allowed = Allowed::Function("hashFiles", 1, 255);
pub(crate) const ALWAYS: Allowed = Allowed::Function("always", 0, 0);
pub(crate) const CANCELLED: Allowed = Allowed::Function("cancelled", 0, 0);
/// `success()` and `failure()` where they take no arguments (steps, action `pre-if`/`post-if`).
pub(crate) const SUCCESS: Allowed = Allowed::Function("success", 0, 0);
pub(crate) const FAILURE: Allowed = Allowed::Function("failure", 0, 0);
