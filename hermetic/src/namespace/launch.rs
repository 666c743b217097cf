//! Starting one sandbox from the runner's side: the step's `execve` image, the thread that forks
//! the monitor (and, for a set-up sandbox, writes its uid/gid maps and opens its namespaces) and
//! waits for it, and the handle that signals it.
//!
//! Everything the helpers need is prepared here before `fork`, because they may not allocate.
//!
//! Must never: write uid/gid maps other than the one configured mapping, signal the monitor after
//! it was reaped, or let the monitor outlive the thread that forked it.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use nix::fcntl::OFlag;
use nix::sys::signal::{kill, Signal};
use nix::unistd::{ForkResult, Pid};
use tokio::sync::oneshot;

use super::child::{self, ExecPointers, ForkInput, HelperFds, SandboxImage};
use super::job::JobNamespaces;
use super::protocol::{read_record, Record};
use super::sweep::NamespaceSweep;
use super::IdMaps;
use crate::cgroup::StepCgroup;
use crate::supervise::TreeControl;
use crate::sys::{wait4, Reaped};
use crate::{ExecError, StepSpec};

/// The program of one step, ready for `execve`.
pub(crate) struct ExecImage {
    candidates: Vec<CString>,
    argv: Vec<CString>,
    envp: Vec<CString>,
    working_dir: CString,
}

fn nul_free(what: &str, bytes: Vec<u8>) -> Result<CString, ExecError> {
    CString::new(bytes).map_err(|_| ExecError::InvalidStep(format!("{what} contains a NUL byte")))
}

impl ExecImage {
    pub(crate) fn new(step: &StepSpec) -> Result<Self, ExecError> {
        let program = step.program.as_bytes();
        if program.is_empty() {
            return Err(ExecError::InvalidStep("empty program name".to_owned()));
        }
        let candidates = if program.contains(&b'/') {
            vec![nul_free("program", program.to_vec())?]
        } else {
            let default_path = OsString::from("/usr/local/bin:/usr/bin:/bin");
            let path = step
                .env
                .get(&OsString::from("PATH"))
                .unwrap_or(&default_path);
            path.as_bytes()
                .split(|b| *b == b':')
                .filter(|dir| !dir.is_empty())
                .map(|dir| {
                    let mut full = dir.to_vec();
                    full.push(b'/');
                    full.extend_from_slice(program);
                    nul_free("PATH entry", full)
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        let argv = std::iter::once(&step.program)
            .chain(&step.args)
            .map(|a| nul_free("argument", a.clone().into_vec()))
            .collect::<Result<Vec<_>, _>>()?;
        let envp = step
            .env
            .iter()
            .map(|(name, value)| {
                if name.is_empty() || name.as_bytes().contains(&b'=') {
                    return Err(ExecError::InvalidStep(format!(
                        "environment variable name {:?} is empty or contains `=`",
                        name.to_string_lossy()
                    )));
                }
                let mut entry = name.as_bytes().to_vec();
                entry.push(b'=');
                entry.extend_from_slice(value.as_bytes());
                nul_free("environment entry", entry)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ExecImage {
            candidates,
            argv,
            envp,
            working_dir: nul_free(
                "working directory",
                step.working_dir.as_os_str().as_bytes().to_vec(),
            )?,
        })
    }

    fn pointers(&self) -> ExecPointers<'_> {
        let array = |v: &[CString]| {
            v.iter()
                .map(|c| c.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect()
        };
        ExecPointers {
            candidates: &self.candidates,
            argv: array(&self.argv),
            envp: array(&self.envp),
            working_dir: &self.working_dir,
        }
    }
}

/// Where a sandbox's namespaces come from.
pub(crate) enum Namespaces {
    /// New ones, gone with the sandbox (the probe).
    Create,
    /// New ones, kept open for the job's steps ([`SandboxEnded::kept`]).
    CreateAndKeep,
    /// The job's, entered.
    Enter(Arc<JobNamespaces>),
}

/// One sandbox to start on a thread of its own.
pub(crate) struct SandboxJob {
    pub(crate) image: Arc<SandboxImage>,
    pub(crate) exec: Option<ExecImage>,
    pub(crate) cgroup: Arc<StepCgroup>,
    pub(crate) maps: IdMaps,
    pub(crate) namespaces: Namespaces,
    /// The step's sweeps: told where the init is, and given the last sweep before the init is
    /// released (see `child::finish_held`).
    pub(crate) sweep: Option<Arc<NamespaceSweep>>,
}

pub(crate) struct Launched {
    pub(crate) stdout: OwnedFd,
    pub(crate) stderr: OwnedFd,
    pub(crate) control: Arc<dyn TreeControl>,
    pub(crate) started_at: Instant,
}

pub(crate) struct SandboxEnded {
    pub(crate) records: Vec<Record>,
    pub(crate) reaped: Reaped,
    /// The namespaces of a [`Namespaces::CreateAndKeep`] sandbox, once its maps were written.
    pub(crate) kept: Option<JobNamespaces>,
}

/// Signals the sandbox through its monitor, the runner's direct child. `reaped` turns true
/// (under the lock) before the monitor is reaped, so its pid is never signalled once reusable.
struct SandboxTree {
    monitor: Pid,
    reaped: Mutex<bool>,
    cgroup: Arc<StepCgroup>,
}

impl SandboxTree {
    fn signal(&self, signal: Signal) {
        let reaped = self.reaped.lock().map(|g| *g).unwrap_or(true);
        if !reaped {
            let _ = kill(self.monitor, signal);
        }
    }
}

impl TreeControl for SandboxTree {
    fn interrupt(&self) {
        // The monitor relays it to the init, which sends it to every process of the namespace.
        self.signal(Signal::SIGINT);
    }

    fn terminate(&self) {
        // The monitor kills the init, and the kernel every process of the namespace.
        self.signal(Signal::SIGTERM);
    }

    fn force(&self) {
        // The init has the monitor's death as its parent-death signal.
        self.signal(Signal::SIGKILL);
        self.cgroup.kill_all();
    }
}

fn write_id_maps(monitor: Pid, maps: &IdMaps) -> std::io::Result<()> {
    let proc_dir = PathBuf::from(format!("/proc/{}", monitor.as_raw()));
    if maps.deny_setgroups {
        std::fs::write(proc_dir.join("setgroups"), "deny")?;
    }
    std::fs::write(
        proc_dir.join("uid_map"),
        format!("0 {} 1\n", maps.identity.uid),
    )?;
    std::fs::write(
        proc_dir.join("gid_map"),
        format!("0 {} 1\n", maps.identity.gid),
    )
}

fn pipe() -> Result<(OwnedFd, OwnedFd), ExecError> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| ExecError::system("cannot create a pipe", e))
}

/// Starts the sandbox and waits for it. Runs on a thread of its own that lives as long as the
/// step, because the monitor's parent-death signal fires when this *thread* ends.
pub(crate) fn run_on_thread(
    job: SandboxJob,
    launched_tx: oneshot::Sender<Result<Launched, ExecError>>,
    ended_tx: oneshot::Sender<Result<SandboxEnded, ExecError>>,
) {
    let creates = !matches!(job.namespaces, Namespaces::Enter(_));
    let prepared = (|| {
        let devnull = nix::fcntl::open(
            c"/dev/null",
            OFlag::O_RDWR | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| ExecError::system("cannot open /dev/null", e))?;
        // A sandbox that creates its namespaces waits for a go (after its maps); a swept step's
        // init waits on the same descriptor for its release after the step's main process.
        let go = if creates || job.sweep.is_some() {
            Some(pipe()?)
        } else {
            None
        };
        Ok::<_, ExecError>((devnull, pipe()?, pipe()?, pipe()?, go))
    })();
    let (devnull, (out_r, out_w), (err_r, err_w), (report_r, report_w), go) = match prepared {
        Ok(p) => p,
        Err(e) => {
            let _ = launched_tx.send(Err(e));
            return;
        }
    };
    let (go_r, mut go_w) = go.unzip();
    let sources = if creates {
        job.image.sources.len()
    } else {
        job.image.step_sources.len()
    };
    let mut source_fds = vec![-1; sources];
    let pointers = job.exec.as_ref().map(ExecImage::pointers);
    let runner = nix::unistd::getpid();
    let mut input = ForkInput {
        image: &job.image,
        join_files: job.cgroup.join_files(),
        source_fds: &mut source_fds,
        exec: pointers,
        runner,
        fds: HelperFds {
            devnull: devnull.as_raw_fd(),
            stdout: out_w.as_raw_fd(),
            stderr: err_w.as_raw_fd(),
            report: report_w.as_raw_fd(),
            go: go_r.as_ref().unwrap_or(&devnull).as_raw_fd(),
        },
        enter: match &job.namespaces {
            Namespaces::Enter(ns) => Some(ns.join_fds()),
            _ => None,
        },
    };
    let started_at = Instant::now();
    // SAFETY: the child runs only `child::monitor`, which never returns, makes only system calls
    // on data prepared above and allocates nothing, as a forked child of a multi-threaded
    // process must.
    let monitor = match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Child) => child::monitor(&mut input),
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => {
            let _ = launched_tx.send(Err(ExecError::system("cannot fork", e)));
            return;
        }
    };
    drop((devnull, out_w, err_w, report_w, go_r));
    let tree = Arc::new(SandboxTree {
        monitor,
        reaped: Mutex::new(false),
        cgroup: Arc::clone(&job.cgroup),
    });
    let _ = launched_tx.send(Ok(Launched {
        stdout: out_r,
        stderr: err_r,
        control: Arc::clone(&tree) as Arc<dyn TreeControl>,
        started_at,
    }));

    if let Some(sweep) = &job.sweep {
        sweep.monitor_forked(monitor.as_raw());
    }
    let mut report = File::from(report_r);
    let mut records = Vec::new();
    let mut setup_failure = None;
    let mut kept = None;
    let first = read_record(&mut report);
    match first {
        Ok(Some(Record::Unshared)) => {
            let prepared = write_id_maps(monitor, &job.maps)
                .map_err(|e| ("writing the uid/gid maps", e))
                .and_then(|()| match job.namespaces {
                    Namespaces::CreateAndKeep => {
                        JobNamespaces::open(monitor, job.image.own_network)
                            .map(|ns| kept = Some(ns))
                            .map_err(|e| ("opening the sandbox's namespaces", e))
                    }
                    _ => Ok(()),
                });
            match (prepared, &go_w) {
                (Ok(()), Some(go)) => {
                    let _ = nix::unistd::write(go, b"g");
                }
                (Ok(()), None) => {}
                (Err(e), _) => setup_failure = Some(e),
            }
        }
        Ok(Some(other)) => {
            take_record(other, job.sweep.as_deref(), &mut go_w);
            records.push(other);
        }
        Ok(None) | Err(_) => {}
    }
    if creates {
        // Closing our end tells a monitor still waiting that no go will come.
        go_w = None;
    }
    while let Ok(Some(record)) = read_record(&mut report) {
        take_record(record, job.sweep.as_deref(), &mut go_w);
        records.push(record);
    }
    // Releases an init still held (no status came).
    drop(go_w);
    // Every helper has closed the report pipe: the monitor is ending. Wait without reaping, then
    // mark it reaped under the lock so no signal reaches a reused pid.
    crate::sys::wait_until_ended(monitor);
    let reaped = {
        let mut reaped = tree.reaped.lock().unwrap_or_else(|p| p.into_inner());
        *reaped = true;
        wait4(monitor.as_raw())
    };
    job.cgroup.kill_all();
    let result = match (setup_failure, reaped) {
        (Some((stage, source)), _) => Err(ExecError::SandboxSetup { stage, source }),
        (None, Err(e)) => Err(ExecError::system("cannot wait for the sandbox", e)),
        (None, Ok(reaped)) => Ok(SandboxEnded {
            records,
            reaped,
            kept,
        }),
    };
    let _ = ended_tx.send(result);
}

/// Acts on a record for the step's sweeps: where the init is, that the step started, and, once
/// its main process has ended, the last sweep and then the init's release.
fn take_record(record: Record, sweep: Option<&NamespaceSweep>, release: &mut Option<OwnedFd>) {
    let Some(sweep) = sweep else {
        return;
    };
    match record {
        Record::InitForked { pid } => sweep.init_forked(pid),
        Record::Started => sweep.step_started(),
        Record::Status { .. } => {
            sweep.sweep_after_exit();
            *release = None;
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_programs_up_in_the_steps_own_path() {
        let step = StepSpec::new("sh", "/").env("PATH", "/opt/x::/bin");
        let image = ExecImage::new(&step).ok();
        let candidates: Vec<_> = image
            .map(|i| i.candidates)
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.into_string().unwrap_or_default())
            .collect();
        assert_eq!(candidates, ["/opt/x/sh", "/bin/sh"]);
    }

    #[test]
    fn rejects_nul_bytes_and_bad_variable_names() {
        assert!(ExecImage::new(&StepSpec::new("a\0b", "/")).is_err());
        assert!(ExecImage::new(&StepSpec::new("sh", "/").env("A=B", "x")).is_err());
        assert!(ExecImage::new(&StepSpec::new("", "/")).is_err());
    }
}
