//! The runner's secret channel: where GitHub's own runner, run inside one of our VMs, tells the
//! host about every secret it learns, so our masking and scanning know them too.
//!
//! GitHub's runner connects to `AF_VSOCK` `CID:PORT` from `GITHUB_ACTIONS_RUNNER_VSOCK_CID_PORT`
//! (CID 2 is the host) and sends, for each new secret, one frame: a 4-byte big-endian length,
//! then that many bytes of UTF-8 JSON `{"RunnerSecrets": {"Type": "variable", "Values": [...]}}`
//! or `{"RunnerSecrets": {"Type": "regex", "Pattern": "..."}}`. Its JSON writer may camel-case
//! the names, so names are matched without regard to case. The runner never reads from the
//! socket.
//!
//! [`SecretChannel`] listens on a vsock port (where `/dev/vhost-vsock` gives VMs vsock) or on a
//! Unix socket (Firecracker maps a guest's vsock connections to `<uds>_<port>` on the host), on
//! a thread of its own, and hands each [`RunnerSecret`] to a sink. Written by hand: the framing
//! is four bytes and a JSON body, and no crate implements this runner's channel.
//!
//! Must never: log or report a secret's value (errors name the frame and the reason only), read
//! a frame past [`MAX_FRAME`], or stop serving other connections because one sent garbage.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;
use zeroize::Zeroizing;

/// The environment variable GitHub's runner reads the host's `CID:PORT` from.
pub const VSOCK_ENV: &str = "GITHUB_ACTIONS_RUNNER_VSOCK_CID_PORT";
/// The host's vsock context id, as a guest addresses it.
pub const HOST_CID: u32 = 2;
/// The largest frame accepted: a secret list this big is not a secret list.
pub const MAX_FRAME: u32 = 1 << 20;
/// The longest regular expression accepted from the runner.
const MAX_PATTERN: usize = 4096;

/// One notice from the runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunnerSecret {
    /// Values of a secret variable (the runner sends each value and its encodings).
    Values(Vec<Zeroizing<String>>),
    /// A regular expression whose matches are secrets (already checked to compile).
    Pattern(String),
}

/// Why a frame or a connection was refused.
#[derive(Debug, thiserror::Error)]
pub enum SecretChannelError {
    #[error("frame {frame}: its length {length} is over the limit of {MAX_FRAME} bytes")]
    TooLong { frame: u64, length: u32 },
    #[error("frame {frame}: the connection ended inside the frame")]
    Truncated { frame: u64 },
    #[error("frame {frame}: not a secret notice: {reason}")]
    Malformed { frame: u64, reason: String },
    #[error("reading the secret channel: {0}")]
    Io(#[from] io::Error),
    #[error("{0} is not `CID:PORT` (two unsigned numbers)")]
    BadAddress(String),
}

/// Reads frames from `stream` until it ends, handing each notice to `sink`; returns how many
/// frames were read. A malformed frame ends the connection with an error (the stream can no
/// longer be trusted to be in step), after every notice before it was handed over.
pub fn serve_stream<R: Read>(
    mut stream: R,
    sink: &mut dyn FnMut(RunnerSecret),
) -> Result<u64, SecretChannelError> {
    let mut frame = 0u64;
    loop {
        let mut header = [0u8; 4];
        match read_full(&mut stream, &mut header)? {
            0 => return Ok(frame),
            4 => {}
            _ => return Err(SecretChannelError::Truncated { frame }),
        }
        let length = u32::from_be_bytes(header);
        if length > MAX_FRAME {
            return Err(SecretChannelError::TooLong { frame, length });
        }
        let mut body = Zeroizing::new(vec![0u8; length as usize]);
        if read_full(&mut stream, &mut body)? != body.len() {
            return Err(SecretChannelError::Truncated { frame });
        }
        let notice =
            decode(&body).map_err(|reason| SecretChannelError::Malformed { frame, reason })?;
        sink(notice);
        frame += 1;
    }
}

/// Reads until `buf` is full or the stream ends; returns how many bytes were read.
fn read_full<R: Read>(stream: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// `object[name]`, with `name` matched without regard to case.
fn field<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

/// One frame's body as a notice. Errors never quote the body (it holds secrets).
pub fn decode(body: &[u8]) -> Result<RunnerSecret, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON (at column {})", e.column()))?;
    let notice = field(&value, "RunnerSecrets").ok_or("no `RunnerSecrets` member")?;
    let kind = field(notice, "Type")
        .and_then(Value::as_str)
        .ok_or("no `Type` string")?;
    if kind.eq_ignore_ascii_case("variable") {
        let values = field(notice, "Values")
            .and_then(Value::as_array)
            .ok_or("a `variable` notice without a `Values` list")?;
        let mut out = Vec::with_capacity(values.len());
        for (index, value) in values.iter().enumerate() {
            let text = value
                .as_str()
                .ok_or_else(|| format!("`Values[{index}]` is not a string"))?;
            out.push(Zeroizing::new(text.to_owned()));
        }
        Ok(RunnerSecret::Values(out))
    } else if kind.eq_ignore_ascii_case("regex") {
        let pattern = field(notice, "Pattern")
            .and_then(Value::as_str)
            .ok_or("a `regex` notice without a `Pattern` string")?;
        if pattern.len() > MAX_PATTERN {
            return Err(format!("the pattern is over {MAX_PATTERN} bytes"));
        }
        regex::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|_| "the pattern is not a valid regular expression".to_owned())?;
        Ok(RunnerSecret::Pattern(pattern.to_owned()))
    } else {
        Err(format!("unknown notice type {kind:?}"))
    }
}

/// Reads `CID:PORT` as GitHub's runner does.
pub fn parse_cid_port(text: &str) -> Result<(u32, u32), SecretChannelError> {
    let bad = || SecretChannelError::BadAddress(text.to_owned());
    let (cid, port) = text.split_once(':').ok_or_else(bad)?;
    Ok((
        cid.trim().parse().map_err(|_| bad())?,
        port.trim().parse().map_err(|_| bad())?,
    ))
}

/// What the listener has seen, for the job's report.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChannelStats {
    pub connections: u64,
    pub frames: u64,
    /// One line per refused connection (never a value).
    pub errors: Vec<String>,
}

/// A listening secret channel; stops (and removes its Unix socket) when dropped.
pub struct SecretChannel {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<Mutex<ChannelStats>>,
    socket_path: Option<PathBuf>,
    port: Option<u32>,
}

type Sink = Box<dyn FnMut(RunnerSecret) + Send>;

impl SecretChannel {
    /// Listens on the Unix socket `path` (made anew; a stale file is replaced).
    pub fn unix(path: &Path, sink: Sink) -> Result<SecretChannel, SecretChannelError> {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        let fd = OwnedFd::from(listener);
        let mut channel = SecretChannel::start(fd, None, sink);
        channel.socket_path = Some(path.to_path_buf());
        Ok(channel)
    }

    /// Listens on vsock `port` (needs `/dev/vhost-vsock` or another vsock transport on the
    /// host) for the guest with context id `peer` only: a connection from any other guest is
    /// closed unread, so one job cannot feed another's masker. `None` accepts any peer.
    pub fn vsock(
        port: u32,
        peer: Option<u32>,
        sink: Sink,
    ) -> Result<SecretChannel, SecretChannelError> {
        use nix::sys::socket::{
            bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, VsockAddr,
        };
        let fd = socket(
            AddressFamily::Vsock,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )
        .map_err(io::Error::from)?;
        bind(fd.as_raw_fd(), &VsockAddr::new(libc::VMADDR_CID_ANY, port))
            .map_err(io::Error::from)?;
        listen(&fd, Backlog::new(8).unwrap_or(Backlog::MAXCONN)).map_err(io::Error::from)?;
        let mut channel = SecretChannel::start(fd, peer, sink);
        channel.port = Some(port);
        Ok(channel)
    }

    fn start(listener: OwnedFd, peer: Option<u32>, mut sink: Sink) -> SecretChannel {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(ChannelStats::default()));
        let thread = {
            let (stop, stats) = (Arc::clone(&stop), Arc::clone(&stats));
            std::thread::Builder::new()
                .name("hrun-secret-channel".to_owned())
                .spawn(move || accept_loop(&listener, peer, &stop, &stats, &mut sink))
                .ok()
        };
        SecretChannel {
            stop,
            thread,
            stats,
            socket_path: None,
            port: None,
        }
    }

    /// The vsock port, when listening on vsock.
    pub fn port(&self) -> Option<u32> {
        self.port
    }

    /// What was seen so far.
    pub fn stats(&self) -> ChannelStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Stops listening, serves what is already connected to its end, and returns the stats.
    pub fn close(mut self) -> ChannelStats {
        self.shut_down();
        self.stats()
    }

    fn shut_down(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(path) = self.socket_path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for SecretChannel {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// How long the accept loop sleeps between polls for a connection or the stop flag.
const POLL: Duration = Duration::from_millis(20);

fn accept_loop(
    listener: &OwnedFd,
    peer: Option<u32>,
    stop: &AtomicBool,
    stats: &Mutex<ChannelStats>,
    sink: &mut Sink,
) {
    loop {
        // SAFETY: an all-zero sockaddr_vm is a valid value of this plain C struct.
        let mut from: libc::sockaddr_vm = unsafe { std::mem::zeroed() };
        let mut from_len = std::mem::size_of::<libc::sockaddr_vm>() as libc::socklen_t;
        // SAFETY: accept4 on our listening descriptor, writing at most `from_len` bytes of the
        // peer's address into `from`, which is that large (a Unix peer's address is cut short,
        // and only read for vsock listeners).
        let fd = unsafe {
            libc::accept4(
                listener.as_raw_fd(),
                (&mut from as *mut libc::sockaddr_vm).cast(),
                &mut from_len,
                libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            let err = io::Error::last_os_error();
            let waiting = matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            );
            if !waiting {
                record_error(stats, format!("accepting a connection: {err}"));
            }
            if stop.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(POLL);
            continue;
        }
        // SAFETY: accept4 returned a new descriptor that we alone own.
        let connection = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        if let Ok(mut s) = stats.lock() {
            s.connections += 1;
        }
        if let Some(expected) = peer {
            if from.svm_cid != expected {
                record_error(
                    stats,
                    format!(
                        "refused a connection from context id {} (this job's guest is {expected})",
                        from.svm_cid
                    ),
                );
                continue;
            }
        }
        // One connection at a time: the runner keeps one open for the whole job. A read
        // timeout keeps a silent peer from holding the loop past a stop.
        let result = serve_connection(connection, stop, &mut *sink);
        match result {
            Ok(frames) => {
                if let Ok(mut s) = stats.lock() {
                    s.frames += frames;
                }
            }
            Err((frames, e)) => {
                if let Ok(mut s) = stats.lock() {
                    s.frames += frames;
                }
                record_error(stats, e.to_string());
            }
        }
    }
}

fn record_error(stats: &Mutex<ChannelStats>, line: String) {
    if let Ok(mut s) = stats.lock() {
        if s.errors.len() < 100 {
            s.errors.push(line);
        }
    }
}

/// A connection as a reader that gives up (as end of stream) once `stop` is set and no byte
/// comes for a poll interval.
struct Stoppable<'a> {
    file: std::fs::File,
    stop: &'a AtomicBool,
}

impl Read for Stoppable<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut poll = libc::pollfd {
                fd: self.file.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd for the duration of the call.
            let ready = unsafe { libc::poll(&mut poll, 1, POLL.as_millis() as libc::c_int) };
            if ready > 0 {
                return self.file.read(buf);
            }
            if ready < 0 {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
            if self.stop.load(Ordering::SeqCst) {
                return Ok(0);
            }
        }
    }
}

fn serve_connection(
    file: std::fs::File,
    stop: &AtomicBool,
    sink: &mut dyn FnMut(RunnerSecret),
) -> Result<u64, (u64, SecretChannelError)> {
    let mut frames = 0u64;
    let mut counting = |notice: RunnerSecret| {
        frames += 1;
        sink(notice);
    };
    match serve_stream(Stoppable { file, stop }, &mut counting) {
        Ok(_) => Ok(frames),
        Err(e) => Err((frames, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A frame as GitHub's runner writes it.
    fn frame(json: &str) -> Vec<u8> {
        let mut out = (json.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(json.as_bytes());
        out
    }

    fn values(notice: &RunnerSecret) -> Vec<String> {
        match notice {
            RunnerSecret::Values(v) => v.iter().map(|s| s.to_string()).collect(),
            RunnerSecret::Pattern(p) => vec![format!("pattern {p}")],
        }
    }

    #[test]
    fn reads_variable_and_regex_notices_in_either_letter_case() {
        let mut bytes =
            frame(r#"{"RunnerSecrets":{"Type":"variable","Values":["s3cret","czNjcmV0"]}}"#);
        bytes.extend(frame(
            r#"{"runnerSecrets":{"type":"regex","pattern":"tok_[a-z]{8}"}}"#,
        ));
        let mut seen = Vec::new();
        let frames = serve_stream(&bytes[..], &mut |n| seen.push(values(&n))).unwrap();
        assert_eq!(frames, 2);
        assert_eq!(
            seen,
            vec![
                vec!["s3cret".to_owned(), "czNjcmV0".to_owned()],
                vec!["pattern tok_[a-z]{8}".to_owned()]
            ]
        );
    }

    #[test]
    fn refuses_an_oversized_frame_before_reading_it() {
        let mut bytes = (MAX_FRAME + 1).to_be_bytes().to_vec();
        bytes.extend(vec![b'x'; 16]);
        let err = serve_stream(&bytes[..], &mut |_| {}).unwrap_err();
        assert!(
            matches!(err, SecretChannelError::TooLong { frame: 0, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_truncated_frame_is_an_error_but_earlier_notices_count() {
        let mut bytes = frame(r#"{"RunnerSecrets":{"Type":"variable","Values":["a1"]}}"#);
        bytes.extend(&frame(r#"{"RunnerSecrets":{"Type":"variable","Values":["b2"]}}"#)[..10]);
        let mut seen = Vec::new();
        let err = serve_stream(&bytes[..], &mut |n| seen.push(values(&n))).unwrap_err();
        assert!(
            matches!(err, SecretChannelError::Truncated { frame: 1 }),
            "{err}"
        );
        assert_eq!(seen, vec![vec!["a1".to_owned()]]);
        let err = serve_stream(&[0u8, 0][..], &mut |_| {}).unwrap_err();
        assert!(
            matches!(err, SecretChannelError::Truncated { frame: 0 }),
            "{err}"
        );
    }

    #[test]
    fn malformed_notices_are_refused_without_quoting_the_secret() {
        for body in [
            "not json at all s3cret",
            r#"{"Other":{}}"#,
            r#"{"RunnerSecrets":{"Type":"variable"}}"#,
            r#"{"RunnerSecrets":{"Type":"variable","Values":[1]}}"#,
            r#"{"RunnerSecrets":{"Type":"regex","Pattern":"s3cret(("}}"#,
            r#"{"RunnerSecrets":{"Type":"mystery","Values":["s3cret"]}}"#,
        ] {
            let err = serve_stream(&frame(body)[..], &mut |_| {}).unwrap_err();
            let text = err.to_string();
            assert!(
                matches!(err, SecretChannelError::Malformed { .. }),
                "{text}"
            );
            assert!(!text.contains("s3cret"), "{text}");
        }
    }

    #[test]
    fn parses_cid_and_port_as_the_runner_does() {
        assert_eq!(parse_cid_port("2:9999").unwrap(), (2, 9999));
        assert_eq!(parse_cid_port(" 3 : 10 ").unwrap(), (3, 10));
        for bad in ["2", "a:1", "2:-1", "", ":"] {
            assert!(parse_cid_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unix_listener_hands_over_every_notice_and_survives_a_bad_peer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.sock");
        let (tx, rx) = std::sync::mpsc::channel();
        let channel = SecretChannel::unix(
            &path,
            Box::new(move |notice| {
                let _ = tx.send(values(&notice));
            }),
        )
        .unwrap();
        {
            let mut bad = std::os::unix::net::UnixStream::connect(&path).unwrap();
            bad.write_all(&frame("{broken")).unwrap();
        }
        {
            let mut good = std::os::unix::net::UnixStream::connect(&path).unwrap();
            good.write_all(&frame(
                r#"{"RunnerSecrets":{"Type":"variable","Values":["v1"]}}"#,
            ))
            .unwrap();
            good.write_all(&frame(
                r#"{"RunnerSecrets":{"Type":"variable","Values":["v2","v3"]}}"#,
            ))
            .unwrap();
        }
        let first = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        let second = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(first, vec!["v1".to_owned()]);
        assert_eq!(second, vec!["v2".to_owned(), "v3".to_owned()]);
        let stats = channel.close();
        assert_eq!(stats.connections, 2);
        assert_eq!(stats.frames, 2);
        assert_eq!(stats.errors.len(), 1, "{:?}", stats.errors);
        assert!(stats.errors[0].contains("frame 0"), "{:?}", stats.errors);
        assert!(!path.exists(), "the socket is removed on close");
    }

    #[test]
    fn vsock_listener_starts_where_the_host_has_vsock() {
        if !Path::new("/dev/vhost-vsock").exists() && !Path::new("/dev/vsock").exists() {
            println!("SKIP vsock_listener_starts_where_the_host_has_vsock: no /dev/vhost-vsock or /dev/vsock here");
            return;
        }
        let channel =
            SecretChannel::vsock(45_123, Some(3), Box::new(|_| {})).expect("a vsock listener");
        assert_eq!(channel.port(), Some(45_123));
    }
}
