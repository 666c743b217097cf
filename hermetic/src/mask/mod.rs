//! The secret masker: every secret, and every spelling of it, becomes `***` before any byte of a
//! job's output is shown or stored.
//!
//! A [`Masker`] holds the values to hide: the job's secrets ([`Masker::add_secret`]), the values a
//! step hides with `::add-mask::` ([`Masker::add_mask`]) and any other value the runner must not
//! reveal ([`Masker::add_value`]). For each it also hides the encodings GitHub's runner hides
//! (see [`encodings`]: base64 at three byte offsets, JSON, URL, XML, command-line and shell
//! escapes) and, as GitHub does, each line of a multi-line value on its own.
//!
//! Two ways to mask, which give the same result on the same bytes:
//! - [`Masker::mask_str`] for a whole value (an output, a summary, an annotation);
//! - [`StreamMasker`] and [`MaskingWriter`] for a log that arrives in pieces: a secret split across
//!   writes, even written one byte at a time, is still masked. Only the trailing bytes that could
//!   still begin a secret are held back; everything else is passed on at once, and
//!   [`MaskingWriter::finish`] releases the rest.
//!
//! Which text is masked is GitHub's rule: every occurrence of every value is found, overlapping
//! and touching occurrences are merged, and each merged stretch becomes one `***`. One difference
//! from GitHub: GitHub masks a log line by line, so a multi-line secret shows as one `***` per
//! line there and as a single `***` here.
//!
//! What this module must never do: print, log or `Debug`-format a secret (every type here has a
//! `Debug` that shows only counts), or keep one after it is dropped (the values, the matcher's
//! tables and a stream's held-back bytes are zeroed on drop).
//!
//! ```
//! use hermetic::mask::Masker;
//! let mut masker = Masker::new();
//! masker.add_secret("hunter2");
//! assert_eq!(masker.mask_str("pw=hunter2 b64=aHVudGVyMg=="), "pw=*** b64=***");
//!
//! let mut log = masker.writer(Vec::new());
//! for byte in b"pass: hunter2\n" {
//!     std::io::Write::write_all(&mut log, &[*byte]).unwrap();
//! }
//! assert_eq!(log.finish().unwrap(), b"pass: ***\n");
//! ```

pub mod encodings;
mod matcher;
mod stream;

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use zeroize::Zeroize;

pub use matcher::SecretMatcher;
pub use stream::{MaskingWriter, StreamMasker};

/// What replaces each masked stretch of text.
pub const MASK: &str = "***";

/// The values to mask and the matcher compiled from them.
#[derive(Clone, Default)]
pub struct Masker {
    /// The values registered, without their encodings.
    originals: HashSet<SecretBytes>,
    /// Every value matched: the originals and all their encodings.
    patterns: HashSet<SecretBytes>,
    /// Built on first use after a change.
    matcher: OnceLock<Arc<SecretMatcher>>,
}

impl Masker {
    pub fn new() -> Self {
        Masker::default()
    }

    /// Registers a secret of the job (`--secret`, a secrets file): as GitHub does for secret
    /// variables, the value trimmed of white space and each of its non-empty lines, trimmed.
    pub fn add_secret(&mut self, value: &str) {
        self.add_value(value.trim());
        self.add_lines(value);
    }

    /// Registers the value of an `::add-mask::` command: the value as written and each of its
    /// non-empty lines, trimmed. A blank value is ignored.
    pub fn add_mask(&mut self, value: &str) {
        if value.trim().is_empty() {
            return;
        }
        self.add_value(value);
        self.add_lines(value);
    }

    /// Registers exactly `value` (and its encodings); an empty value is ignored.
    pub fn add_value(&mut self, value: &str) {
        if value.is_empty() || self.originals.contains(value.as_bytes()) {
            return;
        }
        self.originals.insert(SecretBytes::from(value));
        self.patterns.insert(SecretBytes::from(value));
        for mut form in encodings::encoded_forms(value) {
            if !self.patterns.contains(form.as_bytes()) {
                self.patterns.insert(SecretBytes::from(form.as_str()));
            }
            form.zeroize();
        }
        self.matcher = OnceLock::new();
    }

    fn add_lines(&mut self, value: &str) {
        for line in value.split(['\r', '\n']) {
            let line = line.trim();
            if !line.is_empty() {
                self.add_value(line);
            }
        }
    }

    /// How many values were registered (encodings not counted).
    pub fn len(&self) -> usize {
        self.originals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.originals.is_empty()
    }

    /// The matcher for the values registered so far, shared by the streams that use it.
    pub fn matcher(&self) -> Arc<SecretMatcher> {
        Arc::clone(self.matcher.get_or_init(|| {
            Arc::new(SecretMatcher::new(
                self.patterns.iter().map(|p| p.0.as_slice()),
            ))
        }))
    }

    /// `text` with every registered value and encoding replaced by `***`.
    pub fn mask_str(&self, text: &str) -> String {
        let masked = self.mask_bytes(text.as_bytes());
        // Values are whole UTF-8 strings, so masking cuts only at character boundaries.
        String::from_utf8(masked)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// `bytes` with every registered value and encoding replaced by `***`.
    pub fn mask_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let ranges = self.masked_ranges(bytes);
        if ranges.is_empty() {
            return bytes.to_vec();
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut cur = 0;
        for (start, end) in ranges {
            out.extend_from_slice(bytes.get(cur..start).unwrap_or_default());
            out.extend_from_slice(MASK.as_bytes());
            cur = end;
        }
        out.extend_from_slice(bytes.get(cur..).unwrap_or_default());
        out
    }

    /// Whether `bytes` holds any registered value or encoding.
    pub fn contains_secret(&self, bytes: &[u8]) -> bool {
        let matcher = self.matcher();
        let mut state = matcher.start();
        bytes.iter().any(|&b| {
            state = matcher.next(state, b);
            matcher.match_len(state) > 0
        })
    }

    /// A stream masker for the values registered so far.
    pub fn stream(&self) -> StreamMasker {
        StreamMasker::new(self.matcher())
    }

    /// A writer that masks what it passes on to `inner`.
    pub fn writer<W: std::io::Write>(&self, inner: W) -> MaskingWriter<W> {
        MaskingWriter::new(inner, self.matcher())
    }

    /// The merged byte ranges to mask, in order; touching ranges are merged.
    pub(crate) fn masked_ranges(&self, bytes: &[u8]) -> Vec<(usize, usize)> {
        let matcher = self.matcher();
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        let mut state = matcher.start();
        for (i, &b) in bytes.iter().enumerate() {
            state = matcher.next(state, b);
            let len = matcher.match_len(state);
            if len == 0 {
                continue;
            }
            let (mut start, end) = ((i + 1).saturating_sub(len), i + 1);
            while let Some(&(s, e)) = ranges.last() {
                if e < start {
                    break;
                }
                start = start.min(s);
                ranges.pop();
            }
            ranges.push((start, end));
        }
        ranges
    }
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Masker")
            .field("values", &self.originals.len())
            .field("patterns", &self.patterns.len())
            .finish()
    }
}

/// Bytes of a secret: zeroed on drop, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Hash)]
struct SecretBytes(Vec<u8>);

impl From<&str> for SecretBytes {
    fn from(value: &str) -> Self {
        SecretBytes(value.as_bytes().to_vec())
    }
}

impl std::borrow::Borrow<[u8]> for SecretBytes {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes(<{} bytes>)", self.0.len())
    }
}

#[cfg(test)]
mod tests;
