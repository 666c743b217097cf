//! Where a job's steps run, and the walls around them.
//!
//! This crate will hold the executors behind which every step of an untrusted job runs: the microVM
//! backend (QEMU `microvm` today, Firecracker where it is installed) with its guest agent and the
//! host-side channel to it, egress enforcement with nftables outside the guest, run-time secret
//! sweeps, resource limits, and a rootless namespace sandbox as the fallback where no VMM or guest
//! image is available.
//!
//! - [`mask`]: the secret masker that turns every secret, and every encoding of it, into `***` in
//!   logs, outputs, summaries and annotations, including secrets split across writes.
//!
//! The executors are not implemented yet: the microVM executor is issue #4 and the secret sweeps
//! issue #6.

pub mod mask;
