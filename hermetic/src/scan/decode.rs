//! Base64 blobs in text, found quickly and decoded when they hold text.
//!
//! A blob is a run of at least [`MIN_BLOB`] characters of one base64 alphabet (standard `+/` or
//! URL-safe `-_`), with its `=` padding. Only blobs that decode to text (valid UTF-8 without
//! control characters other than tab and line ends) are handed on: a secret is text, and random
//! bytes almost never pass that test, which keeps hashes, keys and images from being scanned as
//! if they were files.
//!
//! Runs in a single letter case (`SOME_CONSTANT`, `some_long_identifier`) are identifiers, not
//! base64 of text, and are not decoded.
//!
//! Runs are found by probing every [`MIN_BLOB`]-th byte: a byte outside the alphabet rules out
//! every run through it, so ordinary text is skipped without looking at most of its bytes.
//! Line-wrapped base64 (MIME, PEM) is decoded line by line, which is exact when the line length is
//! a multiple of 4 (it is, for 64 and 76); a secret cut by a line break is not found here.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

/// Shortest run decoded (18 bytes of text).
pub const MIN_BLOB: usize = 24;

/// Bytes of decoded text examined before the whole blob is decoded.
const PROBE: usize = 48;

const STD: u8 = 1;
const URL: u8 = 2;
const BOTH: u8 = 3;
const UPPER: u8 = 4;
const LOWER: u8 = 8;
const DIGIT: u8 = 16;

/// The alphabet class of each byte (0 outside both alphabets; `STD`, `URL` or `BOTH`) and, for
/// letters and digits, which kind it is.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = b'A';
    while c <= b'Z' {
        t[c as usize] = BOTH | UPPER;
        t[(c + 32) as usize] = BOTH | LOWER;
        c += 1;
    }
    let mut d = b'0';
    while d <= b'9' {
        t[d as usize] = BOTH | DIGIT;
        d += 1;
    }
    t[b'+' as usize] = STD;
    t[b'/' as usize] = STD;
    t[b'-' as usize] = URL;
    t[b'_' as usize] = URL;
    t
};

fn engine(alphabet: &base64::alphabet::Alphabet) -> GeneralPurpose {
    GeneralPurpose::new(
        alphabet,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    )
}

/// Finds base64 blobs in text and decodes those that hold text.
pub(crate) struct BlobDecoder {
    standard: GeneralPurpose,
    url_safe: GeneralPurpose,
    decoded: Vec<u8>,
}

impl Default for BlobDecoder {
    fn default() -> Self {
        BlobDecoder {
            standard: engine(&base64::alphabet::STANDARD),
            url_safe: engine(&base64::alphabet::URL_SAFE),
            decoded: Vec::new(),
        }
    }
}

impl BlobDecoder {
    /// Calls `found(start, end, text)` for each blob of `buf` (`start..end`, padding included)
    /// that decodes to text.
    pub fn for_each_text_blob(&mut self, buf: &[u8], mut found: impl FnMut(usize, usize, &[u8])) {
        let n = buf.len();
        // Invariant: `buf[i - 1]` (if any) is not in the alphabet, so a run never starts before i.
        let mut i = 0;
        while i + MIN_BLOB <= n {
            let probe = i + MIN_BLOB - 1;
            if class(buf, probe) == 0 {
                i = probe + 1;
                continue;
            }
            // A run of MIN_BLOB through `probe` reaches half of it to one side or the other.
            let half = MIN_BLOB / 2;
            if class(buf, probe - half) == 0 && class(buf, probe + half) == 0 {
                // No long run can hold `probe + half` either: start past it.
                i = probe + half + 1;
                continue;
            }
            let mut start = probe;
            while start > i && class(buf, start - 1) != 0 {
                start -= 1;
            }
            let mut end = probe + 1;
            let mut seen = BOTH;
            let mut kinds = 0;
            for k in start..=probe {
                seen &= class(buf, k);
                kinds |= class(buf, k);
            }
            while end < n {
                let c = class(buf, end);
                if c == 0 {
                    break;
                }
                seen &= c;
                kinds |= c;
                end += 1;
            }
            // Base64 of text mixes upper and lower case (and, URL-safe, digits): a run of one
            // case is a constant or an identifier (`SOME_NAME`, `some_long_name`), not decoded.
            let url = seen & BOTH == URL;
            let mixed = kinds & (UPPER | LOWER) == UPPER | LOWER && (!url || kinds & DIGIT != 0);
            if end - start >= MIN_BLOB && seen & BOTH != 0 && mixed {
                // `seen` is the alphabets every byte belongs to: BOTH (letters and digits only),
                // STD or URL; 0 would mean `+/` and `-_` are mixed, which is no base64.
                let mut padded = end;
                while padded < n && padded < end + 2 && buf.get(padded) == Some(&b'=') {
                    padded += 1;
                }
                if let Some(run) = buf.get(start..end) {
                    if self.decode_text(run, url) {
                        found(start, padded, &self.decoded);
                    }
                }
                // `buf[padded - 1]` is `=` when there is padding, else `buf[end]` ends the run.
                i = if padded > end { padded } else { end + 1 };
            } else {
                i = end + 1;
            }
        }
    }

    /// Decodes `run` into `self.decoded`; false when it is not base64 of text.
    fn decode_text(&mut self, run: &[u8], url: bool) -> bool {
        // A length of 4k+1 cannot be base64: the last character is not part of the blob.
        let usable = run.len() - usize::from(run.len() % 4 == 1);
        let engine = if url { &self.url_safe } else { &self.standard };
        let probe = usable.min(PROBE);
        let probe = probe - probe % 4;
        self.decoded.clear();
        if probe < usable {
            let Some(head) = run.get(..probe) else {
                return false;
            };
            if engine.decode_vec(head, &mut self.decoded).is_err() || !is_text(&self.decoded, true)
            {
                return false;
            }
            self.decoded.clear();
        }
        let Some(all) = run.get(..usable) else {
            return false;
        };
        engine.decode_vec(all, &mut self.decoded).is_ok() && is_text(&self.decoded, false)
    }
}

fn class(buf: &[u8], i: usize) -> u8 {
    buf.get(i).map_or(0, |&b| CLASS[usize::from(b)])
}

/// Valid UTF-8 (allowing a character cut at the end of a `prefix`) with no control character but
/// tab, line feed and carriage return.
fn is_text(bytes: &[u8], prefix: bool) -> bool {
    if bytes
        .iter()
        .any(|&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f)
    {
        return false;
    }
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(e) => prefix && e.error_len().is_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs(text: &[u8]) -> Vec<(usize, usize, String)> {
        let mut out = Vec::new();
        BlobDecoder::default().for_each_text_blob(text, |s, e, d| {
            out.push((s, e, String::from_utf8_lossy(d).into_owned()))
        });
        out
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn decodes_a_blob_in_yaml_with_its_padding() {
        let enc = b64("token=abcdefghijklmnopqrstu");
        let text = format!("data:\n  creds: {enc}\n");
        let found = blobs(text.as_bytes());
        let start = text.find(&enc).unwrap();
        assert_eq!(
            found,
            vec![(
                start,
                start + enc.len(),
                "token=abcdefghijklmnopqrstu".to_owned()
            )]
        );
    }

    #[test]
    fn decodes_url_safe_blobs() {
        let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode("{\"k\":\"??>>??>>??>>??>>??\"}");
        assert!(enc.contains('_') || enc.contains('-'), "{enc}");
        let found = blobs(format!("x {enc} y").as_bytes());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].2, "{\"k\":\"??>>??>>??>>??>>??\"}");
    }

    #[test]
    fn skips_binary_blobs_and_identifiers() {
        let binary = base64::engine::general_purpose::STANDARD.encode([
            0u8, 1, 2, 3, 200, 201, 255, 7, 9, 11, 13, 0, 0, 0, 1, 2, 3, 4, 5,
        ]);
        let text = format!("{binary} some_long_snake_case_identifier_name here_and_more_words");
        assert!(blobs(text.as_bytes()).is_empty());
    }

    #[test]
    fn short_runs_are_not_blobs() {
        let enc = b64("short text");
        assert!(enc.len() < MIN_BLOB);
        assert!(blobs(enc.as_bytes()).is_empty());
    }

    #[test]
    fn finds_runs_that_touch_either_end_of_the_buffer() {
        let enc = b64("password=0123456789abcdefghij");
        let found = blobs(enc.as_bytes());
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].0, found[0].1), (0, enc.len()));
    }

    #[test]
    fn every_run_of_text_is_found_whatever_its_offset() {
        let enc = b64("user:pass-0123456789abcdef");
        for pad in 0..40 {
            let text = format!("{}\"{enc}\"", " ".repeat(pad));
            assert_eq!(blobs(text.as_bytes()).len(), 1, "offset {pad}");
        }
    }
}
