//! What a job network is made from (policy, uplink, upstream resolvers, guest link) and what the
//! guest is told about it.
//!
//! Must never: read anything but `/etc/resolv.conf` to find the host's resolvers, or change a
//! host setting.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use super::policy::EgressPolicy;

/// Where the job's traffic leaves: the namespace that holds the job's uplink veth, its route
/// and its NAT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uplink {
    /// The runner's own network namespace (the host's).
    Host,
    /// A named network namespace (under `/run/netns`), such as a "world" a test made.
    Netns(String),
}

/// The job network's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// The mode and the allowlist (not empty: an empty allowlist means no network).
    pub policy: EgressPolicy,
    /// Where the traffic leaves.
    pub uplink: Uplink,
    /// The resolvers hrun's DNS resolver asks for allowlisted names, reached from the uplink
    /// namespace. [`NetworkConfig::new`] takes them from the host's `/etc/resolv.conf`.
    pub upstream_dns: Vec<SocketAddr>,
}

impl NetworkConfig {
    /// A configuration with the host's resolvers (from `/etc/resolv.conf`; none if it cannot be
    /// read, which is an error later only if the allowlist holds names).
    pub fn new(policy: EgressPolicy, uplink: Uplink) -> Self {
        let upstream_dns = std::fs::read_to_string("/etc/resolv.conf")
            .map(|text| nameservers_of_resolv_conf(&text))
            .unwrap_or_default();
        NetworkConfig {
            policy,
            uplink,
            upstream_dns,
        }
    }
}

/// The `nameserver` addresses of a resolv.conf text, port 53.
pub fn nameservers_of_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then_some(())?;
            // An address with a zone index (fe80::1%eth0) fails to parse and is skipped: the
            // zone names an interface that the uplink namespace may not have.
            words
                .next()?
                .parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .collect()
}

/// How the guest is attached to the job's namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestLink {
    /// A tap device inside the job namespace, for QEMU started there
    /// ([`JobNetwork::prepare_command`](super::JobNetwork::prepare_command)).
    Tap,
    /// A network namespace of its own joined to the job namespace by a veth pair, configured by
    /// hrun (tests, and the namespace executor).
    Netns,
}

/// What the guest needs to know to configure its side of the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestNet {
    /// The tap device in the job namespace ([`GuestLink::Tap`]).
    pub tap: Option<String>,
    /// The guest's network namespace, already configured ([`GuestLink::Netns`]).
    pub guest_netns: Option<PathBuf>,
    /// The guest interface's MAC address (`02:…`, locally administered).
    pub mac: String,
    /// The guest's IPv4 address.
    pub address: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// The IPv4 default gateway.
    pub gateway: Ipv4Addr,
    /// The gateway's MAC address (for a static neighbour entry in the guest).
    pub gateway_mac: String,
    /// The only DNS server the guest can reach (hrun's resolver, on the gateway).
    pub dns: Ipv4Addr,
    /// The guest's IPv6 address, when the job has IPv6.
    pub address6: Option<Ipv6Addr>,
    /// Its prefix length.
    pub prefix6: u8,
    /// The IPv6 default gateway (hrun's resolver answers there too), when the job has IPv6.
    pub gateway6: Option<Ipv6Addr>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nameservers_and_ignores_the_rest() {
        let text = "# generated\nsearch example.org\nnameserver 10.255.255.53\n\
                    nameserver  2001:db8::53\nnameserver fe80::1%eth0\nnameserver bogus\n\
                    options ndots:2\n";
        let servers = nameservers_of_resolv_conf(text);
        assert_eq!(
            servers,
            [
                "10.255.255.53:53".parse::<SocketAddr>().unwrap(),
                "[2001:db8::53]:53".parse().unwrap(),
            ]
        );
    }
}
