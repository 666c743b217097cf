//! SHA-256 digests: the [`Sha256Hex`] type, and the digest of a directory tree as a
//! deterministic tar stream.
//!
//! The tree digest is what the store records for an imported tree and what it checks every
//! entry against. The stream is a GNU tar of the tree, walked depth-first with each directory's
//! names in byte order, holding directories, regular files and symbolic
//! links; modes are reduced to `0755`/`0644` by the executable bit (`0777` for links), owners
//! and times are zero. So the digest depends only on names, contents, the executable bit and
//! link targets, and anyone can recompute it with the same rules.

use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A SHA-256 digest as 64 lowercase hex digits: the one type the image store uses too.
pub use images::Sha256Hex;

/// Why a tree could not be digested.
#[derive(Debug, thiserror::Error)]
pub enum TreeDigestError {
    #[error("cannot read {}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{} is neither a file, a directory nor a symbolic link", path.display())]
    Special { path: PathBuf },
    #[error("{} holds more than {max} entries", root.display())]
    TooManyEntries { root: PathBuf, max: u64 },
}

/// The digest of the tree under `root` (see the module doc); `root` itself is not an entry.
pub fn tree_digest(root: &Path, max_entries: u64) -> Result<Sha256Hex, TreeDigestError> {
    let mut hasher = HashWriter(Sha256::new());
    {
        let mut builder = tar::Builder::new(&mut hasher);
        let mut entries = 0u64;
        walk_tree(root, |relative, path, meta| {
            entries += 1;
            if entries > max_entries {
                return Err(TreeDigestError::TooManyEntries {
                    root: root.to_path_buf(),
                    max: max_entries,
                });
            }
            append(&mut builder, relative, path, meta).map(|()| Descend::Yes)
        })?;
        builder.finish().map_err(|source| TreeDigestError::Read {
            path: root.to_path_buf(),
            source,
        })?;
    }
    Ok(Sha256Hex::from_hasher(hasher.0))
}

/// Whether [`walk_tree`] goes into the directory just visited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Descend {
    Yes,
    No,
}

/// Calls `visit(relative path, full path, metadata)` for every entry under `root`, depth-first,
/// names in byte order, without following symbolic links. The walk keeps its own stack, so a
/// deep tree cannot exhaust the thread's.
pub fn walk_tree<E: From<TreeDigestError>>(
    root: &Path,
    mut visit: impl FnMut(&Path, &Path, &std::fs::Metadata) -> Result<Descend, E>,
) -> Result<(), E> {
    let mut stack: Vec<PathBuf> = sorted_children(root, Path::new(""))?;
    stack.reverse();
    while let Some(relative) = stack.pop() {
        let path = root.join(&relative);
        let meta = std::fs::symlink_metadata(&path).map_err(|source| TreeDigestError::Read {
            path: path.clone(),
            source,
        })?;
        let descend = visit(&relative, &path, &meta)?;
        if meta.is_dir() && descend == Descend::Yes {
            let mut children = sorted_children(&path, &relative)?;
            children.reverse();
            stack.extend(children);
        }
    }
    Ok(())
}

fn sorted_children(dir: &Path, relative: &Path) -> Result<Vec<PathBuf>, TreeDigestError> {
    let read_error = |source| TreeDigestError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        names.push(entry.map_err(read_error)?.file_name());
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names.into_iter().map(|n| relative.join(n)).collect())
}

fn append<W: Write>(
    builder: &mut tar::Builder<W>,
    relative: &Path,
    path: &Path,
    meta: &std::fs::Metadata,
) -> Result<(), TreeDigestError> {
    let read_error = |source| TreeDigestError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut header = tar::Header::new_gnu();
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    let kind = meta.file_type();
    if kind.is_symlink() {
        let target = std::fs::read_link(path).map_err(read_error)?;
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_mode(0o777);
        header.set_size(0);
        builder
            .append_link(&mut header, relative, &target)
            .map_err(read_error)
    } else if kind.is_dir() {
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        builder
            .append_data(&mut header, relative, io::empty())
            .map_err(read_error)
    } else if kind.is_file() {
        let executable = meta.permissions().mode() & 0o111 != 0;
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(if executable { 0o755 } else { 0o644 });
        header.set_size(meta.len());
        let file = std::fs::File::open(path).map_err(read_error)?;
        // A file that grows while being read must not make the stream longer than its header.
        builder
            .append_data(&mut header, relative, file.take(meta.len()))
            .map_err(read_error)
    } else {
        Err(TreeDigestError::Special {
            path: path.to_path_buf(),
        })
    }
}

struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str, u32)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, text, mode) in files {
            let path = dir.path().join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(&path, text).expect("write");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).expect("chmod");
        }
        dir
    }

    fn digest(dir: &tempfile::TempDir) -> Sha256Hex {
        tree_digest(dir.path(), 1000).expect("digest")
    }

    #[test]
    fn digest_ignores_creation_order_times_and_non_executable_mode_bits() {
        let a = tree(&[("b/x", "1", 0o644), ("a", "2", 0o700)]);
        let b = tree(&[("a", "2", 0o755), ("b/x", "1", 0o600)]);
        let old = std::fs::File::options()
            .write(true)
            .open(b.path().join("a"))
            .expect("open");
        old.set_modified(std::time::UNIX_EPOCH).expect("set mtime");
        assert_eq!(digest(&a), digest(&b));
    }

    #[test]
    fn digest_changes_with_content_executable_bit_names_and_link_targets() {
        let base = digest(&tree(&[("a", "1", 0o644)]));
        assert_ne!(base, digest(&tree(&[("a", "2", 0o644)])));
        assert_ne!(base, digest(&tree(&[("a", "1", 0o755)])));
        assert_ne!(base, digest(&tree(&[("b", "1", 0o644)])));
        let with_link = tree(&[("a", "1", 0o644)]);
        std::os::unix::fs::symlink("a", with_link.path().join("l")).expect("symlink");
        let other_link = tree(&[("a", "1", 0o644)]);
        std::os::unix::fs::symlink("./a", other_link.path().join("l")).expect("symlink");
        assert_ne!(digest(&with_link), digest(&other_link));
        assert_ne!(base, digest(&with_link));
    }

    #[test]
    fn digest_sees_empty_directories() {
        let with = tree(&[("a", "1", 0o644)]);
        std::fs::create_dir(with.path().join("empty")).expect("mkdir");
        assert_ne!(digest(&with), digest(&tree(&[("a", "1", 0o644)])));
    }

    #[test]
    fn digest_caps_entries() {
        let dir = tree(&[("a", "", 0o644), ("b", "", 0o644), ("c", "", 0o644)]);
        assert!(matches!(
            tree_digest(dir.path(), 2),
            Err(TreeDigestError::TooManyEntries { max: 2, .. })
        ));
    }

    #[test]
    fn sha256_hex_accepts_only_64_lowercase_hex_digits() {
        assert!(Sha256Hex::parse(&"a".repeat(64)).is_some());
        assert!(Sha256Hex::parse(&"A".repeat(64)).is_none());
        assert!(Sha256Hex::parse(&"a".repeat(63)).is_none());
        assert_eq!(
            Sha256Hex::from_hasher(Sha256::new()).as_str(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
