//! Line and column of byte offsets, counted only as far as a finding needs.
//!
//! A [`LineCursor`] walks forward through a buffer (and through the buffers of one file read in
//! chunks), counting line feeds up to each finding in order, so a file without findings costs
//! nothing here. Columns count characters (UTF-8 sequences), both 1-based.

/// Where the cursor is in a file read as a sequence of buffers.
#[derive(Debug, Clone)]
pub(crate) struct LineCursor {
    /// Offset in the current buffer.
    pos: usize,
    /// Line feeds before `pos` (so the 0-based line of `pos`).
    line: u64,
    /// Where `pos`'s line starts in the current buffer; `None` when it started in an earlier
    /// buffer, whose part of the line holds `carried` characters.
    line_start: Option<usize>,
    carried: u64,
}

impl Default for LineCursor {
    fn default() -> Self {
        LineCursor {
            pos: 0,
            line: 0,
            line_start: Some(0),
            carried: 0,
        }
    }
}

fn chars(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count() as u64
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

impl LineCursor {
    /// Moves to `to` (not before the current position).
    fn advance(&mut self, buf: &[u8], to: usize) {
        let to = to.max(self.pos).min(buf.len());
        if let Some(seg) = buf.get(self.pos..to) {
            if let Some(last) = memchr::memrchr(b'\n', seg) {
                self.line += newlines(seg);
                self.line_start = Some(self.pos + last + 1);
                self.carried = 0;
            }
        }
        self.pos = to;
    }

    /// The 1-based line and column of `at` (at or after the cursor), moving the cursor there.
    pub fn locate(&mut self, buf: &[u8], at: usize) -> (u64, u64) {
        self.advance(buf, at);
        let from = self.line_start.unwrap_or(0);
        let col = self.carried + chars(buf.get(from..self.pos).unwrap_or_default()) + 1;
        (self.line + 1, col)
    }

    /// The 1-based line and column of the last character of `start..end`, given the position of
    /// `start`; the cursor does not move.
    pub fn locate_end(buf: &[u8], start: usize, end: usize, at: (u64, u64)) -> (u64, u64) {
        let seg = buf.get(start..end).unwrap_or_default();
        match memchr::memrchr(b'\n', seg) {
            None => (at.0, (at.1 + chars(seg)).saturating_sub(1).max(1)),
            Some(last) => (
                at.0 + newlines(seg),
                chars(seg.get(last + 1..).unwrap_or_default()).max(1),
            ),
        }
    }

    /// The first `drop` bytes of the buffer are discarded: what follows starts at 0.
    pub fn discard(&mut self, buf: &[u8], drop: usize) {
        self.advance(buf, drop);
        match self.line_start {
            Some(s) if s >= drop => self.line_start = Some(s - drop),
            Some(s) => {
                self.carried = chars(buf.get(s..drop).unwrap_or_default());
                self.line_start = None;
            }
            None => self.carried += chars(buf.get(..drop).unwrap_or_default()),
        }
        self.pos -= drop.min(self.pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_offsets_in_order_with_character_columns() {
        let text = "ab\nçd x\n\nlast".as_bytes();
        let mut c = LineCursor::default();
        assert_eq!(c.locate(text, 0), (1, 1));
        let x = text.iter().position(|&b| b == b'x').unwrap();
        assert_eq!(c.locate(text, x), (2, 4));
        assert_eq!(c.locate(text, text.len() - 4), (4, 1));
    }

    #[test]
    fn end_positions_cross_lines() {
        let text = b"k=abc\ndef\n";
        assert_eq!(LineCursor::locate_end(text, 2, 5, (1, 3)), (1, 5));
        assert_eq!(LineCursor::locate_end(text, 2, 9, (1, 3)), (2, 3));
    }

    #[test]
    fn positions_carry_over_discarded_buffer_starts() {
        let whole = b"one\ntwo three\nfour";
        let mut c = LineCursor::default();
        // Keep the buffer from "three" on, as a chunked reader would.
        let cut = 8;
        c.discard(whole, cut);
        let rest = &whole[cut..];
        assert_eq!(c.locate(rest, 0), (2, 5));
        assert_eq!(c.locate(rest, rest.len() - 4), (3, 1));
    }
}
