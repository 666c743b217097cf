//! A directory the runner shares with untrusted steps, used without following anything a step
//! could have put there.
//!
//! Steps write their environment files (`GITHUB_OUTPUT`...) and the runner writes their
//! scripts into a directory both see. A step could replace a file with a symbolic link to a
//! file of the host (so that the runner, possibly root, truncates or reads it), with a FIFO (so
//! that a read never returns), or with a huge file; or rename the directory itself and put a
//! link in its place. So the directory is opened once, when the runner creates it and before
//! any step runs, and every later operation goes through that descriptor: names are looked up
//! in the directory the descriptor holds, never through a path; the last component is never
//! followed (`O_NOFOLLOW`); only regular files are read, and only up to a limit; a file is
//! rewritten in place only while it is still the plain file the runner gave out (a regular file
//! with no other name, of the expected owner, checked on an `O_PATH` descriptor before it is
//! opened for writing), and otherwise replaced by unlinking the name and creating it anew with
//! `O_EXCL`. Rewriting in place matters: creating and deleting half a dozen files per step costs
//! the file system more than the rest of the runner's work for a short step.
//!
//! Must never: open a path below this directory by name through the file system, or read a
//! file without the size limit.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fstat, Mode, SFlag};
use nix::unistd::{fchown, unlinkat, Gid, Uid, UnlinkatFlags};

use super::workspace::Owner;

/// Why a file of a shared directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SafeDirError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a regular file (a step replaced it?)", path.display())]
    NotAFile { path: PathBuf },
    #[error("{} is larger than {limit} bytes", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
}

/// A directory opened once; its files reached only through that descriptor.
#[derive(Debug)]
pub struct SafeDir {
    fd: OwnedFd,
    path: PathBuf,
    owner: Owner,
}

impl SafeDir {
    /// Creates `path` (which must not exist yet, or be a directory the runner made) owned by the
    /// runner, and opens it. Files in it are given to `owner`, who may write them but not
    /// rename or replace them when it is another identity.
    pub fn create(path: &Path, owner: Owner) -> Result<SafeDir, SafeDirError> {
        let io = |source| SafeDirError::Io {
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(path).map_err(io)?;
        let fd = nix::fcntl::open(
            path,
            OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_RDONLY,
            Mode::empty(),
        )
        .map_err(|e| io(e.into()))?;
        Ok(SafeDir {
            fd,
            path: path.to_path_buf(),
            owner,
        })
    }

    /// The path a step sees for `name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    fn io(&self, name: &str) -> impl Fn(Errno) -> SafeDirError + '_ {
        let path = self.path(name);
        move |e| SafeDirError::Io {
            path: path.clone(),
            source: e.into(),
        }
    }

    /// Makes `name` a file holding exactly `contents`, with `mode`, given to the owner: the file
    /// already there when it is still the one the runner gave out, else a new one.
    pub fn write(&self, name: &str, contents: &[u8], mode: u32) -> Result<(), SafeDirError> {
        let fd = match self.reuse(name, mode) {
            Some(fd) => fd,
            None => self.create_file(name, mode)?,
        };
        let mut file = File::from(fd);
        let io = |source| SafeDirError::Io {
            path: self.path(name),
            source,
        };
        file.write_all(contents).map_err(io)?;
        // Overwritten from the start, then cut to length only when longer: a file that held as
        // many bytes or none (the common case between steps) is not truncated, which costs a
        // file system transaction each time. The length is the file's now, after the write, so
        // bytes anyone added meanwhile are cut too.
        let len = u64::try_from(contents.len()).unwrap_or(u64::MAX);
        if file.metadata().map_err(io)?.len() > len {
            file.set_len(len).map_err(io)?;
        }
        Ok(())
    }

    /// `name` opened for writing at its start, with `mode`, if it is a regular
    /// file with no other name owned by the owner (the runner itself for [`Owner::current`]);
    /// `None` for anything else, including a file that cannot be opened.
    fn reuse(&self, name: &str, mode: u32) -> Option<OwnedFd> {
        // O_PATH opens nothing for I/O (no device or FIFO is touched) and, with O_NOFOLLOW, a
        // link itself: the checks below are on the very inode that is then reopened.
        let path = openat(
            &self.fd,
            name,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let stat = fstat(path.as_fd()).ok()?;
        let (uid, gid) = self
            .owner
            .ids()
            .unwrap_or_else(|| (Uid::effective().as_raw(), Gid::effective().as_raw()));
        let plain = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG
            && stat.st_nlink == 1
            && stat.st_uid == uid
            && stat.st_gid == gid;
        if !plain {
            return None;
        }
        let fd = nix::fcntl::open(
            format!("/proc/self/fd/{}", path.as_raw_fd()).as_str(),
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        if stat.st_mode & 0o7777 != mode {
            nix::sys::stat::fchmod(fd.as_fd(), Mode::from_bits_truncate(mode)).ok()?;
        }
        Some(fd)
    }

    /// Replaces `name` with a new, empty file with `mode`, given to the owner.
    fn create_file(&self, name: &str, mode: u32) -> Result<OwnedFd, SafeDirError> {
        match unlinkat(&self.fd, name, UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(self.io(name)(e)),
        }
        let fd = openat(
            &self.fd,
            name,
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(mode),
        )
        .map_err(self.io(name))?;
        if let Some((uid, gid)) = self.owner.ids() {
            fchown(
                fd.as_fd(),
                Some(Uid::from_raw(uid)),
                Some(Gid::from_raw(gid)),
            )
            .map_err(self.io(name))?;
        }
        Ok(fd)
    }

    /// Reads `name`: `None` when it does not exist; an error for anything but a regular file
    /// of at most `limit` bytes.
    pub fn read(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, SafeDirError> {
        let fd = match openat(
            &self.fd,
            name,
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(Errno::ELOOP) => {
                return Err(SafeDirError::NotAFile {
                    path: self.path(name),
                })
            }
            Err(e) => return Err(self.io(name)(e)),
        };
        let stat = fstat(fd.as_fd()).map_err(self.io(name))?;
        if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            return Err(SafeDirError::NotAFile {
                path: self.path(name),
            });
        }
        let mut bytes = Vec::new();
        File::from(fd)
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|source| SafeDirError::Io {
                path: self.path(name),
                source,
            })?;
        if bytes.len() as u64 > limit {
            return Err(SafeDirError::TooLarge {
                path: self.path(name),
                limit,
            });
        }
        Ok(Some(bytes))
    }

    /// The size of `name` without following a link; `None` when it is not a regular file.
    pub fn size(&self, name: &str) -> Option<u64> {
        let fd = openat(
            &self.fd,
            name,
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let stat = fstat(fd.as_fd()).ok()?;
        (SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG)
            .then_some(stat.st_size as u64)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn dir() -> (tempfile::TempDir, SafeDir) {
        let t = tempfile::tempdir().unwrap();
        let d = SafeDir::create(&t.path().join("files"), Owner::current()).unwrap();
        (t, d)
    }

    #[test]
    fn writes_and_reads_back_within_the_limit() {
        let (_t, d) = dir();
        d.write("a", b"hello", 0o600).unwrap();
        assert_eq!(d.read("a", 100).unwrap(), Some(b"hello".to_vec()));
        assert_eq!(d.read("missing", 100).unwrap(), None);
        assert!(matches!(d.read("a", 3), Err(SafeDirError::TooLarge { .. })));
    }

    #[test]
    fn never_follows_a_link_a_step_left() {
        let (t, d) = dir();
        let outside = t.path().join("outside");
        std::fs::write(&outside, "host secret").unwrap();
        std::os::unix::fs::symlink(&outside, d.path("out")).unwrap();
        assert!(matches!(
            d.read("out", 100),
            Err(SafeDirError::NotAFile { .. })
        ));
        d.write("out", b"", 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "host secret");
        assert!(!d.path("out").is_symlink());
    }

    #[test]
    fn keeps_working_in_its_own_directory_after_a_rename() {
        let (t, d) = dir();
        let moved = t.path().join("moved");
        std::fs::rename(t.path().join("files"), &moved).unwrap();
        std::fs::create_dir(t.path().join("files")).unwrap();
        d.write("x", b"1", 0o600).unwrap();
        assert!(moved.join("x").is_file());
        assert!(!t.path().join("files/x").exists());
    }

    fn inode(d: &SafeDir, name: &str) -> u64 {
        std::os::unix::fs::MetadataExt::ino(&std::fs::symlink_metadata(d.path(name)).unwrap())
    }

    #[test]
    fn rewrites_its_own_untouched_file_in_place_with_the_new_contents_and_mode() {
        let (_t, d) = dir();
        d.write("f", b"first, longer", 0o600).unwrap();
        let before = inode(&d, "f");
        std::fs::set_permissions(d.path("f"), std::fs::Permissions::from_mode(0o4777)).unwrap();
        d.write("f", b"second", 0o700).unwrap();
        assert_eq!(inode(&d, "f"), before);
        assert_eq!(d.read("f", 100).unwrap(), Some(b"second".to_vec()));
        let mode = std::fs::metadata(d.path("f")).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o700);
    }

    #[test]
    fn rewrites_hold_exactly_the_new_contents_whether_shorter_equal_or_longer() {
        let (_t, d) = dir();
        for contents in [&b"abcdef"[..], b"uvwxyz", b"long contents", b"", b"x"] {
            d.write("f", contents, 0o600).unwrap();
            assert_eq!(d.read("f", 100).unwrap(), Some(contents.to_vec()));
        }
    }

    #[test]
    fn replaces_a_file_with_another_name_instead_of_writing_through_it() {
        let (t, d) = dir();
        d.write("f", b"", 0o600).unwrap();
        let other = t.path().join("other-name");
        std::fs::hard_link(d.path("f"), &other).unwrap();
        d.write("f", b"new", 0o600).unwrap();
        assert_eq!(std::fs::read(&other).unwrap(), b"");
        assert_eq!(d.read("f", 100).unwrap(), Some(b"new".to_vec()));
    }

    #[test]
    fn replaces_a_fifo_without_opening_it() {
        let (_t, d) = dir();
        nix::unistd::mkfifo(&d.path("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        d.write("fifo", b"x", 0o600).unwrap();
        assert_eq!(d.read("fifo", 100).unwrap(), Some(b"x".to_vec()));
    }

    #[test]
    fn refuses_a_fifo_without_blocking() {
        let (_t, d) = dir();
        nix::unistd::mkfifo(&d.path("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        assert!(matches!(
            d.read("fifo", 100),
            Err(SafeDirError::NotAFile { .. })
        ));
        assert_eq!(d.size("fifo"), None);
    }
}
