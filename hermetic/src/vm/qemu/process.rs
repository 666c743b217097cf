//! The QEMU process of one VM: started, watched, killed at a deadline or on request, reaped.
//!
//! QEMU is started from a thread of its own that lives exactly as long as QEMU: the thread asks
//! the kernel to SIGKILL QEMU when it (the forking thread) ends, so if the runner dies, however
//! it dies, its VMs die with it. The thread waits on a pidfd with the job's deadline as poll
//! timeout, kills QEMU when the deadline passes, reaps it, and publishes how it ended on a
//! `watch` channel that sync and async code can read. Every signal goes through the pidfd, so
//! it can never reach a process that reused QEMU's pid.
//!
//! Must never: leave QEMU running when the [`VmProcess`] is dropped (drop kills and reaps it
//! synchronously), or signal anything but QEMU.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Instant;

use nix::errno::Errno;
use tokio::sync::watch;

use super::VmError;
use crate::sys::{kill_with_parent, pidfd_open, pidfd_send_signal, poll_readable};
use crate::ExitStatus;

/// How QEMU ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmExit {
    /// Its exit status.
    pub status: ExitStatus,
    /// True when it was killed because the deadline (the job timeout) passed.
    pub by_deadline: bool,
}

impl std::fmt::Display for VmExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            ExitStatus::Code(c) => write!(f, "with status {c}")?,
            ExitStatus::Signal(s) => write!(f, "on signal {s}")?,
        }
        if self.by_deadline {
            write!(f, " (killed at the job timeout)")?;
        }
        Ok(())
    }
}

/// A running (or ended) QEMU process.
#[derive(Debug)]
pub(crate) struct VmProcess {
    pid: u32,
    pidfd: Arc<OwnedFd>,
    exit: watch::Receiver<Option<VmExit>>,
    thread: Option<JoinHandle<()>>,
}

impl VmProcess {
    /// Starts `command` from a dedicated thread; QEMU is killed at `deadline` if still running.
    pub(crate) fn spawn(command: Command, deadline: Option<Instant>) -> Result<Self, VmError> {
        let program = std::path::PathBuf::from(command.get_program());
        let (started_tx, started_rx) = mpsc::channel();
        let (exit_tx, exit_rx) = watch::channel(None);
        let thread = std::thread::Builder::new()
            .name("hrun-qemu".to_owned())
            .spawn(move || watch_qemu(command, deadline, started_tx, exit_tx))
            .map_err(|e| VmError::system("cannot start the VM's thread", e))?;
        match started_rx.recv() {
            Ok(Ok((pid, pidfd))) => Ok(VmProcess {
                pid,
                pidfd,
                exit: exit_rx,
                thread: Some(thread),
            }),
            Ok(Err(source)) => {
                let _ = thread.join();
                Err(VmError::Spawn { program, source })
            }
            Err(_) => {
                let _ = thread.join();
                Err(VmError::system(
                    "the VM's thread ended before starting QEMU",
                    std::io::Error::other("thread ended"),
                ))
            }
        }
    }

    /// QEMU's pid (for reports and tests; never signal it by pid).
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// SIGKILLs QEMU now (nothing happens once it has ended).
    pub(crate) fn kill(&self) {
        let _ = pidfd_send_signal(self.pidfd.as_fd(), libc::SIGKILL);
    }

    /// How QEMU ended, once it has.
    pub(crate) fn exit(&self) -> Option<VmExit> {
        *self.exit.borrow()
    }

    /// A receiver of how QEMU ended (`None` until it has).
    pub(crate) fn exit_watch(&self) -> watch::Receiver<Option<VmExit>> {
        self.exit.clone()
    }

    /// Waits until QEMU has ended. `None` only if the watching thread vanished.
    pub(crate) async fn wait(&self) -> Option<VmExit> {
        let mut rx = self.exit.clone();
        let got = rx.wait_for(Option::is_some).await.ok().and_then(|v| *v);
        got
    }

    /// Blocks until QEMU has ended (after [`kill`](Self::kill) this is prompt).
    pub(crate) fn wait_blocking(&mut self) -> Option<VmExit> {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.exit()
    }
}

impl Drop for VmProcess {
    fn drop(&mut self) {
        self.kill();
        self.wait_blocking();
    }
}

type Started = Result<(u32, Arc<OwnedFd>), std::io::Error>;

/// The body of the VM's thread: start QEMU, wait for it (killing it at the deadline), reap it.
fn watch_qemu(
    mut command: Command,
    deadline: Option<Instant>,
    started: mpsc::Sender<Started>,
    exit: watch::Sender<Option<VmExit>>,
) {
    let parent = nix::unistd::getpid().as_raw();
    // SAFETY: the closure runs in the forked child before exec and only makes the fork-safe
    // system calls of `kill_with_parent` (prctl, getppid); it allocates nothing.
    unsafe {
        command.pre_exec(move || kill_with_parent(parent).map_err(std::io::Error::from));
    }
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            let _ = started.send(Err(e));
            return;
        }
    };
    let pid = child.id();
    let pidfd = match libc::pid_t::try_from(pid)
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidData))
        .and_then(pidfd_open)
    {
        Ok(fd) => Arc::new(fd),
        Err(e) => {
            // Not yet reaped, so the pid still names our child.
            let _ = child.kill();
            let _ = child.wait();
            let _ = started.send(Err(e));
            return;
        }
    };
    let _ = started.send(Ok((pid, Arc::clone(&pidfd))));
    let mut deadline = deadline;
    let mut by_deadline = false;
    loop {
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match poll_readable(pidfd.as_fd(), timeout) {
            Ok(true) => break,
            Ok(false) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    by_deadline = pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL).is_ok();
                    deadline = None;
                }
            }
            Err(Errno::EINTR) => {}
            Err(_) => break,
        }
    }
    let status = match child.wait() {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(c), _) => ExitStatus::Code(c),
            (None, Some(sig)) => ExitStatus::Signal(sig),
            (None, None) => ExitStatus::Code(-1),
        },
        Err(_) => ExitStatus::Code(-1),
    };
    exit.send_replace(Some(VmExit {
        status,
        by_deadline,
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn kills_at_the_deadline_and_says_so() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let started = Instant::now();
        let mut p = VmProcess::spawn(cmd, Some(Instant::now() + Duration::from_millis(200)))
            .expect("spawn sleep");
        let exit = p.wait_blocking().expect("exit");
        assert_eq!(exit.status, ExitStatus::Signal(libc::SIGKILL));
        assert!(exit.by_deadline);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn drop_kills_and_reaps_synchronously() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let p = VmProcess::spawn(cmd, None).expect("spawn sleep");
        let pid = p.pid();
        assert!(p.exit().is_none());
        drop(p);
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} is gone after drop"
        );
    }

    #[tokio::test]
    async fn reports_a_normal_exit_to_async_waiters() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "exit 7"]);
        let p = VmProcess::spawn(cmd, None).expect("spawn sh");
        let exit = p.wait().await.expect("exit");
        assert_eq!(exit.status, ExitStatus::Code(7));
        assert!(!exit.by_deadline);
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let r = VmProcess::spawn(Command::new("/nonexistent/qemu"), None);
        assert!(matches!(r, Err(VmError::Spawn { .. })));
    }
}
