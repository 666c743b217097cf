//! Thin wrappers over the system calls that `nix` does not cover.
//!
//! Each wrapper holds exactly one `unsafe` call with a `// SAFETY:` comment, takes only
//! pre-built arguments and allocates nothing, so the ones marked "fork-safe" may be called in a
//! forked child of the multi-threaded runner before `exec`.
//!
//! Must never: allocate in a fork-safe function, or hide an error (every failure returns the
//! errno so the caller can report which set-up step failed).

use std::ffi::CStr;
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use nix::errno::Errno;

use crate::ExitStatus;

/// A child the runner waited for: its status and its resource use (including every descendant
/// it waited for in turn).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reaped {
    pub status: ExitStatus,
    pub user_cpu: Duration,
    pub system_cpu: Duration,
    pub max_rss_bytes: u64,
}

/// Decodes a raw `wait` status.
pub(crate) fn decode_wait_status(raw: libc::c_int) -> ExitStatus {
    if libc::WIFSIGNALED(raw) {
        ExitStatus::Signal(libc::WTERMSIG(raw))
    } else {
        ExitStatus::Code(libc::WEXITSTATUS(raw))
    }
}

fn timeval(tv: libc::timeval) -> Duration {
    let secs = u64::try_from(tv.tv_sec).unwrap_or(0);
    let micros = u32::try_from(tv.tv_usec).unwrap_or(0);
    Duration::from_secs(secs) + Duration::from_micros(u64::from(micros))
}

/// Waits for the child `pid` to end, reaps it and returns its status and resource usage.
pub(crate) fn wait4(pid: libc::pid_t) -> io::Result<Reaped> {
    let mut raw: libc::c_int = 0;
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `raw` and `usage` are valid, writable and live for the call; `pid` names one
        // child of this process, so no other child is reaped behind another waiter's back.
        let got = unsafe { libc::wait4(pid, &mut raw, 0, &mut usage) };
        if got == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    Ok(Reaped {
        status: decode_wait_status(raw),
        user_cpu: timeval(usage.ru_utime),
        system_cpu: timeval(usage.ru_stime),
        // ru_maxrss is in KiB on Linux.
        max_rss_bytes: u64::try_from(usage.ru_maxrss)
            .unwrap_or(0)
            .saturating_mul(1024),
    })
}

/// Blocks until the child `pid` has ended, without reaping it: its pid stays reserved (a
/// zombie) so the caller can still signal what is left of its group or namespace safely.
pub(crate) fn wait_until_ended(pid: nix::unistd::Pid) {
    use nix::sys::wait::{waitid, Id, WaitPidFlag};
    while let Err(Errno::EINTR) = waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT)
    {
    }
}

/// The layout of the kernel's `struct mount_attr` (linux/mount.h), version 0.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;

/// Makes the mount at `path` and every mount below it read-only, nosuid and nodev
/// (`mount_setattr(2)` with `AT_RECURSIVE`, Linux 5.12+). Fork-safe.
pub(crate) fn mount_setattr_read_only_recursive(path: &CStr) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: `path` is NUL-terminated and `attr` is a valid version-0 `mount_attr` whose size
    // we pass; the kernel only reads both. It changes flags of mounts in our own (private) mount
    // namespace, which only the sandbox sees.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::AT_RECURSIVE as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(rc).map(drop)
}

/// Header and data of `capset(2)`, version 3 (two 32-bit words per set).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Drops every capability for good: clears the ambient set, empties the bounding set (so no
/// later `execve`, even as uid 0, gains any) and zeroes effective, permitted and inheritable
/// sets, and sets `no_new_privs`. Fork-safe.
pub(crate) fn drop_all_capabilities() -> Result<(), Errno> {
    // Clearing the ambient set needs no privilege; it fails only on kernels without ambient
    // capabilities (before 4.3), where there is nothing to clear.
    let _ = nix::sys::prctl::set_no_new_privs();
    // SAFETY: PR_CAP_AMBIENT with PR_CAP_AMBIENT_CLEAR_ALL takes no pointers.
    let _ = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    for cap in 0..64 {
        // SAFETY: PR_CAPBSET_DROP takes a capability number and no pointers. EINVAL marks the
        // first number past the last capability this kernel knows.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
        if rc != 0 {
            match Errno::last() {
                Errno::EINVAL => break,
                e => return Err(e),
            }
        }
    }
    let header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [CapData {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: `header` and the two-element `data` array match the version-3 ABI of capset(2);
    // the kernel only reads them. Lowering our own capabilities is always allowed.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) };
    Errno::result(rc)?;
    nix::sys::prctl::set_no_new_privs()
}

/// Sets the loopback interface of the current network namespace up. Fork-safe.
pub(crate) fn bring_loopback_up() -> Result<(), Errno> {
    // SAFETY: socket(2) takes no pointers; we own and close the returned descriptor below.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(Errno::last());
    }
    // SAFETY: an all-zero `ifreq` is a valid value of this plain C struct.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name from and writes the flags into `req`, which is a
    // valid, writable `ifreq` for the whole call.
    let mut rc = unsafe { libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req as *mut libc::ifreq) };
    if rc == 0 {
        // SAFETY: reading the `ifru_flags` member the kernel has just filled in.
        let flags = unsafe { req.ifr_ifru.ifru_flags };
        req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
        // SAFETY: as above; SIOCSIFFLAGS only reads `req`. It changes the loopback device of the
        // sandbox's own network namespace, which nothing outside the sandbox uses.
        rc = unsafe { libc::ioctl(sock, libc::SIOCSIFFLAGS, &mut req as *mut libc::ifreq) };
    }
    let result = Errno::result(rc).map(drop);
    // SAFETY: `sock` is our own descriptor, closed exactly once.
    unsafe { libc::close(sock) };
    result
}

/// Moves this process into the namespace `fd` refers to; `nstype` (one `CLONE_NEW*` flag) makes
/// the kernel check the descriptor is a namespace of that kind. Fork-safe.
pub(crate) fn setns(fd: RawFd, nstype: libc::c_int) -> Result<(), Errno> {
    // SAFETY: setns(2) takes a descriptor and a flag, no pointers. The caller is a forked,
    // single-threaded helper, as entering a user namespace requires.
    Errno::result(unsafe { libc::setns(fd, nstype) }).map(drop)
}

/// Closes every descriptor numbered `first` or above. Fork-safe.
pub(crate) fn close_descriptors_from(first: RawFd) {
    let first = libc::c_uint::try_from(first).unwrap_or(0);
    // SAFETY: close_range(2) takes no pointers. The caller has moved every descriptor it still
    // needs below `first`, so nothing in use is closed.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, libc::c_uint::MAX, 0) };
    if rc != 0 {
        // Before Linux 5.9: close one by one up to the descriptor limit.
        let max = nix::unistd::sysconf(nix::unistd::SysconfVar::OPEN_MAX)
            .ok()
            .flatten()
            .unwrap_or(1024);
        for fd in first as libc::c_long..max.min(1 << 20) {
            // SAFETY: closing a descriptor we may not have is harmless (EBADF is ignored); see
            // above for why none in use is closed.
            unsafe { libc::close(fd as RawFd) };
        }
    }
}

/// Marks every descriptor numbered `first` or above close-on-exec, so a program started next
/// inherits none of them (descriptors the runner itself inherited without close-on-exec
/// included). Unlike closing, this keeps the spawner's own exec-error pipe working. Fork-safe.
pub(crate) fn cloexec_descriptors_from(first: RawFd) {
    let first = libc::c_uint::try_from(first).unwrap_or(3);
    // SAFETY: close_range(2) with CLOSE_RANGE_CLOEXEC (Linux 5.11+) only sets a flag on
    // descriptors of this process; no pointers.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc != 0 {
        let max = nix::unistd::sysconf(nix::unistd::SysconfVar::OPEN_MAX)
            .ok()
            .flatten()
            .unwrap_or(1024);
        for fd in libc::c_long::from(first)..max.min(1 << 20) {
            // SAFETY: sets close-on-exec on a descriptor number; EBADF for unused ones is
            // ignored.
            unsafe { libc::fcntl(fd as RawFd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
}

/// A pidfd (`pidfd_open(2)`, Linux 5.3+) for the child `pid`: a handle that always names that
/// process, so signalling through it can never hit a process that reused the pid.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags, no pointers.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY: the kernel has just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Sends `signal` to the process `pidfd` names (`pidfd_send_signal(2)`). `ESRCH` once it has
/// ended.
pub(crate) fn pidfd_send_signal(
    pidfd: std::os::fd::BorrowedFd<'_>,
    signal: libc::c_int,
) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    // SAFETY: a null `siginfo` is allowed (the kernel fills in a default); the descriptor is
    // borrowed, so it stays open for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0 as libc::c_uint,
        )
    };
    Errno::result(rc).map(drop)
}

/// Waits until `fd` is readable (for a pidfd: its process has ended) or `timeout` passes
/// (`None`: no limit). `Ok(true)` when readable.
pub(crate) fn poll_readable(
    fd: std::os::fd::BorrowedFd<'_>,
    timeout: Option<Duration>,
) -> Result<bool, Errno> {
    use std::os::fd::AsRawFd;
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = match timeout {
        None => -1,
        // Rounded up so a short remainder does not turn into a busy loop of zero timeouts.
        Some(t) => libc::c_int::try_from(t.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX),
    };
    // SAFETY: `pfd` is one valid, writable pollfd for the whole call, and we pass a count of 1.
    let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
    Errno::result(rc).map(|n| n > 0)
}

/// Asks the kernel to SIGKILL this (forked) process when the thread that forked it ends, and
/// fails when that thread's process already ended before the request took effect. Fork-safe.
pub(crate) fn kill_with_parent(parent: libc::pid_t) -> Result<(), Errno> {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and no pointers.
    let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    Errno::result(rc)?;
    if nix::unistd::getppid().as_raw() != parent {
        return Err(Errno::ESRCH);
    }
    Ok(())
}

/// Peeks at a socket without consuming or blocking: `Ok(0)` at end of stream, `Ok(n)` when `n`
/// bytes wait, `WouldBlock` when nothing does.
pub(crate) fn peek_nonblocking(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let mut byte = [0u8; 1];
    // SAFETY: `byte` is a valid, writable one-byte buffer for the call; MSG_PEEK leaves the data
    // in the socket and MSG_DONTWAIT keeps the call from blocking.
    let n = unsafe {
        libc::recv(
            fd.as_raw_fd(),
            byte.as_mut_ptr().cast(),
            byte.len(),
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_exit_code_and_signal() {
        assert_eq!(decode_wait_status(3 << 8), ExitStatus::Code(3));
        assert_eq!(decode_wait_status(9), ExitStatus::Signal(9));
    }
}
