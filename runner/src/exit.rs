//! Exit codes of `hrun`: each means one thing, for every subcommand.

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The command did what was asked; for `lint`, nothing was denied.
    Ok = 0,
    /// Policy denied something (`lint`), a job failed (`exec`), secrets were found (`scan`).
    Denied = 1,
    /// The input could not be read, parsed or evaluated; nothing was decided.
    CouldNotEvaluate = 2,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}
