//! Bridges between the async client and the blocking sync code: a tar writer on a blocking
//! thread that hands chunks to the client, and a tar applier on a blocking thread that the
//! client feeds with the guest's tar frames.
//!
//! Must never: buffer a whole delta (chunks go through small bounded channels), or leave a
//! blocking thread waiting forever (dropping a channel end ends the other side).

use std::io::{self, Read, Write};
use std::path::PathBuf;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::vm::protocol::{SyncStats, DATA_CHUNK_LEN};
use crate::vm::sync::{
    apply_removals, apply_tar, write_tar, ApplyOptions, Changes, RelPath, SyncError,
};

/// Chunks in flight between the blocking thread and the client.
const QUEUE: usize = 8;

/// Starts writing the tar stream of `changes` under `root` on a blocking thread; returns the
/// chunks as they come and the writer's result.
pub(super) fn spawn_tar_writer(
    root: PathBuf,
    changes: Changes,
) -> (
    mpsc::Receiver<Vec<u8>>,
    JoinHandle<Result<SyncStats, SyncError>>,
) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let handle = tokio::task::spawn_blocking(move || {
        let mut out = ChunkSender {
            tx,
            buf: Vec::with_capacity(DATA_CHUNK_LEN),
        };
        write_tar(&root, &changes, &mut out)
    });
    (rx, handle)
}

struct ChunkSender {
    tx: mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
}

impl ChunkSender {
    fn send_buffered(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(DATA_CHUNK_LEN));
        self.tx.blocking_send(chunk).map_err(|_| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the agent client stopped sending",
            )
        })
    }
}

impl Write for ChunkSender {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = DATA_CHUNK_LEN
            .saturating_sub(self.buf.len())
            .min(bytes.len());
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

/// A blocking thread applying a delta (removals, then the tar stream fed to it).
pub(super) struct TarApplier {
    tx: Option<mpsc::Sender<Vec<u8>>>,
    handle: JoinHandle<Result<SyncStats, SyncError>>,
}

/// Starts applying a delta under `root`: the removals at once, then the tar frames given to
/// [`TarApplier::feed`].
pub(super) fn spawn_tar_applier(
    root: PathBuf,
    removed: Vec<RelPath>,
    options: ApplyOptions,
) -> TarApplier {
    let (tx, rx) = mpsc::channel(QUEUE);
    let handle = tokio::task::spawn_blocking(move || {
        let removed_count = apply_removals(&root, &removed)?;
        let mut input = ChunkReader {
            rx,
            current: Vec::new(),
            offset: 0,
        };
        let stats = apply_tar(&root, &mut input, &options)?;
        // Whatever follows the end-of-archive marker is read and dropped, so the client never
        // waits on a full queue.
        io::copy(&mut input, &mut io::sink()).map_err(SyncError::Receive)?;
        Ok(SyncStats {
            removed: removed_count,
            ..stats
        })
    });
    TarApplier {
        tx: Some(tx),
        handle,
    }
}

impl TarApplier {
    /// Hands one tar frame to the applier. If the applier already stopped (it failed), the
    /// bytes are dropped; [`finish`](TarApplier::finish) reports why.
    pub(super) async fn feed(&mut self, bytes: Vec<u8>) {
        if let Some(tx) = &self.tx {
            if tx.send(bytes).await.is_err() {
                self.tx = None;
            }
        }
    }

    /// Ends the stream and waits for the applier's result.
    pub(super) async fn finish(mut self) -> Result<SyncStats, SyncError> {
        self.tx = None;
        match self.handle.await {
            Ok(result) => result,
            Err(e) => Err(SyncError::Receive(io::Error::other(e.to_string()))),
        }
    }
}

struct ChunkReader {
    rx: mpsc::Receiver<Vec<u8>>,
    current: Vec<u8>,
    offset: usize,
}

impl Read for ChunkReader {
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
            match self.rx.blocking_recv() {
                Some(chunk) => {
                    self.current = chunk;
                    self.offset = 0;
                }
                None => return Ok(0),
            }
        }
    }
}
