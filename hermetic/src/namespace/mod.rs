//! `--sandbox namespace`: a rootless sandbox per job, built from Linux namespaces, that each step
//! enters with namespaces of its own.
//!
//! A job's steps share new user, mount, UTS and IPC namespaces, and a network namespace with
//! only loopback unless [`Network::Allow`] (then they share the host's; egress filtering comes
//! with the microVM issue). They are made once (by [`NamespaceExecutor::set_up_now`], else on
//! the job's first step) and closed by [`Executor::finish`] (or drop); see [`job`]. The file system is a new root holding the host's
//! system directories read-only, a `/proc`, a minimal read-only `/dev`, a private `/tmp`, and the
//! configured paths (the workspace, the runner's temp directory) read-write at their own paths.
//! The hostname is fixed. Each step has its own PID namespace (so its whole tree ends with it),
//! its own copy of the mount namespace with its own `/proc` (and fresh `/tmp` and `/dev/shm`
//! unless [`SandboxConfig::tmp_dir`] names a per-job directory), and its own cgroup namespace.
//! The step runs as root *of the user namespace* with every capability dropped and
//! `no_new_privs`; on the host it is an unprivileged uid (see [`HostIdentity`]). Memory and
//! process-count limits go into a per-step cgroup where the host lets the runner create one.
//!
//! How the processes are arranged and set up is in [`child`]; the file system in [`plan`]. When a
//! step asks for sweeps ([`StepSpec::sweep`]), the runner sweeps its PID namespace through the
//! step's own `/proc` while it runs, and once more after its main process has ended, while the
//! init holds the namespace alive (see [`sweep`]).
//!
//! Must never: run a step with the runner's host identity when the runner is root, give a step a
//! capability, expose a host path that was not listed (beyond the read-only system directories),
//! or leave a process behind (the step's PID namespace dies with its init, and the init dies with
//! the runner's step thread).

mod child;
mod job;
mod launch;
mod mounts;
mod plan;
mod protocol;
mod sweep;

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::cgroup::{CgroupLayout, StepCgroup};
use crate::host::unique_cgroup_name;
use crate::supervise::{supervise, Started};
use crate::sweep::StepSweeper;
use crate::{
    Containment, ExecError, Executor, ExitStatus, FinishFuture, OutputChunk, ResourceUsage,
    SandboxReport, StepFuture, StepOutcome, StepSpec,
};
use child::{SandboxImage, NEW_ROOT};
use job::JobSandbox;
use launch::{run_on_thread, ExecImage, Namespaces, SandboxJob};
use mounts::ChildOp;
use plan::{host_entry, MountOp, MountPlan, PlanInput};
use protocol::{Record, Stage};
use sweep::NamespaceSweep;

/// The hostname every sandbox has unless configured otherwise.
pub const DEFAULT_HOSTNAME: &str = "hrun-sandbox";

/// Whether a sandboxed step reaches the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Network {
    /// Its own network namespace with only loopback up.
    #[default]
    Deny,
    /// The host's network namespace (no filtering yet).
    Allow,
}

/// The host user and group a sandboxed step's processes (and the files they create) have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostIdentity {
    /// Host uid.
    pub uid: u32,
    /// Host gid.
    pub gid: u32,
}

impl HostIdentity {
    /// `nobody:nogroup` (65534:65534), the default when the runner runs as root.
    pub const NOBODY: HostIdentity = HostIdentity {
        uid: 65534,
        gid: 65534,
    };
}

/// What a namespace sandbox exposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Host directories (or files) the step may write, bound at their own canonical paths: the
    /// workspace, the runner's temp directory. When the runner is root they must be writable by
    /// [`NamespaceExecutor::host_identity`].
    pub writable: Vec<PathBuf>,
    /// Further host paths the step may read (tool caches, an action store, a toolchain in a home
    /// directory), bound read-only at their own canonical paths.
    pub read_only: Vec<PathBuf>,
    /// A host directory to use as `/tmp` (for example one per job, so `/tmp` lasts across
    /// steps; `/dev/shm` then lasts for the job too). `None`: a fresh, empty tmpfs for each
    /// step's `/tmp` and `/dev/shm`.
    pub tmp_dir: Option<PathBuf>,
    /// Network access.
    pub network: Network,
    /// The hostname inside.
    pub hostname: String,
    /// The host identity steps run as when the runner is root (default [`HostIdentity::NOBODY`]).
    /// An unprivileged runner can only map its own uid and gid, and must leave this `None`.
    pub identity: Option<HostIdentity>,
}

impl SandboxConfig {
    /// A sandbox in which `writable` paths are writable, with no network, the default hostname,
    /// a private tmpfs `/tmp` and the default identity.
    pub fn new<P: Into<PathBuf>>(writable: impl IntoIterator<Item = P>) -> Self {
        SandboxConfig {
            writable: writable.into_iter().map(Into::into).collect(),
            read_only: Vec::new(),
            tmp_dir: None,
            network: Network::Deny,
            hostname: DEFAULT_HOSTNAME.to_owned(),
            identity: None,
        }
    }
}

/// Runs a job's steps in a namespace sandbox (`--sandbox namespace`): one per executor, made by
/// [`set_up_now`](Self::set_up_now) or on the first step, each step in namespaces of its own
/// inside it.
#[derive(Debug)]
pub struct NamespaceExecutor {
    image: Arc<SandboxImage>,
    maps: IdMaps,
    cgroups: CgroupLayout,
    started: AtomicU64,
    job: JobSandbox,
}

/// What the runner writes to the monitor's `/proc/<pid>/{setgroups,uid_map,gid_map}`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IdMaps {
    identity: HostIdentity,
    deny_setgroups: bool,
}

fn c_path(path: &Path) -> Result<CString, ExecError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| ExecError::SandboxPath {
        path: path.to_path_buf(),
        reason: "contains a NUL byte".to_owned(),
    })
}

/// `path` as seen while the new root is assembled on [`NEW_ROOT`].
fn staged(path: &Path) -> Result<CString, ExecError> {
    let relative = path.strip_prefix("/").unwrap_or(path);
    let full = Path::new(NEW_ROOT).join(relative);
    c_path(full.as_path().components().as_path())
}

fn canonical(path: &Path) -> Result<PathBuf, ExecError> {
    let bad = |reason: String| ExecError::SandboxPath {
        path: path.to_path_buf(),
        reason,
    };
    if !path.is_absolute() {
        return Err(bad("must be absolute".to_owned()));
    }
    let canon = path
        .canonicalize()
        .map_err(|e| bad(format!("cannot be resolved: {e}")))?;
    if canon == Path::new("/") {
        return Err(bad("the whole root cannot be bound".to_owned()));
    }
    if let Some(r) = plan::RESERVED
        .iter()
        .filter(|r| **r != "/tmp")
        .find(|r| canon.starts_with(r))
    {
        return Err(bad(format!("{r} is built by the sandbox itself")));
    }
    Ok(canon)
}

/// `op` ready for a helper; `place` turns a sandbox path into the path the helper uses.
fn to_child_op(
    op: &MountOp,
    place: &dyn Fn(&Path) -> Result<CString, ExecError>,
) -> Result<ChildOp, ExecError> {
    Ok(match op {
        MountOp::Tmpfs { target, options } => ChildOp::Tmpfs {
            target: place(target)?,
            options: CString::new(options.as_str())
                .map_err(|_| ExecError::InvalidConfig("tmpfs options".to_owned()))?,
        },
        MountOp::Mkdir { path, mode } => ChildOp::Mkdir {
            path: place(path)?,
            mode: *mode,
        },
        MountOp::Touch { path } => ChildOp::Touch { path: place(path)? },
        MountOp::Symlink { target, link } => ChildOp::Symlink {
            target: c_path(target)?,
            link: place(link)?,
        },
        MountOp::Bind {
            source,
            target,
            read_only,
        } => ChildOp::Bind {
            source: *source,
            target: place(target)?,
            recursive: true,
            read_only: *read_only,
        },
        MountOp::BindDevice { source, target } => ChildOp::Bind {
            source: *source,
            target: place(target)?,
            recursive: false,
            read_only: false,
        },
        MountOp::Proc { target } => ChildOp::Proc {
            target: place(target)?,
        },
        MountOp::Sysfs { target } => ChildOp::Sysfs {
            target: place(target)?,
        },
        MountOp::RemountReadOnly { target } => ChildOp::RemountReadOnly {
            target: place(target)?,
        },
    })
}

impl NamespaceExecutor {
    /// Prepares a sandbox from `config`: resolves and checks every path and plans the mounts.
    /// Does not try the sandbox; see [`NamespaceExecutor::probe`].
    pub fn new(config: SandboxConfig) -> Result<Self, ExecError> {
        let runner_is_root = nix::unistd::geteuid().is_root();
        let identity = match (runner_is_root, config.identity) {
            (true, Some(id)) if id.uid == 0 || id.gid == 0 => {
                return Err(ExecError::InvalidConfig(
                    "the sandbox identity must not be host root (uid or gid 0)".to_owned(),
                ))
            }
            (true, id) => id.unwrap_or(HostIdentity::NOBODY),
            (false, Some(_)) => {
                return Err(ExecError::InvalidConfig(
                    "only a runner running as root can choose the sandbox's host identity"
                        .to_owned(),
                ))
            }
            (false, None) => HostIdentity {
                uid: nix::unistd::geteuid().as_raw(),
                gid: nix::unistd::getegid().as_raw(),
            },
        };
        if config.hostname.is_empty()
            || config.hostname.len() > 64
            || config.hostname.contains('\0')
        {
            return Err(ExecError::InvalidConfig(format!(
                "hostname {:?} must be 1 to 64 bytes without NUL",
                config.hostname
            )));
        }
        if !Path::new(NEW_ROOT).is_dir() {
            return Err(ExecError::Unavailable {
                name: "namespace",
                reason: format!("{NEW_ROOT} does not exist on the host"),
            });
        }
        let input = PlanInput {
            read_only: config
                .read_only
                .iter()
                .map(|p| canonical(p))
                .collect::<Result<_, _>>()?,
            writable: config
                .writable
                .iter()
                .map(|p| canonical(p))
                .collect::<Result<_, _>>()?,
            tmp_dir: config.tmp_dir.as_deref().map(canonical).transpose()?,
            own_network: config.network == Network::Deny,
        };
        let plan = MountPlan::build(&input, &host_entry);
        let step_plan = MountPlan::for_each_step(&input, &host_entry);
        let image = SandboxImage {
            sources: plan
                .sources
                .iter()
                .map(|p| c_path(p))
                .collect::<Result<_, _>>()?,
            ops: plan
                .ops
                .iter()
                .map(|op| to_child_op(op, &staged))
                .collect::<Result<_, _>>()?,
            step_sources: step_plan
                .sources
                .iter()
                .map(|p| c_path(p))
                .collect::<Result<_, _>>()?,
            step_ops: step_plan
                .ops
                .iter()
                .map(|op| to_child_op(op, &c_path))
                .collect::<Result<_, _>>()?,
            hostname: OsString::from(&config.hostname),
            own_network: input.own_network,
            clear_groups: runner_is_root,
        };
        Ok(NamespaceExecutor {
            image: Arc::new(image),
            maps: IdMaps {
                identity,
                deny_setgroups: !runner_is_root,
            },
            cgroups: CgroupLayout::discover(),
            started: AtomicU64::new(0),
            job: JobSandbox::default(),
        })
    }

    /// The host uid and gid that steps' processes run as, and that files they create get. When
    /// the runner is root, writable paths must be writable by it (for example `chown` the job's
    /// workspace and temp directory to it when creating them).
    pub fn host_identity(&self) -> HostIdentity {
        self.maps.identity
    }

    /// Tells whether the namespace sandbox works on this host, by building one (with no writable
    /// path and no program) and tearing it down. `Err` says what failed and, where known, which
    /// host setting is the cause. Blocks the calling thread for a few milliseconds.
    pub fn probe() -> Result<(), String> {
        if let Some(reason) = host_setting_blocks_user_namespaces() {
            return Err(reason);
        }
        let executor = NamespaceExecutor::new(SandboxConfig::new(Vec::<PathBuf>::new()))
            .map_err(|e| e.to_string())?;
        job::set_up_blocking(Arc::clone(&executor.image), executor.maps.clone(), false)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Builds the job's sandbox now rather than on the first step, blocking the calling thread
    /// for a few milliseconds. This is also the test [`probe`](Self::probe) makes, on this
    /// executor's own configuration: `Err` says what failed and, where known, which host setting
    /// is the cause (the first step then tries again).
    pub fn set_up_now(&self) -> Result<(), String> {
        if let Some(reason) = host_setting_blocks_user_namespaces() {
            return Err(reason);
        }
        let made = job::set_up_blocking(Arc::clone(&self.image), self.maps.clone(), true)
            .map_err(|e| e.to_string())?;
        if let Some(namespaces) = made {
            // Already made (or finished) by a step: the new namespaces are simply closed.
            self.job.set_ready(namespaces);
        }
        Ok(())
    }

    async fn run_step(
        &self,
        step: StepSpec,
        output: mpsc::Sender<OutputChunk>,
        cancel: CancellationToken,
    ) -> Result<StepOutcome, ExecError> {
        let exec = ExecImage::new(&step)?;
        let namespaces = self.job.namespaces(&self.image, &self.maps).await?;
        let name = unique_cgroup_name(&self.started);
        let cgroup = Arc::new(StepCgroup::create(
            &self.cgroups,
            &name,
            &step.limits,
            false,
        ));
        let (launched_tx, launched_rx) = oneshot::channel();
        let (ended_tx, ended_rx) = oneshot::channel();
        let sweep = step.sweep.as_ref().map(|config| {
            let env = step.env.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes()));
            NamespaceSweep::new(StepSweeper::new(config, env), config.interval)
        });
        let job = SandboxJob {
            image: Arc::clone(&self.image),
            exec: Some(exec),
            cgroup: Arc::clone(&cgroup),
            maps: self.maps.clone(),
            namespaces: Namespaces::Enter(namespaces),
            sweep: sweep.clone(),
        };
        std::thread::Builder::new()
            .name("hrun-sandbox-step".to_owned())
            .spawn(move || run_on_thread(job, launched_tx, ended_tx))
            .map_err(|e| ExecError::system("cannot start the step's thread", e))?;
        let launched = launched_rx.await.map_err(|_| {
            ExecError::Lost("the step's thread ended before starting it".to_owned())
        })??;
        let sweeping = sweep.as_ref().map(|s| (Arc::clone(s), s.start_periodic()));
        let started_at = launched.started_at;
        let started = Started {
            stdout: launched.stdout,
            stderr: launched.stderr,
            control: launched.control,
            ended: ended_rx,
        };
        let supervised = supervise(started, step.timeout, step.cancel_grace, output, cancel).await;
        let sweep_report = match sweeping {
            Some((sweep, thread)) => tokio::task::spawn_blocking(move || sweep.finish(thread))
                .await
                .ok()
                .flatten(),
            None => None,
        };
        let ended = supervised.ended?;
        if let Some(e) = setup_error(&ended.records) {
            return Err(e);
        }
        if let Some(e) = exec_error(&ended.records, &step) {
            return Err(e);
        }
        let status = ended
            .records
            .iter()
            .find_map(|r| match r {
                Record::Status {
                    signaled: false,
                    value,
                } => Some(ExitStatus::Code(*value)),
                Record::Status {
                    signaled: true,
                    value,
                } => Some(ExitStatus::Signal(*value)),
                _ => None,
            })
            .or_else(|| {
                // Killed with its namespace (timeout or cancellation): no init was left to report.
                (supervised.ending != crate::Ending::Exited)
                    .then_some(ExitStatus::Signal(libc::SIGKILL))
            })
            .ok_or_else(|| {
                ExecError::Lost(format!(
                    "the sandbox ended without the step's status (its monitor: {:?})",
                    ended.reaped.status
                ))
            })?;
        Ok(StepOutcome {
            status,
            ending: supervised.ending,
            usage: ResourceUsage {
                wall: started_at.elapsed(),
                user_cpu: ended.reaped.user_cpu,
                system_cpu: ended.reaped.system_cpu,
                max_rss_bytes: Some(ended.reaped.max_rss_bytes),
                peak_memory_bytes: cgroup.peak_memory(),
                oom_kills: cgroup.oom_kills(),
            },
            limits: cgroup.reports().to_vec(),
            containment: Containment::PidNamespace,
            output_complete: supervised.output_complete,
            sweep: sweep_report,
        })
    }
}

impl Executor for NamespaceExecutor {
    fn name(&self) -> &'static str {
        "namespace"
    }

    fn run<'a>(
        &'a self,
        step: StepSpec,
        output: mpsc::Sender<OutputChunk>,
        cancel: CancellationToken,
    ) -> StepFuture<'a> {
        Box::pin(self.run_step(step, output, cancel))
    }

    fn finish<'a>(&'a self) -> FinishFuture<'a> {
        Box::pin(async {
            self.job.finish().await;
            Ok(SandboxReport::default())
        })
    }
}

/// A host setting known to forbid the sandbox, as a reason, or `None`.
fn host_setting_blocks_user_namespaces() -> Option<String> {
    let read = |p: &str| std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned());
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return Some("user namespaces are disabled (user.max_user_namespaces = 0)".to_owned());
    }
    if !nix::unistd::geteuid().is_root() {
        if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
            return Some(
                "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)"
                    .to_owned(),
            );
        }
        if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
            return Some(
                "AppArmor restricts unprivileged user namespaces \
                 (kernel.apparmor_restrict_unprivileged_userns = 1)"
                    .to_owned(),
            );
        }
    }
    None
}

pub(crate) fn setup_error(records: &[Record]) -> Option<ExecError> {
    records.iter().find_map(|r| match r {
        Record::SetupFailed { stage, errno } => Some(ExecError::SandboxSetup {
            stage: Stage::from_code(*stage)
                .map(Stage::describe)
                .unwrap_or("an unknown stage"),
            source: std::io::Error::from_raw_os_error(*errno),
        }),
        _ => None,
    })
}

fn exec_error(records: &[Record], step: &StepSpec) -> Option<ExecError> {
    records.iter().find_map(|r| match *r {
        Record::ExecFailed {
            in_chdir: true,
            errno,
        } => Some(ExecError::WorkingDir {
            path: step.working_dir.clone(),
            source: std::io::Error::from_raw_os_error(errno),
        }),
        Record::ExecFailed {
            in_chdir: false,
            errno,
        } if errno == libc::ENOENT => Some(ExecError::ProgramNotFound {
            program: step.program.clone(),
        }),
        Record::ExecFailed {
            in_chdir: false,
            errno,
        } => Some(ExecError::Exec {
            program: step.program.clone(),
            source: std::io::Error::from_raw_os_error(errno),
        }),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_paths_below_the_new_root() {
        assert_eq!(staged(Path::new("/")).ok(), Some(c"/tmp".to_owned()));
        assert_eq!(staged(Path::new("/usr")).ok(), Some(c"/tmp/usr".to_owned()));
    }

    #[test]
    fn rejects_relative_reserved_and_missing_paths() {
        assert!(canonical(Path::new("relative")).is_err());
        assert!(canonical(Path::new("/proc/self")).is_err());
        assert!(canonical(Path::new("/")).is_err());
        assert!(canonical(Path::new("/definitely/not/here")).is_err());
        assert!(canonical(Path::new("/usr")).is_ok());
    }
}
