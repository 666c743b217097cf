//! A QMP client: QEMU's JSON control protocol over the VM's unix socket.
//!
//! QMP speaks one JSON object per line. On connect QEMU greets with `{"QMP": …}`; the client
//! must send `qmp_capabilities` before any other command. Each command gets a `{"return": …}`
//! or `{"error": {"class", "desc"}}`; asynchronous `{"event": …}` lines may come in between and
//! are skipped. We use `query-status` and `quit`.
//!
//! Must never: read an unbounded line (QEMU runs untrusted guests; a line past
//! [`MAX_LINE`] is an error), or wait without a bound the caller chose.

use std::path::Path;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use super::VmError;

/// The longest QMP line accepted.
pub const MAX_LINE: u64 = 1 << 20;

/// A connected QMP session whose capabilities have been negotiated.
#[derive(Debug)]
pub struct Qmp {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Qmp {
    /// Connects to `socket`, reads the greeting and negotiates capabilities.
    pub async fn connect(socket: &Path) -> Result<Qmp, VmError> {
        let stream = UnixStream::connect(socket)
            .await
            .map_err(|e| VmError::Qmp(format!("cannot connect to {}: {e}", socket.display())))?;
        Qmp::handshake(stream).await
    }

    /// Reads the greeting on a connected `stream` and negotiates capabilities.
    pub async fn handshake(stream: UnixStream) -> Result<Qmp, VmError> {
        let (read, writer) = stream.into_split();
        let mut qmp = Qmp {
            reader: BufReader::new(read),
            writer,
        };
        let greeting = qmp.read_message().await?;
        if greeting.get("QMP").is_none() {
            return Err(VmError::Qmp(format!("unexpected greeting: {greeting}")));
        }
        qmp.execute("qmp_capabilities").await?;
        Ok(qmp)
    }

    /// Runs `command` (without arguments) and returns its `return` value.
    pub async fn execute(&mut self, command: &str) -> Result<Value, VmError> {
        let mut line = serde_json::to_vec(&serde_json::json!({ "execute": command }))
            .map_err(|e| VmError::Qmp(e.to_string()))?;
        line.push(b'\n');
        self.writer
            .write_all(&line)
            .await
            .map_err(|e| VmError::Qmp(format!("cannot send `{command}`: {e}")))?;
        loop {
            let msg = self.read_message().await?;
            if let Some(ret) = msg.get("return") {
                return Ok(ret.clone());
            }
            if let Some(err) = msg.get("error") {
                let desc = err
                    .get("desc")
                    .and_then(Value::as_str)
                    .unwrap_or("no description");
                return Err(VmError::Qmp(format!("`{command}` failed: {desc}")));
            }
            // An event (or anything else without a reply): not ours.
        }
    }

    /// The VM's run state (`running`, `paused`, `internal-error`, `shutdown`, …).
    pub async fn query_status(&mut self) -> Result<String, VmError> {
        let ret = self.execute("query-status").await?;
        ret.get("status")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| VmError::Qmp(format!("query-status returned {ret}")))
    }

    /// Asks QEMU to exit at once. The connection closing before the reply (QEMU already
    /// going) counts as success.
    pub async fn quit(mut self) -> Result<(), VmError> {
        if let Err(e) = self.writer.write_all(b"{\"execute\": \"quit\"}\n").await {
            return match e.kind() {
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => Ok(()),
                _ => Err(VmError::Qmp(format!("cannot send `quit`: {e}"))),
            };
        }
        loop {
            match self.read_line().await? {
                None => return Ok(()),
                Some(msg) if msg.get("return").is_some() => return Ok(()),
                Some(msg) if msg.get("error").is_some() => {
                    return Err(VmError::Qmp(format!("`quit` failed: {msg}")))
                }
                Some(_) => {}
            }
        }
    }

    async fn read_message(&mut self) -> Result<Value, VmError> {
        self.read_line()
            .await?
            .ok_or_else(|| VmError::Qmp("QEMU closed the connection".to_owned()))
    }

    /// One message, or `None` at end of stream.
    async fn read_line(&mut self) -> Result<Option<Value>, VmError> {
        let mut buf = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut buf)
            .await
            .map_err(|e| VmError::Qmp(format!("cannot read: {e}")))?;
        if n == 0 {
            return Ok(None);
        }
        if buf.len() as u64 > MAX_LINE {
            return Err(VmError::Qmp(format!("a line longer than {MAX_LINE} bytes")));
        }
        serde_json::from_slice(&buf)
            .map(Some)
            .map_err(|e| VmError::Qmp(format!("malformed message ({e})")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    /// A fake QEMU: greets, then answers each received line from `replies` in turn.
    async fn fake_qemu(replies: Vec<&'static str>) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&path).expect("bind");
        tokio::spawn(async move {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            let _ = write
                .write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n")
                .await;
            for reply in replies {
                if lines.next_line().await.ok().flatten().is_none() {
                    return;
                }
                let _ = write.write_all(reply.as_bytes()).await;
            }
        });
        (dir, path)
    }

    #[tokio::test]
    async fn negotiates_then_reads_the_status_skipping_events() {
        let (_dir, path) = fake_qemu(vec![
            "{\"return\": {}}\r\n",
            "{\"event\": \"RESUME\", \"timestamp\": {}}\r\n{\"return\": {\"status\": \"running\", \"running\": true}}\r\n",
        ])
        .await;
        let mut qmp = Qmp::connect(&path).await.expect("connect");
        assert_eq!(qmp.query_status().await.expect("status"), "running");
    }

    #[tokio::test]
    async fn reports_a_command_error_with_its_description() {
        let (_dir, path) = fake_qemu(vec![
            "{\"return\": {}}\r\n",
            "{\"error\": {\"class\": \"GenericError\", \"desc\": \"nope\"}}\r\n",
        ])
        .await;
        let mut qmp = Qmp::connect(&path).await.expect("connect");
        let err = qmp.execute("stop").await.expect_err("error reply");
        assert!(err.to_string().contains("`stop` failed: nope"), "{err}");
    }

    #[tokio::test]
    async fn quit_accepts_the_connection_closing() {
        let (_dir, path) = fake_qemu(vec!["{\"return\": {}}\r\n"]).await;
        let qmp = Qmp::connect(&path).await.expect("connect");
        qmp.quit().await.expect("quit");
    }

    #[tokio::test]
    async fn rejects_an_oversized_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&path).expect("bind");
        tokio::spawn(async move {
            if let Ok((mut stream, _)) = listener.accept().await {
                let big = vec![b'x'; (MAX_LINE + 10) as usize];
                let _ = stream.write_all(&big).await;
            }
        });
        let err = Qmp::connect(&path).await.expect_err("oversized");
        assert!(err.to_string().contains("longer than"), "{err}");
    }

    #[tokio::test]
    async fn rejects_a_greeting_that_is_not_qmp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&path).expect("bind");
        tokio::spawn(async move {
            if let Ok((mut stream, _)) = listener.accept().await {
                let _ = stream.write_all(b"{\"hello\": 1}\n").await;
            }
        });
        let err = Qmp::connect(&path).await.expect_err("bad greeting");
        assert!(err.to_string().contains("unexpected greeting"), "{err}");
    }
}
