//! The egress report of a job: every connection attempt and DNS query, with its verdict and why.
//!
//! The [`Journal`] is filled from two sources: packets the rules logged (through
//! [`nflog`](super::nflog)) and queries the resolver answered. It remembers which name each
//! learned address was answered for, so a connection to it is reported with the name. A TCP
//! connection whose first packet is retransmitted (a dropped SYN) is one attempt with a
//! `repeats` count, not several attempts.
//!
//! Must never: drop an attempt silently (past the cap, attempts are counted in `unrecorded`),
//! or report a verdict other than the one the kernel or the resolver applied.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};

use super::allowlist::AllowEntry;
use super::packet::{summarize, PacketSummary, ICMP, ICMPV6, TCP, UDP};
use super::policy::{EgressMode, EgressPolicy};
use super::ruleset::LogClass;

/// The protocol of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    /// A query to hrun's resolver.
    Dns,
    /// Another IP protocol, by number.
    Other(u8),
}

impl Protocol {
    fn of_ip(number: u8) -> Self {
        match number {
            TCP => Protocol::Tcp,
            UDP => Protocol::Udp,
            ICMP => Protocol::Icmp,
            ICMPV6 => Protocol::Icmpv6,
            other => Protocol::Other(other),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Tcp => f.write_str("tcp"),
            Protocol::Udp => f.write_str("udp"),
            Protocol::Icmp => f.write_str("icmp"),
            Protocol::Icmpv6 => f.write_str("icmpv6"),
            Protocol::Dns => f.write_str("dns"),
            Protocol::Other(number) => write!(f, "ip-proto-{number}"),
        }
    }
}

impl serde::Serialize for Protocol {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// What happened to an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The allowlist covers it.
    Allowed,
    /// The allowlist does not cover it and it was dropped (or the name answered NXDOMAIN).
    Denied,
    /// The allowlist does not cover it but audit mode let it through.
    Audited,
}

impl Verdict {
    /// The verdict as the report writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Denied => "denied",
            Verdict::Audited => "audited",
        }
    }
}

/// One connection attempt or DNS query.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attempt {
    /// When it was seen (RFC 3339, UTC, milliseconds).
    pub time: String,
    pub protocol: Protocol,
    /// The guest's address.
    pub source: IpAddr,
    /// Where it went (for DNS: hrun's resolver).
    pub destination: IpAddr,
    /// The TCP/UDP destination port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The DNS name: the one queried, or the one the destination was answered for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// For DNS: the query type (`A`, `AAAA`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_type: Option<String>,
    /// For DNS: the addresses answered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<IpAddr>,
    pub verdict: Verdict,
    /// Why: the allowlist entry that allowed it, or what denied it.
    pub reason: String,
    /// How many more times the same first packet was seen (retransmissions).
    #[serde(skip_serializing_if = "is_zero")]
    pub repeats: u32,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

impl Attempt {
    /// One line for a job annotation.
    pub fn summary(&self) -> String {
        let target = match (self.destination, self.port) {
            (IpAddr::V6(addr), Some(port)) => format!("[{addr}]:{port}"),
            (addr, Some(port)) => format!("{addr}:{port}"),
            (addr, None) => addr.to_string(),
        };
        let name = match (&self.name, self.protocol) {
            (Some(name), Protocol::Dns) => format!(" query for {name}"),
            (Some(name), _) => format!(" ({name})"),
            (None, _) => String::new(),
        };
        format!(
            "egress {}: {} {target}{name}: {}",
            self.verdict.as_str(),
            self.protocol,
            self.reason
        )
    }
}

/// The egress report of one job.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EgressReport {
    pub mode: EgressMode,
    pub allowlist: Vec<AllowEntry>,
    /// Whether the job had IPv6 (the uplink forwards it).
    pub ipv6: bool,
    pub attempts: Vec<Attempt>,
    /// Attempts that could not be recorded (the kernel's log buffer overflowed, or the report
    /// reached its size cap).
    pub unrecorded: u64,
}

impl EgressReport {
    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The attempts that were denied.
    pub fn denied(&self) -> impl Iterator<Item = &Attempt> {
        self.attempts
            .iter()
            .filter(|attempt| attempt.verdict == Verdict::Denied)
    }
}

/// Most attempts one report keeps; more are counted in `unrecorded`.
const MAX_ATTEMPTS: usize = 20_000;
/// A first packet seen again within this time is a retransmission of the same attempt.
const REPEAT_WINDOW: Duration = Duration::from_secs(30);

/// The attempts of a job as they happen.
#[derive(Debug)]
pub(crate) struct Journal {
    policy: EgressPolicy,
    ipv6: bool,
    attempts: Vec<Attempt>,
    names: HashMap<IpAddr, String>,
    recent: HashMap<PacketSummary, (Instant, usize)>,
    unrecorded: u64,
}

impl Journal {
    pub fn new(policy: EgressPolicy, ipv6: bool) -> Self {
        Journal {
            policy,
            ipv6,
            attempts: Vec::new(),
            names: HashMap::new(),
            recent: HashMap::new(),
            unrecorded: 0,
        }
    }

    fn push(&mut self, attempt: Attempt) -> Option<usize> {
        if self.attempts.len() >= MAX_ATTEMPTS {
            self.unrecorded += 1;
            return None;
        }
        self.attempts.push(attempt);
        Some(self.attempts.len() - 1)
    }

    /// Remembers that `addr` was answered for `name`.
    pub fn learn_name(&mut self, addr: IpAddr, name: &str) {
        self.names.insert(addr, name.to_string());
    }

    /// Counts attempts the kernel could not deliver.
    pub fn add_unrecorded(&mut self, count: u64) {
        self.unrecorded += count;
    }

    /// Records a DNS query the resolver answered.
    pub fn record_query(&mut self, query: QueryRecord) {
        let attempt = Attempt {
            time: now(),
            protocol: Protocol::Dns,
            source: query.source,
            destination: query.resolver,
            port: Some(53),
            name: query.name,
            query_type: query.query_type,
            answers: query.answers,
            verdict: query.verdict,
            reason: query.reason,
            repeats: 0,
        };
        self.push(attempt);
    }

    /// Records a packet the rules logged.
    pub fn record_packet(&mut self, prefix: &str, payload: &[u8]) {
        let (Some(class), Some(packet)) = (LogClass::from_prefix(prefix), summarize(payload))
        else {
            self.unrecorded += 1;
            return;
        };
        let now_instant = Instant::now();
        self.recent
            .retain(|_, (seen, _)| now_instant.duration_since(*seen) < REPEAT_WINDOW);
        if let Some((seen, index)) = self.recent.get_mut(&packet) {
            *seen = now_instant;
            if let Some(attempt) = self.attempts.get_mut(*index) {
                attempt.repeats = attempt.repeats.saturating_add(1);
            }
            return;
        }
        let name = self.names.get(&packet.destination).cloned();
        let (verdict, reason) = self.judge(class, &packet, name.as_deref());
        let attempt = Attempt {
            time: now(),
            protocol: Protocol::of_ip(packet.protocol),
            source: packet.source,
            destination: packet.destination,
            port: packet.destination_port,
            name,
            query_type: None,
            answers: Vec::new(),
            verdict,
            reason,
            repeats: 0,
        };
        if let Some(index) = self.push(attempt) {
            self.recent.insert(packet, (now_instant, index));
        }
    }

    fn judge(
        &self,
        class: LogClass,
        packet: &PacketSummary,
        name: Option<&str>,
    ) -> (Verdict, String) {
        let port = packet.destination_port;
        match class {
            LogClass::Allow => {
                let entry = self
                    .policy
                    .allow
                    .iter()
                    .find(|entry| entry.allows_address(packet.destination, port));
                let reason = match entry {
                    Some(entry) => format!("allowlist entry `{entry}`"),
                    None => "allowlist network".to_string(),
                };
                (Verdict::Allowed, reason)
            }
            LogClass::AllowDns => {
                let entry = name.and_then(|name| {
                    self.policy.allow.iter().find(|entry| match entry {
                        AllowEntry::Name {
                            pattern,
                            port: limit,
                        } => pattern.matches(name) && (limit.is_none() || *limit == port),
                        AllowEntry::Network { .. } => false,
                    })
                });
                let reason = match (name, entry) {
                    (Some(name), Some(entry)) => {
                        format!("address answered for `{name}` (allowlist entry `{entry}`)")
                    }
                    _ => "address answered by hrun's resolver for an allowlisted name".to_string(),
                };
                (Verdict::Allowed, reason)
            }
            LogClass::Deny => (Verdict::Denied, self.outside_reason(packet, name)),
            LogClass::Audit => (
                Verdict::Audited,
                format!(
                    "{} (audit mode: let through)",
                    self.outside_reason(packet, name)
                ),
            ),
            LogClass::DnsBypass => {
                let reason = "DNS to a resolver other than hrun's".to_string();
                if self.policy.mode.blocks() {
                    (Verdict::Denied, reason)
                } else {
                    (
                        Verdict::Audited,
                        format!("{reason} (audit mode: let through)"),
                    )
                }
            }
        }
    }

    fn outside_reason(&self, packet: &PacketSummary, name: Option<&str>) -> String {
        let mut reason = "not in the allowlist".to_string();
        if packet.destination.is_ipv6() && !self.ipv6 {
            reason.push_str("; this job has no IPv6");
        }
        if let Some(name) = name {
            let still_allowed = self.policy.allow.iter().any(|entry| match entry {
                AllowEntry::Name { pattern, .. } => pattern.matches(name),
                AllowEntry::Network { .. } => false,
            });
            if still_allowed {
                reason.push_str(&format!(
                    "; `{name}` is allowed, but this address was not answered for it recently \
                     or not on this port"
                ));
            }
        }
        reason
    }

    /// A copy of everything recorded so far.
    pub fn report(&self, extra_unrecorded: u64) -> EgressReport {
        EgressReport {
            mode: self.policy.mode,
            allowlist: self.policy.allow.clone(),
            ipv6: self.ipv6,
            attempts: self.attempts.clone(),
            unrecorded: self.unrecorded + extra_unrecorded,
        }
    }
}

/// A DNS query as the resolver answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryRecord {
    pub source: IpAddr,
    pub resolver: IpAddr,
    pub name: Option<String>,
    pub query_type: Option<String>,
    pub answers: Vec<IpAddr>,
    pub verdict: Verdict,
    pub reason: String,
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_syn(dst: [u8; 4], dport: u16) -> Vec<u8> {
        let mut packet = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, TCP, 0, 0, 198, 18, 0, 6];
        packet.extend(dst);
        packet.extend(40000u16.to_be_bytes());
        packet.extend(dport.to_be_bytes());
        packet
    }

    fn journal(mode: EgressMode) -> Journal {
        let policy = EgressPolicy::parse(mode, ["192.0.2.10:8080", "*.allowed.test:8080"]).unwrap();
        Journal::new(policy, true)
    }

    #[test]
    fn allowed_packet_names_the_entry_that_allowed_it() {
        let mut journal = journal(EgressMode::Block);
        journal.record_packet("hrun allow", &tcp_syn([192, 0, 2, 10], 8080));
        let report = journal.report(0);
        let attempt = &report.attempts[0];
        assert_eq!(attempt.verdict, Verdict::Allowed);
        assert_eq!(attempt.protocol, Protocol::Tcp);
        assert_eq!(attempt.port, Some(8080));
        assert_eq!(attempt.reason, "allowlist entry `192.0.2.10:8080`");
    }

    #[test]
    fn learned_address_is_reported_with_its_name_and_entry() {
        let mut journal = journal(EgressMode::Block);
        journal.learn_name("192.0.2.30".parse().unwrap(), "www.allowed.test");
        journal.record_packet("hrun allow-dns", &tcp_syn([192, 0, 2, 30], 8080));
        let attempt = &journal.report(0).attempts[0];
        assert_eq!(attempt.name.as_deref(), Some("www.allowed.test"));
        assert!(
            attempt.reason.contains("`*.allowed.test:8080`"),
            "{}",
            attempt.reason
        );
    }

    #[test]
    fn retransmitted_first_packet_counts_as_a_repeat() {
        let mut journal = journal(EgressMode::Block);
        for _ in 0..3 {
            journal.record_packet("hrun deny", &tcp_syn([192, 0, 2, 20], 8080));
        }
        let report = journal.report(0);
        assert_eq!(report.attempts.len(), 1);
        assert_eq!(report.attempts[0].repeats, 2);
        assert_eq!(report.attempts[0].verdict, Verdict::Denied);
    }

    #[test]
    fn denied_address_of_an_allowed_name_says_why() {
        let mut journal = journal(EgressMode::Block);
        journal.learn_name("192.0.2.30".parse().unwrap(), "www.allowed.test");
        journal.record_packet("hrun deny", &tcp_syn([192, 0, 2, 30], 22));
        let reason = &journal.report(0).attempts[0].reason;
        assert!(reason.contains("not in the allowlist"), "{reason}");
        assert!(reason.contains("`www.allowed.test` is allowed"), "{reason}");
    }

    #[test]
    fn audit_verdicts_say_the_attempt_was_let_through() {
        let mut journal = journal(EgressMode::Audit);
        journal.record_packet("hrun audit", &tcp_syn([192, 0, 2, 20], 80));
        let attempt = &journal.report(0).attempts[0];
        assert_eq!(attempt.verdict, Verdict::Audited);
        assert!(attempt.reason.contains("audit mode"));
    }

    #[test]
    fn unreadable_log_messages_are_counted() {
        let mut journal = journal(EgressMode::Block);
        journal.record_packet("someone else's prefix", &tcp_syn([192, 0, 2, 20], 80));
        journal.record_packet("hrun deny", &[1, 2, 3]);
        let report = journal.report(5);
        assert!(report.attempts.is_empty());
        assert_eq!(report.unrecorded, 7);
    }

    #[test]
    fn report_serializes_as_documented() {
        let mut journal = journal(EgressMode::BlockAndFail);
        journal.record_query(QueryRecord {
            source: "198.18.0.6".parse().unwrap(),
            resolver: "198.18.0.5".parse().unwrap(),
            name: Some("denied.test".into()),
            query_type: Some("A".into()),
            answers: vec![],
            verdict: Verdict::Denied,
            reason: "name not in the allowlist".into(),
        });
        let value: serde_json::Value = serde_json::from_str(&journal.report(0).to_json()).unwrap();
        assert_eq!(value["mode"], "block-and-fail");
        assert_eq!(value["allowlist"][1], "*.allowed.test:8080");
        let attempt = &value["attempts"][0];
        assert_eq!(attempt["protocol"], "dns");
        assert_eq!(attempt["verdict"], "denied");
        assert_eq!(attempt["name"], "denied.test");
        assert_eq!(attempt["port"], 53);
        assert!(attempt["time"].as_str().unwrap().ends_with('Z'));
        assert!(attempt.get("repeats").is_none());
    }

    #[test]
    fn summary_line_reads_as_a_sentence() {
        let attempt = Attempt {
            time: now(),
            protocol: Protocol::Tcp,
            source: "198.18.0.6".parse().unwrap(),
            destination: "2001:db8::20".parse().unwrap(),
            port: Some(443),
            name: None,
            query_type: None,
            answers: vec![],
            verdict: Verdict::Denied,
            reason: "not in the allowlist".into(),
            repeats: 0,
        };
        assert_eq!(
            attempt.summary(),
            "egress denied: tcp [2001:db8::20]:443: not in the allowlist"
        );
    }
}
