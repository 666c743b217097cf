//! The thread that watches a job network while it lives: it drains the NFLOG socket into the
//! journal and serves DNS on the resolver's sockets, one `poll` over all of them and a wake-up
//! pipe.
//!
//! It runs in the uplink namespace (see [`resolver`](super::resolver)); the sockets it polls
//! were made in the job namespace. Queries that need upstream, and TCP connections, are served
//! by worker threads (at most [`MAX_WORKERS`] at once; beyond that a query gets SERVFAIL), which
//! it joins before it ends, so that after [`Monitor::stop`] no socket of the job is open.
//!
//! Must never: block on one guest's query while others wait (workers do that), or outlive
//! [`Monitor::stop`].

use std::io::Write;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::error::EgressError;
use super::netns::Netns;
use super::nflog::NflogSocket;
use super::report::Journal;
use super::resolver::upstream::read_tcp_message;
use super::resolver::{Peer, Resolver, Transport};

/// Most queries and connections served at once.
pub(crate) const MAX_WORKERS: usize = 32;
/// Most queries on one TCP connection.
const MAX_QUERIES_PER_CONNECTION: usize = 16;
const TCP_IDLE: Duration = Duration::from_secs(3);

/// The NFLOG socket and the journal it feeds.
#[derive(Debug)]
pub(crate) struct LogReader {
    socket: Mutex<NflogSocket>,
    journal: Arc<Mutex<Journal>>,
    counted_overflows: Mutex<u64>,
}

impl LogReader {
    pub fn new(socket: NflogSocket, journal: Arc<Mutex<Journal>>) -> Self {
        LogReader {
            socket: Mutex::new(socket),
            journal,
            counted_overflows: Mutex::new(0),
        }
    }

    /// A descriptor for `poll` (a duplicate: the socket itself stays behind its lock).
    fn poll_fd(&self) -> Result<OwnedFd, EgressError> {
        let socket = self.socket.lock().unwrap_or_else(|p| p.into_inner());
        socket
            .socket_fd()
            .try_clone_to_owned()
            .map_err(|err| EgressError::io("duplicating the NFLOG socket", err))
    }

    /// Records every packet logged so far.
    pub fn drain(&self) {
        let mut socket = self.socket.lock().unwrap_or_else(|p| p.into_inner());
        let mut packets = Vec::new();
        let result = socket.drain(|packet| packets.push(packet));
        let mut journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        for packet in packets {
            journal.record_packet(&packet.prefix, &packet.payload);
        }
        let mut counted = self
            .counted_overflows
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        journal.add_unrecorded(socket.overflows().saturating_sub(*counted));
        *counted = socket.overflows();
        if result.is_err() {
            // A broken log socket loses what follows: say so in the report.
            journal.add_unrecorded(1);
        }
    }
}

/// The resolver's listening sockets, made in the job namespace.
#[derive(Debug)]
pub(crate) struct Listeners {
    pub udp: Vec<UdpSocket>,
    pub tcp: Vec<TcpListener>,
}

/// A running monitor thread.
#[derive(Debug)]
pub(crate) struct Monitor {
    stop: Arc<AtomicBool>,
    wake: UnixStream,
    thread: Option<JoinHandle<Result<Result<(), EgressError>, EgressError>>>,
}

impl Monitor {
    /// Starts the thread in `uplink`'s namespace.
    pub fn start(
        uplink: &Netns,
        listeners: Listeners,
        resolver: Arc<Resolver>,
        log: Arc<LogReader>,
    ) -> Result<Self, EgressError> {
        let (wake, woken) =
            UnixStream::pair().map_err(|err| EgressError::io("creating a wake-up pipe", err))?;
        let log_fd = log.poll_fd()?;
        for socket in &listeners.udp {
            socket
                .set_nonblocking(true)
                .map_err(|err| EgressError::io("configuring the resolver's socket", err))?;
        }
        for listener in &listeners.tcp {
            listener
                .set_nonblocking(true)
                .map_err(|err| EgressError::io("configuring the resolver's socket", err))?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let thread = uplink.spawn("hrun-egress", {
            let stop = Arc::clone(&stop);
            move || watch(listeners, resolver, log, log_fd, woken, stop)
        })?;
        Ok(Monitor {
            stop,
            wake,
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it and its workers to end.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.wake.write_all(&[1]);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop();
    }
}

fn is_ready(fd: &PollFd<'_>) -> bool {
    fd.revents().is_some_and(|events| {
        events.intersects(PollFlags::POLLIN | PollFlags::POLLERR | PollFlags::POLLHUP)
    })
}

fn watch(
    listeners: Listeners,
    resolver: Arc<Resolver>,
    log: Arc<LogReader>,
    log_fd: OwnedFd,
    woken: UnixStream,
    stop: Arc<AtomicBool>,
) -> Result<(), EgressError> {
    let udp: Vec<Arc<UdpSocket>> = listeners.udp.into_iter().map(Arc::new).collect();
    let tcp = listeners.tcp;
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    let result = loop {
        let ready: Vec<bool> = {
            let mut fds = vec![
                PollFd::new(woken.as_fd(), PollFlags::POLLIN),
                PollFd::new(log_fd.as_fd(), PollFlags::POLLIN),
            ];
            fds.extend(
                udp.iter()
                    .map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN)),
            );
            fds.extend(
                tcp.iter()
                    .map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN)),
            );
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(errno) => break Err(EgressError::io("watching the job network", errno.into())),
            }
            fds.iter().map(is_ready).collect()
        };
        if stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        workers.retain(|worker| !worker.is_finished());
        if ready.get(1) == Some(&true) {
            log.drain();
        }
        let mut next = 2;
        for socket in &udp {
            if ready.get(next) == Some(&true) {
                receive_queries(socket, &resolver, &mut workers);
            }
            next += 1;
        }
        for listener in &tcp {
            if ready.get(next) == Some(&true) {
                accept_connections(listener, &resolver, &mut workers);
            }
            next += 1;
        }
    };
    for worker in workers {
        let _ = worker.join();
    }
    log.drain();
    result
}

fn receive_queries(
    socket: &Arc<UdpSocket>,
    resolver: &Arc<Resolver>,
    workers: &mut Vec<JoinHandle<()>>,
) {
    let Ok(local) = socket.local_addr() else {
        return;
    };
    let mut buffer = [0u8; 4096];
    // Bounded so that a flood on one socket cannot starve the others.
    for _ in 0..64 {
        let Ok((size, from)) = socket.recv_from(&mut buffer) else {
            return;
        };
        let query = buffer.get(..size).unwrap_or_default().to_vec();
        let peer = Peer {
            guest: from.ip(),
            resolver: local.ip(),
        };
        if workers.len() >= MAX_WORKERS {
            if let Some(answer) = resolver.busy(&query, peer) {
                let _ = socket.send_to(&answer, from);
            }
            continue;
        }
        let socket = Arc::clone(socket);
        let resolver = Arc::clone(resolver);
        let spawned = std::thread::Builder::new()
            .name("hrun-dns".to_string())
            .spawn(move || {
                if let Some(answer) = resolver.answer(&query, peer, Transport::Udp) {
                    let _ = socket.send_to(&answer, from);
                }
            });
        if let Ok(worker) = spawned {
            workers.push(worker);
        }
    }
}

fn accept_connections(
    listener: &TcpListener,
    resolver: &Arc<Resolver>,
    workers: &mut Vec<JoinHandle<()>>,
) {
    while let Ok((stream, _)) = listener.accept() {
        if workers.len() >= MAX_WORKERS {
            // Closing the connection is the TCP way of saying "busy".
            continue;
        }
        let resolver = Arc::clone(resolver);
        let spawned = std::thread::Builder::new()
            .name("hrun-dns-tcp".to_string())
            .spawn(move || serve_connection(stream, &resolver));
        if let Ok(worker) = spawned {
            workers.push(worker);
        }
    }
}

fn serve_connection(mut stream: TcpStream, resolver: &Resolver) {
    let (Ok(guest), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
        return;
    };
    let configured = stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_read_timeout(Some(TCP_IDLE)))
        .and_then(|()| stream.set_write_timeout(Some(TCP_IDLE)));
    if configured.is_err() {
        return;
    }
    let peer = Peer {
        guest: guest.ip(),
        resolver: local.ip(),
    };
    for _ in 0..MAX_QUERIES_PER_CONNECTION {
        let Ok(query) = read_tcp_message(&mut stream) else {
            return;
        };
        let Some(answer) = resolver.answer(&query, peer, Transport::Tcp) else {
            continue;
        };
        let Ok(length) = u16::try_from(answer.len()) else {
            return;
        };
        if stream
            .write_all(&length.to_be_bytes())
            .and_then(|()| stream.write_all(&answer))
            .is_err()
        {
            return;
        }
    }
}
