//! Workflow commands: how a step talks back to the runner.
//!
//! A step talks to the runner in two ways, and this module reads both as GitHub's runner does:
//!
//! - Lines of its output of the form `::name key=value,key=value::message` (or the legacy
//!   `##[name key=value;]message`): [`CommandParser`] takes each line and says whether it is
//!   plain output or a [`WorkflowCommand`], keeping the state that `stop-commands` and `echo`
//!   change. Unknown names are plain output, as on GitHub.
//! - The files named by `GITHUB_ENV`, `GITHUB_OUTPUT`, `GITHUB_STATE` and `GITHUB_PATH`, read
//!   after the step ends: [`mod@file`].
//!
//! Nothing here runs a step, writes a log or keeps a secret: the engine acts on what is returned
//! (it registers `add-mask` values with the masker before printing anything else, and reports
//! each [`CommandError`] as an annotation). No input makes these functions panic.

mod command;
mod escape;
pub mod file;
mod parser;
mod syntax;

pub use command::{
    is_blocked_env_name, Allowances, Annotation, AnnotationLevel, CommandError, MaskValue,
    MatcherRef, WorkflowCommand, ALLOW_UNSECURE_COMMANDS_ENV, ALLOW_UNSECURE_STOP_TOKENS_ENV,
    BLOCKED_ENV_NAMES, STOP_TOKEN_MASK_MIN_LEN,
};
pub use escape::{escape_data, escape_property};
pub use parser::{CommandLine, CommandParser, ParsedLine, ParserOptions};
