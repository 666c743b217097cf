//! Frames: the length-prefixed units both ends exchange, and an incremental decoder for them.
//!
//! A frame is a big-endian `u32` length, then that many bytes: one byte of [`FrameKind`] and the
//! payload. The length counts the kind byte, so it is at least 1 and at most [`MAX_FRAME_LEN`].
//! [`FrameDecoder`] takes bytes as they arrive (any split, any amount) and yields whole frames; it
//! rejects a length prefix past the limit as soon as it sees it, before buffering the body, so a
//! peer can never make the reader allocate more than one maximal frame.
//!
//! Must never: panic or allocate beyond the limit on any input, or resynchronise after an error
//! (a stream with a bad frame is broken; the reader reports it and stops).

use std::io::{self, Read, Write};

use super::ProtocolError;

/// The most bytes one frame may hold after its length prefix (kind byte and payload).
pub const MAX_FRAME_LEN: usize = 4 << 20;

/// The payload size senders use for bulk data (output, tar streams, removal lists): well below
/// the limit, so a frame never waits on a large buffer and cancellation stays responsive.
pub const DATA_CHUNK_LEN: usize = 64 << 10;

/// Bytes before the payload: the length prefix and the kind byte.
pub const HEADER_LEN: usize = 5;

/// What a frame's payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameKind {
    /// A control message: a JSON document ([`Request`](super::Request) from the host,
    /// [`Reply`](super::Reply) from the guest).
    Control = 1,
    /// Bytes the running step wrote to its standard output (guest to host).
    Stdout = 2,
    /// Bytes the running step wrote to its standard error (guest to host).
    Stderr = 3,
    /// Part of a delta's list of removed paths: relative paths, each ended by a NUL byte; a
    /// path never spans two frames.
    Removed = 4,
    /// Part of a delta's tar stream (any split).
    Tar = 5,
    /// The end of a delta (its removal list and tar stream); empty payload.
    End = 6,
}

impl FrameKind {
    /// The kind a byte on the wire stands for.
    pub fn from_byte(byte: u8) -> Option<FrameKind> {
        Some(match byte {
            1 => FrameKind::Control,
            2 => FrameKind::Stdout,
            3 => FrameKind::Stderr,
            4 => FrameKind::Removed,
            5 => FrameKind::Tar,
            6 => FrameKind::End,
            _ => return None,
        })
    }

    /// A short name for error messages.
    pub fn name(self) -> &'static str {
        match self {
            FrameKind::Control => "control",
            FrameKind::Stdout => "stdout",
            FrameKind::Stderr => "stderr",
            FrameKind::Removed => "removed-paths",
            FrameKind::Tar => "tar",
            FrameKind::End => "end",
        }
    }
}

/// One frame as read from or written to the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What the payload is.
    pub kind: FrameKind,
    /// The bytes after the kind byte.
    pub payload: Vec<u8>,
}

impl Frame {
    /// A frame of `kind` holding `payload`.
    pub fn new(kind: FrameKind, payload: Vec<u8>) -> Frame {
        Frame { kind, payload }
    }

    /// The frame as bytes on the wire. Fails when the payload is over the limit.
    pub fn encode(&self) -> Result<Vec<u8>, ProtocolError> {
        let header = encode_header(self.kind, self.payload.len())?;
        let mut out = Vec::with_capacity(HEADER_LEN + self.payload.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(&self.payload);
        Ok(out)
    }
}

/// The five bytes before a payload of `payload_len` bytes of `kind`.
pub fn encode_header(
    kind: FrameKind,
    payload_len: usize,
) -> Result<[u8; HEADER_LEN], ProtocolError> {
    let len = payload_len
        .checked_add(1)
        .filter(|len| *len <= MAX_FRAME_LEN)
        .ok_or(ProtocolError::FrameTooLarge {
            len: payload_len.saturating_add(1),
            max: MAX_FRAME_LEN,
        })?;
    let len = u32::try_from(len).map_err(|_| ProtocolError::FrameTooLarge {
        len,
        max: MAX_FRAME_LEN,
    })?;
    let [a, b, c, d] = len.to_be_bytes();
    Ok([a, b, c, d, kind as u8])
}

/// Writes one frame (blocking). The payload is written as is, without copying it.
pub fn write_frame(
    out: &mut impl Write,
    kind: FrameKind,
    payload: &[u8],
) -> Result<(), ProtocolError> {
    let header = encode_header(kind, payload.len())?;
    out.write_all(&header)?;
    out.write_all(payload)?;
    Ok(())
}

/// Turns a byte stream into frames, whatever pieces the bytes arrive in.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
    failed: bool,
}

impl FrameDecoder {
    /// A decoder with nothing buffered.
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    /// Adds bytes read from the channel.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered that are not yet part of a returned frame.
    pub fn buffered(&self) -> usize {
        self.buf.len().saturating_sub(self.start)
    }

    /// The next whole frame, `Ok(None)` when more bytes are needed. After an error every call
    /// returns the error again: the stream cannot be trusted past a bad frame.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, ProtocolError> {
        if self.failed {
            return Err(ProtocolError::Broken);
        }
        let pending = self.buf.get(self.start..).unwrap_or_default();
        let Some(prefix) = pending.get(..4) else {
            return Ok(None);
        };
        let mut len_bytes = [0u8; 4];
        len_bytes.copy_from_slice(prefix);
        let len = usize::try_from(u32::from_be_bytes(len_bytes)).unwrap_or(usize::MAX);
        if let Err(e) = check_len(len) {
            self.failed = true;
            return Err(e);
        }
        let Some(body) = pending.get(4..4 + len) else {
            return Ok(None);
        };
        let (&kind_byte, payload) = match body.split_first() {
            Some(split) => split,
            None => {
                self.failed = true;
                return Err(ProtocolError::EmptyFrame);
            }
        };
        let Some(kind) = FrameKind::from_byte(kind_byte) else {
            self.failed = true;
            return Err(ProtocolError::UnknownFrameKind(kind_byte));
        };
        let frame = Frame::new(kind, payload.to_vec());
        self.start += 4 + len;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Ok(Some(frame))
    }
}

fn check_len(len: usize) -> Result<(), ProtocolError> {
    if len == 0 {
        Err(ProtocolError::EmptyFrame)
    } else if len > MAX_FRAME_LEN {
        Err(ProtocolError::FrameTooLarge {
            len,
            max: MAX_FRAME_LEN,
        })
    } else {
        Ok(())
    }
}

/// Reads exactly one frame (blocking); `Ok(None)` on end-of-file before its first byte.
pub fn read_frame(input: &mut impl Read) -> Result<Option<Frame>, ProtocolError> {
    let mut prefix = [0u8; 4];
    if !read_full(input, &mut prefix, true)? {
        return Ok(None);
    }
    let len = usize::try_from(u32::from_be_bytes(prefix)).unwrap_or(usize::MAX);
    check_len(len)?;
    let mut body = vec![0u8; len];
    read_full(input, &mut body, false)?;
    let (&kind_byte, payload) = body.split_first().ok_or(ProtocolError::EmptyFrame)?;
    let kind = FrameKind::from_byte(kind_byte).ok_or(ProtocolError::UnknownFrameKind(kind_byte))?;
    Ok(Some(Frame::new(kind, payload.to_vec())))
}

/// Fills `buf`; returns false on end-of-file before the first byte when `eof_ok`.
fn read_full(input: &mut impl Read, buf: &mut [u8], eof_ok: bool) -> Result<bool, ProtocolError> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(buf.get_mut(got..).unwrap_or_default()) {
            Ok(0) if got == 0 && eof_ok => return Ok(false),
            Ok(0) => return Err(ProtocolError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KINDS: [FrameKind; 6] = [
        FrameKind::Control,
        FrameKind::Stdout,
        FrameKind::Stderr,
        FrameKind::Removed,
        FrameKind::Tar,
        FrameKind::End,
    ];

    fn kind() -> impl Strategy<Value = FrameKind> {
        proptest::sample::select(KINDS.to_vec())
    }

    #[test]
    fn every_kind_byte_maps_back() {
        for k in KINDS {
            assert_eq!(FrameKind::from_byte(k as u8), Some(k));
        }
        assert_eq!(FrameKind::from_byte(0), None);
        assert_eq!(FrameKind::from_byte(7), None);
    }

    #[test]
    fn rejects_oversized_length_before_reading_the_body() {
        let mut d = FrameDecoder::new();
        d.feed(
            &u32::try_from(MAX_FRAME_LEN + 1)
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        assert!(matches!(
            d.next_frame(),
            Err(ProtocolError::FrameTooLarge { len, max }) if len == MAX_FRAME_LEN + 1 && max == MAX_FRAME_LEN
        ));
        // The stream stays broken.
        d.feed(&[0, 0, 0, 1, 1]);
        assert!(matches!(d.next_frame(), Err(ProtocolError::Broken)));
    }

    #[test]
    fn rejects_empty_frame_and_unknown_kind() {
        let mut d = FrameDecoder::new();
        d.feed(&[0, 0, 0, 0]);
        assert!(matches!(d.next_frame(), Err(ProtocolError::EmptyFrame)));
        let mut d = FrameDecoder::new();
        d.feed(&[0, 0, 0, 1, 42]);
        assert!(matches!(
            d.next_frame(),
            Err(ProtocolError::UnknownFrameKind(42))
        ));
    }

    #[test]
    fn refuses_to_encode_a_payload_over_the_limit() {
        let big = Frame::new(FrameKind::Tar, vec![0; MAX_FRAME_LEN]);
        assert!(matches!(
            big.encode(),
            Err(ProtocolError::FrameTooLarge { .. })
        ));
        let fits = Frame::new(FrameKind::Tar, vec![0; MAX_FRAME_LEN - 1]);
        assert_eq!(fits.encode().map(|b| b.len()).ok(), Some(MAX_FRAME_LEN + 4));
    }

    #[test]
    fn blocking_reader_reports_truncation_and_clean_eof() {
        let mut empty: &[u8] = &[];
        assert!(matches!(read_frame(&mut empty), Ok(None)));
        let mut cut: &[u8] = &[0, 0, 0, 3, 2, b'a'];
        assert!(matches!(
            read_frame(&mut cut),
            Err(ProtocolError::Truncated)
        ));
        let mut huge: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame(&mut huge),
            Err(ProtocolError::FrameTooLarge { .. })
        ));
    }

    proptest! {
        #[test]
        fn frames_survive_any_split(
            frames in proptest::collection::vec((kind(), proptest::collection::vec(any::<u8>(), 0..300)), 0..8),
            cuts in proptest::collection::vec(1usize..64, 1..40),
        ) {
            let frames: Vec<Frame> = frames.into_iter().map(|(k, p)| Frame::new(k, p)).collect();
            let mut wire = Vec::new();
            for f in &frames {
                wire.extend(f.encode().unwrap_or_default());
            }
            let mut d = FrameDecoder::new();
            let mut got = Vec::new();
            let mut rest = wire.as_slice();
            let mut cut = cuts.iter().cycle();
            while !rest.is_empty() {
                let n = (*cut.next().unwrap_or(&1)).min(rest.len());
                let (now, later) = rest.split_at(n);
                d.feed(now);
                rest = later;
                while let Some(f) = d.next_frame().ok().flatten() {
                    got.push(f);
                }
            }
            prop_assert_eq!(&got, &frames);
            prop_assert_eq!(d.buffered(), 0);
            let mut reader = wire.as_slice();
            let mut blocking = Vec::new();
            while let Ok(Some(f)) = read_frame(&mut reader) {
                blocking.push(f);
            }
            prop_assert_eq!(blocking, frames);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let mut d = FrameDecoder::new();
            d.feed(&bytes);
            for _ in 0..bytes.len() + 1 {
                match d.next_frame() {
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            let mut reader = bytes.as_slice();
            while let Ok(Some(_)) = read_frame(&mut reader) {}
        }
    }
}
