//! One allowlist entry: what it may be written as, and which entries cover which.
//!
//! An entry is a network (a CIDR or a single address) or a DNS name (exact, or `*.` for every
//! name below a domain), each with an optional port that then applies to TCP and UDP:
//!
//! | written                  | means                                              |
//! |--------------------------|----------------------------------------------------|
//! | `10.1.0.0/16`            | every address of the network, any protocol or port |
//! | `10.1.2.3:443`           | that address, TCP or UDP port 443                  |
//! | `2001:db8::1`            | that IPv6 address (brackets are needed for a port) |
//! | `[2001:db8::/32]:443`    | the IPv6 network, port 443                         |
//! | `example.org`            | addresses hrun's resolver answered for the name    |
//! | `*.example.org:443`      | names below `example.org` (not the apex), port 443 |
//!
//! Must never: accept an entry it cannot read exactly (a network with host bits set, a port 0,
//! a `*` anywhere but a leading `*.`), or panic on any input (entries come from files users
//! write).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// Why an allowlist entry could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("allowlist entry `{entry}`: {reason}")]
pub struct EntryError {
    /// The entry as written.
    pub entry: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A DNS name pattern: one exact name, or every name strictly below a domain (`*.domain`).
///
/// Stored lower-case without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NamePattern {
    wildcard: bool,
    domain: String,
}

impl NamePattern {
    /// Whether `name` (any case, with or without a trailing dot) matches the pattern.
    pub fn matches(&self, name: &str) -> bool {
        let name = normalize_name(name);
        if self.wildcard {
            is_strictly_below(&name, &self.domain)
        } else {
            name == self.domain
        }
    }

    /// Whether every name `other` matches is matched by `self`.
    pub fn covers(&self, other: &NamePattern) -> bool {
        match (self.wildcard, other.wildcard) {
            (false, false) => self.domain == other.domain,
            (false, true) => false,
            (true, false) => is_strictly_below(&other.domain, &self.domain),
            (true, true) => {
                other.domain == self.domain || is_strictly_below(&other.domain, &self.domain)
            }
        }
    }

    /// `true` for `*.domain`.
    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            write!(f, "*.{}", self.domain)
        } else {
            f.write_str(&self.domain)
        }
    }
}

/// Lower-cases a DNS name and drops one trailing dot.
pub(crate) fn normalize_name(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

fn is_strictly_below(name: &str, domain: &str) -> bool {
    name.strip_suffix(domain)
        .is_some_and(|head| head.ends_with('.'))
}

/// One entry of an egress allowlist.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AllowEntry {
    /// Addresses of a network (a single address is a /32 or /128).
    Network {
        /// The network, without host bits.
        net: IpNet,
        /// The TCP/UDP port, or `None` for every protocol and port.
        port: Option<u16>,
    },
    /// Addresses that hrun's resolver answered for matching names.
    Name {
        /// The names.
        pattern: NamePattern,
        /// The TCP/UDP port, or `None` for every protocol and port.
        port: Option<u16>,
    },
}

impl AllowEntry {
    /// The port the entry is limited to, if any.
    pub fn port(&self) -> Option<u16> {
        match self {
            AllowEntry::Network { port, .. } | AllowEntry::Name { port, .. } => *port,
        }
    }

    /// Whether everything `other` allows is allowed by `self`.
    pub fn covers(&self, other: &AllowEntry) -> bool {
        let port_covered = match (self.port(), other.port()) {
            (None, _) => true,
            (Some(mine), Some(theirs)) => mine == theirs,
            (Some(_), None) => false,
        };
        port_covered
            && match (self, other) {
                (
                    AllowEntry::Network { net: mine, .. },
                    AllowEntry::Network { net: theirs, .. },
                ) => mine.contains(theirs),
                (
                    AllowEntry::Name { pattern: mine, .. },
                    AllowEntry::Name {
                        pattern: theirs, ..
                    },
                ) => mine.covers(theirs),
                _ => false,
            }
    }

    /// Whether the entry is a network that allows `addr` on `port` (`None`: a packet without
    /// ports, such as ICMP).
    pub fn allows_address(&self, addr: IpAddr, port: Option<u16>) -> bool {
        match self {
            AllowEntry::Network { net, port: limit } => {
                net.contains(&addr) && (limit.is_none() || *limit == port)
            }
            AllowEntry::Name { .. } => false,
        }
    }
}

impl fmt::Display for AllowEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowEntry::Network { net, port } => {
                let single = net.prefix_len() == net.max_prefix_len();
                let text = if single {
                    net.addr().to_string()
                } else {
                    net.to_string()
                };
                match (port, net) {
                    (None, _) => f.write_str(&text),
                    (Some(port), IpNet::V4(_)) => write!(f, "{text}:{port}"),
                    (Some(port), IpNet::V6(_)) => write!(f, "[{text}]:{port}"),
                }
            }
            AllowEntry::Name {
                pattern,
                port: None,
            } => write!(f, "{pattern}"),
            AllowEntry::Name {
                pattern,
                port: Some(port),
            } => write!(f, "{pattern}:{port}"),
        }
    }
}

impl serde::Serialize for AllowEntry {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl FromStr for AllowEntry {
    type Err = EntryError;

    fn from_str(text: &str) -> Result<Self, EntryError> {
        let fail = |reason: &str| EntryError {
            entry: text.to_string(),
            reason: reason.to_string(),
        };
        let entry = text.trim();
        if entry.is_empty() {
            return Err(fail("is empty"));
        }
        if let Some(rest) = entry.strip_prefix('[') {
            let (inside, after) = rest
                .split_once(']')
                .ok_or_else(|| fail("has `[` without a closing `]`"))?;
            let port = match after {
                "" => None,
                _ => Some(parse_port(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| fail("expected `:port` after `]`"))?,
                    &fail,
                )?),
            };
            let net = parse_network(inside, &fail)?;
            if !matches!(net, IpNet::V6(_)) {
                return Err(fail("brackets are for IPv6 addresses only"));
            }
            return Ok(AllowEntry::Network { net, port });
        }
        // A bare IPv6 address or network has several colons and no port.
        if entry.matches(':').count() > 1 {
            let net = parse_network(entry, &fail)?;
            return Ok(AllowEntry::Network { net, port: None });
        }
        let (host, port) = match entry.split_once(':') {
            Some((host, port)) => (host, Some(parse_port(port, &fail)?)),
            None => (entry, None),
        };
        if looks_like_ipv4(host) {
            let net = parse_network(host, &fail)?;
            return Ok(AllowEntry::Network { net, port });
        }
        let pattern = parse_name(host, &fail)?;
        Ok(AllowEntry::Name { pattern, port })
    }
}

fn parse_port(text: &str, fail: &dyn Fn(&str) -> EntryError) -> Result<u16, EntryError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(fail("the port must be a number from 1 to 65535"));
    }
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(fail("the port must be a number from 1 to 65535")),
        Ok(port) => Ok(port),
    }
}

/// A host part made only of digits, dots and an optional `/len` is meant as an IPv4 address:
/// it must then parse as one (no name has an all-numeric top-level label).
fn looks_like_ipv4(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'/')
}

fn parse_network(text: &str, fail: &dyn Fn(&str) -> EntryError) -> Result<IpNet, EntryError> {
    if text.contains('/') {
        let net: IpNet = text
            .parse()
            .map_err(|_| fail("is not a valid network (address/prefix length)"))?;
        if net.trunc() != net {
            return Err(fail(&format!(
                "has host bits set; the network is {}",
                net.trunc()
            )));
        }
        Ok(net)
    } else {
        let addr: IpAddr = text.parse().map_err(|_| fail("is not a valid address"))?;
        Ok(IpNet::from(addr))
    }
}

const MAX_NAME_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

fn parse_name(text: &str, fail: &dyn Fn(&str) -> EntryError) -> Result<NamePattern, EntryError> {
    let (wildcard, domain) = match text.strip_prefix("*.") {
        Some(domain) => (true, domain),
        None => (false, text),
    };
    let domain = normalize_name(domain);
    if domain.contains('*') {
        return Err(fail("`*` is only allowed as a leading `*.`"));
    }
    if domain.is_empty() {
        return Err(fail("has no name"));
    }
    if domain.len() > MAX_NAME_LEN {
        return Err(fail("the name is longer than 253 characters"));
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err(fail("the name has an empty label (`..`)"));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(fail("a label of the name is longer than 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(fail(
                "a name may hold only letters, digits, `-` and `_` between dots",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(fail("a label of the name starts or ends with `-`"));
        }
    }
    Ok(NamePattern { wildcard, domain })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str) -> AllowEntry {
        text.parse().unwrap()
    }

    fn error(text: &str) -> String {
        text.parse::<AllowEntry>().unwrap_err().to_string()
    }

    #[test]
    fn reads_networks_addresses_and_ports() {
        assert_eq!(
            entry("10.1.0.0/16"),
            AllowEntry::Network {
                net: "10.1.0.0/16".parse().unwrap(),
                port: None
            }
        );
        assert_eq!(
            entry("10.1.2.3:443"),
            AllowEntry::Network {
                net: "10.1.2.3/32".parse().unwrap(),
                port: Some(443)
            }
        );
        assert_eq!(
            entry("[2001:db8::/32]:443"),
            AllowEntry::Network {
                net: "2001:db8::/32".parse().unwrap(),
                port: Some(443)
            }
        );
        assert_eq!(
            entry("2001:db8::1"),
            AllowEntry::Network {
                net: "2001:db8::1/128".parse().unwrap(),
                port: None
            }
        );
        assert_eq!(
            entry("[2001:db8::1]:53"),
            AllowEntry::Network {
                net: "2001:db8::1/128".parse().unwrap(),
                port: Some(53)
            }
        );
    }

    #[test]
    fn reads_exact_and_wildcard_names_case_insensitively() {
        let AllowEntry::Name { pattern, port } = entry("*.Example.ORG.:443") else {
            panic!("not a name");
        };
        assert_eq!(port, Some(443));
        assert!(pattern.is_wildcard());
        assert_eq!(pattern.to_string(), "*.example.org");
        let AllowEntry::Name { pattern, port } = entry("example.org") else {
            panic!("not a name");
        };
        assert_eq!(port, None);
        assert!(pattern.matches("EXAMPLE.org."));
    }

    #[test]
    fn wildcard_matches_names_below_the_domain_but_not_the_apex() {
        let AllowEntry::Name { pattern, .. } = entry("*.example.org") else {
            panic!("not a name");
        };
        assert!(pattern.matches("a.example.org"));
        assert!(pattern.matches("a.b.example.org"));
        assert!(!pattern.matches("example.org"));
        assert!(!pattern.matches("badexample.org"));
        assert!(!pattern.matches("example.org.evil.net"));
    }

    #[test]
    fn displays_entries_in_their_canonical_form() {
        for text in [
            "10.1.0.0/16",
            "10.1.2.3:443",
            "[2001:db8::/32]:443",
            "2001:db8::1",
            "[2001:db8::1]:53",
            "example.org",
            "*.example.org:443",
        ] {
            assert_eq!(entry(text).to_string(), text);
        }
        assert_eq!(entry(" Example.org. ").to_string(), "example.org");
    }

    #[test]
    fn rejects_network_with_host_bits_naming_the_network() {
        let message = error("10.1.2.3/16");
        assert!(message.contains("`10.1.2.3/16`"), "{message}");
        assert!(message.contains("10.1.0.0/16"), "{message}");
    }

    #[test]
    fn rejects_malformed_entries_with_a_reason() {
        for (text, reason) in [
            ("", "empty"),
            ("10.1.2.3:0", "port"),
            ("10.1.2.3:70000", "port"),
            ("10.1.2.3:https", "port"),
            ("10.1.2.300", "not a valid address"),
            ("10.1.0.0/33", "not a valid network"),
            ("[10.1.2.3]:80", "IPv6"),
            ("[2001:db8::1:80", "closing"),
            ("[2001:db8::1]80", "`:port`"),
            ("2001:db8::zz", "not a valid address"),
            ("*", "`*`"),
            ("*.", "no name"),
            ("a.*.example.org", "`*`"),
            ("**.example.org", "`*`"),
            ("exa mple.org", "letters"),
            ("example..org", "empty label"),
            ("-example.org", "`-`"),
            ("example.org:", "port"),
        ] {
            let message = error(text);
            assert!(message.contains(reason), "{text:?}: {message}");
        }
    }

    #[test]
    fn rejects_overlong_names() {
        let label = "a".repeat(64);
        assert!(error(&format!("{label}.org")).contains("63"));
        let long = ["abcdefghi"; 26].join(".");
        assert!(error(&long).contains("253"));
    }

    #[test]
    fn coverage_needs_a_containing_network_and_the_same_or_no_port() {
        assert!(entry("10.0.0.0/8").covers(&entry("10.1.0.0/16")));
        assert!(entry("10.0.0.0/8").covers(&entry("10.1.2.3:443")));
        assert!(entry("10.1.2.3:443").covers(&entry("10.1.2.3:443")));
        assert!(!entry("10.1.2.3:443").covers(&entry("10.1.2.3")));
        assert!(!entry("10.1.2.3:443").covers(&entry("10.1.2.3:80")));
        assert!(!entry("10.1.0.0/16").covers(&entry("10.0.0.0/8")));
        assert!(!entry("10.0.0.0/8").covers(&entry("[2001:db8::/32]:443")));
        assert!(entry("2001:db8::/32").covers(&entry("[2001:db8::1]:443")));
    }

    #[test]
    fn coverage_of_names_follows_wildcards_and_never_mixes_names_and_networks() {
        assert!(entry("*.example.org").covers(&entry("a.example.org")));
        assert!(entry("*.example.org").covers(&entry("*.a.example.org:443")));
        assert!(entry("*.example.org").covers(&entry("*.example.org")));
        assert!(!entry("*.example.org").covers(&entry("example.org")));
        assert!(!entry("a.example.org").covers(&entry("*.a.example.org")));
        assert!(entry("example.org").covers(&entry("example.org:443")));
        assert!(!entry("example.org:443").covers(&entry("example.org")));
        assert!(!entry("10.0.0.0/8").covers(&entry("example.org")));
        assert!(!entry("example.org").covers(&entry("10.1.2.3")));
    }

    #[test]
    fn network_entries_allow_their_addresses_on_their_port() {
        let any = entry("10.1.0.0/16");
        let https = entry("10.1.2.3:443");
        let addr: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(any.allows_address(addr, None));
        assert!(any.allows_address(addr, Some(80)));
        assert!(https.allows_address(addr, Some(443)));
        assert!(!https.allows_address(addr, Some(80)));
        assert!(!https.allows_address(addr, None));
        assert!(!any.allows_address("10.2.0.1".parse().unwrap(), None));
    }

    mod never_panics {
        use super::super::AllowEntry;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn on_any_text(text in "\\PC{0,80}") {
                let _ = text.parse::<AllowEntry>();
            }

            #[test]
            fn and_round_trips_what_it_accepts(text in "[0-9a-f:.\\[\\]/*a-z-]{0,40}") {
                if let Ok(entry) = text.parse::<AllowEntry>() {
                    let again: AllowEntry = entry.to_string().parse().unwrap();
                    prop_assert_eq!(again, entry);
                }
            }
        }
    }
}
