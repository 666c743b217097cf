//! Manifests: what a directory tree holds, and what changed between two of them.
//!
//! A [`Manifest`] maps each relative path under a root to its kind (directory, regular file,
//! symbolic link with its target), permission bits, size and modification time. It is taken
//! with `lstat` only: a symbolic link is recorded as a link and never followed, so a scan never
//! leaves the root. Sockets, FIFOs and device nodes are left out (they cannot be synced).
//! [`Manifest::diff`] says which paths to write and which to remove to turn one tree into the
//! other; content hashes are not compared (same size and modification time means unchanged).
//!
//! Must never: follow a symbolic link, recurse on the call stack (trees may be deep), or fail on
//! a tree merely because it holds an unsyncable file.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{RelPath, SyncError};

/// What one path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file of this many bytes.
    File {
        /// Its size.
        size: u64,
    },
    /// A symbolic link (recorded, never followed).
    Symlink {
        /// The link's target as stored.
        target: PathBuf,
    },
}

/// One path of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What it is.
    pub kind: EntryKind,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
}

/// What a directory tree holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    entries: BTreeMap<RelPath, Entry>,
}

/// What turns one tree into another: paths to remove (first), then paths to write, each list in
/// tree order (a directory before what it holds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Paths to remove, recursively; a path under a removed directory is not listed again.
    pub removed: Vec<RelPath>,
    /// Paths to write (new, changed, or changed in kind, which also puts them in `removed`).
    pub written: Vec<RelPath>,
}

impl Changes {
    /// True when the trees are the same.
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.written.is_empty()
    }
}

impl Manifest {
    /// The manifest of an empty tree (the state before the first sync).
    pub fn empty() -> Manifest {
        Manifest::default()
    }

    /// Scans the tree under `root`, which must be a directory (not a link to one).
    pub fn scan(root: &Path) -> Result<Manifest, SyncError> {
        let meta = fs::symlink_metadata(root).map_err(|e| SyncError::io("lstat", root, e))?;
        if !meta.file_type().is_dir() {
            return Err(SyncError::NotADirectory(root.to_path_buf()));
        }
        let mut entries = BTreeMap::new();
        let mut pending: Vec<PathBuf> = vec![PathBuf::new()];
        while let Some(dir) = pending.pop() {
            let full = root.join(&dir);
            let listing = match fs::read_dir(&full) {
                Ok(listing) => listing,
                // Removed while we looked: it is simply not there.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(SyncError::io("read directory", &full, e)),
            };
            for item in listing {
                let item = item.map_err(|e| SyncError::io("read directory", &full, e))?;
                let rel = dir.join(item.file_name());
                let path = root.join(&rel);
                let meta = match fs::symlink_metadata(&path) {
                    Ok(meta) => meta,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(SyncError::io("lstat", &path, e)),
                };
                let ft = meta.file_type();
                let kind = if ft.is_dir() {
                    pending.push(rel.clone());
                    EntryKind::Dir
                } else if ft.is_file() {
                    EntryKind::File { size: meta.len() }
                } else if ft.is_symlink() {
                    let target =
                        fs::read_link(&path).map_err(|e| SyncError::io("read link", &path, e))?;
                    EntryKind::Symlink { target }
                } else {
                    continue;
                };
                let entry = Entry {
                    kind,
                    mode: meta.permissions().mode() & 0o7777,
                    mtime_ns: i128::from(meta.mtime()) * 1_000_000_000
                        + i128::from(meta.mtime_nsec()),
                };
                entries.insert(RelPath::from_scanned(rel), entry);
            }
        }
        Ok(Manifest { entries })
    }

    /// The entry at `path`.
    pub fn get(&self, path: &RelPath) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// Every path and entry, in tree order.
    pub fn iter(&self) -> impl Iterator<Item = (&RelPath, &Entry)> {
        self.entries.iter()
    }

    /// Number of paths.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True for an empty tree.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What to remove and write to turn the tree `self` describes into the one `newer` does.
    pub fn diff(&self, newer: &Manifest) -> Changes {
        let mut removed: Vec<RelPath> = Vec::new();
        let mut removed_set: HashSet<&Path> = HashSet::new();
        for (path, old) in &self.entries {
            let gone = match newer.entries.get(path) {
                None => true,
                Some(new) => !same_kind(&old.kind, &new.kind),
            };
            // Tree order puts a directory before what it holds, so its removal is seen first.
            if gone && !path.ancestors().any(|a| removed_set.contains(a)) {
                removed_set.insert(path.as_path());
                removed.push(path.clone());
            }
        }
        let written = newer
            .entries
            .iter()
            .filter(|(path, new)| match self.entries.get(*path) {
                None => true,
                Some(old) => match (&old.kind, &new.kind) {
                    (EntryKind::Dir, EntryKind::Dir) => old.mode != new.mode,
                    (EntryKind::File { .. }, EntryKind::File { .. }) => old != *new,
                    (EntryKind::Symlink { target: a }, EntryKind::Symlink { target: b }) => a != b,
                    _ => true,
                },
            })
            .map(|(path, _)| path.clone())
            .collect();
        Changes { removed, written }
    }
}

fn same_kind(a: &EntryKind, b: &EntryKind) -> bool {
    matches!(
        (a, b),
        (EntryKind::Dir, EntryKind::Dir)
            | (EntryKind::File { .. }, EntryKind::File { .. })
            | (EntryKind::Symlink { .. }, EntryKind::Symlink { .. })
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn rel(s: &str) -> RelPath {
        RelPath::from_bytes(s.as_bytes()).unwrap()
    }

    #[test]
    fn records_files_dirs_and_links_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("d")).unwrap();
        fs::write(root.join("d/f"), b"hello").unwrap();
        symlink("/etc", root.join("out")).unwrap();
        let m = Manifest::scan(root).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m.get(&rel("d")).map(|e| &e.kind), Some(&EntryKind::Dir));
        assert_eq!(
            m.get(&rel("d/f")).map(|e| &e.kind),
            Some(&EntryKind::File { size: 5 })
        );
        assert_eq!(
            m.get(&rel("out")).map(|e| &e.kind),
            Some(&EntryKind::Symlink {
                target: "/etc".into()
            })
        );
    }

    #[test]
    fn refuses_a_root_that_is_a_link() {
        let dir = tempfile::tempdir().unwrap();
        symlink(dir.path(), dir.path().join("link")).unwrap();
        assert!(matches!(
            Manifest::scan(&dir.path().join("link")),
            Err(SyncError::NotADirectory(_))
        ));
    }

    #[test]
    fn leaves_out_fifos() {
        let dir = tempfile::tempdir().unwrap();
        nix::unistd::mkfifo(
            &dir.path().join("fifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        assert!(Manifest::scan(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn diff_lists_added_changed_and_removed_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("gone/deep")).unwrap();
        fs::write(root.join("gone/deep/x"), b"1").unwrap();
        fs::write(root.join("same"), b"1").unwrap();
        fs::write(root.join("grows"), b"1").unwrap();
        fs::write(root.join("chmod"), b"1").unwrap();
        fs::write(root.join("becomes_dir"), b"1").unwrap();
        let before = Manifest::scan(root).unwrap();

        fs::remove_dir_all(root.join("gone")).unwrap();
        fs::write(root.join("grows"), b"12").unwrap();
        fs::set_permissions(root.join("chmod"), fs::Permissions::from_mode(0o700)).unwrap();
        fs::remove_file(root.join("becomes_dir")).unwrap();
        fs::create_dir(root.join("becomes_dir")).unwrap();
        fs::write(root.join("new"), b"").unwrap();
        let after = Manifest::scan(root).unwrap();

        let changes = before.diff(&after);
        assert_eq!(changes.removed, vec![rel("becomes_dir"), rel("gone")]);
        assert_eq!(
            changes.written,
            vec![rel("becomes_dir"), rel("chmod"), rel("grows"), rel("new")]
        );
        assert!(after.diff(&after).is_empty());
    }

    #[test]
    fn diff_notices_a_retargeted_link() {
        let dir = tempfile::tempdir().unwrap();
        symlink("a", dir.path().join("l")).unwrap();
        let before = Manifest::scan(dir.path()).unwrap();
        fs::remove_file(dir.path().join("l")).unwrap();
        symlink("b", dir.path().join("l")).unwrap();
        let changes = before.diff(&Manifest::scan(dir.path()).unwrap());
        assert_eq!(changes.written, vec![rel("l")]);
        assert!(changes.removed.is_empty());
    }
}
