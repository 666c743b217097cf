//! Sending a delta: the tar stream of written paths and the list of removed ones.
//!
//! The tar stream holds directories, regular files and symbolic links with their permission bits
//! and (whole-second) modification times; owners are not sent (the receiver decides them). Files
//! are opened with `O_NOFOLLOW` and checked to be regular after opening, so what is sent is
//! what the manifest saw and never what a link points to. A file that shrank since its header
//! was written is padded with zeros, so the stream stays well-formed whatever happens to it.
//!
//! Must never: follow a symbolic link, or write a tar entry whose data length differs from its
//! header.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::{Changes, RelPath, SyncError};
use crate::vm::protocol::SyncStats;

/// Writes the tar stream of `changes.written` (read from `root`) to `out`.
pub fn write_tar(root: &Path, changes: &Changes, out: impl Write) -> Result<SyncStats, SyncError> {
    let mut builder = tar::Builder::new(out);
    let mut stats = SyncStats::default();
    for rel in &changes.written {
        append_entry(&mut builder, root, rel, &mut stats)?;
    }
    builder
        .into_inner()
        .and_then(|mut out| out.flush())
        .map_err(SyncError::Send)?;
    Ok(stats)
}

fn append_entry<W: Write>(
    builder: &mut tar::Builder<W>,
    root: &Path,
    rel: &RelPath,
    stats: &mut SyncStats,
) -> Result<(), SyncError> {
    let path = root.join(rel.as_path());
    let meta = match fs::symlink_metadata(&path) {
        Ok(meta) => meta,
        // Gone since the scan: the next manifest will list it as removed.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(SyncError::io("lstat", &path, e)),
    };
    let mut header = tar::Header::new_gnu();
    header.set_mode(meta.permissions().mode() & 0o777);
    header.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
    header.set_uid(0);
    header.set_gid(0);
    let ft = meta.file_type();
    if ft.is_dir() {
        header.set_entry_type(tar::EntryType::Directory);
        header.set_size(0);
        builder
            .append_data(&mut header, rel.as_path(), io::empty())
            .map_err(SyncError::Send)?;
        stats.dirs += 1;
    } else if ft.is_symlink() {
        let target = fs::read_link(&path).map_err(|e| SyncError::io("read link", &path, e))?;
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        builder
            .append_link(&mut header, rel.as_path(), &target)
            .map_err(SyncError::Send)?;
        stats.symlinks += 1;
    } else if ft.is_file() {
        let file = match open_no_follow(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(SyncError::io("open", &path, e)),
        };
        let meta = file
            .metadata()
            .map_err(|e| SyncError::io("fstat", &path, e))?;
        if !meta.file_type().is_file() {
            return Ok(());
        }
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(meta.permissions().mode() & 0o777);
        header.set_size(meta.len());
        builder
            .append_data(&mut header, rel.as_path(), ExactLen::new(file, meta.len()))
            .map_err(SyncError::Send)?;
        stats.files += 1;
        stats.bytes += meta.len();
    }
    Ok(())
}

fn open_no_follow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

/// Yields exactly `len` bytes: the file's, then zeros if it ended early.
struct ExactLen<R> {
    inner: R,
    left: u64,
    inner_done: bool,
}

impl<R: Read> ExactLen<R> {
    fn new(inner: R, len: u64) -> Self {
        ExactLen {
            inner,
            left: len,
            inner_done: false,
        }
    }
}

impl<R: Read> Read for ExactLen<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let Some(buf) = buf.get_mut(..want) else {
            return Ok(0);
        };
        if want == 0 {
            return Ok(0);
        }
        let n = if self.inner_done {
            0
        } else {
            self.inner.read(buf)?
        };
        let n = if n == 0 {
            self.inner_done = true;
            buf.fill(0);
            want
        } else {
            n
        };
        self.left -= n as u64;
        Ok(n)
    }
}

/// The removal list as frame payloads of at most `max_chunk` bytes: each path followed by a NUL,
/// no path split across payloads.
pub fn removal_chunks(removed: &[RelPath], max_chunk: usize) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    for path in removed {
        let bytes = path.as_bytes();
        if !current.is_empty() && current.len() + bytes.len() + 1 > max_chunk {
            chunks.push(std::mem::take(&mut current));
        }
        current.extend_from_slice(bytes);
        current.push(0);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// Reads one removal-list payload back.
pub fn parse_removal_chunk(chunk: &[u8]) -> Result<Vec<RelPath>, SyncError> {
    let Some(body) = chunk.strip_suffix(&[0]) else {
        return Err(SyncError::BadRemovalList(
            "a removal list frame must end with a NUL byte".to_owned(),
        ));
    };
    body.split(|b| *b == 0).map(RelPath::from_bytes).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_a_shrunken_file_to_its_header_length() {
        let mut r = ExactLen::new(&b"ab"[..], 5);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"ab\0\0\0");
        let mut r = ExactLen::new(&b"abcdef"[..], 3);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abc");
    }

    #[test]
    fn removal_lists_split_between_paths_and_parse_back() {
        let paths: Vec<RelPath> = (0..100)
            .map(|i| RelPath::from_bytes(format!("dir/file-{i}").as_bytes()).unwrap())
            .collect();
        let chunks = removal_chunks(&paths, 64);
        assert!(chunks.len() > 10);
        assert!(chunks.iter().all(|c| c.len() <= 64));
        let back: Vec<RelPath> = chunks
            .iter()
            .flat_map(|c| parse_removal_chunk(c).unwrap())
            .collect();
        assert_eq!(back, paths);
    }

    #[test]
    fn refuses_hostile_removal_lists() {
        assert!(parse_removal_chunk(b"../etc\0").is_err());
        assert!(parse_removal_chunk(b"/etc\0").is_err());
        assert!(parse_removal_chunk(b"a").is_err());
        assert!(parse_removal_chunk(b"a\0\0").is_err());
        assert!(parse_removal_chunk(b"").is_err());
    }
}
