//! `--sandbox none`: steps run directly on the host, as the runner's own user.
//!
//! Only for users who ask for it: the step sees the whole host file system and network. Each
//! step gets a session and process group of its own (so Ctrl-C at the runner's terminal does not
//! reach it, and the group can be signalled as one), and, where the runner may create cgroups, a
//! cgroup of its own that lists every process of the step, daemonised ones included, and carries
//! the memory and process-count limits.
//!
//! Must never: inherit the runner's environment, or leave a process of the step running after
//! `run` returns. Without a cgroup a process that left the step's session (`setsid` after a
//! double fork) cannot be found; the outcome then says [`Containment::ProcessGroup`].

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::cgroup::{CgroupLayout, StepCgroup};
use crate::supervise::{supervise, Started, TreeControl};
use crate::sys::{wait4, Reaped};
use crate::{
    Containment, ExecError, Executor, OutputChunk, ResourceUsage, StepFuture, StepOutcome, StepSpec,
};

/// Runs steps as plain host processes (`--sandbox none`).
#[derive(Debug)]
pub struct HostExecutor {
    cgroups: CgroupLayout,
    started: AtomicU64,
}

impl Default for HostExecutor {
    fn default() -> Self {
        Self::new()
    }
}

impl HostExecutor {
    /// An executor that creates per-step cgroups under the runner's own cgroups where it may.
    pub fn new() -> Self {
        HostExecutor {
            cgroups: CgroupLayout::discover(),
            started: AtomicU64::new(0),
        }
    }

    async fn run_step(
        &self,
        step: StepSpec,
        output: mpsc::Sender<OutputChunk>,
        cancel: CancellationToken,
    ) -> Result<StepOutcome, ExecError> {
        if !step.working_dir.is_dir() {
            return Err(ExecError::WorkingDir {
                path: step.working_dir.clone(),
                source: io::Error::from(io::ErrorKind::NotFound),
            });
        }
        let name = unique_cgroup_name(&self.started);
        let cgroup = Arc::new(StepCgroup::create(&self.cgroups, &name, &step.limits, true));
        let (launched_tx, launched_rx) = oneshot::channel();
        let (ended_tx, ended_rx) = oneshot::channel();
        let thread_cgroup = Arc::clone(&cgroup);
        let thread_step = step.clone();
        std::thread::Builder::new()
            .name("hrun-host-step".to_owned())
            .spawn(move || run_on_thread(thread_step, thread_cgroup, launched_tx, ended_tx))
            .map_err(|e| ExecError::system("cannot start the step's thread", e))?;
        let launched = launched_rx.await.map_err(|_| {
            ExecError::Lost("the step's thread ended before starting it".to_owned())
        })??;
        let started_at = launched.started_at;
        let started = Started {
            stdout: launched.stdout,
            stderr: launched.stderr,
            control: launched.control,
            ended: ended_rx,
        };
        let supervised = supervise(started, step.timeout, step.cancel_grace, output, cancel).await;
        let reaped = supervised.ended?;
        let containment = if cgroup.tracks() {
            Containment::Cgroup
        } else {
            Containment::ProcessGroup
        };
        Ok(StepOutcome {
            status: reaped.status,
            ending: supervised.ending,
            usage: ResourceUsage {
                wall: started_at.elapsed(),
                user_cpu: reaped.user_cpu,
                system_cpu: reaped.system_cpu,
                max_rss_bytes: Some(reaped.max_rss_bytes),
                peak_memory_bytes: cgroup.peak_memory(),
                oom_kills: cgroup.oom_kills(),
            },
            limits: cgroup.reports().to_vec(),
            containment,
            output_complete: supervised.output_complete,
            // Host processes are not swept: `--sandbox none` is the user's choice of no walls.
            sweep: None,
        })
    }
}

impl Executor for HostExecutor {
    fn name(&self) -> &'static str {
        "none"
    }

    fn run<'a>(
        &'a self,
        step: StepSpec,
        output: mpsc::Sender<OutputChunk>,
        cancel: CancellationToken,
    ) -> StepFuture<'a> {
        Box::pin(self.run_step(step, output, cancel))
    }
}

/// A cgroup name no other step of any runner on this host uses at the same time.
pub(crate) fn unique_cgroup_name(counter: &AtomicU64) -> String {
    let n = counter.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("hrun-{}-{nanos}-{n}", std::process::id())
}

struct Launched {
    stdout: std::os::fd::OwnedFd,
    stderr: std::os::fd::OwnedFd,
    control: Arc<dyn TreeControl>,
    started_at: Instant,
}

/// Signals the step's process group and cgroup. `reaped` turns true (under the lock) just
/// before the group leader is reaped, so its pid, which is also the group id, is never signalled
/// once it could belong to another process.
struct HostTree {
    leader: Pid,
    reaped: Mutex<bool>,
    cgroup: Arc<StepCgroup>,
}

impl HostTree {
    fn signal_group(&self, signal: Signal) {
        let reaped = self.reaped.lock().map(|g| *g).unwrap_or(true);
        if !reaped {
            // The leader is alive or a zombie: the group id cannot have been reused.
            let _ = kill(Pid::from_raw(-self.leader.as_raw()), signal);
        }
    }
}

impl TreeControl for HostTree {
    fn interrupt(&self) {
        if self.cgroup.tracks() {
            // Every process once, daemonised ones (which left the group) included.
            self.cgroup.signal_all(Signal::SIGINT);
        } else {
            self.signal_group(Signal::SIGINT);
        }
    }

    fn terminate(&self) {
        self.signal_group(Signal::SIGKILL);
        self.cgroup.kill_all();
    }

    fn force(&self) {
        self.terminate();
    }
}

fn spawn_error(program: &std::ffi::OsStr, err: io::Error) -> ExecError {
    match err.kind() {
        io::ErrorKind::NotFound => ExecError::ProgramNotFound {
            program: program.to_owned(),
        },
        io::ErrorKind::InvalidInput => ExecError::InvalidStep(err.to_string()),
        _ => ExecError::Exec {
            program: program.to_owned(),
            source: err,
        },
    }
}

/// Starts the step and waits for it. Runs on a thread of its own that lives as long as the
/// step, because the parent-death signal fires when the *thread* that forked the child ends.
fn run_on_thread(
    step: StepSpec,
    cgroup: Arc<StepCgroup>,
    launched_tx: oneshot::Sender<Result<Launched, ExecError>>,
    ended_tx: oneshot::Sender<Result<Reaped, ExecError>>,
) {
    let mut command = Command::new(&step.program);
    command
        .args(&step.args)
        .env_clear()
        .envs(&step.env)
        .current_dir(&step.working_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let parent = nix::unistd::getpid();
    let join_files = cgroup.join_files().to_vec();
    // SAFETY: the closure runs in the forked child before exec and only makes async-signal-safe
    // system calls (umask, setsid, prctl, getppid, open, write, close, close_range/fcntl) on data
    // prepared before the fork;
    // it allocates nothing (io::Error::last_os_error does not allocate).
    unsafe {
        command.pre_exec(move || {
            // Every backend starts steps with umask 022 (the namespace sandbox's init and the
            // guest's PID 1 have it too), whatever the runner's own is.
            libc::umask(0o022);
            nix::unistd::setsid()?;
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            if nix::unistd::getppid() != parent {
                // The runner's thread ended between fork and prctl: do not run orphaned.
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            for file in &join_files {
                join_cgroup(file)?;
            }
            crate::sys::cloexec_descriptors_from(3);
            Ok(())
        });
    }
    let started_at = Instant::now();
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            let _ = launched_tx.send(Err(spawn_error(&step.program, e)));
            return;
        }
    };
    let leader = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    let tree = Arc::new(HostTree {
        leader,
        reaped: Mutex::new(false),
        cgroup: Arc::clone(&cgroup),
    });
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        let _ = launched_tx.send(Err(ExecError::Lost("no output pipes".to_owned())));
        tree.terminate();
        let _ = wait4(leader.as_raw());
        return;
    };
    let _ = launched_tx.send(Ok(Launched {
        stdout: stdout.into(),
        stderr: stderr.into(),
        control: Arc::clone(&tree) as Arc<dyn TreeControl>,
        started_at,
    }));

    // Wait for the leader to end without reaping it, so its pid stays ours while we kill what
    // is left of the group: background children must not outlive the step.
    crate::sys::wait_until_ended(leader);
    let result = {
        let mut reaped = tree.reaped.lock().unwrap_or_else(|p| p.into_inner());
        let _ = kill(Pid::from_raw(-leader.as_raw()), Signal::SIGKILL);
        cgroup.kill_all();
        *reaped = true;
        wait4(leader.as_raw()).map_err(|e| ExecError::system("cannot wait for the step", e))
    };
    drop(child);
    let _ = ended_tx.send(result);
}

/// Moves the calling process into the cgroup whose `cgroup.procs` is `file` (writing `0` means
/// "the writer"). Fork-safe: no allocation.
pub(crate) fn join_cgroup(file: &std::ffi::CStr) -> io::Result<()> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    let fd = open(file, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())?;
    nix::unistd::write(&fd, b"0")?;
    Ok(())
}
