//! Sweeping a sandboxed step's processes from the runner (see [`crate::sweep`]).
//!
//! Which processes: exactly those of the step's PID namespace, read through the step's own
//! `/proc` (the init mounts it), reached from the runner as `/proc/<init>/root/proc`. That
//! listing holds every process of the namespace and nothing else (daemonised ones included,
//! with no reparenting race), and gives each pid as the step sees it. The init itself (pid 1
//! there) is left out: it is a copy of the runner, not the step's.
//!
//! Finding the init safely: the monitor reports the init's pid (`Record::InitForked`); once the
//! init reports the step started (its `/proc` is mounted by then), the directory is opened after
//! checking that the pid's parent is still the monitor, which the runner has not reaped and
//! which forks only the init, so the pid cannot have been reused by another process. The open
//! directory then stays the step's `/proc` whatever happens to the pid. It must be a procfs
//! other than the runner's own.
//!
//! When: a thread of the step sweeps every interval while the step runs; when the step's main
//! process has ended, the init holds (`child::finish_held`) while the runner's step thread makes
//! the last sweep, then releases it, and the kernel ends whatever the step left. A step ended by
//! its timeout or a cancellation gets no last sweep (its processes are killed with the init).
//!
//! Must never: sweep a directory that is not the step's `/proc`, or hold the init longer than
//! one sweep.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::sweep::{ProcDir, ProcStatus, StepSweeper, SweepPhase, SweepReport};

/// The sweeps of one sandboxed step, shared by its sweeping thread and its step thread.
pub(crate) struct NamespaceSweep {
    state: Mutex<State>,
    wake: Condvar,
    interval: Duration,
}

struct State {
    /// Taken by [`NamespaceSweep::finish`].
    sweeper: Option<StepSweeper>,
    monitor: Option<i32>,
    init: Option<i32>,
    started: bool,
    proc_dir: Option<ProcDir>,
    /// Tried to open the step's `/proc` (once).
    opened: bool,
    stopped: bool,
}

impl NamespaceSweep {
    pub(crate) fn new(sweeper: StepSweeper, interval: Duration) -> Arc<NamespaceSweep> {
        Arc::new(NamespaceSweep {
            state: Mutex::new(State {
                sweeper: Some(sweeper),
                monitor: None,
                init: None,
                started: false,
                proc_dir: None,
                opened: false,
                stopped: false,
            }),
            wake: Condvar::new(),
            interval,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn monitor_forked(&self, monitor: i32) {
        self.lock().monitor = Some(monitor);
    }

    pub(crate) fn init_forked(&self, init: i32) {
        let mut state = self.lock();
        state.init = Some(init);
        state.open_proc();
    }

    pub(crate) fn step_started(&self) {
        let mut state = self.lock();
        state.started = true;
        state.open_proc();
    }

    /// The last sweep, with the step's main process gone and the init held.
    pub(crate) fn sweep_after_exit(&self) {
        let mut state = self.lock();
        let state = &mut *state;
        if let (Some(dir), Some(sweeper)) = (&state.proc_dir, &mut state.sweeper) {
            sweeper.sweep_after_exit(dir, &not_the_init);
        }
    }

    /// Starts the thread that sweeps every interval until [`stop`](Self::stop).
    pub(crate) fn start_periodic(self: &Arc<Self>) -> Option<JoinHandle<()>> {
        let sweep = Arc::clone(self);
        std::thread::Builder::new()
            .name("hrun-sweep".to_owned())
            .spawn(move || sweep.periodic())
            .ok()
    }

    fn periodic(&self) {
        let mut state = self.lock();
        loop {
            let (next, _) = self
                .wake
                .wait_timeout_while(state, self.interval, |s| !s.stopped)
                .unwrap_or_else(|e| e.into_inner());
            state = next;
            if state.stopped {
                return;
            }
            state.sweep(SweepPhase::Running);
        }
    }

    /// Stops the periodic sweeps (joining `thread`) and returns what every sweep found (once).
    pub(crate) fn finish(&self, thread: Option<JoinHandle<()>>) -> Option<SweepReport> {
        self.lock().stopped = true;
        self.wake.notify_all();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        let mut state = self.lock();
        let opened = state.proc_dir.is_some() || state.opened;
        let mut sweeper = state.sweeper.take()?;
        if !opened {
            sweeper.note("the step ended before its processes could be swept");
        }
        Some(sweeper.finish())
    }
}

impl State {
    fn sweep(&mut self, phase: SweepPhase) {
        if let (Some(dir), Some(sweeper)) = (&self.proc_dir, &mut self.sweeper) {
            sweeper.sweep(dir, &not_the_init, phase);
        }
    }

    /// Opens the step's `/proc` once the init's pid is known and the step has started.
    fn open_proc(&mut self) {
        if self.opened || !self.started {
            return;
        }
        let (Some(init), Some(monitor)) = (self.init, self.monitor) else {
            return;
        };
        self.opened = true;
        match open_step_proc(init, monitor) {
            Ok(dir) => self.proc_dir = Some(dir),
            Err(reason) => {
                if let Some(sweeper) = &mut self.sweeper {
                    sweeper.note(format!("the step's /proc could not be opened: {reason}"));
                }
            }
        }
    }
}

/// Every process of the step's namespace but pid 1, the init (a copy of the runner).
fn not_the_init(pid: i32, _: &ProcStatus) -> bool {
    pid != 1
}

/// `/proc/<init>/root/proc`, checked to be the step's.
fn open_step_proc(init: i32, monitor: i32) -> Result<ProcDir, String> {
    let parent_is_monitor = || parent_of(init) == Some(monitor);
    if !parent_is_monitor() {
        return Err("the init is gone".to_owned());
    }
    let path = PathBuf::from(format!("/proc/{init}/root/proc"));
    let dir = ProcDir::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !parent_is_monitor() {
        return Err("the init ended while its /proc was opened".to_owned());
    }
    let file = dir.file().map_err(|e| e.to_string())?;
    let fs = nix::sys::statfs::fstatfs(&file).map_err(|e| e.to_string())?;
    if fs.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        return Err("it is not a procfs".to_owned());
    }
    use std::os::unix::fs::MetadataExt;
    let ours = std::fs::metadata("/proc").map_err(|e| e.to_string())?;
    let theirs = file.metadata().map_err(|e| e.to_string())?;
    if ours.dev() == theirs.dev() {
        return Err("it is the runner's own /proc".to_owned());
    }
    Ok(dir)
}

/// The parent pid of `pid`, from `/proc/<pid>/stat` (after the name, which may hold anything).
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let close = memchr::memrchr(b')', &stat)?;
    let rest = std::str::from_utf8(stat.get(close + 1..)?).ok()?;
    rest.split_ascii_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_parent_of_a_process_whose_name_has_parens_and_spaces() {
        let me = std::process::id() as i32;
        let parent = std::os::unix::process::parent_id() as i32;
        assert_eq!(parent_of(me), Some(parent));
        assert_eq!(parent_of(-5), None);
    }

    #[test]
    fn refuses_a_pid_that_is_not_the_monitors_child() {
        let me = std::process::id() as i32;
        let err = open_step_proc(me, 1).err().unwrap_or_default();
        assert!(err.contains("gone"), "{err}");
    }
}
