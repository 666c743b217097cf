//! Network namespaces: made and removed by name (`ip netns`, bind-mounted under `/run/netns`),
//! and entered by a thread or by a child process before `exec`.
//!
//! hrun never switches the namespace of a thread it did not start for that purpose: sockets
//! that must live in a namespace are created by a short-lived thread that entered it
//! ([`Netns::run`]); long-lived threads enter theirs once at start ([`Netns::spawn`]); child
//! processes enter it between `fork` and `exec` ([`Netns::enter_before_exec`]).
//!
//! Must never: call `setns` on a thread of the caller's (a tokio worker would carry the job's
//! namespace into unrelated tasks).

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::thread::JoinHandle;

use nix::sched::{setns, CloneFlags};

use super::command::{is_already_gone, IP};
use super::error::EgressError;

/// Where `ip netns` keeps named namespaces.
pub(crate) const NETNS_DIR: &str = "/run/netns";

/// An open network namespace: a named one, or the runner's own.
#[derive(Debug, Clone)]
pub(crate) struct Netns {
    name: Option<String>,
    fd: Arc<OwnedFd>,
}

impl Netns {
    /// Makes the named namespace (`ip netns add`) and opens it.
    pub fn create(name: &str) -> Result<Self, EgressError> {
        IP.run(&["netns", "add", name], None, None)?;
        Self::open(name)
    }

    /// Opens an existing named namespace.
    pub fn open(name: &str) -> Result<Self, EgressError> {
        let path = PathBuf::from(NETNS_DIR).join(name);
        let file = File::open(&path)
            .map_err(|err| EgressError::io(format!("opening {}", path.display()), err))?;
        Ok(Netns {
            name: Some(name.to_string()),
            fd: Arc::new(OwnedFd::from(file)),
        })
    }

    /// The namespace of the calling thread (the runner's: the host's).
    pub fn current() -> Result<Self, EgressError> {
        let file = File::open("/proc/thread-self/ns/net")
            .map_err(|err| EgressError::io("opening this thread's network namespace", err))?;
        Ok(Netns {
            name: None,
            fd: Arc::new(OwnedFd::from(file)),
        })
    }

    /// The name under `/run/netns`, or `None` for the runner's own namespace.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Runs `f` on a new thread inside this namespace and returns its result. Sockets `f`
    /// creates belong to this namespace wherever they are used later.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, EgressError> {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    self.enter_this_thread()?;
                    Ok(f())
                })
                .join()
                .unwrap_or_else(|_| {
                    Err(EgressError::io(
                        "a thread working in a job namespace",
                        io::Error::other("it panicked"),
                    ))
                })
        })
    }

    /// Starts a named thread that lives inside this namespace; threads it starts live there too.
    pub fn spawn<T: Send + 'static>(
        &self,
        thread_name: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<JoinHandle<Result<T, EgressError>>, EgressError> {
        let netns = self.clone();
        std::thread::Builder::new()
            .name(thread_name.to_string())
            .spawn(move || {
                netns.enter_this_thread()?;
                drop(netns);
                Ok(f())
            })
            .map_err(|err| EgressError::io("starting a job network thread", err))
    }

    /// Makes the child of `command` enter this namespace before `exec`.
    pub fn enter_before_exec(&self, command: &mut Command) {
        let fd = Arc::clone(&self.fd);
        // SAFETY: the closure runs in the child between fork and exec, where only
        // async-signal-safe calls are allowed: it calls setns(2) on a descriptor the Arc it owns
        // keeps open (the parent's copy of the Arc outlives the spawn call) and, on failure, reads
        // errno; it allocates nothing and takes no lock.
        unsafe {
            command.pre_exec(move || {
                if libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            });
        }
    }

    fn enter_this_thread(&self) -> Result<(), EgressError> {
        // Only called on threads started by this module for the purpose (see module doc).
        setns(&*self.fd, CloneFlags::CLONE_NEWNET).map_err(|errno| {
            EgressError::io(
                format!(
                    "entering network namespace {}",
                    self.name.as_deref().unwrap_or("of the runner")
                ),
                errno.into(),
            )
        })
    }
}

/// Removes a named namespace (`ip netns del`); one that is already gone is not an error.
pub(crate) fn delete(name: &str) -> Result<(), EgressError> {
    match IP.run(&["netns", "del", name], None, None) {
        Err(err) if is_already_gone(&err) => Ok(()),
        other => other.map(drop),
    }
}

/// The names under `/run/netns`.
pub(crate) fn list_named() -> Vec<String> {
    std::fs::read_dir(NETNS_DIR)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}
