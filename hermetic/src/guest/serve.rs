//! The agent's request loop: Hello, then one request at a time until Shutdown or the host leaves.
//!
//! Every request gets exactly one answer (`Ready`, `StepEnded`, `Pushed`, `Pulled`, `Bye` or
//! `Error`); a malformed control frame is answered with an `Error` and the loop goes on, since
//! frames are self-delimiting. A frame that breaks the framing itself (bad length, unknown kind)
//! ends the loop: nothing after it can be trusted, and the host kills the VM anyway.
//!
//! Must never: panic on a request, serve steps before Setup, or accept a synced root that is
//! not an absolute plain path.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::channel::Channel;
use super::machine::Machine;
use super::step::{run_step, StepPlace, StepResult};
use super::sweep::StepUser;
use crate::scan::{KnownSecrets, RulePack, Scanner};
use crate::sweep::SweepConfig;
use crate::vm::protocol::{
    check_version, Access, Failure, FailureKind, FrameKind, Hello, HostMessage, Message,
    ProtocolError, PullRequest, PushRequest, Ready, Reply, Request, Setup, SyncStats, WireSweep,
    DATA_CHUNK_LEN, FEATURE_SWEEP, PROTOCOL_VERSION,
};

/// Shortest time between two sweeps of a running step the agent accepts, in milliseconds.
const MIN_SWEEP_INTERVAL_MS: u64 = 20;
use crate::vm::sync::{
    apply_removals, apply_tar, parse_removal_chunk, removal_chunks, write_tar, ApplyOptions,
    Manifest, RelPath, SyncError,
};

/// Why [`GuestAgent::serve`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeEnd {
    /// The host asked to shut down (and `Bye` was sent).
    Shutdown,
    /// The host closed the channel.
    HostGone,
}

/// The guest agent: a machine and a channel to the host.
pub struct GuestAgent<M, T> {
    machine: M,
    channel: Channel<T>,
    user: Option<StepUser>,
    manifests: HashMap<PathBuf, Manifest>,
    /// The built-in rule pack, compiled for the first step whose sweeps ask for it.
    rules: Option<Arc<Scanner>>,
}

impl<M: Machine, T: Read + Write + AsFd> GuestAgent<M, T> {
    /// An agent serving `io` on `machine`.
    pub fn new(machine: M, io: T) -> Self {
        GuestAgent {
            machine,
            channel: Channel::new(io),
            user: None,
            manifests: HashMap::new(),
            rules: None,
        }
    }

    /// The machine (to power it off after serving).
    pub fn machine_mut(&mut self) -> &mut M {
        &mut self.machine
    }

    /// Sends Hello and answers requests until Shutdown or the end of the channel. An error is a
    /// broken channel or framing; the caller ends the machine.
    pub fn serve(&mut self) -> Result<ServeEnd, ProtocolError> {
        let hello = Hello {
            version: PROTOCOL_VERSION,
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            kernel_release: self.machine.kernel_release(),
            boot_ms: self.machine.uptime_ms(),
            notes: self.machine.boot_notes(),
            features: vec![FEATURE_SWEEP.to_owned()],
        };
        self.channel.send(&Reply::Hello(hello))?;
        loop {
            let message = match self.channel.recv() {
                Ok(Some(message)) => message,
                Ok(None) => return Ok(ServeEnd::HostGone),
                Err(ProtocolError::Malformed { what, reason }) => {
                    let failure = Failure::new(
                        FailureKind::Protocol,
                        format!("malformed {what} message: {reason}"),
                    );
                    self.channel.send(&Reply::Error(failure))?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let request = match message {
                Message::Control(request) => request,
                other => {
                    let failure = Failure::new(
                        FailureKind::Protocol,
                        format!("unexpected {} frame outside a delta", data_name(&other)),
                    );
                    self.channel.send(&Reply::Error(failure))?;
                    continue;
                }
            };
            let reply = match request {
                Request::Setup(setup) => self.setup(&setup),
                Request::RunStep(step) => match self.run(step)? {
                    Some(reply) => reply,
                    None => return Ok(ServeEnd::HostGone),
                },
                // A cancel that arrives after its step ended: nothing to do, nothing to answer.
                Request::Cancel => continue,
                Request::Push(push) => self.push(push)?,
                Request::Pull(pull) => self.pull(pull)?,
                Request::Shutdown => {
                    self.channel.send(&Reply::Bye)?;
                    return Ok(ServeEnd::Shutdown);
                }
            };
            self.channel.send(&reply)?;
        }
    }

    fn setup(&mut self, setup: &Setup) -> Reply {
        if let Err(e) = check_version(setup.version, PROTOCOL_VERSION) {
            return Reply::Error(Failure::new(FailureKind::Version, e.to_string()));
        }
        if self.user.is_some() {
            return Reply::Error(Failure::new(
                FailureKind::Protocol,
                "the machine is already set up",
            ));
        }
        if setup.step_uid == 0 || setup.step_gid == 0 {
            return Reply::Error(Failure::new(
                FailureKind::InvalidRequest,
                "steps never run as uid or gid 0",
            ));
        }
        if let Err(failure) = self.machine.setup(setup) {
            return Reply::Error(failure);
        }
        self.user = Some(StepUser {
            uid: setup.step_uid,
            gid: setup.step_gid,
        });
        Reply::Ready(Ready {
            boot_ms: self.machine.uptime_ms(),
        })
    }

    /// `None` when the host left during the step.
    fn run(&mut self, step: crate::vm::protocol::RunStep) -> Result<Option<Reply>, ProtocolError> {
        let Some(user) = self.user else {
            return Ok(Some(not_set_up()));
        };
        let working_dir = match plain_absolute(step.working_dir.as_path()) {
            Ok(path) => path,
            Err(failure) => return Ok(Some(Reply::Error(failure))),
        };
        let sweep = step.sweep.as_ref().map(|wire| self.sweep_config(wire));
        let place = StepPlace {
            chroot: self.machine.step_root(),
            resolved_cwd: self.machine.resolve(working_dir),
            user,
        };
        let machine = &self.machine;
        let reap = || machine.reap_orphans();
        Ok(
            match run_step(&mut self.channel, &place, step, sweep, &reap)? {
                StepResult::Ended(ended) => Some(Reply::StepEnded(ended)),
                StepResult::NotStarted(failure) => Some(Reply::Error(failure)),
                StepResult::HostGone => None,
            },
        )
    }

    /// What a step's sweeps look for, from the host's request.
    fn sweep_config(&mut self, wire: &WireSweep) -> SweepConfig {
        let mut secrets = KnownSecrets::new();
        for secret in &wire.secrets {
            secrets.add(&secret.name, &secret.value);
        }
        let rules = wire.rules.then(|| {
            Arc::clone(
                self.rules
                    .get_or_insert_with(|| Arc::new(Scanner::new(RulePack::builtin()))),
            )
        });
        let mut config = SweepConfig::new(Arc::new(secrets), rules);
        config.interval = Duration::from_millis(wire.interval_ms.max(MIN_SWEEP_INTERVAL_MS));
        config
    }

    fn push(&mut self, push: PushRequest) -> Result<Reply, ProtocolError> {
        // The delta's frames follow whatever happens: receive them all, whether used or not.
        let prepared = self.prepare_push(&push);
        let (resolved, options) = match prepared {
            Ok(ok) => ok,
            Err(failure) => {
                self.discard_delta()?;
                return Ok(Reply::Error(failure));
            }
        };
        let applied = self.receive_delta(&resolved, &options)?;
        let stats = match applied {
            Ok(stats) => stats,
            Err(e) => return Ok(Reply::Error(sync_failure(&e))),
        };
        match Manifest::scan(&resolved) {
            Ok(manifest) => {
                self.manifests.insert(push.root.into_path_buf(), manifest);
            }
            Err(e) => return Ok(Reply::Error(sync_failure(&e))),
        }
        if push.access == Access::ReadOnly {
            if let Err(failure) = self.machine.seal_read_only(&resolved) {
                return Ok(Reply::Error(failure));
            }
        }
        Ok(Reply::Pushed(stats))
    }

    fn prepare_push(&self, push: &PushRequest) -> Result<(PathBuf, ApplyOptions), Failure> {
        let Some(user) = self.user else {
            return Err(Failure::new(FailureKind::Protocol, "push before setup"));
        };
        let root = plain_absolute(push.root.as_path())?;
        let owner = match push.access {
            Access::Writable => (user.uid, user.gid),
            Access::ReadOnly => (0, 0),
        };
        let resolved = self.machine.resolve(root);
        make_root(&resolved, owner).map_err(|e| sync_failure(&e))?;
        Ok((
            resolved,
            ApplyOptions {
                owner: Some(owner),
                ..ApplyOptions::default()
            },
        ))
    }

    /// Reads a delta's frames (removed paths, tar, end) and applies them under `root`. The
    /// outer error is a broken channel; the inner one a delta that could not be applied (its
    /// remaining frames have been read).
    fn receive_delta(
        &mut self,
        root: &Path,
        options: &ApplyOptions,
    ) -> Result<Result<SyncStats, SyncError>, ProtocolError> {
        let mut removed: Vec<RelPath> = Vec::new();
        let mut first_tar: Option<Vec<u8>> = None;
        let mut failure: Option<SyncError> = None;
        loop {
            match self.next_delta_frame()? {
                DeltaFrame::Removed(chunk) => match parse_removal_chunk(&chunk) {
                    Ok(paths) => removed.extend(paths),
                    Err(e) => {
                        failure.get_or_insert(e);
                    }
                },
                DeltaFrame::Tar(bytes) => {
                    first_tar = Some(bytes);
                    break;
                }
                DeltaFrame::End => break,
            }
        }
        if let Some(e) = failure {
            if first_tar.is_some() {
                self.discard_delta()?;
            }
            return Ok(Err(e));
        }
        let removed_count = match apply_removals(root, &removed) {
            Ok(n) => n,
            Err(e) => {
                if first_tar.is_some() {
                    self.discard_delta()?;
                }
                return Ok(Err(e));
            }
        };
        let Some(first) = first_tar else {
            return Ok(Ok(SyncStats {
                removed: removed_count,
                ..SyncStats::default()
            }));
        };
        let mut reader = DeltaReader {
            agent_channel: &mut self.channel,
            current: first,
            offset: 0,
            ended: false,
            broken: None,
        };
        let result = apply_tar(root, &mut reader, options);
        if let Some(e) = reader.broken.take() {
            return Err(e);
        }
        let ended = reader.ended;
        if !ended {
            self.discard_delta()?;
        }
        Ok(result.map(|stats| SyncStats {
            removed: removed_count,
            ..stats
        }))
    }

    fn next_delta_frame(&mut self) -> Result<DeltaFrame, ProtocolError> {
        next_delta_frame(&mut self.channel)
    }

    /// Reads and drops frames up to the end of the current delta.
    fn discard_delta(&mut self) -> Result<(), ProtocolError> {
        loop {
            if let DeltaFrame::End = self.next_delta_frame()? {
                return Ok(());
            }
        }
    }

    fn pull(&mut self, pull: PullRequest) -> Result<Reply, ProtocolError> {
        if self.user.is_none() {
            return Ok(not_set_up());
        }
        let root = match plain_absolute(pull.root.as_path()) {
            Ok(root) => root.to_path_buf(),
            Err(failure) => return Ok(Reply::Error(failure)),
        };
        let resolved = self.machine.resolve(&root);
        let now = match Manifest::scan(&resolved) {
            Ok(now) => now,
            Err(e) => return Ok(Reply::Error(sync_failure(&e))),
        };
        let empty = Manifest::empty();
        let before = self.manifests.get(&root).unwrap_or(&empty);
        let changes = before.diff(&now);
        for chunk in removal_chunks(&changes.removed, DATA_CHUNK_LEN) {
            self.channel.send_data(FrameKind::Removed, &chunk)?;
        }
        let mut writer = FrameWriter {
            channel: &mut self.channel,
            buf: Vec::with_capacity(DATA_CHUNK_LEN),
            broken: None,
        };
        let packed = write_tar(&resolved, &changes, &mut writer);
        if let Some(e) = writer.broken.take() {
            return Err(e);
        }
        self.channel.send_end()?;
        match packed {
            Ok(stats) => {
                self.manifests.insert(root, now);
                Ok(Reply::Pulled(SyncStats {
                    removed: changes.removed.len() as u64,
                    ..stats
                }))
            }
            Err(e) => Ok(Reply::Error(sync_failure(&e))),
        }
    }
}

enum DeltaFrame {
    Removed(Vec<u8>),
    Tar(Vec<u8>),
    End,
}

fn next_delta_frame<T: Read + Write + AsFd>(
    channel: &mut Channel<T>,
) -> Result<DeltaFrame, ProtocolError> {
    match channel.recv()? {
        Some(Message::Removed(chunk)) => Ok(DeltaFrame::Removed(chunk)),
        Some(Message::Tar(bytes)) => Ok(DeltaFrame::Tar(bytes)),
        Some(Message::End) => Ok(DeltaFrame::End),
        Some(other) => Err(ProtocolError::Malformed {
            what: "delta",
            reason: format!("a {} frame inside a delta", data_name(&other)),
        }),
        None => Err(ProtocolError::Truncated),
    }
}

/// Tar frames of the delta being received, as one byte stream ending at the end frame.
struct DeltaReader<'a, T> {
    agent_channel: &'a mut Channel<T>,
    current: Vec<u8>,
    offset: usize,
    ended: bool,
    broken: Option<ProtocolError>,
}

impl<T: Read + Write + AsFd> Read for DeltaReader<'_, T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let rest = self.current.get(self.offset..).unwrap_or_default();
            if !rest.is_empty() {
                let n = rest.len().min(buf.len());
                if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
                    dst.copy_from_slice(src);
                }
                self.offset += n;
                return Ok(n);
            }
            if self.ended {
                return Ok(0);
            }
            match next_delta_frame(self.agent_channel) {
                Ok(DeltaFrame::Tar(bytes)) => {
                    self.current = bytes;
                    self.offset = 0;
                }
                Ok(DeltaFrame::End) => self.ended = true,
                Ok(DeltaFrame::Removed(_)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "removed-path frame after the tar stream started",
                    ))
                }
                Err(e) => {
                    let message = e.to_string();
                    self.broken = Some(e);
                    return Err(io::Error::new(io::ErrorKind::BrokenPipe, message));
                }
            }
        }
    }
}

/// A byte stream sent as tar frames of at most the data chunk size.
struct FrameWriter<'a, T> {
    channel: &'a mut Channel<T>,
    buf: Vec<u8>,
    broken: Option<ProtocolError>,
}

impl<T: Read + Write + AsFd> FrameWriter<'_, T> {
    fn send_buffered(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = self.channel.send_data(FrameKind::Tar, &self.buf);
        self.buf.clear();
        result.map_err(|e| {
            let message = e.to_string();
            self.broken = Some(e);
            io::Error::new(io::ErrorKind::BrokenPipe, message)
        })
    }
}

impl<T: Read + Write + AsFd> Write for FrameWriter<'_, T> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let room = DATA_CHUNK_LEN.saturating_sub(self.buf.len());
        let n = room.min(bytes.len());
        self.buf
            .extend_from_slice(bytes.get(..n).unwrap_or_default());
        if self.buf.len() >= DATA_CHUNK_LEN {
            self.send_buffered()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffered()
    }
}

fn not_set_up() -> Reply {
    Reply::Error(Failure::new(
        FailureKind::Protocol,
        "the machine is not set up yet (send Setup first)",
    ))
}

fn data_name(message: &HostMessage) -> &'static str {
    match message {
        Message::Control(_) => "control",
        Message::Stdout(_) => "stdout",
        Message::Stderr(_) => "stderr",
        Message::Removed(_) => "removed-paths",
        Message::Tar(_) => "tar",
        Message::End => "end",
    }
}

fn sync_failure(e: &SyncError) -> Failure {
    Failure::new(FailureKind::Sync, e.to_string())
}

/// Checks that `path` is absolute and made of plain components only (no `.`, `..` or empty
/// component, byte for byte: `Path::components` would quietly drop some of them); one trailing
/// `/` is allowed.
fn plain_absolute(path: &Path) -> Result<&Path, Failure> {
    use std::os::unix::ffi::OsStrExt;
    let raw = path.as_os_str().as_bytes();
    let bytes = match raw.strip_suffix(b"/") {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ => raw,
    };
    let plain = match bytes.strip_prefix(b"/") {
        Some(b"") => true,
        Some(rest) => rest
            .split(|b| *b == b'/')
            .all(|c| !c.is_empty() && c != b"." && c != b".."),
        None => false,
    };
    if plain {
        Ok(path)
    } else {
        Err(Failure::new(
            FailureKind::InvalidRequest,
            format!(
                "{} is not an absolute path without `.`, `..` or empty components",
                path.display()
            ),
        ))
    }
}

/// Creates the synced root (and missing parents, owned by root) without following a link on
/// the way, and gives it `owner`.
fn make_root(resolved: &Path, owner: (u32, u32)) -> Result<(), SyncError> {
    use std::os::unix::fs::DirBuilderExt;
    let mut path = PathBuf::new();
    for component in resolved.components() {
        path.push(component);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_dir() => continue,
            Ok(meta) if meta.file_type().is_symlink() => return Err(SyncError::LinkInPath(path)),
            Ok(_) => return Err(SyncError::NotADirectory(path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new()
                    .mode(0o755)
                    .create(&path)
                    .map_err(|e| SyncError::Io {
                        op: "create directory",
                        path: path.clone(),
                        source: e,
                    })?;
            }
            Err(e) => {
                return Err(SyncError::Io {
                    op: "lstat",
                    path,
                    source: e,
                })
            }
        }
    }
    nix::unistd::chown(
        resolved,
        Some(nix::unistd::Uid::from_raw(owner.0)),
        Some(nix::unistd::Gid::from_raw(owner.1)),
    )
    .map_err(|e| SyncError::Io {
        op: "chown",
        path: resolved.to_path_buf(),
        source: e.into(),
    })
}
