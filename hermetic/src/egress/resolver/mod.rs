//! hrun's DNS resolver for a job: the only DNS server the guest can reach.
//!
//! Its sockets listen on the gateway address inside the job namespace (UDP and TCP, port 53);
//! the thread serving them runs in the uplink namespace, so upstream queries leave from there
//! (and reach a resolver on the host's loopback, such as systemd-resolved's). For each query
//! it [`decide`](answer::decide)s, asks upstream when the name is allowlisted, puts the answered
//! addresses into the job's nftables sets with the record's TTL ([`sets`]) *before* answering,
//! and records the query in the job's journal.
//!
//! Must never: answer a query for a name outside the allowlist with anything but NXDOMAIN
//! while blocking, or answer before the addresses it hands out are allowed.

pub(crate) mod answer;
pub(crate) mod sets;
pub(crate) mod upstream;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, OpCode, ResponseCode};

use super::allowlist::AllowEntry;
use super::policy::EgressPolicy;
use super::report::{Journal, QueryRecord, Verdict};
use answer::{
    answer_from_upstream, answered_addresses, decide, encode_for_udp, response_to, Decision,
};
use sets::LearnedSets;

/// How an answer travels back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

/// The resolver's state shared by the threads serving queries.
#[derive(Debug)]
pub(crate) struct Resolver {
    policy: EgressPolicy,
    upstream: Vec<SocketAddr>,
    upstream_timeout: Duration,
    journal: Arc<Mutex<Journal>>,
    sets: LearnedSets,
}

/// Where a query came from and which of hrun's addresses it was sent to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer {
    pub guest: IpAddr,
    pub resolver: IpAddr,
}

impl Resolver {
    pub fn new(
        policy: EgressPolicy,
        upstream: Vec<SocketAddr>,
        journal: Arc<Mutex<Journal>>,
        sets: LearnedSets,
    ) -> Self {
        Resolver {
            policy,
            upstream,
            upstream_timeout: upstream::UPSTREAM_TIMEOUT,
            journal,
            sets,
        }
    }

    fn record(&self, peer: Peer, record: impl FnOnce(Peer) -> QueryRecord) {
        let record = record(peer);
        let mut journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        if record.verdict != Verdict::Denied {
            for addr in &record.answers {
                if let Some(name) = &record.name {
                    journal.learn_name(*addr, name);
                }
            }
        }
        journal.record_query(record);
    }

    /// The bytes to answer `bytes` with (`None`: no answer), after recording the query.
    pub fn answer(&self, bytes: &[u8], peer: Peer, transport: Transport) -> Option<Vec<u8>> {
        let Ok(request) = Message::from_vec(bytes) else {
            self.record(peer, |peer| QueryRecord {
                source: peer.guest,
                resolver: peer.resolver,
                name: None,
                query_type: None,
                answers: Vec::new(),
                verdict: Verdict::Denied,
                reason: "malformed DNS message: answered FORMERR".to_string(),
            });
            let id = u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]);
            return Message::error_msg(id, OpCode::Query, ResponseCode::FormErr)
                .to_vec()
                .ok();
        };
        let response = match decide(&request, &self.policy) {
            Decision::Ignore => return None,
            Decision::Reply {
                response,
                name,
                query_type,
                verdict,
                reason,
            } => {
                self.record(peer, |peer| QueryRecord {
                    source: peer.guest,
                    resolver: peer.resolver,
                    name,
                    query_type,
                    answers: Vec::new(),
                    verdict,
                    reason,
                });
                *response
            }
            Decision::Forward {
                query,
                name,
                query_type,
                ports,
            } => {
                let (response, answers, verdict, reason) =
                    self.forward(&request, &query, &name, &ports);
                self.record(peer, |peer| QueryRecord {
                    source: peer.guest,
                    resolver: peer.resolver,
                    name: Some(name),
                    query_type: Some(query_type),
                    answers,
                    verdict,
                    reason,
                });
                response
            }
        };
        match transport {
            Transport::Udp => encode_for_udp(&request, &response),
            Transport::Tcp => response.to_vec().ok(),
        }
    }

    /// Asks upstream and allows what it answered: the answer, the addresses, the verdict and
    /// the reason.
    fn forward(
        &self,
        request: &Message,
        query: &hickory_proto::op::Query,
        name: &str,
        ports: &[Option<u16>],
    ) -> (Message, Vec<IpAddr>, Verdict, String) {
        let (verdict, why) = match self.matching_entry(name) {
            Some(entry) => (Verdict::Allowed, format!("allowlist entry `{entry}`")),
            None => (
                Verdict::Audited,
                "name not in the allowlist (audit mode: asked upstream)".to_string(),
            ),
        };
        let upstream = match upstream::ask(&self.upstream, query, self.upstream_timeout) {
            Ok(upstream) => upstream,
            Err(problem) => {
                return (
                    response_to(request, ResponseCode::ServFail),
                    Vec::new(),
                    verdict,
                    format!("{why}; no upstream answer ({problem}): answered SERVFAIL"),
                )
            }
        };
        let addresses = answered_addresses(&upstream);
        if verdict == Verdict::Allowed && !addresses.is_empty() {
            if let Err(err) = self.sets.allow(&addresses, ports) {
                return (
                    response_to(request, ResponseCode::ServFail),
                    Vec::new(),
                    verdict,
                    format!("{why}; the answered addresses could not be allowed ({err}): answered SERVFAIL"),
                );
            }
        }
        let response = answer_from_upstream(request, &upstream);
        let reason = format!(
            "{why}; upstream answered {}",
            upstream.metadata.response_code
        );
        let answers = addresses.into_iter().map(|(addr, _)| addr).collect();
        (response, answers, verdict, reason)
    }

    fn matching_entry(&self, name: &str) -> Option<&AllowEntry> {
        self.policy.allow.iter().find(|entry| match entry {
            AllowEntry::Name { pattern, .. } => pattern.matches(name),
            AllowEntry::Network { .. } => false,
        })
    }

    /// The answer when too many queries are in flight: SERVFAIL, recorded.
    pub fn busy(&self, bytes: &[u8], peer: Peer) -> Option<Vec<u8>> {
        self.record(peer, |peer| QueryRecord {
            source: peer.guest,
            resolver: peer.resolver,
            name: None,
            query_type: None,
            answers: Vec::new(),
            verdict: Verdict::Denied,
            reason: "too many queries at once: answered SERVFAIL".to_string(),
        });
        let id = u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]);
        Message::error_msg(id, OpCode::Query, ResponseCode::ServFail)
            .to_vec()
            .ok()
    }
}
