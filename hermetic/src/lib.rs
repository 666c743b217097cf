//! Where a job's steps run, and the walls around them.
//!
//! The engine starts every process of a job through one trait, [`Executor`]: it hands over a
//! [`StepSpec`] (program, arguments, the exact environment, working directory, timeout, cancel
//! grace, resource limits), receives the output as [`OutputChunk`]s while the step runs, and gets a
//! [`StepOutcome`] (exit status, timed out or cancelled, resource usage, which limits held). The
//! backend is picked at run time ([`select_executor`] for `--sandbox none|namespace|microvm|auto`):
//!
//! - [`NamespaceExecutor`] (`namespace`): a rootless sandbox per job, which each step enters.
//!   The job's user, mount, network, UTS and IPC namespaces are made once (by
//!   [`select_executor`], or on the first step) and closed by [`Executor::finish`]; each step
//!   adds its own PID, mount and cgroup namespaces, so its whole process tree ends with it. The host's system directories read-only; the workspace
//!   and a private `/tmp` writable; the step's own `/proc` and a minimal read-only `/dev`; a fixed
//!   hostname; only loopback unless the network is allowed; every capability dropped; memory and
//!   process-count limits in a per-step cgroup (v1 or v2) where the host allows.
//! - [`HostExecutor`] (`none`): plain host processes in a session and process group of their own,
//!   tracked by a cgroup where possible. Only when the user asks for it.
//! - [`vm::MicroVmExecutor`] (`microvm`): a QEMU microVM per job with its own kernel; steps run
//!   in it through a guest agent over virtio-serial (see [`vm`]).
//!   [`guest`] is the agent (PID 1 of each VM, the static `hrun-guest-agent` binary).
//!
//! ```no_run
//! use hermetic::{Executor, NamespaceExecutor, SandboxConfig, StepSpec};
//! # async fn demo() -> Result<(), hermetic::ExecError> {
//! let executor = NamespaceExecutor::new(SandboxConfig::new(["/work/repo"]))?;
//! let (tx, mut rx) = tokio::sync::mpsc::channel(64);
//! let step = StepSpec::new("bash", "/work/repo")
//!     .arg("-c")
//!     .arg("echo hello")
//!     .env("PATH", "/usr/bin:/bin");
//! let run = executor.run(step, tx, tokio_util::sync::CancellationToken::new());
//! let printer = async { while let Some(chunk) = rx.recv().await { print!("{}", String::from_utf8_lossy(&chunk.bytes)) } };
//! let (outcome, ()) = tokio::join!(run, printer);
//! assert!(outcome?.status.success());
//! # Ok(()) }
//! ```
//!
//! [`mask`] is the secret masker: it turns every secret, and every encoding of it, into `***` in
//! logs, outputs, summaries and annotations, including secrets split across writes.
//!
//! What the engine must know:
//! - Read the output channel while `run` is pending: a full channel blocks the step (back-pressure).
//! - In the namespace sandbox only listed paths are writable: the workspace *and* the directory
//!   holding step scripts and the `GITHUB_ENV`/`GITHUB_OUTPUT`/… files. They appear at their
//!   canonical paths. When the runner is root, steps run as
//!   [`NamespaceExecutor::host_identity`] (default `nobody`), which must be able to write them.
//! - Unlike GitHub's runner, a process a step leaves in the background ends with the step (every
//!   executor kills the whole tree when the main process exits), and `/tmp` and `/dev/shm` are
//!   fresh per step unless [`SandboxConfig::tmp_dir`] names a per-job directory. System V IPC
//!   objects and the loopback network last for the job. There is no `/dev/pts` in the sandbox.
//!
//! [`scan`] is the secret scanner: a rule pack in gitleaks' TOML format searched in files, trees and
//! bytes (`hrun scan`, and the engine's checks of outputs and summaries), reporting where a secret
//! is and a fingerprint, never the value.
//!
//! [`secret_channel`] is the host's end of GitHub's runner's secret channel (length-prefixed JSON
//! over vsock or a Unix socket): secrets a runner inside a VM learns, handed to a sink.
//!
//! [`egress`] enforces a job's network allowlist on the host: a network namespace per job,
//! nftables rules, hrun's own DNS resolver, and a report of every attempt ([`egress::JobNetwork`]);
//! a microVM with an allowlist gets a NIC attached to it.
//!
//! [`sweep`] is the run-time secret sweep: the environment and command line of every process of a
//! step searched for the job's secrets and the rule pack's tokens while it runs and after its main
//! process ends ([`StepSpec::sweep`] asks, [`StepOutcome::sweep`] reports), by the namespace
//! sandbox from the runner and by the microVM's guest agent in the guest.
//!
//! Not here yet: egress for the namespace sandbox (its network is still all or nothing), and
//! attaching the secret channel to microVMs (a vsock device per VM, which needs
//! `/dev/vhost-vsock` on the host).

mod cgroup;
pub mod egress;
mod error;
mod executor;
pub mod guest;
mod host;
pub mod mask;
mod namespace;
pub mod scan;
pub mod secret_channel;
mod select;
mod step;
mod supervise;
pub mod sweep;
mod sys;
pub mod vm;

pub use error::ExecError;
pub use executor::{Executor, FinishFuture, StepFuture};
pub use host::HostExecutor;
pub use namespace::{HostIdentity, NamespaceExecutor, Network, SandboxConfig, DEFAULT_HOSTNAME};
pub use select::{resolve_sandbox, select_executor, Resolved, SandboxChoice, Selected};
pub use step::{
    Containment, Ending, ExitStatus, LimitKind, LimitReport, LimitStatus, OutputChunk,
    OutputStream, ResourceLimits, ResourceUsage, SandboxReport, StepOutcome, StepSpec,
    DEFAULT_CANCEL_GRACE,
};
