//! Running one step in the guest: start it, stream its output, enforce timeout and cancel,
//! end every process of the step user, report how it went.
//!
//! The step's program starts through `std::process::Command` with a `pre_exec` hook that, in
//! the forked child: resets `oom_score_adj` to 0 (the agent's -1000 must not be inherited),
//! chroots into the step root and enters the working directory, starts a new session, applies
//! `RLIMIT_NPROC`, sets `no_new_privs` (no set-user-ID escape from the step user), and drops to
//! the step's uid and gid with no supplementary groups. The environment is exactly the
//! request's; stdin is `/dev/null`; the program is looked up in the step's own `PATH`, inside
//! the chroot. One `poll` loop then watches the channel (for Cancel), both output pipes and a
//! pidfd of the main process, with the timeout, the cancel grace and the output drain as its
//! deadlines.
//!
//! With sweeps asked for, every process of the step user is swept (see [`crate::sweep`]) each
//! interval while the main process runs, and once more when it has ended on its own, before
//! the rest are killed.
//!
//! Must never: run a step as root, leave a process of the step user alive when it reports the
//! end, or stop reading the channel while the step runs (a Cancel must always get through).

use std::ffi::CString;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::channel::Channel;
use super::sweep::StepUser;
use super::sys::poll_readable;
use crate::sweep::{ProcDir, ProcStatus, StepSweeper, SweepConfig, SweepPhase};
use crate::sys::pidfd_open;
use crate::sys::Reaped;
use crate::vm::protocol::{
    Failure, FailureKind, FrameKind, Message, ProtocolError, Request, RunStep, StepEnded,
    WireEnding, WireLimit, WireLimitKind, WireStatus, WireUsage,
};
use crate::ExitStatus;

/// After the main process ended and the user's processes were killed, how long output may
/// still arrive.
const DRAIN_WAIT: Duration = Duration::from_secs(2);
/// Bytes read from an output pipe at once.
const READ_LEN: usize = 64 << 10;
/// Without a pidfd, how often the main process is checked.
const FALLBACK_TICK: Duration = Duration::from_millis(5);

/// How a step request ended.
pub(crate) enum StepResult {
    /// The step ran; here is how it ended.
    Ended(StepEnded),
    /// It could not start.
    NotStarted(Failure),
    /// The host closed the channel while it ran (every process was killed).
    HostGone,
}

/// Where and as whom a step runs.
pub(crate) struct StepPlace<'a> {
    /// `Some`: chroot there and enter the request's working directory as is.
    pub chroot: Option<&'a Path>,
    /// The working directory as the agent sees it (to check it exists, and to enter it when
    /// there is no chroot).
    pub resolved_cwd: PathBuf,
    /// The step user.
    pub user: StepUser,
}

/// Runs `request` to its end.
pub(crate) fn run_step<T: Read + io::Write + AsFd>(
    channel: &mut Channel<T>,
    place: &StepPlace<'_>,
    request: RunStep,
    sweep: Option<SweepConfig>,
    reap: &dyn Fn(),
) -> Result<StepResult, ProtocolError> {
    match std::fs::metadata(&place.resolved_cwd) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Ok(StepResult::NotStarted(Failure::new(
                FailureKind::WorkingDir,
                format!(
                    "cannot enter working directory {}: not a directory",
                    request.working_dir.as_path().display()
                ),
            )))
        }
        Err(e) => {
            return Ok(StepResult::NotStarted(Failure::new(
                FailureKind::WorkingDir,
                format!(
                    "cannot enter working directory {}: {e}",
                    request.working_dir.as_path().display()
                ),
            )))
        }
    }
    let mut limits = Vec::new();
    if let Some(n) = request.max_processes {
        limits.push(WireLimit {
            kind: WireLimitKind::Processes,
            applied: true,
            detail: format!("RLIMIT_NPROC {n} for the step user in the guest"),
        });
    }
    if request.memory_bytes.is_some() {
        limits.push(WireLimit {
            kind: WireLimitKind::Memory,
            applied: false,
            detail: "not enforced per step inside the guest; the VM's memory size bounds it"
                .to_owned(),
        });
    }
    let mut command = match build_command(place, &request) {
        Ok(command) => command,
        Err(failure) => return Ok(StepResult::NotStarted(failure)),
    };
    let started = Instant::now();
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            let program = request.program.as_os_str().to_string_lossy().into_owned();
            let failure = if e.kind() == io::ErrorKind::NotFound {
                Failure::new(
                    FailureKind::ProgramNotFound,
                    format!("program `{program}` not found"),
                )
            } else {
                Failure::new(
                    FailureKind::Exec,
                    format!("cannot execute `{program}`: {e}"),
                )
            };
            return Ok(StepResult::NotStarted(failure));
        }
    };
    let pid = libc::pid_t::try_from(child.id()).unwrap_or(-1);
    let stdout: Option<OwnedFd> = child.stdout.take().map(OwnedFd::from);
    let stderr: Option<OwnedFd> = child.stderr.take().map(OwnedFd::from);
    drop(child);
    let sweep = sweep.map(|config| GuestSweep::new(&config, &request, place.user.uid, started));
    let supervision = Supervision {
        pid,
        pidfd: pidfd_open(pid).ok(),
        stdout,
        stderr,
        user: place.user,
        timeout: request.timeout_ms.map(Duration::from_millis),
        grace: Duration::from_millis(request.cancel_grace_ms),
        started,
        sweep,
    };
    supervision.run(channel, reap, limits)
}

fn build_command(place: &StepPlace<'_>, request: &RunStep) -> Result<Command, Failure> {
    let invalid = |what: &str| {
        Failure::new(
            FailureKind::InvalidRequest,
            format!("{what} holds a NUL byte"),
        )
    };
    let chroot = match place.chroot {
        Some(root) => {
            Some(CString::new(root.as_os_str().as_bytes()).map_err(|_| invalid("the step root"))?)
        }
        None => None,
    };
    let cwd_path: &Path = match place.chroot {
        Some(_) => request.working_dir.as_path(),
        None => &place.resolved_cwd,
    };
    let cwd = CString::new(cwd_path.as_os_str().as_bytes())
        .map_err(|_| invalid("the working directory"))?;
    let nproc = request.max_processes;
    let StepUser { uid, gid } = place.user;
    if uid == 0 || gid == 0 {
        return Err(Failure::new(
            FailureKind::InvalidRequest,
            "steps never run as uid or gid 0",
        ));
    }
    let mut command = Command::new(request.program.as_os_str());
    command
        .args(request.args.iter().map(|a| a.as_os_str()))
        .env_clear()
        .envs(
            request
                .env
                .iter()
                .map(|(k, v)| (k.as_os_str(), v.as_os_str())),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the hook runs in the forked child before exec and makes only raw system calls on
    // data prepared before the fork (no allocation: `last_os_error` builds an error from the
    // errno without allocating). Each call's purpose is in the module documentation; all of
    // them only lower this child's privileges or change its own view (root, cwd, session).
    unsafe {
        command.pre_exec(move || {
            let oom = libc::open(
                c"/proc/self/oom_score_adj".as_ptr(),
                libc::O_WRONLY | libc::O_CLOEXEC,
            );
            if oom >= 0 {
                libc::write(oom, b"0".as_ptr().cast(), 1);
                libc::close(oom);
            }
            if let Some(root) = &chroot {
                if libc::chroot(root.as_ptr()) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            if libc::chdir(cwd.as_ptr()) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            if let Some(n) = nproc {
                let limit = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                if libc::setrlimit(libc::RLIMIT_NPROC, &limit) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0
                || libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) != 0
                || libc::syscall(libc::SYS_setresgid, gid, gid, gid) != 0
                || libc::syscall(libc::SYS_setresuid, uid, uid, uid) != 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(command)
}

/// A running step and everything needed to see it to its end.
struct Supervision {
    pid: libc::pid_t,
    pidfd: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    user: StepUser,
    timeout: Option<Duration>,
    grace: Duration,
    started: Instant,
    sweep: Option<GuestSweep>,
}

/// The sweeps of the step's processes: every process of the step user, in the guest's `/proc`.
struct GuestSweep {
    sweeper: StepSweeper,
    dir: Option<ProcDir>,
    uid: u32,
    interval: Duration,
    next: Instant,
}

impl GuestSweep {
    fn new(config: &SweepConfig, request: &RunStep, uid: u32, started: Instant) -> GuestSweep {
        let env = request
            .env
            .iter()
            .map(|(k, v)| (k.as_os_str().as_bytes(), v.as_os_str().as_bytes()));
        let mut sweeper = StepSweeper::new(config, env);
        let dir = match ProcDir::open(Path::new("/proc")) {
            Ok(dir) => Some(dir),
            Err(e) => {
                sweeper.note(format!("the guest's /proc could not be opened: {e}"));
                None
            }
        };
        GuestSweep {
            sweeper,
            dir,
            uid,
            interval: config.interval,
            next: started + config.interval,
        }
    }

    fn sweep(&mut self, phase: SweepPhase) {
        let Some(dir) = &self.dir else {
            return;
        };
        let uid = self.uid;
        let select = |_: i32, status: &ProcStatus| status.uids.contains(&uid);
        match phase {
            SweepPhase::Running => self.sweeper.sweep(dir, &select, phase),
            SweepPhase::AfterExit => self.sweeper.sweep_after_exit(dir, &select),
        }
        self.next = Instant::now() + self.interval;
    }
}

impl Supervision {
    /// Signals the step's main process itself: it may not have become the step user yet (a
    /// cancel or timeout right after the start), so signalling every process of that user would
    /// miss it. The pidfd never names a recycled pid; without one, the unreaped pid cannot have
    /// been recycled either.
    fn signal_main(&self, signal: libc::c_int) {
        match &self.pidfd {
            Some(fd) => {
                let _ = crate::sys::pidfd_send_signal(fd.as_fd(), signal);
            }
            None => {
                // SAFETY: kill(2) on our own unreaped child.
                unsafe { libc::kill(self.pid, signal) };
            }
        }
    }

    /// Handles the host's buffered messages while the step runs: a Cancel sends SIGINT (once)
    /// and arms the SIGKILL after the grace period. Anything else breaks the
    /// one-request-at-a-time rule and is dropped (the host never sends it).
    fn take_messages<T: Read + io::Write + AsFd>(
        &self,
        channel: &mut Channel<T>,
        reaped: bool,
        ending: &mut WireEnding,
        kill_at: &mut Option<Instant>,
    ) -> Result<(), ProtocolError> {
        while let Some(message) = next_message(channel)? {
            if matches!(message, Message::Control(Request::Cancel))
                && !reaped
                && kill_at.is_none()
                && *ending == WireEnding::Exited
            {
                *ending = WireEnding::Cancelled;
                self.signal_main(libc::SIGINT);
                let _ = self.user.signal_all(libc::SIGINT);
                *kill_at = Some(Instant::now() + self.grace);
            }
        }
        Ok(())
    }

    fn run<T: Read + io::Write + AsFd>(
        mut self,
        channel: &mut Channel<T>,
        reap: &dyn Fn(),
        limits: Vec<WireLimit>,
    ) -> Result<StepResult, ProtocolError> {
        for fd in [&self.stdout, &self.stderr].into_iter().flatten() {
            set_nonblocking(fd);
        }
        let deadline = self.timeout.map(|t| self.started + t);
        let mut ending = WireEnding::Exited;
        let mut kill_at: Option<Instant> = None;
        let mut reaped: Option<(Reaped, Duration)> = None;
        let mut drain_until: Option<Instant> = None;
        let mut host_gone = false;
        let mut buf = vec![0u8; READ_LEN];
        let output_complete = loop {
            // A Cancel sent right behind the RunStep may already sit in the channel's buffer,
            // where `poll` never reports it: handle what is buffered before waiting.
            self.take_messages(channel, reaped.is_some(), &mut ending, &mut kill_at)?;
            if reaped.is_some() && self.stdout.is_none() && self.stderr.is_none() {
                break true;
            }
            if let Some(sweep) = self
                .sweep
                .as_mut()
                .filter(|s| reaped.is_none() && Instant::now() >= s.next)
            {
                sweep.sweep(SweepPhase::Running);
            }
            let now = Instant::now();
            if drain_until.is_some_and(|d| now >= d) {
                break false;
            }
            if reaped.is_none() {
                if ending == WireEnding::Exited && deadline.is_some_and(|d| now >= d) {
                    ending = WireEnding::TimedOut;
                    self.signal_main(libc::SIGKILL);
                    self.user.kill_all(reap);
                }
                if kill_at.is_some_and(|k| now >= k) {
                    kill_at = None;
                    self.signal_main(libc::SIGKILL);
                    self.user.kill_all(reap);
                }
            }
            let mut wake: Vec<Instant> = Vec::new();
            if reaped.is_none() {
                wake.extend(deadline.filter(|_| ending == WireEnding::Exited));
                wake.extend(kill_at);
                wake.extend(self.sweep.as_ref().map(|s| s.next));
                if self.pidfd.is_none() {
                    wake.push(now + FALLBACK_TICK);
                }
            }
            wake.extend(drain_until);
            let timeout = wake
                .into_iter()
                .min()
                .map(|w| w.saturating_duration_since(now));
            let ready = poll_readable(
                &[
                    (!host_gone).then(|| channel.fd()),
                    self.stdout.as_ref().map(|fd| fd.as_fd()),
                    self.stderr.as_ref().map(|fd| fd.as_fd()),
                    self.pidfd
                        .as_ref()
                        .filter(|_| reaped.is_none())
                        .map(|fd| fd.as_fd()),
                ],
                timeout,
            )
            .map_err(ProtocolError::Io)?;
            let flag = |i: usize| ready.get(i).copied().unwrap_or(false);
            if flag(0) {
                if channel.fill()? {
                    self.take_messages(channel, reaped.is_some(), &mut ending, &mut kill_at)?;
                } else {
                    host_gone = true;
                    self.user.kill_all(reap);
                }
            }
            if flag(1) {
                self.stdout = pump(
                    self.stdout.take(),
                    &mut buf,
                    channel,
                    FrameKind::Stdout,
                    host_gone,
                )?;
            }
            if flag(2) {
                self.stderr = pump(
                    self.stderr.take(),
                    &mut buf,
                    channel,
                    FrameKind::Stderr,
                    host_gone,
                )?;
            }
            if reaped.is_none() && (flag(3) || (self.pidfd.is_none() && has_ended(self.pid))) {
                let result = match crate::sys::wait4(self.pid) {
                    Ok(result) => result,
                    // PID 1 reaps orphans while it kills a step's processes (timeout, cancel
                    // grace over), and that can take the main process too: it was then ended
                    // by our SIGKILL, and its usage is lost.
                    Err(e)
                        if e.raw_os_error() == Some(libc::ECHILD)
                            && ending != WireEnding::Exited =>
                    {
                        crate::sys::Reaped {
                            status: crate::ExitStatus::Signal(libc::SIGKILL),
                            user_cpu: Duration::ZERO,
                            system_cpu: Duration::ZERO,
                            max_rss_bytes: 0,
                        }
                    }
                    Err(e) => return Err(ProtocolError::Io(e)),
                };
                reaped = Some((result, self.started.elapsed()));
                // What the step left running is still there: the last sweep, then the kill.
                if let Some(sweep) = self.sweep.as_mut().filter(|_| ending == WireEnding::Exited) {
                    sweep.sweep(SweepPhase::AfterExit);
                }
                self.user.kill_all(reap);
                drain_until = Some(Instant::now() + DRAIN_WAIT);
            }
        };
        reap();
        if host_gone {
            return Ok(StepResult::HostGone);
        }
        let Some((result, wall)) = reaped else {
            return Ok(StepResult::HostGone);
        };
        Ok(StepResult::Ended(StepEnded {
            status: match result.status {
                ExitStatus::Code(c) => WireStatus::Code(c),
                ExitStatus::Signal(s) => WireStatus::Signal(s),
            },
            ending,
            usage: WireUsage {
                wall_us: micros(wall),
                user_cpu_us: micros(result.user_cpu),
                system_cpu_us: micros(result.system_cpu),
                max_rss_bytes: Some(result.max_rss_bytes),
            },
            limits,
            output_complete,
            sweep: self.sweep.map(|s| s.sweeper.finish()),
        }))
    }
}

/// The next buffered message; a malformed control message is skipped (it is well-delimited).
fn next_message<T: Read + io::Write + AsFd>(
    channel: &mut Channel<T>,
) -> Result<Option<crate::vm::protocol::HostMessage>, ProtocolError> {
    loop {
        match channel.buffered() {
            Err(ProtocolError::Malformed { .. }) => continue,
            other => return other,
        }
    }
}

/// Reads what is available from one pipe and forwards it; `None` once the pipe is at its end.
fn pump<T: Read + io::Write + AsFd>(
    fd: Option<OwnedFd>,
    buf: &mut [u8],
    channel: &mut Channel<T>,
    kind: FrameKind,
    discard: bool,
) -> Result<Option<OwnedFd>, ProtocolError> {
    let Some(fd) = fd else {
        return Ok(None);
    };
    let mut file = std::fs::File::from(fd);
    let result = match file.read(buf) {
        Ok(0) => return Ok(None),
        Ok(n) => {
            if !discard {
                channel.send_data(kind, buf.get(..n).unwrap_or_default())?;
            }
            Ok(())
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) =>
        {
            Ok(())
        }
        Err(_) => return Ok(None),
    };
    result.map(|()| Some(OwnedFd::from(file)))
}

fn set_nonblocking(fd: &OwnedFd) {
    // SAFETY: F_GETFL/F_SETFL on our own open descriptor, no pointers.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

/// Whether child `pid` has ended, without reaping it (used only without pidfds).
fn has_ended(pid: libc::pid_t) -> bool {
    use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
    matches!(
        waitid(
            Id::Pid(nix::unistd::Pid::from_raw(pid)),
            WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT,
        ),
        Ok(status) if status != WaitStatus::StillAlive
    )
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
