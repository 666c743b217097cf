//! A walk of a root file system tree on disk, in byte order of names, that never follows a
//! symbolic link and refuses to cross into another file system (a mount left inside the tree
//! by a bootstrap that was killed would otherwise be packed, or its files touched).

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::ImageError;

/// At most this many entries: a Debian rootfs has tens of thousands.
const MAX_ENTRIES: usize = 2_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    /// Device nodes, fifos, sockets.
    Special,
}

#[derive(Debug, Clone)]
pub struct TreeEntry {
    /// The path inside the image: `/` for the root, `/usr/bin/env` below it.
    pub name: String,
    pub path: PathBuf,
    pub kind: Kind,
    pub size: u64,
    /// (device, inode) of the file on disk, to count hard links once.
    pub id: (u64, u64),
    /// For a symlink, the length of its target.
    pub target_len: u64,
}

/// Every entry under `root`, `root` itself first; each directory's entries in byte order of
/// their names, depth first. A name that is not UTF-8 or holds a newline is refused, as later
/// steps write names into line-based scripts.
pub fn walk(root: &Path) -> Result<Vec<TreeEntry>, ImageError> {
    let root_meta = std::fs::symlink_metadata(root).map_err(ImageError::io("stat", root))?;
    let device = root_meta.dev();
    let mut entries = Vec::new();
    let mut stack: Vec<(String, PathBuf)> = vec![("/".to_owned(), root.to_path_buf())];
    while let Some((name, path)) = stack.pop() {
        if entries.len() >= MAX_ENTRIES {
            return Err(ImageError::Rootfs(format!(
                "{} holds more than {MAX_ENTRIES} entries",
                root.display()
            )));
        }
        let meta = std::fs::symlink_metadata(&path).map_err(ImageError::io("stat", &path))?;
        if meta.dev() != device {
            return Err(ImageError::Rootfs(format!(
                "{} is on another file system (a mount left in the tree?); refusing to pack it",
                path.display()
            )));
        }
        let file_type = meta.file_type();
        let kind = if file_type.is_dir() {
            Kind::Dir
        } else if file_type.is_file() {
            Kind::File
        } else if file_type.is_symlink() {
            Kind::Symlink
        } else {
            Kind::Special
        };
        let target_len = if kind == Kind::Symlink {
            std::fs::read_link(&path)
                .map_err(ImageError::io("read the link", &path))?
                .as_os_str()
                .len() as u64
        } else {
            0
        };
        if kind == Kind::Dir {
            let mut children = Vec::new();
            for child in std::fs::read_dir(&path).map_err(ImageError::io("list", &path))? {
                let child = child.map_err(ImageError::io("list", &path))?;
                let file_name = child.file_name();
                let text = std::str::from_utf8(file_name.as_bytes())
                    .ok()
                    .filter(|t| !t.contains('\n'))
                    .ok_or_else(|| {
                        ImageError::Rootfs(format!(
                            "{} has a name that is not UTF-8 or holds a newline",
                            child.path().display()
                        ))
                    })?;
                let child_name = if name == "/" {
                    format!("/{text}")
                } else {
                    format!("{name}/{text}")
                };
                children.push((child_name, child.path()));
            }
            // Reverse byte order on the stack pops in byte order.
            children.sort_by(|a, b| b.0.as_bytes().cmp(a.0.as_bytes()));
            stack.extend(children);
        }
        entries.push(TreeEntry {
            name,
            path,
            kind,
            size: meta.len(),
            id: (meta.dev(), meta.ino()),
            target_len,
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_depth_first_in_byte_order_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/inner")).unwrap();
        std::fs::write(root.join("b/inner/f"), "x").unwrap();
        std::fs::write(root.join("a"), "hello").unwrap();
        std::fs::write(root.join("B"), "").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("c")).unwrap();
        let entries = walk(root).unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["/", "/B", "/a", "/b", "/b/inner", "/b/inner/f", "/c"]
        );
        let link = entries.last().unwrap();
        assert_eq!((link.kind, link.target_len), (Kind::Symlink, 4));
        assert_eq!(entries[2].size, 5);
    }

    #[test]
    fn refuses_a_name_with_a_newline() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad\nname"), "").unwrap();
        let err = walk(dir.path()).unwrap_err().to_string();
        assert!(err.contains("newline"), "{err}");
    }
}
