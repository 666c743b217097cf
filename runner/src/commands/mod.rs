//! One module per `hrun` subcommand; each turns its flags into library calls and an exit code.

pub mod actions;
pub mod exec;
pub mod expr;
pub mod lint;
pub mod parse;
pub mod scan;
