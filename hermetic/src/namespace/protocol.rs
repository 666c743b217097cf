//! The records the sandbox's helper processes send to the runner over a pipe.
//!
//! Fixed-size records (three native-endian 32-bit words) so the forked helpers can write them
//! without allocating, and so a reader never sees half a record (writes below `PIPE_BUF` bytes
//! are atomic).
//!
//! Must never: grow a variable-length field; a helper after `fork` cannot format strings.

use std::io;

/// Bytes in one record.
pub(crate) const RECORD_LEN: usize = 12;

/// Where in the set-up a helper failed. The number travels over the pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub(crate) enum Stage {
    Descriptors = 1,
    JoinCgroup,
    Unshare,
    WaitForParent,
    OpenSource,
    Identity,
    ParentDeathSignal,
    Fork,
    MakePrivate,
    Tmpfs,
    Mkdir,
    Touch,
    Symlink,
    Bind,
    ReadOnly,
    Proc,
    Hostname,
    Loopback,
    PivotRoot,
    DetachHost,
    Capabilities,
    Spawn,
    EnterNamespace,
}

const STAGES: [Stage; 23] = [
    Stage::Descriptors,
    Stage::JoinCgroup,
    Stage::Unshare,
    Stage::WaitForParent,
    Stage::OpenSource,
    Stage::Identity,
    Stage::ParentDeathSignal,
    Stage::Fork,
    Stage::MakePrivate,
    Stage::Tmpfs,
    Stage::Mkdir,
    Stage::Touch,
    Stage::Symlink,
    Stage::Bind,
    Stage::ReadOnly,
    Stage::Proc,
    Stage::Hostname,
    Stage::Loopback,
    Stage::PivotRoot,
    Stage::DetachHost,
    Stage::Capabilities,
    Stage::Spawn,
    Stage::EnterNamespace,
];

impl Stage {
    pub(crate) fn from_code(code: i32) -> Option<Stage> {
        STAGES.iter().copied().find(|s| *s as i32 == code)
    }

    /// What the stage does, for error messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Stage::Descriptors => "arranging file descriptors",
            Stage::JoinCgroup => "joining the step's cgroup",
            Stage::Unshare => "creating namespaces (unshare)",
            Stage::WaitForParent => "waiting for the runner to write the uid/gid maps",
            Stage::OpenSource => "opening a host path to bind",
            Stage::Identity => "switching to the sandbox's uid/gid",
            Stage::ParentDeathSignal => "setting the parent-death signal",
            Stage::Fork => "starting the sandbox's init",
            Stage::MakePrivate => "making mounts private",
            Stage::Tmpfs => "mounting a tmpfs",
            Stage::Mkdir => "creating a mount point",
            Stage::Touch => "creating a file mount point",
            Stage::Symlink => "creating a symbolic link",
            Stage::Bind => "bind-mounting a host path",
            Stage::ReadOnly => "making a mount read-only",
            Stage::Proc => "mounting /proc",
            Stage::Hostname => "setting the hostname",
            Stage::Loopback => "bringing up the loopback interface",
            Stage::PivotRoot => "switching to the new root (pivot_root)",
            Stage::DetachHost => "detaching the host file system",
            Stage::Capabilities => "dropping capabilities",
            Stage::Spawn => "preparing to start the step (posix_spawn attributes)",
            Stage::EnterNamespace => "entering the job's namespaces (setns)",
        }
    }
}

/// One message from a helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record {
    /// The set-up monitor has created the namespaces; the runner may write the uid/gid maps.
    Unshared,
    /// Set-up failed at `stage` with `errno`.
    SetupFailed { stage: i32, errno: i32 },
    /// The step could not start: `chdir` (when `in_chdir`) or `execve` failed with `errno`.
    ExecFailed { in_chdir: bool, errno: i32 },
    /// The step's program is running.
    Started,
    /// The step's main process ended with this raw kind (1 exit code, 2 signal) and value.
    Status { signaled: bool, value: i32 },
    /// Set-up finished and no program was asked for (the job's set-up sandbox, the probe).
    SetupDone,
    /// The monitor forked the init, whose pid (in the runner's PID namespace) is `pid`.
    InitForked { pid: i32 },
}

impl Record {
    pub(crate) fn encode(self) -> [u8; RECORD_LEN] {
        let (kind, a, b) = match self {
            Record::Unshared => (1, 0, 0),
            Record::SetupFailed { stage, errno } => (2, stage, errno),
            Record::ExecFailed { in_chdir, errno } => (3, i32::from(in_chdir), errno),
            Record::Started => (4, 0, 0),
            Record::Status { signaled, value } => (5, i32::from(signaled), value),
            Record::SetupDone => (6, 0, 0),
            Record::InitForked { pid } => (7, pid, 0),
        };
        let mut out = [0u8; RECORD_LEN];
        for (chunk, word) in out.chunks_exact_mut(4).zip([kind, a, b]) {
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        out
    }

    pub(crate) fn decode(bytes: &[u8; RECORD_LEN]) -> Option<Record> {
        let mut words = bytes.chunks_exact(4).map(word);
        let (kind, a, b) = (words.next()?, words.next()?, words.next()?);
        Some(match kind {
            1 => Record::Unshared,
            2 => Record::SetupFailed { stage: a, errno: b },
            3 => Record::ExecFailed {
                in_chdir: a != 0,
                errno: b,
            },
            4 => Record::Started,
            5 => Record::Status {
                signaled: a != 0,
                value: b,
            },
            6 => Record::SetupDone,
            7 => Record::InitForked { pid: a },
            _ => return None,
        })
    }
}

/// The native-endian `i32` in the first four bytes of `bytes` (missing bytes read as zero).
/// Fork-safe.
pub(crate) fn word(bytes: &[u8]) -> i32 {
    let mut w = [0u8; 4];
    for (dst, src) in w.iter_mut().zip(bytes) {
        *dst = *src;
    }
    i32::from_ne_bytes(w)
}

/// Reads one record; `Ok(None)` at end-of-file (every helper has exited).
pub(crate) fn read_record(reader: &mut impl io::Read) -> io::Result<Option<Record>> {
    let mut buf = [0u8; RECORD_LEN];
    let mut got = 0;
    while got < RECORD_LEN {
        match reader.read(buf.get_mut(got..).unwrap_or_default()) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Record::decode(&buf)
        .map(Some)
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_record_round_trips() {
        let records = [
            Record::Unshared,
            Record::SetupFailed {
                stage: Stage::Bind as i32,
                errno: 13,
            },
            Record::ExecFailed {
                in_chdir: true,
                errno: 2,
            },
            Record::Started,
            Record::Status {
                signaled: true,
                value: 9,
            },
            Record::SetupDone,
            Record::InitForked { pid: 4242 },
        ];
        let mut stream = Vec::new();
        for r in records {
            stream.extend_from_slice(&r.encode());
        }
        let mut reader = stream.as_slice();
        for r in records {
            assert_eq!(read_record(&mut reader).ok().flatten(), Some(r));
        }
        assert!(matches!(read_record(&mut reader), Ok(None)));
    }

    #[test]
    fn rejects_truncated_and_unknown_records() {
        let mut short: &[u8] = &[1, 0, 0];
        assert!(read_record(&mut short).is_err());
        let mut unknown: &[u8] = &[99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(read_record(&mut unknown).is_err());
    }

    #[test]
    fn every_stage_code_maps_back() {
        for stage in STAGES {
            assert_eq!(Stage::from_code(stage as i32), Some(stage));
        }
        assert_eq!(Stage::from_code(0), None);
    }
}
