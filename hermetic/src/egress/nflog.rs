//! Reading the packets the job's rules log (NFLOG), from a netlink socket in the job namespace.
//!
//! Why NFLOG: every rule of the guest chain that decides a new connection logs it with a prefix
//! naming its verdict, so the kernel itself reports each attempt, allowed or not, at the moment
//! it decides, with the packet's headers. Conntrack events would show only connections that
//! were let through, and counters carry no addresses. The messages are decoded with
//! `netlink-packet-netfilter` (the rust-netlink project's nfnetlink types); the socket is
//! `netlink-sys`'s.
//!
//! The socket binds NFLOG group [`LOG_GROUP`](super::ruleset::LOG_GROUP) of the namespace it was
//! opened in (groups are per namespace) with a queue threshold of one packet, so each message
//! is in the socket as soon as the kernel has decided: draining it before a report is enough to
//! see every attempt made so far. If the socket's buffer overflows, the kernel drops messages
//! and says so (`ENOBUFS`); that is counted, never hidden.
//!
//! Must never: block the thread that drains it (the socket is non-blocking), or trust a length
//! in a message beyond the bytes received.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_netfilter::nflog::{
    config_request, ConfigCmd, ConfigMode, ConfigNla, PacketNla, Timeout, ULogMessage,
};
use netlink_packet_netfilter::{NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily};
use netlink_sys::{constants::NETLINK_NETFILTER, Socket};

use super::ruleset::LOG_SNAPLEN;

/// One logged packet: the rule's prefix and the packet's first bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LoggedPacket {
    pub prefix: String,
    pub payload: Vec<u8>,
}

/// The receive buffer asked for (the kernel caps it at `net.core.rmem_max`).
const RECEIVE_BUFFER: usize = 4 << 20;
const NLMSG_HEADER_LEN: usize = 16;

/// A bound NFLOG socket.
#[derive(Debug)]
pub(crate) struct NflogSocket {
    socket: Socket,
    buffer: Vec<u8>,
    overflows: u64,
}

impl NflogSocket {
    /// Opens a socket bound to `group` in the calling thread's network namespace.
    pub fn open(group: u16) -> io::Result<Self> {
        let mut socket = Socket::new(NETLINK_NETFILTER)?;
        socket.bind_auto()?;
        // A smaller buffer only means an earlier overflow, which is counted.
        let _ = socket.set_rx_buf_sz(RECEIVE_BUFFER);
        let request = config_request(
            NetfilterProtoFamily::Unspec,
            group,
            vec![
                ConfigCmd::Bind.into(),
                ConfigMode::new_packet(LOG_SNAPLEN).into(),
                ConfigNla::QThresh(1),
                Timeout::new(1).into(),
            ],
        );
        let mut bytes = vec![0; request.buffer_len()];
        request.serialize(&mut bytes);
        socket.send(&bytes, 0)?;
        let mut reply = vec![0; 8192];
        let size = socket.recv(&mut &mut reply[..], 0)?;
        let reply = reply.get(..size).unwrap_or_default();
        match NetlinkMessage::<NetfilterMessage>::deserialize(reply).map(|msg| msg.payload) {
            Ok(NetlinkPayload::Error(error)) if error.code.is_none() => {}
            Ok(NetlinkPayload::Error(error)) => return Err(error.to_io()),
            Ok(_) => {
                return Err(io::Error::other(
                    "unexpected reply to the NFLOG bind request",
                ))
            }
            Err(err) => return Err(io::Error::other(format!("bad NFLOG reply: {err}"))),
        }
        socket.set_non_blocking(true)?;
        Ok(NflogSocket {
            socket,
            buffer: vec![0; 1 << 16],
            overflows: 0,
        })
    }

    /// The socket's descriptor, to poll for readability.
    pub fn socket_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// How many times the kernel dropped messages because the socket was full.
    pub fn overflows(&self) -> u64 {
        self.overflows
    }

    /// Hands every logged packet waiting in the socket to `sink`, without blocking.
    pub fn drain(&mut self, mut sink: impl FnMut(LoggedPacket)) -> io::Result<()> {
        loop {
            match self.socket.recv(&mut &mut self.buffer[..], 0) {
                Ok(size) => {
                    let received = self.buffer.get(..size).unwrap_or_default();
                    for_each_packet(received, &mut sink);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) if err.raw_os_error() == Some(libc::ENOBUFS) => self.overflows += 1,
                Err(err) => return Err(err),
            }
        }
    }
}

/// Decodes the netlink messages in `bytes` and hands each logged packet to `sink`.
fn for_each_packet(bytes: &[u8], sink: &mut impl FnMut(LoggedPacket)) {
    let mut offset = 0usize;
    while let Some(rest) = bytes.get(offset..) {
        let Some(length) = rest
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_ne_bytes)
            .and_then(|len| usize::try_from(len).ok())
        else {
            break;
        };
        let Some(message) = rest.get(..length).filter(|_| length >= NLMSG_HEADER_LEN) else {
            break;
        };
        if let Ok(NetlinkMessage {
            payload:
                NetlinkPayload::InnerMessage(NetfilterMessage {
                    inner: NetfilterMessageInner::ULog(ULogMessage::Packet(attributes)),
                    ..
                }),
            ..
        }) = NetlinkMessage::<NetfilterMessage>::deserialize(message)
        {
            let mut packet = LoggedPacket {
                prefix: String::new(),
                payload: Vec::new(),
            };
            for attribute in attributes {
                match attribute {
                    PacketNla::Prefix(prefix) => {
                        packet.prefix = prefix.to_string_lossy().into_owned()
                    }
                    PacketNla::Payload(payload) => packet.payload = payload,
                    _ => {}
                }
            }
            sink(packet);
        }
        // Messages are padded to 4 bytes.
        offset = offset.saturating_add(length.saturating_add(3) & !3);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_at_truncated_or_garbage_input() {
        let mut seen = 0;
        for bytes in [
            &[][..],
            &[0xff, 0xff, 0xff, 0xff, 0, 0][..],
            &[4, 0, 0, 0, 1, 2, 3, 4][..],
            &[0u8; 40][..],
        ] {
            for_each_packet(bytes, &mut |_| seen += 1);
        }
        assert_eq!(seen, 0);
    }
}
