//! Drives a started step to its end, whatever backend started it.
//!
//! A backend starts the step's processes on a thread of its own (so the parent-death signal is
//! tied to a thread that lives exactly as long as the step) and hands over the read ends of the
//! output pipes, a [`TreeControl`] to signal the tree, and a channel on which its thread reports
//! the end. This module pumps the output into the engine's channel, arms the timeout, reacts to
//! cancellation (SIGINT, then kill after the grace period) and waits for the end.
//!
//! Must never: return before the backend reported the end of the tree, or wait without bound for
//! output once the tree has ended (a process that escaped the tree may hold the pipe).

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{Ending, ExecError, OutputChunk, OutputStream};

/// After the tree has ended, how long output may still arrive before we stop reading.
const DRAIN_WAIT: Duration = Duration::from_secs(2);
/// After asking the tree to die, how long before the last-resort [`TreeControl::force`].
const FORCE_AFTER: Duration = Duration::from_secs(2);
/// Bytes read from a pipe at once.
const READ_CHUNK: usize = 64 * 1024;

/// Signals the whole process tree of one step. Calls after the tree ended do nothing.
pub(crate) trait TreeControl: Send + Sync {
    /// Sends SIGINT to every process of the tree.
    fn interrupt(&self);
    /// Kills every process of the tree.
    fn terminate(&self);
    /// Last resort when `terminate` did not end the tree in time.
    fn force(&self);
}

/// A step whose processes are running.
pub(crate) struct Started<T> {
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    pub control: Arc<dyn TreeControl>,
    /// Resolves when the backend's thread has reaped the tree.
    pub ended: oneshot::Receiver<Result<T, ExecError>>,
}

/// Kills the tree if the supervising future is dropped before the step ended (the engine
/// abandoned it): no process may outlive the `run` call that started it.
struct KillOnDrop {
    control: Arc<dyn TreeControl>,
    armed: bool,
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.control.force();
        }
    }
}

/// What supervision saw.
pub(crate) struct Supervised<T> {
    pub ending: Ending,
    pub ended: Result<T, ExecError>,
    pub output_complete: bool,
}

fn lost<T>(_: oneshot::error::RecvError) -> Result<T, ExecError> {
    Err(ExecError::Lost(
        "the thread that supervises the step ended without a result".to_owned(),
    ))
}

async fn wait_killed<T>(
    ended: &mut oneshot::Receiver<Result<T, ExecError>>,
    control: &dyn TreeControl,
) -> Result<T, ExecError> {
    match tokio::time::timeout(FORCE_AFTER, &mut *ended).await {
        Ok(r) => r.unwrap_or_else(lost),
        Err(_) => {
            control.force();
            ended.await.unwrap_or_else(lost)
        }
    }
}

/// Runs a started step to its end.
pub(crate) async fn supervise<T>(
    started: Started<T>,
    timeout: Option<Duration>,
    grace: Duration,
    output: mpsc::Sender<OutputChunk>,
    cancel: CancellationToken,
) -> Supervised<T> {
    let (deadline_tx, deadline_rx) = oneshot::channel();
    let pump = tokio::spawn(pump_output(
        started.stdout,
        started.stderr,
        output,
        deadline_rx,
    ));
    let control = started.control;
    let mut guard = KillOnDrop {
        control: Arc::clone(&control),
        armed: true,
    };
    let mut ended = started.ended;
    let timer = async {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(timer);

    let mut ending = Ending::Exited;
    let first = tokio::select! {
        r = &mut ended => Some(r.unwrap_or_else(lost)),
        () = &mut timer => {
            ending = Ending::TimedOut;
            control.terminate();
            None
        }
        () = cancel.cancelled() => {
            ending = Ending::Cancelled;
            control.interrupt();
            None
        }
    };
    let ended = match first {
        Some(r) => r,
        None if ending == Ending::Cancelled => {
            match tokio::time::timeout(grace, &mut ended).await {
                Ok(r) => r.unwrap_or_else(lost),
                Err(_) => {
                    control.terminate();
                    wait_killed(&mut ended, control.as_ref()).await
                }
            }
        }
        None => wait_killed(&mut ended, control.as_ref()).await,
    };

    guard.armed = false;
    let _ = deadline_tx.send(Instant::now() + DRAIN_WAIT);
    let output_complete = pump.await.unwrap_or(false);
    Supervised {
        ending,
        ended,
        output_complete,
    }
}

async fn next_deadline(rx: &mut Option<oneshot::Receiver<Instant>>) -> Option<Instant> {
    match rx.as_mut() {
        Some(r) => r.await.ok(),
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Reads both pipes until end-of-file and sends what arrives, in arrival order. Once the
/// supervisor sends a deadline (the tree has ended), reading stops at that instant. Returns
/// whether both pipes reached end-of-file.
async fn pump_output(
    stdout: OwnedFd,
    stderr: OwnedFd,
    output: mpsc::Sender<OutputChunk>,
    deadline_rx: oneshot::Receiver<Instant>,
) -> bool {
    let (Ok(mut out), Ok(mut err)) = (
        pipe::Receiver::from_owned_fd(stdout),
        pipe::Receiver::from_owned_fd(stderr),
    ) else {
        return false;
    };
    // Read into spare capacity (`read_buf`): nothing to zero for a step that prints little.
    let mut out_buf = Vec::with_capacity(READ_CHUNK);
    let mut err_buf = Vec::with_capacity(READ_CHUNK);
    let (mut out_open, mut err_open) = (true, true);
    let mut deadline_rx = Some(deadline_rx);
    let mut deadline: Option<Instant> = None;
    let mut receiver_gone = false;
    while out_open || err_open {
        let (stream, read) = tokio::select! {
            r = out.read_buf(&mut out_buf), if out_open => (OutputStream::Stdout, r),
            r = err.read_buf(&mut err_buf), if err_open => (OutputStream::Stderr, r),
            d = next_deadline(&mut deadline_rx) => {
                deadline_rx = None;
                deadline = d.or(Some(Instant::now()));
                continue;
            }
            () = sleep_until(deadline) => return false,
        };
        if matches!(read, Ok(0) | Err(_)) {
            match stream {
                OutputStream::Stdout => out_open = false,
                OutputStream::Stderr => err_open = false,
            }
            continue;
        }
        let buf = match stream {
            OutputStream::Stdout => &mut out_buf,
            OutputStream::Stderr => &mut err_buf,
        };
        // Exactly what was read, in an allocation of its own; the buffer keeps its capacity.
        let bytes = buf.clone();
        buf.clear();
        if !receiver_gone {
            let chunk = OutputChunk { stream, bytes };
            // A dropped receiver discards output; the step still runs to its end.
            receiver_gone = output.send(chunk).await.is_err();
        }
    }
    true
}
