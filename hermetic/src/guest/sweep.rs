//! Finding and ending every process of the step user.
//!
//! Steps run as a uid nothing else in the guest uses, with `no_new_privs` (no set-user-ID
//! escape), so "every process of the step" is "every process of that uid", daemonised ones
//! included. Signals go out two ways: `kill(-1, sig)` from a helper that has become the step
//! user (the kernel walks the task list once, atomically, which a fork loop cannot outrun), and
//! a `/proc` scan that checks nothing of the uid is left alive (zombies aside), signalling
//! stragglers through pidfds so a recycled pid is never hit.
//!
//! Must never: signal a process of another uid, or the agent itself.

use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use crate::sys::{pidfd_open, pidfd_send_signal};

/// How long [`StepUser::kill_all`] keeps trying before it reports survivors.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// The uid and gid steps run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StepUser {
    pub uid: u32,
    pub gid: u32,
}

impl StepUser {
    /// Sends `signal` to every process of the user, once.
    pub(crate) fn signal_all(&self, signal: libc::c_int) -> io::Result<()> {
        let (uid, gid) = (self.uid, self.gid);
        // SAFETY: fork(2) in a possibly multi-threaded process; the child below only makes raw
        // system calls (no allocation, no locks) and ends with _exit, so it is sound.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            // SAFETY: raw system calls without pointers (setgroups gets a NULL list of length
            // 0). After them this process is the step user and can signal only its processes;
            // kill(-1) on Linux never signals the caller itself.
            unsafe {
                if libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) != 0
                    || libc::syscall(libc::SYS_setresgid, gid, gid, gid) != 0
                    || libc::syscall(libc::SYS_setresuid, uid, uid, uid) != 0
                {
                    libc::_exit(1);
                }
                libc::kill(-1, signal);
                libc::_exit(0);
            }
        }
        crate::sys::wait4(pid).map(drop)
    }

    /// Kills every process of the user and waits until none is alive (calling `reap` between
    /// rounds so dead children of the agent do not linger). Returns false if some survived
    /// [`KILL_WAIT`].
    pub(crate) fn kill_all(&self, reap: &dyn Fn()) -> bool {
        let started = Instant::now();
        let mut pause = Duration::from_micros(200);
        loop {
            // Most steps leave nothing behind: look before forking a helper (a fork costs
            // milliseconds under software emulation).
            if live_processes(self.uid).is_empty() {
                return true;
            }
            let _ = self.signal_all(libc::SIGKILL);
            reap();
            let live = live_processes(self.uid);
            if live.is_empty() {
                return true;
            }
            for pid in live {
                kill_checked(pid, self.uid);
            }
            if started.elapsed() > KILL_WAIT {
                return false;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}

/// Pids of processes of `uid` (real, effective or saved) that are not zombies.
pub(crate) fn live_processes(uid: u32) -> Vec<libc::pid_t> {
    let Ok(listing) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    listing
        .filter_map(|item| item.ok())
        .filter_map(|item| item.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .filter(|pid| process_of(*pid, uid))
        .collect()
}

fn process_of(pid: libc::pid_t, uid: u32) -> bool {
    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let mut zombie = false;
    let mut owned = false;
    for line in status.lines() {
        if let Some(state) = line.strip_prefix("State:") {
            zombie = state.trim_start().starts_with('Z');
        } else if let Some(ids) = line.strip_prefix("Uid:") {
            owned = ids
                .split_whitespace()
                .take(3)
                .any(|id| id.parse::<u32>().ok() == Some(uid));
        }
    }
    owned && !zombie
}

/// SIGKILLs `pid` if, seen through a pidfd (which pins the process), it still belongs to `uid`.
fn kill_checked(pid: libc::pid_t, uid: u32) {
    let Ok(pidfd) = pidfd_open(pid) else {
        return;
    };
    if process_of(pid, uid) {
        let _ = pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
    }
}
