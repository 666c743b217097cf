//! Why a call to the guest agent failed, and how that reads as the engine's [`ExecError`].
//!
//! Must never: carry step output (which may hold secrets) in a message.

use std::path::PathBuf;
use std::time::Duration;

use crate::vm::protocol::{FailureKind, ProtocolError};
use crate::vm::sync::SyncError;
use crate::ExecError;

/// Why a call to the agent failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A frame or message broke the protocol, or the stream failed.
    #[error("guest agent protocol: {0}")]
    Protocol(#[from] ProtocolError),
    /// The agent closed the channel (the VM ended).
    #[error("the guest agent closed the channel")]
    Closed,
    /// The agent answered out of turn.
    #[error("the guest agent sent {got} where {expected} was expected")]
    Unexpected {
        /// What the client waited for.
        expected: &'static str,
        /// What came.
        got: String,
    },
    /// The agent refused or failed a request.
    #[error("the guest agent failed ({kind:?}): {message}")]
    Refused {
        /// What kind of failure.
        kind: FailureKind,
        /// The agent's message.
        message: String,
    },
    /// The step's program was not found in the guest.
    #[error("program `{}` not found in the guest", program.to_string_lossy())]
    ProgramNotFound {
        /// The program as given.
        program: std::ffi::OsString,
    },
    /// The step's working directory could not be entered in the guest.
    #[error("cannot enter working directory {} in the guest: {message}", path.display())]
    WorkingDir {
        /// The directory as given.
        path: PathBuf,
        /// The agent's message.
        message: String,
    },
    /// The step's program could not be executed in the guest.
    #[error("cannot execute `{}` in the guest: {message}", program.to_string_lossy())]
    Exec {
        /// The program as given.
        program: std::ffi::OsString,
        /// The agent's message.
        message: String,
    },
    /// The step cannot be sent (a NUL byte, an `=` in a variable name).
    #[error("invalid step: {0}")]
    InvalidStep(String),
    /// Syncing a directory failed on the host's side.
    #[error("sync of {}: {source}", root.display())]
    Sync {
        /// The synced directory.
        root: PathBuf,
        /// What failed.
        source: SyncError,
    },
    /// The guest did not report the step's end in time.
    #[error("the guest did not report the end of the step within {0:?} of its deadline")]
    Unresponsive(Duration),
    /// An earlier call was abandoned halfway; the channel state is unknown.
    #[error("the channel to the guest agent is unusable after an interrupted call")]
    Desynchronized,
    /// A blocking helper task of the client failed.
    #[error("a helper task of the agent client failed: {0}")]
    Task(String),
}

impl From<AgentError> for ExecError {
    fn from(e: AgentError) -> Self {
        match e {
            AgentError::ProgramNotFound { program } => ExecError::ProgramNotFound { program },
            AgentError::WorkingDir { path, message } => ExecError::WorkingDir {
                path,
                source: std::io::Error::other(message),
            },
            AgentError::Exec { program, message } => ExecError::Exec {
                program,
                source: std::io::Error::other(message),
            },
            AgentError::InvalidStep(reason)
            | AgentError::Refused {
                kind: FailureKind::InvalidRequest,
                message: reason,
            } => ExecError::InvalidStep(reason),
            AgentError::Refused {
                kind: FailureKind::Setup | FailureKind::Version | FailureKind::Sync,
                message,
            } => ExecError::SandboxSetup {
                stage: "the guest agent",
                source: std::io::Error::other(message),
            },
            e @ AgentError::Sync { .. } => ExecError::SandboxSetup {
                stage: "directory sync with the guest",
                source: std::io::Error::other(e.to_string()),
            },
            other => ExecError::Lost(other.to_string()),
        }
    }
}
