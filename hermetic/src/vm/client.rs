//! The host's end of the conversation with the guest agent.
//!
//! [`AgentClient`] speaks the [`protocol`](super::protocol) over any tokio byte stream: the
//! `UnixStream` of QEMU's chardev socket in production, one end of a socket pair in tests. The
//! calls follow the agent's life:
//!
//! ```text
//! hello() -> Hello            wait for the agent (the caller bounds it with a boot deadline)
//! setup(&Setup) -> Ready      clock, hostname, step uid/gid, network, overlay root
//! push(root, access, &m)      send a directory's delta since manifest m (Manifest::empty() first)
//! run_step(&step, tx, cancel) stream output into tx, honour cancel, get a StepOutcome
//! pull(root)                  apply the guest's delta of root to the host directory
//! shutdown()                  Bye; the VM powers off
//! ```
//!
//! One call at a time (`&mut self`). If a call's future is dropped before it finished, the
//! channel may hold half a conversation; every later call then fails with
//! [`AgentError::Desynchronized`] and the caller must kill the VM. Every failure of the channel
//! or the protocol is an error with the reason; the caller kills the VM on any of them.
//!
//! Must never: panic or allocate without bound on anything the guest sends (frames are capped,
//! deltas are applied with [`ApplyOptions`] limits and the symlink-safe applier), or apply a
//! guest's delta outside the pulled directory.

mod convert;
mod delta;
mod error;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::protocol::{
    check_version, control_frame, encode_header, Access, FrameDecoder, FrameKind, GuestMessage,
    Hello, Message, ProtocolError, PullRequest, PushRequest, Ready, Reply, Request, Setup,
    SyncStats, WireBytes, DATA_CHUNK_LEN, FEATURE_SWEEP, PROTOCOL_VERSION,
};
use super::sync::{ApplyOptions, Manifest, SyncError};
use crate::{OutputChunk, OutputStream, StepOutcome, StepSpec};
use convert::{outcome, refused, step_failure, sweep_report, sync_error, unexpected, wire_step};
pub use error::AgentError;

/// How long past a step's timeout (and cancel grace) the guest may take to report its end
/// before the client gives up on it: the guest enforces the timeout itself, this only catches a
/// hung guest.
pub const STEP_END_MARGIN: Duration = Duration::from_secs(30);

/// Bytes read from the stream at once.
const READ_LEN: usize = 64 << 10;

/// The host's end of the channel to one guest agent.
pub struct AgentClient<S> {
    stream: S,
    decoder: FrameDecoder,
    buf: Vec<u8>,
    hello: Option<Hello>,
    busy: bool,
    pull_max_bytes: u64,
}

impl<S> std::fmt::Debug for AgentClient<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentClient")
            .field("hello", &self.hello)
            .field("busy", &self.busy)
            .finish()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> AgentClient<S> {
    /// A client over `stream`, before the agent's Hello.
    pub fn new(stream: S) -> Self {
        AgentClient {
            stream,
            decoder: FrameDecoder::new(),
            buf: vec![0; READ_LEN],
            hello: None,
            busy: false,
            pull_max_bytes: ApplyOptions::default().max_bytes,
        }
    }

    /// Caps the file data one pulled delta may write on the host (default 64 GiB); set it to
    /// the VM's disk size cap.
    pub fn set_pull_limit(&mut self, max_bytes: u64) {
        self.pull_max_bytes = max_bytes;
    }

    /// The agent's Hello, once received.
    pub fn agent(&self) -> Option<&Hello> {
        self.hello.as_ref()
    }

    /// Waits for the agent's Hello and checks its protocol version. Unbounded: wrap it in
    /// `tokio::time::timeout` with the boot deadline.
    pub async fn hello(&mut self) -> Result<Hello, AgentError> {
        self.begin()?;
        let received = self.next_message().await;
        let hello = match self.end(received)? {
            Message::Control(Reply::Hello(hello)) => hello,
            other => return Err(unexpected("Hello", &other)),
        };
        check_version(PROTOCOL_VERSION, hello.version)?;
        self.hello = Some(hello.clone());
        Ok(hello)
    }

    /// Sets the machine up ([`Setup::new`] fills in the version and clock).
    pub async fn setup(&mut self, setup: &Setup) -> Result<Ready, AgentError> {
        self.begin()?;
        let result = self.setup_inner(setup).await;
        self.end(result)
    }

    async fn setup_inner(&mut self, setup: &Setup) -> Result<Ready, AgentError> {
        self.send(&Request::Setup(setup.clone())).await?;
        match self.next_message().await? {
            Message::Control(Reply::Ready(ready)) => Ok(ready),
            Message::Control(Reply::Error(failure)) => Err(refused(failure)),
            other => Err(unexpected("Ready", &other)),
        }
    }

    /// Runs one step in the guest. Output goes to `output` as it arrives (sending waits when the
    /// channel is full; a dropped receiver discards output). When `cancel` fires, the agent is
    /// asked to cancel (SIGINT, SIGKILL after `step.cancel_grace`). The outcome's containment is
    /// [`Containment::Guest`](crate::Containment::Guest); peak memory and OOM kills are not measured in the guest.
    pub async fn run_step(
        &mut self,
        step: &StepSpec,
        output: mpsc::Sender<OutputChunk>,
        cancel: CancellationToken,
    ) -> Result<StepOutcome, AgentError> {
        let sweeps = self.agent_sweeps();
        let request = Request::RunStep(wire_step(step, sweeps)?);
        self.begin()?;
        let result = match self.send(&request).await {
            Ok(()) => self.supervise(step, &output, &cancel).await,
            Err(e) => Err(e),
        };
        self.end(result).map(|mut outcome| {
            outcome.sweep = sweep_report(step, sweeps, outcome.sweep.take());
            outcome
        })
    }

    /// Whether the agent announced that it sweeps steps' processes.
    fn agent_sweeps(&self) -> bool {
        self.hello
            .as_ref()
            .is_some_and(|h| h.features.iter().any(|f| f == FEATURE_SWEEP))
    }

    async fn supervise(
        &mut self,
        step: &StepSpec,
        output: &mpsc::Sender<OutputChunk>,
        cancel: &CancellationToken,
    ) -> Result<StepOutcome, AgentError> {
        let mut cancel_sent = false;
        let mut backstop = step
            .timeout
            .map(|t| Instant::now() + t + step.cancel_grace + STEP_END_MARGIN);
        loop {
            let message = tokio::select! {
                message = self.next_message() => message?,
                () = cancel.cancelled(), if !cancel_sent => {
                    self.send(&Request::Cancel).await?;
                    cancel_sent = true;
                    let by_cancel = Instant::now() + step.cancel_grace + STEP_END_MARGIN;
                    backstop = Some(backstop.map_or(by_cancel, |b| b.min(by_cancel)));
                    continue;
                }
                () = sleep_until(backstop) => {
                    return Err(AgentError::Unresponsive(STEP_END_MARGIN));
                }
            };
            let (stream, bytes) = match message {
                Message::Stdout(bytes) => (OutputStream::Stdout, bytes),
                Message::Stderr(bytes) => (OutputStream::Stderr, bytes),
                Message::Control(Reply::StepEnded(ended)) => return Ok(outcome(ended)),
                Message::Control(Reply::Error(failure)) => return Err(step_failure(failure, step)),
                other => return Err(unexpected("step output or StepEnded", &other)),
            };
            if bytes.is_empty() || output.is_closed() {
                continue;
            }
            let send = output.send(OutputChunk { stream, bytes });
            tokio::pin!(send);
            loop {
                tokio::select! {
                    _ = &mut send => break,
                    () = cancel.cancelled(), if !cancel_sent => {
                        self.send(&Request::Cancel).await?;
                        cancel_sent = true;
                    }
                }
            }
        }
    }

    /// Sends the delta of the host directory `root` since `since` (the manifest [`push`] returned
    /// last time, or [`Manifest::empty`] for the first push) and returns the directory's new
    /// manifest with what the guest wrote. The guest owns a `Writable` directory as the step
    /// user, a `ReadOnly` one as root, mounted read-only.
    ///
    /// [`push`]: AgentClient::push
    pub async fn push(
        &mut self,
        root: &Path,
        access: Access,
        since: &Manifest,
    ) -> Result<(Manifest, SyncStats), AgentError> {
        self.begin()?;
        let result = self
            .push_inner(root.to_path_buf(), access, since.clone())
            .await;
        self.end(result)
    }

    async fn push_inner(
        &mut self,
        root: PathBuf,
        access: Access,
        since: Manifest,
    ) -> Result<(Manifest, SyncStats), AgentError> {
        let scan_root = root.clone();
        let (now, changes) = blocking(move || {
            let now = Manifest::scan(&scan_root)?;
            let changes = since.diff(&now);
            Ok::<_, SyncError>((now, changes))
        })
        .await?
        .map_err(|source| sync_error(&root, source))?;
        self.send(&Request::Push(PushRequest {
            root: WireBytes::from(root.as_path()),
            access,
        }))
        .await?;
        for chunk in super::sync::removal_chunks(&changes.removed, DATA_CHUNK_LEN) {
            self.send_data(FrameKind::Removed, &chunk).await?;
        }
        let (mut chunks, producer) = delta::spawn_tar_writer(root.clone(), changes);
        while let Some(chunk) = chunks.recv().await {
            self.send_data(FrameKind::Tar, &chunk).await?;
        }
        self.send_data(FrameKind::End, &[]).await?;
        let packed = producer
            .await
            .map_err(|e| AgentError::Task(e.to_string()))?;
        let reply = self.next_message().await?;
        packed.map_err(|source| sync_error(&root, source))?;
        match reply {
            Message::Control(Reply::Pushed(stats)) => Ok((now, stats)),
            Message::Control(Reply::Error(failure)) => Err(refused(failure)),
            other => Err(unexpected("Pushed", &other)),
        }
    }

    /// Fetches the guest's delta of `root` since its last sync and applies it to the host
    /// directory `root` (new entries get the directory's owner when the runner is root).
    /// Returns the host directory's new manifest (to pass to the next [`push`]) and what the
    /// guest sent.
    ///
    /// [`push`]: AgentClient::push
    pub async fn pull(&mut self, root: &Path) -> Result<(Manifest, SyncStats), AgentError> {
        self.begin()?;
        let result = self.pull_inner(root.to_path_buf()).await;
        self.end(result)
    }

    async fn pull_inner(&mut self, root: PathBuf) -> Result<(Manifest, SyncStats), AgentError> {
        let mut options =
            ApplyOptions::owned_like(&root).map_err(|source| sync_error(&root, source))?;
        options.max_bytes = self.pull_max_bytes;
        self.send(&Request::Pull(PullRequest {
            root: WireBytes::from(root.as_path()),
        }))
        .await?;
        let mut removed = Vec::new();
        let mut bad_list: Option<SyncError> = None;
        let mut applier: Option<delta::TarApplier> = None;
        loop {
            match self.next_message().await? {
                Message::Removed(chunk) if applier.is_none() => {
                    match super::sync::parse_removal_chunk(&chunk) {
                        Ok(paths) => removed.extend(paths),
                        Err(e) => {
                            bad_list.get_or_insert(e);
                        }
                    }
                }
                Message::Tar(bytes) => {
                    let applier = applier.get_or_insert_with(|| {
                        delta::spawn_tar_applier(
                            root.clone(),
                            std::mem::take(&mut removed),
                            options,
                        )
                    });
                    applier.feed(bytes).await;
                }
                Message::End => break,
                Message::Control(Reply::Error(failure)) if applier.is_none() => {
                    return Err(refused(failure))
                }
                other => return Err(unexpected("the guest's delta", &other)),
            }
        }
        let applier = applier.unwrap_or_else(|| {
            delta::spawn_tar_applier(root.clone(), std::mem::take(&mut removed), options)
        });
        let applied = applier.finish().await;
        let reply = self.next_message().await?;
        if let Some(source) = bad_list {
            return Err(sync_error(&root, source));
        }
        applied.map_err(|source| sync_error(&root, source))?;
        let stats = match reply {
            Message::Control(Reply::Pulled(stats)) => stats,
            Message::Control(Reply::Error(failure)) => return Err(refused(failure)),
            other => return Err(unexpected("Pulled", &other)),
        };
        let scan_root = root.clone();
        let manifest = blocking(move || Manifest::scan(&scan_root))
            .await?
            .map_err(|source| sync_error(&root, source))?;
        Ok((manifest, stats))
    }

    /// Asks the agent to power the VM off and waits for its Bye (or the channel's end).
    pub async fn shutdown(&mut self) -> Result<(), AgentError> {
        self.begin()?;
        let result = match self.send(&Request::Shutdown).await {
            Ok(()) => match self.next_message().await {
                Ok(Message::Control(Reply::Bye)) | Err(AgentError::Closed) => Ok(()),
                Ok(other) => Err(unexpected("Bye", &other)),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        self.end(result)
    }

    /// Starts a call; fails if an earlier one was abandoned halfway.
    fn begin(&mut self) -> Result<(), AgentError> {
        if self.busy {
            return Err(AgentError::Desynchronized);
        }
        self.busy = true;
        Ok(())
    }

    /// Ends a call that ran to completion (successfully or not).
    fn end<T>(&mut self, result: T) -> T {
        self.busy = false;
        result
    }

    async fn send(&mut self, request: &Request) -> Result<(), AgentError> {
        let frame = control_frame(request)?;
        self.send_data(frame.kind, &frame.payload).await
    }

    async fn send_data(&mut self, kind: FrameKind, payload: &[u8]) -> Result<(), AgentError> {
        let header = encode_header(kind, payload.len())?;
        self.stream
            .write_all(&header)
            .await
            .map_err(ProtocolError::from)?;
        self.stream
            .write_all(payload)
            .await
            .map_err(ProtocolError::from)?;
        self.stream.flush().await.map_err(ProtocolError::from)?;
        Ok(())
    }

    /// The next message from the agent. Cancel-safe: bytes are only taken from the stream by a
    /// completed `read`, and decoded in the same poll.
    async fn next_message(&mut self) -> Result<GuestMessage, AgentError> {
        loop {
            if let Some(frame) = self.decoder.next_frame()? {
                return Ok(GuestMessage::from_frame(frame)?);
            }
            let n = self
                .stream
                .read(&mut self.buf)
                .await
                .map_err(ProtocolError::from)?;
            if n == 0 {
                return Err(if self.decoder.buffered() > 0 {
                    ProtocolError::Truncated.into()
                } else {
                    AgentError::Closed
                });
            }
            self.decoder.feed(self.buf.get(..n).unwrap_or_default());
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AgentError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AgentError::Task(e.to_string()))
}
