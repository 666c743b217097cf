//! The guest agent: PID 1 of each job's microVM, serving the host over virtio-serial.
//!
//! Plain blocking std code (no async runtime), built as the static `hrun-guest-agent` binary
//! that the image puts at `/init` of the initramfs. The work is split so that almost all of it
//! runs in ordinary tests on the host:
//!
//! - [`GuestAgent`] (`serve`): the request loop over a [`Channel`]: Hello, Setup, steps, pushes
//!   and pulls of directory deltas, Shutdown. Generic over the [`Machine`] and the descriptor.
//! - `step`: one step: chroot, uid/gid, exact environment, streamed output, timeout and
//!   cancel, every process of the step user killed at the end, resource usage.
//! - `sweep`: finding and killing every process of the step user.
//! - [`Machine`]: what differs between the VM and a test; [`VmMachine`] (`boot`) is the VM:
//!   mounts, modules, the port, disks by serial, the overlay root, clock, hostname, network
//!   (`net`).
//!
//! [`run_pid1`] ties them together for the binary.
//!
//! Must never: run its machine set-up outside a VM (the binary checks it is PID 1), panic on
//! anything the host sends, or let a step run as root.

mod boot;
mod channel;
mod machine;
mod net;
mod serve;
mod step;
mod sweep;
mod sys;

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

pub use boot::{VmMachine, MODULE_LIST, SYSROOT};
pub use channel::Channel;
pub use machine::Machine;
pub use serve::{GuestAgent, ServeEnd};

/// Runs the agent as PID 1 of a VM: boot, serve, power off. Returns only if powering off
/// failed (the caller then exits, and the kernel's panic ends the VM).
pub fn run_pid1() {
    let (machine, port) = match VmMachine::boot() {
        Ok(booted) => booted,
        Err(e) => {
            sys::log(&format!("boot failed: {e}"));
            let e = sys::power_off();
            sys::log(&format!("power off refused: {e}"));
            return;
        }
    };
    let mut agent = GuestAgent::new(machine, port);
    match agent.serve() {
        Ok(end) => sys::log(&format!("serving ended: {end:?}")),
        Err(e) => sys::log(&format!("channel broken: {e}")),
    }
    agent.machine_mut().power_off();
}
