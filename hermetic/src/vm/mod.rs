//! Every job in a virtual machine of its own: `--sandbox microvm`.
//!
//! A job's steps run in a fresh QEMU `microvm` guest with its own kernel, booted from a
//! [`VmImage`] when the job starts and destroyed when it ends. The host side:
//!
//! - [`VmImage`] (`image`): the kernel, initramfs and root file system to boot.
//! - [`VmConfig`] (`config`): vCPUs, memory, the disk-size cap, the job timeout, QEMU's path.
//! - [`qemu`]: launching QEMU, its run directory and scratch disk, QMP, the KVM/TCG probe and
//!   the removal of leftovers.
//! - [`MicroVmExecutor`] (`executor`): the [`Executor`](crate::Executor) that boots the VM and
//!   drives the guest agent over the virtio-serial channel (`session`).
//! - [`protocol`]: the versioned, length-prefixed wire protocol between host and guest agent.
//! - [`sync`]: directory manifests and deltas, so the guest sees the host's directories at the
//!   same paths and the host gets back what steps changed.
//! - [`AgentClient`]: the host's end of the conversation with the agent (tokio); the agent
//!   itself (the guest's PID 1) lives in [`crate::guest`].
//!
//! ```no_run
//! use hermetic::vm::{MicroVmExecutor, MicroVmSetup, VmConfig, VmImage};
//! use hermetic::SandboxConfig;
//! # fn demo() -> Result<(), hermetic::ExecError> {
//! let image = VmImage {
//!     kernel: "/cache/images/abc/vmlinuz".into(),
//!     initrd: "/cache/images/abc/initrd.img".into(),
//!     rootfs: "/cache/images/abc/rootfs.ext4".into(),
//!     digest: "abc".into(),
//!     kernel_release: "6.1.0-56-cloud-amd64".into(),
//! };
//! let setup = MicroVmSetup::new(image, VmConfig::from_env().map_err(hermetic::ExecError::InvalidConfig)?);
//! let executor = MicroVmExecutor::new(setup, SandboxConfig::new(["/work/repo"]))?;
//! # Ok(()) }
//! ```
//!
//! Must never: leave a QEMU process or run directory behind a job (finished or dropped), or
//! trust anything the guest sends beyond what the protocol defines.

mod client;
mod config;
mod executor;
mod image;
pub mod protocol;
pub mod qemu;
mod session;
pub mod sync;

pub use client::{AgentClient, AgentError};
pub use config::{default_cache_dir, VmConfig, DEFAULT_QEMU};
pub use executor::{MicroVmExecutor, MicroVmSetup, VmNetwork};
pub use image::VmImage;
pub use qemu::{Accel, VmError, VmNic};
pub use session::GUEST_STEP_ID;

/// Removes what killed runners left under `<cache_dir>/vm/run/` (their QEMU processes and run
/// directories). Returns the names removed.
pub fn cleanup_leftovers(cache_dir: &std::path::Path) -> Result<Vec<String>, VmError> {
    qemu::cleanup_leftovers(&cache_dir.join("vm").join("run"))
}
