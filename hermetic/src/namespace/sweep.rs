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
//! which starts only the init, so the pid cannot have been reused by another process. The open
//! directory then stays the step's `/proc` whatever happens to the pid. It must be a procfs
//! other than the runner's own. A runner that is not root reaches it through a child of the
//! init instead (see [`open_step_proc`]).
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
    /// Why the step's `/proc` is not open yet (it is tried again at each sweep).
    pending: Option<String>,
    /// Why it will not be opened.
    failed: Option<String>,
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
                pending: None,
                failed: None,
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
        self.lock().sweep(SweepPhase::AfterExit);
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
        let unswept = state.proc_dir.is_none() && state.failed.is_none();
        let pending = state.pending.take();
        let mut sweeper = state.sweeper.take()?;
        if unswept {
            sweeper.note(match pending {
                Some(why) => format!("the step's processes were not swept: {why}"),
                None => "the step ended before its processes could be swept".to_owned(),
            });
        }
        Some(sweeper.finish())
    }
}

impl State {
    fn sweep(&mut self, phase: SweepPhase) {
        self.open_proc();
        if let (Some(dir), Some(sweeper)) = (&self.proc_dir, &mut self.sweeper) {
            match phase {
                SweepPhase::Running => sweeper.sweep(dir, &not_the_init, phase),
                SweepPhase::AfterExit => sweeper.sweep_after_exit(dir, &not_the_init),
            }
        }
    }

    /// Opens the step's `/proc` once the init's pid is known and the step has started; tried
    /// again at each sweep while it cannot be reached yet (see [`open_step_proc`]).
    fn open_proc(&mut self) {
        if self.proc_dir.is_some() || self.failed.is_some() || !self.started {
            return;
        }
        let (Some(init), Some(monitor)) = (self.init, self.monitor) else {
            return;
        };
        match open_step_proc(init, monitor) {
            Ok(dir) => self.proc_dir = Some(dir),
            Err(Unreachable::NotYet(why)) => self.pending = Some(why),
            Err(Unreachable::Refused(why)) => {
                if let Some(sweeper) = &mut self.sweeper {
                    sweeper.note(format!("the step's /proc could not be opened: {why}"));
                }
                self.failed = Some(why);
            }
        }
    }
}

/// Every process of the step's namespace but pid 1, the init (a copy of the runner).
fn not_the_init(pid: i32, _: &ProcStatus) -> bool {
    pid != 1
}

/// Why the step's `/proc` was not opened.
enum Unreachable {
    /// No process to reach it through right now (try again later).
    NotYet(String),
    /// It cannot be, or is not the step's: no sweeps for this step.
    Refused(String),
}

/// The step's own `/proc`: `/proc/<init>/root/proc`, checked to be a procfs other than the
/// runner's. A runner that is not root may not look through the init's root (the init is not
/// dumpable, and its memory is a copy of the runner's, owned by the runner's user namespace):
/// it goes through a child of the init instead (the step's main process, or a process it left
/// and the init adopted), which is dumpable and in the same PID namespace (a step, without
/// capabilities, cannot make another one). Each way the pid is checked before and after the
/// open to still be the init's child (the monitor's, for the init), so a reused pid is never
/// looked through.
fn open_step_proc(init: i32, monitor: i32) -> Result<ProcDir, Unreachable> {
    let init_alive = || parent_of(init) == Some(monitor);
    if !init_alive() {
        return Err(Unreachable::Refused("the init is gone".to_owned()));
    }
    let through_init = ProcDir::open(&PathBuf::from(format!("/proc/{init}/root/proc")));
    let dir = match through_init {
        Ok(dir) => dir,
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => {
            let child = children_of(init).into_iter().find_map(|pid| {
                let dir = ProcDir::open(&PathBuf::from(format!("/proc/{pid}/root/proc"))).ok()?;
                (parent_of(pid) == Some(init)).then_some(dir)
            });
            child.ok_or_else(|| {
                Unreachable::NotYet(format!(
                    "the init's root is not readable by the runner ({e}) and no process of the step is there to look through"
                ))
            })?
        }
        Err(e) => return Err(Unreachable::Refused(format!("/proc/{init}/root/proc: {e}"))),
    };
    if !init_alive() {
        return Err(Unreachable::Refused(
            "the init ended while its /proc was opened".to_owned(),
        ));
    }
    check_procfs(&dir).map_err(Unreachable::Refused)?;
    Ok(dir)
}

/// Checks that `dir` is a procfs and not the runner's own.
fn check_procfs(dir: &ProcDir) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let file = dir.file().map_err(|e| e.to_string())?;
    let fs = nix::sys::statfs::fstatfs(&file).map_err(|e| e.to_string())?;
    if fs.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        return Err("it is not a procfs".to_owned());
    }
    let ours = std::fs::metadata("/proc").map_err(|e| e.to_string())?;
    let theirs = file.metadata().map_err(|e| e.to_string())?;
    if ours.dev() == theirs.dev() {
        return Err("it is the runner's own /proc".to_owned());
    }
    Ok(())
}

/// The pids whose parent is `parent`, from the runner's `/proc` (one pass over every process:
/// only a runner that cannot look through the init's root does it, until it has the step's
/// `/proc`).
fn children_of(parent: i32) -> Vec<i32> {
    let Ok(listing) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    listing
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| parent_of(*pid) == Some(parent))
        .collect()
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
        match open_step_proc(me, 1) {
            Err(Unreachable::Refused(why)) => assert!(why.contains("gone"), "{why}"),
            _ => panic!("a pid whose parent is not the monitor was looked through"),
        }
    }

    #[test]
    fn finds_the_children_of_a_process_and_refuses_the_runners_own_proc() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep starts");
        let me = std::process::id() as i32;
        let pid = child.id() as i32;
        assert!(children_of(me).contains(&pid));
        let host = ProcDir::open(std::path::Path::new("/proc")).unwrap();
        let refused = check_procfs(&host).err().unwrap_or_default();
        assert!(refused.contains("runner's own"), "{refused}");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
