//! Copies a local directory into an action tree, for hosts without network: the same rules as
//! unpacking a tarball ([`super::tree_path`]), the same caps, and the same normalized modes.
//!
//! A top-level `.git` directory is left out, as GitHub's tarballs leave it out. Nothing checks
//! that the directory really is the commit it is imported as: the record says `import`, and its
//! digest is of what was copied.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::digest::{walk_tree, Descend, TreeDigestError};
use super::tree_path::{
    make_dir, make_parents, place_file, place_link, PathError, PlaceError, TreePath,
};
use super::unpack::UnpackLimits;

/// Why a directory could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{} is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error(transparent)]
    Walk(#[from] TreeDigestError),
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is a symbolic link that is refused: {reason}", path.display())]
    BadLink { path: PathBuf, reason: PathError },
    #[error("{} is neither a file, a directory nor a symbolic link", path.display())]
    Special { path: PathBuf },
    #[error(transparent)]
    Place(#[from] PlaceError),
    #[error("{} holds more than {max} bytes", root.display())]
    TooLarge { root: PathBuf, max: u64 },
    #[error("{} holds more than {max} entries", root.display())]
    TooManyEntries { root: PathBuf, max: u64 },
}

/// Copies the tree under `from` into `to`, an existing empty directory. Returns the number of
/// regular files copied.
pub fn copy_tree(from: &Path, to: &Path, limits: &UnpackLimits) -> Result<u64, ImportError> {
    let meta = std::fs::metadata(from).map_err(|source| ImportError::Read {
        path: from.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(ImportError::NotADirectory {
            path: from.to_path_buf(),
        });
    }
    let mut entries = 0u64;
    let mut bytes = 0u64;
    let mut files = 0u64;
    walk_tree(from, |relative, path, meta| {
        if relative == Path::new(".git") {
            return Ok(Descend::No);
        }
        entries += 1;
        if entries > limits.max_entries {
            return Err(ImportError::TooManyEntries {
                root: from.to_path_buf(),
                max: limits.max_entries,
            });
        }
        let Ok(tree_path) = TreePath::parse(relative.as_os_str().as_bytes()) else {
            // A walk below `from` yields only plain names; anything else is not ours to copy.
            return Err(ImportError::Special {
                path: path.to_path_buf(),
            });
        };
        let kind = meta.file_type();
        if kind.is_dir() {
            make_dir(to, &tree_path)?;
        } else if kind.is_file() {
            bytes = bytes.saturating_add(meta.len());
            if bytes > limits.max_bytes {
                return Err(ImportError::TooLarge {
                    root: from.to_path_buf(),
                    max: limits.max_bytes,
                });
            }
            let file = std::fs::File::open(path).map_err(|source| ImportError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let executable = meta.permissions().mode() & 0o111 != 0;
            make_parents(to, &tree_path)?;
            // No more than the size counted above, should the file grow meanwhile.
            place_file(
                to,
                &tree_path,
                &mut std::io::Read::take(file, meta.len()),
                executable,
            )?;
            files += 1;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(path).map_err(|source| ImportError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let target = target.as_os_str().as_bytes();
            tree_path
                .check_link_target(target)
                .map_err(|reason| ImportError::BadLink {
                    path: path.to_path_buf(),
                    reason,
                })?;
            make_parents(to, &tree_path)?;
            place_link(to, &tree_path, target)?;
        } else {
            return Err(ImportError::Special {
                path: path.to_path_buf(),
            });
        }
        Ok(Descend::Yes)
    })?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> UnpackLimits {
        UnpackLimits::default()
    }

    #[test]
    fn copies_files_links_and_empty_dirs_and_leaves_out_git() {
        let from = tempfile::tempdir().expect("temp dir");
        let to = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(from.path().join(".git/objects")).expect("mkdir");
        std::fs::write(from.path().join(".git/HEAD"), "ref").expect("write");
        std::fs::create_dir_all(from.path().join("dist")).expect("mkdir");
        std::fs::create_dir_all(from.path().join("empty")).expect("mkdir");
        std::fs::write(from.path().join("dist/index.js"), "x").expect("write");
        std::os::unix::fs::symlink("dist/index.js", from.path().join("main.js")).expect("link");
        let files = copy_tree(from.path(), to.path(), &limits()).expect("copies");
        assert_eq!(files, 1);
        assert!(!to.path().join(".git").exists());
        assert!(to.path().join("empty").is_dir());
        assert_eq!(
            std::fs::read_to_string(to.path().join("main.js")).expect("through link"),
            "x"
        );
    }

    #[test]
    fn refuses_a_link_that_leads_out_of_the_tree() {
        let from = tempfile::tempdir().expect("temp dir");
        let to = tempfile::tempdir().expect("temp dir");
        std::os::unix::fs::symlink("/etc/passwd", from.path().join("p")).expect("link");
        let err = copy_tree(from.path(), to.path(), &limits()).expect_err("refused");
        assert!(matches!(err, ImportError::BadLink { .. }), "{err}");
        std::fs::remove_file(from.path().join("p")).expect("rm");
        std::os::unix::fs::symlink("../outside", from.path().join("q")).expect("link");
        let err = copy_tree(from.path(), to.path(), &limits()).expect_err("refused");
        assert!(
            matches!(
                err,
                ImportError::BadLink {
                    reason: PathError::LinkEscapes { .. },
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn caps_the_size_of_the_imported_tree() {
        let from = tempfile::tempdir().expect("temp dir");
        let to = tempfile::tempdir().expect("temp dir");
        std::fs::write(from.path().join("big"), vec![0u8; 2048]).expect("write");
        let small = UnpackLimits {
            max_bytes: 1024,
            max_entries: 10,
        };
        let err = copy_tree(from.path(), to.path(), &small).expect_err("too large");
        assert!(
            matches!(err, ImportError::TooLarge { max: 1024, .. }),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_file_as_the_source() {
        let from = tempfile::NamedTempFile::new().expect("temp file");
        let to = tempfile::tempdir().expect("temp dir");
        let err = copy_tree(from.path(), to.path(), &limits()).expect_err("not a dir");
        assert!(matches!(err, ImportError::NotADirectory { .. }));
    }
}
