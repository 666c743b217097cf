//! `hrun-guest-agent`: PID 1 of a job's microVM (the `/init` of the guest's initramfs).
//!
//! It mounts what it needs, loads the virtio modules, finds its virtio-serial port and serves
//! the host (see `hermetic::guest`). It refuses to run as anything but PID 1: its set-up mounts
//! file systems and would wreck a host it was started on by mistake.

fn main() {
    if std::process::id() != 1 {
        eprintln!(
            "hrun-guest-agent: this is the init of hrun's microVM guests and only runs as PID 1 \
             inside one (build the image with `hrun image build`)"
        );
        std::process::exit(2);
    }
    hermetic::guest::run_pid1();
    // Powering off failed: ending PID 1 makes the kernel panic, and `panic=-1` with QEMU's
    // `-no-reboot` ends the VM.
    std::process::exit(1);
}
