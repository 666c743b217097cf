//! Relative paths inside a synced directory, valid by construction.
//!
//! Every name that crosses the channel (tar entry names, removal lists) becomes a [`RelPath`]
//! first, and a [`RelPath`] can only hold plain components: not empty, not absolute, no `.` or
//! `..`, no empty component, no NUL. So a received delta can never name anything outside the
//! directory it is applied to by its name alone (symbolic links are the applier's business).
//!
//! Must never: normalise a bad name into a good one (a name is either exactly right or refused).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::SyncError;

/// The longest relative path accepted, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH_LEN: usize = 4096;

/// A path relative to a synced root, made only of normal components.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelPath(PathBuf);

impl RelPath {
    /// Checks a received name. A single trailing `/` (tar's mark of a directory) is allowed.
    pub fn from_bytes(bytes: &[u8]) -> Result<RelPath, SyncError> {
        let refuse = |reason: &'static str| SyncError::UnsafePath {
            path: String::from_utf8_lossy(bytes).into_owned(),
            reason,
        };
        let trimmed = bytes.strip_suffix(b"/").unwrap_or(bytes);
        if trimmed.is_empty() {
            return Err(refuse("empty name"));
        }
        if trimmed.len() > MAX_PATH_LEN {
            return Err(refuse("longer than PATH_MAX"));
        }
        if trimmed.starts_with(b"/") {
            return Err(refuse("absolute name"));
        }
        if trimmed.contains(&0) {
            return Err(refuse("NUL byte in name"));
        }
        for component in trimmed.split(|b| *b == b'/') {
            match component {
                b"" => return Err(refuse("empty component")),
                b"." => return Err(refuse("`.` component")),
                b".." => return Err(refuse("`..` component")),
                _ => {}
            }
        }
        Ok(RelPath(PathBuf::from(OsStr::from_bytes(trimmed))))
    }

    /// A path found while scanning a directory (already made of normal components).
    pub(crate) fn from_scanned(path: PathBuf) -> RelPath {
        RelPath(path)
    }

    /// The relative path.
    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// The path's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_os_str().as_bytes()
    }

    /// Every proper ancestor, outermost first (`a`, `a/b` for `a/b/c`).
    pub fn ancestors(&self) -> impl Iterator<Item = &Path> {
        let mut all: Vec<&Path> = self
            .0
            .ancestors()
            .skip(1)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        all.reverse();
        all.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names_and_a_trailing_slash() {
        assert_eq!(
            RelPath::from_bytes(b"a/b c/d")
                .map(|p| p.as_path().to_path_buf())
                .ok(),
            Some(PathBuf::from("a/b c/d"))
        );
        assert!(RelPath::from_bytes(b"dir/").is_ok());
        assert!(RelPath::from_bytes(b"..hidden/x..y").is_ok());
    }

    #[test]
    fn refuses_parent_absolute_empty_and_dot_names() {
        for bad in [
            &b"../x"[..],
            b"a/../../x",
            b"..",
            b"/etc/passwd",
            b"",
            b"/",
            b"a//b",
            b"./a",
            b"a/./b",
            b"a\0b",
        ] {
            assert!(
                matches!(RelPath::from_bytes(bad), Err(SyncError::UnsafePath { .. })),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn refuses_names_longer_than_path_max() {
        assert!(RelPath::from_bytes(&vec![b'a'; MAX_PATH_LEN + 1]).is_err());
    }

    #[test]
    fn lists_ancestors_outermost_first() {
        let p = RelPath::from_bytes(b"a/b/c").unwrap();
        let got: Vec<&Path> = p.ancestors().collect();
        assert_eq!(got, vec![Path::new("a"), Path::new("a/b")]);
    }
}
