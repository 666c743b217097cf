//! Reading a `/proc`: its processes, and each one's status, environment and command line.
//!
//! The files are what the kernel (or a process, which may rewrite its own environment and
//! argument strings) makes them: NUL-separated entries that need not be UTF-8, an entry without
//! `=`, no final NUL, megabytes of it, or nothing at all when the process has just ended. The
//! parsers take any bytes; the reader caps what it reads ([`MAX_FILE`]) and treats a process that
//! vanished between listing and reading as absent.
//!
//! A [`ProcDir`] is an open directory: every file is opened relative to it without following a
//! final link, so a step's `/proc` reached through its init's root stays the one opened.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;

/// Most bytes read from one file of a process (its environment or command line): what the
/// kernel lets `execve` pass with a large stack limit; the rest is not searched.
pub const MAX_FILE: usize = 4 << 20;

/// Most bytes read from a `status` file.
const MAX_STATUS: usize = 16 << 10;

/// Most processes looked at in one listing.
const MAX_PROCESSES: usize = 65_536;

/// An open `/proc` (or a directory laid out like one, in tests).
#[derive(Debug)]
pub struct ProcDir {
    fd: OwnedFd,
}

/// What a sweep needs from `/proc/<pid>/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcStatus {
    /// `Name:` (the kernel escapes it).
    pub name: Vec<u8>,
    /// `State:` is `Z` (nothing left to read) or `X`.
    pub dead: bool,
    /// Real, effective, saved and file-system uid.
    pub uids: Vec<u32>,
    /// `NSpid:`: the pid in each PID namespace, outermost first.
    pub ns_pids: Vec<i32>,
}

impl ProcDir {
    /// Opens the directory at `path` (following links on the way: `/proc/<pid>/root/proc`).
    pub fn open(path: &Path) -> io::Result<ProcDir> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(path)?;
        Ok(ProcDir {
            fd: OwnedFd::from(file),
        })
    }

    /// The directory as an open file (for `metadata`, `statfs`).
    pub fn file(&self) -> io::Result<File> {
        Ok(File::from(self.fd.try_clone()?))
    }

    /// The pids listed (numeric entries), at most [`MAX_PROCESSES`], in no particular order.
    pub fn pids(&self) -> io::Result<Vec<i32>> {
        // The directory is read through its descriptor's name in our own /proc, so a fresh
        // listing is made each time from the directory that was opened.
        let listing = std::fs::read_dir(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))?;
        Ok(listing
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| *pid > 0)
            .take(MAX_PROCESSES)
            .collect())
    }

    /// Reads `<pid>/<file>`, at most `cap` bytes. A process that has vanished is `NotFound`
    /// (or `ESRCH`, which callers treat alike).
    pub fn read(&self, pid: i32, file: &str, cap: usize) -> io::Result<Vec<u8>> {
        let fd = openat(
            &self.fd,
            format!("{pid}/{file}").as_str(),
            OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK,
            Mode::empty(),
        )
        .map_err(io::Error::from)?;
        let mut out = Vec::new();
        File::from(fd)
            .take(cap as u64)
            .read_to_end(&mut out)
            .map(|_| out)
    }

    /// `<pid>/status`, parsed.
    pub fn status(&self, pid: i32) -> io::Result<ProcStatus> {
        self.read(pid, "status", MAX_STATUS)
            .map(|bytes| parse_status(&bytes))
    }
}

/// Parses a `status` file; fields it lacks stay empty.
pub fn parse_status(bytes: &[u8]) -> ProcStatus {
    let mut status = ProcStatus::default();
    for line in bytes.split(|b| *b == b'\n') {
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let (key, rest) = line.split_at(colon);
        let value = rest.get(1..).unwrap_or_default().trim_ascii();
        match key {
            b"Name" => status.name = value.to_vec(),
            b"State" => status.dead = matches!(value.first(), Some(b'Z' | b'X')),
            b"Uid" => status.uids = numbers(value),
            b"NSpid" => status.ns_pids = numbers(value),
            _ => {}
        }
    }
    status
}

fn numbers<T: std::str::FromStr>(value: &[u8]) -> Vec<T> {
    value
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .filter_map(|w| std::str::from_utf8(w).ok()?.parse().ok())
        .collect()
}

/// One `NAME=value` entry of an environment, as byte ranges of the buffer it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvEntry {
    /// Where the entry starts.
    pub start: usize,
    /// Where the name ends (the `=`, or the entry's end when it has none).
    pub name_end: usize,
    /// Where the value starts (after the `=`) and ends.
    pub value_start: usize,
    pub end: usize,
}

impl EnvEntry {
    pub fn name<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.start..self.name_end).unwrap_or_default()
    }

    pub fn value<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.value_start..self.end).unwrap_or_default()
    }
}

/// The entries of an environment file: NUL-separated, empty ones skipped, an entry without `=`
/// kept as a name with an empty value. Bytes need not be UTF-8.
pub fn environ_entries(buf: &[u8]) -> Vec<EnvEntry> {
    let mut entries = Vec::new();
    let mut start = 0;
    while start < buf.len() {
        let end = memchr::memchr(0, buf.get(start..).unwrap_or_default())
            .map_or(buf.len(), |i| start + i);
        if end > start {
            let entry = buf.get(start..end).unwrap_or_default();
            let (name_end, value_start) = match memchr::memchr(b'=', entry) {
                Some(eq) => (start + eq, start + eq + 1),
                None => (end, end),
            };
            entries.push(EnvEntry {
                start,
                name_end,
                value_start,
                end,
            });
        }
        start = end + 1;
    }
    entries
}

/// The arguments of a command-line file as byte ranges: NUL-separated, the final NUL (if any)
/// ending the last argument, an empty argument kept (it has an index).
pub fn cmdline_args(buf: &[u8]) -> Vec<(usize, usize)> {
    if buf.is_empty() {
        return Vec::new();
    }
    let body = match buf.last() {
        Some(0) => buf.get(..buf.len() - 1).unwrap_or_default(),
        _ => buf,
    };
    let mut args = Vec::new();
    let mut start = 0;
    for i in memchr::memchr_iter(0, body) {
        args.push((start, i));
        start = i + 1;
    }
    args.push((start, body.len()));
    args
}
