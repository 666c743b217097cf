//! The wire protocol between the host and the guest agent, shared by both ends.
//!
//! Version [`PROTOCOL_VERSION`]. The channel (a virtio-serial port in the VM, a socket pair in
//! tests) carries length-prefixed [`Frame`]s: a big-endian `u32` length, a [`FrameKind`] byte,
//! the payload; at most [`MAX_FRAME_LEN`] bytes after the prefix. Control frames hold one JSON
//! [`Request`] (host to guest) or [`Reply`] (guest to host); output, tar streams and removal
//! lists are raw bytes in frames of their own. [`FrameDecoder`] is the one incremental decoder
//! both sides use (the guest over a blocking descriptor, the host over tokio); [`read_frame`] and
//! [`write_frame`] are the blocking conveniences.
//!
//! Must never: panic, hang or allocate past one maximal frame on any input; this module is
//! fuzzed (`fuzz/fuzz_targets/agent_protocol.rs`). Only std, serde and serde_json (and the
//! sweep report's types): the guest agent links it.

mod frame;
mod message;
mod wire;

use std::io;

pub use frame::{
    encode_header, read_frame, write_frame, Frame, FrameDecoder, FrameKind, DATA_CHUNK_LEN,
    HEADER_LEN, MAX_FRAME_LEN,
};
pub use message::{
    check_version, control_frame, Access, Failure, FailureKind, GuestMessage, Hello, HostMessage,
    Ipv6Setup, Message, NetworkSetup, PullRequest, PushRequest, Ready, Reply, Request, RunStep,
    Setup, StepEnded, SyncStats, WireEnding, WireLimit, WireLimitKind, WireSecret, WireStatus,
    WireSweep, WireUsage, AGENT_PORT_NAME, FEATURE_SWEEP, PROTOCOL_VERSION, ROOT_DISK_SERIAL,
    SCRATCH_DISK_SERIAL,
};
pub use wire::WireBytes;

/// A frame or message that breaks the protocol, or a channel that failed.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// A length prefix (or an outgoing payload) over the limit.
    #[error("frame of {len} bytes is over the limit of {max} bytes")]
    FrameTooLarge {
        /// The announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A length prefix of zero (a frame needs at least its kind byte).
    #[error("empty frame: a length of 0 leaves no room for the frame kind")]
    EmptyFrame,
    /// A kind byte this version does not know.
    #[error("unknown frame kind {0}")]
    UnknownFrameKind(u8),
    /// A frame whose payload does not decode.
    #[error("malformed {what} message: {reason}")]
    Malformed {
        /// Which message or frame.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The two ends speak different protocol versions.
    #[error(
        "protocol version mismatch: the host speaks version {host}, the guest agent speaks \
         version {guest} (rebuild the guest image with this hrun)"
    )]
    VersionMismatch {
        /// The host's version.
        host: u32,
        /// The agent's version.
        guest: u32,
    },
    /// The channel ended inside a frame.
    #[error("the channel ended in the middle of a frame")]
    Truncated,
    /// An earlier frame was bad; nothing after it can be trusted.
    #[error("the channel is unusable after an earlier bad frame")]
    Broken,
    /// Reading or writing the channel failed.
    #[error("channel: {0}")]
    Io(#[from] io::Error),
}
