//! The policy gate that `hrun lint` runs before anything is allowed to run.
pub mod finding;
pub mod injection;
pub mod policy_file;
pub mod rego;
pub mod rules;
mod source_text;
pub mod uses_ref;
