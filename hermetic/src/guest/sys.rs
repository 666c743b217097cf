//! System calls the agent needs that neither std nor the enabled `nix` features cover.
//!
//! Each wrapper holds one `unsafe` call with a `// SAFETY:` note and returns the errno on
//! failure. Nothing here is privileged by itself; the callers say why their use is safe.
//!
//! Must never: hide an error, or take a pointer the call could keep past its return.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

/// `finit_module(2)`: loads the kernel module in `file` with no parameters.
pub(crate) fn finit_module(file: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: the parameter string is a valid NUL-terminated empty C string, the descriptor is
    // open for the call, and the kernel only reads both.
    let rc = unsafe { libc::syscall(libc::SYS_finit_module, file.as_raw_fd(), c"".as_ptr(), 0) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Waits until one of `fds` is ready for reading (or hung up) or `timeout` passes. Returns,
/// per descriptor, whether it is readable or at its end. `None` entries are skipped.
pub(crate) fn poll_readable(
    fds: &[Option<BorrowedFd<'_>>],
    timeout: Option<Duration>,
) -> io::Result<Vec<bool>> {
    let mut pollfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.map_or(-1, |fd| fd.as_raw_fd()),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let timeout_ms = match timeout {
        None => -1,
        // Round up, so a deadline is never polled for as zero and spun on.
        Some(t) => i32::try_from(t.as_millis().saturating_add(1)).unwrap_or(i32::MAX),
    };
    let nfds = libc::nfds_t::try_from(pollfds.len()).unwrap_or(0);
    // SAFETY: `pollfds` is a valid, writable array of `nfds` entries for the whole call;
    // negative descriptors are ignored by poll(2).
    let rc = unsafe { libc::poll(pollfds.as_mut_ptr(), nfds, timeout_ms) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(err);
    }
    Ok(pollfds
        .iter()
        .map(|p| p.fd >= 0 && p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0)
        .collect())
}

/// Milliseconds since the kernel started (`CLOCK_BOOTTIME`).
pub(crate) fn uptime_ms() -> u64 {
    // SAFETY: an all-zero timespec is a valid value of this plain C struct.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `ts` is valid and writable for the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if rc != 0 {
        return 0;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1000).saturating_add(nanos / 1_000_000)
}

/// Sets the wall clock (`CLOCK_REALTIME`) to `unix_ns` nanoseconds since the epoch.
pub(crate) fn set_realtime(unix_ns: u64) -> io::Result<()> {
    let ts = libc::timespec {
        tv_sec: libc::time_t::try_from(unix_ns / 1_000_000_000)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
        tv_nsec: libc::c_long::try_from(unix_ns % 1_000_000_000).unwrap_or(0),
    };
    // SAFETY: `ts` is a valid timespec the kernel only reads.
    let rc = unsafe { libc::clock_settime(libc::CLOCK_REALTIME, &ts) };
    if rc != 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The running kernel's release (`uname -r`).
pub(crate) fn kernel_release() -> String {
    // SAFETY: an all-zero utsname is a valid value of this plain C struct.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is valid and writable for the call.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return String::new();
    }
    let bytes: Vec<u8> = uts
        .release
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Whether descriptor `fd` is open.
pub(crate) fn fd_is_open(fd: libc::c_int) -> bool {
    // SAFETY: F_GETFD takes no pointer; on a closed descriptor it fails with EBADF.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Writes one line to the kernel log (`/dev/kmsg`), where the console shows it when enabled.
/// Never writes to standard error: in the VM that may be nothing, or worse, the agent's port.
pub(crate) fn log(message: &str) {
    use std::io::Write;
    if let Ok(mut kmsg) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") {
        let _ = kmsg.write_all(format!("hrun-guest-agent: {message}\n").as_bytes());
    }
}

/// Powers the machine off (or restarts it, which QEMU's `-no-reboot` turns into an exit) after
/// flushing file systems. Returns only if the kernel refused.
pub(crate) fn power_off() -> io::Error {
    // SAFETY: sync(2) takes no arguments.
    unsafe { libc::sync() };
    // SAFETY: reboot(2) with a valid command takes no pointers; as PID 1 in a throw-away VM,
    // ending the machine is exactly the intent.
    unsafe { libc::reboot(libc::RB_POWER_OFF) };
    // SAFETY: as above.
    unsafe { libc::reboot(libc::RB_AUTOBOOT) };
    io::Error::last_os_error()
}
