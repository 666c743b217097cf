//! The namespaces a job's steps share: made once per job, entered by every step.
//!
//! Building a sandbox costs far more than a step of a script: a network namespace alone takes
//! most of a millisecond to create and tear down, and the file system is two dozen mounts and a
//! `pivot_root`. So once per job (when the executor is selected, see
//! [`NamespaceExecutor::set_up_now`](super::NamespaceExecutor::set_up_now), or else on its first
//! step) a set-up sandbox (the same monitor and init as
//! the probe, running no program) that creates the user, mount, UTS, IPC and (unless the network
//! is allowed) network namespaces and builds the file system in them; the runner opens
//! `/proc/<monitor>/ns/*` while the monitor waits for its uid/gid maps, and keeps those
//! descriptors. The set-up processes then exit: the descriptors alone keep the namespaces alive,
//! so there is no holder process to kill, and closing them (at [`JobSandbox::finish`], or when
//! the executor is dropped) releases the namespaces once the last step's processes are gone.
//!
//! What stays per step (see [`super::child`]): a PID namespace (its init's death ends every
//! process of the step), a copy of the mount namespace with the step's own `/proc` (and fresh
//! `/tmp` and `/dev/shm` without a per-job `/tmp`), a cgroup namespace, the step's cgroups, the
//! capability drop, the timeout and cancellation.
//!
//! Must never: hand a step namespaces of another job, or keep them after `finish`.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use nix::unistd::Pid;
use tokio::sync::{oneshot, Mutex};

use super::child::{JoinFds, SandboxImage, JOB_NAMESPACES};
use super::launch::{run_on_thread, Namespaces, SandboxJob};
use super::protocol::Record;
use super::{setup_error, IdMaps};
use crate::cgroup::StepCgroup;
use crate::ExecError;

/// Open descriptors of a job's namespaces, in [`JOB_NAMESPACES`] order.
#[derive(Debug)]
pub(crate) struct JobNamespaces {
    fds: Vec<OwnedFd>,
}

impl JobNamespaces {
    /// Opens the [`JOB_NAMESPACES`] of the process `pid` (a child of the runner, not yet
    /// reaped, so the pid names it); the network one only when the sandbox has its own.
    pub(crate) fn open(pid: Pid, own_network: bool) -> std::io::Result<Self> {
        let shared = if own_network { 0 } else { 1 };
        let fds = JOB_NAMESPACES
            .iter()
            .take(JOB_NAMESPACES.len() - shared)
            .map(|(name, _)| {
                File::open(format!("/proc/{}/ns/{name}", pid.as_raw())).map(OwnedFd::from)
            })
            .collect::<Result<_, _>>()?;
        Ok(JobNamespaces { fds })
    }

    /// The descriptors as a step's monitor receives them.
    pub(crate) fn join_fds(&self) -> JoinFds {
        let mut join = JoinFds {
            fds: [-1; 5],
            count: 0,
        };
        for (slot, fd) in join.fds.iter_mut().zip(&self.fds) {
            *slot = fd.as_raw_fd();
            join.count += 1;
        }
        join
    }
}

#[derive(Debug, Default)]
enum State {
    #[default]
    NotMade,
    Ready(Arc<JobNamespaces>),
    Finished,
}

/// A job's namespaces, from their set-up to [`finish`](JobSandbox::finish).
#[derive(Debug, Default)]
pub(crate) struct JobSandbox {
    state: Mutex<State>,
}

impl JobSandbox {
    /// The job's namespaces; the first call (or the first after a failed set-up) makes them
    /// from `image`. Concurrent first calls wait for one set-up.
    pub(crate) async fn namespaces(
        &self,
        image: &Arc<SandboxImage>,
        maps: &IdMaps,
    ) -> Result<Arc<JobNamespaces>, ExecError> {
        let mut state = self.state.lock().await;
        match &*state {
            State::Ready(ns) => Ok(Arc::clone(ns)),
            State::Finished => Err(ExecError::Unavailable {
                name: "namespace",
                reason: "the job's sandbox was already finished".to_owned(),
            }),
            State::NotMade => {
                let (image, maps) = (Arc::clone(image), maps.clone());
                let made = tokio::task::spawn_blocking(move || set_up_blocking(image, maps, true))
                    .await
                    .map_err(|e| ExecError::Lost(format!("the sandbox's set-up failed: {e}")))??
                    .ok_or_else(|| ExecError::Lost("the set-up kept no namespaces".to_owned()))?;
                let ns = Arc::new(made);
                *state = State::Ready(Arc::clone(&ns));
                Ok(ns)
            }
        }
    }

    /// Takes namespaces made ahead of the first step; `false` when the sandbox was already
    /// made, finished or is being made.
    pub(crate) fn set_ready(&self, namespaces: JobNamespaces) -> bool {
        match self.state.try_lock() {
            Ok(mut state) if matches!(*state, State::NotMade) => {
                *state = State::Ready(Arc::new(namespaces));
                true
            }
            _ => false,
        }
    }

    /// Closes the job's namespaces (steps still running keep theirs until they end); later
    /// steps are refused.
    pub(crate) async fn finish(&self) {
        *self.state.lock().await = State::Finished;
    }
}

/// Runs a set-up sandbox (no program) on the calling thread, which it blocks for a few
/// milliseconds; the set-up processes have ended when it returns, so any thread will do. With
/// `keep`, returns the namespaces it made (the probe keeps none).
pub(crate) fn set_up_blocking(
    image: Arc<SandboxImage>,
    maps: IdMaps,
    keep: bool,
) -> Result<Option<JobNamespaces>, ExecError> {
    let (launched_tx, mut launched_rx) = oneshot::channel();
    let (ended_tx, mut ended_rx) = oneshot::channel();
    let job = SandboxJob {
        image,
        exec: None,
        cgroup: Arc::new(StepCgroup::default()),
        maps,
        namespaces: if keep {
            Namespaces::CreateAndKeep
        } else {
            Namespaces::Create
        },
        sweep: None,
    };
    run_on_thread(job, launched_tx, ended_tx);
    let early = || ExecError::Lost("the sandbox's set-up ended without a result".to_owned());
    // The set-up runs no program: its output pipes stay empty.
    drop(launched_rx.try_recv().map_err(|_| early())??);
    let ended = ended_rx.try_recv().map_err(|_| early())??;
    if let Some(e) = setup_error(&ended.records) {
        return Err(e);
    }
    match ended.kept {
        kept if ended.records.contains(&Record::SetupDone) && kept.is_some() == keep => Ok(kept),
        _ => Err(ExecError::Lost(format!(
            "the sandbox ended without finishing its set-up ({:?})",
            ended.reaped.status
        ))),
    }
}
