//! Directory sync between host and guest: manifests, deltas, and applying them safely.
//!
//! The guest sees the host's job directories at the same paths. Each side keeps, per synced
//! root, the [`Manifest`] of its own tree as of the last sync. To send what changed since, it
//! scans again, [`Manifest::diff`]s the two, and sends a delta: the removed paths (frames of
//! NUL-ended names, [`removal_chunks`]) then a tar stream of the written ones ([`write_tar`]).
//! The receiver applies the removals ([`apply_removals`]) then the tar ([`apply_tar`]), and
//! rescans its own tree to get its new manifest. Both sides use this module: the guest agent
//! for the host's pushes, the host for the guest's deltas after each step.
//!
//! ```
//! use hermetic::vm::sync::{apply_removals, apply_tar, write_tar, ApplyOptions, Manifest};
//! # fn demo(src: &std::path::Path, dst: &std::path::Path) -> Result<(), hermetic::vm::sync::SyncError> {
//! let before = Manifest::empty();
//! let now = Manifest::scan(src)?;
//! let changes = before.diff(&now);
//! let mut tar = Vec::new();
//! write_tar(src, &changes, &mut tar)?;
//! apply_removals(dst, &changes.removed)?;
//! apply_tar(dst, tar.as_slice(), &ApplyOptions::default())?;
//! # Ok(()) }
//! ```
//!
//! Must never: follow a symbolic link out of a root when scanning, packing or applying, or
//! accept a name with `..` or a leading `/` from a delta. Only std and tar: the agent links it.

mod apply;
mod manifest;
mod pack;
mod path;
mod untar;

use std::io;
use std::path::{Path, PathBuf};

pub use apply::{apply_removals, apply_tar, ApplyOptions};
pub use manifest::{Changes, Entry, EntryKind, Manifest};
pub use pack::{parse_removal_chunk, removal_chunks, write_tar};
pub use path::{RelPath, MAX_PATH_LEN};

/// Why a directory could not be scanned, packed or a delta applied.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A file system operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The system error.
        source: io::Error,
    },
    /// A synced root is not a directory (or is a link to one).
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// A delta named a path it may not (absolute, `..`, empty, ...).
    #[error("refused path {path:?} in a delta: {reason}")]
    UnsafePath {
        /// The name as received (lossy).
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A path of a delta goes through a symbolic link.
    #[error("refused path {} in a delta: it goes through a symbolic link", .0.display())]
    LinkInPath(PathBuf),
    /// A delta holds an entry type that cannot be synced.
    #[error("refused {kind} {path:?} in a delta: only directories, regular files and symbolic links are synced")]
    UnsupportedEntry {
        /// The entry's name (lossy).
        path: String,
        /// What it is.
        kind: String,
    },
    /// The tar stream is malformed.
    #[error("malformed tar stream in a delta: {0}")]
    BadTar(String),
    /// A removal list frame is malformed.
    #[error("malformed removal list in a delta: {0}")]
    BadRemovalList(String),
    /// A delta writes more file data than allowed.
    #[error("a delta writes more than {0} bytes")]
    TooLarge(u64),
    /// A delta holds more entries than allowed.
    #[error("a delta holds more than {0} entries")]
    TooManyEntries(u64),
    /// Writing the outgoing tar stream failed (the channel went away).
    #[error("sending a delta: {0}")]
    Send(io::Error),
    /// Reading the incoming tar stream failed.
    #[error("receiving a delta: {0}")]
    Receive(io::Error),
}

impl SyncError {
    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> SyncError {
        SyncError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

#[cfg(test)]
mod tests;
