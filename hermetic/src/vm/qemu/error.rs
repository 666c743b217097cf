//! Why a microVM could not be launched, reached or controlled.
//!
//! Must never: carry guest output (it may hold a job's secrets) beyond QEMU's own log lines.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// A failure of the VM's host side: QEMU, its run directory, disks, QMP, the accelerator cache.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// The QEMU binary could not be started.
    #[error("cannot start QEMU `{}`: {source}", program.display())]
    Spawn {
        /// The binary as configured.
        program: PathBuf,
        /// The `exec` error.
        source: io::Error,
    },
    /// A file or directory of the VM could not be made or used.
    #[error("{what} {}: {source}", path.display())]
    Path {
        /// What the path is for.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The system error.
        source: io::Error,
    },
    /// A unix socket path is longer than the kernel accepts (108 bytes).
    #[error("socket path {} is too long for a unix socket; use a shorter HRUN_CACHE", path.display())]
    SocketPathTooLong {
        /// The path.
        path: PathBuf,
    },
    /// `mkfs.ext4` failed on the scratch disk.
    #[error("cannot format the scratch disk {}: {reason}", path.display())]
    Mkfs {
        /// The disk file.
        path: PathBuf,
        /// What `mkfs.ext4` said, or why it did not run.
        reason: String,
    },
    /// QEMU ended before the guest answered.
    #[error("QEMU exited {status} before the guest answered{log}")]
    Exited {
        /// How it ended.
        status: String,
        /// The last lines of QEMU's log (and console), prefixed with a colon when present.
        log: String,
    },
    /// The guest sent nothing within the deadline.
    #[error("the guest did not answer within {:.1} s{log}", deadline.as_secs_f64())]
    NoAnswer {
        /// How long the host waited.
        deadline: Duration,
        /// The last lines of QEMU's log (and console), prefixed with a colon when present.
        log: String,
    },
    /// The VM was killed because the job's timeout passed.
    #[error("the VM was killed at the job timeout ({:.0} s)", timeout.as_secs_f64())]
    JobTimeout {
        /// The job timeout.
        timeout: Duration,
    },
    /// The QMP control socket failed or QEMU answered with an error.
    #[error("QMP: {0}")]
    Qmp(String),
    /// The operating system refused an operation of the VM's host side.
    #[error("{what}: {source}")]
    System {
        /// What was being done.
        what: &'static str,
        /// The system error.
        source: io::Error,
    },
}

impl VmError {
    pub(crate) fn path(what: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        VmError::Path {
            what,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn system(what: &'static str, source: io::Error) -> Self {
        VmError::System { what, source }
    }
}
