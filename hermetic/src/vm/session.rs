//! The executor's boundary to the guest agent: one session over the virtio-serial channel.
//!
//! A session wraps [`AgentClient`] and keeps the guest's copy of the job's directories in step
//! with the host's. `open` reads the agent's `Hello`; `setup` sends `Setup` (clock, hostname,
//! the step user, the network) and pushes every writable and read-only directory whole;
//! `run_step` pushes what the engine changed in the writable directories since the last sync
//! (scripts, `GITHUB_ENV` and friends), runs the step (output streamed; timeout and cancellation
//! enforced in the guest), then pulls back what the step changed. So the host's directories are
//! current after every step and the engine reads them as with any other executor.
//!
//! Must never: trust a frame from the guest beyond the protocol's limits (the client enforces
//! them), or pull into a directory that is not one of the job's writable ones.

use std::path::PathBuf;
use std::time::Instant;

use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::protocol::{Access, NetworkSetup, Setup};
use super::sync::Manifest;
use super::{AgentClient, VmConfig};
use crate::{ExecError, OutputChunk, SandboxConfig, StepOutcome, StepSpec};

/// The uid and gid steps run as in the guest: the image's `runner` user.
pub const GUEST_STEP_ID: u32 = 1001;

/// The host's clock moved by `offset_secs` for the guest (a rebuild sets it hundreds of days
/// ahead); `None` when the host's clock is unknown or the sum leaves the representable range.
fn shifted_clock(host_ns: Option<u64>, offset_secs: i64) -> Option<u64> {
    let host = i128::from(host_ns?);
    let shifted = host + i128::from(offset_secs) * 1_000_000_000;
    u64::try_from(shifted).ok()
}

/// What the agent says first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GuestHello {
    /// The agent's protocol version.
    pub protocol_version: Option<u32>,
    /// The guest kernel's release.
    pub kernel_release: Option<String>,
    /// Milliseconds since the guest kernel started, when the agent said hello.
    pub boot_ms: Option<u64>,
    /// What went wrong during boot without stopping it.
    pub notes: Vec<String>,
}

/// A session with the guest agent.
#[derive(Debug)]
pub(crate) struct AgentSession {
    client: AgentClient<UnixStream>,
    /// The job's writable directories and the manifest of each as last synced.
    writable: Vec<(PathBuf, Manifest)>,
    /// When the first step was handed to the agent (its directories synced).
    first_step_at: Option<Instant>,
}

impl AgentSession {
    /// Waits for the agent's hello on `stream`.
    pub(crate) async fn open(stream: UnixStream) -> Result<(Self, GuestHello), ExecError> {
        let mut client = AgentClient::new(stream);
        let hello = client.hello().await.map_err(ExecError::from)?;
        let greeting = GuestHello {
            protocol_version: Some(hello.version),
            kernel_release: Some(hello.kernel_release),
            boot_ms: Some(hello.boot_ms),
            notes: hello.notes,
        };
        Ok((
            AgentSession {
                client,
                writable: Vec::new(),
                first_step_at: None,
            },
            greeting,
        ))
    }

    /// Sets the guest up for the job's steps and copies the job's directories in.
    pub(crate) async fn setup(
        &mut self,
        config: &SandboxConfig,
        vm: &VmConfig,
        network: Option<&NetworkSetup>,
    ) -> Result<(), ExecError> {
        let disk_cap_bytes = vm.disk_bytes;
        let mut setup = Setup::new(config.hostname.clone(), vm.step_id, vm.step_id);
        setup.clock_unix_ns = shifted_clock(setup.clock_unix_ns, vm.clock_offset_secs);
        setup.network = network.cloned();
        self.client.setup(&setup).await.map_err(ExecError::from)?;
        self.client.set_pull_limit(disk_cap_bytes);
        for dir in &config.read_only {
            if dir.is_dir() {
                self.client
                    .push(dir, Access::ReadOnly, &Manifest::empty())
                    .await
                    .map_err(ExecError::from)?;
            }
        }
        for dir in &config.writable {
            let (manifest, _) = self
                .client
                .push(dir, Access::Writable, &Manifest::empty())
                .await
                .map_err(ExecError::from)?;
            self.writable.push((dir.clone(), manifest));
        }
        Ok(())
    }

    /// Runs one step in the guest, with the writable directories synced before and after.
    pub(crate) async fn run_step(
        &mut self,
        step: StepSpec,
        output: mpsc::Sender<OutputChunk>,
        cancel: CancellationToken,
    ) -> Result<StepOutcome, ExecError> {
        for (dir, manifest) in &mut self.writable {
            let (now, _) = self
                .client
                .push(dir, Access::Writable, manifest)
                .await
                .map_err(ExecError::from)?;
            *manifest = now;
        }
        self.first_step_at.get_or_insert_with(Instant::now);
        let outcome = self
            .client
            .run_step(&step, output, cancel)
            .await
            .map_err(ExecError::from)?;
        for (dir, manifest) in &mut self.writable {
            let (now, _) = self.client.pull(dir).await.map_err(ExecError::from)?;
            *manifest = now;
        }
        Ok(outcome)
    }

    /// When the first step was handed to the agent, once it has been.
    pub(crate) fn first_step_at(&self) -> Option<Instant> {
        self.first_step_at
    }

    /// Ends the session (the agent powers the guest off).
    pub(crate) async fn close(mut self) -> Result<(), ExecError> {
        self.client.shutdown().await.map_err(ExecError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guest_clock_moves_by_the_offset_both_ways() {
        let now = Some(1_700_000_000_000_000_000);
        assert_eq!(shifted_clock(now, 0), now);
        assert_eq!(
            shifted_clock(now, 400 * 86_400),
            Some(1_700_000_000_000_000_000 + 400 * 86_400 * 1_000_000_000)
        );
        assert_eq!(
            shifted_clock(now, -1),
            Some(1_700_000_000_000_000_000 - 1_000_000_000)
        );
        assert_eq!(shifted_clock(Some(0), -1), None);
        assert_eq!(shifted_clock(None, 5), None);
    }
}
