//! Why a step could not be run at all.
//!
//! A step that ran and failed is not an error: it is a [`StepOutcome`](crate::StepOutcome) with a
//! non-zero status. These errors mean no step program started (or the executor lost track of it),
//! and each says which part failed so the engine can tell the user what to fix.
//!
//! Must never: describe a step that ran and failed (that is an outcome), or carry output of the
//! step (which may hold secrets) in a message.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;

/// A step could not be started or supervised.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The program was not found (in the step's `PATH` when it has no `/`).
    #[error("program `{}` not found", program.to_string_lossy())]
    ProgramNotFound {
        /// The program as given in the step.
        program: OsString,
    },
    /// The program exists but could not be executed (permissions, bad format, …).
    #[error("cannot execute `{}`: {source}", program.to_string_lossy())]
    Exec {
        /// The program as given in the step.
        program: OsString,
        /// The `execve` error.
        source: io::Error,
    },
    /// The working directory does not exist or cannot be entered.
    #[error("cannot enter working directory {}: {source}", path.display())]
    WorkingDir {
        /// The directory as given in the step.
        path: PathBuf,
        /// The `chdir` error.
        source: io::Error,
    },
    /// A program name, argument or environment entry contains a NUL byte, or a name contains `=`.
    #[error("invalid step: {0}")]
    InvalidStep(String),
    /// The sandbox configuration is unusable (bad hostname, identity, …).
    #[error("invalid sandbox configuration: {0}")]
    InvalidConfig(String),
    /// A step of the sandbox set-up failed (namespaces, mounts, identity).
    #[error("sandbox set-up failed at {stage}: {source}")]
    SandboxSetup {
        /// What was being set up.
        stage: &'static str,
        /// The system error.
        source: io::Error,
    },
    /// A sandbox path is unusable (does not exist, is not absolute, …).
    #[error("sandbox path {}: {reason}", path.display())]
    SandboxPath {
        /// The path from the sandbox configuration.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The operating system refused an operation of the executor itself (pipes, threads, fork).
    #[error("{what}: {source}")]
    System {
        /// What the executor was doing.
        what: &'static str,
        /// The system error.
        source: io::Error,
    },
    /// The executor lost contact with the process it started (a bug or a killed helper).
    #[error("lost track of the step: {0}")]
    Lost(String),
    /// The job's virtual machine failed (QEMU, its disks, its channel, or the job timeout).
    #[error("microVM: {0}")]
    Vm(#[from] crate::vm::VmError),
    /// This executor is not available on this host.
    #[error("executor `{name}` is not available: {reason}")]
    Unavailable {
        /// The executor's name (`namespace`, `microvm`, …).
        name: &'static str,
        /// Why not.
        reason: String,
    },
}

impl ExecError {
    pub(crate) fn system(what: &'static str, source: impl Into<io::Error>) -> Self {
        ExecError::System {
            what,
            source: source.into(),
        }
    }
}
