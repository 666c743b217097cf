//! The executor's boundary to the guest agent: one session over the virtio-serial channel.
//!
//! STUB, replaced when the `agent` branch merges. The real session wraps `AgentClient`
//! (`vm/protocol.rs`) and the directory sync (`vm/sync/`): `open` reads the agent's `Hello`,
//! `setup` sends `Setup` (clock, hostname, uid/gid, mounts, network) built from the
//! [`SandboxConfig`], waits for `Ready` and pushes every writable and read-only directory whole;
//! `run_step` pushes the writable directories' deltas, runs the step (output streamed, timeout and
//! cancellation handled in the guest), and applies the deltas the guest returns. Until then
//! `open` only waits for the agent's first bytes (so boot timing and the executor's life cycle
//! work and can be tested), and `setup` reports that the protocol is missing.
//!
//! Must never: trust a frame from the guest beyond the protocol's limits.

use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{ExecError, OutputChunk, SandboxConfig, StepOutcome, StepSpec};

/// What the agent says first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GuestHello {
    /// The agent's protocol version.
    pub protocol_version: Option<u32>,
    /// The guest kernel's release.
    pub kernel_release: Option<String>,
    /// Milliseconds since the guest kernel started, when the agent said hello.
    pub boot_ms: Option<u64>,
}

/// A session with the guest agent.
#[derive(Debug)]
pub(crate) struct AgentSession {
    stream: UnixStream,
}

const NOT_MERGED: &str =
    "the guest agent protocol is not part of this build yet (issue #4, branch `agent`)";

impl AgentSession {
    /// Waits for the agent's hello on `stream`.
    pub(crate) async fn open(mut stream: UnixStream) -> Result<(Self, GuestHello), ExecError> {
        let mut first = [0u8; 1];
        match stream.read(&mut first).await {
            Ok(0) => Err(ExecError::Lost(
                "the guest closed the agent channel before saying hello".to_owned(),
            )),
            Ok(_) => Ok((AgentSession { stream }, GuestHello::default())),
            Err(e) => Err(ExecError::system("cannot read the agent channel", e)),
        }
    }

    /// Sets the guest up for the job's steps.
    pub(crate) async fn setup(&mut self, _config: &SandboxConfig) -> Result<(), ExecError> {
        let _ = &self.stream;
        Err(ExecError::Unavailable {
            name: "microvm",
            reason: NOT_MERGED.to_owned(),
        })
    }

    /// Runs one step in the guest.
    pub(crate) async fn run_step(
        &mut self,
        _config: &SandboxConfig,
        _step: StepSpec,
        _output: mpsc::Sender<OutputChunk>,
        _cancel: CancellationToken,
    ) -> Result<StepOutcome, ExecError> {
        Err(ExecError::Unavailable {
            name: "microvm",
            reason: NOT_MERGED.to_owned(),
        })
    }

    /// Ends the session (the agent may power the guest off).
    pub(crate) async fn close(self) -> Result<(), ExecError> {
        Ok(())
    }
}
