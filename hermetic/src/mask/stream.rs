//! Masking a stream that arrives in pieces of any size.
//!
//! The matcher is driven one byte at a time, so a secret split across writes is found like one
//! written whole. What is printed is decided as early as possible: a byte is passed on as soon as
//! no secret can cover it, which is known once it lies before the longest unfinished match (the
//! matcher's live length). A masked stretch is announced by `***` as soon as it starts before that
//! point, and later matches that overlap or touch it extend it silently. So the bytes held back
//! are at most one shorter than the longest masked value, and only while they could begin one.

use std::io::{self, Write};
use std::sync::Arc;

use zeroize::Zeroizing;

use super::matcher::{SecretMatcher, StateId};
use super::MASK;

/// How many input bytes are taken in per step, which bounds the held-back buffer.
const PIECE: usize = 8 * 1024;

/// Masks a byte stream written in pieces; the output equals [`super::Masker::mask_bytes`] of the
/// whole stream, however it was split.
pub struct StreamMasker {
    matcher: Arc<SecretMatcher>,
    state: StateId,
    /// Bytes read but not yet passed on; `pending[0]` is stream offset `base`.
    pending: Zeroizing<Vec<u8>>,
    base: u64,
    /// The end of the masked stretch whose `***` was already written, while later matches may
    /// still extend it.
    open_end: Option<u64>,
    /// Masked stretches found but not yet written: sorted, apart from each other and from
    /// `open_end`, all starting at or after `base`.
    ranges: Vec<(u64, u64)>,
}

impl StreamMasker {
    pub fn new(matcher: Arc<SecretMatcher>) -> Self {
        let pending = Zeroizing::new(Vec::with_capacity(matcher.max_len() + PIECE));
        StreamMasker {
            state: matcher.start(),
            matcher,
            pending,
            base: 0,
            open_end: None,
            ranges: Vec::new(),
        }
    }

    /// Masks `input`, appending to `out` everything that can already be decided.
    pub fn write(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for piece in input.chunks(PIECE) {
            self.reserve(piece.len());
            self.pending.extend_from_slice(piece);
            let first = self.pending.len() - piece.len();
            for i in first..self.pending.len() {
                let byte = self.pending.get(i).copied().unwrap_or(0);
                self.step(byte, self.base + i as u64);
            }
            let held = self.matcher.live_len(self.state) as u64;
            let end = self.end().saturating_sub(held);
            self.emit_until(end, out);
        }
    }

    /// Ends the stream: appends every byte held back, masked. The masker can then start a new
    /// stream.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let end = self.end();
        self.emit_until(end, out);
        self.open_end = None;
        self.ranges.clear();
        self.state = self.matcher.start();
    }

    /// How many bytes are held back, waiting to see whether they begin a secret.
    pub fn held_back(&self) -> usize {
        self.pending.len()
    }

    /// Switches to a matcher with more values (after an `::add-mask::`). The new values are
    /// masked from the bytes not yet passed on; what was already passed on stays as it was.
    ///
    /// [`super::Masker::matcher`] rebuilds the matcher after each change, in time proportional to
    /// all values held; when a step adds many masks in a row, switch once, before the next write.
    pub fn set_matcher(&mut self, matcher: Arc<SecretMatcher>) {
        self.matcher = matcher;
        self.state = self.matcher.start();
        self.ranges.clear();
        self.reserve(0);
        for i in 0..self.pending.len() {
            let byte = self.pending.get(i).copied().unwrap_or(0);
            self.step(byte, self.base + i as u64);
        }
    }

    /// The stream offset just past the last byte read.
    fn end(&self) -> u64 {
        self.base + self.pending.len() as u64
    }

    /// Reads the byte at stream offset `pos`, recording the longest match it ends.
    fn step(&mut self, byte: u8, pos: u64) {
        self.state = self.matcher.next(self.state, byte);
        let len = self.matcher.match_len(self.state) as u64;
        if len == 0 {
            return;
        }
        let end = pos + 1;
        let start = end.saturating_sub(len).max(self.base);
        match self.open_end {
            Some(open_end) if start <= open_end => {
                // Every stretch not yet written lies within this match, which joins the open one.
                self.open_end = Some(open_end.max(end));
                self.ranges.clear();
            }
            _ => {
                let mut start = start;
                while let Some(&(s, e)) = self.ranges.last() {
                    if e < start {
                        break;
                    }
                    start = start.min(s);
                    self.ranges.pop();
                }
                self.ranges.push((start, end));
            }
        }
    }

    /// Passes on everything before stream offset `end`, which no future match can reach.
    fn emit_until(&mut self, end: u64, out: &mut Vec<u8>) {
        let mut cur = self.base;
        if let Some(open_end) = self.open_end {
            cur = cur.max(open_end.min(end));
            if open_end < end {
                self.open_end = None;
            }
        }
        if self.open_end.is_none() {
            let mut written = 0;
            while let Some(&(start, stop)) = self.ranges.get(written) {
                if start >= end {
                    break;
                }
                out.extend_from_slice(self.slice(cur, start));
                out.extend_from_slice(MASK.as_bytes());
                written += 1;
                if stop < end {
                    cur = stop;
                } else {
                    self.open_end = Some(stop);
                    cur = end;
                    break;
                }
            }
            self.ranges.drain(..written);
            if self.open_end.is_none() {
                out.extend_from_slice(self.slice(cur, end));
            }
        }
        let consumed = usize::try_from(end.saturating_sub(self.base)).unwrap_or(usize::MAX);
        let consumed = consumed.min(self.pending.len());
        self.pending.drain(..consumed);
        self.base += consumed as u64;
    }

    /// The pending bytes between two stream offsets.
    fn slice(&self, from: u64, to: u64) -> &[u8] {
        let from = usize::try_from(from.saturating_sub(self.base)).unwrap_or(usize::MAX);
        let to = usize::try_from(to.saturating_sub(self.base)).unwrap_or(usize::MAX);
        self.pending.get(from..to).unwrap_or_default()
    }

    /// Makes room for `extra` more bytes without letting the buffer reallocate in place (which
    /// would leave a copy of held-back secret bytes behind): a larger buffer is made, and the old
    /// one is zeroed as it drops.
    fn reserve(&mut self, extra: usize) {
        let needed = self.pending.len() + extra.max(PIECE) + self.matcher.max_len();
        if self.pending.capacity() >= needed {
            return;
        }
        let mut bigger = Vec::with_capacity(needed);
        bigger.extend_from_slice(&self.pending);
        self.pending = Zeroizing::new(bigger);
    }
}

impl std::fmt::Debug for StreamMasker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamMasker")
            .field("matcher", &self.matcher)
            .field("held_back", &self.pending.len())
            .finish()
    }
}

/// A writer that masks everything it passes on to another writer.
///
/// Each `write` passes on at once what is decided; [`Write::flush`] flushes the inner writer but
/// cannot release held-back bytes (they may be the start of a secret). [`MaskingWriter::finish`]
/// releases them and returns the inner writer; dropping the writer does the same, ignoring errors.
pub struct MaskingWriter<W: Write> {
    inner: Option<W>,
    masker: StreamMasker,
    buf: Vec<u8>,
}

impl<W: Write> MaskingWriter<W> {
    pub fn new(inner: W, matcher: Arc<SecretMatcher>) -> Self {
        MaskingWriter {
            inner: Some(inner),
            masker: StreamMasker::new(matcher),
            buf: Vec::new(),
        }
    }

    /// Switches to a matcher with more values; see [`StreamMasker::set_matcher`].
    pub fn set_matcher(&mut self, matcher: Arc<SecretMatcher>) {
        self.masker.set_matcher(matcher);
    }

    /// How many bytes are held back.
    pub fn held_back(&self) -> usize {
        self.masker.held_back()
    }

    pub fn get_ref(&self) -> Option<&W> {
        self.inner.as_ref()
    }

    /// Writes what is held back, flushes, and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.release()?;
        self.inner
            .take()
            .ok_or_else(|| io::Error::other("masking writer already finished"))
    }

    fn release(&mut self) -> io::Result<()> {
        self.buf.clear();
        self.masker.finish(&mut self.buf);
        if let Some(inner) = self.inner.as_mut() {
            inner.write_all(&self.buf)?;
            inner.flush()?;
        }
        self.buf.clear();
        Ok(())
    }
}

impl<W: Write> Write for MaskingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let Some(inner) = self.inner.as_mut() else {
            return Err(io::Error::other("masking writer already finished"));
        };
        self.buf.clear();
        self.masker.write(data, &mut self.buf);
        inner.write_all(&self.buf)?;
        self.buf.clear();
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.inner.as_mut() {
            Some(inner) => inner.flush(),
            None => Ok(()),
        }
    }
}

impl<W: Write> Drop for MaskingWriter<W> {
    fn drop(&mut self) {
        if self.inner.is_some() {
            let _ = self.release();
        }
    }
}

impl<W: Write> std::fmt::Debug for MaskingWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaskingWriter")
            .field("masker", &self.masker)
            .finish()
    }
}

#[cfg(test)]
mod tests;
