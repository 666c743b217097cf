//! Receiving a delta: removing paths and unpacking a tar stream under a root, safely.
//!
//! The applier trusts nothing in the delta. Names are [`RelPath`]s (no `..`, nothing absolute).
//! Every directory on the way to an entry is checked with `lstat` and must be a real directory
//! under the root: a symbolic link anywhere on the path (a link to `/etc` sent earlier, or one
//! already in the tree) stops the delta. The last component is never followed either: an
//! existing file, link or directory there is removed and the new entry created in its place
//! (`O_CREAT|O_EXCL|O_NOFOLLOW`). Set-user-ID, set-group-ID and sticky bits are dropped, owners
//! are the caller's choice (never the sender's), and the total data and entry count are capped.
//!
//! Soundness of the `lstat` checks rests on nobody else changing the tree while a delta is
//! applied: the host applies after the step's processes are all gone (the guest kills every
//! process of the step user), and the guest applies before a step starts.
//!
//! Must never: create, change or remove anything outside the root; follow a symbolic link; give
//! a file a set-ID bit; buffer a file's content in memory.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::futimens;
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, FchownatFlags, Gid, Uid};

use super::untar::{TarKind, TarReader};
use super::{RelPath, SyncError};
use crate::vm::protocol::SyncStats;

/// How a delta is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Owner (uid, gid) of every entry created; `None`: whoever applies (must then be able to).
    pub owner: Option<(u32, u32)>,
    /// Most file content bytes one delta may write.
    pub max_bytes: u64,
    /// Most entries one delta may hold.
    pub max_entries: u64,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            owner: None,
            max_bytes: 64 << 30,
            max_entries: 10_000_000,
        }
    }
}

impl ApplyOptions {
    /// Options giving new entries the owner of `root` when running as root (so a host directory
    /// keeps its owner whatever the guest sends), and no owner change otherwise.
    pub fn owned_like(root: &Path) -> Result<ApplyOptions, SyncError> {
        use std::os::unix::fs::MetadataExt;
        let meta = fs::symlink_metadata(root).map_err(|e| SyncError::io("lstat", root, e))?;
        let owner = nix::unistd::geteuid()
            .is_root()
            .then(|| (meta.uid(), meta.gid()));
        Ok(ApplyOptions {
            owner,
            ..ApplyOptions::default()
        })
    }
}

/// Removes each path (recursively for directories) under `root`; missing paths are fine.
pub fn apply_removals(root: &Path, removed: &[RelPath]) -> Result<u64, SyncError> {
    check_root(root)?;
    let mut count = 0;
    for rel in removed {
        // A missing or linked parent means there is nothing of ours to remove there.
        let Some(path) = existing_path(root, rel)? else {
            continue;
        };
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(SyncError::io("lstat", &path, e)),
        };
        remove_existing(&path, &meta)?;
        count += 1;
    }
    Ok(count)
}

/// Unpacks a tar stream from [`write_tar`](super::write_tar) under `root`. Reads `tar` to its
/// end-of-archive marker.
pub fn apply_tar(
    root: &Path,
    tar: impl Read,
    options: &ApplyOptions,
) -> Result<SyncStats, SyncError> {
    check_root(root)?;
    let mut reader = TarReader::new(tar);
    let mut stats = SyncStats::default();
    let mut entries = 0u64;
    // Directory modes are set at the end, so a read-only directory does not stop its children.
    let mut dir_modes: Vec<(PathBuf, u32)> = Vec::new();
    while let Some(head) = reader.next_head()? {
        entries += 1;
        if entries > options.max_entries {
            return Err(SyncError::TooManyEntries(options.max_entries));
        }
        let rel = RelPath::from_bytes(&head.name)?;
        let path = prepare_parents(root, &rel, options)?;
        let mode = head.mode & 0o777;
        let existing = match fs::symlink_metadata(&path) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(SyncError::io("lstat", &path, e)),
        };
        match head.kind {
            TarKind::Dir => {
                match existing {
                    Some(meta) if meta.file_type().is_dir() => {}
                    Some(meta) => {
                        remove_existing(&path, &meta)?;
                        make_dir(&path, options)?;
                    }
                    None => make_dir(&path, options)?,
                }
                dir_modes.push((path, mode));
                stats.dirs += 1;
            }
            TarKind::Symlink { target } => {
                if let Some(meta) = existing {
                    remove_existing(&path, &meta)?;
                }
                let target = PathBuf::from(std::ffi::OsString::from(
                    <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&target),
                ));
                std::os::unix::fs::symlink(&target, &path)
                    .map_err(|e| SyncError::io("create link", &path, e))?;
                if let Some((uid, gid)) = options.owner {
                    fchownat(
                        nix::fcntl::AT_FDCWD,
                        &path,
                        Some(Uid::from_raw(uid)),
                        Some(Gid::from_raw(gid)),
                        FchownatFlags::AT_SYMLINK_NOFOLLOW,
                    )
                    .map_err(|e| SyncError::io("chown link", &path, e.into()))?;
                }
                stats.symlinks += 1;
            }
            TarKind::File { size } => {
                if stats.bytes.saturating_add(size) > options.max_bytes {
                    return Err(SyncError::TooLarge(options.max_bytes));
                }
                if let Some(meta) = existing {
                    remove_existing(&path, &meta)?;
                }
                write_file(&path, &mut reader, size, mode, head.mtime, options)?;
                stats.files += 1;
                stats.bytes += size;
            }
        }
    }
    for (path, mode) in dir_modes.iter().rev() {
        fs::set_permissions(path, fs::Permissions::from_mode(*mode))
            .map_err(|e| SyncError::io("chmod", path, e))?;
    }
    Ok(stats)
}

fn check_root(root: &Path) -> Result<(), SyncError> {
    let meta = fs::symlink_metadata(root).map_err(|e| SyncError::io("lstat", root, e))?;
    if meta.file_type().is_dir() {
        Ok(())
    } else {
        Err(SyncError::NotADirectory(root.to_path_buf()))
    }
}

/// The full path of `rel`, after checking every directory on the way is a real directory;
/// `None` when one is missing or not a directory (nothing to remove below it). A symbolic link on
/// the way is an error: the tree has been tampered with.
fn existing_path(root: &Path, rel: &RelPath) -> Result<Option<PathBuf>, SyncError> {
    for ancestor in rel.ancestors() {
        let path = root.join(ancestor);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_dir() => {}
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(SyncError::LinkInPath(rel.as_path().to_path_buf()))
            }
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SyncError::io("lstat", &path, e)),
        }
    }
    Ok(Some(root.join(rel.as_path())))
}

/// Checks (and creates where missing) every directory on the way to `rel`.
fn prepare_parents(
    root: &Path,
    rel: &RelPath,
    options: &ApplyOptions,
) -> Result<PathBuf, SyncError> {
    for ancestor in rel.ancestors() {
        let path = root.join(ancestor);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_dir() => {}
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(SyncError::LinkInPath(rel.as_path().to_path_buf()))
            }
            Ok(_) => {
                return Err(SyncError::UnsafePath {
                    path: rel.as_path().to_string_lossy().into_owned(),
                    reason: "a path on the way is not a directory",
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => make_dir(&path, options)?,
            Err(e) => return Err(SyncError::io("lstat", &path, e)),
        }
    }
    Ok(root.join(rel.as_path()))
}

fn make_dir(path: &Path, options: &ApplyOptions) -> Result<(), SyncError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .mode(0o755)
        .create(path)
        .map_err(|e| SyncError::io("create directory", path, e))?;
    if let Some((uid, gid)) = options.owner {
        fchownat(
            nix::fcntl::AT_FDCWD,
            path,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            FchownatFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| SyncError::io("chown directory", path, e.into()))?;
    }
    Ok(())
}

/// Removes what is at `path` without following it (`remove_dir_all` does not follow links).
fn remove_existing(path: &Path, meta: &fs::Metadata) -> Result<(), SyncError> {
    let result = if meta.file_type().is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SyncError::io("remove", path, e)),
    }
}

fn write_file<R: Read>(
    path: &Path,
    reader: &mut TarReader<R>,
    size: u64,
    mode: u32,
    mtime: u64,
    options: &ApplyOptions,
) -> Result<(), SyncError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| SyncError::io("create file", path, e))?;
    let mut buf = vec![0u8; 64 << 10];
    let mut left = size;
    while left > 0 {
        let n = reader.read_data(&mut buf).map_err(SyncError::Receive)?;
        let chunk = buf.get(..n).unwrap_or_default();
        file.write_all(chunk)
            .map_err(|e| SyncError::io("write file", path, e))?;
        left -= n as u64;
    }
    if let Some((uid, gid)) = options.owner {
        fchown(
            file.as_fd(),
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
        )
        .map_err(|e| SyncError::io("chown file", path, e.into()))?;
    }
    // After the chown, which would clear set-ID bits anyway; none are given.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| SyncError::io("chmod", path, e))?;
    let secs = i64::try_from(mtime).unwrap_or(i64::MAX);
    let time = TimeSpec::new(secs, 0);
    futimens(file.as_fd(), &TimeSpec::UTIME_OMIT, &time)
        .map_err(|e| SyncError::io("set modification time", path, e.into()))?;
    Ok(())
}
