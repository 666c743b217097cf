//! A "world" for the egress tests: a network namespace the test makes, holding TCP servers on
//! IPv4 and IPv6 documentation addresses and an upstream DNS server answering test names. It
//! is the job network's uplink, so nothing a test does reaches beyond the machine.
//!
//! Test support only: compiled for this crate's tests and, with the `test-world` feature, for
//! other crates' tests (the runner's end-to-end egress tests use it as the uplink of a
//! microVM's job network). It panics on set-up failures, as test fixtures do.

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{RData, Record, RecordType};

use crate::egress::command::ip_batch;
use crate::egress::netns::{self, Netns};

/// The port every test server listens on.
pub const PORT: u16 = 8080;
/// Servers in the world (all listen on [`PORT`]).
pub const ALLOWED_V4: &str = "192.0.2.10";
pub const DENIED_V4: &str = "192.0.2.20";
/// The address the upstream answers for `www.allowed.test`.
pub const NAMED_V4: &str = "192.0.2.30";
pub const ALLOWED_V6: &str = "2001:db8::10";
pub const DENIED_V6: &str = "2001:db8::20";
pub const NAMED_V6: &str = "2001:db8::30";
/// The upstream DNS server.
pub const UPSTREAM_DNS: &str = "192.0.2.53";
/// The name the upstream knows, and the TTL it answers with.
pub const KNOWN_NAME: &str = "www.allowed.test";
pub const KNOWN_TTL: u32 = 60;

/// A test-made namespace with servers; removed when dropped.
pub struct World {
    pub name: String,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// The names the upstream DNS server was asked for.
    pub upstream_queries: Arc<Mutex<Vec<String>>>,
}

fn addr(text: &str) -> IpAddr {
    text.parse().expect("a test address")
}

impl World {
    /// Makes the world, or says why this host cannot make network namespaces.
    pub fn create(tag: &str) -> Result<World, String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("needs root (network namespaces and nftables)".to_string());
        }
        let name = format!("hrun-test-{}-{tag}", std::process::id());
        let _ = netns::delete(&name);
        let world = Netns::create(&name)
            .map_err(|err| format!("cannot make a network namespace here: {err}"))?;
        world
            .run(|| std::fs::write("/proc/sys/net/ipv6/conf/default/accept_dad", "0"))
            .expect("enter the world")
            .expect("disable DAD in the world");
        // The servers' addresses sit on loopback: local to the world, reached through the job's
        // veth like any destination (the kernel may lack the dummy link type).
        let mut lines = vec!["link set lo up".to_string()];
        for v4 in [ALLOWED_V4, DENIED_V4, NAMED_V4, UPSTREAM_DNS] {
            lines.push(format!("addr add {v4}/32 dev lo"));
        }
        for v6 in [ALLOWED_V6, DENIED_V6, NAMED_V6] {
            lines.push(format!("addr add {v6}/128 dev lo nodad"));
        }
        ip_batch(&world, &lines).expect("configure the world");

        let stop = Arc::new(AtomicBool::new(false));
        let upstream_queries = Arc::new(Mutex::new(Vec::new()));
        let servers = [
            ALLOWED_V4, DENIED_V4, NAMED_V4, ALLOWED_V6, DENIED_V6, NAMED_V6,
        ];
        let (listeners, dns) = world
            .run(|| {
                let listeners: Vec<TcpListener> = servers
                    .iter()
                    .map(|a| {
                        TcpListener::bind(SocketAddr::new(addr(a), PORT)).expect("bind a server")
                    })
                    .collect();
                let dns =
                    UdpSocket::bind(SocketAddr::new(addr(UPSTREAM_DNS), 53)).expect("bind DNS");
                (listeners, dns)
            })
            .expect("enter the world");
        let mut threads = Vec::new();
        for listener in listeners {
            let stop = Arc::clone(&stop);
            threads.push(std::thread::spawn(move || serve_greetings(listener, &stop)));
        }
        {
            let stop = Arc::clone(&stop);
            let queries = Arc::clone(&upstream_queries);
            threads.push(std::thread::spawn(move || serve_dns(dns, &stop, &queries)));
        }
        Ok(World {
            name,
            stop,
            threads,
            upstream_queries,
        })
    }

    /// Whether the upstream was ever asked for `name`.
    pub fn upstream_was_asked(&self, name: &str) -> bool {
        self.upstream_queries
            .lock()
            .unwrap()
            .iter()
            .any(|asked| asked == name)
    }

    /// The world's namespace, opened (for hermetic's own tests: `Netns` is crate-private).
    #[cfg(test)]
    pub(crate) fn netns(&self) -> Netns {
        Netns::open(&self.name).expect("open the world")
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        let _ = netns::delete(&self.name);
    }
}

/// Accepts connections and greets each with the address it reached.
fn serve_greetings(listener: TcpListener, stop: &AtomicBool) {
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let local = listener.local_addr().expect("local address");
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((mut stream, _)) => {
                let _ = stream.write_all(format!("hello from {}", local.ip()).as_bytes());
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Answers A and AAAA for [`KNOWN_NAME`]; NXDOMAIN for anything else.
fn serve_dns(socket: UdpSocket, stop: &AtomicBool, queries: &Mutex<Vec<String>>) {
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let mut buffer = [0u8; 2048];
    while !stop.load(Ordering::SeqCst) {
        let Ok((size, from)) = socket.recv_from(&mut buffer) else {
            continue;
        };
        let Ok(request) = Message::from_vec(&buffer[..size]) else {
            continue;
        };
        let Some(question) = request.queries.first() else {
            continue;
        };
        let name = question.name().to_ascii();
        let name = name.trim_end_matches('.').to_string();
        queries.lock().unwrap().push(name.clone());
        let mut response = Message::response(request.metadata.id, request.metadata.op_code);
        response.add_queries(request.queries.iter().cloned());
        if name == KNOWN_NAME {
            let data = match question.query_type() {
                RecordType::A => Some(RData::A(A(NAMED_V4.parse().unwrap()))),
                RecordType::AAAA => Some(RData::AAAA(AAAA(NAMED_V6.parse().unwrap()))),
                _ => None,
            };
            if let Some(data) = data {
                response.add_answer(Record::from_rdata(question.name().clone(), KNOWN_TTL, data));
            }
        } else {
            response.metadata.response_code = ResponseCode::NXDomain;
        }
        let _ = socket.send_to(&response.to_vec().unwrap(), from);
    }
}
