//! QEMU's `microvm` machine as the VMM of a job: launch, channel, control, kill, clean up.
//!
//! - [`args`]: the command line, a pure function of a [`LaunchSpec`].
//! - [`rundir`]: the VM's directory under `$HRUN_CACHE/vm/run/`, the scratch disk, leftovers.
//! - [`process`]: the QEMU process, watched from a thread of its own, killed at the deadline.
//! - [`qmp`]: the QMP control client (`query-status`, `quit`).
//! - [`accel`]: KVM or TCG, decided by booting a guest under KVM once per host and image.
//!
//! [`QemuVm`] ties them together: [`QemuVm::launch`] starts QEMU (optionally inside the job's
//! network namespace, through a hook that adjusts the [`Command`]); the guest agent's
//! virtio-serial port is reached with [`QemuVm::agent_ready`]; dropping the `QemuVm` kills
//! QEMU and removes its run directory synchronously.
//!
//! Must never: run QEMU through a shell, or leave QEMU or its directory behind once the
//! `QemuVm` is gone.

pub mod accel;
pub mod args;
mod error;
mod process;
pub mod qmp;
pub mod rundir;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use accel::{
    choose_accel, measure_tsc_khz, measure_tsc_khz_for, probe_boot, Accel, AccelDecision,
    AccelVerdict, ProbeKey, VerdictSource,
};
pub use args::{LaunchSpec, VmNic};
pub use error::VmError;
pub use process::VmExit;
pub use qmp::Qmp;
pub use rundir::{cleanup_leftovers, make_scratch_disk, RunDir};

use process::VmProcess;

/// How often a socket QEMU has not created or accepted yet is retried.
const RETRY: Duration = Duration::from_millis(5);
/// How many lines of QEMU's log (and console) an error quotes.
const LOG_LINES: usize = 6;

impl LaunchSpec {
    /// A spec booting `kernel` + `initrd` under `accel` with 1 vCPU and 512 MiB, no disks and no
    /// network, whose sockets and pid file live in `run`.
    pub fn new(
        run: &RunDir,
        accel: Accel,
        kernel: impl Into<PathBuf>,
        initrd: impl Into<PathBuf>,
    ) -> Result<LaunchSpec, VmError> {
        Ok(LaunchSpec {
            name: run.name().to_owned(),
            accel,
            vcpus: 1,
            memory_mib: 512,
            kernel: kernel.into(),
            initrd: initrd.into(),
            root_disk: None,
            scratch_disk: None,
            agent_socket: run.socket("agent.sock")?,
            qmp_socket: Some(run.socket("qmp.sock")?),
            pidfile: Some(run.file("qemu.pid")),
            console_log: None,
            nic: None,
            tsc_khz: None,
            extra_cmdline: Vec::new(),
        })
    }
}

/// The agent's channel, connected, with the guest's first bytes waiting in it.
#[derive(Debug)]
pub struct AgentReady {
    /// The connected virtio-serial socket.
    pub stream: tokio::net::UnixStream,
    /// From launch to the guest's first bytes: the boot time.
    pub first_bytes: Duration,
}

/// One running microVM. Dropping it kills QEMU and removes its run directory.
#[derive(Debug)]
pub struct QemuVm {
    // Declared first so it is dropped (QEMU killed and reaped) before the directory goes.
    process: VmProcess,
    run: RunDir,
    spec: LaunchSpec,
    launched_at: Instant,
}

impl QemuVm {
    /// Starts `qemu` for `spec` in `run`. `prepare` adjusts the command before it starts (the
    /// job network's hook, which makes QEMU start inside the job's network namespace). QEMU is
    /// killed at `deadline` (the job timeout) if it still runs then.
    pub fn launch(
        qemu: &Path,
        run: RunDir,
        spec: LaunchSpec,
        deadline: Option<Instant>,
        prepare: Option<&dyn Fn(&mut Command)>,
    ) -> Result<QemuVm, VmError> {
        let log_path = run.file("qemu.log");
        let log = File::create(&log_path)
            .map_err(|e| VmError::path("cannot create the QEMU log", &log_path, e))?;
        let mut command = Command::new(qemu);
        command
            .args(args::qemu_args(&spec))
            .env_clear()
            .current_dir(run.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        if let Some(prepare) = prepare {
            prepare(&mut command);
        }
        let launched_at = Instant::now();
        let process = VmProcess::spawn(command, deadline)?;
        Ok(QemuVm {
            process,
            run,
            spec,
            launched_at,
        })
    }

    /// The VM's name (`hrun-<pid>-<n>`).
    pub fn name(&self) -> &str {
        self.run.name()
    }

    /// The VM's run directory.
    pub fn run_dir(&self) -> &Path {
        self.run.path()
    }

    /// What it was launched with.
    pub fn spec(&self) -> &LaunchSpec {
        &self.spec
    }

    /// When QEMU was started.
    pub fn launched_at(&self) -> Instant {
        self.launched_at
    }

    /// QEMU's pid (to look at, never to signal: use [`kill`](Self::kill)).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Kills QEMU now.
    pub fn kill(&self) {
        self.process.kill();
    }

    /// How QEMU ended, once it has.
    pub fn exit(&self) -> Option<VmExit> {
        self.process.exit()
    }

    /// Waits until QEMU has ended.
    pub async fn wait_exit(&self) -> Option<VmExit> {
        self.process.wait().await
    }

    /// A future (independent of `self`, so it can run as a task of its own) that connects to
    /// the agent's virtio-serial socket, retrying while QEMU has not created it, and resolves
    /// once the guest's first bytes are readable (they are left unread for the session), QEMU
    /// ends, or `deadline` after launch passes.
    pub fn agent_ready(
        &self,
        deadline: Duration,
    ) -> impl std::future::Future<Output = Result<AgentReady, VmError>> + Send + 'static {
        let socket = self.spec.agent_socket.clone();
        let launched_at = self.launched_at;
        let mut exit = self.process.exit_watch();
        let logs = self.log_files();
        async move {
            let until = launched_at + deadline;
            let ended = |exit: VmExit| VmError::Exited {
                status: exit.to_string(),
                log: log_tail_of(&logs),
            };
            let silent = || VmError::NoAnswer {
                deadline,
                log: log_tail_of(&logs),
            };
            let stream = loop {
                if let Some(e) = *exit.borrow() {
                    return Err(ended(e));
                }
                match tokio::net::UnixStream::connect(&socket).await {
                    Ok(s) => break s,
                    Err(_) if Instant::now() < until => tokio::time::sleep(RETRY).await,
                    Err(_) => return Err(silent()),
                }
            };
            let until = tokio::time::Instant::from_std(until);
            let first_bytes = async {
                loop {
                    stream.readable().await?;
                    match crate::sys::peek_nonblocking(std::os::fd::AsFd::as_fd(&stream)) {
                        Ok(0) => return Ok(false),
                        Ok(_) => return Ok(true),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                            return Ok(false)
                        }
                        Err(e) => return Err(e),
                    }
                }
            };
            let got = tokio::select! {
                r = first_bytes => r,
                _ = exit.wait_for(Option::is_some) => Ok(false),
                () = tokio::time::sleep_until(until) => return Err(silent()),
            };
            match got {
                Ok(true) => Ok(AgentReady {
                    stream,
                    first_bytes: launched_at.elapsed(),
                }),
                Ok(false) => {
                    // The socket closed: QEMU is ending. Wait (briefly) to say how.
                    let waited = tokio::time::timeout(
                        Duration::from_secs(2),
                        exit.wait_for(Option::is_some),
                    )
                    .await;
                    let e = waited.ok().and_then(|r| r.ok().and_then(|v| *v));
                    Err(e.map(ended).unwrap_or_else(silent))
                }
                Err(e) => Err(VmError::system("cannot wait on the agent's socket", e)),
            }
        }
    }

    /// Connects to QMP and negotiates capabilities, retrying for up to `wait` while QEMU has
    /// not created the socket yet.
    pub async fn qmp(&self, wait: Duration) -> Result<Qmp, VmError> {
        let socket =
            self.spec.qmp_socket.as_deref().ok_or_else(|| {
                VmError::Qmp("the VM was launched without a QMP socket".to_owned())
            })?;
        let until = Instant::now() + wait;
        loop {
            if let Some(exit) = self.exit() {
                return Err(self.exited_error(exit));
            }
            // QEMU creates the socket and then listens: retry both "absent" and "refused".
            match tokio::net::UnixStream::connect(socket).await {
                Ok(stream) => return Qmp::handshake(stream).await,
                Err(_) if Instant::now() < until => tokio::time::sleep(RETRY).await,
                Err(e) => {
                    return Err(VmError::Qmp(format!(
                        "cannot connect to {}: {e}",
                        socket.display()
                    )))
                }
            }
        }
    }

    /// Blocks until the guest sends its first bytes on the agent's port, or QEMU ends, or
    /// `deadline` after launch passes. Returns the time from launch and the bytes read.
    pub fn wait_first_bytes(&self, deadline: Duration) -> Result<(Duration, Vec<u8>), VmError> {
        let until = self.launched_at + deadline;
        let mut stream = loop {
            if let Some(exit) = self.exit() {
                return Err(self.exited_error(exit));
            }
            match std::os::unix::net::UnixStream::connect(&self.spec.agent_socket) {
                Ok(s) => break s,
                Err(_) if Instant::now() < until => std::thread::sleep(RETRY),
                Err(_) => return Err(self.no_answer(deadline)),
            }
        };
        let mut buf = vec![0u8; 4096];
        loop {
            if let Some(exit) = self.exit() {
                return Err(self.exited_error(exit));
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.no_answer(deadline));
            }
            // Short reads so an exiting QEMU is noticed promptly.
            stream
                .set_read_timeout(Some(left.min(Duration::from_millis(50))))
                .map_err(|e| VmError::system("cannot set a read timeout", e))?;
            match stream.read(&mut buf) {
                Ok(0) => {
                    // QEMU closed the socket: it is ending; report how.
                    let _ = self.process_wait_briefly();
                    return Err(match self.exit() {
                        Some(exit) => self.exited_error(exit),
                        None => self.no_answer(deadline),
                    });
                }
                Ok(n) => {
                    buf.truncate(n);
                    return Ok((self.launched_at.elapsed(), buf));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    let _ = self.process_wait_briefly();
                    return Err(match self.exit() {
                        Some(exit) => self.exited_error(exit),
                        None => self.no_answer(deadline),
                    });
                }
                Err(e) => return Err(VmError::system("cannot read the agent's socket", e)),
            }
        }
    }

    fn process_wait_briefly(&self) -> Option<VmExit> {
        let until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < until {
            if let Some(exit) = self.exit() {
                return Some(exit);
            }
            std::thread::sleep(RETRY);
        }
        None
    }

    /// Ends the VM: asks QEMU to quit over QMP, kills it if it has not ended within `grace`,
    /// and waits until it has.
    pub async fn shutdown(&self, grace: Duration) -> Option<VmExit> {
        if self.exit().is_none() {
            let quit = async {
                if let Ok(qmp) = self.qmp(grace).await {
                    let _ = qmp.quit().await;
                }
                self.wait_exit().await
            };
            if let Ok(exit) = tokio::time::timeout(grace, quit).await {
                return exit;
            }
            self.kill();
        }
        self.wait_exit().await
    }

    /// The last lines of QEMU's log and of the guest console (when kept), for error messages:
    /// empty, or `": "` followed by the lines joined with ` | `.
    pub fn log_tail(&self) -> String {
        log_tail_of(&self.log_files())
    }

    fn log_files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.run.file("qemu.log")];
        files.extend(self.spec.console_log.clone());
        files
    }

    /// Removes the run directory (call once QEMU has ended; dropping does it too).
    pub fn remove_run_dir(&self) {
        self.run.remove();
    }

    fn exited_error(&self, exit: VmExit) -> VmError {
        VmError::Exited {
            status: exit.to_string(),
            log: self.log_tail(),
        }
    }

    fn no_answer(&self, deadline: Duration) -> VmError {
        VmError::NoAnswer {
            deadline,
            log: self.log_tail(),
        }
    }
}

/// The last lines of each file, as [`QemuVm::log_tail`] formats them.
fn log_tail_of(files: &[PathBuf]) -> String {
    let lines: Vec<String> = files
        .iter()
        .flat_map(|f| tail_lines(f, LOG_LINES))
        .collect();
    if lines.is_empty() {
        String::new()
    } else {
        format!(": {}", lines.join(" | "))
    }
}

/// The last `n` non-empty lines of a file (at most its last 64 KiB are read).
fn tail_lines(path: &Path, n: usize) -> Vec<String> {
    use std::io::{Seek, SeekFrom};
    let Ok(mut file) = File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 << 10)));
    let mut bytes = Vec::new();
    let _ = file.take(64 << 10).read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_non_empty_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        std::fs::write(&path, "a\n\nb\nc\n  \nd\n").expect("write");
        assert_eq!(tail_lines(&path, 2), ["c", "d"]);
        assert_eq!(tail_lines(&path, 10), ["a", "b", "c", "d"]);
        assert!(tail_lines(&dir.path().join("absent"), 3).is_empty());
    }
}
