//! The rules every path placed in an action tree obeys, and the functions that place entries by
//! them, shared by unpacking a tarball and importing a directory: names stay inside the tree,
//! nothing is written through a symbolic link or over another entry, and no symbolic link leads
//! out of the tree.
//!
//! The symlink rule is stricter than "the target, normalized, stays inside": a target may climb
//! with `..` only before its first named component (`../../lib/x`, never `lib/../../x`). Since
//! no entry is written through a link, every link sits where its path says, so climbing from
//! there is bounded by its depth, and descending can only reach links that obey the same rule;
//! no chain of links can escape. Lexical normalization alone is not enough: `s -> .` followed by
//! `t -> s/../x` normalizes inside but resolves outside.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a path or link target cannot be placed in an action tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("absolute paths are not allowed")]
    Absolute,
    #[error("`..` is not allowed in a path")]
    ParentComponent,
    #[error("the path is empty")]
    Empty,
    #[error("the path is longer than {max} bytes")]
    TooLong { max: usize },
    #[error("the link target `{target}` is absolute")]
    AbsoluteLinkTarget { target: String },
    #[error("the link target `{target}` leads out of the tree")]
    LinkEscapes { target: String },
    #[error("the link target `{target}` climbs with `..` after a named component")]
    LinkClimbsAfterName { target: String },
    #[error("the link target is empty")]
    EmptyLinkTarget,
}

/// Longest path (and link target) accepted inside a tree, in bytes: Linux's `PATH_MAX`.
pub const MAX_PATH_BYTES: usize = 4096;

/// A path inside an action tree: one or more named components, never `..`, never absolute.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TreePath(Vec<Vec<u8>>);

impl TreePath {
    /// Reads a `/`-separated path; `.` and empty components are dropped.
    pub fn parse(bytes: &[u8]) -> Result<TreePath, PathError> {
        if bytes.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong {
                max: MAX_PATH_BYTES,
            });
        }
        if bytes.first() == Some(&b'/') {
            return Err(PathError::Absolute);
        }
        let mut parts = Vec::new();
        for part in bytes.split(|&b| b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => return Err(PathError::ParentComponent),
                name => parts.push(name.to_vec()),
            }
        }
        if parts.is_empty() {
            return Err(PathError::Empty);
        }
        Ok(TreePath(parts))
    }

    /// The first component, and the path below it (none when this is a single name).
    pub fn split_first(&self) -> (&[u8], Option<TreePath>) {
        match self.0.split_first() {
            Some((first, rest)) => (first, (!rest.is_empty()).then(|| TreePath(rest.to_vec()))),
            None => (&[], None),
        }
    }

    pub fn components(&self) -> &[Vec<u8>] {
        &self.0
    }

    /// The path below `root`.
    pub fn under(&self, root: &Path) -> PathBuf {
        let mut path = root.to_path_buf();
        for part in &self.0 {
            path.push(OsStr::from_bytes(part));
        }
        path
    }

    /// Whether a symbolic link at this path may point at `target` (see the module doc).
    pub fn check_link_target(&self, target: &[u8]) -> Result<(), PathError> {
        let shown = || String::from_utf8_lossy(target).into_owned();
        if target.is_empty() {
            return Err(PathError::EmptyLinkTarget);
        }
        if target.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong {
                max: MAX_PATH_BYTES,
            });
        }
        if target.first() == Some(&b'/') {
            return Err(PathError::AbsoluteLinkTarget { target: shown() });
        }
        // The link's own directory is its path less the last component.
        let depth = self.0.len().saturating_sub(1);
        let mut climbed = 0usize;
        let mut named = false;
        for part in target.split(|&b| b == b'/') {
            match part {
                b"" | b"." => {}
                b".." if named => return Err(PathError::LinkClimbsAfterName { target: shown() }),
                b".." => {
                    climbed += 1;
                    if climbed > depth {
                        return Err(PathError::LinkEscapes { target: shown() });
                    }
                }
                _ => named = true,
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for TreePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let joined = self.0.join(&b'/');
        f.write_str(&String::from_utf8_lossy(&joined))
    }
}

/// Why an entry could not be placed in a tree.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error("entry `{path}` goes through the symbolic link `{link}`")]
    ThroughLink { path: String, link: String },
    #[error("entry `{path}` goes through `{file}`, which is not a directory")]
    NotADirectory { path: String, file: String },
    #[error("entry `{path}` appears twice")]
    Duplicate { path: String },
    #[error("cannot read the content of entry `{path}`")]
    Read { path: String, source: io::Error },
    #[error("cannot write {}", at.display())]
    Write { at: PathBuf, source: io::Error },
}

/// Makes every directory above `path` under `root`, refusing to pass through a symbolic link or
/// a file. The last component is left alone.
pub fn make_parents(root: &Path, path: &TreePath) -> Result<(), PlaceError> {
    let parents = path.components().split_last().map_or(&[][..], |(_, p)| p);
    make_dirs(root, path, parents)
}

/// Makes `path` itself a directory under `root` (and every directory above it), with the same
/// refusals as [`make_parents`].
pub fn make_dir(root: &Path, path: &TreePath) -> Result<(), PlaceError> {
    make_dirs(root, path, path.components())
}

fn make_dirs(root: &Path, path: &TreePath, parts: &[Vec<u8>]) -> Result<(), PlaceError> {
    let mut dir = root.to_path_buf();
    let mut walked: Vec<&[u8]> = Vec::new();
    for part in parts {
        dir.push(OsStr::from_bytes(part));
        walked.push(part);
        let shown = || String::from_utf8_lossy(&walked.join(&b'/')).into_owned();
        match std::fs::symlink_metadata(&dir) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(PlaceError::ThroughLink {
                    path: path.to_string(),
                    link: shown(),
                })
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(PlaceError::NotADirectory {
                    path: path.to_string(),
                    file: shown(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir(&dir).map_err(|source| PlaceError::Write {
                    at: dir.clone(),
                    source,
                })?;
            }
            Err(source) => return Err(PlaceError::Write { at: dir, source }),
        }
    }
    Ok(())
}

/// Writes `path` under `root` as a new file with the content of `from` (never replacing an
/// entry, never following a link) and mode `0755` or `0644`; its parents must exist. Returns the
/// bytes written.
pub fn place_file(
    root: &Path,
    path: &TreePath,
    from: &mut impl Read,
    executable: bool,
) -> Result<u64, PlaceError> {
    let at = path.under(root);
    let mode = if executable { 0o755 } else { 0o644 };
    let write_error = |source| PlaceError::Write {
        at: at.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&at)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => PlaceError::Duplicate {
                path: path.to_string(),
            },
            _ => write_error(e),
        })?;
    // The umask may have narrowed the mode; the tree's digest depends on it.
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(write_error)?;
    let mut buffer = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(PlaceError::Read {
                    path: path.to_string(),
                    source,
                })
            }
        };
        let chunk = buffer.get(..n).unwrap_or_default();
        file.write_all(chunk).map_err(write_error)?;
        written += n as u64;
    }
    Ok(written)
}

/// Creates the symbolic link `path` under `root` pointing at `target`, which the caller has
/// checked with [`TreePath::check_link_target`]; its parents must exist.
pub fn place_link(root: &Path, path: &TreePath, target: &[u8]) -> Result<(), PlaceError> {
    let at = path.under(root);
    std::os::unix::fs::symlink(OsStr::from_bytes(target), &at).map_err(|source| {
        match source.kind() {
            io::ErrorKind::AlreadyExists => PlaceError::Duplicate {
                path: path.to_string(),
            },
            _ => PlaceError::Write { at, source },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> TreePath {
        TreePath::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn parses_relative_paths_dropping_dots_and_empty_parts() {
        assert_eq!(path("a/./b//c/").to_string(), "a/b/c");
    }

    #[test]
    fn refuses_absolute_parent_and_empty_paths() {
        assert_eq!(TreePath::parse(b"/etc/passwd"), Err(PathError::Absolute));
        assert_eq!(TreePath::parse(b"a/../b"), Err(PathError::ParentComponent));
        assert_eq!(TreePath::parse(b".."), Err(PathError::ParentComponent));
        assert_eq!(TreePath::parse(b"./"), Err(PathError::Empty));
        assert!(matches!(
            TreePath::parse(&[b'a'; MAX_PATH_BYTES + 1]),
            Err(PathError::TooLong { .. })
        ));
    }

    #[test]
    fn link_may_climb_up_to_its_own_depth() {
        assert_eq!(path("a/b/l").check_link_target(b"../../x"), Ok(()));
        assert_eq!(path("l").check_link_target(b"x/y"), Ok(()));
        assert_eq!(path("l").check_link_target(b"."), Ok(()));
        assert!(matches!(
            path("a/l").check_link_target(b"../../x"),
            Err(PathError::LinkEscapes { .. })
        ));
        assert!(matches!(
            path("l").check_link_target(b".."),
            Err(PathError::LinkEscapes { .. })
        ));
    }

    #[test]
    fn link_may_not_climb_after_a_name_or_be_absolute() {
        assert!(matches!(
            path("t").check_link_target(b"s/../x"),
            Err(PathError::LinkClimbsAfterName { .. })
        ));
        assert!(matches!(
            path("t").check_link_target(b"/etc"),
            Err(PathError::AbsoluteLinkTarget { .. })
        ));
        assert_eq!(
            path("t").check_link_target(b""),
            Err(PathError::EmptyLinkTarget)
        );
    }

    #[test]
    fn make_parents_refuses_to_pass_through_a_link() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::os::unix::fs::symlink(".", dir.path().join("s")).expect("symlink");
        let err = make_parents(dir.path(), &path("s/t")).expect_err("through link");
        assert!(matches!(err, PlaceError::ThroughLink { ref link, .. } if link == "s"));
        make_parents(dir.path(), &path("a/b/c")).expect("real dirs");
        assert!(dir.path().join("a/b").is_dir());
        assert!(!dir.path().join("a/b/c").exists());
    }

    #[test]
    fn place_file_and_place_link_never_replace_an_entry() {
        let dir = tempfile::tempdir().expect("temp dir");
        place_link(dir.path(), &path("l"), b"elsewhere").expect("link");
        let err = place_file(dir.path(), &path("l"), &mut &b"x"[..], false).expect_err("dup");
        assert!(matches!(err, PlaceError::Duplicate { ref path } if path == "l"));
        assert!(!dir.path().join("elsewhere").exists());
        let n = place_file(dir.path(), &path("f"), &mut &b"abc"[..], true).expect("file");
        assert_eq!(n, 3);
        let mode = std::fs::metadata(dir.path().join("f"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert!(matches!(
            place_link(dir.path(), &path("f"), b"x"),
            Err(PlaceError::Duplicate { .. })
        ));
    }

    #[test]
    fn make_parents_refuses_to_pass_through_a_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("f"), "x").expect("write");
        let err = make_dir(dir.path(), &path("f/g")).expect_err("through file");
        assert!(matches!(err, PlaceError::NotADirectory { .. }));
    }
}
