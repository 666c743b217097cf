//! Scanning files and directory trees: walking, reading in large chunks, skipping binaries.
//!
//! A directory is walked with an explicit stack (no recursion), entries in name order, so reports
//! are stable. Only regular files are read: symbolic links are not followed (a link can point
//! anywhere on the host) and FIFOs, sockets and devices are skipped; each file is opened with
//! `O_NOFOLLOW | O_NONBLOCK` and checked again after opening, so a file swapped for a link or a
//! FIFO meanwhile is not read either. `.git` directories hold history, not the tree, and are
//! skipped. A file whose first 8 KiB hold a NUL byte is binary and skipped.
//!
//! Files are read in [`CHUNK`]-byte pieces into one reused buffer; consecutive pieces overlap by
//! [`OVERLAP`] bytes and a match is reported by the piece in which it starts before the overlap,
//! so nothing is missed or reported twice at a boundary.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::detect::{Hit, Scratch, LINE_CONTEXT, MULTILINE_CONTEXT};
use super::finding::{Finding, Fingerprint};
use super::locate::LineCursor;
use super::Scanner;

/// Bytes read at a time.
const CHUNK: usize = 8 << 20;

/// Bytes each piece shares with the next: more than any window a keyword opens.
const OVERLAP: usize = 4 * MULTILINE_CONTEXT;

/// Bytes kept before the overlap so a window can reach back to its line's start.
const BACK: usize = 2 * LINE_CONTEXT;

/// Bytes examined for a NUL to call a file binary.
const BINARY_PROBE: usize = 8192;

/// What a scan of paths found and what it could not read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanReport {
    pub findings: Vec<Finding>,
    pub stats: ScanStats,
    /// Paths that could not be scanned: the scan is incomplete when this is not empty.
    pub errors: Vec<ScanFailure>,
}

/// Counts of a scan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanStats {
    pub files: u64,
    pub bytes: u64,
    pub skipped_binary: u64,
    /// Links, FIFOs, sockets and devices.
    pub skipped_special: u64,
    /// Files every rule is allowlisted for (by path).
    pub skipped_allowlisted: u64,
    pub elapsed_ms: u64,
}

/// A path that could not be scanned, and why.
#[derive(Debug, Clone, Serialize)]
pub struct ScanFailure {
    pub path: String,
    pub message: String,
}

/// Buffers reused from one file to the next.
struct Work {
    scratch: Scratch,
    buf: Vec<u8>,
    hits: Vec<Hit>,
}

impl Scanner {
    /// Scans files and directories (walked at any depth).
    pub fn scan_paths<P: AsRef<Path>>(&self, paths: &[P]) -> ScanReport {
        let started = Instant::now();
        let mut report = ScanReport::default();
        let mut work = Work {
            scratch: Scratch::new(&self.detector),
            buf: Vec::new(),
            hits: Vec::new(),
        };
        for path in paths {
            self.scan_tree(path.as_ref(), &mut work, &mut report);
        }
        report.stats.elapsed_ms = started.elapsed().as_millis() as u64;
        report
    }

    fn scan_tree(&self, root: &Path, work: &mut Work, report: &mut ScanReport) {
        let root_type = match std::fs::symlink_metadata(root) {
            Ok(m) => m.file_type(),
            Err(e) => return fail(report, root, &e),
        };
        if root_type.is_symlink() {
            // A link named on the command line is what the user asked for; inside a tree, links
            // are not followed.
            let target = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
            return self.scan_file(&target, root, work, report);
        }
        let mut stack: Vec<(PathBuf, std::fs::FileType)> = vec![(root.to_path_buf(), root_type)];
        while let Some((path, ft)) = stack.pop() {
            if ft.is_file() {
                self.scan_file(&path, &path, work, report);
                continue;
            }
            if !ft.is_dir() {
                report.stats.skipped_special += 1;
                continue;
            }
            if path != root && path.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            let entries = match std::fs::read_dir(&path) {
                Ok(rd) => rd,
                Err(e) => {
                    fail(report, &path, &e);
                    continue;
                }
            };
            let mut children = Vec::new();
            for entry in entries {
                match entry.and_then(|e| e.file_type().map(|t| (e.path(), t))) {
                    Ok(child) => children.push(child),
                    Err(e) => fail(report, &path, &e),
                }
            }
            children.sort_by(|a, b| a.0.cmp(&b.0));
            stack.extend(children.into_iter().rev());
        }
    }

    fn scan_file(&self, open_path: &Path, shown: &Path, work: &mut Work, report: &mut ScanReport) {
        let label = shown.to_string_lossy();
        let scope = self.detector.scope(&label);
        if scope.skip {
            report.stats.skipped_allowlisted += 1;
            return;
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(open_path);
        let mut file = match file.and_then(|f| f.metadata().map(|m| (f, m))) {
            Ok((f, m)) if m.is_file() => f,
            Ok(_) => {
                report.stats.skipped_special += 1;
                return;
            }
            Err(e) => {
                fail(report, shown, &e);
                return;
            }
        };
        for r in self.detector.path_rules_matching(&scope) {
            report.findings.push(self.finding(
                &Hit {
                    rule: r,
                    start: 0,
                    end: 0,
                    fingerprint: Fingerprint::of(label.as_bytes()),
                    encoding: None,
                },
                &label,
                0,
                (1, 1),
                (1, 1),
            ));
        }
        if let Err(e) = self.scan_open_file(&mut file, &label, &scope, work, report) {
            fail(report, shown, &e);
        }
    }

    fn scan_open_file(
        &self,
        file: &mut File,
        label: &str,
        scope: &super::detect::Scope,
        work: &mut Work,
        report: &mut ScanReport,
    ) -> std::io::Result<()> {
        let buf = &mut work.buf;
        buf.clear();
        let mut cursor = LineCursor::default();
        // Matches starting before `floor` were reported with the previous piece.
        let mut floor = 0;
        // The file offset of `buf[0]`.
        let mut base: u64 = 0;
        let mut first = true;
        loop {
            let (read, eof) = fill(file, buf, CHUNK)?;
            report.stats.bytes += read as u64;
            if first {
                first = false;
                let probe = buf.get(..BINARY_PROBE.min(buf.len())).unwrap_or_default();
                if memchr::memchr(0, probe).is_some() {
                    report.stats.skipped_binary += 1;
                    return Ok(());
                }
                report.stats.files += 1;
            }
            let report_upto = if eof {
                buf.len()
            } else {
                buf.len().saturating_sub(OVERLAP)
            };
            work.hits.clear();
            self.detector
                .detect(buf, label, scope, &mut work.scratch, &mut work.hits);
            work.hits
                .retain(|h| h.start >= floor && h.start < report_upto);
            work.hits.sort_by_key(|h| (h.start, h.rule));
            for hit in &work.hits {
                let at = cursor.locate(buf, hit.start);
                let end = LineCursor::locate_end(buf, hit.start, hit.end, at);
                report
                    .findings
                    .push(self.finding(hit, label, base, at, end));
            }
            if eof {
                return Ok(());
            }
            let keep_from = report_upto.saturating_sub(BACK);
            cursor.discard(buf, keep_from);
            buf.drain(..keep_from);
            base += keep_from as u64;
            floor = report_upto - keep_from;
        }
    }
}

/// Reads until `buf` holds `want` bytes or the file ends: the bytes read, and whether the file
/// ended.
fn fill(file: &mut File, buf: &mut Vec<u8>, want: usize) -> std::io::Result<(usize, bool)> {
    let need = want.saturating_sub(buf.len());
    let read = (&mut *file).take(need as u64).read_to_end(buf)?;
    Ok((read, read < need))
}

fn fail(report: &mut ScanReport, path: &Path, e: &std::io::Error) {
    report.errors.push(ScanFailure {
        path: path.display().to_string(),
        message: e.to_string(),
    });
}
