//! The job's own secrets, found by value: in bytes (a process's environment, its command line)
//! and in files (artifacts).
//!
//! The rule pack finds secrets by their shape; the job's secrets (`secrets.*`) are known, so they
//! are looked for by value, in every spelling the masker hides ([`crate::mask::encodings`]:
//! base64 at three offsets, JSON, URL, XML, shell escapes) and, as the masker does, each line of
//! a multi-line value on its own. A value (or line) shorter than [`MIN_KNOWN_LEN`] bytes is not
//! looked for: it turns up by chance in ordinary text (`CI=true`), and masking still hides it.
//!
//! One automaton over every form of every secret finds whether anything is there in a single
//! pass; only then does each secret's own automaton say which one it was. A hit in a file
//! becomes a [`Finding`] of the rule [`KNOWN_SECRET_RULE`] whose description names the secret
//! and whose fingerprint is that of the secret's value, whatever spelling was found.
//!
//! Must never: show a value in `Debug` output, an error or a finding, or keep one after it is
//! dropped (values are zeroed on drop, the maskers zero their tables).

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use zeroize::Zeroizing;

use super::finding::{Finding, Fingerprint};
use super::locate::LineCursor;
use crate::mask::Masker;

/// Shortest value (or line of a value) looked for, in bytes.
pub const MIN_KNOWN_LEN: usize = 6;

/// The rule id of a finding of one of the job's own secrets.
pub const KNOWN_SECRET_RULE: &str = "job-secret";

/// Bytes read from a file at a time.
const CHUNK: usize = 1 << 20;

/// Most separate places one file reports (a file full of one secret is one finding per place up
/// to this many; the rest are not located).
const MAX_RANGES_PER_FILE: usize = 10_000;

/// Longest stretch read back to tell which secret a match was.
const MAX_RANGE_LEN: usize = 1 << 16;

/// The secrets of a job, by name, ready to be found.
#[derive(Clone, Default)]
pub struct KnownSecrets {
    secrets: Vec<Known>,
    /// Every form of every secret: one pass says whether any is there.
    any: Masker,
}

#[derive(Clone)]
struct Known {
    name: String,
    value: Zeroizing<String>,
    masker: Masker,
}

/// Where one secret was found in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownHit {
    /// Which secret (see [`KnownSecrets::name`]).
    pub secret: usize,
    /// The byte range of the spelling found.
    pub start: usize,
    pub end: usize,
}

impl KnownSecrets {
    pub fn new() -> KnownSecrets {
        KnownSecrets::default()
    }

    /// Adds secret `name` with `value`. A value with no part of at least [`MIN_KNOWN_LEN`]
    /// bytes is not looked for (and not kept).
    pub fn add(&mut self, name: &str, value: &str) {
        let mut masker = Masker::new();
        let trimmed = value.trim();
        for piece in std::iter::once(trimmed).chain(value.split(['\r', '\n']).map(str::trim)) {
            if piece.len() >= MIN_KNOWN_LEN {
                masker.add_value(piece);
                self.any.add_value(piece);
            }
        }
        if masker.is_empty() {
            return;
        }
        self.secrets.push(Known {
            name: name.to_owned(),
            value: Zeroizing::new(value.to_owned()),
            masker,
        });
    }

    /// How many secrets are looked for.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The name of secret `index`.
    pub fn name(&self, index: usize) -> Option<&str> {
        self.secrets.get(index).map(|k| k.name.as_str())
    }

    /// Each secret's name and value, in the order added (for the guest agent, which looks for
    /// them in the guest). Never log what this returns.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.secrets
            .iter()
            .map(|k| (k.name.as_str(), k.value.as_str()))
    }

    /// Every place a secret is spelled in `bytes`, ordered by start; overlapping spellings of
    /// one secret are merged.
    pub fn find(&self, bytes: &[u8]) -> Vec<KnownHit> {
        if self.secrets.is_empty() || !self.any.contains_secret(bytes) {
            return Vec::new();
        }
        let mut hits: Vec<KnownHit> = self
            .secrets
            .iter()
            .enumerate()
            .flat_map(|(secret, k)| {
                k.masker
                    .masked_ranges(bytes)
                    .into_iter()
                    .map(move |(start, end)| KnownHit { secret, start, end })
            })
            .collect();
        hits.sort_by_key(|h| (h.start, h.secret));
        hits
    }

    /// Whether `bytes` spell any secret.
    pub fn contains_any(&self, bytes: &[u8]) -> bool {
        !self.secrets.is_empty() && self.any.contains_secret(bytes)
    }

    /// Finds the secrets in the regular file at `path` (never following a link, never opening
    /// a FIFO or device), read in chunks whatever its size; findings are labelled `label`.
    pub fn scan_file(&self, path: &Path, label: &str) -> io::Result<Vec<Finding>> {
        if self.secrets.is_empty() {
            return Ok(Vec::new());
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)?;
        if !file.metadata()?.is_file() {
            return Err(io::Error::other("not a regular file"));
        }
        let ranges = self.ranges_in(&file)?;
        if ranges.is_empty() {
            return Ok(Vec::new());
        }
        // Which secret each stretch spells, with the bytes (for the end position).
        let mut hits: Vec<(KnownHit, Zeroizing<Vec<u8>>)> = Vec::new();
        for (start, end) in ranges {
            let len = usize::try_from(end - start)
                .unwrap_or(MAX_RANGE_LEN)
                .min(MAX_RANGE_LEN);
            let mut bytes = Zeroizing::new(vec![0u8; len]);
            let got = read_full_at(&file, &mut bytes, start)?;
            bytes.truncate(got);
            for hit in self.find(&bytes) {
                let part =
                    Zeroizing::new(bytes.get(hit.start..hit.end).unwrap_or_default().to_vec());
                let at = usize::try_from(start).unwrap_or(usize::MAX);
                hits.push((
                    KnownHit {
                        secret: hit.secret,
                        start: at.saturating_add(hit.start),
                        end: at.saturating_add(hit.end),
                    },
                    part,
                ));
            }
        }
        hits.sort_by_key(|(h, _)| (h.start, h.secret));
        let starts: Vec<u64> = hits.iter().map(|(h, _)| h.start as u64).collect();
        let places = locate_all(&file, &starts)?;
        Ok(hits
            .iter()
            .zip(places)
            .map(|((hit, bytes), at)| {
                let end = LineCursor::locate_end(bytes, 0, bytes.len(), at);
                self.finding(hit, label, at, end)
            })
            .collect())
    }

    /// The finding for `hit` of a file or buffer labelled `label`.
    pub fn finding(&self, hit: &KnownHit, label: &str, at: (u64, u64), end: (u64, u64)) -> Finding {
        let known = self.secrets.get(hit.secret);
        let name = known.map(|k| k.name.as_str()).unwrap_or("?");
        Finding {
            rule: KNOWN_SECRET_RULE.to_owned(),
            description: format!("the job's secret `{name}`"),
            source: label.to_owned(),
            line: at.0,
            column: at.1,
            end_line: end.0,
            end_column: end.1,
            offset: hit.start as u64,
            length: hit.end.saturating_sub(hit.start) as u64,
            fingerprint: Fingerprint::of(known.map(|k| k.value.trim()).unwrap_or("").as_bytes()),
            encoding: None,
        }
    }

    /// The merged byte ranges of the file that spell some secret (one pass, the automaton's
    /// state carried from chunk to chunk).
    fn ranges_in(&self, file: &File) -> io::Result<Vec<(u64, u64)>> {
        let matcher = self.any.matcher();
        let mut state = matcher.start();
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        let mut buf = Zeroizing::new(vec![0u8; CHUNK]);
        let mut base: u64 = 0;
        loop {
            let n = match file.read_at(&mut buf, base) {
                Ok(0) => return Ok(ranges),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            for (i, &b) in buf.iter().take(n).enumerate() {
                state = matcher.next(state, b);
                let len = matcher.match_len(state) as u64;
                if len == 0 {
                    continue;
                }
                let end = base + i as u64 + 1;
                let mut start = end.saturating_sub(len);
                while let Some(&(s, e)) = ranges.last() {
                    if e < start {
                        break;
                    }
                    start = start.min(s);
                    ranges.pop();
                }
                if ranges.len() < MAX_RANGES_PER_FILE {
                    ranges.push((start, end));
                }
            }
            base += n as u64;
        }
    }
}

/// Reads into `buf` from `offset` until it is full or the file ends; the bytes read.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        let Some(rest) = buf.get_mut(done..) else {
            break;
        };
        match file.read_at(rest, offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// The 1-based line and column of each offset (sorted), reading the file once up to the last.
fn locate_all(file: &File, offsets: &[u64]) -> io::Result<Vec<(u64, u64)>> {
    let mut places = Vec::with_capacity(offsets.len());
    let mut cursor = LineCursor::default();
    let mut buf = Zeroizing::new(vec![0u8; CHUNK]);
    let mut base: u64 = 0;
    let mut next = offsets.iter().peekable();
    while next.peek().is_some() {
        let n = read_full_at(file, &mut buf, base)?;
        let piece = buf.get(..n).unwrap_or_default();
        let end = base + n as u64;
        while let Some(&&at) = next.peek() {
            if at >= end && n > 0 {
                break;
            }
            let rel = usize::try_from(at.saturating_sub(base)).unwrap_or(n).min(n);
            places.push(cursor.locate(piece, rel));
            next.next();
        }
        if n == 0 {
            break;
        }
        cursor.discard(piece, n);
        base = end;
    }
    Ok(places)
}

impl std::fmt::Debug for KnownSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownSecrets")
            .field(
                "names",
                &self.secrets.iter().map(|k| &k.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> KnownSecrets {
        let mut k = KnownSecrets::new();
        k.add("TOKEN", "s3cr3t-v4lue");
        k.add("SHORT", "abc");
        k.add("MULTI", "first-line-xyz\nsecond-line-xyz\n");
        k
    }

    #[test]
    fn finds_each_secret_by_name_in_its_encodings() {
        let k = known();
        assert_eq!(
            k.len(),
            2,
            "a value shorter than the minimum is not looked for"
        );
        let b64 = crate::mask::encodings::encoded_forms("s3cr3t-v4lue")
            .into_iter()
            .find(|f| f.ends_with('='))
            .unwrap();
        let text = format!("a=s3cr3t-v4lue b={b64} c=second-line-xyz abc");
        let hits = k.find(text.as_bytes());
        let names: Vec<&str> = hits.iter().filter_map(|h| k.name(h.secret)).collect();
        assert_eq!(names, ["TOKEN", "TOKEN", "MULTI"]);
        assert_eq!(&text[hits[0].start..hits[0].end], "s3cr3t-v4lue");
        assert!(k.find(b"nothing here, abc").is_empty());
    }

    #[test]
    fn debug_shows_names_only() {
        let text = format!("{:?}", known());
        assert!(text.contains("TOKEN") && !text.contains("s3cr3t"), "{text}");
    }

    #[test]
    fn scans_files_across_chunks_with_line_and_column() {
        let k = known();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        // The secret straddles the first chunk boundary, on line 3.
        let mut text = "x\ny\n".to_owned();
        let pad = CHUNK - text.len() - 5;
        text.push_str(&"z".repeat(pad));
        text.push_str("s3cr3t-v4lue\nand first-line-xyz\n");
        std::fs::write(&path, &text).unwrap();
        let found = k.scan_file(&path, "artifact a.txt").unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].rule, KNOWN_SECRET_RULE);
        assert_eq!(found[0].description, "the job's secret `TOKEN`");
        assert_eq!((found[0].line, found[0].column), (3, pad as u64 + 1));
        assert_eq!(found[0].end_column, pad as u64 + 12);
        assert_eq!(found[0].offset, (CHUNK - 5) as u64);
        assert_eq!((found[1].line, found[1].column), (4, 5));
        assert_eq!(found[1].description, "the job's secret `MULTI`");
        assert!(!format!("{found:?}").contains("s3cr3t"));
    }

    #[test]
    fn refuses_links_and_ignores_clean_files() {
        let k = known();
        let dir = tempfile::tempdir().unwrap();
        let clean = dir.path().join("clean");
        std::fs::write(&clean, b"nothing").unwrap();
        assert!(k.scan_file(&clean, "clean").unwrap().is_empty());
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&clean, &link).unwrap();
        assert!(k.scan_file(&link, "link").is_err());
    }
}
