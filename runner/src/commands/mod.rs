//! One module per `hrun` subcommand; each turns its flags into library calls and an exit code.

pub mod actions;
pub mod audit;
pub mod exec;
pub mod expr;
pub mod image;
pub mod keys;
pub mod lint;
pub mod parse;
pub mod rebuild;
pub mod register;
pub mod run;
pub mod scan;
pub mod verify;
