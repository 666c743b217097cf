//! The agent's end of the channel: blocking reads and writes of frames over one descriptor.
//!
//! The descriptor is the virtio-serial port in the VM and one end of a socket pair in tests.
//! Reads go through the protocol's [`FrameDecoder`], one `read` at a time, so the step runner
//! can `poll` the descriptor beside the step's pipes and take whatever frames have arrived
//! without blocking. Writes are whole frames, blocking (back-pressure from the host).
//!
//! Must never: write anything but whole frames to the descriptor, or read past a bad frame.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};

use crate::vm::protocol::{
    control_frame, write_frame, FrameDecoder, FrameKind, HostMessage, ProtocolError, Reply,
};

/// Bytes read from the descriptor at once.
const READ_LEN: usize = 64 << 10;

/// A framed, blocking channel to the host.
pub struct Channel<T> {
    io: T,
    decoder: FrameDecoder,
    eof: bool,
    buf: Vec<u8>,
}

impl<T: Read + Write + AsFd> Channel<T> {
    /// A channel over `io`.
    pub fn new(io: T) -> Self {
        Channel {
            io,
            decoder: FrameDecoder::new(),
            eof: false,
            buf: vec![0; READ_LEN],
        }
    }

    /// The descriptor to poll for incoming bytes.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }

    /// Sends a control message.
    pub fn send(&mut self, reply: &Reply) -> Result<(), ProtocolError> {
        let frame = control_frame(reply)?;
        write_frame(&mut self.io, frame.kind, &frame.payload)?;
        self.io.flush()?;
        Ok(())
    }

    /// Sends bulk bytes in frames of `kind`, split at the data chunk size.
    pub fn send_data(&mut self, kind: FrameKind, bytes: &[u8]) -> Result<(), ProtocolError> {
        for chunk in bytes.chunks(crate::vm::protocol::DATA_CHUNK_LEN) {
            write_frame(&mut self.io, kind, chunk)?;
        }
        Ok(())
    }

    /// Sends an empty frame of `kind` (the end of a delta).
    pub fn send_end(&mut self) -> Result<(), ProtocolError> {
        write_frame(&mut self.io, FrameKind::End, &[])?;
        self.io.flush()?;
        Ok(())
    }

    /// The next message already buffered, without reading.
    pub fn buffered(&mut self) -> Result<Option<HostMessage>, ProtocolError> {
        match self.decoder.next_frame()? {
            Some(frame) => Ok(Some(HostMessage::from_frame(frame)?)),
            None => Ok(None),
        }
    }

    /// Reads once from the descriptor (blocking until some bytes or the end arrive). Returns
    /// false at end-of-file.
    pub fn fill(&mut self) -> Result<bool, ProtocolError> {
        if self.eof {
            return Ok(false);
        }
        loop {
            match self.io.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    if self.decoder.buffered() > 0 {
                        return Err(ProtocolError::Truncated);
                    }
                    return Ok(false);
                }
                Ok(n) => {
                    self.decoder.feed(self.buf.get(..n).unwrap_or_default());
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The next message, reading as needed; `None` when the host closed the channel.
    pub fn recv(&mut self) -> Result<Option<HostMessage>, ProtocolError> {
        loop {
            if let Some(message) = self.buffered()? {
                return Ok(Some(message));
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }
}
