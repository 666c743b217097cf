//! What the agent asks of the machine it runs on, behind one trait.
//!
//! In the VM, [`VmMachine`](super::VmMachine) mounts disks, builds the overlay root, sets the
//! clock, hostname and network, and chroots steps into `/sysroot`. On the host, tests use a
//! machine that maps guest paths under a temporary directory and runs steps unchrooted, so the
//! whole request-serving logic (steps, output, cancel, timeouts, sync) runs in ordinary tests.
//!
//! Must never: let a guest path that is not absolute and plain (no `..`) reach
//! [`Machine::resolve`]; the agent checks that before asking.

use std::path::{Path, PathBuf};

use crate::vm::protocol::{Failure, Setup};

/// The machine-specific half of the agent.
pub trait Machine {
    /// `uname -r` of the running kernel.
    fn kernel_release(&self) -> String;

    /// Milliseconds since the kernel started.
    fn uptime_ms(&self) -> u64;

    /// What went wrong during boot without stopping it (sent in Hello).
    fn boot_notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// Sets the machine up for a job: clock, hostname, file systems, network.
    fn setup(&mut self, setup: &Setup) -> Result<(), Failure>;

    /// Where the agent finds `guest_path` (an absolute, plain path as steps see it).
    fn resolve(&self, guest_path: &Path) -> PathBuf;

    /// The directory steps are chrooted into; `None`: steps see the agent's own root (tests),
    /// and their working directory is resolved with [`Machine::resolve`].
    fn step_root(&self) -> Option<&Path>;

    /// Makes a pushed read-only directory (as resolved) read-only for steps.
    fn seal_read_only(&mut self, _resolved: &Path) -> Result<(), Failure> {
        Ok(())
    }

    /// Reaps processes that ended without a waiting parent (the agent is their parent as PID 1).
    fn reap_orphans(&self) {}

    /// Ends the machine after `Bye` was sent. Returns only where there is nothing to end.
    fn power_off(&mut self) {}
}
