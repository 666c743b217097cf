//! The few fields of a logged packet the egress report needs: protocol, addresses, ports.
//!
//! NFLOG hands over the first bytes of the packet from its network header on. Only the fixed
//! IPv4/IPv6 headers and the ports of TCP and UDP are read; an IPv6 extension header or a
//! fragment is reported by its protocol number without ports.
//!
//! Must never: panic or read past the buffer on any input (it is the guest's packet).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol numbers the report names.
pub(crate) const TCP: u8 = 6;
pub(crate) const UDP: u8 = 17;
pub(crate) const ICMP: u8 = 1;
pub(crate) const ICMPV6: u8 = 58;

/// What the report keeps of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct PacketSummary {
    /// The IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, …).
    pub protocol: u8,
    pub source: IpAddr,
    pub destination: IpAddr,
    pub source_port: Option<u16>,
    pub destination_port: Option<u16>,
}

fn array<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// Reads the summary of an IPv4 or IPv6 packet, or `None` if it is neither or too short.
pub(crate) fn summarize(packet: &[u8]) -> Option<PacketSummary> {
    let version = packet.first()? >> 4;
    let (protocol, source, destination, transport_at, first_fragment) = match version {
        4 => {
            let header_len = usize::from(packet.first()? & 0x0f) * 4;
            let fragment = u16::from_be_bytes(array(packet, 6)?) & 0x1fff;
            (
                *packet.get(9)?,
                IpAddr::V4(Ipv4Addr::from(array::<4>(packet, 12)?)),
                IpAddr::V4(Ipv4Addr::from(array::<4>(packet, 16)?)),
                header_len,
                fragment == 0,
            )
        }
        6 => (
            *packet.get(6)?,
            IpAddr::V6(Ipv6Addr::from(array::<16>(packet, 8)?)),
            IpAddr::V6(Ipv6Addr::from(array::<16>(packet, 24)?)),
            40,
            true,
        ),
        _ => return None,
    };
    let ports = if first_fragment && matches!(protocol, TCP | UDP) {
        array::<4>(packet, transport_at).map(|p| {
            (
                u16::from_be_bytes([p[0], p[1]]),
                u16::from_be_bytes([p[2], p[3]]),
            )
        })
    } else {
        None
    };
    Some(PacketSummary {
        protocol,
        source,
        destination,
        source_port: ports.map(|(source, _)| source),
        destination_port: ports.map(|(_, destination)| destination),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ipv4_tcp(dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
        let mut packet = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, TCP, 0, 0];
        packet.extend([198, 18, 0, 6]);
        packet.extend(dst);
        packet.extend(sport.to_be_bytes());
        packet.extend(dport.to_be_bytes());
        packet.extend([0; 16]);
        packet
    }

    #[test]
    fn reads_ipv4_tcp_addresses_and_ports() {
        let summary = summarize(&ipv4_tcp([192, 0, 2, 10], 40000, 8080)).unwrap();
        assert_eq!(summary.protocol, TCP);
        assert_eq!(summary.source, "198.18.0.6".parse::<IpAddr>().unwrap());
        assert_eq!(summary.destination, "192.0.2.10".parse::<IpAddr>().unwrap());
        assert_eq!(summary.source_port, Some(40000));
        assert_eq!(summary.destination_port, Some(8080));
    }

    #[test]
    fn reads_ipv6_udp_and_icmp_without_ports() {
        let mut packet = vec![0x60, 0, 0, 0, 0, 8, UDP, 64];
        packet.extend("fd68:7275:6e:0:1::2".parse::<Ipv6Addr>().unwrap().octets());
        packet.extend("2001:db8::20".parse::<Ipv6Addr>().unwrap().octets());
        packet.extend([0x9c, 0x40, 0, 53, 0, 8, 0, 0]);
        let summary = summarize(&packet).unwrap();
        assert_eq!(
            summary.destination,
            "2001:db8::20".parse::<IpAddr>().unwrap()
        );
        assert_eq!(summary.destination_port, Some(53));

        let mut icmp = ipv4_tcp([192, 0, 2, 20], 0, 0);
        icmp[9] = ICMP;
        let summary = summarize(&icmp).unwrap();
        assert_eq!(summary.protocol, ICMP);
        assert_eq!(summary.destination_port, None);
    }

    #[test]
    fn later_fragments_have_no_ports() {
        let mut packet = ipv4_tcp([192, 0, 2, 10], 1, 2);
        packet[7] = 0x10;
        assert_eq!(summarize(&packet).unwrap().destination_port, None);
    }

    #[test]
    fn rejects_short_or_unknown_packets() {
        assert_eq!(summarize(&[]), None);
        assert_eq!(summarize(&[0x45, 0, 0]), None);
        assert_eq!(summarize(&[0x20; 40]), None);
        // Truncated before the ports: addresses without ports.
        let packet = ipv4_tcp([192, 0, 2, 10], 1, 2);
        assert_eq!(summarize(&packet[..21]).unwrap().destination_port, None);
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            let _ = summarize(&bytes);
        }
    }
}
