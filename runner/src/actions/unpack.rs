//! Unpacks a repository tarball as GitHub's API serves it (`.tar.gz`, one top-level
//! `owner-repo-sha/` directory) into an action tree, treating the archive as hostile.
//!
//! The top-level directory is stripped. Every entry must name a path inside the tree
//! ([`TreePath`]), may not be written through a symbolic link, and a link may not lead out of the
//! tree. Only directories, regular files and symbolic links are accepted; hard links, devices
//! and FIFOs are refused (`git archive` makes none). The decompressed stream is capped before
//! the tar reader sees it, so neither a gzip bomb nor an oversized extension header can exhaust
//! memory or disk. Modes keep only the executable bit; owners and times are not restored.
//! This module must never create anything outside the destination directory.

use std::cell::Cell;
use std::io::{self, Read};
use std::path::Path;
use std::rc::Rc;

use flate2::read::GzDecoder;
use tar::EntryType;

use super::tree_path::{
    make_dir, make_parents, place_file, place_link, PathError, PlaceError, TreePath,
};

/// How much an archive may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackLimits {
    /// Bytes of the decompressed tar stream (headers included).
    pub max_bytes: u64,
    /// Entries of the archive (extension headers included).
    pub max_entries: u64,
}

impl Default for UnpackLimits {
    /// 1 GiB and 200,000 entries: well above the largest actions in use, far below what would
    /// hurt a runner host.
    fn default() -> Self {
        UnpackLimits {
            max_bytes: 1 << 30,
            max_entries: 200_000,
        }
    }
}

/// What an unpacked archive held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// Regular files written.
    pub files: u64,
    /// Bytes of file content written.
    pub bytes: u64,
    /// The commit the archive names in its pax global header (`git archive` writes one).
    pub commit: Option<String>,
}

/// Why an archive was refused; nothing outside the destination was touched.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("the tarball holds more than {max} bytes once decompressed")]
    TooLarge { max: u64 },
    #[error("the tarball holds more than {max} entries")]
    TooManyEntries { max: u64 },
    #[error("entry `{path}`: {reason}")]
    BadPath { path: String, reason: PathError },
    #[error("entry `{path}` is a symbolic link that is refused: {reason}")]
    BadLink { path: String, reason: PathError },
    #[error("entry `{path}` is a symbolic link without a target")]
    LinkWithoutTarget { path: String },
    #[error(transparent)]
    Place(#[from] PlaceError),
    #[error("entry `{path}` is outside the tarball's top-level directory `{top}`")]
    OutsideTopLevel { path: String, top: String },
    #[error("entry `{path}` is not a directory, but sits at the top level (GitHub's tarballs hold one directory there)")]
    FileAtTopLevel { path: String },
    #[error("entry `{path}` is a hard link; action trees hold none")]
    HardLink { path: String },
    #[error("entry `{path}` is a {kind}, which an action tree cannot hold")]
    Unsupported { path: String, kind: String },
    #[error("the tarball is of commit {found}, not the requested {expected}")]
    CommitMismatch { expected: String, found: String },
    #[error("the tarball holds no directory")]
    Empty,
    #[error("cannot read the tarball")]
    Read(#[source] io::Error),
}

/// Unpacks the gzip-compressed tarball `gz` into `dest`, an existing empty directory. With
/// `expected_commit`, an archive whose pax global header names another commit is refused.
pub fn unpack_tar_gz(
    gz: impl Read,
    dest: &Path,
    expected_commit: Option<&str>,
    limits: &UnpackLimits,
) -> Result<Unpacked, UnpackError> {
    let decompressed = Rc::new(Cell::new(0u64));
    let reader = CappedReader {
        inner: GzDecoder::new(gz),
        read: Rc::clone(&decompressed),
        max: limits.max_bytes,
    };
    let mut archive = tar::Archive::new(reader);
    let result = unpack_entries(&mut archive, dest, limits);
    let unpacked = match result {
        // The cap surfaces as a read error from wherever the tar reader was; name it.
        Err(UnpackError::Read(_) | UnpackError::Place(PlaceError::Read { .. }))
            if decompressed.get() > limits.max_bytes =>
        {
            return Err(UnpackError::TooLarge {
                max: limits.max_bytes,
            })
        }
        other => other?,
    };
    if let (Some(expected), Some(found)) = (expected_commit, unpacked.commit.as_deref()) {
        let is_sha = found.len() == 40 && found.bytes().all(|b| b.is_ascii_hexdigit());
        if is_sha && !found.eq_ignore_ascii_case(expected) {
            return Err(UnpackError::CommitMismatch {
                expected: expected.to_string(),
                found: found.to_string(),
            });
        }
    }
    Ok(unpacked)
}

fn unpack_entries<R: Read>(
    archive: &mut tar::Archive<R>,
    dest: &Path,
    limits: &UnpackLimits,
) -> Result<Unpacked, UnpackError> {
    let mut top: Option<Vec<u8>> = None;
    let mut entries = 0u64;
    let mut unpacked = Unpacked {
        files: 0,
        bytes: 0,
        commit: None,
    };
    for entry in archive.entries().map_err(UnpackError::Read)? {
        let mut entry = entry.map_err(UnpackError::Read)?;
        entries += 1;
        if entries > limits.max_entries {
            return Err(UnpackError::TooManyEntries {
                max: limits.max_entries,
            });
        }
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            unpacked.commit = global_comment(&mut entry)?.or(unpacked.commit);
            continue;
        }
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let full = TreePath::parse(&raw).map_err(|reason| UnpackError::BadPath {
            path: shown.clone(),
            reason,
        })?;
        let (first, rest) = full.split_first();
        match &top {
            None => top = Some(first.to_vec()),
            Some(top) if top.as_slice() != first => {
                return Err(UnpackError::OutsideTopLevel {
                    path: shown,
                    top: String::from_utf8_lossy(top).into_owned(),
                })
            }
            Some(_) => {}
        }
        let Some(path) = rest else {
            if kind.is_dir() {
                continue;
            }
            return Err(UnpackError::FileAtTopLevel { path: shown });
        };
        match kind {
            EntryType::Directory => make_dir(dest, &path)?,
            EntryType::Regular | EntryType::Continuous => {
                let executable = entry.header().mode().map_err(UnpackError::Read)? & 0o111 != 0;
                make_parents(dest, &path)?;
                unpacked.bytes += place_file(dest, &path, &mut entry, executable)?;
                unpacked.files += 1;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| UnpackError::LinkWithoutTarget {
                        path: shown.clone(),
                    })?
                    .into_owned();
                path.check_link_target(&target)
                    .map_err(|reason| UnpackError::BadLink {
                        path: shown.clone(),
                        reason,
                    })?;
                make_parents(dest, &path)?;
                place_link(dest, &path, &target)?;
            }
            EntryType::Link => return Err(UnpackError::HardLink { path: shown }),
            other => {
                return Err(UnpackError::Unsupported {
                    path: shown,
                    kind: describe(other),
                })
            }
        }
    }
    if top.is_none() {
        return Err(UnpackError::Empty);
    }
    Ok(unpacked)
}

/// The `comment` of a pax global header: `git archive` puts the commit id there.
fn global_comment<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Option<String>, UnpackError> {
    let Some(extensions) = entry.pax_extensions().map_err(UnpackError::Read)? else {
        return Ok(None);
    };
    for extension in extensions {
        let extension = extension.map_err(UnpackError::Read)?;
        if extension.key_bytes() == b"comment" {
            let value = String::from_utf8_lossy(extension.value_bytes());
            return Ok(Some(value.trim().to_string()));
        }
    }
    Ok(None)
}

fn describe(kind: EntryType) -> String {
    match kind {
        EntryType::Char => "character device".into(),
        EntryType::Block => "block device".into(),
        EntryType::Fifo => "FIFO".into(),
        EntryType::GNUSparse => "sparse file".into(),
        other => format!("entry of type `{}`", other.as_byte().escape_ascii()),
    }
}

/// Counts decompressed bytes and fails once there are more than `max`.
struct CappedReader<R> {
    inner: R,
    read: Rc<Cell<u64>>,
    max: u64,
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read.get() > self.max {
            return Err(io::Error::other("decompressed size cap reached"));
        }
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get().saturating_add(n as u64));
        if self.read.get() > self.max {
            return Err(io::Error::other("decompressed size cap reached"));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
