//! The mount operations a sandbox helper replays after `fork`, and the system calls behind them.
//!
//! The [`MountPlan`](super::plan::MountPlan) is turned into [`ChildOp`]s in the runner (every path a
//! ready `CString`), so replaying one here makes only system calls and allocates nothing.
//!
//! Must never: allocate, follow a path the plan did not name, or make a mount less restricted
//! than it was (a read-only remount keeps the flags a user namespace may not clear).

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode;
use nix::sys::statvfs::{statvfs, FsFlags};

use super::protocol::Stage;
use crate::sys;

/// A mount operation with every path ready for the system call.
#[derive(Debug)]
pub(crate) enum ChildOp {
    Tmpfs {
        target: CString,
        options: CString,
    },
    Mkdir {
        path: CString,
        mode: u32,
    },
    Touch {
        path: CString,
    },
    Symlink {
        target: CString,
        link: CString,
    },
    Bind {
        source: usize,
        target: CString,
        recursive: bool,
        read_only: bool,
    },
    Proc {
        target: CString,
    },
    Sysfs {
        target: CString,
    },
    RemountReadOnly {
        target: CString,
    },
}

/// Formats `/proc/self/fd/<fd>` into `buf` without allocating.
fn fd_path(fd: RawFd, buf: &mut [u8; 32]) -> &CStr {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    let mut digits = [0u8; 12];
    let mut n = u32::try_from(fd).unwrap_or(0);
    let mut len = 0;
    loop {
        if let Some(d) = digits.get_mut(len) {
            *d = b'0' + (n % 10) as u8;
        }
        len += 1;
        n /= 10;
        if n == 0 || len >= digits.len() {
            break;
        }
    }
    *buf = [0u8; 32];
    for (dst, src) in buf.iter_mut().zip(PREFIX) {
        *dst = *src;
    }
    for i in 0..len {
        if let (Some(dst), Some(src)) = (buf.get_mut(PREFIX.len() + i), digits.get(len - 1 - i)) {
            *dst = *src;
        }
    }
    CStr::from_bytes_until_nul(buf).unwrap_or(c"/dev/null")
}

/// Re-applies a mount's flags with `MS_RDONLY` added. A user namespace may not clear flags it
/// inherited locked (nosuid, nodev, noexec, atime), so they are read back and kept.
fn remount_read_only(target: &CStr) -> Result<(), Errno> {
    let current = statvfs(target)?.flags();
    let mut flags = MsFlags::MS_REMOUNT
        | MsFlags::MS_BIND
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV;
    for (st, ms) in [
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if current.contains(st) {
            flags |= ms;
        }
    }
    mount(None::<&CStr>, target, None::<&CStr>, flags, None::<&CStr>)
}

fn ignore_exists(result: Result<(), Errno>) -> Result<(), Errno> {
    match result {
        Err(Errno::EEXIST) => Ok(()),
        other => other,
    }
}

/// Runs one operation; `Err` says which stage failed and why.
pub(crate) fn run_op(op: &ChildOp, source_fds: &[RawFd]) -> Result<(), (Stage, Errno)> {
    let fs_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    match op {
        ChildOp::Tmpfs { target, options } => {
            if let Err(e) = mount(
                Some(c"tmpfs"),
                target.as_c_str(),
                Some(c"tmpfs"),
                fs_flags,
                Some(options.as_c_str()),
            ) {
                return Err((Stage::Tmpfs, e));
            }
        }
        ChildOp::Mkdir { path, mode } => {
            let made = nix::unistd::mkdir(path.as_c_str(), Mode::from_bits_truncate(*mode));
            if let Err(e) = ignore_exists(made) {
                return Err((Stage::Mkdir, e));
            }
        }
        ChildOp::Touch { path } => {
            let flags = nix::fcntl::OFlag::O_CREAT
                | nix::fcntl::OFlag::O_WRONLY
                | nix::fcntl::OFlag::O_CLOEXEC;
            let made = nix::fcntl::open(path.as_c_str(), flags, Mode::from_bits_truncate(0o644));
            match made {
                Ok(fd) => drop(fd),
                // An existing mount point (a file in a read-only bind) is fine.
                Err(Errno::EEXIST) | Err(Errno::EROFS) => {}
                Err(e) => return Err((Stage::Touch, e)),
            }
        }
        ChildOp::Symlink { target, link } => {
            // SAFETY: both are NUL-terminated paths prepared before fork. `link` is on the new
            // root's tmpfs, which nothing else can see.
            let rc = unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) };
            if let Err(e) = ignore_exists(Errno::result(rc).map(drop)) {
                return Err((Stage::Symlink, e));
            }
        }
        ChildOp::Bind {
            source,
            target,
            recursive,
            read_only,
        } => {
            let mut buf = [0u8; 32];
            let fd = source_fds.get(*source).copied().unwrap_or(-1);
            let from = fd_path(fd, &mut buf);
            let mut flags = MsFlags::MS_BIND;
            if *recursive {
                flags |= MsFlags::MS_REC;
            }
            if let Err(e) = mount(
                Some(from),
                target.as_c_str(),
                None::<&CStr>,
                flags,
                None::<&CStr>,
            ) {
                return Err((Stage::Bind, e));
            }
            if *read_only {
                match sys::mount_setattr_read_only_recursive(target) {
                    Ok(()) => {}
                    // Before Linux 5.12: the top mount only (submounts keep their flags).
                    Err(Errno::ENOSYS) => {
                        if let Err(e) = remount_read_only(target) {
                            return Err((Stage::ReadOnly, e));
                        }
                    }
                    Err(e) => return Err((Stage::ReadOnly, e)),
                }
            }
        }
        ChildOp::Proc { target } => {
            if let Err(e) = mount(
                Some(c"proc"),
                target.as_c_str(),
                Some(c"proc"),
                fs_flags | MsFlags::MS_NOEXEC,
                None::<&CStr>,
            ) {
                return Err((Stage::Proc, e));
            }
        }
        ChildOp::Sysfs { target } => {
            // Optional: some hosts refuse sysfs in a user namespace; /sys then stays empty.
            let _ = mount(
                Some(c"sysfs"),
                target.as_c_str(),
                Some(c"sysfs"),
                fs_flags | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY,
                None::<&CStr>,
            );
        }
        ChildOp::RemountReadOnly { target } => {
            if let Err(e) = remount_read_only(target) {
                return Err((Stage::ReadOnly, e));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_descriptor_paths_without_allocating() {
        let mut buf = [0u8; 32];
        assert_eq!(fd_path(7, &mut buf).to_bytes(), b"/proc/self/fd/7");
        assert_eq!(fd_path(1234, &mut buf).to_bytes(), b"/proc/self/fd/1234");
        assert_eq!(fd_path(0, &mut buf).to_bytes(), b"/proc/self/fd/0");
    }
}
